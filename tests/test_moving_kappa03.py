"""Moving-basis homodyne trajectories at kappa = 0.3 (issue 12, point 3): a small case the exact
solver holds cheaply, gamma_p 16, F = 1.5 F_th = 5, t = 0..2 (<n_s> grows to ~1 while the pump
passes through a coherent state of ~6 photons): the moving (displaced Fock) basis against the
exact solver at a cut its truncation guard calls converged, and against the fixed-basis homodyne
engine on the same seeds.  The long study is validation/moving/kappa03.py (README section 5)."""

import os
import sys

import numpy as np
import pytest

from cimqb_traj import exact, trajectories
from cimqb_traj.params import BatteryParams

sys.path.insert(0, os.path.dirname(__file__))
from stats import assert_within  # noqa: E402

# Ns 22 / Np 21: the guard's change against (19, 18) is 0.4 % of max(E, omega_s) ("ok"); the pump
# (coherent amplitude up to 2F/sqrt(gamma_p) = 2.5) needs the ~20 levels, Np 14 is off by 15 %
_P = BatteryParams(kappa=0.3, gamma_p=16.0, Ns=22, Np=21)
P = _P.replace(F=1.5 * _P.threshold)
T = np.linspace(0.0, 2.0, 5)
# the fixed basis is ~8x cheaper per trajectory here: 4x its trajectories (the first 64 on the
# moving run's seeds) so that its error does not dominate the moving-vs-fixed comparison
NTRAJ, FOCK_NTRAJ, GROUPS, SEED, DT = 64, 256, 16, 5, 1e-3


def _diag(rho):
    return np.einsum("tii->ti", rho).real


@pytest.fixture(scope="module")
def runs():
    ex = exact.charge(P, T, progress=False)  # guarded: also runs (19, 18)
    kw = dict(method="homodyne", groups=GROUPS, seed=SEED, progress=False, dt=DT)
    mv = trajectories.charge(P, T, basis="displaced", ntraj=NTRAJ, **kw)
    # the same cut as ex, whose guard verdict is therefore this run's (trunc_tol=0: not run twice)
    fx = trajectories.charge(P, T, basis="fock", ntraj=FOCK_NTRAJ, trunc_tol=0, **kw)
    return ex, mv, fx


def test_exact_reference_is_converged(runs):
    ex, mv, _ = runs
    assert ex.truncation["verdict"] == "ok"
    assert P.F == pytest.approx(5.0) and np.einsum("tii,i->t", ex.rho_s, np.arange(P.Ns)).real[-1] > 0.9
    assert mv.truncation["verdict"] == "ok"  # the moving run's own verdict (lab cut, basis changes)
    assert mv.options["dims"]["Ns_out"] == P.Ns and mv.options["dims"]["Np_out"] == P.Np


@pytest.mark.parametrize("engine", ["moving", "fixed"])
def test_against_exact(runs, engine):
    # each engine's ensemble against the exact solver within the family-wise z of tests/stats.py
    # (Student t, G - 1 degrees of freedom); floor 1e-12: t = 0, the vacuum on both sides, zero
    # error.  The diagonal where the exact p_n(t) >= 1/ntraj: smaller populations are carried by
    # trajectories rarer than 1/ntraj and their jackknife error is no standard error
    # (validation/moving/README.md section 1)
    ex, mv, fx = runs
    r = mv if engine == "moving" else fx
    G = r.groups
    n_ex = np.einsum("tii,i->t", ex.rho_s, np.arange(P.Ns)).real
    assert_within(r.n_s, n_ex, r.n_s_err, f"{engine} n_s", groups=G, floor=1e-12)
    assert_within(r.W, ex.W, r.W_err, f"{engine} W", groups=G, floor=1e-12)
    assert_within(r.W_c, ex.W_c, r.W_c_err, f"{engine} W_c", groups=G, floor=1e-12)
    d_ex = _diag(ex.rho_s)
    sel = d_ex >= 1.0 / r.ntraj
    assert sel[1:].sum(axis=1).min() >= 2  # at least p_0 and p_2 at every t > 0
    assert_within(_diag(r.rho_s)[sel], d_ex[sel], _diag(r.rho_s_err)[sel], f"{engine} rho_s diagonal",
                  groups=G, floor=1e-12)


def test_moving_against_fixed_basis(runs):
    # the two bases on the same seeds: the difference within the family-wise z times
    # sqrt(se_moving^2 + se_fixed^2), an upper bound of its error (the shared seeds correlate the
    # runs positively); floor 1e-12 as above; the diagonal where both resolve p_n >= 1/64
    _, mv, fx = runs
    G = mv.groups
    for q in ("n_s", "W", "W_c"):
        x, y = getattr(mv, q), getattr(fx, q)
        err = np.hypot(getattr(mv, q + "_err"), getattr(fx, q + "_err"))
        assert_within(x, y, err, f"{q} moving vs fixed", groups=G, floor=1e-12)
    sel = (_diag(fx.rho_s) >= 1.0 / NTRAJ) & (_diag(mv.rho_s) >= 1.0 / NTRAJ)
    assert_within(_diag(mv.rho_s)[sel], _diag(fx.rho_s)[sel], np.hypot(_diag(mv.rho_s_err), _diag(fx.rho_s_err))[sel],
                  "rho_s diagonal moving vs fixed", groups=G, floor=1e-12)
