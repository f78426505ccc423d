"""Threshold estimates: quadrature distributions against closed forms, the estimators on curves
with a known answer, and the sweep / command line."""

import json

import numpy as np
import pytest
import qutip

from cimqb_traj import BatteryParams
from cimqb_traj.cli import main
from cimqb_traj.threshold import (bimodal_estimate, bimodal_fit_estimate, bimodal_threshold, bimodal_threshold_fit,
                                  bimodality, curvature_estimate, curvature_threshold, kink_estimate, kink_threshold,
                                  no_signal, quadrature_distribution, sweep)

N = 30


def test_quadrature_distribution_closed_forms():
    x = np.linspace(-4, 4, 81)
    # vacuum: P(x) = exp(-x^2) / sqrt(pi);  coherent |alpha>, alpha real: centred at sqrt(2) alpha
    np.testing.assert_allclose(quadrature_distribution(qutip.fock_dm(N, 0), x), np.exp(-x**2) / np.sqrt(np.pi), atol=1e-12)
    a = 1.3
    np.testing.assert_allclose(quadrature_distribution(qutip.coherent_dm(N, a), x),
                               np.exp(-(x - np.sqrt(2) * a) ** 2) / np.sqrt(np.pi), atol=1e-9)
    # thermal with mean n: Gaussian of variance (2n+1)/2; normalised
    n = 0.7
    P = quadrature_distribution(qutip.thermal_dm(N, n), x)
    np.testing.assert_allclose(P, np.exp(-x**2 / (2 * n + 1)) / np.sqrt(np.pi * (2 * n + 1)), atol=1e-9)
    xx = np.linspace(-8, 8, 2001)
    assert abs(np.trapezoid(quadrature_distribution(qutip.thermal_dm(N, n), xx), xx) - 1) < 1e-9


def test_bimodality_of_known_states():
    # P''(0)/P(0) = -2/(2n+1) for a thermal state (n = 0: vacuum); the O(h^2) difference error
    # at h = 1e-2 is ~1e-4
    assert bimodality(qutip.fock_dm(N, 0)) == pytest.approx(-2.0, abs=1e-3)
    assert bimodality(qutip.thermal_dm(N, 0.7)) == pytest.approx(-2 / 2.4, abs=1e-3)
    cat = (qutip.coherent(N, 2.0) + qutip.coherent(N, -2.0)).unit()
    assert bimodality(cat * cat.dag()) > 0  # two separated peaks
    small = (qutip.coherent(N, 0.3) + qutip.coherent(N, -0.3)).unit()
    assert bimodality(small * small.dag()) < 0  # overlapping: one peak


def test_estimators_on_curves_with_a_known_answer():
    F = np.linspace(1.0, 3.0, 21)
    n = np.maximum(0.0, 4.0 * (F - 2.03))  # a kink at 2.03
    assert abs(curvature_threshold(F, n) - 2.03) <= 0.1  # within one grid step
    b = F - 2.37  # changes sign at 2.37, linear: interpolation exact
    assert bimodal_threshold(F, b) == pytest.approx(2.37)
    assert np.isnan(bimodal_threshold(F, -np.ones_like(F)))
    # "from which on": a positive blip below the last sign change (sampling noise) does not count;
    # +inf (P(0) = 0: no sample near x = 0) counts as positive, NaN points are skipped
    G = np.arange(1.0, 8.0)
    assert bimodal_threshold(G, [-1, 0.1, -1, -0.5, 0.5, 1, 2]) == pytest.approx(4.5)
    assert bimodal_threshold(G, [-1, -1, -1, -0.5, np.inf, np.inf, np.inf]) == pytest.approx(4.5)
    assert bimodal_threshold(G, [-1, np.nan, -1, -0.5, 0.5, np.nan, 2]) == pytest.approx(4.5)
    assert np.isnan(bimodal_threshold(G, [-1, -1, -1, 1, 1, 1, -0.1]))  # not bimodal at the top
    # the noise-robust estimators: an exact rounded kink is found exactly, a noisy line's zero
    # within its error (4 sigma), unresolved points (err > 0.5 or |b| > 1) left out
    F0, w = 2.1, 0.15
    n = 0.3 + 0.5 * 5.0 * ((F - F0) + np.sqrt((F - F0) ** 2 + w**2))
    k, ke = kink_threshold(F, n)
    assert k == pytest.approx(F0, abs=1e-6)
    rng = np.random.default_rng(0)
    e = np.full_like(F, 0.05)
    bb = (F - 2.37) + e * rng.standard_normal(F.size)
    bb[-1], e[0] = 50.0, 2.0  # an unresolved point at each end
    z, ze = bimodal_threshold_fit(F, bb, e)
    assert abs(z - 2.37) <= 4 * ze and ze < 0.05


