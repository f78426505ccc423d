r"""Homodyne quantum trajectories of N coupled DOPOs (issue 14), for N = 2..3 at small truncations.

Model.  The master equation of ``network.exact`` (its operator builder, ``network.exact``'s
``_operators``, the one ``network_operators`` returns): per spin the single-spin Hamiltonian
(detuning, kappa term, pump F(t) with ``t_off`` / ramp, seed eps) and collapse operators
sqrt(gamma_s) a_i, sqrt(gamma_p) b_i (thermal ones where nth > 0), and per edge i < j with
J_ij != 0 the channel sqrt(eta |J_ij|) (a_i - sgn(J_ij) a_j).

Unraveling.  ``trajectories.homodyne.Homodyne`` (Taylor-4 drift + Milstein kick; its module
docstring has the scheme, its order and its step bounds) measures every channel at phase 0: the
signal channels record 2 sqrt(gamma_s) <x_i> dt + dW with x_i = (a_i + a_i^dag)/2, the edge channels
the in-phase quadrature of a_i - sgn(J_ij) a_j.  A shot's spin is sigma_i = sgn <x_i> of its
conditional state at t[-1] (an exact zero reads +1).  The ensemble average of the conditional states
is the master equation's solution, so n_i, Re<a_i a_j> and the quadrature-sign distribution
P(sigma) = Tr[rho prod_i Theta(sigma_i x_i)] (``network.spins``) converge to ``network.exact``'s.
The shot readout (sgn of a conditional mean) and P(sigma) (an ideal joint x measurement) differ in
general; they agree when the conditional states have settled in one lobe each.

Basis.  ``Problem`` splits its space into signal (x) other; here "signal" is the joint space of the
N signal modes and "other" that of the N pumps, so the runner's reduced state ``rho_s`` is the joint
signal state (Ns^N square; every observable above is a signal observable).  The signal basis is
sorted by the total photon number sum_i n_i (stable, so ties keep qutip's order over s_0, s_1, ...),
which makes the runner's ladder ``ladder_s`` = omega_s sum_i n_i ascending: its energy and ergotropy
are those of the network's joint signal state with H = omega_s sum_i a_i^dag a_i.  ``network_problem``
permutes ``network.exact``'s operators (modes s_0, p_0, s_1, p_1, ...) into this order; a ``psi0``
is given in ``network.exact``'s order.

Why no photon counting (jump) here.  With eps = 0 the total signal parity (-1)^(sum_i n_i) commutes
with H and every counting jump operator (a_i, b_i and a_i - sgn(J_ij) a_j each flip it or leave it),
so a counted trajectory started in the vacuum stays in a parity eigenstate, where <x_i> = 0 exactly
(x_i is parity-odd): counting shots carry no spin readout.  Their ensemble average is the same master
equation as homodyne's, so counting adds nothing the exact solver or homodyne do not give here.
(A seed eps != 0 breaks the parity, but then the seed, not the shot, picks the phase.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ..ensemble import jackknife, run
from ..errors import ResourceError
from ..problem import GroupSums, Problem, check_group_args
from ..resources import MEMORY_FRACTION, available_memory
from ..trajectories.homodyne import Homodyne
from ..truncation import TRUNC_TOL, assess, check_tol, disabled, enforce
from .sde import _check_eta, _check_params, check_couplings

__all__ = ["MAX_DIM", "network_problem", "NetworkHomodyne", "NetworkHomodyneResult", "homodyne"]

#: largest Hilbert dimension (Ns Np)^N of one trajectory (N = 3 at Ns 6, Np 3 is 5832: measured
#: ~0.35 s per trajectory and unit time at dt = 0.01 on a loaded 2-core machine; cost ~ D / dt)
MAX_DIM = 20000
#: bytes per stored sparse entry (complex value, int32 column, plus row pointers: rounded up) times
#: the copies alive while the operators are built and converted (qutip, CSR, permuted, kernel form)
_BYTES_PER_NNZ = 32 * 4


def _dense(J) -> np.ndarray:
    J = check_couplings(J)
    return np.asarray(J.toarray() if hasattr(J, "toarray") else J, dtype=float)


def _nnz_estimate(p, N: int, n_edges: int, n_segments: int) -> float:
    """Stored entries of the generators: per spin and row <= 7 in H (a^dag a, a^2 b^dag, a^dag2 b,
    b, b^dag, a, a^dag) and 1 per collapse operator; 2 per edge channel and row; H (and the
    drift A = -iH - sum L^dag L / 2, ~2 x H) per pump segment."""
    D = float(p.Ns * p.Np) ** N
    n_c = N * (2 + (p.nth_s > 0) + (p.nth_p > 0))
    return D * (3 * 7 * N * n_segments + n_c + 2 * n_edges)


def _check_size(p, N: int, n_edges: int, n_segments: int) -> None:
    """ResourceError when (Ns Np)^N > MAX_DIM or the operators would not fit in memory."""
    D = (p.Ns * p.Np) ** N
    if D > MAX_DIM:
        fit = int(math.floor(MAX_DIM ** (1.0 / N) + 1e-9))
        raise ResourceError(
            f"Ns, Np: the network trajectory state has (Ns Np)^N = ({p.Ns} * {p.Np})^{N} = {D} > {MAX_DIM} "
            f"entries; use Ns * Np <= {fit} at N = {N} (e.g. Ns {max(2, fit // max(p.Np, 2))}, "
            f"Np {min(p.Np, max(2, fit // 2))}) or the network phase-space samplers (network.sde)")
    need = _nnz_estimate(p, N, n_edges, n_segments) * _BYTES_PER_NNZ
    have = MEMORY_FRACTION * available_memory()
    if need > have:
        raise ResourceError(
            f"Ns, Np: the network operators need ~{need / 2**30:.3g} GiB ({n_segments} pump segments), "
            f"more than {have / 2**30:.3g} GiB available; use a smaller Ns / Np or fewer ramp pieces")


def _basis(Ns: int, Np: int, N: int):
    """(perm, order_s, photons): the problem's basis index m = k Np^N + q (k: joint signal state in
    total-photon order, q: joint pump state) is ``network.exact``'s index perm[m]; ``order_s[k]``
    is k's lexicographic (s_0, s_1, ...) index; ``photons[k]`` = sum_i n_i of state k (ascending)."""
    sd = np.array(np.unravel_index(np.arange(Ns ** N), (Ns,) * N))  # (N, Ns^N)
    order_s = np.argsort(sd.sum(axis=0), kind="stable")
    pd = np.array(np.unravel_index(np.arange(Np ** N), (Np,) * N))
    digits = []
    for i in range(N):
        digits += [np.repeat(sd[i, order_s], Np ** N), np.tile(pd[i], Ns ** N)]
    perm = np.ravel_multi_index(tuple(digits), (Ns, Np) * N)
    return perm, order_s, sd.sum(axis=0)[order_s]


