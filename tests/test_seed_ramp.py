"""The coherent seed eps and the pump ramp (issue 6, item 1) in every method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cimqb_traj import BatteryParams, exact
from cimqb_traj.params import RAMP_PIECE, ramp_pieces
from cimqb_traj.phasespace import PositiveP, Wigner, mean_field, moments
from cimqb_traj.trajectories import charge_problem, run
from cimqb_traj.trajectories.homodyne import Homodyne
from cimqb_traj.trajectories.jump import Jump


def _a(N):
    return np.diag(np.sqrt(np.arange(1, N)), 1)


def test_ramp_staircase_and_cuts():
    p = BatteryParams(F=2.0, t_ramp=1.0, t_off=0.55)
    n = ramp_pieces(1.0)
    assert n == 10 and 1.0 / n <= RAMP_PIECE
    assert p.F_at(0.0) == pytest.approx(0.1) and p.F_at(0.05) == pytest.approx(0.1)
    assert p.F_at(0.3) == pytest.approx(0.7)  # a cut belongs to the next piece
    assert p.F_at(0.55) == 0.0 and p.replace(t_off=None).F_at(5.0) == 2.0
    assert p.cuts(0.0, 0.35) == pytest.approx([0.1, 0.2, 0.3])
    assert p.cuts(0.5, 2.0) == pytest.approx([0.55, 0.6, 0.7, 0.8, 0.9, 1.0])
    for bad in ({"eps": float("nan")}, {"eps": "x"}, {"t_ramp": 0.0}, {"t_ramp": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            BatteryParams(**bad)


def test_linear_seed_and_ramp_closed_forms():
    # kappa = 0: the signal is a coherent state with alpha_s(t) = (2 eps / gamma_s)(1 - e^{-gamma_s t/2})
    # and the pump follows the staircase piece by piece, alpha_p -> alpha_p e^{-gamma_p h/2}
    # + 2 F_k / sqrt(gamma_p) (1 - e^{-gamma_p h/2}).  The exact solver, mean field and
    # positive-P (noise-free at kappa = 0) must reproduce both (tolerances: solver rtol 1e-8,
    # ODE rtol 1e-10, Heun's O(h^2) error at h = 1e-3: ~1e-6).
    p = BatteryParams(Ns=12, Np=8, kappa=0.0, gamma_p=4.0, F=0.8, eps=0.4, t_ramp=0.7)
    t = np.array([0.0, 0.35, 0.7, 1.2])
    a_s = 2 * p.eps / p.gamma_s * (1 - np.exp(-p.gamma_s * t / 2))
    a_p, x, tc = [], 0.0, 0.0
    for tt in t:
        for c in [*p.cuts(tc, tt), tt]:
            h = c - tc
            x = x * math.exp(-p.gamma_p * h / 2) + 2 * p.F_at(tc + h / 2) / math.sqrt(p.gamma_p) * (1 - math.exp(-p.gamma_p * h / 2))
            tc = c
        a_p.append(x)
    a_p = np.array(a_p)
    ex = exact.charge(p, t, trunc_tol=None)
    assert ex.options["engine"] == "fast"  # the packed kernel has the seed term
    assert np.allclose(np.einsum("tij,ji->t", ex.rho_s, _a(p.Ns)), a_s, atol=1e-6)
    assert np.allclose(ex.n_p, a_p**2, atol=1e-6)  # the pump is coherent: n_p = |alpha_p|^2
    mf = mean_field(p, t)
    assert np.allclose(mf.alpha_s, a_s, atol=1e-8) and np.allclose(mf.alpha_p, a_p, atol=1e-8)
    mo = moments(run(PositiveP(dt=1e-3), charge_problem(p, t), 4, 0, groups=2, progress=False))
    assert np.allclose(mo["a"][0], a_s, atol=1e-5) and np.allclose(mo["a_p"][0], a_p, atol=1e-5)


def test_seed_breaks_parity():
    p = BatteryParams(Ns=6, Np=4, F=1.0, eps=0.2)
    assert charge_problem(p, [0.0, 1.0]).parity is None
    assert charge_problem(p.replace(eps=0.0), [0.0, 1.0]).parity is not None
    ex = exact.charge(p, [0.0, 1.0], trunc_tol=None)
    assert abs(ex.rho_s[-1, 1, 0]) > 1e-2  # odd coherence: <a_s> != 0
    with pytest.raises(ValueError, match="eps"):
        exact.steady_state(p)


@pytest.fixture(scope="module")
def nonlinear():
    # above threshold (F_th = 1 at gamma_p = 4, kappa = 0.5), seeded and ramped
    p = BatteryParams(Ns=10, Np=9, kappa=0.5, gamma_p=4.0, F=1.3, eps=0.15, t_ramp=1.0)
    t = np.linspace(0.0, 2.0, 5)
    return p, t, exact.charge(p, t, trunc_tol=None)


@pytest.mark.parametrize("method, ntraj", [(Jump(), 2000), (Homodyne(dt=2e-3), 2000), (PositiveP(dt=5e-3), 8000)])
def test_seeded_ramp_against_exact(nonlinear, method, ntraj):
    """<a_s>(t) and <n_s>(t) of each unravelling / sampler within 4 standard errors of the exact
    solver (a handful of comparisons per quantity; the untruncated samplers are compared with
    n_s from the exact state, whose top level holds < 1e-4 here)."""
    p, t, ex = nonlinear
    assert ex.rho_s[:, -1, -1].real.max() < 1e-4
    ref_a = np.einsum("tij,ji->t", ex.rho_s, _a(p.Ns)).real
    if isinstance(method, PositiveP):
        mo = moments(run(method, charge_problem(p, t), ntraj, 3, groups=20, progress=False))
        got, err = mo["a"][0].real, mo["a"][1].real
        n, n_err = mo["a_dag_a"][0].real, mo["a_dag_a"][1].real
    else:
        r = run(method, charge_problem(p, t), ntraj, 3, groups=20, progress=False, e_ops={"a": _a(p.Ns)})
        got, err = r.expect["a"].real, r.expect_err["a"]  # error of the complex mean: >= that of Re
        n, n_err = r.n_s, r.n_s_err
    assert np.all(np.abs(ref_a[1:]) > 0.05)  # the seed is visible: <a_s> != 0
    assert np.all(np.abs(n - ex.energy) <= 4 * n_err + 1e-12), (n, ex.energy, n_err)
    assert np.all(np.abs(got - ref_a) <= 4 * err + 1e-12), (got, ref_a, err)


def test_wigner_with_seed_small_kappa():
    # the truncated Wigner method with a seed: exact where the dynamics is linear (kappa = 0)
    p = BatteryParams(Ns=8, Np=6, kappa=0.0, gamma_p=4.0, F=0.8, eps=0.4, t_ramp=0.5)
    t = np.array([0.0, 0.5, 1.0])
    mo = moments(run(Wigner(dt=1e-3), charge_problem(p, t), 8000, 2, progress=False))
    a_s = 2 * p.eps * (1 - np.exp(-t / 2))
    assert np.all(np.abs(mo["a"][0].real - a_s) <= 4 * mo["a"][1].real + 1e-6)
    assert np.all(np.abs(mo["a_dag_a"][0].real - a_s**2) <= 4 * mo["a_dag_a"][1].real + 1e-6)
