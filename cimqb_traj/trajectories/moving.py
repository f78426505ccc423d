r"""Homodyne trajectories in a moving (displaced Fock) basis: each trajectory's signal and pump are
held as psi = sum c_{n m} D_s(beta_s) D_p(beta_p) |n, m>, the displacements following the
trajectory's conditional means, so a state near a displaced (squeezed) Gaussian needs only tens
of levels per mode however many photons it holds.

The model in the displaced frame
--------------------------------
Charging model (``params.BatteryParams``), a = signal, b = pump annihilation operators:

    H = Delta a^dag a + i kappa/2 (a^dag2 b - a^2 b^dag) + i sqrt(gamma_p) F (b^dag - b) + i eps (a^dag - a),
    L = sqrt(gamma_s (n_s+1)) a, sqrt(gamma_s n_s) a^dag, sqrt(gamma_p (n_p+1)) b, sqrt(gamma_p n_p) b^dag.

With beta_s, beta_p held constant, substitute a = beta_s + A, b = beta_p + B (A, B annihilate
the displaced levels: D^dag a D = beta + a).  Then

    H = Delta (A^dag A + beta_s^* A + beta_s A^dag)
        + i kappa/2 [A^dag2 B + beta_p A^dag2 + 2 beta_s^* A^dag B + 2 beta_s^* beta_p A^dag + beta_s^*2 B - h.c.]
        + i sqrt(gamma_p) F (B^dag - B) + i eps (A^dag - A) + h_0,

the displacement adding drives (the mean-field forces at beta: i(2 kappa beta_s^* beta_p/2 + eps
- i Delta beta_s) A^dag + i(kappa beta_s^2 / 2 ... ) terms), a parametric term i kappa/2 beta_p
A^dag2 - h.c. (squeezing by the pump's mean field) and a beam-splitter-like coupling kappa beta_s^*
A^dag B - h.c.; h_0 = H(beta_s, beta_p) is the c-number mean-field energy.  Every collapse operator
becomes L_j = L0_j + l_j with L0_j the same operator on A, B and the c-number l_j (e.g.
sqrt(gamma_s) beta_s).  The code forms these by substituting the matrices A + beta_s 1, B +
beta_p 1 into the formulas above (all normal ordered, so products of truncated matrices are the
truncation of the products: the same truncation rule as the fixed basis, and no hand-expanded
coefficients to get wrong).

Unraveling.  As in ``homodyne`` (read its docstring): c_k = e^{-i theta_k} L_k (split /sqrt2 for
heterodyne), record dY_k = 2 Re<c_k> dt + dW_k, linear SSE d psi~ = A psi~ dt + sum_k c_k psi~ dY_k,
A = -iH - 1/2 sum_j L_j^dag L_j.  Write c_k = c0_k + l_k (l_k its c-number).  The scalar parts
factor out exactly: psi~ = f phi with df = f sum_k l_k dY_k (a scalar) and

    d phi = A' phi dt + sum_k c0_k phi dY_k,   A' = A - sum_k l_k c0_k - s 1,

(Ito: d(f phi) = f d phi + phi df + df d phi, dY_j dY_k = delta_jk dt), s = -i h_0 - 1/2 sum_j |l_j|^2
any c-number (it only scales phi; this s removes the large identity part from the stability
bound).  Normalisation removes f: psi = phi / ||phi||.  The record splits as dY_k = 2 Re(l_k) dt + dY0_k,
dY0_k = 2 Re<c0_k> dt + dW_k: the large deterministic current of the mean field goes into the
drift, so the noise kick only sees the small fluctuation (in the kick it would give Milstein
terms (2 Re(l_k) h)^2 ~ 0.03 per step at 400 photons and dt = 1e-3):

    d phi = A'' phi dt + sum_k c0_k phi dY0_k,
    A'' = A' + sum_k 2 Re(l_k) c0_k = A0 + sum_j (l_j^* L0_j - l_j L0_j^dag) / 2 - s' 1,

A0 = -i H(A, B) - 1/2 sum_j L0_j^dag L0_j (sum_k |u_k|^2 = 1 over the measured parts c0_k = u_k L0_j
of channel j): the displacement turns each channel's c-number into the coherent drive
(l^* L0 - l L0^dag)/2 of D[L0 + l] = D[L0] + [(l^* L0 - l L0^dag)/2, .], whatever the phases.
So ``homodyne``'s step (T4 drift, Milstein kick, its stability bounds on ||A''|| and the c0_k) is
reused as it is, on the fluctuation record dY0; the record reported is dY0 + 2 Re(l_k) h.

Moving the basis (piecewise constant beta: no time-derivative terms arise)
-------------------------------------------------------------------------
After every step the kernel computes <A>, <B> and the populations of the top levels of each mode;
it stops, and the basis changes, when

* |<A>| > ``shift`` or |<B>| > ``shift`` (default 0.5): re-shift beta_j -> beta_j + <A_j> (both
  modes), c' = e^{i Im(beta_new^* beta_old)} D(beta_old - beta_new) c (``displacement.reshift2``),
  computed into a basis padded by n_grow + 2 + ceil(2 |delta| sqrt(n)) levels; the weight the
  padded basis cannot hold (~1e-16) is added to the trajectory's discarded weight;
* a mode's top 2 levels hold more than ``grow_tol`` (default 1e-8): that mode gains ``n_grow``
  (default 4) empty levels;
* a mode's top 4 levels hold less than ``shrink_tol`` (default 1e-12) and it has more than
  ``n_min`` (default 6) levels: levels are dropped one at a time while the top 4 hold less than
  shrink_tol; the dropped weight is added to the discarded weight.

A trajectory starts in the lab state padded to at least n_min levels per mode and trimmed by the
shrink rule (the vacuum: n_min x n_min).  The hysteresis (grow at 1e-8 on 2 levels, shrink at
1e-12 on 4) keeps a basis from oscillating.  A
mode that needs more than ``n_max`` levels (the state is far from a displaced Gaussian, e.g. a
cat below threshold with a heterodyne-free pump) is refused (``errors.Refused``), pointing to the
fixed basis.  The reported ``discarded`` weight (max over trajectories of the sum of all dropped
weights) bounds what the basis changes removed; the truncation inside a step is bounded by the
top-level populations, held below grow_tol.

Output: the lab-frame state
---------------------------
At every output time the trajectory's reduced states are mapped into the lab Fock basis of the
problem's dims (Ns_out, Np_out) = (params.Ns, params.Np): with P the (n_s, n_p) amplitude matrix,
K_s = <m|D(beta_s)|n>_{m < Ns_out, n < n_s} P, rho_s += K_s K_s^dag (Tr_p is basis independent),
likewise the pump, summed trajectory by trajectory in trajectory order (memory O(nt Ns_out^2),
independent of ntraj; bitwise independent of batching).  The lab-frame weight that Ns_out misses,
1 - ||K_s||^2, and the photon number it misses, <n_s> - Tr(n rho_s) with the untruncated
<n_s> = |beta_s|^2 + 2 Re(beta_s^* <A>) + <A^dag A> of the trajectory, are accumulated too: the
result's truncation verdict (``verdict``) is built from them, from the discarded weight and from
the top-level populations.  The untruncated moments of the trajectory, <n_s> above, <n_p> likewise
and <a_s^2> = beta_s^2 + 2 beta_s <A> + <A^2> (a = beta_s + A; exact in the moving basis, no lab
cut), are summed per group: the result's ``options`` carry their means and jackknife errors
(``reduce``), the records (``records=True``) each trajectory's <n_s> and <a_s^2>.  The runner (``ensemble``) then reports W, W_c, W_i with jackknife
errors and bias correction from rho_s exactly as for the fixed basis.  Choose Ns_out >= max <n_s>
+ 6 sqrt(max <n_s>) + the basis size; ``output_dims`` estimates it from the mean field.

Random numbers: trajectory k draws only from ``rng(seed, k)``: the initial-state draw (K > 1), then
per output interval in chunks of at most 4096 steps ``standard_normal((steps, n_measured))``, as in
``homodyne``; basis changes draw nothing.  Trajectories are integrated one at a time (their
operators differ), so results are bitwise independent of ``batch``, ``n_jobs`` and backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba
import numpy as np
import scipy.sparse as sp

from ..checks import check_int
from ..errors import Refused
from ..problem import GroupSums, Problem, check_group_args, rng
from .base import initial_state
from .displacement import displace_block, reshift2
from .homodyne import Homodyne

__all__ = ["Moving", "MovingSums", "verdict", "output_dims", "displaced_problem"]

_CHUNK = 4096


@dataclass
class MovingSums(GroupSums):
    """``GroupSums`` plus the moving basis' bookkeeping (sums over the group's trajectories, or
    maxima): ``n_s_full`` / ``n_p_full`` (nt,) sums of the untruncated <n> per output time,
    ``a2_s_full`` (nt,) complex sums of the untruncated <a_s^2>,
    ``lab_tail_s`` / ``lab_tail_p`` max lab-frame weight beyond (Ns_out, Np_out), ``top_s`` /
    ``top_p`` max population of the top 2 moving levels at the output times, ``discarded`` max per
    trajectory of the weight dropped by basis changes, ``basis_max`` (largest n_s, n_p),
    ``reshifts`` total re-shifts, ``resizes`` total size changes."""

    n_s_full: np.ndarray = None
    n_p_full: np.ndarray = None
    a2_s_full: np.ndarray = None
    lab_tail_s: float = 0.0
    lab_tail_p: float = 0.0
    top_s: float = 0.0
    top_p: float = 0.0
    discarded: float = 0.0
    basis_max: tuple = (0, 0)
    reshifts: int = 0
    resizes: int = 0

    @classmethod
    def zeros(cls, problem: Problem) -> "MovingSums":
        g = GroupSums.zeros(problem)
        nt = len(problem.t)
        return cls(0, g.rho_s, g.rho_o, g.counts, n_s_full=np.zeros(nt), n_p_full=np.zeros(nt),
                   a2_s_full=np.zeros(nt, complex))


@numba.njit(cache=True, nogil=True)
def _moments(psi, ns, npm):
    """(<A>, <B>, top-2 and top-4 populations of each mode) of psi (ns * npm, 1), index i*npm + j."""
    ea = 0j
    eb = 0j
    t2s = 0.0
    t4s = 0.0
    t2p = 0.0
    t4p = 0.0
    for i in range(ns):
        for j in range(npm):
            x = psi[i * npm + j, 0]
            p = x.real * x.real + x.imag * x.imag
            if i >= 1:
                ea += math.sqrt(i) * np.conj(psi[(i - 1) * npm + j, 0]) * x
            if j >= 1:
                eb += math.sqrt(j) * np.conj(psi[i * npm + j - 1, 0]) * x
            if i >= ns - 2:
                t2s += p
            if i >= ns - 4:
                t4s += p
            if j >= npm - 2:
                t2p += p
            if j >= npm - 4:
                t4p += p
    return ea, eb, t2s, t4s, t2p, t4p


@numba.njit(cache=True, nogil=True)
def _spmv(indptr, indices, data, x, out):
    """out = M @ x for one CSR matrix (rows ``indptr``, absolute offsets) and a vector x."""
    for i in range(x.shape[0]):
        acc = 0j
        for jj in range(indptr[i], indptr[i + 1]):
            acc += data[jj] * x[indices[jj]]
        out[i] = acc


@numba.njit(cache=True, nogil=True)
def _advance(Ap, Ai, Ad, Cp, Ci, Cd, psi2, dW, shift_dw, h, milstein, Y, ns, npm, start,
             shift, grow_tol, shrink_tol, n_min):
    """Steps start.. of dW (steps, J) until one ends with a basis change due (module docstring);
    returns the number of steps done (index of the next) and whether a change is due.

    One step is ``homodyne._steps`` for a single column, written for a vector (the same
    operations in the same order: bitwise the same numbers) with its work arrays allocated once
    per call instead of once per step: a trajectory here is one column, and the per-step calls,
    allocations and column loops of the block kernel cost ~40 % of its time at 33 x 10 levels."""
    psi = psi2[:, 0]
    D = psi.shape[0]
    J = Cp.shape[0]
    v = np.empty(D, psi.dtype)
    tmp = np.empty(D, psi.dtype)
    w = np.empty(D, psi.dtype)
    Cphi = np.empty((J, D), psi.dtype)
    ex = np.empty(J)
    dY = np.empty(J)
    for s in range(start, dW.shape[0]):
        # 1. drift: v = T4(h A) psi by Horner
        for i in range(D):
            v[i] = psi[i]
        for k in range(4, 0, -1):
            _spmv(Ap, Ai, Ad, v, tmp)
            f = h / k
            for i in range(D):
                v[i] = psi[i] + f * tmp[i]
        # 2. record increments from phi = v
        for j in range(J):
            _spmv(Cp[j], Ci, Cd, v, Cphi[j])
        n2 = 0.0
        for j in range(J):
            ex[j] = 0.0
        for i in range(D):
            x = v[i]
            n2 += x.real * x.real + x.imag * x.imag
            for j in range(J):
                y = Cphi[j, i]
                ex[j] += x.real * y.real + x.imag * y.imag
        for j in range(J):
            dY[j] = 2.0 * ex[j] / n2 * h + (dW[s, j] + shift_dw[j])
            Y[j, 0] += dY[j]
        # 3. Milstein kick
        for i in range(D):
            psi[i] = v[i]
        for j in range(J):
            for i in range(D):
                w[i] = v[i] * dY[j]
            if milstein:
                for k in range(J):
                    q = dY[j] * dY[k]
                    if k == j:
                        q -= h
                    for i in range(D):
                        w[i] += 0.5 * q * Cphi[k, i]
            _spmv(Cp[j], Ci, Cd, w, tmp)
            for i in range(D):
                psi[i] += tmp[i]
        n2 = 0.0
        for i in range(D):
            x = psi[i]
            n2 += x.real * x.real + x.imag * x.imag
        n2 = 1.0 / math.sqrt(n2)
        for i in range(D):
            psi[i] *= n2
        ea, eb, t2s, t4s, t2p, t4p = _moments(psi2, ns, npm)
        if (abs(ea) > shift or abs(eb) > shift or t2s > grow_tol or t2p > grow_tol
                or (ns > n_min and t4s < shrink_tol) or (npm > n_min and t4p < shrink_tol)):
            return s + 1, True
    return dW.shape[0], False


def _ladder(n):
    return sp.diags(np.sqrt(np.arange(1, n, dtype=float)), 1, shape=(n, n), format="csr", dtype=complex)


def _check_real(name, v, low, strict=True):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {v!r}") from None
    if isinstance(v, (bool, np.bool_)) or not math.isfinite(f) or f < low or (strict and f == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, got {v!r}")
    return f


class Moving:
    """Homodyne (or heterodyne) trajectories in a displaced Fock basis per trajectory (module
    docstring).  ``theta, dt, heterodyne, scheme, records`` as ``Homodyne``; ``batch`` only groups
    work (trajectories run one at a time); basis rule: ``shift``, ``grow_tol``, ``shrink_tol``,
    ``n_min``, ``n_grow``, ``n_max``.  The problem's dims are the lab-frame output sizes
    (Ns_out, Np_out); its segments' F comes from ``problem.info['params']``.

    ``records``: per trajectory ``t``, ``Y`` (nt, n_measured), ``x_theta`` (nt,) the conditional
    <x_theta> = Re(e^{-i theta} <a_s>) (lab frame, untruncated), ``n_s`` (nt,) and ``a_s2`` (nt,)
    its untruncated <a_s^dag a_s> and <a_s^2>, ``beta`` (nt, 2) and ``dims`` (nt, 2) of the moving
    basis.
    """

    name = "homodyne"

    def __init__(self, theta=0.0, *, dt=1e-3, heterodyne=False, scheme="milstein", batch=1, records=False,
                 shift=0.5, grow_tol=1e-8, shrink_tol=1e-12, n_min=6, n_grow=4, n_max=200):
        self._hd = Homodyne(theta, dt=dt, heterodyne=heterodyne, scheme=scheme, batch=batch, records=records)
        self.shift = _check_real("shift", shift, 0.0)
        self.grow_tol = _check_real("grow_tol", grow_tol, 0.0)
        self.shrink_tol = _check_real("shrink_tol", shrink_tol, 0.0)
        if self.shrink_tol >= self.grow_tol:
            raise ValueError(f"shrink_tol must be below grow_tol ({self.grow_tol:g}), got {shrink_tol!r}")
        self.n_min = check_int("n_min", n_min, 5)
        self.n_grow = check_int("n_grow", n_grow, 1)
        self.n_max = check_int("n_max", n_max, self.n_min)
        self._cache = {}

    theta = property(lambda self: self._hd.theta)
    dt = property(lambda self: self._hd.dt)
    batch = property(lambda self: self._hd.batch)
    records = property(lambda self: self._hd.records)

    @property
    def options(self) -> dict:
        return {**self._hd.options, "basis": "displaced", "shift": self.shift, "grow_tol": self.grow_tol,
                "shrink_tol": self.shrink_tol, "n_min": self.n_min, "n_grow": self.n_grow, "n_max": self.n_max}

    def __repr__(self) -> str:
        return (f"Moving(theta={self.theta!r}, dt={self.dt!r}, shift={self.shift!r}, grow_tol={self.grow_tol!r}, "
                f"shrink_tol={self.shrink_tol!r}, n_min={self.n_min}, n_grow={self.n_grow}, n_max={self.n_max})")

    # --- operators in the displaced frame ---
    def _ops_reference(self, problem, p, F, bs, bp, ns, npm):
        """A' and c0_k by substituting A + beta_s 1, B + beta_p 1 into H and L with scipy (slow;
        the reference the fast ``_ops`` is tested against).  Returns (A' CSR, [c0_k CSR], shifts)."""
        Is, Ip = sp.identity(ns, complex, "csr"), sp.identity(npm, complex, "csr")
        a0, b0 = _ladder(ns), _ladder(npm)
        A = sp.kron(a0 + bs * Is, Ip, "csr")
        B = sp.kron(Is, b0 + bp * Ip, "csr")
        Ad, Bd = A.conj().T.tocsr(), B.conj().T.tocsr()
        H = p.delta * (Ad @ A) + 0.5j * p.kappa * (Ad @ Ad @ B - A @ A @ Bd) + 1j * math.sqrt(p.gamma_p) * F * (Bd - B)
        if p.eps:
            H = H + 1j * p.eps * (Ad - A)
        h0 = (p.delta * abs(bs) ** 2 + 0.5j * p.kappa * (np.conj(bs) ** 2 * bp - bs**2 * np.conj(bp))
              + 1j * math.sqrt(p.gamma_p) * F * (np.conj(bp) - bp) + 1j * p.eps * (np.conj(bs) - bs))
        L, ell = [], []
        for X, beta, gamma, nth in ((A, bs, p.gamma_s, p.nth_s), (B, bp, p.gamma_p, p.nth_p)):
            if gamma * (nth + 1) > 0:
                L.append(math.sqrt(gamma * (nth + 1)) * X)
                ell.append(math.sqrt(gamma * (nth + 1)) * beta)
            if gamma * nth > 0:
                L.append(math.sqrt(gamma * nth) * X.conj().T.tocsr())
                ell.append(math.sqrt(gamma * nth) * np.conj(beta))
        I = sp.identity(ns * npm, complex, "csr")
        L0 = [Lj - lj * I for Lj, lj in zip(L, ell)]
        c0 = self._hd._c_ops(problem, L0)
        lc = [complex(c.toarray()[0, 0]) if c.nnz else 0j
              for c in self._hd._c_ops(problem, [sp.csr_matrix(np.array([[lj]], complex)) for lj in ell])]
        Ap = -1j * H - (-1j * h0 - 0.5 * sum(abs(lj) ** 2 for lj in ell)) * I
        for Lj in L:
            Ap = Ap - 0.5 * (Lj.conj().T @ Lj)
        for lk, ck in zip(lc, c0):
            Ap = Ap - lk * ck + 2 * lk.real * ck  # A'' (module docstring)
        return sp.csr_matrix(Ap), c0, np.array([2 * lk.real for lk in lc])

    def _layout(self, problem, p, ns, npm):
        """Per basis size (cached): the monomials of A' on one sparsity pattern, the c0_k, their
        noise bound.  A' = M_0 + sum_k coef_k(beta) M_k, M_k in (A, A^dag, B, B^dag, A^dag2, A^2,
        A^dag B, A B^dag) (module docstring; the coefficients are in ``_ops``)."""
        key = (p, ns, npm)  # the method's theta / heterodyne are fixed; the monomials depend on p
        if key in self._cache:
            return self._cache[key]
        from .homodyne import _norm_1, _norm_inf, _sorted_csr, _stack

        Is, Ip = sp.identity(ns, complex, "csr"), sp.identity(npm, complex, "csr")
        A = sp.kron(_ladder(ns), Ip, "csr")
        B = sp.kron(Is, _ladder(npm), "csr")
        Ad, Bd = A.conj().T.tocsr(), B.conj().T.tocsr()
        H0 = p.delta * (Ad @ A) + 0.5j * p.kappa * (Ad @ Ad @ B - A @ A @ Bd)
        drive = 1j * (Bd - B)  # times sqrt(gamma_p) F, per segment
        if p.eps:
            H0 = H0 + 1j * p.eps * (Ad - A)
        chans = []  # (c_j, which of A, A^dag, B, B^dag)
        for base, gamma, nth in ((0, p.gamma_s, p.nth_s), (2, p.gamma_p, p.nth_p)):
            if gamma * (nth + 1) > 0:
                chans.append((math.sqrt(gamma * (nth + 1)), base))
            if gamma * nth > 0:
                chans.append((math.sqrt(gamma * nth), base + 1))
        X = [A, Ad, B, Bd]
        M0 = -1j * H0
        for cj, w in chans:
            M0 = M0 - 0.5 * cj**2 * (X[w].conj().T @ X[w])
        mons = [M0, -1j * drive, A, Ad, B, Bd, Ad @ Ad, A @ A, Ad @ B, A @ Bd]
        pat = _sorted_csr(sum(abs(m) for m in mons))
        pat.data[:] = 1.0
        keys = np.repeat(np.arange(pat.shape[0]), np.diff(pat.indptr)) * pat.shape[1] + pat.indices
        data = np.zeros((len(mons), pat.nnz), complex)
        for k, m in enumerate(mons):
            m = sp.coo_matrix(m)
            np.add.at(data[k], np.searchsorted(keys, m.row.astype(np.int64) * pat.shape[1] + m.col), m.data)
        c0 = self._hd._c_ops(problem, [cj * X[w] for cj, w in chans])
        u = [complex(c.toarray()[0, 0]) for c in self._hd._c_ops(problem, [sp.csr_matrix(np.ones((1, 1)))] * len(chans))]
        per = len(u) // len(chans)  # measured channels per physical channel (1, or 2 for heterodyne)
        noise = sum(_norm_1(c) * _norm_inf(c) for c in c0)
        out = {"ptr": pat.indptr.astype(np.int64), "idx": pat.indices.astype(np.int64), "data": data,
               "rows": np.repeat(np.arange(pat.shape[0]), np.diff(pat.indptr)), "c": _stack(c0),
               "chans": chans, "u": np.array(u), "per": per, "noise": noise}
        self._cache[key] = out
        return out

    def _ops(self, problem, p, F, bs, bp, ns, npm):
        """Kernel operators (A' CSR, stacked c0_k) and the drift shifts 2 Re(l_k) per unit step
        for the basis (bs, bp, ns, npm) and pump F: A' as a linear combination of the cached
        monomials with the coefficients of the module docstring (tested against ``_ops_reference``)."""
        from .homodyne import NOISE_BOUND, STABILITY_BOUND

        lay = self._layout(problem, p, ns, npm)
        k, sbc, sb, cbp, cb = p.kappa, np.conj(bs), bs, np.conj(bp), bp
        # -i H' with a = A + bs, b = B + bp, c-number dropped (module docstring)
        coef = np.array([1.0, math.sqrt(p.gamma_p) * F,
                         -1j * p.delta * sbc - k * sb * cbp,  # A
                         -1j * p.delta * sb + k * sbc * cb,  # A^dag
                         0.5 * k * sbc**2,  # B
                         -0.5 * k * sb**2,  # B^dag
                         0.5 * k * cb,  # A^dag2
                         -0.5 * k * cbp,  # A^2
                         k * sbc,  # A^dag B
                         -k * sb], complex)  # A B^dag
        shifts = []
        for j, (cj, w) in enumerate(lay["chans"]):
            x = (sb, sbc, cb, cbp)[w]  # c-number of X_w
            ell = cj * x
            us = lay["u"][j * lay["per"]:(j + 1) * lay["per"]]
            # (l^* L0 - l L0^dag) / 2 with L0 = c_j X_w, L0^dag = c_j X_{w^1} (A'', module docstring)
            coef[2 + (w ^ 1)] += -0.5 * ell * cj
            coef[2 + w] += 0.5 * np.conj(ell) * cj  # -1/2 l^* L0 + sum_k |u_k|^2 l^* L0 (A'')
            shifts += [2 * (uk * ell).real for uk in us]
        dat = coef[0] * lay["data"][0]  # a fixed-order sum, no BLAS: bitwise reproducible (and faster here)
        for c, row in zip(coef[1:], lay["data"][1:]):
            dat = dat + c * row
        nA = float(np.max(np.bincount(lay["rows"], np.abs(dat), minlength=ns * npm)))
        if self.dt * nA > STABILITY_BOUND:
            raise ValueError(
                f"dt = {self.dt:g} is too large for the moving basis {ns} x {npm}: dt ||A'||_inf = "
                f"{self.dt * nA:.3g} exceeds the stability bound {STABILITY_BOUND} of the explicit drift; "
                f"use dt <= {STABILITY_BOUND / nA:.3g}")
        if self.dt * lay["noise"] > NOISE_BOUND:
            raise ValueError(
                f"dt = {self.dt:g} is too large for the moving basis {ns} x {npm}: dt sum_k ||c_k||_1 "
                f"||c_k||_inf = {self.dt * lay['noise']:.3g} exceeds the noise bound {NOISE_BOUND}; use "
                f"dt <= {NOISE_BOUND / lay['noise']:.3g}")
        ops = (lay["ptr"], lay["idx"], np.ascontiguousarray(dat)) + lay["c"]
        return ops, np.array(shifts)

    # --- integration ---
    def run_group(self, problem: Problem, ids, seed: int) -> MovingSums:
        """Integrate trajectories ``ids`` one by one; return their sums (trajectory order)."""
        ids = check_group_args(problem, ids, seed)
        if problem.kind != "charge" or "params" not in problem.info:
            raise ValueError("the displaced basis integrates charging problems (charge_problem) only")
        from threadpoolctl import threadpool_limits

        sums = MovingSums.zeros(problem)
        plan = self._hd._plan(problem)
        # one BLAS thread (the lab-frame products, re-shifts): the numbers do not depend on the
        # thread settings of the worker, and two OpenBLAS threads on a busy 2-core machine made
        # the 540 x 540 output products ~20x slower (measured; ensemble._reduce likewise)
        with threadpool_limits(limits=1, user_api="blas"):
            for k in ids:
                self._trajectory(problem, plan, rng(int(seed), int(k)), sums)
        return sums

    def _trim(self, P, axis, discarded):
        """Drop top levels of mode ``axis`` while its top 4 hold < shrink_tol (size >= n_min)."""
        w = np.sum(np.abs(P) ** 2, axis=1 - axis)
        n = w.size
        while n > self.n_min and w[n - 4:n].sum() < self.shrink_tol:
            n -= 1
        discarded += float(w[n:].sum())
        return (P[:n] if axis == 0 else P[:, :n]), discarded

    def _adapt(self, P, bs, bp, discarded, sums):
        """Basis change after a kernel stop: re-shift, grow, shrink (module docstring)."""
        ns, npm = P.shape
        v = P.reshape(-1, 1)
        ea, eb, t2s, _, t2p, _ = _moments(v, ns, npm)
        if abs(ea) > self.shift or abs(eb) > self.shift:
            pad = lambda n, d: n + self.n_grow + 2 + math.ceil(2 * abs(d) * math.sqrt(n))  # noqa: E731
            new = (bs + ea, bp + eb)
            P, lost = reshift2(P, (bs, bp), new, (pad(ns, ea), pad(npm, eb)))
            discarded += max(lost, 0.0)
            bs, bp = new
            sums.reshifts += 1
        else:
            if t2s > self.grow_tol:
                P = np.vstack([P, np.zeros((self.n_grow, npm), complex)])
            if t2p > self.grow_tol:
                P = np.hstack([P, np.zeros((P.shape[0], self.n_grow), complex)])
        P, discarded = self._trim(P, 0, discarded)
        P, discarded = self._trim(P, 1, discarded)
        if P.shape != (ns, npm):
            sums.resizes += 1
        if max(P.shape) > self.n_max:
            raise Refused(f"the moving basis needs {max(P.shape)} levels (> n_max={self.n_max}) for the "
                          f"{'signal' if P.shape[0] > self.n_max else 'pump'}: the conditional state is far from "
                          f"a displaced Gaussian; raise n_max or use the fixed Fock basis (basis='fock')")
        P = P / np.linalg.norm(P)
        return np.ascontiguousarray(P), complex(bs), complex(bp), discarded

    def _trajectory(self, problem, plan, g, sums):
        p = problem.info["params"]
        Ns_out, Np_out = problem.dims
        P0 = initial_state(problem, g).reshape(Ns_out, Np_out)
        # the moving basis starts with at least n_min levels per mode, whatever the lab sizes
        P = np.zeros((max(Ns_out, self.n_min), max(Np_out, self.n_min)), complex)
        P[:Ns_out, :Np_out] = P0
        bs = bp = 0j
        discarded = 0.0
        P, discarded = self._trim(P, 0, discarded)
        P, discarded = self._trim(P, 1, discarded)
        P = np.ascontiguousarray(P / np.linalg.norm(P))
        J = len(self._hd.measured(problem))
        Y = np.zeros((J, 1))
        zero = np.zeros(J)
        nt = len(problem.t)
        rec = {"t": np.array(problem.t, float), "Y": np.zeros((nt, J)), "x_theta": np.zeros(nt),
               "n_s": np.zeros(nt), "a_s2": np.zeros(nt, complex), "beta": np.zeros((nt, 2), complex),
               "dims": np.zeros((nt, 2), int)} if self.records else None
        milstein = self._hd.scheme == "milstein"
        self._output(problem, 0, P, bs, bp, sums, rec, Y)
        for _, _, steps in plan:
            a, b = steps[0][1], steps[-1][0]
            F = p.F_at(0.5 * (a + b))
            ops = shifts = None
            for e, s0, n, iout in steps:
                h = (e - s0) / n
                done = 0
                while done < n:
                    m = min(_CHUNK, n - done)
                    dW = g.standard_normal((m, J)) * math.sqrt(h)
                    pos = 0
                    while pos < m:
                        if ops is None:
                            ops, shifts = self._ops(problem, p, F, bs, bp, *P.shape)
                        psi = P.reshape(-1, 1)
                        pos0 = pos
                        pos, due = _advance(*ops, psi, dW, zero, h, milstein, Y, P.shape[0], P.shape[1],
                                            pos, self.shift, self.grow_tol, self.shrink_tol, self.n_min)
                        Y[:, 0] += shifts * (h * (pos - pos0))  # the mean-field current of the record
                        P = psi.reshape(P.shape)
                        if due:
                            P, bs, bp, discarded = self._adapt(P, bs, bp, discarded, sums)
                            ops = None
                    done += m
                sums.steps += n
                if iout >= 0:
                    self._output(problem, iout, P, bs, bp, sums, rec, Y)
        sums.discarded = max(sums.discarded, discarded)
        sums.n += 1
        if rec is not None:
            sums.records.append(rec)

    def _output(self, problem, it, P, bs, bp, sums, rec, Y):
        """Add the trajectory's lab-frame reduced states at output ``it`` (module docstring)."""
        Ns_out, Np_out = problem.dims
        ns, npm = P.shape
        Ks = displace_block(bs, Ns_out, ns) @ P
        Kp = displace_block(bp, Np_out, npm) @ P.T
        sums.rho_s[it] += Ks @ Ks.conj().T
        sums.rho_o[it] += Kp @ Kp.conj().T
        ea, eb, t2s, _, t2p, _ = _moments(P.reshape(-1, 1), ns, npm)
        ws, wp = np.sum(np.abs(P) ** 2, axis=1), np.sum(np.abs(P) ** 2, axis=0)
        ns_full = abs(bs) ** 2 + 2 * (np.conj(bs) * ea).real + float(np.arange(ns) @ ws)
        np_full = abs(bp) ** 2 + 2 * (np.conj(bp) * eb).real + float(np.arange(npm) @ wp)
        lad2 = np.sqrt(np.arange(2, ns) * np.arange(1, ns - 1.0))[:, None]  # <i-2|A^2|i> = sqrt(i (i-1))
        a2_full = bs**2 + 2 * bs * ea + complex(np.vdot(P[:-2], lad2 * P[2:]))
        sums.n_s_full[it] += ns_full
        sums.n_p_full[it] += np_full
        sums.a2_s_full[it] += a2_full
        sums.lab_tail_s = max(sums.lab_tail_s, 1.0 - float(np.vdot(Ks, Ks).real))
        sums.lab_tail_p = max(sums.lab_tail_p, 1.0 - float(np.vdot(Kp, Kp).real))
        sums.top_s, sums.top_p = max(sums.top_s, t2s), max(sums.top_p, t2p)
        sums.basis_max = (max(sums.basis_max[0], ns), max(sums.basis_max[1], npm))
        if rec is not None:
            rec["Y"][it] = Y[:, 0]
            rec["x_theta"][it] = (np.exp(-1j * self.theta) * (bs + ea)).real
            rec["n_s"][it], rec["a_s2"][it] = ns_full, a2_full
            rec["beta"][it] = (bs, bp)
            rec["dims"][it] = (ns, npm)

    # --- reduction (ensemble.run calls it with the group sums) ---
    def reduce(self, problem: Problem, parts, res):
        """Attach the dims used, the untruncated moments with their jackknife errors (real and
        imaginary parts separately for <a_s^2>: err(Re) + i err(Im)), the basis statistics and the
        truncation verdict (``verdict``)."""
        from ..ensemble import jackknife

        N = sum(q.n for q in parts)
        n = np.array([q.n for q in parts], float)

        def mean_err(name):
            S = np.stack([getattr(q, name) for q in parts])
            m, er, _ = jackknife(S.real, n, lambda x: x)
            if not np.iscomplexobj(S):
                return m, er
            mi, ei, _ = jackknife(S.imag, n, lambda x: x)
            return m + 1j * mi, er + 1j * ei

        info = {
            "dims": {"Ns_basis_max": int(max(q.basis_max[0] for q in parts)),
                     "Np_basis_max": int(max(q.basis_max[1] for q in parts)),
                     "Ns_out": int(problem.dims[0]), "Np_out": int(problem.dims[1])},
            "n_s_untruncated": sum(q.n_s_full for q in parts) / N,
            "n_p_untruncated": sum(q.n_p_full for q in parts) / N,
            "n_s_untruncated_err": mean_err("n_s_full")[1], "n_p_untruncated_err": mean_err("n_p_full")[1],
            "a_s2_untruncated": mean_err("a2_s_full")[0], "a_s2_untruncated_err": mean_err("a2_s_full")[1],
            "lab_tail_s": max(q.lab_tail_s for q in parts), "lab_tail_p": max(q.lab_tail_p for q in parts),
            "basis_top_s": max(q.top_s for q in parts), "basis_top_p": max(q.top_p for q in parts),
            "discarded": max(q.discarded for q in parts),
            "reshifts_per_traj": sum(q.reshifts for q in parts) / N,
            "resizes_per_traj": sum(q.resizes for q in parts) / N,
        }
        res = replace(res, options={**res.options, **info})
        return replace(res, truncation=verdict(res))


def displaced_problem(params, t) -> Problem:
    """The charging problem for ``Moving`` without lab-frame operators: ``charge_problem`` builds
    the Hamiltonian and collapse operators on Ns x Np (as dense matrices on the way: 47 GiB at the
    lab sizes 560 x 100 of the kappa = 0.1 target), which the moving basis never uses.  Same
    times, segments (pump switch-off), channels, dims (the lab output sizes), vacuum start."""
    from ..exact import _segments, check_times
    from ..params import BatteryParams
    from ..problem import _names

    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    t = check_times(t, "t")
    Ns, Np = params.Ns, params.Np
    v = np.zeros(Ns * Np, complex)
    v[0] = 1.0
    segs = tuple((a, b, None, None) for a, b, F, _ in _segments(params, t))
    channels = _names(params, [("signal", params.gamma_s, params.nth_s), ("pump", params.gamma_p, params.nth_p)])
    return Problem(t=t, segments=segs, dims=(Ns, Np), psi0=v[None], p0=np.ones(1), channels=channels,
                   signal_channel=0, ladder_s=np.arange(Ns) * params.omega_s,
                   ladder_o=np.arange(Np) * 2 * params.omega_s, kind="charge", info={"params": params})


def verdict(res, tol=None) -> dict:
    """Truncation verdict of a moving-basis result (``truncation.assess``): err = the larger of
    max_t (<n_s> - Tr(n rho_s)) omega_s / max(E, omega_s) (the energy the lab cut Ns_out misses,
    from the untruncated <n_s> of the trajectories) and the weight the basis changes discarded;
    top-level populations: the larger of the lab top level and the moving bases' top 2 levels."""
    from ..truncation import TRUNC_TOL, assess

    o, p = res.options, res.params
    tol = TRUNC_TOL if tol is None else tol
    miss = (o["n_s_untruncated"] - res.n_s) * p.omega_s / np.maximum(np.abs(res.energy), p.omega_s)
    k = int(np.argmax(miss))
    err = max(float(miss[k]), o["discarded"])
    measure = (f"lab cut Ns_out={o['dims']['Ns_out']} misses {float(miss[k]):.1e} of the energy scale "
               f"(untruncated <n_s> of the trajectories), basis changes discarded weight {o['discarded']:.1e}, "
               f"moving bases up to {o['dims']['Ns_basis_max']} x {o['dims']['Np_basis_max']}")
    return assess(tol, measure, err, float(res.t[k]), {"energy": float(miss[k] * max(abs(res.energy[k]), p.omega_s))},
                  top_s=max(float(np.max(res.tail_s)), o["basis_top_s"]),
                  top_p=max(float(np.max(res.tail_p)), o["basis_top_p"]),
                  hint="increase Ns / Np (the lab-frame output sizes) or lower grow_tol")


def output_dims(params, t, margin: float = 6.0, basis: int = 20) -> tuple:
    """Lab-frame output sizes (Ns_out, Np_out) for a run over ``t``: the largest mean-field photon
    numbers n_j along the run plus ``margin`` sqrt(n_j) plus ``basis`` levels (a state of the
    moving basis extends that far beyond its displacement)."""
    from scipy.integrate import solve_ivp

    from ..model import mean_field_rhs

    t = np.asarray(t, float)

    def f(tt, y):
        ds, dp = mean_field_rhs(params, tt, y[0] + 1j * y[1], y[2] + 1j * y[3])
        return [ds.real, ds.imag, dp.real, dp.imag]

    # a seed amplitude so the unstable trivial state above threshold is left (quantum noise does it)
    sol = solve_ivp(f, (t[0], t[-1]), [0.5, 0.0, 0.0, 0.0], t_eval=t, rtol=1e-8, atol=1e-10, method="LSODA")
    ns = float(np.max(sol.y[0] ** 2 + sol.y[1] ** 2))
    npm = float(np.max(sol.y[2] ** 2 + sol.y[3] ** 2))
    return (int(math.ceil(ns + margin * math.sqrt(ns) + basis)), int(math.ceil(npm + margin * math.sqrt(npm) + basis)))