def _permuted(op, perm) -> sp.csr_matrix:
    from ..problem import _csr

    m = _csr(op)[perm][:, perm].tocsr()
    m.sort_indices()
    return m


def _channel_names(p, J, eta, N) -> tuple:
    from ..problem import _names

    one = _names(p, [("signal", p.gamma_s, p.nth_s), ("pump", p.gamma_p, p.nth_p)])
    names = [f"spin {i} {c}" for i in range(N) for c in one]
    if eta > 0:
        names += [f"edge {i}-{j}" for i, j in zip(*np.triu_indices(N, 1)) if J[i, j] != 0]
    return tuple(names)


def network_problem(params, J, eta, t, psi0=None) -> Problem:
    """The network's charging master equation as a :class:`~cimqb_traj.problem.Problem`.

    Parameters
    ----------
    params : BatteryParams
        Per-spin model and truncation (``Ns``, ``Np`` per spin); F(t) with ``t_off`` / ``t_ramp``
        (piecewise constant: one segment per pump value, as ``network.exact.charge``).
    J : (N, N) array or scipy.sparse
        Ising couplings (symmetric, zero diagonal).
    eta : float
        Edge coupling rate (>= 0).
    t : array
        Output times.
    psi0 : ket, optional
        Initial pure state in ``network.exact``'s mode order (s_0, p_0, s_1, p_1, ...): a vector of
        length (Ns Np)^N or a ``qutip.Qobj``; default the vacuum.

    Returns
    -------
    Problem with dims (Ns^N, Np^N) (module docstring: joint signal (x) joint pump, the signal basis
    in total-photon order), channels per spin then per edge, ``info`` with ``params``, ``J``,
    ``eta``, ``N``, ``order_s``.

    Raises
    ------
    ResourceError
        (Ns Np)^N > ``MAX_DIM`` or the sparse operators would not fit in memory (says what fits).
    """
    from ..exact import _segments, check_times
    from ..problem import _ket
    from .exact import _operators

    p = _check_params(params)
    J = _dense(J)
    eta = _check_eta(eta)
    N = J.shape[0]
    t = check_times(t, "t")
    segs = list(_segments(p, t))
    n_edges = int(np.count_nonzero(np.triu(J, 1))) if eta > 0 else 0
    _check_size(p, N, n_edges, len(segs))
    Ns, Np = p.Ns, p.Np
    D = (Ns * Np) ** N
    perm, order_s, photons = _basis(Ns, Np, N)
    _, c_ops, _ = _operators(p, J, eta, N, 0.0)
    Ls = tuple(_permuted(L, perm) for L in c_ops)
    segments = tuple((a, b, _permuted(_operators(p, J, eta, N, F)[0], perm), Ls) for a, b, F, _ in segs)
    v = np.zeros(D, complex)
    v[0] = 1.0  # the vacuum is index 0 in both orders
    if psi0 is not None:
        v = _ket(psi0, D, "psi0")[perm]
    return Problem(t=t, segments=segments, dims=(Ns ** N, Np ** N), psi0=v[None], p0=np.ones(1),
                   channels=_channel_names(p, J, eta, N), signal_channel=0,
                   ladder_s=photons * p.omega_s, ladder_o=None, kind="charge",
                   info={"params": p, "J": J, "eta": eta, "N": N, "order_s": order_s},
                   parity=None if p.eps else np.repeat((-1.0) ** photons, Np ** N))


