"""Photon-counting trajectories (method "jump") against the exact master equation.

Statistical tolerances: 4 standard errors (grouped / jackknife errors from the run itself) plus
a small deterministic floor for the integration error (DOPRI5 at rtol = 1e-6 per trajectory,
far below the statistical errors here).  Seeds are fixed, so the tests are deterministic.
"""

import numpy as np
import pytest
import qutip

from cimqb_traj import BatteryParams, LoadParams, TrajectoryResult
from cimqb_traj import exact
from cimqb_traj.exact import charge
from cimqb_traj.trajectories import charge as traj_charge
from cimqb_traj.trajectories import discharge as traj_discharge


def run_jump(params, t, ntraj, seed, **kw):
    return traj_charge(params, t, method="jump", ntraj=ntraj, seed=seed, trunc_tol=None, **kw)

SMALL = BatteryParams(Ns=8, Np=5, F=1.2, kappa=0.7, gamma_p=6)
T = np.linspace(0.0, 3.0, 7)
FLOOR = 1e-5  # integration / root-finding error floor, >> rtol-level errors of each trajectory


@pytest.mark.parametrize("t_off", [None, 1.5])
def test_agrees_with_master_equation(t_off):
    p = SMALL.replace(t_off=t_off)
    r = run_jump(p, T, 1500, seed=11)
    assert isinstance(r, TrajectoryResult) and r.ntraj == 1500 and r.seed == 11
    ex = charge(p, T, engine="qutip", trunc_tol=None)
    n_ex = np.einsum("tii,i->t", ex.rho_s, np.arange(p.Ns)).real
    # t[0]: every trajectory starts in the vacuum
    assert np.allclose(r.rho_s[0], ex.rho_s[0], atol=1e-14) and r.n_s_err[0] == 0
    assert np.all(r.n_s_err[1:] > 0)
    assert np.all(np.abs(r.n_s - n_ex) <= 4 * r.n_s_err + FLOOR)
    d = np.diagonal(r.rho_s, axis1=1, axis2=2).real
    d_ex = np.diagonal(ex.rho_s, axis1=1, axis2=2).real
    d_err = np.diagonal(r.rho_s_err, axis1=1, axis2=2).real
    assert np.all(np.abs(d - d_ex) <= 4 * d_err + FLOOR)
    assert np.all(np.abs(r.W - ex.W) <= 4 * r.W_err + FLOOR)
    assert np.all(np.abs(r.W_c - ex.W_c) <= 4 * r.W_c_err + FLOOR)
    # the average is a state
    assert np.allclose(np.trace(r.rho_s, axis1=1, axis2=2), 1.0, atol=1e-12)
    assert np.allclose(r.rho_s, np.swapaxes(r.rho_s, 1, 2).conj(), atol=1e-14)
    # bookkeeping: energy is the photon number at omega_s = 1, W = W_c + W_i
    assert np.allclose(r.energy, r.n_s, atol=1e-12)
    assert np.allclose(r.W, r.W_c + r.W_i, atol=1e-12)
    # the jackknife bias correction is a small shift (O(1/ntraj)), well inside the error bars
    assert np.all(np.abs(r.W_bc - r.W) <= r.W_err + 1e-12)


def test_csr_path_agrees_with_master_equation(monkeypatch):
    """The generator in CSR storage, the fallback of ``jump._restrict`` when a parity sector needs
    more than ``_MAX_DIAGONALS`` diagonals (never at these sizes, so forced with 0), against the
    exact solver; detuning and a thermal signal bath as well (complex generator, gain channel)."""
    import sys

    from stats import assert_within

    jump = sys.modules["cimqb_traj.trajectories.jump"]
    storage = []
    restrict = jump._restrict

    def spy(M, idx):
        g = restrict(M, idx)
        storage.append("whole space" if g is None else "diagonals" if g[4].size else "CSR")
        return g

    monkeypatch.setattr(jump, "_MAX_DIAGONALS", 0)
    monkeypatch.setattr(jump, "_restrict", spy)  # n_jobs = 1: the group runs in this process
    p = SMALL.replace(delta=0.4, nth_s=0.2)
    r = run_jump(p, T, 1000, seed=5)
    assert storage and storage[-1] == "CSR" and "diagonals" not in storage, storage
    ex = charge(p, T, engine="qutip", trunc_tol=0)
    diag = lambda x: np.diagonal(x, axis1=1, axis2=2).real  # noqa: E731
    # 1e-5: the per-trajectory integration error floor (module docstring), not statistics
    assert_within(r.n_s[1:], np.einsum("tii,i->t", ex.rho_s, np.arange(p.Ns)).real[1:], r.n_s_err[1:], "n_s",
                  groups=r.groups, floor=FLOOR)
    assert_within(diag(r.rho_s)[1:], diag(ex.rho_s)[1:], diag(r.rho_s_err)[1:], "diag rho_s", groups=r.groups,
                  floor=FLOOR)
    assert_within(r.W[1:], ex.W[1:], r.W_err[1:], "W", groups=r.groups, floor=FLOOR)
    assert r.n_s[-1] > 0.2  # not a vacuum comparison


