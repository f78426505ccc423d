r"""Mean-field, positive-P and truncated-Wigner equations of N DOPOs coupled by dissipative Ising edges.

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

Samplers.  ``network.phasespace`` (positive-P and truncated Wigner, the noise each coupling channel
adds in each representation, the runner) with the numba kernels of ``network._kernels``: stochastic
Heun as in ``phasespace._sde``, the couplings as a CSR matrix.  Ito = Stratonovich here (the
positive-P noise depends only on the pumps, which carry no noise), so Heun converges to the Ito
solution (weak order 2 for these noises, see ``phasespace._sde``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from ..params import BatteryParams
from ..phasespace.meanfield import ATOL, RTOL, _check_times

__all__ = ["check_couplings", "signed_laplacian", "coupling_drift", "meanfield_rhs",
           "integrate_meanfield", "linear_threshold", "positive_p", "truncated_wigner", "NetworkPositiveP"]


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


# the samplers live in network.phasespace; imported here (after the names they use) so that
# ``sde.positive_p`` keeps working
from .phasespace import NetworkPositiveP, positive_p, truncated_wigner  # noqa: E402