def _signal_ops(problem: Problem):
    """a_i on the joint signal space (problem order), i = 0..N-1, as CSR (Ns^N square)."""
    N, order = problem.info["N"], problem.info["order_s"]
    Ns = problem.info["params"].Ns
    a = sp.diags(np.sqrt(np.arange(1, Ns)), 1, shape=(Ns, Ns))
    one = sp.identity(Ns)
    out = []
    for i in range(N):
        m = sp.csr_matrix(np.ones((1, 1)))
        for k in range(N):
            m = sp.kron(m, a if k == i else one, format="csr")
        out.append(m[order][:, order].tocsr())
    return out


class NetworkHomodyne(Homodyne):
    """``Homodyne`` at phase 0 on every channel of a ``network_problem``, with per-shot records.

    ``run_group`` is ``Homodyne.run_group`` (same plan, operators, integrator ``_integrate``, seeds:
    trajectory k uses ``rng(seed, k)`` alone) with the network's per-trajectory record in place of
    the single-spin one: ``{"x": (nt, N)}`` the conditional <x_i>(t), x_i = (a_i + a_i^dag)/2
    (``records=True``), else ``{"x": (1, N)}`` at t[-1] only (the shot's spins).  ``reduce`` (the
    runner's hook) turns the group sums into a :class:`NetworkHomodyneResult`.

    Parameters
    ----------
    dt, scheme, batch : see ``Homodyne``
    records : bool
        Keep every shot's conditional <x_i>(t).
    """

    name = "homodyne"

    def __init__(self, *, dt=1e-3, scheme="milstein", batch=32, records=False):
        super().__init__(0.0, dt=dt, heterodyne=False, scheme=scheme, batch=batch, records=records)

    @property
    def options(self) -> dict:
        return {**super().options, "phases": "every channel (signals, pumps, edges) at 0", "network": True}

    def __repr__(self) -> str:
        return (f"NetworkHomodyne(dt={self.dt!r}, scheme={self.scheme!r}, batch={self.batch}, "
                f"records={self.records})")

    def run_group(self, problem: Problem, ids, seed: int) -> GroupSums:
        """Integrate trajectories ``ids``; sums of their joint signal / pump states and the shots'
        <x_i> records (trajectory order)."""
        ids = check_group_args(problem, ids, seed)
        if "order_s" not in problem.info:
            raise ValueError("problem must be a network_problem (info has no 'order_s')")
        sums = GroupSums.zeros(problem)
        if ids.size == 0:
            return sums
        No = problem.dims[1]
        X = [0.5 * (a + a.T) for a in _signal_ops(problem)]  # real symmetric, on the signal factor
        for block, out, _ in self._batches(problem, sums, ids, seed):
            keep = out if self.records else out[:, -1:]
            M = keep.reshape(keep.shape[0], keep.shape[1], -1, No)  # (B, nt, Ns^N, Np^N)
            x = np.stack([_expect_signal(Xi, M) for Xi in X], axis=-1)  # (B, nt or 1, N)
            for b in range(len(block)):
                sums.records.append({"x": x[b]})
        return sums

    def reduce(self, problem: Problem, parts, res) -> "NetworkHomodyneResult":
        """The runner's hook: network moments, P(sigma) and the shots' spins from the group sums."""
        return _network_result(problem, parts, res, self.records)