def test_discharge_agrees_with_master_equation():
    p, load = BatteryParams(Ns=6), LoadParams(g=1.0, gamma_a=0.3)
    rho0 = qutip.thermal_dm(p.Ns, 0.8).full() * 0.5 + qutip.coherent_dm(p.Ns, 0.9).full() * 0.5
    t = np.linspace(0.0, 3.0, 7)
    ex = exact.discharge(p, load, t, rho_s0=rho0)
    r = traj_discharge(p, load, t, rho_s0=rho0, method="jump", ntraj=1000, seed=4)
    # the initial state is sampled from rho_s0's eigen-decomposition: exact only on average,
    # so t = 0 is checked statistically like every other time
    for name in ("W_s", "W_a"):
        assert np.all(np.abs(getattr(r, name) - getattr(ex, name)) <= 4 * getattr(r, name + "_err") + FLOOR)
    for field in ("rho_s", "rho_a"):
        d = np.diagonal(getattr(r, field), axis1=1, axis2=2).real
        d_ex = np.diagonal(getattr(ex, field), axis1=1, axis2=2).real
        d_err = np.diagonal(getattr(r, field + "_err"), axis1=1, axis2=2).real
        # A population fed by fewer than ~10 trajectories (d_ex < 10/ntraj) is a rare-event
        # mean whose error estimate is itself unreliable (no central limit yet): check the rest.
        clt = d_ex > 10 / r.ntraj
        assert clt.sum() >= 10
        assert np.all((np.abs(d - d_ex) <= 4 * d_err + FLOOR)[clt])


def test_coherent_state_under_pure_loss():
    p = BatteryParams(Ns=16, Np=2, F=0.0, kappa=0.0, gamma_p=1.0)
    alpha, ntraj = 1.2, 400
    t = np.linspace(0.0, 2.0, 5)
    psi0 = qutip.tensor(qutip.coherent(p.Ns, alpha, method="analytic"), qutip.basis(p.Np, 0))
    # tight tolerances: the bounds below are integration-error bounds (rtol = atol = 1e-8)
    r = run_jump(p, t, ntraj, seed=3, psi0=psi0, rtol=1e-8, atol=1e-8)
    n_th = abs(alpha) ** 2 * np.exp(-p.gamma_s * t)
    assert np.all(np.abs(r.n_s - n_th) <= 4 * r.n_s_err + 1e-6)
    # every trajectory stays the coherent state |alpha e^{-t/2}>: a jump a|beta> = beta|beta>
    # leaves the normalised state unchanged.  The average of pure states is pure only if they
    # all coincide, so purity 1 and zero spread of n between trajectories check each of them.
    purity = np.einsum("tij,tji->t", r.rho_s, r.rho_s).real
    assert np.allclose(purity, 1.0, atol=1e-8)
    assert np.all(r.n_s_err < 1e-7)
    for k, tk in enumerate(t):
        beta = qutip.coherent(p.Ns, alpha * np.exp(-0.5 * p.gamma_s * tk), method="analytic").full().ravel()
        assert np.allclose(r.rho_s[k], np.outer(beta, beta.conj()), atol=1e-6)
    # the signal counts are Poissonian with mean |alpha|^2 (1 - e^{-gamma_s T}); no pump counts
    mean = abs(alpha) ** 2 * (1 - np.exp(-p.gamma_s * t[-1]))
    assert abs(r.counts[0] - mean) <= 4 * np.sqrt(mean / ntraj)
    assert r.counts[1] == 0


def test_batch_size_independence():
    a = run_jump(SMALL, T, 37, seed=5, batch=8)
    b = run_jump(SMALL, T, 37, seed=5, batch=16)
    c = run_jump(SMALL, T, 37, seed=5, batch=1)
    for x in (b, c):
        # Each column has its own time, step size, root finding and random stream, every
        # kernel works column by column in a fixed order, and the sums run in trajectory
        # order: the results are bitwise identical.
        np.testing.assert_array_equal(a.counts, x.counts)
        np.testing.assert_array_equal(x.rho_s, a.rho_s)
        np.testing.assert_array_equal(x.W, a.W)
        np.testing.assert_array_equal(x.W_err, a.W_err)
        np.testing.assert_array_equal(x.n_s_err, a.n_s_err)


def test_seeds_reproducible():
    a = run_jump(SMALL, T, 20, seed=7, batch=8)
    b = run_jump(SMALL, T, 20, seed=7, batch=8)
    c = run_jump(SMALL, T, 20, seed=8, batch=8)
    np.testing.assert_array_equal(a.rho_s, b.rho_s)
    np.testing.assert_array_equal(a.W_err, b.W_err)
    assert not np.allclose(a.rho_s, c.rho_s)


def test_seed_children_are_spawned_children():
    kids = np.random.SeedSequence(42).spawn(5)
    for k, kid in enumerate(kids):
        direct = np.random.SeedSequence(42, spawn_key=(k,))
        np.testing.assert_array_equal(kid.generate_state(4), direct.generate_state(4))


def test_single_trajectory_and_memory_shape():
    r = run_jump(SMALL, T, 1, seed=0)
    assert r.rho_s.shape == (len(T), SMALL.Ns, SMALL.Ns)
    assert np.allclose(np.trace(r.rho_s, axis1=1, axis2=2), 1.0)
    assert np.all(np.isnan(r.W_err)) and np.all(np.isnan(r.n_s_err))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"ntraj": 0}, "ntraj"),
        ({"ntraj": -3}, "ntraj"),
        ({"ntraj": 2.5}, "ntraj"),
        ({"t": [0.0, 1.0, 1.0]}, "t"),
        ({"t": [0.0, 2.0, 1.0]}, "t"),
        ({"batch": 0}, "batch"),
        ({"groups": 0}, "groups"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"backend": "mpi"}, "backend"),
        ({"method": "coin-flip"}, "method"),
        ({"seed": -1}, "seed"),
        ({"rtol": 0.0}, "rtol"),
        ({"psi0": np.ones(3)}, "psi0"),
    ],
)
def test_bad_input(kwargs, name):
    args = {"params": SMALL, "t": T, "ntraj": 4, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        traj_charge(**args)
