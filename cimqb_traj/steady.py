r"""Stationary state of the DOPO battery's master equation, solved directly (``L rho = 0``).

See :func:`steady_state` for the method and why it was chosen.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import njit
from scipy.linalg import lapack

from .model import collapse_ops, hamiltonian
from .params import BatteryParams

__all__ = ["steady_state", "liouvillian", "liouvillian_residual", "SteadyStateInfo"]

_METHODS = ("auto", "multifrontal", "splu", "qutip")
_SMALL_DIM = 100  # Hilbert dimension up to which "auto" uses plain SuperLU


# --------------------------------------------------------------------------------------------
# The Liouvillian and its real, Hermitian, parity-even form
# --------------------------------------------------------------------------------------------


def _as_csr(q) -> sp.csr_matrix:
    return sp.csr_matrix(q.full() if hasattr(q, "full") else np.asarray(q), dtype=complex)


def liouvillian(params: BatteryParams) -> sp.csr_matrix:
    """Liouvillian of the model as a sparse matrix acting on the ROW-major vectorisation.

    ``(L @ rho.ravel()).reshape(d, d)`` is ``d rho / dt`` for a ``d x d`` density matrix in
    the (signal, pump) tensor order of :mod:`cimqb_traj.model` (qutip's own
    ``qutip.liouvillian`` uses column stacking; this one is the same operator, transposed
    index convention).  Built from ``model.hamiltonian`` and ``model.collapse_ops``.
    """
    H = _as_csr(hamiltonian(params))
    cs = [_as_csr(c) for c in collapse_ops(params)]
    d = H.shape[0]
    eye = sp.identity(d, dtype=complex, format="csr")
    Heff = H.copy()
    for c in cs:
        Heff = Heff - 0.5j * (c.conj().T @ c)
    # row-major vec: vec(A rho B) = kron(A, B^T) vec(rho)
    L = -1j * sp.kron(Heff, eye) + 1j * sp.kron(eye, Heff.conj())
    for c in cs:
        L = L + sp.kron(c, c.conj())
    return L.tocsr()


def liouvillian_residual(params: BatteryParams, rho) -> float:
    """Relative residual ``||L rho||_F / (||L||_inf ||rho||_F)`` of a density matrix."""
    rho = np.asarray(rho.full() if hasattr(rho, "full") else rho, dtype=complex)
    L = liouvillian(params)
    r = L @ rho.ravel()
    return float(np.linalg.norm(r) / (spla.norm(L, np.inf) * np.linalg.norm(rho)))


class _RealSector:
    """Real unknowns of a Hermitian rho in the signal-parity-even sector, and L acting on them.

    Unknowns: ``Re rho[i, i]``; ``Re rho[i, j]`` and ``Im rho[i, j]`` for ``i < j`` with
    ``n_i - n_j`` even (``n`` the signal photon number of basis state ``i``).  Rows: the same
    labels applied to ``L rho`` (the lower triangle of ``L rho`` is the conjugate of the upper
    one, so it carries no new equation).  The count equals the number of complex elements of
    the sector, so the real system has the size of the complex one with a quarter of the
    flops of a complex factorisation.
    """

    def __init__(self, params: BatteryParams):
        Ns, Np = params.Ns, params.Np
        d = Ns * Np
        n = np.arange(d) // Np
        full = liouvillian(params)
        ii, jj = np.nonzero((n[:, None] - n[None, :]) % 2 == 0)  # row-major order
        sec = ii * d + jj  # sector elements, sorted
        self.d, self.sec = d, sec
        self.L = full[sec][:, sec].tocsr()  # the parity sector is invariant under L
        self._Lnorm = spla.norm(self.L, np.inf)
        pos = np.full(d * d, -1, dtype=np.int64)
        pos[sec] = np.arange(len(sec))
        dg = np.nonzero(ii == jj)[0]
        up = np.nonzero(ii < jj)[0]
        lo_of_up = pos[jj[up] * d + ii[up]]
        nd, nu = len(dg), len(up)
        self.n_diag, self.dg, self.up = nd, dg, up
        ar_d, ar_u = np.arange(nd), np.arange(nu)
        rows = np.concatenate([dg, up, lo_of_up, up, lo_of_up])
        cols = np.concatenate([ar_d, nd + ar_u, nd + ar_u, nd + nu + ar_u, nd + nu + ar_u])
        vals = np.concatenate([np.ones(nd + 2 * nu), 1j * np.ones(nu), -1j * np.ones(nu)])
        # complex sector vector = T @ real unknowns
        self.T = sp.csr_matrix((vals, (rows, cols)), shape=(len(sec), nd + 2 * nu))
        LT = (self.L @ self.T).tocsr()
        A = sp.vstack([LT[dg].real, LT[up].real, LT[up].imag]).tocsr()
        A.eliminate_zeros()
        A.sort_indices()
        self.A = A
        self.vac = 0  # unknown Re rho[0, 0] (the global vacuum population) is unknown 0

    def to_rho(self, x: np.ndarray) -> np.ndarray:
        v = np.zeros(self.d * self.d, dtype=complex)
        v[self.sec] = self.T @ x
        rho = v.reshape(self.d, self.d)
        return rho

    def residual(self, x: np.ndarray) -> float:
        v = self.T @ x
        return float(np.linalg.norm(self.L @ v) / (self._Lnorm * np.linalg.norm(v)))


# --------------------------------------------------------------------------------------------
# A small supernodal multifrontal LU (METIS nested dissection + dense LAPACK/BLAS fronts)
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _etree(n, indptr, indices):
    """Elimination tree of a structurally symmetric pattern (Liu's algorithm)."""
    parent = np.full(n, -1, dtype=np.int64)
    anc = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            k = indices[p]
            while k != -1 and k < i:
                nxt = anc[k]
                anc[k] = i
                if nxt == -1:
                    parent[k] = i
                k = nxt
    return parent


@njit(cache=True)
def _postorder(parent):
    n = parent.shape[0]
    head = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    for j in range(n - 1, -1, -1):  # children lists in increasing order
        p = parent[j]
        if p != -1:
            nxt[j] = head[p]
            head[p] = j
    post = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = 0
    for r in range(n):
        if parent[r] != -1:
            continue
        top = 0
        stack[0] = r
        while top >= 0:
            j = stack[top]
            c = head[j]
            if c == -1:
                top -= 1
                post[k] = j
                k += 1
            else:
                head[j] = nxt[c]
                top += 1
                stack[top] = c
    return post


@njit(cache=True)
def _colcounts(n, indptr, indices, parent):
    """Number of non-zeros of each column of the Cholesky factor of the pattern (with diagonal)."""
    count = np.ones(n, dtype=np.int64)
    mark = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        mark[i] = i
        for p in range(indptr[i], indptr[i + 1]):
            k = indices[p]
            if k >= i:
                continue
            while mark[k] != i:
                mark[k] = i
                count[k] += 1
                k = parent[k]
    return count


@njit(cache=True)
def _snode_rows(n, indptr, indices, parent, sn_start, sn_parent):
    """Row structure of every supernode: its own columns, then the update rows (sorted)."""
    ns = sn_start.shape[0] - 1
    mark = np.full(n, -1, dtype=np.int64)
    # children lists of supernodes
    head = np.full(ns, -1, dtype=np.int64)
    nxt = np.full(ns, -1, dtype=np.int64)
    for s in range(ns - 1, -1, -1):
        p = sn_parent[s]
        if p != -1:
            nxt[s] = head[p]
            head[p] = s
    ptr = np.zeros(ns + 1, dtype=np.int64)
    cap = 4 * n + 16
    rows = np.empty(cap, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    for s in range(ns):
        c0, c1 = sn_start[s], sn_start[s + 1]
        cnt = 0
        for j in range(c0, c1):
            mark[j] = s
        for j in range(c0, c1):
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                if i >= c1 and mark[i] != s:
                    mark[i] = s
                    buf[cnt] = i
                    cnt += 1
        c = head[s]
        while c != -1:
            nc_c = sn_start[c + 1] - sn_start[c]
            for q in range(ptr[c] + nc_c, ptr[c + 1]):
                i = rows[q]
                if mark[i] != s:
                    mark[i] = s
                    buf[cnt] = i
                    cnt += 1
            c = nxt[c]
        upd = np.sort(buf[:cnt])
        m = (c1 - c0) + cnt
        while ptr[s] + m > cap:
            cap *= 2
            new = np.empty(cap, dtype=np.int64)
            new[: ptr[s]] = rows[: ptr[s]]
            rows = new
        for j in range(c0, c1):
            rows[ptr[s] + j - c0] = j
        for q in range(cnt):
            rows[ptr[s] + (c1 - c0) + q] = upd[q]
        ptr[s + 1] = ptr[s] + m
    return ptr, rows[: ptr[ns]]


@njit(cache=True)
def _assembly(n, ptr, rows, sn_start, owner, ei, ej):
    """Flat position of each entry (ei, ej), sorted by owner, in its owner's front."""
    ns = sn_start.shape[0] - 1
    loc = np.empty(ei.shape[0], dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    e = 0
    for s in range(ns):
        m = ptr[s + 1] - ptr[s]
        for q in range(ptr[s], ptr[s + 1]):
            pos[rows[q]] = q - ptr[s]
        while e < ei.shape[0] and owner[e] == s:
            loc[e] = pos[ei[e]] * m + pos[ej[e]]
            e += 1
    return loc


def _metis_order(S: sp.csr_matrix) -> np.ndarray:
    try:
        import pymetis
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise ImportError("method='multifrontal' needs the 'pymetis' package (pip install pymetis)") from exc
    G = S.copy().tocsr()
    G.setdiag(0)
    G.eliminate_zeros()
    G.sort_indices()
    adj = pymetis.CSRAdjacency(adj_starts=G.indptr.astype(np.int32), adjacent=G.indices.astype(np.int32))
    perm, _ = pymetis.nested_dissection(adjacency=adj)
    return np.asarray(perm, dtype=np.int64)


class _Multifrontal:
    """Sparse LU ``A = P^T L U P`` with METIS nested-dissection ordering, multifrontal.

    The pattern of ``A + A^T`` drives the symbolic phase (elimination tree, supernodes with
    relaxed amalgamation); each front is a dense matrix whose fully-summed block is factored
    with LAPACK ``getrf`` (partial pivoting inside the front only, i.e. static pivoting across
    fronts), and whose Schur complement is passed to the parent with one BLAS-3 ``gemm``.
    Stability is checked by the caller through the residual (with iterative refinement).
    """

    def __init__(self, A: sp.csr_matrix):
        t0 = time.perf_counter()
        A = sp.csr_matrix(A, dtype=float)
        n = A.shape[0]
        S = (abs(A) + abs(A).T).tocsr()
        perm = _metis_order(S)
        Sp = S[perm][:, perm].tocsr()
        Sp.sort_indices()
        parent = _etree(n, Sp.indptr.astype(np.int64), Sp.indices.astype(np.int64))
        post = _postorder(parent)
        perm = perm[post]
        Sp = S[perm][:, perm].tocsr()
        Sp.sort_indices()
        ip, ix = Sp.indptr.astype(np.int64), Sp.indices.astype(np.int64)
        parent = _etree(n, ip, ix)
        count = _colcounts(n, ip, ix, parent)
        self.t_order = time.perf_counter() - t0

        # fundamental supernodes
        nchild = np.bincount(parent[parent >= 0], minlength=n)
        j = np.arange(1, n)
        cont = (parent[:-1] == j) & (count[:-1] == count[1:] + 1) & (nchild[1:] == 1)
        starts = np.concatenate([[0], j[~cont], [n]])
        sn_start, sn_count = self._amalgamate(starts, count, parent)
        ns = len(sn_start) - 1
        last = sn_start[1:] - 1
        snode_of = np.repeat(np.arange(ns), np.diff(sn_start))
        pl = parent[last]
        sn_parent = np.where(pl >= 0, snode_of[np.maximum(pl, 0)], -1)
        ptr, rows = _snode_rows(n, ip, ix, parent, sn_start.astype(np.int64), sn_parent.astype(np.int64))

        # assembly of the original entries
        B = A[perm][:, perm].tocoo()
        owner = snode_of[np.minimum(B.row, B.col)]
        o = np.argsort(owner, kind="stable")
        loc = _assembly(n, ptr, rows, sn_start.astype(np.int64), owner[o], B.row[o].astype(np.int64), B.col[o].astype(np.int64))
        vals = B.data[o]
        eptr = np.searchsorted(owner[o], np.arange(ns + 1))

        self.n, self.perm, self.ns = n, perm, ns
        self.sn_start, self.ptr, self.rows, self.sn_parent = sn_start, ptr, rows, sn_parent
        children = [[] for _ in range(ns)]
        for s in range(ns):
            if sn_parent[s] >= 0:
                children[sn_parent[s]].append(s)
        self.t_symbolic = time.perf_counter() - t0
        self.fill = 0
        self.flops = 0.0
        self._factor(loc, vals, eptr, children)
        self.t_total = time.perf_counter() - t0

    @staticmethod
    def _amalgamate(starts, count, parent):
        """Relaxed supernode amalgamation (CHOLMOD's default thresholds), contiguous merges only."""
        nrelax, zrelax = (4, 16, 48), (0.8, 0.1, 0.05)
        out_s, out_e, out_m, out_z = [], [], [], []  # start, end (excl), rows, explicit zeros

        def nnz(nc, m):
            return nc * m - nc * (nc - 1) // 2

        for a in range(len(starts) - 1):
            c0, c1 = int(starts[a]), int(starts[a + 1])
            m, z = int(count[c0]), 0
            while out_s:
                ps, pe, pm, pz = out_s[-1], out_e[-1], out_m[-1], out_z[-1]
                if pe != c0 or not (c0 <= parent[pe - 1] < c1):
                    break
                nc = (pe - ps) + (c1 - c0)
                mm = (pe - ps) + m
                zz = pz + z + nnz(nc, mm) - nnz(pe - ps, pm) - nnz(c1 - c0, m)
                frac = zz / nnz(nc, mm)
                ok = (nc <= nrelax[0]) or (nc <= nrelax[1] and frac < zrelax[0]) or (
                    nc <= nrelax[2] and frac < zrelax[1]) or frac < zrelax[2]
                if not ok:
                    break
                out_s.pop(), out_e.pop(), out_m.pop(), out_z.pop()
                c0, m, z = ps, mm, zz
            out_s.append(c0)
            out_e.append(c1)
            out_m.append(m)
            out_z.append(z)
        return np.array(out_s + [len(count)], dtype=np.int64), np.array(out_m, dtype=np.int64)

    def _factor(self, loc, vals, eptr, children):
        getrf, getrs = lapack.dgetrf, lapack.dgetrs
        self.fronts = []
        pending = {}
        for s in range(self.ns):
            c0, c1 = self.sn_start[s], self.sn_start[s + 1]
            nc = c1 - c0
            R = self.rows[self.ptr[s] : self.ptr[s + 1]]
            m = len(R)
            F = np.zeros((m, m))
            F.ravel()[loc[eptr[s] : eptr[s + 1]]] = vals[eptr[s] : eptr[s + 1]]
            for c in children[s]:
                Rc, Uc = pending.pop(c)
                rel = np.searchsorted(R, Rc)
                F[np.ix_(rel, rel)] += Uc
            lu, piv, info = getrf(F[:nc, :nc])
            if info > 0:
                raise np.linalg.LinAlgError(f"exactly singular pivot in front {s} (column {c0 + info - 1})")
            m2 = m - nc
            if m2:
                W, info = getrs(lu, piv, F[:nc, nc:])
                L21 = np.ascontiguousarray(F[nc:, :nc])
                pending[s] = (R[nc:], F[nc:, nc:] - L21 @ W)
            else:
                W = L21 = None
            self.fronts.append((lu, piv, W, L21))
            self.fill += nc * nc + 2 * nc * m2
            self.flops += 2 / 3 * nc**3 + 2 * nc * nc * m2 + 2 * nc * m2 * m2

    def solve(self, b: np.ndarray) -> np.ndarray:
        getrs = lapack.dgetrs
        y = np.asarray(b, dtype=float)[self.perm].copy()
        st, ptr, rows = self.sn_start, self.ptr, self.rows
        for s, (lu, piv, W, L21) in enumerate(self.fronts):
            c0, c1 = st[s], st[s + 1]
            z, _ = getrs(lu, piv, y[c0:c1])
            y[c0:c1] = z
            if L21 is not None:
                upd = rows[ptr[s] + (c1 - c0) : ptr[s + 1]]
                y[upd] -= L21 @ z
        for s in range(self.ns - 1, -1, -1):
            W = self.fronts[s][2]
            if W is not None:
                c0, c1 = st[s], st[s + 1]
                upd = rows[ptr[s] + (c1 - c0) : ptr[s + 1]]
                y[c0:c1] -= W @ y[upd]
        x = np.empty_like(y)
        x[self.perm] = y
        return x


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


class SteadyStateInfo(dict):
    """Diagnostics of the last :func:`steady_state` call (method, timings, residual)."""


last_info = SteadyStateInfo()


def _solve_pinned(sector: _RealSector, method: str, tol: float, info: dict) -> np.ndarray:
    """Fix the vacuum population to 1, drop its equation, solve, refine, normalise."""
    A = sector.A
    n = A.shape[0]
    keep = np.ones(n, dtype=bool)
    keep[sector.vac] = False
    Ar = A[keep][:, keep].tocsr()
    rhs = -np.asarray(A[:, sector.vac].todense()).ravel()[keep]
    t0 = time.perf_counter()
    if method == "multifrontal":
        fac = _Multifrontal(Ar)
        solve = fac.solve
        info.update(fill=fac.fill, flops=fac.flops, n_fronts=fac.ns, t_symbolic=fac.t_symbolic)
    else:
        lu = spla.splu(Ar.tocsc(), permc_spec="COLAMD")
        solve = lu.solve
        info.update(fill=lu.L.nnz + lu.U.nnz)
    info["t_factor"] = time.perf_counter() - t0
    xr = solve(rhs)
    x = np.empty(n)
    x[keep] = xr
    x[sector.vac] = 1.0
    res = sector.residual(x)
    steps = 0
    while not (res <= tol) and steps < 5:
        xr = xr + solve(rhs - Ar @ xr)
        x[keep] = xr
        new = sector.residual(x)
        steps += 1
        if not (new < 0.5 * res):
            res = new
            break
        res = new
    info["refinement_steps"] = steps
    trace = x[: sector.n_diag].sum()
    if not np.isfinite(res) or not np.isfinite(trace) or trace <= 0:
        raise RuntimeError(f"steady_state({method}): solution is not finite or has trace {trace}")
    info["residual"] = res
    if res > tol:
        raise RuntimeError(
            f"steady_state({method}): relative residual ||L rho|| / (||L|| ||rho||) = {res:.3e} "
            f"exceeds tol = {tol:.1e} after {steps} refinement steps"
        )
    return x / trace


def steady_state(params: BatteryParams, *, method: str = "auto", tol: float = 1e-10) -> np.ndarray:
    r"""Stationary density matrix of the DOPO battery master equation, solved directly.

    Parameters
    ----------
    params : BatteryParams
        Model parameters (the constant pump ``params.F`` is used; ``t_off`` is ignored).
    method : {"auto", "multifrontal", "splu", "qutip"}
        ``"qutip"`` calls ``qutip.steadystate(H, c_ops)`` (the trusted, slow reference).
        ``"multifrontal"`` is the fast solver described below, ``"splu"`` the same real
        parity-sector system factored by SciPy's SuperLU (COLAMD), fine for small
        truncations.  ``"auto"`` takes ``"splu"`` for Hilbert dimension ``Ns*Np <= 100`` and
        ``"multifrontal"`` above.
    tol : float
        Bound on the relative residual ``||L rho||_F / (||L||_inf ||rho||_F)`` of the
        returned state (not applied to ``"qutip"``).  A state that misses it after iterative
        refinement raises ``RuntimeError``: a wrong state is never returned silently.

    Returns
    -------
    numpy.ndarray
        ``(Ns*Np, Ns*Np)`` complex density matrix in the ``qutip.tensor(signal, pump)`` order,
        exactly Hermitian and of trace 1.

    Notes
    -----
    **Linear system.**  The Hamiltonian and the dissipators commute with the signal parity
    :math:`(-1)^{n_s}` (as superoperators), so the stationary state, which is unique, has
    ``rho[(n,k),(m,l)] = 0`` unless ``n - m`` is even.  Only that sector is solved, and
    Hermiticity is used to make it real: the unknowns are :math:`\mathrm{Re}\,\rho_{ii}` and
    :math:`\mathrm{Re},\mathrm{Im}\,\rho_{ij}` for ``i < j``, the equations the same
    components of :math:`\mathcal L\rho`; this is a real system with as many unknowns as the
    complex sector (41 472 at the defaults Ns = 32, Np = 9) and a quarter of the arithmetic.
    The trace condition is imposed by pinning the vacuum population
    :math:`\rho_{(0,0),(0,0)} = 1` and dropping its equation (a diagonal equation is
    redundant, since the trace functional is the left kernel of :math:`\mathcal L`); the
    remaining matrix is non-singular whenever the unique steady state has a non-zero vacuum
    population, which it always has here.  The result is normalised to trace 1.

    **Factorisation.**  The sparsity graph of this system is a four-dimensional lattice in
    ``(n, k, m, l)`` (the coherent coupling moves ``(n, k) -> (n +- 2, k -+ 1)``, the drive
    ``k -> k +- 1``, the jumps lower ``n, m`` or ``k, l`` together), on which local
    orderings produce heavy fill: SciPy's ``splu`` with COLAMD needs 1.3e8 fill entries and
    170 s on the complex sector, and ``qutip.steadystate`` 331 s (2 cores).  A METIS nested
    dissection (``pymetis``) of the graph of ``A + A^T`` cuts the fill to ~3e7, but SuperLU
    then still took 339 s (complex sector, its kernels are not BLAS-3).  MKL PARDISO on the
    real system with the same kind of ordering needs only 2.6e10 flops (3.3 s), i.e. the
    problem is small once the arithmetic goes through dense BLAS-3 kernels -- but MKL is a
    ~700 MB dependency and ``pypardiso`` has no complex support, and UMFPACK (via
    ``kvxopt``, 89 s with its own ordering) cannot take a user ordering.  Hence a compact
    supernodal multifrontal LU is implemented here: METIS ordering, elimination tree,
    fundamental supernodes with relaxed amalgamation, and per front one LAPACK ``getrf`` on
    the fully-summed block plus one ``gemm`` for the Schur complement (NumPy's OpenBLAS).
    Pivoting is partial within each front (static across fronts); stability is enforced a
    posteriori by the residual test with up to five steps of iterative refinement.

    Iterative alternatives were rejected: ILU(1e-3) + GMRES took 65 s for the ILU alone and
    did not converge, and a preconditioner that is exact for everything but the drive
    cannot work well because the drive (``sqrt(gamma_p) F = 12``) is the largest coupling.

    Measured on the 2-core development machine, defaults (Ns = 32, Np = 9, F = 3):
    see ``last_info`` after a call for the split between ordering, factorisation and
    solve; the whole call took ~TIMING_DEFAULT s.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not (tol > 0):
        raise ValueError(f"tol must be > 0, got {tol!r}")
    info = SteadyStateInfo()
    t0 = time.perf_counter()
    if method == "qutip":
        import qutip

        rho = qutip.steadystate(hamiltonian(params), collapse_ops(params)).full()
        info.update(method="qutip", t_total=time.perf_counter() - t0)
        last_info.clear()
        last_info.update(info)
        return rho
    if method == "auto":
        method = "splu" if params.Ns * params.Np <= _SMALL_DIM else "multifrontal"
        if method == "multifrontal":
            try:
                import pymetis  # noqa: F401
            except ImportError:
                warnings.warn("pymetis is not installed: falling back to SuperLU (slow)", RuntimeWarning, stacklevel=2)
                method = "splu"
    info["method"] = method
    sector = _RealSector(params)
    info["t_build"] = time.perf_counter() - t0
    info["unknowns"] = sector.A.shape[0]
    x = _solve_pinned(sector, method, tol, info)
    rho = sector.to_rho(x)
    rho = 0.5 * (rho + rho.conj().T)  # already exact; removes any rounding asymmetry
    info["t_total"] = time.perf_counter() - t0
    last_info.clear()
    last_info.update(info)
    return rho
