r"""Exact Lindblad solver of a few coupled DOPOs (issue 14): the truth the network samplers are
tested against at N = 2 and small truncations.

Mode order: s_0, p_0, s_1, p_1, ... (each spin's (signal, pump) pair, ``model``'s tensor order,
spin after spin); a basis index is qutip's ``tensor`` index over dims [Ns, Np, Ns, Np, ...].

Each spin carries the package's single-spin Hamiltonian and collapse operators
(``model.hamiltonian``, ``model.collapse_ops``, embedded with identities on the other spins), and
each edge i < j with J_ij != 0 one zero-temperature channel L_ij = sqrt(eta |J_ij|)
(a_i - sgn(J_ij) a_j) (``network.sde`` module docstring for its drift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import qutip

from .. import model
from ..checks import check_int
from ..errors import Refused
from ..exact import ATOL, RTOL, _segments, check_times
from .sde import _check_eta, _check_params, check_couplings
from .spins import spin_distribution_exact

__all__ = ["MAX_DIM", "network_operators", "charge", "NetworkExact"]

#: largest Hilbert-space dimension (Ns Np)^N the exact network solver accepts (density matrix D^2)
MAX_DIM = 2000


@dataclass(frozen=True)
class NetworkExact:
    """Exact network moments at the times ``t``.

    n : (len(t), N) <a_i^dag a_i>;  re_aa : (len(t), P) Re<a_i a_j> for ``pairs`` (P, 2), i < j;
    top_s, top_p : (len(t), N) populations of each spin's top signal / pump Fock level (a
    truncation check: small means converged);  spins : (len(t), 2^N) the joint distribution of the
    quadrature signs, P(sigma) = Tr[rho prod_i Theta(sigma_i x_i)] over the rows of
    ``spins.configurations(N)`` (``spins.spin_distribution_exact``).
    """

    t: np.ndarray
    n: np.ndarray
    pairs: np.ndarray
    re_aa: np.ndarray
    top_s: np.ndarray
    top_p: np.ndarray
    spins: np.ndarray


def _dense(J) -> np.ndarray:
    J = check_couplings(J)
    return np.asarray(J.toarray() if hasattr(J, "toarray") else J, dtype=float)


def _embed(op: qutip.Qobj, i: int, N: int, one: qutip.Qobj) -> qutip.Qobj:
    """A single-spin (signal, pump) operator acting on spin i of N."""
    return qutip.tensor([op if k == i else one for k in range(N)])


def _setup(params, J, eta, Ns, Np):
    p = _check_params(params)
    J = _dense(J)
    eta = _check_eta(eta)
    Ns = check_int("Ns", p.Ns if Ns is None else Ns, 2)
    Np = check_int("Np", p.Np if Np is None else Np, 2)
    N = J.shape[0]
    D = (Ns * Np) ** N
    if D > MAX_DIM:
        raise Refused(f"network exact: Hilbert dimension (Ns Np)^N = ({Ns} * {Np})^{N} = {D} exceeds "
                      f"{MAX_DIM}; lower Ns or Np (e.g. Ns 8, Np 4 at N = 2) or use network.sde.positive_p")
    return p.replace(Ns=Ns, Np=Np), J, eta, N


def _operators(p, J, eta, N, F=None):
    one = qutip.tensor(qutip.qeye(p.Ns), qutip.qeye(p.Np))
    H = sum(_embed(model.hamiltonian(p, F), i, N, one) for i in range(N))
    c_ops = [_embed(c, i, N, one) for i in range(N) for c in model.collapse_ops(p)]
    a = [_embed(model.signal_ops(p)[0], i, N, one) for i in range(N)]
    for i, j in zip(*np.triu_indices(N, 1)):
        if J[i, j] != 0 and eta > 0:
            c_ops.append(np.sqrt(eta * abs(J[i, j])) * (a[i] - np.sign(J[i, j]) * a[j]))
    return H, c_ops, a


def network_operators(params, J, eta, Ns: int | None = None, Np: int | None = None):
    """Hamiltonian and collapse operators of N coupled DOPOs (module docstring).

    Parameters
    ----------
    params : BatteryParams
        Per-spin model; ``F`` is ``params.F`` (use ``charge`` for t_off / ramps).
    J : (N, N) array or scipy.sparse
        Ising couplings (symmetric, zero diagonal).
    eta : float
        Coupling rate (>= 0); edges with J_ij = 0 or eta = 0 add no channel.
    Ns, Np : int, optional
        Fock dimensions per spin (default ``params.Ns``, ``params.Np``); refused (``Refused``) when
        (Ns Np)^N > ``MAX_DIM``.

    Returns
    -------
    H : qutip.Qobj
    c_ops : list of qutip.Qobj
        Per spin the single-spin ones, then one per edge i < j.
    a : list of qutip.Qobj
        The signal annihilators a_0 .. a_{N-1}.
    """
    p, J, eta, N = _setup(params, J, eta, Ns, Np)
    return _operators(p, J, eta, N)


def charge(params, J, eta, t, Ns: int | None = None, Np: int | None = None, *,
           rtol: float = RTOL, atol: float = ATOL) -> NetworkExact:
    """``qutip.mesolve`` of the network from the vacuum; F(t) piecewise constant (t_off, ramp) as in
    ``exact.charge``.  Moments are of operators (normal order: <a^dag a>, <a a>)."""
    p, J, eta, N = _setup(params, J, eta, Ns, Np)
    t = check_times(t)
    rho = qutip.tensor([model.vacuum(p)] * N)
    pairs = np.array(np.triu_indices(N, 1)).T.reshape(-1, 2)
    _, c_ops, a = _operators(p, J, eta, N)
    nums = [x.dag() * x for x in a]
    aas = [a[i] * a[j] for i, j in pairs]
    states = []
    for start, stop, F, t_seg in _segments(p, t):
        H = _operators(p, J, eta, N, F)[0]
        grid = np.unique(np.concatenate([[start], t_seg, [stop]]))
        res = qutip.mesolve(H, rho, grid, c_ops, options={"store_states": True, "atol": atol,
                                                          "rtol": rtol, "nsteps": 100000})
        states += [s for s, tt in zip(res.states, grid) if np.isin(tt, t_seg)]
        rho = res.states[-1]
    n = np.array([[qutip.expect(o, s) for o in nums] for s in states]).real
    re_aa = np.array([[qutip.expect(o, s) for o in aas] for s in states]).real.reshape(len(states), -1)
    top_s, top_p = np.empty((len(states), N)), np.empty((len(states), N))
    for k, s in enumerate(states):
        for i in range(N):
            d = np.real(s.ptrace([2 * i, 2 * i + 1]).full().diagonal()).reshape(p.Ns, p.Np)
            top_s[k, i], top_p[k, i] = d[-1].sum(), d[:, -1].sum()
    probs = np.array([spin_distribution_exact(s, N, (p.Ns, p.Np)) for s in states])
    return NetworkExact(t=t, n=n, pairs=pairs, re_aa=re_aa, top_s=top_s, top_p=top_p, spins=probs)
