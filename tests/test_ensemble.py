"""The ensemble runner: identical results for any n_jobs / backend / batch, interruption, the
jackknife, the coverage of its intervals and the bias correction of the ergotropy."""

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from cimqb_traj import BatteryParams, load
from cimqb_traj.ensemble import jackknife
from cimqb_traj.exact import charge
from cimqb_traj.problem import GroupSums
from cimqb_traj.trajectories import Jump, charge_problem, interval, run

SMALL = BatteryParams(Ns=6, Np=4, F=1.2, kappa=0.7, gamma_p=6)
T = np.linspace(0.0, 2.0, 5)
FIELDS = ("rho_s", "rho_s_err", "W", "W_err", "W_bc", "W_c", "W_i", "energy_err", "n_s", "counts")


def assert_identical(a, b):
    assert a.ntraj == b.ntraj and a.seed == b.seed
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.fixture(scope="module")
def problem():
    return charge_problem(SMALL, T)


@pytest.fixture(scope="module")
def reference(problem):
    return run(Jump(batch=16), problem, 90, seed=21, groups=6)


@pytest.mark.parametrize("backend, n_jobs, batch", [
    ("loky", 1, 7), ("loky", 2, 16), ("threading", 2, 5), ("threading", 1, 1)])
def test_identical_for_any_jobs_backend_batch(problem, reference, backend, n_jobs, batch):
    r = run(Jump(batch=batch), problem, 90, seed=21, groups=6, n_jobs=n_jobs, backend=backend)
    assert_identical(r, reference)


def test_identical_on_a_dask_cluster(problem, reference):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        r = run(Jump(batch=16), problem, 90, seed=21, groups=6, backend="dask",
                scheduler=cluster.scheduler_address)
    assert_identical(r, reference)


class _Interrupting(Jump):
    """Stops the run (as Ctrl-C would) when it reaches group 3."""

    def run_group(self, problem, ids, seed):
        if ids[0] == 45:
            raise KeyboardInterrupt
        return super().run_group(problem, ids, seed)


def test_interrupt_keeps_finished_groups(problem, reference):
    r = run(_Interrupting(batch=16), problem, 90, seed=21, groups=6)
    assert r.interrupted and r.ntraj == 45  # groups 0, 1, 2 (15 trajectories each) finished
    # the finished groups are exactly those of the full run
    part = run(Jump(batch=16), problem, 45, seed=21, groups=3)
    np.testing.assert_array_equal(r.rho_s, part.rho_s)


def test_save_load_roundtrip(tmp_path, problem):
    r = run(Jump(batch=16, records=True), problem, 12, seed=3, groups=4)
    assert len(r.records) == 12
    assert sum(len(x["jump_times"]) for x in r.records) == pytest.approx(r.counts.sum() * 12)
    r.save(tmp_path / "r.h5")
    back = load(tmp_path / "r.h5")
    assert type(back) is type(r) and back.ntraj == 12 and back.groups == 4
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(back, f), getattr(r, f))
    np.testing.assert_array_equal(back.records[5]["jump_times"], r.records[5]["jump_times"])


def test_jackknife_of_a_mean_is_the_grouped_standard_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))  # 10 groups of one sample
    est, err, bc = jackknife(x, np.ones(10), lambda m: m)
    np.testing.assert_allclose(est, x.mean(axis=0))
    np.testing.assert_allclose(err, x.std(axis=0, ddof=1) / np.sqrt(10))
    np.testing.assert_allclose(bc, est)  # a linear function has no bias to remove
    # the bias correction removes the 1/N bias of mean^2 exactly: E[xbar^2] = mu^2 + s^2/N
    est, _, bc = jackknife(x[:, :1], np.ones(10), lambda m: m[:, 0] ** 2)
    np.testing.assert_allclose(bc, est - x[:, 0].var(ddof=1) / 10)


