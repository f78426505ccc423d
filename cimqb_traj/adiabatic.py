r"""The analytic anchor: the DOPO with its pump adiabatically eliminated, and its exact steady state.

**The one-mode model.**  For gamma_p >> gamma_s the pump follows the signal.  The pump's
Heisenberg equation (PHYSICS.md, zero temperature)

.. math:: \dot a_p = -\frac{\gamma_p}{2} a_p - \frac{\kappa}{2} a_s^2 + \sqrt{\gamma_p} F
          + \sqrt{\gamma_p}\, a_{p,\rm in}

relaxes on the time 2/gamma_p to :math:`a_p \approx 2F/\sqrt{\gamma_p} - (\kappa/\gamma_p) a_s^2
+ \text{noise}`.  Put into the signal's part of H, the mean pump amplitude 2F/sqrt(gamma_p) makes a
two-photon drive, and the pump's loss channel, seen through the coupling
:math:`i(\kappa/2)(a^{\dagger2} a_p - a^2 a_p^\dagger)` (rate g = kappa/2), becomes a two-photon
loss of rate :math:`4g^2/\gamma_p`:

.. math::

    \dot\rho = \Big[\frac{\epsilon_2}{2}(a^{\dagger 2} - a^2), \rho\Big]
               + \gamma_s D[a]\rho + \Gamma_2 D[a^2]\rho, \qquad
    \epsilon_2 = \frac{2\kappa F}{\sqrt{\gamma_p}}, \qquad \Gamma_2 = \frac{\kappa^2}{\gamma_p},

i.e. H = i (eps2/2)(a^dag^2 - a^2).  Zero temperature, no detuning and no seed only (the
functions refuse the others).  Checks against the two-mode model: the mean field
:math:`\dot\alpha = -\frac{\gamma_s}{2}\alpha + \epsilon_2\alpha^* - \Gamma_2|\alpha|^2\alpha`
has its threshold at eps2 = gamma_s / 2, which is exactly F_th = gamma_s sqrt(gamma_p) / (4 kappa),
and above it :math:`|\alpha|^2 = (\epsilon_2 - \gamma_s/2)/\Gamma_2 = (2/\kappa)(\sqrt{\gamma_p}F -
\gamma_p\gamma_s/(4\kappa))`, the two-mode mean field (PHYSICS.md) exactly; the positive-P noise
of the two-mode model, sqrt(kappa alpha_p) dW, becomes sqrt(eps2 - Gamma2 alpha^2) dW below.
``tests/test_adiabatic.py`` shows the two-mode exact steady state approaching this model's as
gamma_p grows at fixed (eps2, Gamma2), with a relative difference ~ 1/gamma_p.

**Its exact steady state** (Drummond, McNeil & Walls, Opt. Acta 27, 321 (1980); Wolinsky &
Carmichael, PRL 60, 1836 (1988)), derived here in the complex-P representation.  The normally
ordered Fokker-Planck equation for P(alpha, beta) (alpha ~ a, beta ~ a^dag) has drift
:math:`A_\alpha = -\frac{\gamma_s}{2}\alpha + \epsilon_2\beta - \Gamma_2\alpha^2\beta` and diffusion
:math:`D_{\alpha\alpha} = \epsilon_2 - \Gamma_2\alpha^2` (and the beta twins).  It satisfies the
potential conditions, :math:`Z_\alpha = (2A_\alpha - \partial_\alpha D_{\alpha\alpha})/D_{\alpha\alpha}
= 2\beta + (2\Gamma_2 - \gamma_s)\alpha/(\epsilon_2 - \Gamma_2\alpha^2)` with
:math:`\partial_\beta Z_\alpha = \partial_\alpha Z_\beta = 2`, so

.. math:: P(\alpha, \beta) \propto e^{2\alpha\beta} (\lambda - \alpha^2)^{c-1} (\lambda - \beta^2)^{c-1},
   \qquad \lambda = \epsilon_2/\Gamma_2, \quad c = \gamma_s/(2\Gamma_2), \quad z = \lambda^2,

on the contours alpha, beta in [-sqrt(lambda), sqrt(lambda)].  Expanding e^{2 alpha beta} and using
:math:`\int_{-\sqrt\lambda}^{\sqrt\lambda}\alpha^{2l}(\lambda-\alpha^2)^{c-1}d\alpha =
\lambda^{l+c-1/2}B(l+\tfrac12, c)` and Legendre's duplication formula gives the normally ordered
moments as ratios of generalized hypergeometric series
:math:`{}_1F_2(a; b_1, b_2; z) = \sum_l \frac{(a)_l}{(b_1)_l (b_2)_l}\frac{z^l}{l!}`:

.. math::

    \langle a^\dagger a\rangle = \frac{\lambda^2}{2(c+\frac12)^2}
        \frac{{}_1F_2(\frac32; c+\frac32, c+\frac32; z)}{{}_1F_2(\frac12; c+\frac12, c+\frac12; z)},
    \qquad
    \langle a^2\rangle = \frac{\lambda}{2(c+\frac12)}
        \frac{{}_1F_2(\frac32; c+\frac12, c+\frac32; z)}{{}_1F_2(\frac12; c+\frac12, c+\frac12; z)}.

<a^2> is real and has the sign of lambda, i.e. of F: the drive i(eps2/2)(a^dag^2 - a^2) pulls
alpha onto the real axis (d alpha/dt = eps2 alpha^*), so for F > 0 the two phases are 0 and pi.
These are PHYSICS.md's formulas; the tests check them against the one-mode master equation.

Limits (tested): gamma_2 -> 0 at fixed x = 2 eps2/gamma_s < 1 gives the linear degenerate
parametric amplifier, a Gaussian (squeezed thermal) state with
:math:`\langle a^\dagger a\rangle = \frac{x^2}{2(1-x^2)}`,
:math:`\langle a^2\rangle = \frac{x}{2(1-x^2)}` (the series tend to (1-x^2)^{-a}); far above
threshold <a^dag a> -> (eps2 - gamma_s/2)/Gamma2 + O(1).

**Evaluation at large z.**  At the target of issue 12 (kappa = 0.1, gamma_p = 16, F = 15:
lambda = 1200, c = 800, z = 1.44e6, <n> ~ 400) the series' largest term is ~e^160, and it grows
like e^{O(<n>)}: summing in floating point overflows near <n> ~ 10^3.  :func:`log_hyp1f2`
therefore sums the terms in log space (log t_l as the cumulative sum of the logs of the term
ratios, then a log-sum-exp normalised by the largest term), with the stopping rule stated there;
only the ratio of two such sums, a difference of logs, is ever exponentiated.
"""

