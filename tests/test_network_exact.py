"""Exact N = 2 network solver (network.exact): eta = 0 against two single spins, and the network
positive-P against it with eta > 0 (ferro- and antiferromagnetic edge)."""

import numpy as np
import pytest
from stats import assert_within

from cimqb_traj import BatteryParams, exact
from cimqb_traj.errors import Refused
from cimqb_traj.network import exact as nx
from cimqb_traj.network import sde

FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])


def test_eta0_is_two_single_spins():
    p = BatteryParams(kappa=1.0, gamma_p=4.0, F=0.8, Ns=5, Np=3)
    t = np.linspace(0, 2, 3)
    ref = exact.charge(p, t, trunc_tol=None).n_s
    r = nx.charge(p, FERRO, 0.0, t)
    # both are the same master equation solved to rtol 1e-8: agreement to 1e-6
    np.testing.assert_allclose(r.n, np.repeat(ref[:, None], 2, axis=1), atol=1e-6)


@pytest.mark.parametrize("sign", [1, -1])
def test_positive_p_against_exact(sign):
    J = sign * FERRO
    p = BatteryParams(kappa=1.0, gamma_p=4.0, Ns=6, Np=4)
    p = p.replace(F=1.2 * sde.linear_threshold(p, J, 0.5))
    t = np.linspace(0, 3, 4)
    ref = nx.charge(p, J, 0.5, t, rtol=1e-6, atol=1e-8)
    # truncation: top Fock populations < 1e-2; (Ns, Np) = (6, 5) vs (8, 4) moved n, Re<aa> by <= 6e-3
    # (measured), about one jackknife error (3e-3..6e-3) and inside the 4.85-sigma margin
    assert ref.top_s.max() < 1e-2 and ref.top_p.max() < 1e-2
    r = sde.positive_p(p, J, 0.5, t, samples=4000, seed=11, dt=0.01)
    assert r.diverged == 0
    # jackknife errors over 20 groups, family-wise 4 sigma; Heun bias O(dt^2) far below them
    assert_within(np.concatenate([r.n[1:], r.re_aa[1:]], axis=1),
                  np.concatenate([ref.n[1:], ref.re_aa[1:]], axis=1),
                  np.concatenate([r.n_err[1:], r.re_aa_err[1:]], axis=1), "n_i, Re<a0 a1>", groups=20)
    # the edge correlates the signals in phase (ferro) or in antiphase (antiferro)
    assert np.sign(ref.re_aa[-1, 0]) == sign and ref.re_aa[-1, 0] * sign > 5 * r.re_aa_err[-1, 0]


def test_refusals():
    with pytest.raises(Refused, match="Ns or Np"):
        nx.network_operators(BatteryParams(Ns=10, Np=5), FERRO, 0.5)
    with pytest.raises(ValueError, match="eta"):
        nx.network_operators(BatteryParams(Ns=4, Np=3), FERRO, -1.0)
    with pytest.raises(ValueError, match="Ns"):
        nx.network_operators(BatteryParams(Ns=4, Np=3), FERRO, 0.5, Ns=1)
