"""Threshold estimates: quadrature distributions against closed forms, the estimators on curves
with a known answer, and the sweep / command line."""

import json

import numpy as np
import pytest
import qutip

from cimqb_traj import BatteryParams
from cimqb_traj.cli import main
from cimqb_traj.threshold import (bimodal_threshold, bimodal_threshold_fit, bimodality, curvature_threshold,
                                  kink_threshold, quadrature_distribution, sweep)

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


@pytest.mark.parametrize("argv, name", [
    (["--F-steps", "3"], "--F-steps"),
    (["--F-min", "2", "--F-max", "1"], "--F-max"),
    (["--F-min", "nan"], "--F-min"),
    (["--methods", "magic"], "--methods"),
    (["--kappa", "-1"], "--kappa"),
])
def test_threshold_bad_input(argv, name, capsys):
    assert main(["threshold", "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err, err


def test_sweep_with_positive_p_samples():
    """Positive-P steady states in the sweep: far below threshold (F = 0.2 F_th, relaxation time
    ~ 1/(gamma_s (1 - F/F_th)) ~ 1.3 << t_steady = 8) <n_s> agrees with the exact steady state
    within 4 standard errors plus a time-step floor 0.1 dt (the bias the phase-space tests
    measured is ~1 dt^2)."""
    p = BatteryParams(Ns=10, Np=6, kappa=1.0, gamma_p=4.0)
    F = np.linspace(0.1, 0.9, 5)
    r = sweep(p, F, methods=("exact", "positive-p"), progress=False, samples=400, t_steady=8.0, dt=4e-3, seed=3)
    n, e = np.array(r["n_s"]["positive-p"]), np.array(r["n_s_err"]["positive-p"])
    assert np.all(e > 0)
    assert abs(n[0] - r["n_s"]["exact"][0]) <= 4 * e[0] + 0.1 * 4e-3
    assert set(r["F_th_quantum"]["positive-p"]) == {"curvature", "kink", "bimodal"}
    assert set(r["F_th_quantum_err"]["positive-p"]) == {"curvature", "kink", "bimodal"}