from __future__ import annotations

import math

import numpy as np
import qutip

from .params import BatteryParams
from . import truncation as trunc

__all__ = ["effective_params", "log_hyp1f2", "moments_from_rates", "steady_moments",
           "linear_moments", "one_mode_operators", "one_mode_steady_state"]

#: Relative bound on the neglected tail of a series in :func:`log_hyp1f2`.
SERIES_RTOL = 1e-17
#: Most terms :func:`log_hyp1f2` will sum (<n> up to ~ 10^7) before it refuses.
MAX_TERMS = 2**26


def _check_model(params: BatteryParams) -> None:
    """Refuse the parameters the one-mode model does not describe, naming the parameter."""
    if not isinstance(params, BatteryParams):
        raise TypeError(f"params must be a BatteryParams, got {type(params).__name__}")
    for name in ("delta", "nth_s", "nth_p", "eps"):
        if getattr(params, name) != 0:
            raise ValueError(f"{name} must be 0 for the adiabatic one-mode model (zero temperature, "
                             f"resonant, unseeded), got {getattr(params, name)!r}")
    if params.t_off is not None:
        raise ValueError(f"t_off must be None: the steady state is the pump-on one, got {params.t_off!r}")
    if params.gamma_p <= 0:
        raise ValueError(f"gamma_p must be > 0 to eliminate the pump, got {params.gamma_p!r}")
    if params.gamma_s <= 0:
        raise ValueError(f"gamma_s must be > 0 (with gamma_s = 0 the steady state is not unique: "
                         f"photon-number parity is conserved), got {params.gamma_s!r}")


def effective_params(params: BatteryParams) -> dict:
    r"""The one-mode model's constants from the two-mode parameters (module docstring).

    Returns a dict with

    * ``eps2`` = 2 kappa F / sqrt(gamma_p): the two-photon drive, H = i (eps2/2)(a^dag^2 - a^2);
    * ``Gamma2`` = kappa^2 / gamma_p: the two-photon loss rate, Gamma2 D[a^2];
    * ``lambda`` = eps2 / Gamma2, ``c`` = gamma_s / (2 Gamma2), ``z`` = lambda^2 (inf when
      Gamma2 = 0, i.e. kappa = 0);
    * ``pump_ratio`` = eps2 / (gamma_s / 2) = F / F_th.

    Raises ValueError for parameters outside the model (nonzero delta, nth_s, nth_p, eps; t_off
    set; gamma_p or gamma_s = 0).
    """
    _check_model(params)
    eps2 = 2 * params.kappa * params.F / math.sqrt(params.gamma_p)
    gamma2 = params.kappa**2 / params.gamma_p
    lam = eps2 / gamma2 if gamma2 > 0 else math.inf
    c = params.gamma_s / (2 * gamma2) if gamma2 > 0 else math.inf
    return {"eps2": eps2, "Gamma2": gamma2, "lambda": lam, "c": c, "z": lam * lam,
            "pump_ratio": eps2 / (params.gamma_s / 2)}


