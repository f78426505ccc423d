"""Single-shot spin-phase selection (issue 6): P(+1), decision times, single-shot work."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from cimqb_traj import BatteryParams, exact
from cimqb_traj.spin import decision_times, growth_rate, phase_selection

# kappa = 1, gamma_p = 16: F_th = 1; F = 2 puts n_mf = 8 photons in each branch (x_mf = 2.83 vs a
# vacuum half-width 0.5: the branches are separated by t_end).  Ns 22 / Np 8: top levels < 1e-3; the
# guard's change against 19 / 7 is 3.4 % at T: every comparison here is at this one truncation
# (methods against the exact state at the same cut), so the guard is off (trunc_tol = 0).
BASE = BatteryParams(Ns=22, Np=8, kappa=1.0, F=2.0)
T_END, DT_OUT = 8.0, 0.25
SAMPLED = {"homodyne": (400, {"dt": 5e-3}), "wigner": (4000, {"dt": 0.01}), "positive-p": (4000, {"dt": 0.01})}


def _ci(k, n, level=0.999):
    # The 95 % interval misses the truth 1 time in 20 by construction; the assertions use the
    # 99.9 % Clopper-Pearson interval of the same counts.
    c = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return c.low, c.high


def test_decision_times_on_known_paths():
    t = np.arange(6.0)
    x = np.array([[0.0, 0.5, 1.2, 0.8, 1.5, 2.0],     # last dip below 1 at t = 3: decided at 4
                  [0.0, -1.5, -2.0, -1.1, -1.4, -3.0],  # the minus branch from t = 1
                  [0.0, 2.0, 2.0, -2.0, 0.5, 0.9],     # ends below the level: undecided
                  [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])     # only the last time
    d = decision_times(t, x, 1.0)
    assert d[0] == 4.0 and d[1] == 1.0 and math.isnan(d[2]) and d[3] == 5.0
    assert np.all(np.isnan(decision_times(t, x, 0.0)))  # no level (below threshold)
    assert growth_rate(BASE) == pytest.approx(0.5)  # (gamma_s / 2)(F / F_th - 1)


@pytest.fixture(scope="module")
def unbiased():
    return {m: phase_selection(BASE, m, ntraj=n, seed=4, t_end=T_END, dt_out=DT_OUT, progress=False, trunc_tol=0, **kw)
            for m, (n, kw) in SAMPLED.items()}


def test_no_seed_no_preference(unbiased):
    """eps = 0: by parity P(+1) = 1/2 exactly for the exact state and mean field, and within the
    interval for every sampled method."""
    assert phase_selection(BASE, "exact", t_end=T_END, dt_out=DT_OUT, progress=False, trunc_tol=0).p_plus == pytest.approx(0.5, abs=1e-9)
    assert phase_selection(BASE, "mean-field", t_end=T_END, dt_out=DT_OUT).p_plus == 0.5
    for m, r in unbiased.items():
        lo, hi = _ci(r.n_plus, r.shots)
        assert lo <= 0.5 <= hi, (m, r.p_plus)
        assert r.undecided < r.shots // 2 and r.decision_time_median is not None  # most shots have picked


def test_single_shot_work_against_the_exact_state(unbiased):
    """The work numbers of a phase-selection run against the exact state at T (same truncation):
    W_ensemble is the ergotropy of the mean state, so it agrees with the exact W(T) within its
    jackknife error; each shot's W_k <= E_k and the mean of E_k is the exact energy, so the mean
    single-shot work lies between W(T) (strictly above: the record adds work, resolved) and E(T).
    Family: 3 comparisons (z from tests/stats.py, 20 jackknife groups)."""
    from stats import z_crit

    r = unbiased["homodyne"]
    ex = exact.charge(BASE, np.linspace(0.0, T_END, int(T_END / DT_OUT) + 1), trunc_tol=0)
    z = z_crit(3, 20)
    assert abs(r.W_ensemble - ex.W[-1]) <= z * r.W_ensemble_err, (r.W_ensemble, ex.W[-1], r.W_ensemble_err)
    assert r.W_single_shot - ex.W[-1] > z * r.W_single_shot_err  # resolved, not just Jensen's >=
    assert r.W_single_shot <= ex.energy[-1] + z * r.W_single_shot_err  # W_k <= E_k, mean E_k = E(T)
    assert r.W_c_single_shot + r.W_i_single_shot == pytest.approx(r.W_single_shot)


def test_single_shot_work_of_a_cat_under_loss():
    """Independent value of the single-shot work: an even cat (|b> + |-b>) under pure signal loss
    (kappa = 0, F = 0: the pump stays in its vacuum), measured by homodyne.  Every conditional
    state is a pure signal state, whose passive state is the vacuum, so W_k = E_k shot by shot and
    the mean single-shot work is the exact energy E(t) (energy is linear); the ensemble state is
    mixed, so the gap to its ergotropy is its passive energy E(t) - W(t) > 0.  Family: the output
    times after t = 0, z from tests/stats.py (independent shots: normal law)."""
    import qutip
    from stats import z_crit

    from cimqb_traj.trajectories import charge_problem, run
    from cimqb_traj.trajectories.homodyne import Homodyne

    p = BatteryParams(Ns=12, Np=2, kappa=0.0, F=0.0)  # |b|^2 = 1.44: level 11 holds < 1e-8
    cat = (qutip.coherent(12, 1.2) + qutip.coherent(12, -1.2)).unit()
    psi0 = qutip.tensor(cat, qutip.basis(2, 0))
    t = np.linspace(0.0, 1.5, 4)
    res = run(Homodyne(0.0, dt=2e-3, records=True), charge_problem(p, t, psi0), 300, 3)
    Wk = np.stack([d["W"] for d in res.records])  # (shots, t)
    ex = exact.charge(p, t, rho0=qutip.ket2dm(psi0), trunc_tol=0)
    err = Wk.std(axis=0, ddof=1) / np.sqrt(len(Wk))
    z = z_crit(len(t) - 1)
    assert np.all(np.abs(Wk.mean(axis=0) - ex.energy)[1:] <= z * err[1:] + 1e-3), (Wk.mean(axis=0), ex.energy, err)
    # + 1e-3: the Milstein step's weak error at dt = 2e-3 on E ~ 1 (order dt)
    gap = ex.energy - ex.W  # the passive energy of the mixed ensemble state
    assert gap[-1] > 0.1 and np.all(Wk.mean(axis=0)[1:] - ex.W[1:] > gap[1:] - z * err[1:] - 1e-3)
    assert np.allclose(Wk[:, 0], ex.energy[0], atol=1e-9)  # t = 0: the pure cat itself


@pytest.fixture(scope="module")
def seeded():
    p = BASE.replace(eps=0.1)
    ex = exact.charge(p, np.linspace(0.0, T_END, int(T_END / DT_OUT) + 1), trunc_tol=0)
    res = {m: phase_selection(p, m, ntraj=n, seed=5, t_end=T_END, dt_out=DT_OUT, progress=False, trunc_tol=0, **kw)
           for m, (n, kw) in SAMPLED.items()}
    return p, ex, res


def test_seed_selects_the_phase(seeded):
    """eps = 0.1 > 0 favours spin +1: the exact quadrature weight is well above 1/2 and the
    homodyne and Wigner spin fractions contain it in their intervals (at kappa = 1 the Wigner
    method is approximate: its measured offset, -0.011 +- 0.008, is inside the interval);
    positive-P's quadrature-weight estimator is unbiased: within 4 standard errors."""
    from cimqb_traj.spin import _p_plus_exact  # what phase_selection(p, "exact") returns (CLI test)

    p, ex, res = seeded
    pe = _p_plus_exact(ex.rho_s[-1])
    assert pe > 0.55
    for m in ("homodyne", "wigner"):
        lo, hi = _ci(res[m].n_plus, res[m].shots)
        assert lo <= pe <= hi, (m, res[m].p_plus, pe)
    pp = res["positive-p"]
    assert abs(pp.p_plus_quadrature - pe) <= 4 * pp.p_plus_quadrature_err
    assert phase_selection(p, "mean-field", t_end=T_END, dt_out=DT_OUT).p_plus == 1.0


