r"""What every ensemble method integrates, and the per-group sums it returns.

A :class:`Problem` is a master equation

    d rho/dt = -i [H(t), rho] + sum_j D[L_j] rho

with piecewise-constant generators (``segments``: no step may cross a segment end, e.g. the
pump switch-off), on a bipartite space signal (x) other (pump, or the two-level load) with the
state index ``i_s * No + i_o`` (qutip's ``tensor`` order), an initial state
``rho0 = sum_k p0[k] |psi0[k]><psi0[k]|`` (a pure state is K = 1) and output times ``t``.
``charge_problem`` and ``discharge_problem`` build the charging and discharge problems of
``exact.charge`` / ``exact.discharge``.

Who uses it.  Every method the ensemble runner (``cimqb_traj.ensemble``) drives takes a
Problem and turns the trajectories or samples ``ids`` of it into a :class:`GroupSums`: the
*sums* over them of the reduced states and observables at the output times.  The quantum
trajectories (``trajectories.jump.Jump``, ``trajectories.homodyne.Homodyne``) unravel the
problem's generators; the moving displaced-Fock basis (``trajectories.moving.Moving``) does the
same in a basis of its own and adds its bookkeeping to the sums; the phase-space samplers
(``phasespace.MeanField``, ``PositiveP``, ``Wigner``) read the model parameters from
``problem.info`` and the initial amplitudes from ``psi0``, and return Fock-estimator sums of the
same shape.  The runner hands each method contiguous groups of indices, so a group's sums, and
hence every result, do not depend on how the groups are spread over processes, threads or a
Dask cluster.  (What only the trajectories share, drawing a trajectory's initial pure state,
is in ``cimqb_traj.trajectories.base``.)

Seeds: trajectory (or sample) k of a run with seed s uses
``numpy.random.SeedSequence(s, spawn_key=(k,))`` (= ``SeedSequence(s).spawn(n)[k]``) and nothing
else (``rng``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .params import BatteryParams, LoadParams

__all__ = ["Problem", "GroupSums", "check_group_args", "rng", "charge_problem", "discharge_problem"]


@dataclass(frozen=True, eq=False)
class Problem:
    """A master equation to unravel (see the module docstring).

    ``segments``: tuple of ``(start, stop, H, Ls)`` with ``H`` a complex CSR matrix and ``Ls`` a
    tuple of CSR collapse operators (same channels in every segment).  ``channels`` names them;
    ``signal_channel`` is the index of the signal's output (sqrt(gamma_s (n_s+1)) a_s), the one a
    homodyne unraveling measures at phase theta.  ``ladder_s`` / ``ladder_o``: energies of the
    signal and of the other factor's basis states (for ergotropy; ``ladder_o`` None: not computed).
    ``parity``: +-1 per basis state, a parity the model conserves (signal parity for charging,
    total excitation parity for the discharge), or None; methods may use it to integrate a
    trajectory on one parity sector.
    """

    t: np.ndarray
    segments: tuple
    dims: tuple
    psi0: np.ndarray
    p0: np.ndarray
    channels: tuple
    signal_channel: int
    ladder_s: np.ndarray
    ladder_o: np.ndarray | None = None
    kind: str = "charge"
    info: dict = field(default_factory=dict)
    parity: np.ndarray | None = None

    @property
    def D(self) -> int:
        return self.dims[0] * self.dims[1]


@dataclass
class GroupSums:
    """Sums over one group of ``n`` trajectories, at every output time.

    ``rho_s`` (nt, Ns, Ns) and ``rho_o`` (nt, No, No): sums of the reduced (normalised) states;
    ``counts`` (n_channels,): total jumps per channel (zeros for diffusive channels);
    ``records``: per-trajectory records in trajectory order (only when asked for);
    ``steps``: integrator steps taken (attempts, summed over the trajectories), ``rejected`` of them.
    """

    n: int
    rho_s: np.ndarray
    rho_o: np.ndarray
    counts: np.ndarray
    records: list = field(default_factory=list)
    steps: int = 0
    rejected: int = 0

    @classmethod
    def zeros(cls, problem: Problem) -> "GroupSums":
        nt, (Ns, No) = len(problem.t), problem.dims
        return cls(0, np.zeros((nt, Ns, Ns), complex), np.zeros((nt, No, No), complex),
                   np.zeros(len(problem.channels)))

    def add_states(self, states: np.ndarray) -> None:
        """Add trajectories' normalised states (B, nt, D), one trajectory after the other (a
        fixed summation order, so the sums do not depend on how trajectories were batched)."""
        Ns, No = self.rho_s.shape[-1], self.rho_o.shape[-1]
        M = states.reshape(states.shape[0], states.shape[1], Ns, No)
        rs = M @ np.swapaxes(M, -1, -2).conj()
        ro = np.swapaxes(M, -1, -2) @ M.conj()
        for k in range(states.shape[0]):
            self.rho_s += rs[k]
            self.rho_o += ro[k]
        self.n += states.shape[0]


def check_group_args(problem, ids, seed, unit: str = "trajectory") -> np.ndarray:
    """The arguments of a method's ``run_group``: a Problem, a 1-D integer array of indices and a
    non-negative integer seed (ValueError naming the argument otherwise); returns ``ids`` as an array."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a Problem, got {type(problem).__name__}")
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D array of {unit} indices")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return ids