def log_hyp1f2(a: float, b1: float, b2: float, z: float) -> float:
    r"""log of :math:`{}_1F_2(a; b_1, b_2; z) = \sum_{l\ge0} t_l`, for a, b1, b2 > 0 and z >= 0.

    The terms :math:`t_l = \frac{(a)_l}{(b_1)_l(b_2)_l}\frac{z^l}{l!}` have the ratios
    :math:`r_l = t_{l+1}/t_l = \frac{(a+l)\,z}{(b_1+l)(b_2+l)(l+1)}`; log t_l is the cumulative sum
    of log r_j (no gamma functions of large arguments, whose difference would lose digits), and
    the sum is a log-sum-exp normalised by the largest term, so nothing overflows.

    Stopping rule: the terms are computed in blocks (the length doubles) until, at the last
    term L, (i) r is nonincreasing from L on, which holds when
    (1 - a)(max(b1, b2) + L) < 2 (a + L)(L + 1) (d log r / dl < 0 there and for every larger l),
    and (ii) the whole tail, bounded by the geometric series t_L r_L / (1 - r_L), is below
    ``SERIES_RTOL`` times the partial sum.  The result is then exact to rounding: against mpmath
    (30 digits), <n> from :func:`moments_from_rates` is right to 4e-15 at <n> = 400 and 5e-14 at
    <n> = 2500 (with the x86 extended-precision cumulative sum; in plain float64 the error
    grows to ~4e-12 at 2500).
    """
    a, b1, b2, z = float(a), float(b1), float(b2), float(z)
    if not (a > 0 and b1 > 0 and b2 > 0):
        raise ValueError(f"log_hyp1f2 needs a, b1, b2 > 0, got a={a!r}, b1={b1!r}, b2={b2!r}")
    if not (math.isfinite(z) and z >= 0):
        raise ValueError(f"z must be finite and >= 0, got {z!r}")
    if z == 0:
        return 0.0
    logz, bmax = math.log(z), max(b1, b2)
    L = 64
    while True:
        # extended precision where the platform has it (x86: 64-bit mantissa): the cumulative
        # sum's rounding then stays ~1e-16 relative at <n> ~ 1e4 instead of ~1e-12
        l = np.arange(L, dtype=np.longdouble)
        logr = np.log(a + l) + np.longdouble(logz) - np.log(b1 + l) - np.log(b2 + l) - np.log1p(l)
        logt = np.concatenate(([np.longdouble(0)], np.cumsum(logr[:-1])))
        top = logt.max()
        logs = float(top + np.log(np.exp(logt - top).sum()))
        logt, logr = logt.astype(float), logr.astype(float)
        last, r_last = L - 1, math.exp(logr[-1])
        monotone = (1 - a) * (bmax + last) < 2 * (a + last) * (last + 1)
        if monotone and r_last < 1:
            log_tail = logt[-1] + math.log(r_last) - math.log1p(-r_last)
            if log_tail <= logs + math.log(SERIES_RTOL):
                return float(logs)
        if L >= MAX_TERMS:
            raise ValueError(f"1F2({a:g}; {b1:g}, {b2:g}; z={z:g}) needs more than {MAX_TERMS} terms: "
                             f"the photon number is beyond this evaluation (<n> up to ~1e7 works)")
        L *= 2


def linear_moments(eps2: float, gamma_s: float) -> tuple[float, float]:
    r"""(<a^dag a>, <a^2>) of the linear degenerate parametric amplifier below threshold.

    Gamma2 = 0: H = i (eps2/2)(a^dag^2 - a^2), loss gamma_s D[a].  The normally ordered moments
    n = <a^dag a>, m = <a^2> obey :math:`\dot n = \epsilon_2(m + m^*) - \gamma_s n` and
    :math:`\dot m = \epsilon_2(2n + 1) - \gamma_s m`, whose fixed point, with
    x = 2 eps2 / gamma_s, is

    .. math:: n = \frac{x^2}{2(1 - x^2)}, \qquad m = \frac{x}{2(1 - x^2)}

    (a squeezed thermal state: m^2 < n(n+1)).  Defined for |x| < 1 only.
    """
    x = 2 * eps2 / gamma_s
    if not abs(x) < 1:
        raise ValueError(f"the linear amplifier has a steady state only below threshold, |2 eps2/gamma_s| < 1; "
                         f"got {x!r}")
    return x * x / (2 * (1 - x * x)), x / (2 * (1 - x * x))