def _expect_signal(X: sp.csr_matrix, M: np.ndarray) -> np.ndarray:
    """<psi| X (x) 1 |psi> for states M (B, nt, Ns^N, Np^N) and a real symmetric signal operator X."""
    B, nt, S, No = M.shape
    flat = np.moveaxis(M, 2, 0).reshape(S, -1)  # (S, B nt No)
    XM = (X @ flat).reshape(S, B, nt, No)
    return np.einsum("sbtq,sbtq->bt", np.moveaxis(M, 2, 0).conj(), XM).real


@dataclass(frozen=True, eq=False)
class NetworkHomodyneResult:
    """Network moments from homodyne trajectories, with delete-one-group jackknife errors.

    ``n`` (nt, N): <a_i^dag a_i>; ``re_aa`` (nt, P): Re<a_i a_j> for ``pairs`` (P, 2), i < j (normal
    order: moments of operators); ``configs`` (2^N, N) int8 (``network.spins.configurations``) and
    ``p_sign`` (nt, 2^N): the ensemble's P(sigma) = Tr[rho prod_i Theta(sigma_i x_i)];
    ``spins`` (ntraj, N) int8: each shot's sgn <x_i> at t[-1] (an exact zero reads +1);
    ``x`` (ntraj, nt, N): each shot's conditional <x_i>(t), x_i = (a_i + a_i^dag)/2, with
    ``records=True`` (else None); ``energy``, ``W``, ``W_c``, ``W_i``: energy and ergotropy (parts)
    of the joint signal state for H = omega_s sum_i a_i^dag a_i (``W_bc``: jackknife bias-corrected);
    ``top_s``, ``top_p`` (nt, N): each spin's top signal / pump Fock populations; ``truncation``:
    the verdict dict (``truncation.assess``: top-level populations, no rerun); ``work``: the network
    battery per spin (``network.battery.NetworkWork``: energy, W, W_c, W_i of each spin's reduced
    signal state and their sums over spins, jackknife errors).
    """

    params: object
    J: np.ndarray
    eta: float
    t: np.ndarray
    method: str
    options: dict
    n: np.ndarray
    n_err: np.ndarray
    pairs: np.ndarray
    re_aa: np.ndarray
    re_aa_err: np.ndarray
    configs: np.ndarray
    p_sign: np.ndarray
    p_sign_err: np.ndarray
    spins: np.ndarray
    x: np.ndarray | None
    energy: np.ndarray
    energy_err: np.ndarray
    W: np.ndarray
    W_err: np.ndarray
    W_bc: np.ndarray
    W_c: np.ndarray
    W_i: np.ndarray
    top_s: np.ndarray
    top_p: np.ndarray
    ntraj: int
    seed: int
    groups: int
    interrupted: bool
    truncation: dict | None = None
    work: object = None

    @property
    def N(self) -> int:
        return self.n.shape[1]

    def __repr__(self) -> str:
        return (f"NetworkHomodyneResult(N={self.N}, ntraj={self.ntraj}, Ns={self.params.Ns}, "
                f"Np={self.params.Np}, eta={self.eta:g}, t=[{self.t[0]:g}..{self.t[-1]:g}], "
                f"n(t_end)={np.round(self.n[-1], 4).tolist()})")


