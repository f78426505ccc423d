"""Ergotropy routines against closed forms (Fock, coherent, thermal, Appendix D, Gaussian)."""

import numpy as np
import pytest
import qutip
from scipy.stats import poisson

from cimqb_traj.ergotropy import (
    energy, ergotropy, ergotropy_parts, gaussian_ergotropy, ladder, passive_state,
    tls_amplitude_damping, tls_ergotropy,
)

N = 40


def random_state(n, rng, rank=None):
    rank = rank or n
    X = rng.normal(size=(n, rank)) + 1j * rng.normal(size=(n, rank))
    rho = X @ X.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("n", [0, 1, 5, 17])
def test_fock_state(n):
    # |n><n| is pure: passive state is the vacuum, so W = E = n; it is diagonal so W_c = 0
    parts = ergotropy_parts(qutip.fock_dm(N, n), ladder(N, 2.5))
    assert parts.W == pytest.approx(2.5 * n, abs=1e-12)
    assert parts.W_i == pytest.approx(2.5 * n, abs=1e-12)
    assert parts.W_c == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.3 + 0.4j, 2.0])
def test_coherent_state(alpha):
    # pure: W = E = |alpha|^2; dephased state is Poissonian, so W_i = E - sum_n n p_(n) with the
    # Poisson weights sorted descending (closed form, computed with scipy.stats)
    n_big = 60
    parts = ergotropy_parts(qutip.coherent_dm(n_big, alpha, method="analytic"))
    mean = abs(alpha) ** 2
    pmf = np.sort(poisson.pmf(np.arange(n_big), mean))[::-1]
    assert parts.W == pytest.approx(mean, rel=1e-9)
    assert parts.W_i == pytest.approx(mean - pmf @ np.arange(n_big), abs=1e-9)
    assert parts.W_c > 0


@pytest.mark.parametrize("nth", [0.1, 1.0, 3.0])
def test_thermal_and_passive_states_hold_no_work(nth):
    rho = qutip.thermal_dm(N, nth)
    parts = ergotropy_parts(rho)
    assert parts.energy == pytest.approx(nth, rel=1e-3)  # truncation at N = 40 is ~ (n/(n+1))^40
    assert abs(parts.W) < 1e-12 and abs(parts.W_c) < 1e-12 and abs(parts.W_i) < 1e-12
    rng = np.random.default_rng(3)
    sigma = passive_state(qutip.Qobj(random_state(8, rng)))
    assert isinstance(sigma, qutip.Qobj)
    assert abs(ergotropy(sigma)) < 1e-12


def test_split_is_consistent_and_nonnegative():
    rng = np.random.default_rng(0)
    rhos = np.array([random_state(12, rng, rank=r) for r in (1, 2, 3, 6, 12) for _ in range(20)])
    e = np.sort(rng.uniform(0, 5, 12))
    parts = ergotropy_parts(rhos, e)  # batched call
    assert np.allclose(parts.W, parts.W_c + parts.W_i, atol=1e-12)
    assert np.all(parts.W_c >= -1e-12) and np.all(parts.W_i >= -1e-12)
    single = [ergotropy_parts(r, e).W for r in rhos[:5]]
    assert np.allclose(single, parts.W[:5], atol=1e-13)


def test_passive_energy_is_unitarily_invariant():
    rng = np.random.default_rng(1)
    rho = random_state(10, rng)
    U = qutip.rand_unitary(10, seed=4).full()
    p1 = ergotropy_parts(rho).passive
    p2 = ergotropy_parts(U @ rho @ U.conj().T).passive
    assert p1 == pytest.approx(p2, abs=1e-12)
    # and the energy after the optimal unitary (to the passive state) is the passive energy
    assert energy(passive_state(rho)) == pytest.approx(p1, abs=1e-12)


def test_energies_are_validated():
    with pytest.raises(ValueError, match="ascending"):
        ergotropy(np.eye(3) / 3, [0, 2, 1])
    with pytest.raises(ValueError, match="length"):
        ergotropy(np.eye(3) / 3, [0, 1])
    with pytest.raises(ValueError, match="square"):
        ergotropy(np.ones((2, 3)))