def test_sweep_small_truncation():
    p = BatteryParams(Ns=12, Np=6, kappa=1.0, gamma_p=4.0)  # F_th = 0.5
    F = np.linspace(0.1, 1.3, 13)
    r = sweep(p, F, progress=False)
    assert r["F_th_meanfield"] == pytest.approx(0.5)
    assert abs(r["F_th_quantum"]["mean-field"]["curvature"] - 0.5) <= 0.1
    n = np.array(r["n_s"]["exact"])
    assert np.all(np.diff(n) > 0)  # more pump, more signal photons
    b = np.array(r["bimodality"]["exact"])
    assert b[0] < 0 < b[-1]  # one peak far below threshold, two far above
    # quantum noise rounds the kink and smears the transition: both estimates lie above F_th
    assert r["F_th_quantum"]["exact"]["curvature"] > 0.5 and r["F_th_quantum"]["exact"]["bimodal"] > 0.5


def test_threshold_cli(tmp_path, capsys):
    argv = ["threshold", "--ns", "10", "--np", "5", "--kappa", "1", "--gamma-p", "4", "--F-min", "0.1",
            "--F-max", "0.9", "--F-steps", "9", "--no-progress", "--json", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"F_th_meanfield", "F_th_quantum", "F", "n_s"}
    assert set(out["n_s"]) == {"mean-field", "exact"}
    assert (tmp_path / "threshold.png").stat().st_size > 1000
    assert json.loads((tmp_path / "threshold.json").read_text())["F"] == out["F"]
    import xarray as xr  # the data file opens without this package, F a coordinate, n_s per method

    with xr.open_dataset(tmp_path / "threshold.h5", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["F"].values, out["F"])
        np.testing.assert_array_equal(ds["n_s"].sel(methods="exact").values, out["n_s"]["exact"])
        assert ds["n_s"].attrs["units"]


