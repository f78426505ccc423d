"""Diffusive (homodyne / heterodyne) trajectories: strong order, agreement with the exact master
equation, an exactly solvable case, records, reproducibility and input checks.

Seeds are fixed, so every test is deterministic; each tolerance is argued where it is used.
"""

import math
import pickle

import numpy as np
import pytest
import qutip

from cimqb_traj import BatteryParams, LoadParams
from cimqb_traj.ensemble import run
from cimqb_traj.exact import charge, discharge
from cimqb_traj.problem import GroupSums, charge_problem, discharge_problem
from cimqb_traj.trajectories.homodyne import NOISE_BOUND, STABILITY_BOUND, Homodyne

SMALL = BatteryParams(Ns=6, Np=3, F=1.0, kappa=0.8, gamma_p=4)
T = np.linspace(0.0, 2.0, 5)
DT = 2e-3
# Time-step bias floor.  The scheme has weak order 1, so the bias of every averaged quantity is
# ~ K dt.  Measured in development on these problems (SMALL with and without switch-off, thermal,
# heterodyne, and the discharge below) at dt = 0.03 (15 x DT) with 40000 trajectories each: the
# largest |bias| of a population, E, W or W_c (photon numbers / probabilities) was 0.006, i.e.
# K <= 0.2.  We allow K = 0.5: FLOOR = 1e-3 at DT, well below the 4-standard-error band of most
# points and decisive only near t = 0, where the ensemble spread is tiny.
FLOOR = 0.5 * DT


def _within(x, ref, err, what):
    bad = np.abs(x - ref) > 4 * err + FLOOR
    assert not bad.any(), f"{what}: {np.abs(x - ref)[bad]} > 4 * {err[bad]} + {FLOOR}"


# --- 1. strong order -------------------------------------------------------------------------

def _successive_differences(scheme, P=384, n_ref=2**12, seed=20):
    """E||psi_h(T) - psi_{h/2}(T)|| for h = 2^m h_ref, m = 1..4, on shared Brownian paths."""
    method = Homodyne(0.7, scheme=scheme)
    problem = charge_problem(SMALL, [0.0, 1.0])
    J = len(problem.channels)
    g = np.random.default_rng(seed)
    dW = g.standard_normal((P, n_ref, J)) * math.sqrt(1.0 / n_ref)
    states = [method.final_states(problem, dW)]
    for m in range(1, 5):  # coarse increments are sums of the fine ones: the same paths
        states.append(method.final_states(problem, dW.reshape(P, n_ref >> m, 2**m, J).sum(axis=2)))
    h = 2.0 ** np.arange(1, 5) / n_ref
    err = np.array([np.linalg.norm(states[m] - states[m - 1], axis=1).mean() for m in range(1, 5)])
    return h, err, np.polyfit(np.log(h), np.log(err), 1)[0]


@pytest.mark.parametrize("scheme, lo, hi", [("milstein", 0.85, 1.3), ("euler", 0.35, 0.7)])
def test_strong_order(scheme, lo, hi):
    # The strong error of level h is estimated by the difference to the next finer level h/2 on
    # the same paths (states are normalised, and the linear evolution leaves no phase freedom).
    # For strong order p this scales exactly as h^p.  Comparing every level with the one
    # finest reference instead biases the slope upwards (the m = 1 point is e(2h_ref) - e(h_ref),
    # variance ~ h^2p - h_ref^2p): in development it gave 1.11-1.29 (milstein) and 0.62-0.70
    # (euler) over 8 sets of paths, too close to the bounds to tell anything.
    # Spread of the successive-difference slope over 8 sets of 384 paths (seeds 20..27):
    # milstein 0.955-1.08 (mean 1.02, sd 0.05), euler 0.485-0.58 (mean 0.52, sd 0.03); the
    # bounds are >= 3 sd from the means and separate the two orders.
    h, err, slope = _successive_differences(scheme)
    assert lo <= slope <= hi, (scheme, slope, err)
    assert err[-1] < (0.02 if scheme == "milstein" else 0.1)  # sanity: in the asymptotic regime


def test_milstein_beats_euler():
    # at the same coarse step, Milstein's error is an order of magnitude below Euler's (measured
    # ratio ~ 0.1 at h = 2^-8 in development: O(h) against O(h^1/2) with similar constants)
    _, e_m, _ = _successive_differences("milstein", P=64)
    _, e_e, _ = _successive_differences("euler", P=64)
    assert np.all(e_m < 0.3 * e_e)


def test_drift_stability_bound():
    # the claim behind STABILITY_BOUND: |T4(z)| <= 1 on the closed left half-disk of that radius
    r, th = np.meshgrid(np.linspace(0, STABILITY_BOUND, 401), np.linspace(np.pi / 2, 1.5 * np.pi, 801))
    z = r * np.exp(1j * th)
    assert np.max(np.abs(1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)) <= 1 + 1e-12


