r"""Diffusive unraveling (homodyne / heterodyne detection) of a :class:`~.base.Problem`.

Measurement
-----------
The master equation d rho/dt = -i[H, rho] + sum_j D[L_j] rho is unravelled by homodyne detection
of every output channel:

* the signal channel (``problem.signal_channel``) at quadrature phase ``theta``;
* every other channel (pump loss, thermal gain, load decay) at phase 0 (a choice: any phase
  unravels the same master equation, only the single trajectories differ);
* ``heterodyne=True``: every channel j is split into two homodyne channels L_j / sqrt(2) at
  phases theta_j and theta_j + pi/2 (theta_j as above), both measured; the records are ordered
  channel by channel, (theta_j, theta_j + pi/2) within a channel.

A measured channel has c_j = exp(-i theta_j) L_j and the record

    dY_j = 2 Re<c_j> dt + dW_j,

dW_j independent Wiener increments.  The conditional state follows the linear stochastic
Schroedinger equation driven by the actual record,

    d psi~ = A psi~ dt + sum_j c_j psi~ dY_j,        A = -i H - 1/2 sum_j L_j^dag L_j,

normalised: psi = psi~ / ||psi~|| is a function of the record alone, so sampling dY_j from its
physical law (drift 2 Re<c_j> from the current state) gives the nonlinear (normalised) SSE whose
ensemble average is the master equation.

Scheme (one step of length h, t_n -> t_n + h)
---------------------------------------------
1. Drift: phi = T4(h A) psi_n with T4(z) = 1 + z + z^2/2 + z^3/6 + z^4/24, the stability
   polynomial of classical RK4 on a linear system, evaluated by Horner (4 sparse products).
2. Record: dY_j = 2 Re<phi|c_j|phi>/<phi|phi> h + dW_j.
3. Kick, Milstein for the pure-noise equation d psi = sum_j c_j psi dY_j:
   psi~ = phi + sum_j c_j phi dY_j + 1/2 sum_{j,k} c_j c_k phi (dY_j dY_k - delta_jk h),
   then psi_{n+1} = psi~ / ||psi~||.  ``scheme="euler"`` drops the double sum.

Order.  Written out, psi~ = psi_n + h A psi_n + sum_j c_j psi_n dY_j + 1/2 sum_jk c_j c_k psi_n
(dY_j dY_k - delta_jk h) + R, where R collects T4(hA) - 1 - hA = O(h^2), <c_j> taken at phi
instead of psi_n (O(h) in <c_j>, O(h^2) in dY_j), the drift of dY inside the double sum
(O(h^2), and O(h dW) with zero mean) and the splitting term sum_j c_j A psi_n h dW_j (O(h^{3/2}),
zero mean: the size of the iterated integrals I_(0,j), I_(j,0) that Milstein neglects anyway);
zero-mean local terms of O(h^{3/2}) add up to O(h) globally.  The leading part is the Milstein
scheme for the (scale-invariant) SDE of psi~ under the physical law of Y, whose diffusion
c_j psi~ is linear; with commuting c_j the iterated
integrals are I_jk + I_kj = dW_j dW_k, I_jj = (dW_j^2 - h)/2, so the scheme has strong order 1
(Kloeden & Platen 1992, Sec. 10.3) and ``"euler"`` strong order 1/2; both have weak order 1.
Normalising each step changes nothing: the step map is homogeneous of degree one in psi_n.
The c_j commute at zero temperature (a_s, a_p, sigma_- on different factors, or the same
operator twice for heterodyne).  Thermal channels sqrt(gamma n) a and sqrt(gamma (n+1)) a^dag do
*not* commute: the double sum then uses the symmetrised products (c_j c_k + c_k c_j)/2 and the
Levy areas are dropped, so the order-1 claim holds for commuting channels only (the scheme still
converges, with strong order 1/2).  ``tests/test_homodyne.py`` measures both orders (1.08 and
0.52 from successive refinements on shared Brownian paths).

Why the drift is T4 and not Euler.  1 + hA is unstable for every oscillating mode
(|1 + i omega h| > 1): the normalisation hides the norm growth but not the wrong relative
weights.  The eigenvalues of A lie in the closed left half-plane (Re<x|A|x> = -1/2 sum_j
||L_j x||^2 <= 0) and in the disk |lambda| <= ||A||_inf (the maximum absolute row sum bounds the
spectral radius), and |T4(z)| <= 1 on the whole closed left half-disk |z| <= 2.61.  So

    h ||A||_inf <= STABILITY_BOUND = 2.5

makes the drift step stable for every eigenvalue (margin 4%, tested).  The noise kick is a
truncated series of the propagator exp(sum_j c_j dY_j - ...); it is an expansion only while
the increments sum_j ||c_j|| |dW_j| stay below one, i.e. while

    h sum_j ||c_j||_1 ||c_j||_inf <= NOISE_BOUND = 1

(||c||_1 ||c||_inf >= ||c||_2^2, Hoelder).  A step size beyond either bound raises ValueError
instead of returning a wrong answer.  Both are limits, not accuracy targets; the default
dt = 1e-3 is far inside them at the paper's truncation (h ||A||_inf ~ 0.2, noise ~ 0.16).

Time grid.  Every output time and every segment end (the pump switch-off) is a step end: an
interval of length L is cut into n = ceil(L / dt) equal steps (up to a 1e-9 rounding margin),
so the steps are <= dt.

Implementation.  ``run_group`` integrates one trajectory after the other (``_steps1``): one
vector, real arithmetic when the problem is real (A and every c_j real: phase 0, no detuning),
complex otherwise; each operator in diagonal storage on halo-padded vectors when it is banded
(``_DIAG_FILL``), else CSR.  Every sum runs in a fixed order (ascending column, no fastmath, no
BLAS reductions), the same as the block kernel ``_steps`` (kept for ``moving``), so a
trajectory's numbers do not depend on ``batch`` or on the other trajectories and equal
``_steps``' up to the sign of a zero (measured bitwise equal).  Random numbers:
trajectory k uses ``rng(seed, k)`` alone: first ``initial_state``, then, interval after interval
and in chunks of at most ``_CHUNK`` steps, ``standard_normal((steps, n_measured))`` (row = step,
column = measured channel).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp

from ._jump_kernels import _mv_halo
from ..problem import GroupSums, Problem, check_group_args, rng
from .base import initial_state

__all__ = ["Homodyne", "STABILITY_BOUND", "NOISE_BOUND", "SCHEMES"]

SCHEMES = ("milstein", "euler")
#: h ||A||_inf limit: inside the radius 2.61 of the largest closed left half-disk on which the
#: RK4 / Taylor-4 stability polynomial satisfies |T4(z)| <= 1.
STABILITY_BOUND = 2.5
#: h sum_j ||c_j||_1 ||c_j||_inf limit: beyond it the kick's typical term ||c|| |dW| exceeds 1.
NOISE_BOUND = 1.0
#: Largest number of steps whose Gaussian increments are drawn (and stored) at once.
_CHUNK = 4096


# The kernels loop over each column separately with a fixed operation order and no fastmath, so
# a column's numbers never depend on the other columns of its block.
@numba.njit(cache=True, nogil=True)
def _spmm(indptr, indices, data, X, out):
    """out = M @ X for the CSR rows ``indptr`` (absolute offsets into indices / data)."""
    D, n = X.shape
    for i in range(D):
        for c in range(n):
            out[i, c] = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            a = data[jj]
            j = indices[jj]
            for c in range(n):
                out[i, c] += a * X[j, c]


@numba.njit(cache=True, nogil=True)
def _steps(Ap, Ai, Ad, Cp, Ci, Cd, psi, dW, h, milstein, Y):
    """Advance the normalised block ``psi`` (D, n) by ``dW.shape[0]`` steps of length h.

    A = (Ap, Ai, Ad) CSR; c_j = rows Cp[j] of (Ci, Cd); dW (steps, J, n) Wiener increments;
    Y (J, n) accumulates the records dY."""
    D, n = psi.shape
    J = Cp.shape[0]
    v = np.empty_like(psi)
    tmp = np.empty_like(psi)
    w = np.empty_like(psi)
    Cphi = np.empty((J, D, n), psi.dtype)
    n2 = np.empty(n)
    ex = np.empty((J, n))
    dY = np.empty((J, n))
    for s in range(dW.shape[0]):
        # 1. drift: v = T4(h A) psi by Horner, v <- psi + (h/k) A v for k = 4, 3, 2, 1
        for i in range(D):
            for c in range(n):
                v[i, c] = psi[i, c]
        for k in range(4, 0, -1):
            _spmm(Ap, Ai, Ad, v, tmp)
            f = h / k
            for i in range(D):
                for c in range(n):
                    v[i, c] = psi[i, c] + f * tmp[i, c]
        # 2. record increments from phi = v
        for j in range(J):
            _spmm(Cp[j], Ci, Cd, v, Cphi[j])
        for c in range(n):
            n2[c] = 0.0
        for j in range(J):
            for c in range(n):
                ex[j, c] = 0.0
        for i in range(D):
            for c in range(n):
                x = v[i, c]
                n2[c] += x.real * x.real + x.imag * x.imag
            for j in range(J):
                for c in range(n):
                    x = v[i, c]
                    y = Cphi[j, i, c]
                    ex[j, c] += x.real * y.real + x.imag * y.imag  # Re(conj(x) y)
        for j in range(J):
            for c in range(n):
                dY[j, c] = 2.0 * ex[j, c] / n2[c] * h + dW[s, j, c]
                Y[j, c] += dY[j, c]
        # 3. kick: psi = phi + sum_j c_j w_j, w_j = phi dY_j + 1/2 sum_k c_k phi (dY_j dY_k - delta_jk h)
        for i in range(D):
            for c in range(n):
                psi[i, c] = v[i, c]
        for j in range(J):
            for i in range(D):
                for c in range(n):
                    w[i, c] = v[i, c] * dY[j, c]
            if milstein:
                for k in range(J):
                    for i in range(D):
                        for c in range(n):
                            q = dY[j, c] * dY[k, c]
                            if k == j:
                                q -= h
                            w[i, c] += 0.5 * q * Cphi[k, i, c]
            _spmm(Cp[j], Ci, Cd, w, tmp)
            for i in range(D):
                for c in range(n):
                    psi[i, c] += tmp[i, c]
        # normalise
        for c in range(n):
            n2[c] = 0.0
        for i in range(D):
            for c in range(n):
                x = psi[i, c]
                n2[c] += x.real * x.real + x.imag * x.imag
        for c in range(n):
            n2[c] = 1.0 / math.sqrt(n2[c])
        for i in range(D):
            for c in range(n):
                psi[i, c] *= n2[c]


# --- per-trajectory kernel (what ``Homodyne.run_group`` uses) ---
# One trajectory is a vector, so there is no block to vectorise over: ``_steps1`` does
# ``_steps``' operations for one column, in the same order, on real vectors when the problem is
# real (phase 0, no detuning: A and every c_j real) and with each operator either in diagonal
# storage on halo-padded vectors (banded operators: no index loads, ``_jump_kernels._mv_halo``)
# or in CSR.  The sums run over the columns in ascending order in both storages, as in
# ``_spmm``; extra terms are exact zeros (0 * x), and real arithmetic drops the 0 * x imaginary
# parts: the numbers equal ``_steps``' up to the sign of a zero.
@numba.njit(cache=True, nogil=True)
def _mv1(diag, P, I, V, xh, H, out):
    """out = M @ x, x = xh[H:H + D]: diagonal storage (offsets P ascending, V (nd, D)) when
    ``diag``, else CSR (row pointers P, columns I, values V[0])."""
    if diag:
        _mv_halo(P, V, xh, H, out)
    else:
        d = V[0]
        for i in range(out.size):
            out[i] = 0.0
            for jj in range(P[i], P[i + 1]):
                out[i] += d[jj] * xh[H + I[jj]]


@numba.njit(cache=True, nogil=True)
def _steps1(diag, H, AP, AI, AV, CP, CI, CV, psi, dW, h, milstein, Y):
    """Advance one normalised trajectory ``psi`` (D,) by ``dW.shape[0]`` steps of length h:
    ``_steps`` for one column.  A = (AP, AI, AV), c_j = (CP[j], CI[j], CV[j]) in the storage
    ``diag`` selects (``_mv1``; diagonal storage reads H halo zeros on both sides of x);
    dW (steps, J); Y (J,) accumulates the records dY."""
    D = psi.size
    J = CP.shape[0]
    vh = np.zeros(D + 2 * H, psi.dtype)
    v = vh[H:H + D]
    wh = np.zeros(D + 2 * H, psi.dtype)
    w = wh[H:H + D]
    tmp = np.empty(D, psi.dtype)
    Cphi = np.empty((J, D), psi.dtype)
    ex = np.empty(J)
    dY = np.empty(J)
    hq = np.empty(J)
    for s in range(dW.shape[0]):
        # 1. drift: v = T4(h A) psi by Horner, v <- psi + (h/k) A v for k = 4, 3, 2, 1
        v[:] = psi
        for k in range(4, 0, -1):
            _mv1(diag, AP, AI, AV, vh, H, tmp)
            f = h / k
            for i in range(D):
                v[i] = psi[i] + f * tmp[i]
        # 2. record increments from phi = v
        for j in range(J):
            _mv1(diag, CP[j], CI[j], CV[j], vh, H, Cphi[j])
        # (conj(x) y).real is x y for real x, y and xr yr + xi yi (bitwise) for complex ones
        # (one pass for two channels: three independent sums instead of three serial passes)
        n2 = 0.0
        if J == 2:
            e0 = 0.0
            e1 = 0.0
            for i in range(D):
                x = v[i].conjugate()
                n2 += (x * v[i]).real
                e0 += (x * Cphi[0, i]).real
                e1 += (x * Cphi[1, i]).real
            ex[0] = e0
            ex[1] = e1
        else:
            for i in range(D):
                n2 += (v[i].conjugate() * v[i]).real
            for j in range(J):
                e = 0.0
                for i in range(D):
                    e += (v[i].conjugate() * Cphi[j, i]).real  # Re(conj(x) y)
                ex[j] = e
        for j in range(J):
            dY[j] = 2.0 * ex[j] / n2 * h + dW[s, j]
            Y[j] += dY[j]
        # 3. kick: psi = phi + sum_j c_j w_j, w_j = phi dY_j + 1/2 sum_k c_k phi (dY_j dY_k - delta_jk h)
        psi[:] = v
        for j in range(J):
            if milstein:
                for k in range(J):
                    q = dY[j] * dY[k]
                    if k == j:
                        q -= h
                    hq[k] = 0.5 * q
                if J == 2:  # the same sum, unrolled: the loop over i vectorises
                    c0, c1, g0, g1 = Cphi[0], Cphi[1], hq[0], hq[1]
                    for i in range(D):
                        w[i] = (v[i] * dY[j] + g0 * c0[i]) + g1 * c1[i]
                else:
                    for i in range(D):
                        x = v[i] * dY[j]
                        for k in range(J):
                            x += hq[k] * Cphi[k, i]
                        w[i] = x
            else:
                for i in range(D):
                    w[i] = v[i] * dY[j]
            _mv1(diag, CP[j], CI[j], CV[j], wh, H, tmp)
            for i in range(D):
                psi[i] += tmp[i]
        # normalise
        n2 = 0.0
        for i in range(D):
            n2 += (psi[i].conjugate() * psi[i]).real
        r = 1.0 / math.sqrt(n2)
        for i in range(D):
            psi[i] *= r


def _sorted_csr(m) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=complex)
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _stack(cs):
    """Concatenate CSR matrices: row pointers (J, D+1) as absolute offsets, indices, data."""
    ptr = np.empty((len(cs), cs[0].shape[0] + 1), np.int64)
    off = 0
    for j, c in enumerate(cs):
        ptr[j] = c.indptr + off
        off += c.nnz
    idx = np.concatenate([c.indices for c in cs]).astype(np.int64)
    dat = np.concatenate([c.data for c in cs]).astype(complex)
    return ptr, idx, dat


def _norm_inf(m: sp.csr_matrix) -> float:
    return float(np.max(np.abs(m).sum(axis=1))) if m.nnz else 0.0


def _norm_1(m: sp.csr_matrix) -> float:
    return float(np.max(np.abs(m).sum(axis=0))) if m.nnz else 0.0


#: Diagonal storage is used when it holds at most this many slots per stored CSR entry (a
#: diagonal sweep has no index loads and vectorises, so some zero padding still pays).
_DIAG_FILL = 4


def _diagonals(m: sp.csr_matrix, dtype, nd: int):
    """(offsets ascending, values (nd, D)) of ``m``, padded to ``nd`` diagonals with zero
    diagonals at the largest offset (terms 0 * x added last: only a zero's sign can change)."""
    c = m.tocoo()
    offs = np.unique(c.col - c.row).astype(np.int64)
    V = np.zeros((nd, m.shape[0]), dtype)
    V[np.searchsorted(offs, c.col - c.row), c.row] = c.data if dtype == complex else c.data.real
    last = offs[-1] if offs.size else 0
    return np.concatenate([offs, np.full(nd - offs.size, last, np.int64)]), V


def _kernel_ops(ops):
    """``_steps1``'s operands (diag, H, AP, AI, AV, CP, CI, CV) from ``_segment_ops``' CSR:
    real arrays when A and every c_j are real, diagonal storage when it is compact
    (``_DIAG_FILL``), CSR otherwise; ``real`` is returned first."""
    Ap, Ai, Ad, Cp, Ci, Cd = ops
    D = Ap.size - 1
    A = sp.csr_matrix((Ad, Ai, Ap), shape=(D, D))
    cs = [sp.csr_matrix((Cd[p[0]:p[-1]], Ci[p[0]:p[-1]], p - p[0]), shape=(D, D)) for p in Cp]
    real = bool(np.all(Ad.imag == 0) and np.all(Cd.imag == 0))
    dtype = float if real else complex
    nds = [np.unique(m.tocoo().col - m.tocoo().row).size for m in [A] + cs]
    diag = sum(nds) * D <= _DIAG_FILL * max(1, Ad.size + Cd.size)
    if diag:
        AP, AV = _diagonals(A, dtype, max(1, nds[0]))
        ndc = max([1] + nds[1:])
        cd = [_diagonals(c, dtype, ndc) for c in cs]
        CP = np.stack([o for o, _ in cd])
        CV = np.stack([v for _, v in cd])
        H = int(max(np.abs(AP).max(), np.abs(CP).max()))
        AI, CI = np.zeros(1, np.int64), np.zeros((len(cs), 1), np.int64)
    else:
        nnz = max(1, max(c.nnz for c in cs))
        AP, AI = A.indptr.astype(np.int64), A.indices.astype(np.int64)
        AV = (A.data if not real else A.data.real).astype(dtype)[None, :]
        CP = np.stack([c.indptr for c in cs]).astype(np.int64)
        CI = np.zeros((len(cs), nnz), np.int64)
        CV = np.zeros((len(cs), 1, nnz), dtype)
        for j, c in enumerate(cs):
            CI[j, :c.nnz] = c.indices
            CV[j, 0, :c.nnz] = c.data if not real else c.data.real
        H = 0
    return real, (diag, H, AP, AI, np.ascontiguousarray(AV), CP, CI, np.ascontiguousarray(CV))


def _check_bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return bool(v)


class Homodyne:
    """Homodyne (or heterodyne) unraveling, integrated by T4-drift + Milstein (see the module
    docstring for the equation, the scheme, its order and its stability bounds).

    Parameters
    ----------
    theta : float
        Quadrature phase of the signal channel's homodyne (other channels: phase 0).
    dt : float
        Largest step; every output time and segment end is a step end (steps <= dt).
    heterodyne : bool
        Measure two quadratures (theta_j, theta_j + pi/2) of every channel, each with L_j/sqrt(2).
    scheme : {"milstein", "euler"}
        Strong order 1 (commuting channels) or 1/2.
    batch : int
        Trajectories whose generators and initial states are set up together (integration is
        per trajectory); results do not depend on it.
    records : bool
        Keep per-trajectory records in ``GroupSums.records``: dicts with ``t`` (output times),
        ``Y`` (nt, n_measured) cumulative records Y_j(t) (0 at t[0]), ``x_theta`` (nt,) the
        conditional <x_theta> of the signal, x_theta = (a_s e^{-i theta} + a_s^dag e^{i theta})/2,
        and ``W``, ``W_c``, ``W_i`` (nt,) the ergotropy and its parts of the conditional signal
        state Tr_o |psi><psi| (the work a single shot holds, given its record).
    """

    name = "homodyne"

    def __init__(self, theta=0.0, *, dt=1e-3, heterodyne=False, scheme="milstein", batch=32, records=False):
        try:
            theta_f = float(theta)
        except (TypeError, ValueError):
            raise ValueError(f"theta must be a real number, got {theta!r}") from None
        if isinstance(theta, (bool, np.bool_)) or not math.isfinite(theta_f):
            raise ValueError(f"theta must be a finite real number, got {theta!r}")
        try:
            dt_f = float(dt)
        except (TypeError, ValueError):
            raise ValueError(f"dt must be a real number, got {dt!r}") from None
        if isinstance(dt, (bool, np.bool_)) or not (math.isfinite(dt_f) and dt_f > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
        if not isinstance(scheme, str) or scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if isinstance(batch, (bool, np.bool_)) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        self.theta = theta_f
        self.dt = dt_f
        self.heterodyne = _check_bool("heterodyne", heterodyne)
        self.scheme = scheme
        self.batch = int(batch)
        self.records = _check_bool("records", records)

    @property
    def options(self) -> dict:
        return {"method": "heterodyne" if self.heterodyne else "homodyne", "theta": self.theta,
                "dt": self.dt, "scheme": self.scheme, "heterodyne": self.heterodyne,
                "batch": self.batch, "records": self.records,
                "drift": "Taylor-4 (RK4) of exp(h A), Lie-split from the noise kick",
                "phases": "signal channel theta, every other channel 0"}

    def __repr__(self) -> str:
        return (f"Homodyne(theta={self.theta!r}, dt={self.dt!r}, heterodyne={self.heterodyne}, "
                f"scheme={self.scheme!r}, batch={self.batch}, records={self.records})")

    # --- operators ---
    def measured(self, problem: Problem) -> list:
        """Names of the measured channels (columns of the record ``Y``)."""
        names = []
        for j, ch in enumerate(problem.channels):
            th = self.theta if j == problem.signal_channel else 0.0
            if self.heterodyne:
                names += [f"{ch} @ {th:g}", f"{ch} @ {th:g}+pi/2"]
            else:
                names.append(f"{ch} @ {th:g}")
        return names

    def _c_ops(self, problem: Problem, Ls) -> list:
        cs = []
        for j, L in enumerate(Ls):
            th = self.theta if j == problem.signal_channel else 0.0
            if self.heterodyne:
                cs += [_sorted_csr(np.exp(-1j * th) / math.sqrt(2) * L),
                       _sorted_csr(np.exp(-1j * (th + 0.5 * math.pi)) / math.sqrt(2) * L)]
            else:
                cs.append(_sorted_csr(np.exp(-1j * th) * L))
        return cs

    def _segment_ops(self, problem: Problem, H, Ls, h_max: float):
        """(A CSR, stacked c_j) of one segment; refuse a step beyond the stability bounds."""
        A = -1j * _sorted_csr(H)
        for L in Ls:
            L = _sorted_csr(L)
            A = A - 0.5 * (L.conj().T @ L)
        A = _sorted_csr(A)
        cs = self._c_ops(problem, Ls)
        nA = _norm_inf(A)
        if h_max * nA > STABILITY_BOUND:
            raise ValueError(
                f"dt = {self.dt:g} is too large for this problem: the step {h_max:.3g} times "
                f"||A||_inf = {nA:.4g} (A = -iH - sum L^dag L / 2) exceeds the stability bound "
                f"{STABILITY_BOUND} of the explicit drift; use dt <= {STABILITY_BOUND / nA:.3g}")
        nc = sum(_norm_1(c) * _norm_inf(c) for c in cs)
        if h_max * nc > NOISE_BOUND:
            raise ValueError(
                f"dt = {self.dt:g} is too large for this problem: the step {h_max:.3g} times "
                f"sum_j ||c_j||_1 ||c_j||_inf = {nc:.4g} exceeds the noise bound {NOISE_BOUND} of "
                f"the Milstein kick; use dt <= {NOISE_BOUND / nc:.3g}")
        ptr, idx, dat = _stack(cs)
        return (A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data.astype(complex), ptr, idx, dat)

    def _x_theta(self, problem: Problem) -> sp.csr_matrix:
        Ns, No = problem.dims
        a = sp.kron(sp.diags(np.sqrt(np.arange(1, Ns)), 1, shape=(Ns, Ns)), sp.identity(No), format="csr")
        e = np.exp(-1j * self.theta)
        return _sorted_csr(0.5 * (e * a + np.conj(e) * a.conj().T))

    # --- integration ---
    def _plan(self, problem: Problem):
        """Per segment: (start, stop, H, Ls, [(interval end, n steps, output index or -1)])."""
        t = np.asarray(problem.t, dtype=float)
        segs = problem.segments
        if not segs or segs[0][0] != t[0] or segs[-1][1] != t[-1] or any(
                s[1] != u[0] for s, u in zip(segs[:-1], segs[1:])):
            raise ValueError("problem.segments must tile [t[0], t[-1]] without gaps")
        plan = []
        for a, b, H, Ls in segs:
            ends = sorted(set(float(x) for x in t[(t > a) & (t <= b)]) | {float(b)})
            steps, prev = [], float(a)
            for e in ends:
                n = max(1, math.ceil((e - prev) / self.dt - 1e-9))
                hit = np.flatnonzero(t == e)
                steps.append((e, prev, n, int(hit[0]) if hit.size else -1))
                prev = e
            plan.append((H, Ls, steps))
        return plan

    def run_group(self, problem: Problem, ids, seed: int) -> GroupSums:
        """Integrate trajectories ``ids`` of ``problem``; return their sums (trajectory order)."""
        ids = check_group_args(problem, ids, seed)
        sums = GroupSums.zeros(problem)
        if ids.size == 0:
            return sums
        X = self._x_theta(problem) if self.records else None
        for block, out, Yrec in self._batches(problem, sums, ids, seed):
            if self.records:
                from ..ergotropy import ergotropy_parts

                Ns, No = problem.dims
                for b in range(len(block)):
                    st = out[b]  # (nt, D)
                    x = np.sum(st.T.conj() * (X @ st.T), axis=0).real
                    m = st.reshape(-1, Ns, No)
                    e = ergotropy_parts(np.einsum("tik,tjk->tij", m, m.conj()), problem.ladder_s)
                    sums.records.append({"t": np.array(problem.t, dtype=float), "Y": Yrec[b].copy(),
                                         "x_theta": x, "W": e.W, "W_c": e.W_c, "W_i": e.W_i})
        return sums

    def _batches(self, problem: Problem, sums: GroupSums, ids, seed: int):
        """Integrate trajectories ``ids`` batch by batch (``self.batch``), adding their states and
        step counts to ``sums``; yield (block of ids, (B, nt, D) states, (B, nt, J) records) per
        batch.  Trajectory k starts from ``initial_state`` and draws from ``rng(seed, k)``."""
        plan = self._plan(problem)
        ops = [self._segment_ops(problem, H, Ls, max((e - s) / n for e, s, n, _ in steps))
               for H, Ls, steps in plan]
        kops = [_kernel_ops(o) for o in ops]
        nsteps = sum(n for _, _, steps in plan for _, _, n, _ in steps)
        for start in range(0, ids.size, self.batch):
            block = ids[start:start + self.batch]
            gens = [rng(int(seed), int(k)) for k in block]
            psi0 = np.stack([initial_state(problem, g) for g in gens], axis=1)
            out, Yrec = self._integrate(plan, kops, psi0, gens, len(problem.t))
            sums.add_states(out)
            sums.steps += nsteps * len(block)
            yield block, out, Yrec

    def _integrate(self, plan, kops, psi0, gens, nt):
        """Integrate the trajectories psi0 (D, B) along ``plan``, one after the other
        (``_steps1``; ``kops`` from ``_kernel_ops`` per segment); (B, nt, D) states, (B, nt, J)
        records.  Trajectory b draws its increments from ``gens[b]`` alone."""
        D, B = psi0.shape
        J = kops[0][1][5].shape[0]
        out = np.empty((B, nt, D), complex)
        Yrec = np.zeros((B, nt, J))
        milstein = self.scheme == "milstein"
        for b, g in enumerate(gens):
            # real arithmetic while the operators and this trajectory's start are real
            real = all(r for r, _ in kops) and not np.any(np.imag(psi0[:, b]))
            psi = np.ascontiguousarray(psi0[:, b].real if real else psi0[:, b], dtype=float if real else complex)
            out[b, 0] = psi
            Y = np.zeros(J)
            for (H, Ls, steps), (_, kop) in zip(plan, kops):
                if not real:
                    kop = kop[:4] + (kop[4].astype(complex, copy=False),) + kop[5:7] + (kop[7].astype(complex, copy=False),)
                for e, s, n, iout in steps:
                    h = (e - s) / n
                    sq = math.sqrt(h)
                    done = 0
                    while done < n:
                        m = min(_CHUNK, n - done)
                        dW = g.standard_normal((m, J))
                        dW *= sq
                        _steps1(*kop, psi, dW, h, milstein, Y)
                        done += m
                    if iout >= 0:
                        out[b, iout] = psi
                        Yrec[b, iout] = Y
        return out, Yrec

    def final_states(self, problem: Problem, dW: np.ndarray, psi0=None) -> np.ndarray:
        """Test entry point for given noise: integrate a one-segment ``problem`` from t[0] to
        t[-1] in ``dW.shape[1]`` equal steps driven by the Wiener increments ``dW`` (B, steps,
        n_measured); start from ``psi0`` (B, D) (default problem.psi0[0]).  Returns the
        normalised states (B, D) at t[-1].  No stability check and no output times."""
        if len(problem.segments) != 1:
            raise ValueError("problem must have a single segment")
        dW = np.asarray(dW, dtype=float)
        B, n, J = dW.shape
        a, b, H, Ls = problem.segments[0]
        ops = self._segment_ops(problem, H, Ls, 0.0)
        if ops[3].shape[0] != J:
            raise ValueError(f"dW must have {ops[3].shape[0]} measured channels, got {J}")
        psi = np.repeat(problem.psi0[0][:, None], B, axis=1) if psi0 is None else np.asarray(psi0, complex).T
        psi = psi / np.linalg.norm(psi, axis=0)
        real, kop = _kernel_ops(ops)
        real = real and not np.any(psi.imag)
        if not real:
            kop = kop[:4] + (kop[4].astype(complex, copy=False),) + kop[5:7] + (kop[7].astype(complex, copy=False),)
        out = np.empty((B, psi.shape[0]), complex)
        for c in range(B):
            x = np.ascontiguousarray(psi[:, c].real if real else psi[:, c])
            _steps1(*kop, x, np.ascontiguousarray(dW[c]), (b - a) / n, self.scheme == "milstein", np.zeros(J))
            out[c] = x
        return out