@pytest.mark.parametrize("argv, name", [
    (["--F-steps", "3"], "--F-steps"),
    (["--F-min", "2", "--F-max", "1"], "--F-max"),
    (["--F-min", "nan"], "--F-min"),
    (["--method", "magic"], "--method"),
    (["--kappa", "-1"], "--kappa"),
])
def test_threshold_bad_input(argv, name, capsys):
    assert main(["threshold", "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err, err


def test_sweep_with_positive_p_samples():
    """Positive-P in the sweep against the exact density matrix at the same time t_steady (not the
    steady state, so that slow relaxation near threshold plays no role): every point within the
    family-wise t threshold of its jackknife error (20 groups) plus a step floor 0.1 dt (the bias
    the phase-space tests measured is ~dt^2 <n_s>); and every point resolved (n > 5 err), so that a
    zero or a halved <n_s> cannot pass."""
    from stats import assert_within

    from cimqb_traj import exact

    p = BatteryParams(Ns=10, Np=6, kappa=1.0, gamma_p=4.0)
    F = np.linspace(0.3, 0.9, 5)  # from F = 0.3 on <n_s> is resolved (> 8 err) with 400 samples
    T, dt = 8.0, 4e-3
    r = sweep(p, F, methods=("positive-p",), progress=False, samples=400, t_steady=T, dt=dt, seed=3)
    n, e = np.array(r["n_s"]["positive-p"]), np.array(r["n_s_err"]["positive-p"])
    ref = np.array([exact.charge(p.replace(F=f, Ns=14), [0.0, T]).energy[-1] for f in F])  # omega_s = 1
    assert np.all(n > 5 * e), (n, e)
    assert_within(n, ref, e, "positive-p <n_s>(t_steady) against exact", groups=20, floor=0.1 * dt)
    assert set(r["F_th_quantum"]["positive-p"]) == {"curvature", "kink", "bimodal"}
    assert set(r["F_th_quantum_err"]["positive-p"]) == {"curvature", "kink", "bimodal"}


# ---- no threshold where there is none (issue 11, point 3) ----

def test_estimators_give_none_for_curves_without_signal():
    F = np.linspace(0.5, 1.0, 11)
    zero = np.zeros_like(F)
    for est in (curvature_estimate(F, zero), kink_estimate(F, zero)):
        assert est.value is None and "flat" in est.reason
    assert np.isnan(curvature_threshold(F, zero)) and np.isnan(kink_threshold(F, zero)[0])
    # a convex curve rising to the top of the grid (the exact <n_s> below threshold): the
    # curvature peaks at the edge, the kink is not inside the range
    est = curvature_estimate(F, np.exp(8 * F))
    assert est.value is None and "edge" in est.reason
    # bimodal over the whole range: the onset lies below it (it used to return F[0])
    est = bimodal_estimate(F, np.ones_like(F))
    assert est.value is None and "below" in est.reason and np.isnan(bimodal_threshold(F, np.ones_like(F)))
    # sampled curves: noise about a constant is no signal (chi^2), a kink 20 sigma high is
    rng = np.random.default_rng(1)
    err = np.full_like(F, 0.05)
    assert no_signal(F, 0.3 + err * rng.standard_normal(F.size), err) is not None
    assert no_signal(F, np.maximum(0, 20 * (F - 0.7)) + err * rng.standard_normal(F.size), err) is None
    assert kink_estimate(F, 0.3 + err * rng.standard_normal(F.size), err).value is None
    # a noisy P''(0)/P(0) with no trend: its fitted zero is noise, not an onset
    b = 0.1 + 0.1 * rng.standard_normal(F.size)
    est = bimodal_fit_estimate(F, b, np.full_like(F, 0.1))
    assert est.value is None and "noise" in est.reason


def test_sweep_below_threshold_has_no_threshold(monkeypatch):
    """The issue's case `threshold --F-min 0.5 --F-max 1` (F_th = 2): no estimate, the reason, strict
    JSON, and a plot with the reason as text and no estimate line."""
    from cimqb_traj import plotting

    p = BatteryParams(Ns=10, Np=5)
    assert p.threshold == pytest.approx(2.0)
    r = sweep(p, np.linspace(0.5, 1.0, 6), progress=False)
    json.dumps(r, allow_nan=False)
    for m in ("mean-field", "exact"):
        for d, v in r["F_th_quantum"][m].items():
            assert v is None
            assert r["F_th_quantum_reason"][m][d] == "F range 0.5..1 lies below the mean-field threshold 2"
    assert [v["verdict"] for v in r["truncation"]["exact"]] == ["ok"] * 6
    figs = []
    monkeypatch.setattr(plotting, "_save", lambda fig, path: figs.append(fig))
    plotting.plot_threshold(r, "unused.png")
    ax = figs[0].axes[0]
    assert any("lies below the mean-field threshold 2" in t.get_text() for t in ax.texts)
    vlines = [ln for ln in ax.lines if len(set(ln.get_xdata())) == 1]
    assert len(vlines) == 1 and vlines[0].get_xdata()[0] == pytest.approx(2.0)  # F_th only


def test_sweep_above_range_and_kappa_zero():
    r = sweep(BatteryParams(kappa=0.0), np.linspace(0.5, 1.0, 5), methods=("mean-field",))
    assert r["F_th_meanfield"] is None and r["null_reasons"]["F_th_meanfield"].startswith("kappa = 0")
    assert r["F_th_quantum"]["mean-field"] == {"curvature": None, "kink": None}
    r = sweep(BatteryParams(), np.linspace(3, 4, 5), methods=("mean-field",))  # F_th = 2
    assert "lies above" in r["F_th_quantum_reason"]["mean-field"]["kink"]


# ---- every valid model (issue 11, point 3) ----

def _jacobian_threshold(p):
    """F where the trivial fixed point's largest growth rate crosses zero (brentq on the
    Jacobian's eigenvalues; independent of the closed form in BatteryParams.threshold)."""
    from scipy.optimize import brentq

    from cimqb_traj import model

    def growth(F):
        return np.linalg.eigvals(model.mean_field_jacobian(p.replace(F=F), 0j, 2 * F / np.sqrt(p.gamma_p) + 0j)).real.max()

    return brentq(growth, 1e-6, 100.0, xtol=1e-12)


def test_detuned_mean_field_sweep_against_the_jacobian_threshold():
    """The issue's `--kappa 0.8 --gamma-p 10 --delta 0.3`: <n_s>(F) is zero up to the Jacobian
    threshold and grows above it; both estimates land within one grid step of it."""
    p = BatteryParams(kappa=0.8, gamma_p=10.0, delta=0.3)
    F_th = _jacobian_threshold(p)
    assert F_th == pytest.approx(p.threshold, rel=1e-9)
    F = np.linspace(0.9, 1.6, 36)
    dF = F[1] - F[0]
    r = sweep(p, F, methods=("mean-field",))
    n = np.array(r["n_s"]["mean-field"])
    assert np.all(n[F <= F_th] == 0) and np.all(n[F > F_th] > 0) and np.all(np.diff(n[F > F_th]) > 0)
    for d in ("curvature", "kink"):
        assert abs(r["F_th_quantum"]["mean-field"][d] - F_th) <= dF, d


@pytest.mark.parametrize("kw", [dict(F=1.5, delta=0.3), dict(F=-2.5, delta=-0.7), dict(F=1.0, eps=0.1),
                                dict(F=3.0, eps=-0.2, delta=0.4)])
def test_mean_field_steady_state_is_where_the_flow_goes(kw):
    """mean_field_steady_state (closed form with detuning, flow + Newton with a seed) against an
    independent long integration of mean_field_rhs from a small seed of the right phase."""
    from scipy.integrate import solve_ivp

    from cimqb_traj import model

    p = BatteryParams(kappa=0.8, gamma_p=10.0, **kw)
    a_s, a_p = model.mean_field_steady_state(p)

    def f(t, y):
        ds, dp = model.mean_field_rhs(p, t, y[0] + 1j * y[1], y[2] + 1j * y[3])
        return [ds.real, ds.imag, dp.real, dp.imag]

    z = 1e-3 * np.exp(1j * np.angle(a_s)) if a_s != 0 else 1e-3
    y = solve_ivp(f, (0, 400), [z.real, z.imag, 0, 0], rtol=1e-10, atol=1e-12).y[:, -1]
    # converged to ~1e-9 by t = 400 (slowest rate here >= 0.05); the fixed point to 1e-12
    assert abs(y[0] + 1j * y[1] - a_s) < 1e-6 and abs(y[2] + 1j * y[3] - a_p) < 1e-6


def test_seeded_thermal_detuned_exact_sweep_against_qutip_steadystate():
    """With a seed (the parity-sector solver refuses it) the exact path evolves to the steady state:
    against qutip.steadystate on the full Liouvillian at the same small cut, within the
    relaxation tolerance RELAX_TOL max(n, 1) plus the solvers' 1e-6."""
    from cimqb_traj import model
    from cimqb_traj.threshold import RELAX_TOL

    p = BatteryParams(Ns=8, Np=4, kappa=1.0, gamma_p=4.0, eps=0.05, nth_s=0.1, nth_p=0.05, delta=0.2)
    F = np.linspace(0.2, 0.6, 5)
    r = sweep(p, F, methods=("mean-field", "exact"), progress=False, t_steady=5.0, trunc_tol=0)
    json.dumps(r, allow_nan=False)
    assert len(r["truncation"]["exact"]) == 5 and len(r["exact_relaxation"]) == 5
    n_mf = np.array(r["n_s"]["mean-field"])
    assert np.all(n_mf > 0)  # the seed displaces the signal below threshold too
    for k in (0, 4):
        q = p.replace(F=F[k])
        rho = qutip.steadystate(model.hamiltonian(q), model.collapse_ops(q)).ptrace(0)
        ref = float(qutip.expect(qutip.num(8), rho))
        assert abs(r["n_s"]["exact"][k] - ref) <= RELAX_TOL * max(ref, 1) + 1e-6, (k, r["n_s"]["exact"][k], ref)
        assert r["bimodality"]["exact"][k] == pytest.approx(bimodality(rho), abs=RELAX_TOL + 1e-6)


def test_sweep_refuses_a_too_small_truncation_naming_the_point():
    from cimqb_traj.truncation import TruncationError

    p = BatteryParams(Ns=6, Np=3, kappa=1.0, gamma_p=4.0)  # F_th = 0.5; at 3 F_th the signal fills Ns = 6
    with pytest.raises(TruncationError, match=r"exact steady state at F=1\.5"):
        sweep(p, np.linspace(0.3, 1.5, 5), progress=False)