def test_shot_average_is_the_ensemble(seeded):
    """The unravelling is unbiased: the mean over homodyne shots of the conditional <x_0>(t)
    (x_0 = (a_s + a_s^dag)/2) equals Re <a_s>(t) of the exact state within 4 standard errors
    (family of 32 correlated times: 4 sigma is also the family-wise level, P ~ 2e-3); so does
    the positive-P mean of Re alpha_s (exact in distribution)."""
    p, ex, res = seeded
    a = np.diag(np.sqrt(np.arange(1, p.Ns)), 1)
    ref = np.einsum("tij,ji->t", ex.rho_s, a).real
    assert ref[-1] > 0.5  # the seed shows in the ensemble
    for m in ("homodyne", "positive-p"):
        r = res[m]
        assert np.all(np.abs(r.x_mean - ref)[1:] <= 4 * r.x_mean_err[1:]), (m, r.x_mean, ref, r.x_mean_err)


def test_cli_phase_selection(tmp_path, capsys):
    from cimqb_traj.cli import main

    argv = ["phase-selection", "--kappa", "1", "--ns", "16", "--np", "6", "--F", "1.5", "--eps", "0,0.1",
            "--method", "exact,positive-p", "--ntraj", "200", "--t-end", "5", "--dt-out", "0.5",
            "--no-progress", "--json", "--out", str(tmp_path)]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    for k in ("eps", "F", "p_plus", "p_plus_ci", "decision_time_median", "W_single_shot", "W_ensemble"):
        assert k in doc, k
    assert doc["eps"] == [0.0, 0.1] and doc["F"] == [1.5, 1.5]
    assert doc["p_plus"]["exact"][0] == pytest.approx(0.5) and doc["p_plus"]["exact"][1] > 0.55
    assert len(doc["p_plus_ci"]["positive-p"]) == 2 and doc["W_single_shot"]["positive-p"] == [None, None]
    assert (tmp_path / "phase_selection.json").exists() and (tmp_path / "phase_selection.png").exists()
    import xarray as xr  # the same numbers in the netCDF file, opened without this package

    with xr.open_dataset(tmp_path / "phase_selection.h5", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["F"].values, doc["F"])
        np.testing.assert_array_equal(ds["p_plus"].sel(methods="positive-p").values, doc["p_plus"]["positive-p"])
        np.testing.assert_array_equal(ds["p_plus_ci"].sel(methods="positive-p").values, doc["p_plus_ci"]["positive-p"])
        assert np.isnan(ds["W_single_shot"].sel(methods="positive-p").values).all()  # None -> NaN
        assert all(ds[v].attrs["units"] for v in ds.data_vars)
    for bad in (["--eps", "x"], ["--method", "jump"], ["--ntraj", "1"], ["--frac", "2"], ["--kappa", "nan"]):
        assert main(["phase-selection", "--no-progress", "--method", "exact", "--t-end", "1", *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1


# --- the displaced (moving) basis of the homodyne shots (issue 12, point 8) ---
# eps = 0.3: the exact quadrature weight of x > 0 at T = 6 is ~0.81 (far from 1/2, so 80 shots
# resolve it and a flipped or lost spin goes red); dt = 2e-3: the moving basis' noise bound refuses
# 5e-3 here.  80 shots (one at a time in the moving basis): ~10 s on an idle core.
DISP_T, DISP_SHOTS = 6.0, 80


@pytest.fixture(scope="module")
def displaced():
    p = BASE.replace(eps=0.3)
    ex = exact.charge(p, np.linspace(0.0, DISP_T, int(DISP_T / DT_OUT) + 1), trunc_tol=0)
    r = phase_selection(p, "homodyne", ntraj=DISP_SHOTS, seed=5, t_end=DISP_T, dt_out=DT_OUT, progress=False,
                        trunc_tol=0, basis="displaced", dt=2e-3)
    return p, ex, r


def test_displaced_basis_selects_the_phase(displaced):
    """The spin read in the moving basis is the lab-frame one: P(+1) of the shots contains the
    exact quadrature weight of x > 0 (same truncation as the lab output sizes) in its 99.9 %
    Clopper-Pearson interval, and the mean over shots of the recorded <x_0> = Re(beta_s + <A>)
    is Re <a_s> of the exact state at every time (independent shots, so the errors are the
    sample's: Student t with shots - 1 degrees of freedom over the family of times, tests/stats.py);
    dropping the displacement beta_s from the record leaves |<A>| <= the re-shift bound 0.5
    against Re <a_s>(T) ~ 1.9.  The ensemble's W(T) (lab-frame rho_s) is the exact W within
    its jackknife error (a 20-group family of 1)."""
    from stats import assert_within, z_crit

    from cimqb_traj.spin import _p_plus_exact

    p, ex, r = displaced
    assert r.basis == "displaced" and r.shots == DISP_SHOTS
    assert r.dims["Ns_out"] == p.Ns and r.dims["Ns_basis_max"] >= 6  # lab sizes kept (not the defaults)
    pe = _p_plus_exact(ex.rho_s[-1])
    assert pe > 0.7  # the seed shows: a flipped spin (P ~ 0.2) falls outside the interval
    lo, hi = _ci(r.n_plus, r.shots)
    assert lo <= pe <= hi, (r.p_plus, pe)
    a = np.diag(np.sqrt(np.arange(1, p.Ns)), 1)
    ref = np.einsum("tij,ji->t", ex.rho_s, a).real
    assert_within(r.x_mean[1:], ref[1:], r.x_mean_err[1:], "mean <x_0> of the displaced shots", groups=r.shots)
    assert abs(r.W_ensemble - ex.W[-1]) <= z_crit(1, 20) * r.W_ensemble_err, (r.W_ensemble, ex.W[-1])
    assert r.W_single_shot is None  # the moving basis records no per-shot ergotropy


def test_displaced_basis_refusals(capsys):
    """basis applies to homodyne only and takes fock / displaced: a ValueError naming basis, and on
    the command line exit 2 with one line naming --basis."""
    from cimqb_traj.cli import main

    for m in ("exact", "wigner", "mean-field"):
        with pytest.raises(ValueError, match="basis"):
            phase_selection(BASE, m, basis="displaced", t_end=1.0)
    with pytest.raises(ValueError, match="basis"):
        phase_selection(BASE, "homodyne", basis="moving", t_end=1.0)
    for argv in (["--method", "exact,positive-p", "--basis", "displaced"], ["--basis", "moving"]):
        assert main(["phase-selection", "--no-progress", "--t-end", "1", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--basis" in err, err


def test_cli_phase_selection_displaced(capsys):
    """--basis displaced runs the homodyne shots in the moving basis; the JSON says so and gives the
    dims per point (2 short shots: wiring only, the physics is in the test above)."""
    from cimqb_traj.cli import main

    argv = ["phase-selection", "--kappa", "1", "--ns", "12", "--np", "6", "--F", "1.5", "--method", "homodyne,exact",
            "--basis", "displaced", "--ntraj", "2", "--t-end", "0.5", "--dt-out", "0.25", "--dt", "2e-3",
            "--trunc-tol", "0", "--no-progress", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["basis"] == "displaced" and doc["shots"]["homodyne"] == [2]
    assert doc["dims"]["homodyne"][0]["Ns_out"] == 12 and doc["dims"]["exact"] == [None]
    assert doc["W_single_shot"]["homodyne"] == [None] and doc["W_ensemble"]["homodyne"][0] is not None