def test_jackknife_of_one_group_gives_real_nan_errors_for_complex_estimates(problem):
    """One group has no spread to measure: the errors are NaN (real, like every jackknife error),
    the estimate and its bias-corrected value the mean, and a complex estimate (an ``e_ops``
    expectation) raises no ComplexWarning."""
    S = np.array([[2 + 4j, -1j, 3.0]])  # the sums of one group of 2 trajectories
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est, err, bc = jackknife(S, np.array([2.0]), lambda m: m)
    np.testing.assert_array_equal(est, S[0] / 2)
    assert err.shape == est.shape and np.isrealobj(err) and np.all(np.isnan(err))
    np.testing.assert_array_equal(bc, est)
    a_s = np.diag(np.sqrt(np.arange(1.0, SMALL.Ns)), 1)  # <a_s>: complex in general
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        r = run(Jump(), problem, 3, seed=0, groups=1, e_ops={"a_s": a_s})
    assert np.iscomplexobj(r.expect["a_s"]) and np.all(np.isnan(r.expect_err["a_s"]))


def test_runner_and_phase_space_import_no_trajectory_module():
    """The runner and the problem sit beneath both method families (issue 13): importing them and
    the phase-space package loads no ``cimqb_traj.trajectories`` module (a fresh interpreter), and
    no import statement in them, at module level or inside a function, names that package."""
    code = ("import sys, cimqb_traj.phasespace, cimqb_traj.ensemble, cimqb_traj.problem; "
            "print(sorted(m for m in sys.modules if m.startswith('cimqb_traj.trajectories')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    pkg = Path(__file__).resolve().parents[1] / "cimqb_traj"
    for path in [pkg / "ensemble.py", pkg / "problem.py", *sorted((pkg / "phasespace").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]  # from .. import trajectories
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any("trajectories" in n.split(".") for n in names), (path.name, node.lineno)


def test_groupsums_reduce_in_trajectory_order():
    from cimqb_traj.problem import Problem

    pr = Problem(t=np.zeros(1), segments=(), dims=(2, 1), psi0=np.ones((1, 2)), p0=np.ones(1),
                 channels=("a",), signal_channel=0, ladder_s=np.arange(2.0))
    s = GroupSums.zeros(pr)
    s.add_states(np.array([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=complex))
    np.testing.assert_array_equal(s.rho_s[0], np.eye(2))
    assert s.n == 2


@pytest.mark.filterwarnings("ignore::cimqb_traj.exact.TruncationWarning")  # same truncation both sides
def test_ergotropy_interval_coverage_and_bias():
    """Over 200 independent runs of 200 trajectories (Ns 4, Np 3):

    * where W is far from zero (t = 1.5: W = 0.12, ~15 standard errors), the 95 % Student-t
      interval of the bias-corrected W (19 degrees of freedom, 20 groups) holds the exact value
      in 90-99 % of the runs (binomial error of the observed rate: ~1.5 %);
    * ergotropy is convex in rho (W = Tr rho H - min_U Tr U rho U^dag H), so by Jensen the plain
      estimate from the averaged state is biased upwards; near a passive state (t = 0.5:
      W = 0.027, ~1 standard error) this bias is comparable to the error bar.  The test
      requires the plain bias to be positive by 4 standard errors of its mean over runs, and
      the jackknife correction to reduce it by more than 4 standard errors of the paired
      difference.  (Near-passive states are where ergotropy is not smooth; there the interval
      under-covers, which the study in validation/ reports.)
    """
    p = BatteryParams(Ns=4, Np=3, F=1.5, kappa=0.8, gamma_p=4.0)
    t = np.array([0.0, 0.5, 1.5])
    exact_W = charge(p, t, engine="qutip", trunc_tol=None).W
    pr = charge_problem(p, t)
    runs = [run(Jump(batch=50), pr, 200, seed=1000 + s, groups=20) for s in range(200)]
    W = np.array([r.W for r in runs])
    Wbc = np.array([r.W_bc for r in runs])
    err = np.array([r.W_err for r in runs])
    lo, hi = interval(Wbc[:, 2], err[:, 2], 20)
    coverage = np.mean((lo <= exact_W[2]) & (exact_W[2] <= hi))
    assert 0.90 <= coverage <= 0.99, coverage
    bias = W[:, 1] - exact_W[1]
    assert bias.mean() > 4 * bias.std(ddof=1) / np.sqrt(len(bias))
    diff = W[:, 1] - Wbc[:, 1]  # the correction per run (positive: it lowers the estimate)
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(Wbc[:, 1].mean() - exact_W[1]) < abs(bias.mean())


def test_requested_observables_on_either_factor(tmp_path, problem):
    import qutip

    Ns, Np = SMALL.Ns, SMALL.Np
    e_ops = {"n_s": qutip.num(Ns), "x_s": (qutip.destroy(Ns) + qutip.create(Ns)) / 2, "n_p": np.diag(np.arange(Np))}
    r = run(Jump(batch=16), problem, 60, seed=2, groups=6, e_ops=e_ops)
    np.testing.assert_allclose(r.expect["n_s"].real, r.n_s, atol=1e-12)
    np.testing.assert_allclose(r.expect_err["n_s"], r.n_s_err, atol=1e-12)
    np.testing.assert_allclose(r.expect["n_p"].real, r.n_p, atol=1e-12)
    # signal parity: photon counting from the vacuum keeps <x_s> = 0 in every trajectory
    assert np.all(np.abs(r.expect["x_s"]) < 1e-12)
    r.save(tmp_path / "e.h5")
    np.testing.assert_array_equal(load(tmp_path / "e.h5").expect["n_p"], r.expect["n_p"])
    with pytest.raises(ValueError, match="e_ops"):
        run(Jump(), problem, 4, seed=0, e_ops={"bad": np.eye(5)})


def test_homodyne_identical_for_any_jobs_and_backend(problem):
    from cimqb_traj.trajectories import method

    ref = run(method("homodyne", theta=0.4, dt=5e-3, batch=7), problem, 24, seed=9, groups=4)
    for kw in ({"n_jobs": 2, "backend": "loky"}, {"n_jobs": 2, "backend": "threading"}):
        r = run(method("homodyne", theta=0.4, dt=5e-3, batch=5), problem, 24, seed=9, groups=4, **kw)
        assert_identical(r, ref)


def test_discharge_result_save_load(tmp_path):
    from cimqb_traj import LoadParams
    from cimqb_traj.trajectories import discharge

    p = BatteryParams(Ns=5)
    rho0 = np.diag([0.5, 0.3, 0.1, 0.07, 0.03])
    r = discharge(p, LoadParams(g=0.8), np.linspace(0, 1, 3), rho_s0=rho0, ntraj=12, seed=1, groups=3,
                  records=True, e_ops={"n_s": np.diag(np.arange(5.0))}, trunc_tol=0)  # a file test, not physics
    r.save(tmp_path / "d.h5")
    back = load(tmp_path / "d.h5")
    assert type(back) is type(r) and back.ntraj == 12 and back.load == r.load and back.t0 == r.t0
    for f in ("rho_s", "rho_a", "W_s", "W_a", "W_s_err", "W_a_err", "W_s_bc", "counts"):
        np.testing.assert_array_equal(getattr(back, f), getattr(r, f))
    np.testing.assert_array_equal(back.expect["n_s"], r.expect["n_s"])
    assert len(back.records) == 12
    with h5py_open(tmp_path / "d.h5") as h5:  # readable without this package
        assert h5["kappa_a_err"].shape == (3,)


def h5py_open(path):
    import h5py

    return h5py.File(path, "r")


def test_problem_operators_stay_sparse_beyond_dense_limits():
    # Ns x Np = 600 x 100: a dense copy of one operator would be 57 GiB (the old op.full() path
    # raised MemoryError here); the CSR operators hold ~ a few nonzeros per row.
    p = BatteryParams(kappa=0.1, F=15.0, Ns=600, Np=100)
    prob = charge_problem(p, np.array([0.0, 1.0]))
    H = prob.segments[0][2]
    assert H.shape == (60000, 60000) and H.nnz < 10 * 60000
    a_s = prob.segments[0][3][0]  # signal loss sqrt(gamma_s) a_s: one off-diagonal per row
    np.testing.assert_allclose(a_s[np.ravel_multi_index((5, 3), (600, 100)), np.ravel_multi_index((6, 3), (600, 100))],
                               np.sqrt(p.gamma_s * 6))
