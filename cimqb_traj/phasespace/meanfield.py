r"""Mean-field (classical) dynamics of the DOPO battery, its threshold and linear stability.

Equations (PHYSICS.md, Eqs. B4-B5, with the signal detuning Delta of the Hamiltonian)::

    d alpha_s/dt = -(gamma_s/2 + i Delta) alpha_s + kappa alpha_s^* alpha_p
    d alpha_p/dt = -gamma_p/2 alpha_p - kappa/2 alpha_s^2 + sqrt(gamma_p) F(t)

with F(t) = F before ``t_off`` and 0 after (``BatteryParams.F_at``).  These are the equations of
motion of <a_s>, <a_p> with every moment factorised into products of means (a coherent state in
each mode); thermal baths add only noise and have no mean-field effect.  Solved with
``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-10) in the real variables (Re a_s, Im a_s,
Re a_p, Im a_p), each piece of constant F integrated separately (no step across ``t_off``).

Threshold (derivation)
----------------------
Below threshold the fixed point is alpha_s = 0, alpha_p = alpha_p0 = 2F/sqrt(gamma_p).  At
alpha_s = 0 the linearised pump equation decouples (d delta_p/dt = -gamma_p/2 delta_p, stable),
and the signal fluctuation couples only to its own conjugate:

    d/dt (d, d^*) = M (d, d^*),   M = [[-gamma_s/2 - i Delta, kappa alpha_p0 ],
                                       [kappa alpha_p0^*,     -gamma_s/2 + i Delta]],

with eigenvalues lambda = -gamma_s/2 +- sqrt(kappa^2 |alpha_p0|^2 - Delta^2).  If
kappa |alpha_p0| <= |Delta| the root is imaginary and Re lambda = -gamma_s/2 < 0; otherwise the
larger eigenvalue is positive iff kappa^2 |alpha_p0|^2 > gamma_s^2/4 + Delta^2.  So the trivial
fixed point loses stability at

    F_th = sqrt(gamma_p) / (2 kappa) * sqrt(gamma_s^2/4 + Delta^2)

(``threshold``; = gamma_s sqrt(gamma_p)/(4 kappa) at Delta = 0, and equal to
``BatteryParams.threshold``).  ``bifurcation`` finds the same point numerically (largest real
part of the eigenvalues of the full real 4x4 Jacobian crossing zero, by brentq over F).

Above threshold at Delta = 0 the stable fixed points are alpha_p = gamma_s/(2 kappa),
|alpha_s|^2 = (2/kappa)(sqrt(gamma_p) F - gamma_p gamma_s/(4 kappa)) (``steady_state``).
The vacuum alpha_s = 0 is invariant under the flow (signal parity), so from the vacuum the
mean field never leaves alpha_s = 0 even above threshold: pass a small ``alpha_s0`` to pick a
phase (the Ising spin), as noise does in the quantum model.

Ergotropy of the mean-field state.  The state is a product of coherent states; the signal's is
pure, so W = E = omega_s |alpha_s|^2 and the passive energy is 0.  Its dephased state is the
Poisson distribution p_n = e^{-N} N^n / n!, N = |alpha_s|^2, so W_i = omega_s (N - sum_k k p_(k))
with p_(k) the Poisson weights sorted descending; W_i = 0 only while N <= 1 (Poisson weights
decrease with n iff N <= 1), and W_c = W - W_i.  These are the definitions of PHYSICS.md
(Appendix D), evaluated without Fock truncation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from scipy.stats import poisson

from ..checks import check_complex
from ..params import BatteryParams

__all__ = ["mean_field", "MeanFieldResult", "MeanField", "rhs", "jacobian", "threshold",
           "trivial_fixed_point", "stability_eigenvalues", "bifurcation", "steady_state",
           "coherent_ergotropy", "RTOL", "ATOL"]

RTOL, ATOL = 1e-10, 1e-12


def _check_params(params):
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    return params


def _check_times(t, name="t") -> np.ndarray:
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of times")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return t


def rhs(params: BatteryParams, alpha_s: complex, alpha_p: complex, F: float | None = None):
    """(d alpha_s/dt, d alpha_p/dt) at pump amplitude ``F`` (default ``params.F``)."""
    p = params
    F = p.F if F is None else F
    ds = -(0.5 * p.gamma_s + 1j * p.delta) * alpha_s + p.kappa * np.conj(alpha_s) * alpha_p + p.eps
    dp = -0.5 * p.gamma_p * alpha_p - 0.5 * p.kappa * alpha_s**2 + math.sqrt(p.gamma_p) * F
    return ds, dp


def jacobian(params: BatteryParams, alpha_s: complex, alpha_p: complex) -> np.ndarray:
    """Real 4x4 Jacobian of the flow in (Re a_s, Im a_s, Re a_p, Im a_p), analytic.

    With a_s = x + iy, a_p = u + iv: d a_s/dt = -(g/2 + i D)(x + iy) + k (x - iy)(u + iv),
    d a_p/dt = -G/2 (u + iv) - k/2 (x + iy)^2 + sqrt(G) F.
    """
    p = params
    x, y, u, v = alpha_s.real, alpha_s.imag, alpha_p.real, alpha_p.imag
    g, D, k, G = p.gamma_s, p.delta, p.kappa, p.gamma_p
    # Re ds = -g/2 x + D y + k (x u + y v);  Im ds = -D x - g/2 y + k (x v - y u)
    # Re dp = -G/2 u - k/2 (x^2 - y^2);      Im dp = -G/2 v - k x y
    return np.array([
        [-g / 2 + k * u, D + k * v, k * x, k * y],
        [-D + k * v, -g / 2 - k * u, -k * y, k * x],
        [-k * x, k * y, -G / 2, 0.0],
        [-k * y, -k * x, 0.0, -G / 2],
    ])


def threshold(kappa: float, gamma_s: float, gamma_p: float, delta: float = 0.0) -> float:
    """F_th = sqrt(gamma_p)/(2 kappa) * sqrt(gamma_s^2/4 + Delta^2) (module docstring)."""
    for name, v in (("kappa", kappa), ("gamma_s", gamma_s), ("gamma_p", gamma_p)):
        if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if not (isinstance(delta, (int, float, np.floating, np.integer)) and math.isfinite(delta)):
        raise ValueError(f"delta must be a finite number, got {delta!r}")
    if kappa == 0:
        return math.inf
    return math.sqrt(gamma_p) / (2 * kappa) * math.hypot(gamma_s / 2, delta)


def trivial_fixed_point(params: BatteryParams, F: float | None = None):
    """alpha_s = 0, alpha_p = 2F/sqrt(gamma_p): a fixed point for every F (stable below F_th)."""
    p = _check_params(params)
    F = p.F if F is None else F
    if p.gamma_p == 0:
        raise ValueError("gamma_p must be > 0 for a driven fixed point")
    return 0j, complex(2 * F / math.sqrt(p.gamma_p))


def stability_eigenvalues(params: BatteryParams, F: float | None = None) -> np.ndarray:
    """Eigenvalues of the 4x4 Jacobian at the trivial fixed point, sorted by real part
    (descending).  Analytically: -gamma_s/2 +- sqrt(kappa^2 alpha_p0^2 - Delta^2) and
    -gamma_p/2 (twice)."""
    p = _check_params(params)
    a_s, a_p = trivial_fixed_point(p, F)
    ev = np.linalg.eigvals(jacobian(p, a_s, a_p))
    return ev[np.argsort(-ev.real, kind="stable")]


def bifurcation(params: BatteryParams, F_max: float | None = None) -> float:
    """Pump F > 0 at which the largest real part of the Jacobian's eigenvalues at the trivial
    fixed point crosses zero, found numerically (brentq over F in (0, F_max]).  Independent of
    ``params.F``; compare with :func:`threshold`."""
    p = _check_params(params)
    if p.kappa == 0:
        return math.inf
    f = lambda F: stability_eigenvalues(p, F)[0].real  # noqa: E731
    hi = F_max if F_max is not None else 1.0
    while f(hi) <= 0:
        hi *= 2
        if hi > 1e12:
            raise RuntimeError("no bifurcation found below F = 1e12")
    if f(0.0) >= 0:
        raise RuntimeError("the trivial fixed point is unstable already at F = 0")
    return brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14)


def steady_state(params: BatteryParams):
    """Stable fixed point at Delta = 0: (alpha_s, alpha_p) with alpha_s >= 0 (for F > 0)."""
    p = _check_params(params)
    if p.delta != 0:
        raise ValueError("delta must be 0 for the closed-form steady state; integrate mean_field instead")
    if abs(p.F) <= threshold(p.kappa, p.gamma_s, p.gamma_p):
        return trivial_fixed_point(p)
    n = (2 / p.kappa) * (math.sqrt(p.gamma_p) * abs(p.F) - p.gamma_p * p.gamma_s / (4 * p.kappa))
    return complex(math.sqrt(n) * (1 if p.F > 0 else 1j)), complex(p.gamma_s / (2 * p.kappa) * np.sign(p.F))


def coherent_ergotropy(n, omega: float = 1.0):
    """(W, W_c, W_i) of a coherent state with mean photon number ``n`` (array), untruncated."""
    n = np.asarray(n, dtype=float)
    flat = n.ravel()
    Wi = np.zeros_like(flat)
    for i, N in enumerate(flat):
        if N <= 1.0:
            continue  # Poisson weights already decrease with n: the dephased state is passive
        kmax = int(N + 20 * math.sqrt(N) + 40)
        w = poisson.pmf(np.arange(kmax + 1), N)
        Wi[i] = N - np.sort(w)[::-1] @ np.arange(kmax + 1)
    Wi = omega * Wi.reshape(n.shape)
    W = omega * n
    return W, W - Wi, Wi


@dataclass(frozen=True)
class MeanFieldResult:
    """Mean-field trajectory on the output grid ``t``.

    ``alpha_s``, ``alpha_p``: complex amplitudes; ``n_s = |alpha_s|^2``, ``n_p = |alpha_p|^2``;
    ``energy = omega_s n_s``; ``W = energy`` (a pure coherent state), ``W_i`` the ergotropy of
    its dephased (Poisson) state and ``W_c = W - W_i`` (module docstring).
    """

    params: BatteryParams
    t: np.ndarray
    alpha_s: np.ndarray
    alpha_p: np.ndarray
    method: str = "mean-field"
    options: dict = field(default_factory=dict)

    @property
    def n_s(self) -> np.ndarray:
        return np.abs(self.alpha_s) ** 2

    @property
    def n_p(self) -> np.ndarray:
        return np.abs(self.alpha_p) ** 2

    @property
    def energy(self) -> np.ndarray:
        return self.params.omega_s * self.n_s

    @property
    def W(self) -> np.ndarray:
        return self.energy

    @property
    def W_i(self) -> np.ndarray:
        return coherent_ergotropy(self.n_s, self.params.omega_s)[2]

    @property
    def W_c(self) -> np.ndarray:
        return self.W - self.W_i

    def __repr__(self):
        return (f"MeanFieldResult(F={self.params.F}, t=[{self.t[0]:g}..{self.t[-1]:g}], "
                f"n_s(t_end)={self.n_s[-1]:.6g}, alpha_p(t_end)={self.alpha_p[-1]:.6g})")


def _pieces(p: BatteryParams, t: np.ndarray):
    """[(start, stop, F, output mask)] pieces of constant pump covering [t[0], t[-1]] (cut where
    F(t) jumps: ramp pieces, t_off; an output time at a cut belongs to the later piece)."""
    cuts = [t[0], *p.cuts(t[0], t[-1]), t[-1]]
    return [(a, b, p.F_at(0.5 * (a + b)), (t >= a) & ((t <= b) if b == cuts[-1] else (t < b)))
            for a, b in zip(cuts[:-1], cuts[1:])]


def mean_field(params: BatteryParams, t, *, alpha_s0=0.0, alpha_p0=0.0, rtol: float = RTOL,
               atol: float = ATOL) -> MeanFieldResult:
    """Integrate Eqs. (B4)-(B5) (with detuning and pump switch-off) from (alpha_s0, alpha_p0)
    at t[0]; default the vacuum, which keeps alpha_s = 0 (module docstring)."""
    p = _check_params(params)
    t = _check_times(t)
    a0 = check_complex("alpha_s0", alpha_s0)
    b0 = check_complex("alpha_p0", alpha_p0)
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    y = np.array([a0.real, a0.imag, b0.real, b0.imag])
    out = np.empty((t.size, 4))
    out[0] = y
    for start, stop, F, mask in _pieces(p, t):
        def f(_, x, F=F):
            ds, dp = rhs(p, complex(x[0], x[1]), complex(x[2], x[3]), F)
            return [ds.real, ds.imag, dp.real, dp.imag]

        te = t[mask]
        if stop > start:
            # the piece's end is always evaluated: it is the next piece's initial state
            ev = np.append(te, stop) if not te.size or te[-1] != stop else te
            sol = solve_ivp(f, (start, stop), y, method="DOP853", t_eval=ev, rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(f"mean-field integration failed: {sol.message}")
            out[mask] = sol.y.T[:te.size]
            y = sol.y[:, -1]
        else:
            out[mask] = y
    return MeanFieldResult(params=p, t=t, alpha_s=out[:, 0] + 1j * out[:, 1],
                           alpha_p=out[:, 2] + 1j * out[:, 3],
                           options={"alpha_s0": [a0.real, a0.imag], "alpha_p0": [b0.real, b0.imag],
                                    "rtol": rtol, "atol": atol, "solver": "solve_ivp DOP853"})



def _coherent_block(x: complex, N: int) -> np.ndarray:
    """<m|x><x|n> for m, n < N (untruncated coherent state, leading block)."""
    v = np.empty(N, complex)
    v[0] = math.exp(-0.5 * abs(x) ** 2)
    for n in range(1, N):
        v[n] = v[n - 1] * x / math.sqrt(n)
    return np.outer(v, v.conj())


class MeanField:
    """The mean field as a method of the ensemble runner (``ensemble.run``).

    Every sample is the same product of coherent states, alpha_s(t) and alpha_p(t) of
    :func:`mean_field` started from the problem's coherent initial state (default the vacuum)
    plus ``alpha_s0`` on the signal; ``rho_s`` / ``rho_o`` sums are n times the leading
    Ns x Ns / Np x Np blocks of those coherent states, so errors are zero.  With the default
    ``alpha_s0 = 0`` the signal stays in the vacuum (module docstring); a small ``alpha_s0``
    picks a spin.  Records: one dict per group as for ``PositiveP`` (no divergences).

    Reported (``reduce``, the runner's hook; ``phasespace.state`` with zero errors): n_s, n_p =
    |alpha_s|^2, |alpha_p|^2 (untruncated); ``rho_s`` the coherent state's Ns x Ns block divided
    by its trace (a state; the projection leaves it unchanged), and energy, W, W_c, W_i those of
    that state (W = E for alpha_s resolved in the cut); ``truncation`` from the exact energy the
    cut misses, omega_s (|alpha_s|^2 - Tr[rho_s n]).  ``trunc_tol`` as for ``PositiveP``.
    The untruncated coherent-state numbers are ``coherent_ergotropy`` / ``mean_field``.
    """

    name = "mean-field"

    def __init__(self, *, alpha_s0=0.0, trunc_tol=None):
        from .. import truncation

        self.alpha_s0 = check_complex("alpha_s0", alpha_s0)
        self.trunc_tol = truncation.check_tol(truncation.TRUNC_TOL if trunc_tol is None else trunc_tol)

    @property
    def options(self) -> dict:
        return {"method": self.name, "alpha_s0": [self.alpha_s0.real, self.alpha_s0.imag],
                "rtol": RTOL, "atol": ATOL, "solver": "solve_ivp DOP853", "trunc_tol": self.trunc_tol}

    def __repr__(self) -> str:
        return f"MeanField(alpha_s0={self.alpha_s0!r})"

    def reduce(self, problem, parts, result):
        """The runner's reduction hook (class docstring)."""
        from . import state

        return state.reduce(problem, parts, result, trunc_tol=self.trunc_tol, sampled=False)

    def run_group(self, problem, ids, seed):
        from ..problem import GroupSums
        from . import _sde

        ids = _sde.check_problem(problem, ids, seed)
        p = problem.info["params"]
        sums = GroupSums.zeros(problem)
        n = int(ids.size)
        nt = len(problem.t)
        rec = {"samples": n, "diverged": 0, "spiking": 0}
        mom = np.zeros((len(_sde.MOMENTS), nt), complex)
        if n:
            a0, b0 = _sde.coherent_amplitudes(problem)
            r = mean_field(p, problem.t, alpha_s0=a0 + self.alpha_s0, alpha_p0=b0)
            Ns, Np = problem.dims
            for k in range(nt):
                sums.rho_s[k] = n * _coherent_block(r.alpha_s[k], Ns)
                sums.rho_o[k] = n * _coherent_block(r.alpha_p[k], Np)
            c = np.sqrt(2.0) * r.alpha_s.real  # coherent state: P(x) = exp(-(x - c)^2) / sqrt(pi)
            g = np.exp(-c * c) / np.sqrt(np.pi)
            mom[:] = n * np.array([r.n_s, r.alpha_s**2, r.alpha_s, r.n_p, r.alpha_p, g, (4 * c * c - 2) * g])
            sums.n = n
        rec.update({k: mom[i].copy() for i, k in enumerate(_sde.MOMENTS)})
        sums.records.append(rec)
        return sums
