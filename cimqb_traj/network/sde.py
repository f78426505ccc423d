r"""Mean-field and positive-P equations of N DOPOs coupled by dissipative Ising edges.

Model
-----
N copies of the single-spin model (``BatteryParams``: signal a_i, pump b_i, PHYSICS.md Eqs.
B2-B5), plus one zero-temperature Lindblad channel per edge i < j with J_ij != 0::

    L_ij = sqrt(eta |J_ij|) (a_i - s_ij a_j),   s_ij = sgn J_ij,   gamma D[L_ij] with rate 1.

Coupling drift (derivation).  For L = sum_k c_k a_k the adjoint dissipator acting on a_m is
D^dag[L] a_m = (L^dag [a_m, L] + [L^dag, a_m] L) / 2 = -(1/2) c_m^* L, since [a_m, a_k] = 0 and
[a_k^dag, a_m] = -delta_km.  So d<a_m>/dt gains -(1/2) c_m^* sum_k c_k <a_k>: exactly linear, no
factorisation needed.  With c_i = sqrt(eta |J_ij|), c_j = -s sqrt(eta |J_ij|) the edge adds
-(eta |J_ij| / 2)(a_i - s a_j) to a_i and -(eta |J_ij| / 2)(a_j - s a_i) to a_j (s^2 = 1).
Summed over edges: the drift -(eta / 2) L alpha with the signed Laplacian L = D - J,
D = diag(sum_j |J_ij|) (:func:`signed_laplacian`; positive semidefinite, since
alpha^T L alpha = sum_{i<j} |J_ij| (alpha_i - s_ij alpha_j)^2).

Positive-P.  With the correspondences of ``phasespace.positive_p``, L rho L^dag <->
sum_kl c_k c_l^* alpha_k alpha_l^+ P and the two anticommutator terms give the drifts
-(1/2) c_m^* sum_k c_k alpha_k on alpha_m and its conjugate on alpha_m^+ (c real here), and a
second-derivative term only from normally ordering a^dag a, which cancels for a channel linear in
annihilation operators at zero temperature: the coupling adds the drift -(eta/2) L alpha on the
alpha's and -(eta/2) L alpha^+ on the alpha^+'s and NO diffusion.  The pumps are uncoupled.

Per spin the drift is the single-spin one (``phasespace.meanfield.rhs``: detuning Delta, seed eps,
pump F(t) with ``t_off`` / ramp), the noise is the single-spin positive-P noise
sqrt(kappa beta_i) dW on alpha_i and sqrt(kappa beta_i^+) dW' on alpha_i^+ (independent real
Wiener increments per spin); thermal baths (nth != 0) are refused here.

Threshold (derivation).  At the trivial fixed point alpha = 0, beta_i = 2F / sqrt(gamma_p) the
pumps decouple (rate -gamma_p / 2) and the signal fluctuations obey
d delta/dt = -(gamma_s/2 + i Delta) delta - (eta/2) L delta + kappa beta_0 delta^*.  L is real
symmetric: in its eigenbasis (real eigenvectors, eigenvalue lambda) each mode is a single-spin
problem with gamma_s -> gamma_s + eta lambda, unstable iff
kappa^2 beta_0^2 > (gamma_s + eta lambda)^2 / 4 + Delta^2.  The lowest mode goes first::

    F_th(J) = sqrt(gamma_p) / (2 kappa) * sqrt((gamma_s + eta lambda_min)^2 / 4 + Delta^2)

(``linear_threshold``; = ``BatteryParams.threshold`` at eta = 0 or lambda_min = 0, e.g. any
unfrustrated instance, whose Laplacian has the gauge-transformed ground state as null vector).

Integrator.  ``_sde``'s numba kernel is written for one spin (4 scalar variables); the coupling
mixes spins through a matrix product per step, so this module has a small vectorised numpy
stochastic Heun (predictor-corrector) step over (samples, N) arrays, with Gaussian increments.
Ito = Stratonovich here (the noise depends only on the pumps, which carry no noise), so Heun
converges to the Ito solution (weak order 1 at least).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from ..checks import check_int
from ..errors import SamplesError
from ..params import BatteryParams
from ..phasespace._sde import check_dt, plan, pump
from ..phasespace.meanfield import ATOL, RTOL, _check_times

__all__ = ["check_couplings", "signed_laplacian", "coupling_drift", "meanfield_rhs",
           "integrate_meanfield", "linear_threshold", "positive_p", "NetworkPositiveP"]

#: jackknife groups of samples (fewer when there are fewer samples)
GROUPS = 20


def check_couplings(J):
    """J as a dense float array or CSR matrix, refused unless square, real, finite, symmetric,
    with a zero diagonal."""
    if sp.issparse(J):
        J = sp.csr_matrix(J, dtype=float) if np.isrealobj(J.data) else None
    else:
        J = np.asarray(J)
        J = np.asarray(J, dtype=float) if np.isrealobj(J) and J.dtype != object else None
    if J is None:
        raise ValueError("J must be a real matrix (dense array or scipy.sparse)")
    if J.ndim != 2 or J.shape[0] != J.shape[1] or J.shape[0] < 1:
        raise ValueError(f"J must be a square N x N matrix with N >= 1, got shape {J.shape}")
    data = J.data if sp.issparse(J) else J
    if not np.all(np.isfinite(data)):
        raise ValueError("J must be finite (no NaN or inf)")
    if np.any(J.diagonal() != 0):
        raise ValueError("J must have a zero diagonal (no self-coupling)")
    asym = abs(J - J.T).max() if sp.issparse(J) else np.abs(J - J.T).max()
    if asym > 0:
        raise ValueError(f"J must be symmetric (max |J - J^T| = {asym:g})")
    return J


def _check_eta(eta) -> float:
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, (int, float, np.integer, np.floating)):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    if not (math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    return float(eta)


def _check_params(params) -> BatteryParams:
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    return params


def _check_vector(name, v, N) -> np.ndarray:
    """``v`` as a finite complex N-vector (a scalar is broadcast), or ValueError naming it."""
    x = np.asarray(v)
    if x.ndim > 1 or (x.ndim == 1 and x.shape != (N,)) or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be a finite scalar or N-vector (N = {N}), got shape {x.shape}")
    x = np.broadcast_to(x.astype(complex), (N,))
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def signed_laplacian(J):
    """L = D - J, D = diag(sum_j |J_ij|) (sparse in, sparse out)."""
    J = check_couplings(J)
    if sp.issparse(J):
        return (sp.diags(np.asarray(abs(J).sum(axis=1)).ravel()) - J).tocsr()
    return np.diag(np.abs(J).sum(axis=1)) - J


def _apply(L, x):
    """L x for x of shape (..., N) (batch in the leading axes)."""
    return (L @ x.T).T if sp.issparse(L) else x @ L  # L symmetric: x L = (L x^T)^T


def coupling_drift(J, eta, alpha):
    """-(eta/2) (D - J) alpha for alpha of shape (..., N) (module docstring)."""
    L = signed_laplacian(J)
    return -0.5 * _check_eta(eta) * _apply(L, np.asarray(alpha))


def _single_drift(p, a, ap, b, bp, F):
    """Single-spin drifts of alpha, alpha^+, beta, beta^+ (``phasespace.meanfield.rhs``)."""
    ds = -(0.5 * p.gamma_s + 1j * p.delta) * a + p.kappa * ap * b + p.eps
    dsp = -(0.5 * p.gamma_s - 1j * p.delta) * ap + p.kappa * a * bp + np.conj(p.eps)
    sF = math.sqrt(p.gamma_p) * F
    dp = -0.5 * p.gamma_p * b - 0.5 * p.kappa * a**2 + sF
    dpp = -0.5 * p.gamma_p * bp - 0.5 * p.kappa * ap**2 + sF
    return ds, dsp, dp, dpp


def meanfield_rhs(params: BatteryParams, J, eta, alpha_s, alpha_p, F: float | None = None):
    """(d alpha_s/dt, d alpha_p/dt) of the network mean field, alpha of shape (..., N): per spin
    Eqs. (B4)-(B5) (``phasespace.meanfield.rhs``) plus -(eta/2)(D - J) alpha_s.  F defaults to
    ``params.F``."""
    p = _check_params(params)
    L = signed_laplacian(J)
    eta = _check_eta(eta)
    a, b = np.asarray(alpha_s, complex), np.asarray(alpha_p, complex)
    if a.shape != b.shape or a.shape[-1:] != (L.shape[0],):
        raise ValueError(f"alpha_s and alpha_p must have the same shape (..., N), N = {L.shape[0]}; "
                         f"got {a.shape} and {b.shape}")
    return _rhs(p, L, eta, a, b, p.F if F is None else F)


def _rhs(p, L, eta, a, b, F):
    """Unchecked network mean-field drift (``meanfield_rhs``)."""
    ds, _, dp, _ = _single_drift(p, a, np.conj(a), b, np.conj(b), F)
    return ds - 0.5 * eta * _apply(L, a), dp


def integrate_meanfield(params: BatteryParams, J, eta, t, alpha_s0, alpha_p0=0.0, *,
                        rtol: float = RTOL, atol: float = ATOL):
    """Integrate the network mean field (solve_ivp DOP853) from (alpha_s0, alpha_p0) (N-vectors
    or scalars) at t[0]; each piece of constant F(t) separately.  Returns (alpha_s, alpha_p),
    complex arrays (len(t), N)."""
    p = _check_params(params)
    L = signed_laplacian(J)
    eta = _check_eta(eta)
    t = _check_times(t)
    N = L.shape[0]
    y0 = [_check_vector("alpha_s0", alpha_s0, N), _check_vector("alpha_p0", alpha_p0, N)]
    y = np.concatenate([y0[0].real, y0[0].imag, y0[1].real, y0[1].imag])
    out = np.empty((t.size, 4 * N))
    out[0] = y
    edges = [float(t[0])] + p.cuts(float(t[0]), float(t[-1])) + [float(t[-1])]
    for start, stop in zip(edges[:-1], edges[1:]):
        if stop <= start:
            continue
        F = p.F_at(0.5 * (start + stop))

        def f(_, x, F=F):
            a, b = x[:N] + 1j * x[N:2 * N], x[2 * N:3 * N] + 1j * x[3 * N:]
            ds, dp = _rhs(p, L, eta, a, b, F)
            return np.concatenate([ds.real, ds.imag, dp.real, dp.imag])

        mask = (t > start) & (t <= stop)
        ev = np.append(t[mask], stop) if not mask.any() or t[mask][-1] != stop else t[mask]
        sol = solve_ivp(f, (start, stop), y, method="DOP853", t_eval=ev, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"network mean-field integration failed: {sol.message}")
        out[mask] = sol.y[:, :mask.sum()].T
        y = sol.y[:, -1]
    a = out[:, :N] + 1j * out[:, N:2 * N]
    b = out[:, 2 * N:3 * N] + 1j * out[:, 3 * N:]
    return a, b


def linear_threshold(params: BatteryParams, J, eta) -> float:
    """F at which the trivial state loses stability:
    sqrt(gamma_p)/(2 kappa) sqrt((gamma_s + eta lambda_min)^2/4 + Delta^2), lambda_min the
    lowest eigenvalue of the signed Laplacian (module docstring)."""
    p = _check_params(params)
    L = signed_laplacian(J)
    eta = _check_eta(eta)
    if p.kappa == 0:
        return math.inf
    if sp.issparse(L) and L.shape[0] > 2:
        from scipy.sparse.linalg import eigsh
        lam = float(eigsh(L.astype(float), k=1, which="SA", return_eigenvectors=False)[0])
    else:
        lam = float(np.linalg.eigvalsh(L.toarray() if sp.issparse(L) else L)[0])
    lam = max(lam, 0.0)  # L is positive semidefinite: a negative value is round-off
    return math.sqrt(p.gamma_p) / (2 * p.kappa) * math.hypot((p.gamma_s + eta * lam) / 2, p.delta)


@dataclass
class NetworkPositiveP:
    """Positive-P moments of the network (normally ordered), means over kept samples, with
    jackknife standard errors over ``groups`` groups.

    ``n`` (nt, N): <a_i^dag a_i> (real part of E[alpha_i^+ alpha_i]); ``pairs`` (P, 2) with i < j
    and ``re_aa`` (nt, P): Re<a_i a_j> = Re E[alpha_i alpha_j]; ``spins`` (samples, N) int8: sign
    of Re alpha_i at t[-1] per sample (0 for a diverged sample); ``diverged``: samples excluded
    (non-finite or beyond the divergence bound), never silently."""

    t: np.ndarray
    n: np.ndarray
    n_err: np.ndarray
    pairs: np.ndarray
    re_aa: np.ndarray
    re_aa_err: np.ndarray
    spins: np.ndarray
    diverged: int
    samples: int
    groups: int
    dt: float
    ordering: str = "normal"


def _jackknife(sums, counts):
    """Means and jackknife errors from per-group sums (G, ...) and kept counts (G,)."""
    G = len(counts)
    shape = (G,) + (1,) * (sums.ndim - 1)
    tot, n = sums.sum(axis=0), counts.sum()
    mean = tot / n
    loo = (tot[None] - sums) / (n - counts).reshape(shape)
    err = np.sqrt((G - 1) / G * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    return mean, err


def positive_p(params: BatteryParams, J, eta, t, samples: int, seed: int, dt: float = 0.01, *,
               alpha_s0=0.0, pairs=None, max_diverged: float = 0.01,
               divergence_bound: float = 1e6) -> NetworkPositiveP:
    """Positive-P samples of the network (module docstring) from the coherent product state
    |alpha_s0> (x) |0>_pump (default the vacuum), stochastic Heun with steps <= ``dt``.

    Group g of the ``groups = min(20, samples)`` groups draws its Gaussian increments from
    ``SeedSequence(seed).spawn(groups)[g]``.  ``pairs``: (P, 2) spin index pairs for Re<a_i a_j>
    (default all i < j; refused when that is more than 1e5 pairs: pass the pairs you need).
    Raises ``SamplesError`` when more than ``max_diverged`` of the samples diverged or a whole
    group did."""
    p = _check_params(params)
    L = signed_laplacian(J)
    eta = _check_eta(eta)
    t = _check_times(t)
    samples = check_int("samples", samples, 2)
    seed = check_int("seed", seed, 0)
    dt = check_dt(dt)
    if p.nth_s != 0 or p.nth_p != 0:
        raise ValueError("params: nth_s and nth_p must be 0 for the network positive-P (zero temperature "
                         "only); use the single-spin phasespace.positive_p for thermal baths")
    if not (isinstance(max_diverged, (int, float)) and 0 <= max_diverged <= 1):
        raise ValueError(f"max_diverged must be a number in [0, 1], got {max_diverged!r}")
    if not (isinstance(divergence_bound, (int, float)) and divergence_bound > 0):
        raise ValueError(f"divergence_bound must be a positive number, got {divergence_bound!r}")
    N = L.shape[0]
    a0 = _check_vector("alpha_s0", alpha_s0, N)
    if pairs is None:
        if N * (N - 1) // 2 > 100_000:
            raise ValueError(f"pairs: all {N * (N - 1) // 2} pairs i < j is too many; pass pairs=(P, 2) indices")
        pairs = np.array(np.triu_indices(N, 1)).T
    pairs = np.asarray(pairs)
    if pairs.size == 0:
        pairs = np.zeros((0, 2), np.int64)
    if (pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer)
            or np.any(pairs < 0) or np.any(pairs >= N) or np.any(pairs[:, 0] >= pairs[:, 1])):
        raise ValueError(f"pairs must be a (P, 2) integer array of spin indices 0 <= i < j < N = {N}")
    ts, h, oidx = plan(p, t, dt)
    sF = pump(p, ts, h) / math.sqrt(p.gamma_p) if p.gamma_p > 0 else np.zeros_like(h)
    G = min(GROUPS, samples)
    sizes = np.full(G, samples // G) + (np.arange(G) < samples % G)
    nt, P = t.size, pairs.shape[0]
    sum_n, sum_aa = np.zeros((G, nt, N)), np.zeros((G, nt, P))
    kept = np.zeros(G)
    spins = np.zeros((samples, N), np.int8)
    i0, i1 = pairs[:, 0], pairs[:, 1]
    k = 0.5 * eta
    for g, ss in enumerate(np.random.SeedSequence(seed).spawn(G)):
        rng = np.random.default_rng(ss)
        B = int(sizes[g])
        a = np.tile(a0, (B, 1))
        ap, b, bp = np.conj(a), np.zeros((B, N), complex), np.zeros((B, N), complex)
        rec = np.empty((nt, 2, B, N), complex)
        rec[0] = a, ap
        alive = np.ones(B, bool)
        for s in range(h.size):
            hs = h[s]
            w = rng.standard_normal((2, B, N)) * math.sqrt(hs)

            def drift(a, ap, b, bp):
                ds, dsp, dp, dpp = _single_drift(p, a, ap, b, bp, sF[s])
                return ds - k * _apply(L, a), dsp - k * _apply(L, ap), dp, dpp

            def noise(b, bp):
                return np.sqrt(p.kappa * b) * w[0], np.sqrt(p.kappa * bp) * w[1]

            d1 = drift(a, ap, b, bp)
            n1 = noise(b, bp)
            pa, pap = a + d1[0] * hs + n1[0], ap + d1[1] * hs + n1[1]
            pb, pbp = b + d1[2] * hs, bp + d1[3] * hs
            d2 = drift(pa, pap, pb, pbp)
            n2 = noise(pb, pbp)
            a = a + 0.5 * (d1[0] + d2[0]) * hs + 0.5 * (n1[0] + n2[0])
            ap = ap + 0.5 * (d1[1] + d2[1]) * hs + 0.5 * (n1[1] + n2[1])
            b = b + 0.5 * (d1[2] + d2[2]) * hs
            bp = bp + 0.5 * (d1[3] + d2[3]) * hs
            with np.errstate(invalid="ignore"):
                big = np.abs(np.concatenate([a, ap, b, bp], axis=1)).max(axis=1)
            bad = ~(big <= divergence_bound)
            if bad.any():  # freeze diverged samples at 0 so they cannot overflow; excluded below
                alive &= ~bad
                for x in (a, ap, b, bp):
                    x[bad] = 0
            if oidx[s] >= 0:
                rec[oidx[s]] = a, ap
        kept[g] = alive.sum()
        if kept[g] == 0:
            raise SamplesError(f"network positive_p: all {B} samples of group {g} diverged (positive-P "
                               "far above threshold or too large dt)")
        ra, rap = rec[:, 0][:, alive], rec[:, 1][:, alive]
        sum_n[g] = (rap * ra).real.sum(axis=1)
        sum_aa[g] = (ra[:, :, i0] * ra[:, :, i1]).real.sum(axis=1)
        off = int(sizes[:g].sum())
        spins[off:off + B] = np.where(alive[:, None], np.sign(rec[-1, 0].real), 0).astype(np.int8)
    diverged = int(samples - kept.sum())
    if diverged > max_diverged * samples:
        raise SamplesError(f"network positive_p: {diverged} of {samples} samples diverged (more than "
                           f"max_diverged = {max_diverged:g}); lower dt or the pump")
    n, n_err = _jackknife(sum_n, kept)
    aa, aa_err = _jackknife(sum_aa, kept)
    return NetworkPositiveP(t=t, n=n, n_err=n_err, pairs=pairs, re_aa=aa, re_aa_err=aa_err, spins=spins,
                            diverged=diverged, samples=samples, groups=G, dt=dt)
