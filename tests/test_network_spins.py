"""Quadrature-sign distributions (cimqb_traj.network.spins): the Fock matrix of Theta(x) against
quadrature and closed forms, the exact distribution of product and entangled states, and the
positive-P and Wigner estimators on states whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import qutip
from numpy.polynomial.hermite import hermval
from scipy.integrate import quad
from scipy.special import erfc, factorial

from cimqb_traj.network.spins import (configurations, sign_projector, spin_distribution_exact,
                                      spin_distribution_positive_p, spin_distribution_wigner)
from stats import assert_within


def _psi(n, x):
    c = np.zeros(n + 1)
    c[n] = 1.0
    return hermval(x, c) * np.exp(-x * x / 2) / np.sqrt(2.0**n * factorial(n) * np.sqrt(np.pi))


def _up(alpha):
    """P(x > 0) of the coherent state |alpha>: x is Gaussian, mean sqrt2 Re alpha, variance 1/2."""
    return 0.5 * erfc(-np.sqrt(2) * np.real(alpha))


def test_sign_projector_against_quadrature():
    M = sign_projector(9)
    ref = np.array([[quad(lambda x: _psi(n, x) * _psi(m, x), 0, np.inf, epsabs=1e-14)[0] for m in range(9)]
                    for n in range(9)])
    # quad of smooth Gaussian-decaying integrands converges to ~1e-15; the closed form is exact
    np.testing.assert_allclose(M, ref, atol=1e-12)


def test_sign_projector_parity_and_diagonal():
    M = sign_projector(30)
    n = np.arange(30)
    P = np.diag((-1.0) ** n)
    # Theta(-x) = P Theta(x) P = 1 - Theta(x): diagonal 1/2, zero for even n - m != 0 (exact zeros)
    np.testing.assert_allclose(P @ M @ P, np.eye(30) - M, atol=1e-15)
    np.testing.assert_array_equal(np.diag(M), 0.5)
    even = ((n[:, None] - n[None, :]) % 2 == 0) & (n[:, None] != n[None, :])
    assert np.all(M[even] == 0)
    np.testing.assert_array_equal(M, M.T)


@pytest.mark.parametrize("alpha", [0.0, 0.35, -0.8, 1.3 + 0.6j, -0.2 - 1.1j])
def test_sign_projector_coherent_state(alpha):
    c = qutip.coherent(60, alpha, method="analytic").full().ravel()
    # 60 levels hold |alpha| <= 1.5 to ~1e-40; the closed form (1/2) erfc(-sqrt2 Re alpha)
    assert np.real(c.conj() @ sign_projector(60) @ c) == pytest.approx(_up(alpha), abs=1e-12)


def test_configurations_order():
    np.testing.assert_array_equal(configurations(2), [[1, 1], [1, -1], [-1, 1], [-1, -1]])
    S = configurations(5)
    assert S.dtype == np.int8 and S.shape == (32, 5)
    assert len({tuple(r) for r in S}) == 32
    with pytest.raises(ValueError, match="N"):
        configurations(0)
    with pytest.raises(ValueError, match="N"):
        configurations(21)


def test_exact_product_of_coherent_states():
    Ns, Np, a = 16, 3, [0.4, -0.9 + 0.3j]
    st = qutip.tensor(qutip.coherent(Ns, a[0]), qutip.basis(Np, 2), qutip.coherent(Ns, a[1]),
                      (qutip.basis(Np, 0) + qutip.basis(Np, 1)).unit())
    P = spin_distribution_exact(qutip.ket2dm(st), 2, (Ns, Np))
    u = [_up(x) for x in a]
    ref = [u[0] * u[1], u[0] * (1 - u[1]), (1 - u[0]) * u[1], (1 - u[0]) * (1 - u[1])]
    # Ns = 16 cuts |alpha|^2 <= 0.9 at ~0.9^16/16! ~ 1e-14
    np.testing.assert_allclose(P, ref, atol=1e-11)


def test_exact_entangled_cat():
    """(|a, a> + |-a, -a>) / norm, real a: in x the cross terms are psi_a psi_-a = pi^-1/2 e^{-x^2 - 2a^2},
    so P(s1, s2) = [u(s1) u(s2) + u(-s1) u(-s2) + 2 c^2] / (2 + 8 c^2), c = e^{-2a^2}/2 (norm^2 = 2 + 2 e^{-4a^2})."""
    Ns, Np, a = 24, 2, 0.8
    vac = qutip.basis(Np, 0)
    st = (qutip.tensor(qutip.coherent(Ns, a), vac, qutip.coherent(Ns, a), vac)
          + qutip.tensor(qutip.coherent(Ns, -a), vac, qutip.coherent(Ns, -a), vac))
    P = spin_distribution_exact(qutip.ket2dm(st.unit()), 2, [Ns, Np])
    u = {1: _up(a), -1: 1 - _up(a)}
    c = np.exp(-2 * a * a) / 2
    ref = [(u[s1] * u[s2] + u[-s1] * u[-s2] + 2 * c * c) / (2 + 8 * c * c) for s1, s2 in configurations(2)]
    # truncation at Ns = 24 of |a|^2 = 0.64: negligible; 1e-10 is round-off with margin
    np.testing.assert_allclose(P, ref, atol=1e-10)
    assert P[0] > 3 * P[1]  # correlated signs


def test_exact_refusals():
    rho = qutip.ket2dm(qutip.tensor(qutip.basis(4, 0), qutip.basis(2, 0), qutip.basis(4, 0), qutip.basis(2, 0)))
    with pytest.raises(ValueError, match="dims"):
        spin_distribution_exact(rho, 2, (4, 3))
    with pytest.raises(ValueError, match="dims"):
        spin_distribution_exact(rho, 2, 4)
    with pytest.raises(ValueError, match="dims"):
        spin_distribution_exact(rho, 2, (4, 2, 4))
    with pytest.raises(ValueError, match="rho"):
        spin_distribution_exact(np.eye(10), 2, (4, 2))


@pytest.mark.parametrize("a, b", [(0.3 + 0.2j, -0.1 + 0.5j), (1.2 - 0.4j, 0.7 + 0.9j)])
def test_positive_p_weight_is_trace_of_lambda(a, b):
    """One positive-P kernel Lambda = |a><b*| / <b*|a> (a != b*): Tr[Lambda Theta(x)] from the
    Fock matrix equals the estimator's (1/2) erfc(-(a + b)/sqrt2) (complex argument)."""
    n = 50
    ka, kb = qutip.coherent(n, a, method="analytic"), qutip.coherent(n, np.conj(b), method="analytic")
    lam = (ka * kb.dag()).full() / (kb.dag() * ka)
    want = np.trace(lam @ sign_projector(n))
    assert 0.5 * erfc(-(a + b) / np.sqrt(2)) == pytest.approx(want, abs=1e-12)
    # two spins, same kernel each: the estimator's weight is the product (one sample repeated)
    al, ap = np.array([[a, a], [a, a]]), np.array([[b, b], [b, b]])
    probs, errs = spin_distribution_positive_p(al, ap)
    np.testing.assert_allclose(probs, [want.real**2 - want.imag**2, (want * (1 - want)).real,
                                       (want * (1 - want)).real, ((1 - want) ** 2).real], atol=1e-12)
    np.testing.assert_array_equal(errs, 0.0)


