"""Phase-space methods: mean field (threshold, bifurcation, steady state), positive-P and
truncated Wigner sampling against the exact master equation and against exactly solvable
linear cases, reproducibility and input checks.

Seeds are fixed, so every test is deterministic; each tolerance is argued where it is used.
"""

import math

import numpy as np
import pytest
import qutip

from cimqb_traj import exact
from cimqb_traj.ergotropy import ergotropy_parts
from cimqb_traj.params import BatteryParams
from cimqb_traj.phasespace import PositiveP, Wigner, diverged, moments
from cimqb_traj.phasespace import meanfield as mf
from cimqb_traj.trajectories.base import GroupSums, charge_problem, discharge_problem
from cimqb_traj.trajectories.ensemble import run

# --- 1. mean field -------------------------------------------------------------------------

CASES = [(0.5, 16.0, 0.0), (0.3, 4.0, 0.7), (1.2, 32.0, -2.0), (0.8, 9.0, 0.25), (2.0, 1.0, 5.0)]


@pytest.mark.parametrize("kappa, gamma_p, delta", CASES)
def test_bifurcation_is_threshold(kappa, gamma_p, delta):
    # brentq on the largest real part of the 4x4 Jacobian's eigenvalues (numerical) against
    # the closed form of the alpha_s, alpha_s^* block; both equal params.threshold.  brentq
    # runs to xtol = rtol = 1e-14 on a function that is smooth through its zero, so 1e-10
    # relative is far above its error and far below any formula mistake.
    p = BatteryParams(kappa=kappa, gamma_p=gamma_p, delta=delta)
    F_th = mf.threshold(kappa, 1.0, gamma_p, delta)
    assert F_th == pytest.approx(p.threshold, rel=1e-14)
    assert mf.bifurcation(p) == pytest.approx(F_th, rel=1e-10)


@pytest.mark.parametrize("kappa, gamma_p, delta", CASES)
def test_jacobian_and_eigenvalues(kappa, gamma_p, delta):
    from cimqb_traj import model

    p = BatteryParams(kappa=kappa, gamma_p=gamma_p, delta=delta, F=1.3)
    # analytic Jacobian against the model's central differences (exact for a quadratic flow up
    # to rounding ~ 1e-16 / 1e-7 step ~ 1e-9)
    J = mf.jacobian(p, 0.3 + 0.2j, 1.1 - 0.4j)
    assert np.allclose(J, model.mean_field_jacobian(p, 0.3 + 0.2j, 1.1 - 0.4j), rtol=0, atol=1e-7)
    # eigenvalues at the trivial fixed point: -gamma_s/2 +- sqrt(kappa^2 a_p0^2 - Delta^2), -gamma_p/2 (x2)
    ap0 = 2 * p.F / math.sqrt(gamma_p)
    r = np.sqrt(complex(kappa**2 * ap0**2 - delta**2))
    expected = np.array([-0.5 + r, -0.5 - r, -gamma_p / 2, -gamma_p / 2])
    got = mf.stability_eigenvalues(p)
    assert np.allclose(np.sort_complex(got), np.sort_complex(expected), atol=1e-12)


@pytest.mark.parametrize("F", [2.5, 3.0, 4.0])
def test_mean_field_converges_above_threshold(F):
    # From a small seed the ODE reaches the Delta = 0 fixed point |alpha_s|^2 =
    # (2/kappa)(sqrt(gamma_p) F - gamma_p gamma_s/(4 kappa)), alpha_p = gamma_s/(2 kappa).
    # The slowest relaxation rate near it is >= 0.1 here, so by t = 400 the distance is
    # e^{-40}-small; what is left is the integrator's error (rtol 1e-10).
    p = BatteryParams(F=F)
    res = mf.mean_field(p, [0.0, 200.0, 400.0], alpha_s0=1e-3)
    a_s, a_p = mf.steady_state(p)
    assert res.n_s[-1] == pytest.approx(abs(a_s) ** 2, rel=1e-8)
    assert res.n_s[-1] == pytest.approx((2 / p.kappa) * (math.sqrt(p.gamma_p) * F - p.gamma_p / (4 * p.kappa)), rel=1e-8)
    assert res.alpha_p[-1] == pytest.approx(1 / (2 * p.kappa), rel=1e-8)
    assert res.alpha_s[-1].real > 0 and abs(res.alpha_s[-1].imag) < 1e-8  # the seed's phase (spin up)
    # a negative seed picks the other spin
    assert mf.mean_field(p, [0.0, 400.0], alpha_s0=-1e-3).alpha_s[-1].real < 0