# --- 2. ensemble against the exact master equation --------------------------------------------

@pytest.mark.parametrize("changes, heterodyne", [
    ({}, False),
    ({"t_off": 1.0}, False),
    ({}, True),
    ({"nth_s": 0.3, "nth_p": 0.1}, False),  # non-commuting channels: weak order 1 still holds
])
def test_charge_agrees_with_master_equation(changes, heterodyne):
    p = SMALL.replace(**changes)
    r = run(Homodyne(0.3, dt=DT, heterodyne=heterodyne), charge_problem(p, T), 2000, seed=7)
    ex = charge(p, T, engine="qutip", trunc_tol=None)
    assert r.ntraj == 2000 and r.options["heterodyne"] == heterodyne and r.options["theta"] == 0.3
    assert np.allclose(r.rho_s[0], ex.rho_s[0], atol=1e-14)
    diag = lambda x: np.diagonal(x, axis1=1, axis2=2).real  # noqa: E731
    _within(diag(r.rho_s), diag(ex.rho_s), diag(r.rho_s_err), "diag rho_s")
    _within(r.energy, ex.energy, r.energy_err, "energy")
    _within(r.W, ex.W, r.W_err, "W")
    _within(r.W_c, ex.W_c, r.W_c_err, "W_c")
    assert np.allclose(np.trace(r.rho_s, axis1=1, axis2=2), 1.0, atol=1e-12)
    assert np.all(r.counts == 0)  # diffusive channels count no jumps


@pytest.mark.parametrize("heterodyne", [False, True])
def test_discharge_agrees_with_master_equation(heterodyne):
    Ns = 5
    # a mixed initial state with coherences: several eigenvectors, drawn per trajectory
    rho0 = (0.6 * qutip.ket2dm(qutip.coherent(Ns, 0.8, method="analytic")).full()
            + 0.4 * qutip.thermal_dm(Ns, 0.5).full())
    rho0 /= np.trace(rho0)  # the analytic coherent state is cut at Ns - 1: a state needs unit trace
    p, load = BatteryParams(Ns=Ns, Np=2), LoadParams(g=1.0, gamma_a=0.5)
    r = run(Homodyne(0.3, dt=DT, heterodyne=heterodyne), discharge_problem(p, load, T, rho0), 2000, seed=9)
    ex = discharge(p, load, T, rho_s0=rho0)
    diag = lambda x: np.diagonal(x, axis1=1, axis2=2).real  # noqa: E731
    _within(diag(r.rho_s), diag(ex.rho_s), diag(r.rho_s_err), "diag rho_s")
    _within(diag(r.rho_a), diag(ex.rho_a), diag(r.rho_a_err), "diag rho_a")
    # ergotropies in units of the quanta (omega = 100): kappa_i = W_i / omega_i
    _within(r.W_s / load.omega_s, ex.W_s / load.omega_s, r.W_s_err / load.omega_s, "W_s")
    _within(r.W_a / load.omega_a, ex.W_a / load.omega_a, r.W_a_err / load.omega_a, "W_a")


# --- 3. coherent state under pure loss: every trajectory is exact ------------------------------

LOSS = BatteryParams(Ns=24, Np=2, F=0.0, kappa=0.0, gamma_p=1.0)
ALPHA = 1.2 * np.exp(0.4j)


def _coherent_problem(t):
    psi0 = qutip.tensor(qutip.coherent(LOSS.Ns, ALPHA, method="analytic"), qutip.basis(LOSS.Np, 0))
    return charge_problem(LOSS, t, psi0)


@pytest.mark.parametrize("heterodyne", [False, True])
def test_coherent_state_under_pure_loss(heterodyne):
    # c|beta> = sqrt(gamma) e^{-i theta} beta |beta>: the kick only rescales a coherent state and
    # the drift exp(-h a^dag a / 2) maps |beta> to |beta e^{-h/2}>, so every trajectory is
    # |alpha e^{-t/2}> exactly.  Left: truncation (the top amplitude |alpha|^24/sqrt(24!) ~ 1e-10)
    # and T4's drift error (h n / 2)^5 / 120 ~ 1e-14 per step: tolerances 1e-8.
    n, t = 64, np.linspace(0.0, 2.0, 5)
    problem = _coherent_problem(t)
    s = Homodyne(0.0, dt=DT, heterodyne=heterodyne, records=True).run_group(problem, np.arange(n), 5)
    rho = s.rho_s / s.n
    purity = np.einsum("tij,tji->t", rho, rho).real
    assert np.allclose(purity, 1.0, atol=1e-8)  # an average of pure states is pure only if all coincide
    a = np.diag(np.sqrt(np.arange(1, LOSS.Ns)), 1)
    beta = ALPHA * np.exp(-0.5 * LOSS.gamma_s * t)
    assert np.allclose(np.einsum("ij,tji->t", a, rho), beta, atol=1e-8)
    for rec in s.records:  # each trajectory: x_0 = Re(beta)
        assert np.allclose(rec["x_theta"], beta.real, atol=1e-8)


