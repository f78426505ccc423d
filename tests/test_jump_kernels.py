"""Deterministic checks of the photon-counting kernels (``trajectories._jump_kernels``): with every
jump threshold at 0 no trajectory jumps, and its normalised state must be the no-jump evolution
exp(-i H_eff t) psi0 / ||.|| of the full space (scipy's expm_multiply), to the integrator's
tolerance.  Any error in a sparse product, a stage sum, the sector restriction or the output
reduction shows up at O(1), far above that tolerance; the statistical tests cannot see a 30 %
error in one diagonal of the generator (it moves n_s by ~2 standard errors at their sizes)."""

import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import expm_multiply

from cimqb_traj import BatteryParams
from cimqb_traj.problem import charge_problem
from cimqb_traj.trajectories.jump import Jump

SMALL = BatteryParams(Ns=8, Np=5, F=1.2, kappa=0.7, gamma_p=6)
T = np.linspace(0.0, 2.0, 5)
# DOPRI5 at rtol = atol = 1e-10 per step, ~500 steps to t = 2: global error well below 1e-7
TOL = 1e-7


class _NoJumps:
    """Stands in for a trajectory's random stream: every uniform is 0, so the jump threshold
    ||psi||^2 = 0 is never reached."""

    def random(self, size=None):
        return 0.0 if size is None else np.zeros(size)


def _reference(problem, psi0):
    """Reduced signal and pump states of the normalised no-jump evolution, segment by segment."""
    psi, out, t_prev = psi0.astype(complex), [], problem.t[0]
    seg = iter(problem.segments)
    a, b, H, Ls = next(seg)
    M = sp.csr_matrix(-1j * (H - 0.5j * sum(L.conj().T @ L for L in Ls)))
    Ns, No = problem.dims
    for t in problem.t:
        while t > b:  # cross a segment end
            psi = expm_multiply(M * (b - t_prev), psi)
            t_prev = b
            a, b, H, Ls = next(seg)
            M = sp.csr_matrix(-1j * (H - 0.5j * sum(L.conj().T @ L for L in Ls)))
        psi = expm_multiply(M * (t - t_prev), psi)
        t_prev = t
        x = (psi / np.linalg.norm(psi)).reshape(Ns, No)
        out.append((x @ x.conj().T, x.T @ x.conj()))
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


@pytest.mark.parametrize("case", ["vacuum", "odd sector", "detuned (complex)", "pump switch-off"])
def test_no_jump_evolution_is_the_exponential(case, monkeypatch):
    p = {"vacuum": SMALL, "odd sector": SMALL, "detuned (complex)": SMALL.replace(delta=0.4),
         "pump switch-off": SMALL.replace(t_off=0.7)}[case]
    psi0 = np.zeros(p.Ns * p.Np)
    psi0[p.Np if case == "odd sector" else 0] = 1.0  # |1>_s |0>_p: the odd parity sector
    problem = charge_problem(p, T, psi0=psi0)
    jump = sys.modules["cimqb_traj.trajectories.jump"]
    monkeypatch.setattr(jump, "rng", lambda seed, k: _NoJumps())
    sums = Jump(rtol=1e-10, atol=1e-10).run_group(problem, np.arange(3), 0)
    assert sums.counts.sum() == 0
    rho_s, rho_p = _reference(problem, psi0)
    assert np.max(np.abs(sums.rho_s / 3 - rho_s)) < TOL
    assert np.max(np.abs(sums.rho_o / 3 - rho_p)) < TOL
    assert rho_s[-1, 1, 1].real > 1e-3 or rho_s[-1, 2, 2].real > 1e-3  # not a static vacuum


def test_restricted_jump_operators_are_the_operators():
    """``_restrict_jumps``: V[j, z] in diagonal storage is L_j from sector z to its target."""
    jump = sys.modules["cimqb_traj.trajectories.jump"]
    problem = charge_problem(SMALL, T)
    Ls = problem.segments[0][3]
    Ms = [sp.csr_matrix(-1j * problem.segments[0][2])]
    idx, tgt = jump._sectors(problem, Ms, Ls)
    assert idx.shape[0] == 2  # the parity sectors are used
    offs, Vr, Vi = jump._restrict_jumps(Ls, idx, tgt)
    assert offs.size > 0
    Dh = idx.shape[1]
    for j, L in enumerate(Ls):
        L = L.toarray()
        for z in range(2):
            x, y = idx[tgt[j, z]], idx[z]
            want = np.zeros((Dh, Dh), complex)
            want[np.ix_(np.flatnonzero(x >= 0), np.flatnonzero(y >= 0))] = L[np.ix_(x[x >= 0], y[y >= 0])]
            got = np.zeros((Dh, Dh), complex)
            for d, off in enumerate(offs):
                i = np.arange(max(0, -off), min(Dh, Dh - off))
                got[i, i + off] = Vr[j, z, d, i] + 1j * Vi[j, z, d, i]
            assert np.array_equal(got, want), (j, z)
            # and L maps nothing of sector z outside the target sector
            other = np.setdiff1d(np.arange(L.shape[0]), x[x >= 0])
            assert not np.any(L[np.ix_(other, y[y >= 0])])
