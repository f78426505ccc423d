"""Ergotropy routines against closed forms (Fock, coherent, thermal, Appendix D, Gaussian), an
independent construction from explicit states, and property-based invariants (Hypothesis)."""

import numpy as np
import pytest
import qutip
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import poisson, unitary_group

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


def reference_parts(rho, e):
    """(E, W, W_c, W_i) from explicit states, not from the routine's eigenvalue arithmetic.

    The passive state is sigma = U rho U^dag with U sending the eigenvector of the k-th largest
    eigenvalue (LAPACK's eigh) to level k; the dephased state's passive state is its diagonal
    permuted (largest population to the lowest level).  W = E - Tr[sigma H], W_i = E - Tr[sigma_d H],
    W_c = W - W_i.
    """
    rho = np.asarray(rho, dtype=complex)
    H = np.diag(np.asarray(e, dtype=float))
    _, V = scipy.linalg.eigh(rho)  # ascending eigenvalues
    U = V[:, ::-1].conj().T  # row k: <psi_k|, psi_k the eigenvector of the k-th largest
    sigma = U @ rho @ U.conj().T
    P = np.eye(len(e))[np.argsort(-np.diag(rho).real, kind="stable")]  # level perm[k] -> k
    sigma_d = P @ np.diag(np.diag(rho)) @ P.T
    E = np.trace(rho @ H).real
    W, W_i = E - np.trace(sigma @ H).real, E - np.trace(sigma_d @ H).real
    return E, W, W - W_i, W_i


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
    rho8 = qutip.Qobj(random_state(8, rng))
    sigma = passive_state(rho8)
    assert isinstance(sigma, qutip.Qobj) and sigma.dims == rho8.dims
    assert ergotropy(rho8) > 0.1 and abs(ergotropy(sigma)) < 1e-12  # its passive state holds none


def test_batched_parts_match_explicit_states():
    rng = np.random.default_rng(0)
    rhos = np.array([random_state(12, rng, rank=r) for r in (1, 2, 3, 6, 12) for _ in range(20)])
    e = np.sort(rng.uniform(0, 5, 12))
    parts = ergotropy_parts(rhos, e)  # batched call
    ref = np.array([reference_parts(r, e) for r in rhos])
    for k, name in enumerate(("energy", "W", "W_c", "W_i")):
        # eigensolvers agree to ~ n eps ||rho|| max(e) ~ 1e-14; 1e-11 leaves room, far below the values
        assert np.allclose(getattr(parts, name), ref[:, k], rtol=0, atol=1e-11), name
    assert np.all(parts.W_c >= -1e-12) and np.all(parts.W_i >= -1e-12)  # not by construction: sorting
    assert np.any(parts.W_c > 0.1) and np.any(parts.W_i > 0.1)  # the cases are not all trivial
    single = [ergotropy_parts(r, e).W for r in rhos[:5]]
    assert np.allclose(single, parts.W[:5], rtol=0, atol=1e-13)


def test_passive_state_is_the_minimum_over_unitaries():
    rng = np.random.default_rng(1)
    rho = random_state(10, rng)
    e = np.sort(rng.uniform(0, 3, 10))
    p1 = ergotropy_parts(rho, e).passive
    sigma = passive_state(rho, e)
    # diagonal, populations descending on ascending energies, the spectrum of rho
    assert np.allclose(sigma, np.diag(np.diag(sigma)), rtol=0, atol=1e-15)
    pops = np.diag(sigma).real
    assert np.all(np.diff(pops) <= 1e-15)
    assert np.allclose(pops, np.sort(np.linalg.eigvalsh(rho))[::-1], rtol=0, atol=1e-13)
    assert energy(sigma, e) == pytest.approx(p1, abs=1e-12)
    # no unitary lowers the energy below the passive energy (the definition of ergotropy)
    for U in unitary_group.rvs(10, size=200, random_state=2):
        rotated = U @ rho @ U.conj().T
        assert energy(rotated, e) >= p1 - 1e-12
        assert ergotropy_parts(rotated, e).passive == pytest.approx(p1, abs=1e-12)  # unitary invariance


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


# ---- property-based invariants (Hypothesis) ----

PROPS = settings(max_examples=50, deadline=None, derandomize=True, database=None)  # reproducible, no files


@st.composite
def states_and_ladders(draw):
    """A density matrix of dimension 2..12 with a random spectrum (rank-deficient and
    near-degenerate ones included) in a Haar-random basis, and an ascending energy ladder
    (degenerate levels and an offset e_0 included)."""
    n = draw(st.integers(2, 12))
    w = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    kind = draw(st.sampled_from(["generic", "rank-deficient", "near-degenerate", "pure"]))
    if kind == "rank-deficient":
        w[draw(st.integers(1, n - 1)):] = 0.0
    elif kind == "near-degenerate":
        w = np.round(w, 1) + 1e-12 * w
    elif kind == "pure":
        w = np.eye(n)[0]
    if w.sum() == 0:
        w[0] = 1.0
    U = unitary_group.rvs(n, random_state=draw(st.integers(0, 2**32 - 1)))
    rho = (U * (w / w.sum())) @ U.conj().T
    gaps = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(0, 5)), min_size=n - 1, max_size=n - 1)))
    e = draw(st.floats(-5, 5)) + np.concatenate([[0.0], np.cumsum(gaps)])
    return rho, e


@PROPS
@given(states_and_ladders())
def test_property_bounds_and_split(case):
    rho, e = case
    parts = ergotropy_parts(rho, e)
    tol = 1e-10 * max(1.0, np.abs(e).max())  # double-precision eigenvalues: ~ n eps ||rho|| max|e|
    assert -tol <= parts.W_i <= parts.W + tol  # 0 <= W_i <= W
    assert parts.W <= parts.energy - e[0] + tol  # W <= E - e_0 (the passive energy is >= e_0)
    assert parts.W_c >= -tol
    ref = reference_parts(rho, e)
    for name, r in zip(("energy", "W", "W_c", "W_i"), ref):  # W_c = W - W_i from explicit states
        assert getattr(parts, name) == pytest.approx(r, abs=tol), name


@PROPS
@given(states_and_ladders(), st.integers(0, 2**32 - 1))
def test_property_passive_state_and_unitary_invariance(case, seed):
    rho, e = case
    n = len(e)
    tol = 1e-10 * max(1.0, np.abs(e).max())
    sigma = passive_state(rho, e)
    assert abs(ergotropy(sigma, e)) <= tol  # the passive state holds no work
    p = ergotropy_parts(rho, e).passive
    V = unitary_group.rvs(n, random_state=seed)
    rotated = V @ rho @ V.conj().T
    assert ergotropy_parts(rotated, e).passive == pytest.approx(p, abs=tol)  # spectrum only
    assert energy(rotated, e) >= p - tol  # and a minimum over unitaries


@PROPS
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 2 * np.pi), st.floats(0.01, 100))
def test_property_tls_closed_form_matches_fock_basis(p, frac, phase, omega):
    c = frac * np.sqrt(p * (1 - p)) * np.exp(1j * phase)  # positivity: |c|^2 <= p (1 - p)
    closed = tls_ergotropy(p, c, omega)
    general = ergotropy_parts(np.array([[1 - p, c], [np.conj(c), p]]), [0.0, omega])
    for name in ("energy", "W", "W_c", "W_i", "passive"):
        # the closed form subtracts nearly equal square roots: ~ eps omega / (gap) at worst
        assert getattr(closed, name) == pytest.approx(getattr(general, name), abs=1e-9 * omega), name