def moments_from_rates(eps2: float, gamma2: float, gamma_s: float = 1.0) -> tuple[float, float]:
    r"""(<a^dag a>, <a^2>) of the one-mode steady state, from its rates (module docstring).

    With lambda = eps2/Gamma2, c = gamma_s/(2 Gamma2), z = lambda^2:

    .. math::

        \langle a^\dagger a\rangle = \frac{\lambda^2}{2(c+\frac12)^2} R_n, \quad
        \langle a^2\rangle = \frac{\lambda}{2(c+\frac12)} R_m,

    :math:`R_n = {}_1F_2(\frac32; c+\frac32, c+\frac32; z)/{}_1F_2(\frac12; c+\frac12, c+\frac12; z)`,
    :math:`R_m = {}_1F_2(\frac32; c+\frac12, c+\frac32; z)/{}_1F_2(\frac12; c+\frac12, c+\frac12; z)`,
    each a difference of :func:`log_hyp1f2` values, exponentiated.  gamma2 = 0 gives the linear
    amplifier (:func:`linear_moments`, below threshold only).
    """
    eps2, gamma2, gamma_s = float(eps2), float(gamma2), float(gamma_s)
    for name, v in (("eps2", eps2), ("gamma2", gamma2), ("gamma_s", gamma_s)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    if gamma_s <= 0:
        raise ValueError(f"gamma_s must be > 0, got {gamma_s!r}")
    if gamma2 < 0:
        raise ValueError(f"gamma2 must be >= 0, got {gamma2!r}")
    if gamma2 == 0:
        return linear_moments(eps2, gamma_s)
    lam, c = eps2 / gamma2, gamma_s / (2 * gamma2)
    z = lam * lam
    if not math.isfinite(z):
        raise ValueError(f"z = (eps2/gamma2)^2 overflows (eps2={eps2!r}, gamma2={gamma2!r})")
    b = c + 0.5
    log0 = log_hyp1f2(0.5, b, b, z)
    n = lam * lam / (2 * b * b) * math.exp(log_hyp1f2(1.5, b + 1, b + 1, z) - log0)
    m = lam / (2 * b) * math.exp(log_hyp1f2(1.5, b, b + 1, z) - log0)
    return n, m


def steady_moments(params: BatteryParams) -> tuple[float, float]:
    r"""(<a_s^dag a_s>, <a_s^2>) of the adiabatically eliminated DOPO's exact steady state.

    :func:`moments_from_rates` at the rates of :func:`effective_params`: eps2 = 2 kappa F /
    sqrt(gamma_p), Gamma2 = kappa^2 / gamma_p.  Both moments are normally ordered; <a_s^2> is real
    with the sign of F.  The two-mode model's steady state tends to these as gamma_p/gamma_s grows
    (relative difference ~ gamma_s/gamma_p).  Valid at any photon number up to ~1e7.
    """
    e = effective_params(params)
    return moments_from_rates(e["eps2"], e["Gamma2"], params.gamma_s)


def one_mode_operators(params: BatteryParams, N: int):
    """(H, c_ops) of the one-mode model on a Fock space of dimension N (photon numbers 0..N-1)."""
    e = effective_params(params)
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 3:
        raise ValueError(f"N (Fock truncation) must be an integer >= 3, got {N!r}")
    a = qutip.destroy(int(N))
    H = 0.5j * e["eps2"] * (a.dag() ** 2 - a**2)
    c_ops = [math.sqrt(params.gamma_s) * a]
    if e["Gamma2"] > 0:
        c_ops.append(math.sqrt(e["Gamma2"]) * a**2)
    return H, c_ops


def one_mode_steady_state(params: BatteryParams, N: int) -> np.ndarray:
    """The one-mode model's steady state at Fock truncation N (``qutip.steadystate``, direct solve).

    Returns the N x N density matrix.  Raises ``TruncationError`` when the highest kept level
    holds more than ``truncation.TOP_LEVEL`` of the population (the state runs into the cut-off;
    increase N).  The caller checks convergence in N (the tests compare N with a larger N).
    """
    H, c_ops = one_mode_operators(params, N)
    rho = qutip.steadystate(H, c_ops).full()
    rho = 0.5 * (rho + rho.conj().T)
    verdict = trunc.assess(trunc.TRUNC_TOL, "top-level population only", None, top_s=rho[-1, -1].real,
                           hint=f"increase N (got {N})")
    trunc.enforce(verdict, rho)
    return rho