def rng(seed: int, k: int) -> np.random.Generator:
    """The random stream of trajectory ``k``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(k),))))


def _csr(op) -> sp.csr_matrix:
    # A Qobj goes to CSR without a dense copy: op.full() of a 56000-dim operator is 47 GiB.
    m = sp.csr_matrix(op.to("csr").data.as_scipy() if hasattr(op, "to") else op, dtype=complex, copy=True)
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _ket(psi, D: int, name: str) -> np.ndarray:
    v = np.asarray(psi.full() if hasattr(psi, "full") else psi, dtype=complex).ravel()
    if v.size != D:
        raise ValueError(f"{name} must be a vector of length {D}, got {v.size}")
    nv = np.linalg.norm(v)
    if not np.isfinite(nv) or nv == 0:
        raise ValueError(f"{name} must be a finite non-zero vector")
    return v / nv


def _names(p: BatteryParams, modes) -> tuple:
    names = []
    for mode, gamma, nth in modes:
        if gamma * (nth + 1) > 0:
            names.append(f"{mode} loss")
        if gamma * nth > 0:
            names.append(f"{mode} gain")
    return tuple(names)


def charge_problem(params: BatteryParams, t, psi0=None) -> Problem:
    """The charging master equation of ``exact.charge`` (pump switch-off included); initial state
    ``psi0`` (a ket on signal (x) pump; default the vacuum)."""
    from . import model  # qutip: imported here, not in the trajectory workers
    from .exact import _segments, check_times

    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    t = check_times(t, "t")
    Ns, Np = params.Ns, params.Np
    D = Ns * Np
    if psi0 is None:
        v = np.zeros(D, complex)
        v[0] = 1.0
    else:
        v = _ket(psi0, D, "psi0")
    Ls = tuple(_csr(L) for L in model.collapse_ops(params))
    segs = tuple((a, b, _csr(model.hamiltonian(params, F)), Ls) for a, b, F, _ in _segments(params, t))
    channels = _names(params, [("signal", params.gamma_s, params.nth_s), ("pump", params.gamma_p, params.nth_p)])
    return Problem(t=t, segments=segs, dims=(Ns, Np), psi0=v[None], p0=np.ones(1), channels=channels,
                   signal_channel=0, ladder_s=np.arange(Ns) * params.omega_s,
                   ladder_o=np.arange(Np) * 2 * params.omega_s, kind="charge", info={"params": params},
                   parity=None if params.eps else np.repeat((-1.0) ** np.arange(Ns), Np))


def discharge_problem(params: BatteryParams, load: LoadParams, t, rho_s0, t0: float = 0.0) -> Problem:
    """The discharge master equation of ``exact.discharge`` (signal (x) two-level load), from
    rho_s0 (x) |g><g|.  The mixed initial state is unravelled by its eigen-decomposition: a
    trajectory starts in eigenvector k with probability lambda_k (eigenvalues below 1e-14 of
    the largest are dropped; the dropped weight is in ``info['dropped_weight']``).  ``t`` is the
    time since the load was connected (at ``t0``, kept for the record)."""
    from . import model
    from .exact import check_times

    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    if not isinstance(load, LoadParams):
        raise ValueError(f"load must be a LoadParams, got {type(load).__name__}")
    t = check_times(t, "t")
    rho = np.asarray(rho_s0.full() if hasattr(rho_s0, "full") else rho_s0, dtype=complex)
    Ns = rho.shape[0]
    if rho.shape != (Ns, Ns) or Ns < 2:
        raise ValueError(f"rho_s0 must be a square matrix of size >= 2, got shape {rho.shape}")
    if not np.all(np.isfinite(rho)) or not np.allclose(rho, rho.conj().T, atol=1e-10):
        raise ValueError("rho_s0 must be a finite Hermitian matrix")
    rho = 0.5 * (rho + rho.conj().T)
    odd = np.arange(Ns) % 2 == 1
    if np.all(rho[np.ix_(odd, ~odd)] == 0):
        # block-diagonal in signal parity (every state charged from the vacuum): decompose each
        # block, so every initial state is a parity eigenstate even with degenerate eigenvalues
        lam, vec = np.zeros(Ns), np.zeros((Ns, Ns), complex)
        for blk in (np.flatnonzero(~odd), np.flatnonzero(odd)):
            l, v = np.linalg.eigh(rho[np.ix_(blk, blk)])
            lam[blk] = l
            vec[np.ix_(blk, blk)] = v
    else:
        lam, vec = np.linalg.eigh(rho)
    if lam.min() < -1e-8 * lam.max():
        raise ValueError(f"rho_s0 must be positive semi-definite (smallest eigenvalue {lam.min():.3g})")
    keep = lam > 1e-14 * lam.max()
    p0 = lam[keep] / lam.sum()
    psi0 = np.zeros((int(keep.sum()), 2 * Ns), complex)
    psi0[:, 0::2] = vec[:, keep].T  # load in |g> (index 0 of the load factor)
    Ls = tuple(_csr(L) for L in model.load_collapse_ops(Ns, params, load))
    H = _csr(model.load_hamiltonian(Ns, load))
    channels = _names(params, [("signal", params.gamma_s, params.nth_s)])
    if load.gamma_a > 0:
        channels += ("load decay",)
    return Problem(t=t, segments=((t[0], t[-1], H, Ls),), dims=(Ns, 2), psi0=psi0, p0=p0,
                   channels=channels, signal_channel=0, ladder_s=np.arange(Ns) * load.omega_s,
                   ladder_o=np.array([0.0, load.omega_a]), kind="discharge",
                   info={"params": params, "load": load, "t0": float(t0), "dropped_weight": float(lam[~keep].sum())},
                   parity=np.repeat((-1.0) ** np.arange(Ns), 2) * np.tile([1.0, -1.0], Ns))