def test_mean_field_below_threshold_and_vacuum():
    p = BatteryParams(F=1.0)  # F_th = 2
    res = mf.mean_field(p, [0.0, 100.0], alpha_s0=0.5)
    assert abs(res.alpha_s[-1]) < 1e-8
    assert res.alpha_p[-1] == pytest.approx(2 * p.F / math.sqrt(p.gamma_p), rel=1e-9)
    # from the vacuum alpha_s stays exactly 0, above threshold too (parity), and W = n_s = 0
    res = mf.mean_field(BatteryParams(F=3.0), np.linspace(0, 20, 5))
    assert np.all(res.alpha_s == 0) and np.all(res.W == 0)


def test_mean_field_switch_off_and_detuning():
    # integrating across t_off equals restarting at t_off with F = 0 from the state there
    p = BatteryParams(F=3.0, delta=0.2, t_off=7.0)
    t = np.linspace(0, 12, 13)
    res = mf.mean_field(p, t, alpha_s0=0.01)
    on = mf.mean_field(p.replace(t_off=None), [0.0, 7.0], alpha_s0=0.01)
    off = mf.mean_field(p.replace(F=0.0, t_off=None), t[7:] - 7.0, alpha_s0=on.alpha_s[-1], alpha_p0=on.alpha_p[-1])
    assert np.allclose(res.alpha_s[7:], off.alpha_s, rtol=1e-7, atol=1e-9)
    assert np.allclose(res.alpha_p[7:], off.alpha_p, rtol=1e-7, atol=1e-9)
    # the right-hand side with detuning is the model's
    from cimqb_traj import model

    ds, dp = mf.rhs(p, 0.3 + 0.1j, 0.5 - 0.2j)
    ms, mp = model.mean_field_rhs(p, 0.0, 0.3 + 0.1j, 0.5 - 0.2j)
    assert ds == pytest.approx(ms, abs=1e-15) and dp == pytest.approx(mp, abs=1e-15)


def test_coherent_ergotropy_parts():
    # W = n, W_i from the Poisson weights sorted descending: compare with ergotropy_parts on a
    # coherent density matrix truncated far beyond its tail (Ns = 80 for n <= 16: tail < 1e-20)
    n = np.array([0.3, 1.0, 2.5, 16.0])
    W, Wc, Wi = mf.coherent_ergotropy(n)
    for k, N in enumerate(n):
        rho = qutip.coherent_dm(80, math.sqrt(N), method="analytic").full()
        e = ergotropy_parts(rho)
        assert W[k] == pytest.approx(e.W, abs=1e-9)
        assert Wi[k] == pytest.approx(e.W_i, abs=1e-9) and Wc[k] == pytest.approx(e.W_c, abs=1e-9)
    assert Wi[0] == 0 and Wi[1] == 0 and Wi[3] > 1  # W_i = 0 only for n <= 1


def test_mean_field_bad_input():
    with pytest.raises(ValueError, match="params"):
        mf.mean_field("p", [0, 1])
    with pytest.raises(ValueError, match="^t "):
        mf.mean_field(BatteryParams(), [1.0, 0.5])
    with pytest.raises(ValueError, match="alpha_s0"):
        mf.mean_field(BatteryParams(), [0, 1], alpha_s0="x")
    with pytest.raises(ValueError, match="rtol"):
        mf.mean_field(BatteryParams(), [0, 1], rtol=-1)
    with pytest.raises(ValueError, match="kappa"):
        mf.threshold(-1.0, 1.0, 16.0)
    with pytest.raises(ValueError, match="delta"):
        mf.steady_state(BatteryParams(delta=0.1))