def test_wigner_estimator_on_coherent_states():
    """Wigner samples of |a0> (x) |a1>: alpha = a + complex vacuum noise of variance 1/4 per
    quadrature (so x = sqrt2 Re alpha has variance 1/2): the sign fractions estimate the closed form."""
    a = np.array([0.3, -0.5j + 0.1])
    rng = np.random.default_rng(5)
    S = 4000
    al = a + 0.5 * (rng.standard_normal((S, 2)) + 1j * rng.standard_normal((S, 2)))
    probs, errs = spin_distribution_wigner(al)
    u = [_up(x) for x in a]
    ref = [u[0] * u[1], u[0] * (1 - u[1]), (1 - u[0]) * u[1], (1 - u[0]) * (1 - u[1])]
    # binomial errors of 4000 independent samples, 4 configurations (Bonferroni, normal law)
    assert_within(probs, ref, errs, "Wigner P(sigma) of coherent states")
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)


def test_estimator_refusals():
    good = np.zeros((3, 2), complex)
    with pytest.raises(ValueError, match="alpha_plus"):
        spin_distribution_positive_p(good, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        spin_distribution_wigner(np.array([[np.nan, 0], [0, 0]]))
    with pytest.raises(ValueError, match="samples"):
        spin_distribution_wigner(np.zeros(4))