# ---- Appendix D: two-level battery ----

@pytest.mark.parametrize("p,c", [(p, c) for p in (0.0, 0.2, 0.5, 0.7, 1.0) for c in (0.0, 0.1, 0.3j, 0.2 - 0.25j)
                                 if abs(c) ** 2 <= p * (1 - p)])  # positivity: |c|^2 <= p (1 - p)
def test_tls_closed_form_matches_general_routine(p, c):
    omega = 1.7
    rho = np.array([[1 - p, c], [np.conj(c), p]])
    closed = tls_ergotropy(p, c, omega)
    general = ergotropy_parts(rho, [0.0, omega])
    for name in ("energy", "W", "W_c", "W_i"):
        assert getattr(closed, name) == pytest.approx(getattr(general, name), abs=1e-12), name
    if c == 0:
        assert closed.W_c == pytest.approx(0, abs=1e-15)  # (D20)
    if p <= 0.5:
        assert closed.W_i == 0  # (D12)


def test_tls_amplitude_damping_against_simulation():
    # Eqs. (D21)-(D28) against a direct mesolve of the damped two-level system
    omega, gamma, p0, c0 = 2.0, 0.7, 0.9, 0.25 + 0.1j
    t = np.linspace(0, 6, 61)
    rho0 = qutip.Qobj(np.array([[1 - p0, c0], [np.conj(c0), p0]]))
    H = qutip.Qobj(np.diag([0.0, omega]))
    sm = qutip.Qobj(np.array([[0, 1], [0, 0]], dtype=complex))  # |g><e| in the (g, e) basis
    res = qutip.mesolve(H, rho0, t, [np.sqrt(gamma) * sm], options={"atol": 1e-12, "rtol": 1e-10})
    sim = ergotropy_parts(np.array([s.full() for s in res.states]), [0.0, omega])
    p, c, closed = tls_amplitude_damping(p0, c0, gamma, t, omega)
    rhos = np.array([s.full() for s in res.states])
    assert np.allclose(rhos[:, 1, 1].real, p, atol=1e-8)  # (D24)
    assert np.allclose(rhos[:, 0, 1], c, atol=1e-8)  # (D25)
    for name in ("W", "W_c", "W_i"):
        assert np.allclose(getattr(closed, name), getattr(sim, name), atol=1e-8), name
    assert np.any(closed.W_i == 0) and np.all(closed.W_c[1:] > 0)  # W_i dies, W_c survives


# ---- Gaussian states ----

@pytest.mark.parametrize("alpha,r,phi,nth", [(0, 0.4, 0, 0), (1.2, 0, 0, 0.3), (0.8 - 0.5j, 0.5, 0.7, 0.2), (0, 0.3, 1.0, 0.5)])
def test_gaussian_ergotropy_matches_fock_basis(alpha, r, phi, nth):
    n = 70
    D = qutip.displace(n, alpha)
    S = qutip.squeeze(n, r * np.exp(2j * phi))
    rho = D * S * qutip.thermal_dm(n, nth) * S.dag() * D.dag()
    a = qutip.destroy(n)
    x, p = (a + a.dag()) / np.sqrt(2), -1j * (a - a.dag()) / np.sqrt(2)
    mx, mp = qutip.expect(x, rho), qutip.expect(p, rho)
    sym = lambda A, B: 0.5 * qutip.expect(A * B + B * A, rho) - qutip.expect(A, rho) * qutip.expect(B, rho)
    cov = np.array([[sym(x, x), sym(x, p)], [sym(p, x), sym(p, p)]]).real
    g = gaussian_ergotropy([mx, mp], cov)
    f = ergotropy_parts(rho)
    assert g.energy == pytest.approx(f.energy, abs=1e-8)
    assert g.W == pytest.approx(f.W, abs=1e-7)
    assert gaussian_ergotropy(qutip.expect(a, rho), cov).W == pytest.approx(g.W, abs=1e-12)
    with pytest.raises(ValueError, match="uncertainty"):
        gaussian_ergotropy(0, np.eye(2) * 0.1)
