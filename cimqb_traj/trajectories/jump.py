r"""Photon-counting unraveling (quantum jumps) of the charging master equation.

Model: the same as ``exact.charge`` -- Hamiltonian ``model.hamiltonian(params, F)``, collapse
operators ``model.collapse_ops(params)`` (every channel is counted), the pump switch-off at
``params.t_off`` treated as a discontinuity (each segment is integrated separately, no step
crosses it), vacuum initial state unless ``psi0`` is given.

Method (waiting-time / norm-decay algorithm, no first-order coin flip per step)
-------------------------------------------------------------------------------
Between jumps the unnormalised state obeys d psi/dt = -i H_eff psi with
H_eff = H - (i/2) sum_j L_j^dag L_j, so ||psi||^2 decays as the survival probability of the
no-jump record.  Each trajectory draws r ~ U(0, 1) and integrates until ||psi||^2 = r; there it
picks channel j with probability ||L_j psi||^2 / sum_k ||L_k psi||^2, applies L_j, renormalises
and draws a fresh r.

Integrator.  A block of ``batch`` trajectories is one dense complex (D, B) array and every
right-hand side is one CSR-times-dense product ``(-i H_eff) @ Psi`` (H_eff built as a
``scipy.sparse`` CSR matrix; the product and the DOPRI5 stage arithmetic run in small numba
kernels, one sweep over the CSR arrays per stage for the whole block).  We use our own
Dormand-Prince 5(4) (DOPRI5) with Hairer's error norm and *per-column* time, step size, error
control and acceptance: each column is an independent ODE that merely shares the sparse
products.  Hence

* a column's arithmetic never depends on which other columns share its block (the kernels
  work column by column in a fixed order, the root finder freezes converged columns, no
  size-dependent pairwise/BLAS reductions), so results do not depend on ``batch``: they are
  bitwise identical (tested);
* when one column crosses its threshold only that column is rewound to the crossing; the others
  keep their accepted steps.

Why not ``scipy.integrate.solve_ivp``: it has one scalar time and one step size per system, so
a block would have to be restarted (or every column stepped at the most restrictive step) at
each of the thousands of jumps per trajectory, and its event location runs per event in Python.

Why an explicit method: the problem is only mildly stiff.  The spectrum of -i H_eff has decay
rates up to ~ (gamma_p (Np-1) + gamma_s (Ns-1))/2 and frequencies of the same order
(|lambda| ~ 100-200 at the paper's truncation), so DOPRI5 runs at its stability limit with
steps ~ 0.02, while the mean time between jumps is ~ 1/(gamma_p <n_p> + gamma_s <n_s>) ~ 0.02-0.05:
the jump record, not the stiffness, sets the step count, and an implicit method would pay a
sparse LU solve per stage for nothing.

Jump location.  DOPRI5's 4th-order continuous extension psi(t0 + theta h) = sum_m c_m theta^m
(m = 0..4) makes ||psi(theta)||^2 an explicit degree-8 polynomial in theta whose coefficients
are the Gram matrix Re<c_m, c_n>.  Its crossing with r is found by a bracketed (bisection-
safeguarded) Newton iteration to |d theta| < 1e-12, i.e. the jump time to ~1e-12 h absolute,
far below the interpolant's own O(h^5) error, which is held to the integration tolerance.

Seeds: ``SeedSequence(seed).spawn(ntraj)[k]`` (built directly as
``SeedSequence(seed, spawn_key=(k,))``) drives trajectory k alone: one draw for each threshold,
one for each channel choice.

Statistics: trajectories are assigned to ``groups`` contiguous groups (by index, independent of
``batch``); per-group sums of rho_s(t) are kept (memory O(groups len(t) Ns^2), not O(ntraj)) and
summed in trajectory order, so even the sums are bitwise independent of ``batch``.  Errors of
nonlinear functionals (W, W_c, W_i) are delete-one-group jackknife errors; element errors of
rho_s are the jackknife (= grouped standard) errors of the mean; the error of the signal photon
number comes from the per-trajectory variance.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp

from .. import model
from ..ergotropy import ergotropy_parts, ladder
from ..exact import _segments, check_times
from ..params import BatteryParams

__all__ = ["JumpResult", "run_jump"]


# --- Dormand-Prince 5(4) tableau (Hairer, Norsett & Wanner; same numbers as scipy's RK45) ---
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
#: b - b_hat over the 7 stages (stage 7 = f(y_new), first-same-as-last)
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
#: dense output: psi(t0 + theta h) = psi0 + h sum_k K_k sum_m _P[k, m] theta^(m+1)
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
_SAFETY, _FAC_MIN, _FAC_MAX = 0.9, 0.2, 10.0
_H0 = 1e-3  # first trial step; the controller reaches the natural step within a few steps
_THETA_TOL = 1e-12


@dataclass(frozen=True)
class JumpResult:
    """Trajectory average of the photon-counting unraveling.

    ``rho_s`` (len(t), Ns, Ns) is the average reduced signal state; ``rho_s_err`` its element-wise
    standard error (real part: error of Re, imaginary part: error of Im; from the group sums).
    ``energy, W, W_c, W_i`` are computed from the averaged ``rho_s``; ``*_err`` are jackknife
    errors over ``groups`` groups of trajectories.  ``n_s`` / ``n_s_err``: mean signal photon
    number and its standard error from the per-trajectory spread.  ``n_jumps``: mean number of
    jumps per trajectory in each collapse channel (order of ``model.collapse_ops``).
    """

    params: BatteryParams
    t: np.ndarray
    rho_s: np.ndarray
    rho_s_err: np.ndarray
    n_s: np.ndarray
    n_s_err: np.ndarray
    energy: np.ndarray
    energy_err: np.ndarray
    W: np.ndarray
    W_err: np.ndarray
    W_c: np.ndarray
    W_c_err: np.ndarray
    W_i: np.ndarray
    W_i_err: np.ndarray
    n_jumps: np.ndarray
    ntraj: int
    seed: int
    groups: int
    options: dict = field(default_factory=dict)


_A2 = np.zeros((6, 6))
for _s, _row in enumerate(_A):
    _A2[_s, : len(_row)] = _row
_B1 = np.array(_B)


# The kernels below loop over each column separately with a fixed operation order and no
# fastmath, so a column's numbers never depend on the other columns of its block.
@numba.njit(cache=True)
def _csr_mm(indptr, indices, data, X, out):
    """out = M @ X for CSR M and a C-contiguous (D, n) X: one sweep over M for the block."""
    D, n = X.shape
    for i in range(D):
        for c in range(n):
            out[i, c] = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            a = data[jj]
            j = indices[jj]
            for c in range(n):
                out[i, c] += a * X[j, c]


@numba.njit(cache=True)
def _dopri_attempt(indptr, indices, data, y, K, h, rtol, atol, ynew, err):
    """One DOPRI5 attempt of every column (own step h[c]) given K[0] = f(y): stages K[1..6]
    (K[6] = f(ynew), first-same-as-last), the 5th-order solution ynew and Hairer's error norm
    err[c] = sqrt(mean_i |e_i / (atol[c] + rtol max(|y_i|, |ynew_i|))|^2); atol[c] is the
    absolute tolerance scaled by the column's current norm, so the accuracy of the *normalised*
    state does not degrade while ||psi||^2 decays towards a small threshold r."""
    D, n = y.shape
    tmp = np.empty_like(y)
    for s in range(1, 6):
        for i in range(D):
            for c in range(n):
                tmp[i, c] = 0.0
            for j in range(s):
                a = _A2[s, j]
                for c in range(n):
                    tmp[i, c] += a * K[j, i, c]
            for c in range(n):
                tmp[i, c] = y[i, c] + h[c] * tmp[i, c]
        _csr_mm(indptr, indices, data, tmp, K[s])
    for i in range(D):
        for c in range(n):
            ynew[i, c] = 0.0
        for j in range(6):
            a = _B1[j]
            for c in range(n):
                ynew[i, c] += a * K[j, i, c]
        for c in range(n):
            ynew[i, c] = y[i, c] + h[c] * ynew[i, c]
    _csr_mm(indptr, indices, data, ynew, K[6])
    for c in range(n):
        err[c] = 0.0
    for i in range(D):
        for c in range(n):
            tmp[i, c] = 0.0
        for j in range(7):
            a = _E[j]
            for c in range(n):
                tmp[i, c] += a * K[j, i, c]
        for c in range(n):
            sc = atol[c] + rtol * max(abs(y[i, c]), abs(ynew[i, c]))
            e = h[c] * tmp[i, c] / sc
            err[c] += e.real * e.real + e.imag * e.imag
    for c in range(n):
        err[c] = np.sqrt(err[c] / D)


def _colnorm2(Y: np.ndarray) -> np.ndarray:
    """Squared 2-norm of each column of a (D, n) array, with a summation order that does not
    depend on n (each column is made contiguous and reduced on its own)."""
    a = np.ascontiguousarray(Y.T)
    return np.sum(a.real**2 + a.imag**2, axis=1)


def _operators(p: BatteryParams, F: float):
    """(-i H_eff, [L_j]) as CSR matrices."""
    Ls = [sp.csr_matrix(L.full()) for L in model.collapse_ops(p)]
    H = sp.csr_matrix(model.hamiltonian(p, F).full())
    Heff = H.astype(complex)
    for L in Ls:
        Heff = Heff - 0.5j * (L.conj().T @ L)
    M = (-1j * Heff).tocsr()
    M.eliminate_zeros()
    M.sort_indices()
    return M, Ls


def _interp_coeffs(y, K, h):
    """Coefficients c_0..c_4 (5, D, n) of the dense output in theta."""
    C = np.empty((5,) + y.shape, complex)
    C[0] = y
    _dense_coeffs(np.ascontiguousarray(K), h, C)
    return C


@numba.njit(cache=True)
def _dense_coeffs(K, h, C):
    _, D, n = K.shape
    for m in range(4):
        for i in range(D):
            for c in range(n):
                C[m + 1, i, c] = 0.0
            for k in range(7):
                a = _P[k, m]
                for c in range(n):
                    C[m + 1, i, c] += a * K[k, i, c]
            for c in range(n):
                C[m + 1, i, c] *= h[c]


def _find_theta(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """First theta in (0, 1] with sum_s q[s] theta^s = r, given f(0) > r >= f(1); vectorised
    bisection-safeguarded Newton on the polynomial."""
    n = r.size
    lo, hi = np.zeros(n), np.ones(n)
    dq = q[1:] * np.arange(1, q.shape[0])[:, None]
    # start from linear interpolation of the bracket
    f1 = q[0].copy()
    for c in q[1:]:  # explicit order: numpy's pairwise sums would depend on the column count
        f1 = f1 + c
    f0, f1 = q[0] - r, f1 - r
    th = np.clip(f0 / np.where(f0 - f1 > 0, f0 - f1, 1.0), 0.0, 1.0)
    conv = np.zeros(n, bool)
    for _ in range(60):
        f, df = q[-1].copy(), dq[-1].copy()
        for c in q[-2::-1]:
            f = f * th + c
        for c in dq[-2::-1]:
            df = df * th + c
        f = f - r
        pos = f > 0
        lo = np.where(pos, th, lo)
        hi = np.where(pos, hi, th)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = th - f / df
        ok = (df < 0) & (newton >= lo) & (newton <= hi)
        new = np.where(ok, newton, 0.5 * (lo + hi))
        # a converged column is frozen, so its result never depends on the other columns
        newly = (np.abs(new - th) < _THETA_TOL) | (hi - lo < _THETA_TOL)
        th = np.where(conv, th, new)
        conv |= newly
        if conv.all():
            break
    return th


def _run_block(ids, psi0, t, segments, rtol, atol, seed):
    """Integrate trajectories ``ids`` together; return their normalised states at every output
    time, (B, nt, D), and jump counts (B, n_channels)."""
    B, D, nt = len(ids), psi0.size, len(t)
    rngs = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(k),)))) for k in ids]
    Psi = np.repeat(psi0[:, None], B, axis=1)
    out = np.empty((B, nt, D), complex)
    out[:, 0] = psi0
    r = np.array([g.random() for g in rngs])
    tcol = np.full(B, t[0])
    hprop = np.full(B, _H0)
    iout = np.ones(B, dtype=np.int64)
    t_ext = np.append(t, np.inf)
    n_ch = len(segments[0][3])
    njumps = np.zeros((B, n_ch), dtype=np.int64)
    nsteps = 0
    for a, b, M, Ls in segments:
        Fbuf = np.empty((D, B), complex)
        fresh = np.zeros(B, bool)  # Fbuf[:, k] == M @ Psi[:, k]  (first-same-as-last)
        active = tcol < b
        while active.any():
            A = np.flatnonzero(active)
            y = Psi if A.size == B else Psi[:, A]
            target = np.minimum(t_ext[iout[A]], b)
            gap = target - tcol[A]
            hit = hprop[A] >= gap
            h = np.where(hit, gap, hprop[A])
            K = np.empty((7, D, A.size), complex)
            stale = ~fresh[A]
            if stale.all():
                _csr_mm(M.indptr, M.indices, M.data, y, K[0])
            else:
                K[0] = Fbuf[:, A]
                if stale.any():
                    K0s = np.empty((D, int(stale.sum())), complex)
                    _csr_mm(M.indptr, M.indices, M.data, np.ascontiguousarray(y[:, stale]), K0s)
                    K[0][:, stale] = K0s
            ynew = np.empty_like(y)
            err = np.empty(A.size)
            atol_c = atol * np.sqrt(_colnorm2(y))
            _dopri_attempt(M.indptr, M.indices, M.data, y, K, h, rtol, atol_c, ynew, err)
            nsteps += 1
            accept = err <= 1.0
            with np.errstate(divide="ignore"):
                fac = np.clip(_SAFETY * err ** -0.2, _FAC_MIN, _FAC_MAX)
            # step-size proposal: keep it when an accepted step was shortened to hit a target
            hnew = np.where(accept, np.where(hit, hprop[A], h * fac), h * np.minimum(fac, 1.0))
            hprop[A] = np.maximum(hnew, 1e-14)
            if not accept.any():
                continue
            ia = np.flatnonzero(accept)
            cols = A[ia]
            nrm = _colnorm2(ynew[:, ia])
            cross = nrm <= r[cols]
            # -- accepted, no jump in the step
            ic = ia[~cross]
            cc = A[ic]
            Psi[:, cc] = ynew[:, ic]
            Fbuf[:, cc] = K[6][:, ic]
            fresh[cc] = True
            tcol[cc] = np.where(hit[ic], target[ic], tcol[cc] + h[ic])
            rec = hit[ic] & (target[ic] == t_ext[iout[cc]])
            for k_loc, k in zip(ic[rec], cc[rec]):
                out[k, iout[k]] = ynew[:, k_loc] / math.sqrt(nrm[np.searchsorted(ia, k_loc)])
                iout[k] += 1
            # -- jumps: locate the crossing on the dense output, jump, renormalise
            ij = ia[cross]
            if ij.size:
                cj = A[ij]
                C = _interp_coeffs(y[:, ij], K[:, :, ij], h[ij])
                Ct = np.ascontiguousarray(C.transpose(2, 0, 1))  # (nj, 5, D)
                G = (Ct.conj() @ Ct.transpose(0, 2, 1)).real  # (nj, 5, 5): Re<c_m, c_n>
                q = np.zeros((9, ij.size))
                for m in range(5):
                    for n in range(5):
                        q[m + n] += G[:, m, n]
                th = _find_theta(q, r[cj])
                yc = C[4]
                for m in (3, 2, 1, 0):  # Horner
                    yc = yc * th[None, :] + C[m]
                LY = [L @ yc for L in Ls]
                w = np.stack([_colnorm2(x) for x in LY])  # (n_ch, nj)
                cum = np.cumsum(w, axis=0)
                u = np.empty(cj.size)
                for i, k in enumerate(cj):  # per-trajectory streams: channel draw, new threshold
                    g = rngs[k]
                    u[i] = g.random()
                    r[k] = g.random()
                # channel: first j with u * total < cumulative weight (never a zero-weight one)
                ch = np.minimum(np.sum(cum <= (u * cum[-1])[None, :], axis=0), n_ch - 1)
                for j in range(n_ch):
                    sel = np.flatnonzero(ch == j)
                    if sel.size:
                        Psi[:, cj[sel]] = LY[j][:, sel] / np.sqrt(w[j, sel])[None, :]
                        njumps[cj[sel], j] += 1
                tcol[cj] = tcol[cj] + th * h[ij]
                fresh[cj] = False
            active = tcol < b
    return out, njumps, nsteps


def _jackknife(S: np.ndarray, n: np.ndarray, fun):
    """Delete-one-group jackknife: S group sums (G, ...), n group counts; fun maps a mean
    (stack) to the estimate.  Returns (estimate of the full mean, jackknife standard error)."""
    G = S.shape[0]
    tot = S.sum(axis=0)
    est = fun((tot / n.sum())[None])[0]
    if G < 2:
        return est, np.full_like(np.asarray(est, dtype=float), np.nan)
    loo = fun((tot[None] - S) / (n.sum() - n).reshape((G,) + (1,) * (S.ndim - 1)))
    err = np.sqrt((G - 1) / G * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    return est, err


def run_jump(
    params: BatteryParams,
    t,
    ntraj: int,
    seed: int,
    *,
    batch: int = 64,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    psi0=None,
    groups: int = 20,
) -> JumpResult:
    """Average of ``ntraj`` photon-counting trajectories of the charging master equation.

    Parameters
    ----------
    params : BatteryParams
    t : array_like
        Output times (strictly increasing, >= 0); the initial state is taken at ``t[0]``.
    ntraj : int
        Number of trajectories (>= 1).
    seed : int
        Trajectory k uses ``numpy.random.SeedSequence(seed).spawn(ntraj)[k]``.
    batch : int
        Trajectories integrated together as one (D, batch) block; the results do not depend on it.
    rtol, atol : float
        DOPRI5 tolerances (per component, Hairer's norm) of the no-jump evolution; ``atol`` is
        relative to the current norm of the unnormalised state.
    psi0 : array or qutip ket, optional
        Initial pure state on signal (x) pump (normalised here); default the vacuum.
    groups : int
        Number of trajectory groups for the jackknife / grouped errors (``min(groups, ntraj)``).
    """
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    if isinstance(ntraj, bool) or not isinstance(ntraj, (int, np.integer)) or ntraj < 1:
        raise ValueError(f"ntraj must be an integer >= 1, got {ntraj!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, got {groups!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    t = check_times(t, "t")
    ntraj, seed = int(ntraj), int(seed)
    Ns, Np = params.Ns, params.Np
    D = Ns * Np
    if psi0 is None:
        v = np.zeros(D, complex)
        v[0] = 1.0
    else:
        v = np.asarray(psi0.full() if hasattr(psi0, "full") else psi0, dtype=complex).ravel()
        if v.size != D:
            raise ValueError(f"psi0 must be a vector of length Ns*Np = {D}, got {v.size}")
        nv = np.linalg.norm(v)
        if not np.isfinite(nv) or nv == 0:
            raise ValueError("psi0 must be a finite non-zero vector")
        v = v / nv

    segments = []
    for a, b, F, _ in _segments(params, t):
        M, Ls = _operators(params, F)
        segments.append((a, b, M, Ls))
    n_ch = len(segments[0][3])

    G = min(int(groups), ntraj)
    group_of = (np.arange(ntraj) * G) // ntraj
    nt = len(t)
    S = np.zeros((G, nt, Ns, Ns), complex)
    cnt = np.bincount(group_of, minlength=G).astype(float)
    nsum, n2sum = np.zeros(nt), np.zeros(nt)
    jumps = np.zeros(n_ch)
    nphot = np.arange(Ns, dtype=float)
    nsteps = 0
    t_start = _time.perf_counter()
    for start in range(0, ntraj, batch):
        ids = np.arange(start, min(start + batch, ntraj))
        out, nj, ns = _run_block(ids, v, t, segments, rtol, atol, seed)
        nsteps += ns
        Mats = out.reshape(len(ids), nt, Ns, Np)
        # per-trajectory products of fixed shape: the numbers do not depend on the batch size
        rho = Mats @ np.swapaxes(Mats, -1, -2).conj()
        nk = np.sum(np.ascontiguousarray(np.diagonal(rho, axis1=-2, axis2=-1).real) * nphot, axis=-1)
        for i, k in enumerate(ids):  # trajectory order: sums independent of the batch size
            S[group_of[k]] += rho[i]
            nsum += nk[i]
            n2sum += nk[i] ** 2
            jumps += nj[i]
    elapsed = _time.perf_counter() - t_start

    e = ladder(Ns, params.omega_s)

    def parts(rhos):
        x = ergotropy_parts(rhos, e)
        return np.stack([x.energy, x.W, x.W_c, x.W_i], axis=1)

    (E, W, Wc, Wi), (E_err, W_err, Wc_err, Wi_err) = _jackknife(S, cnt, parts)
    rho_mean, re_err = _jackknife(S.real, cnt, lambda x: x)
    _, im_err = _jackknife(S.imag, cnt, lambda x: x)
    rho_s = S.sum(axis=0) / ntraj
    n_mean = nsum / ntraj
    if ntraj > 1:
        var = np.maximum(n2sum / ntraj - n_mean**2, 0.0) * ntraj / (ntraj - 1)
        n_err = np.sqrt(var / ntraj)
    else:
        n_err = np.full(nt, np.nan)
    return JumpResult(
        params=params, t=t, rho_s=rho_s, rho_s_err=re_err + 1j * im_err,
        n_s=n_mean, n_s_err=n_err, energy=E, energy_err=E_err, W=W, W_err=W_err,
        W_c=Wc, W_c_err=Wc_err, W_i=Wi, W_i_err=Wi_err, n_jumps=jumps / ntraj,
        ntraj=ntraj, seed=seed, groups=G,
        options={"method": "jump/photon-counting", "integrator": "DOPRI5 per-column",
                 "batch": int(batch), "rtol": rtol, "atol": atol, "block_steps": nsteps,
                 "elapsed_s": elapsed},
    )