def _spin_work(parts, n, order, N: int, Ns: int, problem: Problem):
    """Per-spin energy, W, W_c, W_i of the reduced signal states (``network.battery.NetworkWork``),
    jackknife errors over the groups: each group's joint signal sum is traced down to each spin
    (the joint basis is sorted by total photon number: ``order`` maps it to the (Ns,)^N grid)."""
    from ..ergotropy import ergotropy_parts
    from .battery import NetworkWork

    letters = "abcdefghij"[:N]

    def reduced(rho):  # (nt, D, D) in the sorted basis -> (nt, N, Ns, Ns)
        nat = np.zeros_like(rho)
        nat[:, order[:, None], order[None, :]] = rho
        nat = nat.reshape((rho.shape[0],) + (Ns,) * (2 * N))
        out = []
        for i in range(N):
            col = "".join("z" if k == i else c for k, c in enumerate(letters))
            out.append(np.einsum(f"t{letters}{col}->t{letters[i]}z", nat))
        return np.stack(out, axis=1)

    S = np.stack([reduced(q.rho_s) for q in parts])  # (G, nt, N, Ns, Ns) group sums
    ladder = problem.info["params"].omega_s * np.arange(Ns)

    def fun(means):  # (K, nt, N, Ns, Ns) -> (K, 4, nt, N + 1), the last column the sum over spins
        e = ergotropy_parts(means, ladder)
        q = np.stack([e.energy, e.W, e.W_c, e.W_i], axis=1)
        return np.concatenate([q, q.sum(-1, keepdims=True)], axis=-1)

    est, err, _ = jackknife(S, n, fun)
    kw = {}
    for k, name in enumerate(("energy", "W", "W_c", "W_i")):
        kw[name], kw[name + "_err"] = est[k, :, :N], err[k, :, :N]
        kw[name + "_total"], kw[name + "_total_err"] = est[k, :, N], err[k, :, N]
    return NetworkWork(t=np.asarray(problem.t, float), method="homodyne",
                       omega=float(problem.info["params"].omega_s), **kw)