def test_records_of_a_coherent_state():
    # dY = 2 Re<c> dt + dW with <c> = e^{-i theta} beta(t) deterministic here, so Y(t) - drift(t)
    # is exactly the Wiener path W(t): mean 0 +- sqrt(t / n), variance t.
    theta, n = 0.5, 256
    t = np.linspace(0.0, 2.0, 5)
    problem = _coherent_problem(t)
    s = Homodyne(theta, dt=DT, records=True).run_group(problem, np.arange(n), 6)
    assert len(s.records) == n
    for rec in s.records:
        assert set(rec) == {"t", "Y", "x_theta", "W", "W_c", "W_i"}
        assert rec["Y"].shape == (len(t), 2) and rec["x_theta"].shape == (len(t),)
        assert np.array_equal(rec["t"], t) and np.all(rec["Y"][0] == 0)
    Y = np.stack([rec["Y"] for rec in s.records])  # (n, nt, 2): signal, pump
    drift = 2 * (np.exp(-1j * theta) * ALPHA).real * 2 * (1 - np.exp(-0.5 * t))  # int 2 Re<c>
    # + 1e-2: the drift is summed on the step grid (Riemann error ~ DT |d<c>/dt| t ~ 2e-3)
    assert np.all(np.abs(Y[:, :, 0].mean(axis=0) - drift) <= 4 * np.sqrt(t / n) + 1e-2)
    assert np.all(np.abs(Y[:, :, 1].mean(axis=0)) <= 4 * np.sqrt(t / n) + 1e-12)  # pump: vacuum
    # sample variance / t of a chi-square with n - 1 dof: sd sqrt(2/(n-1)) = 0.09; 4 sd band
    for j in range(2):
        v = (Y[:, 1:, j] - Y[:, 1:, j].mean(axis=0)).var(axis=0, ddof=1) / t[1:]
        assert np.all(np.abs(v - 1) <= 4 * math.sqrt(2 / (n - 1))), v
    # x_theta at theta: Re(e^{-i theta} beta)
    beta = ALPHA * np.exp(-0.5 * t)
    assert np.allclose(s.records[0]["x_theta"], (np.exp(-1j * theta) * beta).real, atol=1e-8)
    # each shot's conditional signal state is the pure coherent state |beta>: its passive state
    # is the vacuum, so W = |beta|^2; W_i is that of the Poisson weights sorted (ergotropy tests)
    from cimqb_traj.phasespace.meanfield import coherent_ergotropy

    _, Wc, Wi = coherent_ergotropy(np.abs(beta) ** 2)
    for rec in s.records[:3]:
        assert np.allclose(rec["W"], np.abs(beta) ** 2, atol=1e-6)
        assert np.allclose(rec["W_i"], Wi, atol=1e-6) and np.allclose(rec["W_c"], Wc, atol=1e-6)


def test_heterodyne_record_shape():
    s = Homodyne(0.1, dt=DT, heterodyne=True, records=True).run_group(charge_problem(SMALL, T), np.arange(3), 1)
    assert [rec["Y"].shape for rec in s.records] == [(len(T), 4)] * 3
    assert Homodyne(heterodyne=True).measured(charge_problem(SMALL, T)) == [
        "signal loss @ 0", "signal loss @ 0+pi/2", "pump loss @ 0", "pump loss @ 0+pi/2"]


# --- 4. reproducibility, pickling, input checks ------------------------------------------------

def _same(a: GroupSums, b: GroupSums):
    assert a.n == b.n and a.steps == b.steps
    np.testing.assert_array_equal(a.rho_s, b.rho_s)
    np.testing.assert_array_equal(a.rho_o, b.rho_o)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert len(a.records) == len(b.records)
    for x, y in zip(a.records, b.records):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_batch_size_independence():
    # every kernel works column by column in a fixed order and trajectory k draws only from its
    # own stream (initial state first, then its increments): bitwise identical for any batch
    rho0 = np.diag([0.5, 0.3, 0.2])
    problems = [charge_problem(SMALL.replace(t_off=0.9), T),
                discharge_problem(SMALL, LoadParams(g=1.0), T, rho0)]  # mixed: initial_state draws
    ids = np.arange(3, 14)
    for problem in problems:
        for het in (False, True):
            sums = {b: Homodyne(0.2, dt=5e-3, heterodyne=het, batch=b, records=True).run_group(problem, ids, 4)
                    for b in (32, 5, 1)}
            _same(sums[32], sums[5])
            _same(sums[32], sums[1])
    # a trajectory does not depend on the group it is in
    m = Homodyne(0.2, dt=5e-3, records=True)
    whole = m.run_group(problems[0], np.arange(6), 4)
    part = m.run_group(problems[0], np.arange(4, 6), 4)
    for x, y in zip(whole.records[4:], part.records):
        np.testing.assert_array_equal(x["Y"], y["Y"])


