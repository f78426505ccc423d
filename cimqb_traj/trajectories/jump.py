r"""Photon-counting unraveling (quantum jumps) of a ``base.Problem`` (charging or discharge).

Every collapse operator of the problem is counted; generator changes (the pump switch-off) are
segment ends that no step crosses; a mixed initial state is sampled from its decomposition.

Method (waiting-time / norm-decay algorithm, no first-order coin flip per step)
-------------------------------------------------------------------------------
Between jumps the unnormalised state obeys d psi/dt = -i H_eff psi with
H_eff = H - (i/2) sum_j L_j^dag L_j, so ||psi||^2 decays as the survival probability of the
no-jump record.  Each trajectory draws r ~ U(0, 1) and integrates until ||psi||^2 = r; there it
picks channel j with probability ||L_j psi||^2 / sum_k ||L_k psi||^2, applies L_j, renormalises
and draws a fresh r.

Integrator.  Each trajectory is integrated on its own, one after the other, by our own
Dormand-Prince 5(4) (DOPRI5) with Hairer's error norm, its own time, step size, error control
and acceptance; every right-hand side is one sparse product ``(-i H_eff) @ psi`` (diagonal
storage: a Fock-space generator is a handful of diagonals, each swept as one contiguous,
vectorised loop over the state's components; CSR otherwise).  Photon-counting trajectories of a
parity-conserving model are parity eigenstates, so each is integrated on its parity sector, half
the space, and changes sector at a parity-flipping jump (``_sectors``); the jump operators are
stored restricted sector to sector (``_restrict_jumps``), so a jump costs O(D).  The whole loop
-- DOPRI5 stages, error control, jump location, channel choice, output -- runs in one numba
kernel (``_advance``) over the ``batch`` trajectories of a block; Python only refills each
trajectory's pre-drawn random numbers when they run out.  A trajectory's working set (seven
stages of D numbers) stays in the L1 cache for the whole step.  Hence

* a trajectory's arithmetic never depends on the other trajectories of its block (fixed
  operation order, no fastmath, sums over components in order), so results do not depend on
  ``batch``: they are bitwise identical (tested);
* a jump rewinds only its own trajectory to the crossing.

(Until 2026-11-29 a block was one (D, batch) array, vectorised over its trajectories, with the
same arithmetic per trajectory -- bitwise the same results -- but short inner loops over the
block, gathers, and a full-space CSR product per jump: ~3x the kernel time per step on the Fig. 3
workload, ``validation/bench/README.md``.)

Why not ``scipy.integrate.solve_ivp``: its Python-level stepping and per-event root finding cost
far more than one DOPRI5 step here (~1 us), at thousands of jumps per trajectory.

Why an explicit method: the problem is only mildly stiff.  At the paper's truncation the
spectrum of -i H_eff reaches |lambda| ~ 100 (decay rates up to ~ gamma_p (Np-1)/2 = 64,
frequencies up to ~ 80), so DOPRI5 runs near its stability limit with steps ~ 0.02-0.03,
while the mean time between jumps is ~ 1/(gamma_p <n_p> + gamma_s <n_s>) ~ 0.03: about a third
of the steps end at a jump, and an implicit method would pay a sparse LU solve per stage to
lengthen only the other steps by ~2x.  Step control is PI (Gustafsson, beta = 0.04), which
damps the step-size oscillation an explicit method shows at its stability limit.

Jump location.  DOPRI5's 4th-order continuous extension psi(t0 + theta h) = sum_m c_m theta^m
(m = 0..4) makes ||psi(theta)||^2 an explicit degree-8 polynomial in theta whose coefficients
are the Gram matrix Re<c_m, c_n>.  Its crossing with r is found by a bracketed (bisection-
safeguarded) Newton iteration to |d theta| < 1e-12, i.e. the jump time to ~1e-12 h absolute,
far below the interpolant's own O(h^5) error, which is held to the integration tolerance.

Seeds: trajectory k uses ``base.rng(seed, k)`` alone: the initial-state draw (mixed initial
states only), then uniforms in order: the first threshold, then per jump the channel draw and
the next threshold.

The method returns per-group sums (``base.GroupSums``); averaging, errors and parallelism are
the ensemble runner's (``ensemble.run``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._jump_kernels import _H0, _NRAND, _advance
from ..problem import GroupSums, Problem, rng
from .base import initial_state

__all__ = ["Jump"]


_MAX_DIAGONALS = 32
_BLOCK_BYTES = 64 * 2**20


def _split(M):
    """CSR arrays of M (real and imaginary parts apart)."""
    M = sp.csr_matrix(M)
    return (M.indptr.astype(np.int64), M.indices.astype(np.int64),
            np.ascontiguousarray(M.data.real), np.ascontiguousarray(M.data.imag))


def _sectors(problem: Problem, Ms, Ls):
    """Index map (nsec, Dh) and channel sector map (n_ch, nsec) of the parity sectors, if the
    problem has a parity that every generator conserves, every collapse operator maps
    sector-to-sector, and every initial state has; else the whole space as one sector.

    A trajectory then stays in one sector between jumps (photon-counting trajectories of the
    charging model are signal-parity eigenstates), so it is integrated on half the space."""
    D = problem.D
    whole = np.arange(D)[None], np.zeros((len(Ls), 1), np.int64)
    par = problem.parity
    if par is None:
        return whole
    odd = np.asarray(par) < 0
    for M in Ms:
        coo = M.tocoo()
        if np.any(odd[coo.row] != odd[coo.col]):
            return whole
    tgt = np.zeros((len(Ls), 2), np.int64)
    for j, L in enumerate(Ls):
        coo = L.tocoo()
        flip = odd[coo.row] != odd[coo.col]
        if flip.any() and not flip.all():
            return whole
        tgt[j] = [1, 0] if flip.any() else [0, 1]
    for v in problem.psi0:
        nz = np.abs(v) > 0
        if odd[nz].any() and not odd[nz].all():
            return whole
    blocks = [np.flatnonzero(~odd), np.flatnonzero(odd)]
    Dh = max(len(x) for x in blocks)
    idx = np.full((2, Dh), -1, np.int64)
    for z, x in enumerate(blocks):
        idx[z, : len(x)] = x
    return idx, tgt


def _restrict(M, idx):
    """Diagonal storage of M restricted to each sector (common offsets), or CSR if too many."""
    Dh = idx.shape[1]
    subs = []
    for row in idx:
        x = row[row >= 0]
        sub = sp.lil_matrix((Dh, Dh), dtype=complex)
        sub[: len(x), : len(x)] = M[x][:, x]
        subs.append(sp.csr_matrix(sub))
    offs = np.unique(np.concatenate([sp.coo_matrix(m).col - sp.coo_matrix(m).row for m in subs]).astype(np.int64))
    if len(subs) > 1 and offs.size > _MAX_DIAGONALS:
        return None
    if offs.size > _MAX_DIAGONALS:
        return _split(subs[0]) + (np.empty(0, np.int64), np.empty((1, 0, Dh)), np.empty((1, 0, Dh)))
    V = np.zeros((len(subs), offs.size, Dh), complex)
    for z, m in enumerate(subs):
        coo = m.tocoo()
        V[z, np.searchsorted(offs, coo.col - coo.row), coo.row] = coo.data
    dummy = (np.zeros(1, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))
    return dummy + (offs, np.ascontiguousarray(V.real), np.ascontiguousarray(V.imag))


def _restrict_jumps(Ls, idx, tgt):
    """Jump operators restricted sector to sector, in diagonal storage: (offs, Vr, Vi) with
    V[j, z, d, i] = L_j[x_i, y_(i + offs[d])] for x = idx[tgt[j, z]], y = idx[z] (the rows of
    the target sector, the columns of the source sector), or empty arrays if that needs more
    than _MAX_DIAGONALS diagonals (then the kernel applies L on the full space in CSR).  At
    the paper's defaults each is one diagonal: a jump costs O(D) instead of a CSR sweep over
    the full space of every channel."""
    nsec, Dh = idx.shape
    subs = {}
    for j, L in enumerate(Ls):
        L = sp.csr_matrix(L)
        for z in range(nsec):
            xs, ys = idx[tgt[j, z]], idx[z]
            sub = sp.lil_matrix((Dh, Dh), dtype=complex)
            sub[: np.count_nonzero(xs >= 0), : np.count_nonzero(ys >= 0)] = L[xs[xs >= 0]][:, ys[ys >= 0]]
            subs[j, z] = sp.coo_matrix(sub)
    offs = np.unique(np.concatenate([m.col - m.row for m in subs.values()] + [np.zeros(0, int)]).astype(np.int64))
    if offs.size == 0 or offs.size > _MAX_DIAGONALS:
        return np.empty(0, np.int64), np.empty((len(Ls), nsec, 0, Dh)), np.empty((len(Ls), nsec, 0, Dh))
    V = np.zeros((len(Ls), nsec, offs.size, Dh), complex)
    for (j, z), m in subs.items():
        V[j, z, np.searchsorted(offs, m.col - m.row), m.row] = m.data
    return offs, np.ascontiguousarray(V.real), np.ascontiguousarray(V.imag)


class Jump:
    """Photon counting on every output channel (see the module docstring).

    Parameters
    ----------
    batch : int
        Trajectories per kernel call (their output states are held until the block is summed);
        results do not depend on it.
    rtol, atol : float
        DOPRI5 tolerances (per component, Hairer's norm) of the no-jump evolution; ``atol`` is
        relative to the current norm of the unnormalised state, so with atol = rtol each step's
        local error is held to ~rtol of the state's norm (components far below the norm are
        not resolved relatively: they carry no weight in any observable).  The default 1e-5
        makes the integration error of a trajectory ~1e-4 at most, 100x below the statistical
        error of 1000 trajectories; controlling tiny Fock tails relatively (atol << rtol) costs
        ~50 % more steps for nothing measurable.
    records : bool
        Keep every trajectory's jump times and channels (memory grows with the number of jumps).
    """

    name = "jump"

    def __init__(self, *, batch: int = 64, rtol: float = 1e-5, atol: float = 1e-5, records: bool = False):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        for name, v in (("rtol", rtol), ("atol", atol)):
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        self.batch, self.rtol, self.atol, self.records = int(batch), float(rtol), float(atol), bool(records)

    @property
    def options(self) -> dict:
        return {"method": "jump", "unraveling": "photon counting, every channel",
                "integrator": "DOPRI5 per trajectory, jump time on the dense output",
                "batch": self.batch, "rtol": self.rtol, "atol": self.atol}

    def run_group(self, problem: Problem, ids, seed: int) -> GroupSums:
        sums = GroupSums.zeros(problem)
        Ms, Lsets = [], []
        for a, b, H, Ls in problem.segments:
            Heff = sp.csr_matrix(H, dtype=complex)
            for L in Ls:
                Heff = Heff - 0.5j * (L.conj().T @ L)
            M = sp.csr_matrix(-1j * Heff)
            M.eliminate_zeros()
            M.sort_indices()
            Ms.append(M)
            Lsets.append(Ls)
        idx, tgt = _sectors(problem, Ms, Lsets[0])
        gens = [_restrict(M, idx) for M in Ms]
        if any(g is None for g in gens):  # sectors that need CSR: integrate on the whole space
            idx, tgt = np.arange(problem.D)[None], np.zeros((len(Lsets[0]), 1), np.int64)
            gens = [_restrict(M, idx) for M in Ms]
        ops = [(seg[1], g, _split(sp.vstack(Ls, format="csr")) + _restrict_jumps(Ls, idx, tgt), len(Ls))
               for seg, g, Ls in zip(problem.segments, gens, Lsets)]
        # a real generator, real jump operators and real initial states keep every state real
        cplx = bool(np.any(np.imag(problem.psi0) != 0)
                    or any(np.any(M.data.imag != 0) for M in Ms)
                    or any(np.any(L.data.imag != 0) for Ls in Lsets for L in Ls))
        ids = np.asarray(ids, dtype=np.int64)
        # the block's states at the output times are kept until the block is summed: cap them
        # at _BLOCK_BYTES (results do not depend on the batch size)
        batch = max(1, min(self.batch, _BLOCK_BYTES // (16 * len(problem.t) * problem.D)))
        for start in range(0, ids.size, batch):
            states, nj, recs, steps = self._block(problem, ops, idx, tgt, ids[start:start + batch], seed, cplx)
            sums.add_states(states)
            for k in range(nj.shape[0]):
                sums.counts += nj[k]
            sums.records.extend(recs)
            sums.steps += int(steps[:, 0].sum())
            sums.rejected += int(steps[:, 1].sum())
        return sums

    def _block(self, problem, ops, idx, tgt, ids, seed, cplx):
        t = problem.t
        B, D, nt = ids.size, problem.D, len(t)
        Dh = idx.shape[1]
        gens = [rng(seed, k) for k in ids]
        psi = np.stack([initial_state(problem, g) for g in gens])  # (B, D)
        sec = np.zeros(B, np.int64)
        Y = np.zeros((B, Dh), complex)  # row c: trajectory c on its sector
        for c in range(B):
            if idx.shape[0] > 1:
                sec[c] = 0 if np.any(psi[c, idx[0][idx[0] >= 0]] != 0) else 1
            x = idx[sec[c]]
            Y[c, x >= 0] = psi[c, x[x >= 0]]
        Yr, Yi = np.ascontiguousarray(Y.real), np.ascontiguousarray(Y.imag)
        rthr = np.array([g.random() for g in gens])
        U = np.stack([g.random(_NRAND) for g in gens])
        upos = np.zeros(B, np.int64)
        out = np.zeros((B, nt, D), complex)
        out[:, 0] = psi
        iout = np.ones(B, np.int64)
        tcol = np.full(B, float(t[0]))
        hprop = np.full(B, _H0)
        eold = np.full(B, 1e-4)
        Fr, Fi = np.zeros((B, Dh)), np.zeros((B, Dh))
        fresh = np.zeros(B, np.bool_)
        n_ch = ops[0][3]
        njumps = np.zeros((B, n_ch), np.int64)
        jt, jc = np.empty((B, _NRAND // 2)), np.empty((B, _NRAND // 2), np.int64)
        nrec = np.zeros(B, np.int64)
        nsteps = np.zeros((B, 2), np.int64)
        rec_t = [[] for _ in range(B)]
        rec_c = [[] for _ in range(B)]
        for b, Mops, Lops, _ in ops:
            fresh[:] = False  # a new segment has a new generator
            while True:
                _advance(*Mops, idx, tgt, *Lops, n_ch, Yr, Yi, Fr, Fi, sec, fresh, tcol,
                         hprop, eold, rthr, U, upos, iout, t, float(b), self.rtol, self.atol, out, njumps,
                         jt, jc, nrec, nsteps, cplx)
                if self.records:
                    for c in np.flatnonzero(nrec):
                        rec_t[c].append(jt[c, : nrec[c]].copy())
                        rec_c[c].append(jc[c, : nrec[c]].copy())
                nrec[:] = 0
                need = np.flatnonzero((tcol < b) & (upos + 2 > _NRAND))
                if need.size == 0:
                    break
                for c in need:  # refill: keep the unused draws, continue the stream
                    U[c] = np.concatenate([U[c, upos[c]:], gens[c].random(upos[c])])
                    upos[c] = 0
        recs = []
        if self.records:
            for c in range(B):
                recs.append({
                    "jump_times": np.concatenate(rec_t[c]) if rec_t[c] else np.empty(0),
                    "jump_channels": np.concatenate(rec_c[c]) if rec_c[c] else np.empty(0, np.int64),
                })
        return out, njumps, recs, nsteps
