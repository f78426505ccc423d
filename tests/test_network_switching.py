"""Spin stability (issue 14, point 5): the Liouvillian's slowest rate and the switching statistics.

Truths: the kappa = 0 spectrum in closed form (damped oscillators), a dense ``numpy.linalg.eigvals``
of the same superoperator, the phase-flip symmetry, and a synthetic telegraph process of known rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats import assert_within

from cimqb_traj.errors import Refused
from cimqb_traj.network.switching import (hysteresis_spin, liouvillian, liouvillian_gap, switching_rate,
                                          telegraph_correlation)
from cimqb_traj.params import BatteryParams
from cimqb_traj.truncation import TruncationError, TruncationWarning

FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])
# g = kappa / sqrt(gamma_s gamma_p) = 0.5, F = 1.5 F_th: ~1 signal photon, lambda_1 ~ 0.1 gamma_s
SPIN = BatteryParams(kappa=1.0, gamma_p=4.0, F=1.5 * 0.5, Ns=6, Np=3)


def test_kappa0_single_closed_form():
    # kappa = 0, F = 0: signal and pump are damped oscillators; |n><m| of a mode decays at
    # -(gamma/2)(n + m) - i Delta (n - m) (exact at any truncation: L is triangular in n + m).
    # Slowest: -gamma_s/2 -+ i Delta (|1><0|, |0><1|: odd), then -gamma_s (|1><1|, |2><0|, |0><2|).
    p = BatteryParams(kappa=0.0, gamma_p=4.0, F=0.0, delta=0.3, Ns=4, Np=3)
    r = liouvillian_gap(p, k=4, method="shift-invert", trunc_tol=0)
    w = r.eigenvalues
    assert np.allclose(w[:2].real, -0.5, atol=1e-9)  # eigs tolerance
    assert np.allclose(np.sort(w[:2].imag), [-0.3, 0.3], atol=1e-9)
    assert np.allclose(w[2:].real, -1.0, atol=1e-9)
    assert np.allclose(r.parity[:2], -1.0, atol=1e-9) and np.allclose(r.parity[2:], 1.0, atol=1e-9)
    assert r.rate == pytest.approx(0.5, abs=1e-9)


def test_kappa0_pair_normal_modes():
    # kappa = 0, F = 0, ferro pair: the signal damping matrix gamma_s I + eta (1 -1; -1 1) has the
    # modes (a0 +- a1)/sqrt(2) with amplitude rates gamma_s/2 and gamma_s/2 + eta (eta = 0.2 here):
    # slowest -0.5 (x2, odd), -0.7 (x2, odd); the even sector's slowest is 2 x 0.5 = 1.0.
    p = BatteryParams(kappa=0.0, gamma_p=4.0, F=0.0, Ns=3, Np=2)
    r = liouvillian_gap(p, FERRO, 0.2, k=4, method="shift-invert", trunc_tol=0)
    assert np.allclose(r.eigenvalues, [-0.5, -0.5, -0.7, -0.7], atol=1e-9)
    assert r.N == 2 and np.allclose(r.parity, -1.0, atol=1e-9)
    pw = liouvillian_gap(p, FERRO, 0.2, k=4, method="exp-arnoldi", trunc_tol=0)
    assert np.allclose(pw.eigenvalues, [-0.5, -0.5, -0.7, -0.7], atol=1e-6)  # RESIDUAL acceptance 1e-6
    assert np.allclose(pw.parity, -1.0, atol=1e-6)


def test_slowest_mode_is_odd_and_matches_dense():
    # above threshold the slowest mode is the tunnelling between the phases: isolated, real, odd under
    # the phase flip rho -> P rho P; both sparse solvers against a dense eig of the same matrix
    L, Pi, D, _ = liouvillian(SPIN)
    w = np.linalg.eigvals(L.toarray())
    w = w[np.argsort(-w.real)]
    assert abs(w[0]) < 1e-10  # the steady state
    si = liouvillian_gap(SPIN, k=3, method="shift-invert", trunc_tol=0)
    assert np.allclose(si.eigenvalues, w[1:4], atol=1e-8)
    assert si.parity[0] == pytest.approx(-1.0, abs=1e-8)
    assert abs(si.eigenvalues[0].imag) < 1e-10 and si.rate < 0.25 * -si.eigenvalues[1].real  # isolated
    pw = liouvillian_gap(SPIN, k=3, method="exp-arnoldi", trunc_tol=0)
    assert np.allclose(pw.eigenvalues, w[1:4], atol=1e-6)  # RESIDUAL acceptance 1e-6
    assert np.allclose(pw.parity, si.parity, atol=1e-6)
    odd = liouvillian_gap(SPIN, k=1, method="exp-arnoldi", sector="odd", trunc_tol=0)
    assert odd.eigenvalues[0] == pytest.approx(w[1], abs=1e-6) and odd.parity[0] == pytest.approx(-1.0)
    assert pw.switching_rate == pytest.approx(0.5 * pw.rate)


def test_truncation_check_flags_a_small_cut():
    # a ~1-photon state: at Ns = 4, Np = 3 (against 3 / 2) lambda_1 moves by ~60 %: refused
    # (> REFUSE = 25 %); at Ns = 6, Np = 4 (against 5 / 3) by ~17 %: warned (> trunc_tol = 1 %)
    with pytest.raises(TruncationError) as e:
        liouvillian_gap(SPIN.replace(Ns=4, Np=3), method="exp-arnoldi")
    assert e.value.truncation["verdict"] == "refused" and e.value.truncation["error"] > 0.25
    with pytest.warns(TruncationWarning, match="lambda_1"):
        r = liouvillian_gap(SPIN.replace(Ns=6, Np=4), method="exp-arnoldi")
    assert r.truncation["verdict"] == "warn" and 0.01 < r.change <= 0.25
    assert (r.Ns_coarse, r.Np_coarse) == (5, 3)
    assert r.change == pytest.approx(abs(r.rate - r.rate_coarse) / r.rate)


def test_gap_bad_input():
    with pytest.raises(ValueError, match="eta"):
        liouvillian_gap(SPIN, eta=0.5)
    with pytest.raises(ValueError, match="method"):
        liouvillian_gap(SPIN, method="lanczos")
    with pytest.raises(ValueError, match="k must"):
        liouvillian_gap(SPIN, k=0)
    with pytest.raises(ValueError, match="sector"):
        liouvillian_gap(SPIN, method="shift-invert", sector="odd")
    with pytest.raises(Refused, match="shift-invert"):
        liouvillian_gap(SPIN.replace(Ns=30, Np=6), method="shift-invert", trunc_tol=0)


def _telegraph(k, dt, nt, shots, noise, seed):
    """Symmetric telegraph +-1 with rate k per direction, sampled every dt (the flip probability per
    step (1 - exp(-2 k dt))/2 makes <s(t)s(t+tau)> = exp(-2 k tau) exact on the grid), plus white
    Gaussian noise of standard deviation ``noise``."""
    rng = np.random.default_rng(seed)
    q = 0.5 * (1 - math.exp(-2 * k * dt))
    flips = rng.random((shots, nt - 1)) < q
    s0 = rng.choice([-1, 1], size=(shots, 1))
    s = s0 * np.concatenate([np.ones((shots, 1)), np.cumprod(np.where(flips, -1, 1), axis=1)], axis=1)
    return s + noise * rng.standard_normal(s.shape), np.arange(nt) * dt


def test_switching_rate_recovers_telegraph_rate():
    k, dt = 0.05, 0.05
    x, t = _telegraph(k, dt, 40_000, 20, 0.3, seed=1)
    sw = switching_rate(x, t, band=0.5)
    # on the grid, observed sign changes per step are q = (1 - e^{-2k dt})/2 = k dt (1 - k dt + ..):
    # a relative bias 2.5e-3, below the ~2 % standard error; the noise crosses the band with
    # probability Phi(-5) per point (~0.3 false switches of ~2000)
    assert_within(sw.rate, k, sw.rate_err, "switching rate (Poisson SE)")
    assert_within(sw.rate, k, sw.rate_err_shots, "switching rate (SE over shots)", groups=20)
    assert sw.mean_time[0] == pytest.approx(1 / sw.rate[0])
    tc = telegraph_correlation(x, t, band=0.5, max_lag=20.0)
    assert_within(tc.rate, 2 * k, tc.rate_err, "C(tau) decay rate", groups=20)
    assert tc.C[0] == 1.0


def test_hysteresis_spin_and_input_checks():
    x = np.array([[0.1, 0.6, 0.2, -0.3, -0.7, 0.4, 0.8]])
    assert hysteresis_spin(x, 0.5).tolist() == [[0, 1, 1, 1, -1, -1, 1]]
    t = np.arange(7.0)
    assert switching_rate(x, t, band=0.5).switches.tolist() == [2]
    # from t_min = 2 the spin starts undecided (the sign before t_min is not carried): one switch
    assert switching_rate(x, t, band=0.5, t_min=2.0).switches.tolist() == [1]
    assert switching_rate(x[:, :, None].repeat(2, axis=2), t, band=0.5).rate.shape == (2,)
    with pytest.raises(ValueError, match="band"):
        switching_rate(x, t, band=-1)
    with pytest.raises(ValueError, match="t must"):
        switching_rate(x, t[::-1], band=0.5)
    with pytest.raises(ValueError, match="finite"):
        switching_rate(np.full((1, 7), np.nan), t, band=0.5)
    with pytest.raises(ValueError, match="shots"):
        telegraph_correlation(x, t, band=0.5, max_lag=2.0)
