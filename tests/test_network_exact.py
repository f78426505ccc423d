"""Exact N = 2 network solver (network.exact) and the N = 2 cross-checks against it: eta = 0 against
two single spins (moments and the factorised spin distribution), and the network positive-P and
truncated Wigner against it with eta > 0 (ferro- and antiferromagnetic edge): n_i, Re<a_0 a_1> and
the joint distribution of the quadrature signs (network.spins)."""

import dataclasses

import numpy as np
import pytest
from stats import assert_within

from cimqb_traj import BatteryParams, exact
from cimqb_traj.errors import Refused
from cimqb_traj.network import exact as nx
from cimqb_traj.network import phasespace as nps
from cimqb_traj.network import sde
from cimqb_traj.network.spins import (configurations, sign_projector, spin_distribution_positive_p,
                                      spin_distribution_wigner)

FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])
ETA = 0.5


def _product(u):
    """P(sigma) of two independent spins with P(x_i > 0) = u[i], in ``configurations(2)`` order."""
    return np.array([(u[0] if s0 > 0 else 1 - u[0]) * (u[1] if s1 > 0 else 1 - u[1])
                     for s0, s1 in configurations(2)])


def test_eta0_is_two_single_spins():
    # a coherent seed eps breaks the x -> -x symmetry, so P(x > 0) != 1/2 and factorising is a real check
    p = BatteryParams(kappa=1.0, gamma_p=4.0, F=0.8, Ns=5, Np=3, eps=0.15)
    t = np.linspace(0, 2, 3)
    ref = exact.charge(p, t, trunc_tol=None)
    r = nx.charge(p, FERRO, 0.0, t)
    # both are the same master equation solved to rtol 1e-8: agreement to 1e-6
    np.testing.assert_allclose(r.n, np.repeat(ref.n_s[:, None], 2, axis=1), atol=1e-6)
    u = np.einsum("tij,ji->t", ref.rho_s, sign_projector(p.Ns)).real  # single-spin P(x > 0)
    assert u[-1] > 0.6  # the seed does select the + phase
    np.testing.assert_allclose(r.spins, [_product([x, x]) for x in u], atol=1e-6)


def test_eta0_phase_space_spins_factorise():
    """Positive-P at eta = 0 with a seed: the joint sign distribution estimated from the samples is
    the product of the single-spin exact marginals."""
    p = BatteryParams(kappa=1.0, gamma_p=4.0, F=0.8, Ns=8, Np=4, eps=0.15)
    t = np.linspace(0, 2, 3)
    u = np.einsum("ij,ji->", exact.charge(p, t, trunc_tol=None).rho_s[-1], sign_projector(p.Ns)).real
    r = nps.positive_p(p, FERRO, 0.0, t, samples=4000, seed=3, dt=0.01, keep_final=True)
    assert r.diverged == 0
    probs, errs = spin_distribution_positive_p(r.final_alpha, r.final_alpha_plus)
    # independent samples: standard errors from the spread, 4 configurations (Bonferroni, normal law)
    assert_within(probs, _product([u, u]), errs, "positive-P P(sigma) at eta = 0")


def _pair_reference(sign, kappa, gamma_p, r, t, Ns, Np):
    J = sign * FERRO
    p = BatteryParams(kappa=kappa, gamma_p=gamma_p, Ns=Ns, Np=Np)
    p = p.replace(F=r * sde.linear_threshold(p, J, ETA))
    return J, p, nx.charge(p, J, ETA, t, rtol=1e-6, atol=1e-8)


def _gauge(ref):
    """The antiferromagnetic pair's exact result from the ferromagnetic one: a_1 -> -a_1 leaves each
    spin's H and collapse operators invariant and maps a_0 - a_1 to a_0 + a_1, so Re<a0 a1> and
    sigma_1 flip (configurations(2) order: ++, +-, -+, -- -> +-, ++, --, -+)."""
    return dataclasses.replace(ref, re_aa=-ref.re_aa, spins=ref.spins[:, [1, 0, 3, 2]])


def test_exact_antiferro_is_gauge_of_ferro():
    p = BatteryParams(kappa=1.0, gamma_p=4.0, F=0.7, Ns=4, Np=3)
    t = np.linspace(0, 1.5, 3)
    ferro, anti = (nx.charge(p, s * FERRO, ETA, t) for s in (1, -1))
    g = _gauge(ferro)
    # the same master equation up to a unitary, solved to rtol 1e-8: agreement to 1e-6
    for name in ("n", "re_aa", "spins", "top_s", "top_p"):
        np.testing.assert_allclose(getattr(anti, name), getattr(g, name), atol=1e-6, err_msg=name)
    assert ferro.re_aa[-1, 0] > 1e-2  # not trivially zero


@pytest.fixture(scope="module")
def ferro_pair():
    """g = kappa / sqrt(gamma_s gamma_p) = 0.5, F = 1.2 F_th, t <= 2: the signals hold ~0.2 photons and
    their quadrature signs are correlated (P(aligned) = 0.56) by the edge.  Truncation (measured,
    validation/network/B_crosscheck.md): (Ns, Np) = (6, 4) -> (8, 5) moves n_i by 3.3e-3, Re<a0 a1>
    by 2.8e-3 and P(sigma) by 2e-4 at t = 2, at most 0.85 of the 4000-sample standard errors
    (n: 3.9e-3..7e-3, Re<a0 a1>: 4.2e-3, P: 3.3e-3..4.2e-3); the critical value 4.85 (6 comparisons,
    t_19) keeps >= 4 SE of margin beyond that bias."""
    t = np.linspace(0, 2, 3)
    return (t,) + _pair_reference(1, 1.0, 4.0, 1.2, t, 6, 4)