def _network_result(problem: Problem, parts, res, records: bool) -> NetworkHomodyneResult:
    """Linear functionals Tr[rho O] of the joint signal state, per group, then the jackknife."""
    from .spins import configurations, sign_projector

    info = problem.info
    p, N, order = info["params"], info["N"], info["order_s"]
    Ns, Np = p.Ns, p.Np
    n = np.array([q.n for q in parts], dtype=float)
    digits = np.array(np.unravel_index(order, (Ns,) * N))  # (N, Ns^N): n_i of each signal state
    a = [m.toarray() for m in _signal_ops(problem)]
    pairs = np.array(np.triu_indices(N, 1)).T.reshape(-1, 2)
    T = sign_projector(Ns)
    proj = (T, np.eye(Ns) - T)
    configs = configurations(N)
    ops = [a[i] @ a[j] for i, j in pairs]
    for sigma in configs:
        P = np.ones((1, 1))
        for s in sigma:
            P = np.kron(P, proj[0] if s > 0 else proj[1])
        ops.append(P[np.ix_(order, order)])
    # group by group: no stacked copy of the G group sums (G nt Ns^2N complex numbers)
    ops = np.array(ops)
    lin = np.stack([np.einsum("tkl,olk->to", q.rho_s, ops) for q in parts])  # (G, nt, P + 2^N)
    occ = np.stack([np.einsum("tkk,ik->ti", q.rho_s, digits).real for q in parts])  # (G, nt, N)
    est = lambda S: jackknife(S, n, lambda x: x)[:2]  # noqa: E731 (linear: estimate, error)
    n_i, n_e = est(occ)
    aa, aa_e = est(lin[..., :len(pairs)].real)
    ps, ps_e = est(lin[..., len(pairs):].real)
    # per-spin top Fock populations: marginals of the joint signal / pump diagonals
    top_s = np.stack([res.rho_s.diagonal(axis1=1, axis2=2).real[:, digits[i] == Ns - 1].sum(axis=1)
                      for i in range(N)], axis=1)
    pd = np.array(np.unravel_index(np.arange(Np ** N), (Np,) * N))
    rho_o_diag = np.sum([q.rho_o.diagonal(axis1=1, axis2=2).real for q in parts], axis=0) / n.sum()
    top_p = np.stack([rho_o_diag[:, pd[i] == Np - 1].sum(axis=1) for i in range(N)], axis=1)
    work = _spin_work(parts, n, order, N, Ns, problem)
    x = np.stack([r["x"] for r in res.records])  # (ntraj, nt or 1, N)
    spins = np.where(x[:, -1] < 0, -1, 1).astype(np.int8)
    return NetworkHomodyneResult(
        params=p, J=info["J"], eta=info["eta"], t=problem.t, method="homodyne", options=res.options,
        n=n_i, n_err=n_e, pairs=pairs, re_aa=aa, re_aa_err=aa_e, configs=configs, p_sign=ps,
        p_sign_err=ps_e, spins=spins, x=x if records else None, energy=res.energy,
        energy_err=res.energy_err, W=res.W, W_err=res.W_err, W_bc=res.W_bc, W_c=res.W_c, W_i=res.W_i,
        top_s=top_s, top_p=top_p, ntraj=res.ntraj, seed=res.seed, groups=res.groups,
        interrupted=res.interrupted, work=work)


def homodyne(params, J, eta, t, ntraj, seed, *, n_jobs=1, scheduler=None, groups=20, dt=1e-3,
             records=False, psi0=None, scheme="milstein", batch=32, progress=None,
             trunc_tol=TRUNC_TOL) -> NetworkHomodyneResult:
    """Homodyne trajectories of the network (module docstring) through the ensemble runner.

    Parameters
    ----------
    params, J, eta, t, psi0 : see :func:`network_problem`
    ntraj, seed : int
        Trajectory k uses ``SeedSequence(seed, spawn_key=(k,))``; results are bitwise the same for
        any ``n_jobs`` or ``scheduler``.
    n_jobs : int
        Worker processes (joblib loky; with ``scheduler`` the Dask backend).
    scheduler : str or dask.distributed.Client, optional
        Run on a Dask cluster (``ensemble.run``'s ``backend="dask"``).
    groups : int
        Jackknife groups (the unit of parallel work).
    dt, scheme, batch : see ``trajectories.homodyne.Homodyne``
    records : bool
        Keep every shot's conditional <x_i>(t) (``result.x``, (ntraj, nt, N) floats).
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    trunc_tol : float or None
        Truncation guard: each spin's top signal / pump Fock population must stay below
        ``truncation.TOP_LEVEL`` (refused otherwise, ``TruncationError``); 0 or None disables it.
        No rerun at a smaller truncation is made (compare ``network.exact`` at N = 2).

    Returns
    -------
    NetworkHomodyneResult
    """
    tol = check_tol(trunc_tol)
    problem = network_problem(params, J, eta, t, psi0)
    if not problem.channels:
        raise ValueError("gamma_s, gamma_p, eta: all zero, so the network has no output channel to measure; "
                         "homodyne needs at least one (use network.exact for closed dynamics)")
    method = NetworkHomodyne(dt=dt, scheme=scheme, batch=batch, records=records)
    backend = "loky" if scheduler is None else "dask"
    res = run(method, problem, ntraj, seed, groups=groups, n_jobs=n_jobs, backend=backend,
              scheduler=scheduler, progress=progress)
    if tol:
        verdict = assess(tol, "top-level populations of every spin (no rerun at a smaller truncation)", None,
                         top_s=res.top_s, top_p=res.top_p)
    else:
        verdict = disabled(res.top_s, res.top_p)
    res = replace(res, truncation=verdict)
    enforce(res.truncation, res)
    return res
