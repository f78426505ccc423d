r"""Positive-P sampling of the charging master equation (exact in distribution; Ito SDEs).

Derivation
----------
The positive-P function P(alpha, alpha^+, beta, beta^+) (alpha for a_s, beta for a_p) represents
rho = int P |alpha><alpha^+*| / <alpha^+*|alpha> (x) (same for the pump).  The operator
correspondences (Drummond & Gardiner 1980)

    a rho <-> alpha P,   a^dag rho <-> (alpha^+ - d_alpha) P,
    rho a^dag <-> alpha^+ P,   rho a <-> (alpha - d_alpha^+) P

turn the master equation of ``BatteryParams`` into a Fokker-Planck equation
dP/dt = -d_i (A_i P) + 1/2 d_i d_j (D_ij P) with

* H_int = i kappa/2 (a_s^dag^2 a_p - a_s^2 a_p^dag): -i[H_int, rho] <-> kappa/2 [-2 d_alpha
  (alpha^+ beta P) + d_alpha^2 (beta P) + d_beta^+ (alpha^+^2 P) + d_beta (alpha^2 P)
  - 2 d_alpha^+ (alpha beta^+ P) + d_alpha^+^2 (beta^+ P)], i.e. drifts kappa alpha^+ beta,
  kappa alpha beta^+, -kappa/2 alpha^2, -kappa/2 alpha^+^2 and diffusions D_{alpha alpha} =
  kappa beta, D_{alpha^+ alpha^+} = kappa beta^+ (the noise term of PHYSICS.md,
  sqrt(kappa alpha_p) dW_1 and sqrt(kappa alpha_p^+) dW_2, is right);
* Delta a_s^dag a_s: drifts -i Delta alpha, +i Delta alpha^+;
* the pump drive: drift sqrt(gamma_p) F on beta and beta^+;
* gamma_j (n_j+1) D[a_j] + gamma_j n_j D[a_j^dag]: drifts -gamma_j/2 on each variable and
  D_{alpha alpha^+} = D_{alpha^+ alpha} = gamma_j n_j (thermal noise, zero at n_j = 0).

The diffusion matrix D = B B^T is factorised with independent real noises (``_sde`` module
docstring): sqrt(kappa beta) dW_1 on alpha, sqrt(kappa beta^+) dW_2 on alpha^+, and for a thermal
mode c (dW_3 +- i dW_4) on (alpha, alpha^+) with c = sqrt(gamma n / 2)
(E[d alpha d alpha^+] = 2 c^2 dt = gamma n dt, E[d alpha^2] = 0).  The sqrt is the principal
branch; its sign is irrelevant because dW_1 is symmetric.  These Ito equations equal their
Stratonovich form (no drift correction), integrated by the stochastic Heun scheme of ``_sde``
(weak order 2 at zero pump temperature, 1 otherwise).  Initial state: the delta function at a coherent product state
(alpha^+ = alpha^*), read off ``problem.psi0`` (default the vacuum).

Estimators
----------
Normally ordered moments are exact averages, <a^dag^k a^l> = E[(alpha^+)^k alpha^l], and Fock
elements <m|rho_s|n> = E[exp(-alpha alpha^+) alpha^m (alpha^+)^n / sqrt(m! n!)] (for a coherent
state alpha, alpha^+ = alpha^*: <m|alpha><alpha|n>, so index m is the row, as in qutip); the
per-sample matrix is Hermitised, (X + X^dag)/2, which keeps the mean (rho is Hermitian) and
lowers the variance.  ``GroupSums.rho_s`` / ``rho_o`` are the sums of these (Ns x Ns and Np x Np:
the leading block of the untruncated state, whose dynamics is *not* truncated).  This estimate
is not a state (few samples: eigenvalues of either sign); ``reduce``, the runner's hook, makes
it one over the Fock range the samples resolve and reports n_s, n_p from the sample moments
and a truncation verdict (``phasespace.state``).  These averages are
exact as long as the distribution's tails decay fast enough for the boundary terms of the
Fokker-Planck derivation to vanish; a growing number of spiking samples signals that they
do not (Gilchrist, Gardiner & Drummond, PRA 55, 3014 (1997)).

Records: ``GroupSums.records`` holds ONE dict per group: ``samples`` (group size),
``diverged`` (samples excluded, see ``_sde``: non-finite, beyond 1/(kappa dt), or a non-finite
Fock estimate), ``spiking`` (kept samples that went beyond ``spike_bound``), and the sums over
kept samples of the normally ordered moments ``a_dag_a``, ``a2``, ``a``, ``n_p``, ``a_p``
(complex arrays over t); ``phasespace.moments`` turns them into means with jackknife errors.
A group raises ``errors.SamplesError`` (a RuntimeError) when more than ``max_diverged`` of its samples diverged, and
always when all of them did (nothing left to average).
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import check_int
from ..problem import GroupSums, Problem
from .. import truncation
from . import _sde, state

__all__ = ["PositiveP"]


class PositiveP:
    """Positive-P sampler (see the module docstring for the SDEs, scheme and estimators).

    Parameters
    ----------
    dt : float
        Largest step; output times and the pump switch-off are step ends.  Default 2e-3, five
        times below the 0.01 at which the paper's defaults are step-converged (dt vs dt/2 on
        shared paths differ by <= 0.002 +- 0.002 in <n_s> over t = 0..40, 1e5 samples:
        validation/bench/README.md), as a margin for stronger nonlinearity or faster pump decay;
        check other parameters with ``step_check``.
    batch : int
        Samples integrated together; results are bitwise independent of it.
    spike_bound : float, optional
        |amplitude| above which a sample counts as spiking (default ``_sde.spike_default``:
        10 sqrt(max(Ns, Np, 4 F^2/gamma_p, (2/kappa) sqrt(gamma_p) |F|, (2 eps/gamma_s)^2)), ten
        times the larger of the amplitudes the Fock estimates resolve and the mean-field scale;
        a sample of a 400-photon steady state is not a spike).
    divergence_bound : float
        Extra cap on |amplitude| beyond which a sample counts as diverged (the built-in one is
        1/(kappa dt)).
    max_diverged : float
        Largest tolerated fraction of diverged samples per group (default 0.01); beyond it
        ``run_group`` raises ``errors.SamplesError``.
    trunc_tol : float
        Tolerance of the truncation guard on the Fock estimate (``phasespace.state``, default
        ``truncation.TRUNC_TOL``): a result whose state misses more than this share of
        max(E, omega_s) warns, beyond ``truncation.REFUSE`` it is refused; 0 disables the guard
        (and every refusal of ``phasespace.state``).
    paths : bool
        Also keep, per group record, every kept sample's alpha_s and alpha_s^+ at the output
        times (``alpha_s``, ``alpha_s_plus``, shape (kept samples, len(t))): the single-shot
        statistics of ``spin`` read them.
    coupling : {None, "coarse", "fine"}
        Noise coupling for ``step_check`` (see ``_sde``): None draws one increment per step;
        "coarse" and "fine" draw two half-step increments per step and sum them, or take two half
        steps, so that the two runs share their noise paths.
    """

    name = "positive-p"
    positive_p = True

    def __init__(self, *, dt=2e-3, batch=64, spike_bound=None, divergence_bound=math.inf,
                 max_diverged=0.01, paths=False, coupling=None, trunc_tol=truncation.TRUNC_TOL):
        self.trunc_tol = truncation.check_tol(trunc_tol)
        self.dt = _sde.check_dt(dt)
        self.batch = check_int("batch", batch, 1)
        self.spike_bound = None if spike_bound is None else _sde.check_positive("spike_bound", spike_bound)
        self.divergence_bound = _sde.check_positive("divergence_bound", divergence_bound)
        self.max_diverged = _sde.check_fraction("max_diverged", max_diverged)
        if coupling not in (None, "coarse", "fine"):
            raise ValueError(f"coupling must be None, 'coarse' or 'fine', got {coupling!r}")
        self.coupling = coupling
        if not isinstance(paths, (bool, np.bool_)):
            raise ValueError(f"paths must be True or False, got {paths!r}")
        self.paths = bool(paths)

    @property
    def options(self) -> dict:
        return {"method": self.name, "dt": self.dt, "batch": self.batch,
                "spike_bound": self.spike_bound,
                "divergence_bound": None if math.isinf(self.divergence_bound) else self.divergence_bound,
                "max_diverged": self.max_diverged,
                "coupling": self.coupling, "paths": self.paths, "trunc_tol": self.trunc_tol,
                "scheme": "stochastic Heun, three-point increments (Stratonovich = Ito here)",
                "ordering": "normal"}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dt={self.dt!r}, batch={self.batch}, spike_bound={self.spike_bound!r}, "
                f"max_diverged={self.max_diverged!r})")

    def run_group(self, problem: Problem, ids, seed: int) -> GroupSums:
        """Integrate samples ``ids`` (sample k draws only from ``rng(seed, k)``); their sums."""
        return _sde.run_group(self, problem, ids, seed, self.positive_p)

    def reduce(self, problem: Problem, parts, result):
        """The runner's reduction hook: the Fock estimate made a state, moments from the samples,
        the truncation verdict (``phasespace.state.reduce``)."""
        return state.reduce(problem, parts, result, trunc_tol=self.trunc_tol)