@pytest.fixture(params=[1, -1], ids=["ferro", "antiferro"])
def pair(request, ferro_pair):
    """The ferromagnetic reference, or the antiferromagnetic one by the gauge symmetry (tested above)."""
    t, J, p, ref = ferro_pair
    return (request.param, t, request.param * J, p) + ((ref,) if request.param > 0 else (_gauge(ref),))


def _check_against_exact(r, ref, sign, what):
    assert r.diverged == 0
    # jackknife errors over 20 groups, family-wise 4 sigma; Heun bias O(dt^2) far below them
    assert_within(np.concatenate([r.n[1:], r.re_aa[1:]], axis=1),
                  np.concatenate([ref.n[1:], ref.re_aa[1:]], axis=1),
                  np.concatenate([r.n_err[1:], r.re_aa_err[1:]], axis=1), f"{what}: n_i, Re<a0 a1>", groups=20)
    # the edge correlates the signals in phase (ferro) or in antiphase (antiferro)
    assert np.sign(ref.re_aa[-1, 0]) == sign and ref.re_aa[-1, 0] * sign > 5 * r.re_aa_err[-1, 0]


def _aligned(P):
    """P(sigma_0 = sigma_1) - P(sigma_0 != sigma_1) in ``configurations(2)`` order."""
    return P[0] + P[3] - P[1] - P[2]


def test_positive_p_against_exact(pair):
    sign, t, J, p, ref = pair
    r = nps.positive_p(p, J, ETA, t, samples=4000, seed=11, dt=0.01, keep_final=True)
    _check_against_exact(r, ref, sign, "positive-P")
    probs, errs = spin_distribution_positive_p(r.final_alpha, r.final_alpha_plus)
    # independent samples: errors from the spread, 4 configurations (normal law, Bonferroni)
    assert_within(probs, ref.spins[-1], errs, "positive-P P(sigma)")
    # the spins are selected: aligned (ferro) / anti-aligned (antiferro) beat the others by > 5 SE
    assert sign * _aligned(ref.spins[-1]) > 5 * np.sqrt((errs**2).sum())


@pytest.mark.slow
def test_positive_p_against_exact_selected():
    """Far above threshold (g = 1, F = 3 F_th, t <= 3): n_i = 0.76 and P(aligned) = 0.68, the pair has
    picked its phases.  Truncation (8, 5) (top levels <= 3.3e-4): B_crosscheck.md gives its distance
    to (9, 4) and (7, 5); (6, 4) would be 0.03 off.  Ferro and, through the gauge, antiferro."""
    t = np.linspace(0, 3, 4)
    J, p, ref = _pair_reference(1, 2.0, 4.0, 3.0, t, 8, 5)
    assert ref.top_s.max() < 1e-3 and ref.top_p.max() < 1e-3
    for sign, truth in ((1, ref), (-1, _gauge(ref))):
        r = nps.positive_p(p, sign * J, ETA, t, samples=4000, seed=21, dt=0.01, keep_final=True)
        _check_against_exact(r, truth, sign, "positive-P")
        probs, errs = spin_distribution_positive_p(r.final_alpha, r.final_alpha_plus)
        assert_within(probs, truth.spins[-1], errs, "positive-P P(sigma)")
        assert sign * _aligned(truth.spins[-1]) > 0.3  # the regime: measured 0.35


@pytest.mark.slow
@pytest.mark.parametrize("sign", [1, -1], ids=["ferro", "antiferro"])
def test_truncated_wigner_against_exact_small_g(sign):
    """Truncated Wigner drops third-order terms; its bias in n grows like ~0.45 g^2 photons by
    t = 1 (B_crosscheck.md: 0.11 at g = 0.5, 0.015 at g = 0.18), so the N = 2 check runs at
    g = 0.18 (gamma_p = 16), F = 1.2 F_th, t <= 1, where it is below the 4000-sample errors.
    Truncation (5, 5) -> (6, 5) moved n by 6e-4, Re<a0 a1> by 1.4e-3, P by 8e-4 (measured), under
    a fifth of the TW errors (1e-2, 7e-3, 7e-3)."""
    t = np.linspace(0, 1, 3)
    J, p, ref = _pair_reference(sign, 0.72, 16.0, 1.2, t, 5, 5)
    r = nps.truncated_wigner(p, J, ETA, t, samples=4000, seed=12, dt=0.01, keep_final=True)
    _check_against_exact(r, ref, sign, "truncated Wigner")
    probs, errs = spin_distribution_wigner(r.final_alpha)
    assert_within(probs, ref.spins[-1], errs, "Wigner P(sigma)")
    q = nps.positive_p(p, J, ETA, t, samples=4000, seed=13, dt=0.01, keep_final=True)
    _check_against_exact(q, ref, sign, "positive-P")
    probs, errs = spin_distribution_positive_p(q.final_alpha, q.final_alpha_plus)
    assert_within(probs, ref.spins[-1], errs, "positive-P P(sigma)")


def test_refusals():
    with pytest.raises(Refused, match="Ns or Np"):
        nx.network_operators(BatteryParams(Ns=10, Np=5), FERRO, 0.5)
    with pytest.raises(ValueError, match="eta"):
        nx.network_operators(BatteryParams(Ns=4, Np=3), FERRO, -1.0)
    with pytest.raises(ValueError, match="Ns"):
        nx.network_operators(BatteryParams(Ns=4, Np=3), FERRO, 0.5, Ns=1)