def test_runner_threads_and_pickle():
    m = Homodyne(0.3, dt=5e-3, heterodyne=True, scheme="euler", batch=7)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.options == m.options and m.name == "homodyne"
    problem = charge_problem(SMALL, T)
    a = run(m, problem, 40, seed=2, groups=4)
    b = run(m2, problem, 40, seed=2, groups=4, n_jobs=2, backend="threading")
    np.testing.assert_array_equal(a.rho_s, b.rho_s)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.options["dt"] == 5e-3 and a.options["scheme"] == "euler"


def test_steps_land_on_output_times_and_switch_off():
    # intervals 0..0.3 (pump on), 0.3..0.35 (off, until the output time), 0.35..1: with dt = 0.04
    # they take 8, 2 and 17 steps (ceil of length / dt)
    p = SMALL.replace(t_off=0.3)
    s = Homodyne(dt=0.04).run_group(charge_problem(p, [0.0, 0.35, 1.0]), np.arange(2), 0)
    assert s.steps == 2 * (8 + 2 + 17)


@pytest.mark.parametrize("kw, name", [
    ({"theta": float("nan")}, "theta"), ({"theta": float("inf")}, "theta"), ({"theta": "x"}, "theta"),
    ({"dt": 0.0}, "dt"), ({"dt": -1e-3}, "dt"), ({"dt": float("inf")}, "dt"), ({"dt": None}, "dt"),
    ({"scheme": "rk4"}, "scheme"), ({"batch": 0}, "batch"), ({"batch": 1.5}, "batch"),
    ({"batch": True}, "batch"), ({"heterodyne": "yes"}, "heterodyne"), ({"records": 1}, "records"),
])
def test_bad_input(kw, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        Homodyne(**kw)


def test_step_beyond_stability_is_refused():
    problem = charge_problem(SMALL, [0.0, 1.0])
    # ||A||_inf = 11.86 here: dt = 0.5 puts h ||A|| = 5.9 beyond the drift bound 2.5
    with pytest.raises(ValueError, match=r"^dt = 0.5 .*stability bound"):
        Homodyne(dt=0.5).run_group(problem, np.arange(1), 0)
    # pure loss on a large signal space: the drift allows h <= 2.5 / 20 but the kick
    # h (39 + 1) <= 1 does not: refused by the noise bound
    big = charge_problem(BatteryParams(Ns=40, Np=2, F=0.0, kappa=0.0, gamma_p=1.0), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"^dt = 0.05 .*noise bound"):
        Homodyne(dt=0.05).run_group(big, np.arange(1), 0)
    Homodyne(dt=0.8 * NOISE_BOUND / 40).run_group(big, np.arange(1), 0)  # inside both: runs
    with pytest.raises(ValueError, match="^problem"):
        Homodyne().run_group("not a problem", np.arange(1), 0)
    with pytest.raises(ValueError, match="^ids"):
        Homodyne().run_group(problem, np.array([0.5]), 0)
    with pytest.raises(ValueError, match="^seed"):
        Homodyne().run_group(problem, np.arange(1), -1)


@pytest.mark.parametrize("theta", [0.0, 0.3])  # real and complex arithmetic
def test_csr_fallback_equals_diagonal_storage(theta, monkeypatch):
    # the per-trajectory kernel stores banded operators as diagonals and falls back to CSR for the
    # rest; both storages apply the same sums in the same order, so the results are bitwise equal
    from cimqb_traj.trajectories import homodyne as hom
    from cimqb_traj.problem import charge_problem
    from cimqb_traj.trajectories.homodyne import Homodyne

    p = BatteryParams(Ns=8, Np=4, F=1.2, kappa=0.7, gamma_p=6.0, nth_s=0.1, t_off=0.3)
    prob = charge_problem(p, [0.0, 0.25, 0.5])
    diag = Homodyne(theta, dt=2e-3, records=True).run_group(prob, np.arange(3), 7)
    monkeypatch.setattr(hom, "_DIAG_FILL", 0)  # every operator in CSR
    csr = Homodyne(theta, dt=2e-3, records=True).run_group(prob, np.arange(3), 7)
    np.testing.assert_array_equal(csr.rho_s, diag.rho_s)
    np.testing.assert_array_equal(csr.rho_o, diag.rho_o)
