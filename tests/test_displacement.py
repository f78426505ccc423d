"""Displacement matrix elements and the re-shift of a displaced Fock basis
(``cimqb_traj.trajectories.displacement``), against qutip, scipy and exact identities."""

import numpy as np
import pytest
import qutip
from scipy.special import eval_genlaguerre, gammaln
from scipy.stats import poisson

from cimqb_traj.trajectories.displacement import coherent, displace_block, reshift, reshift2

BIG = np.sqrt(500.0) * np.exp(0.7j)  # |beta|^2 = 500, a generic phase


@pytest.mark.parametrize("beta", [0.3 + 0.2j, 2 - 1j, 3j, -4 + 0.1j, 4.0])
def test_block_matches_qutip(beta):
    # qutip.displace exponentiates the truncated generator: exact only far from its cut, so it is
    # taken at N = 200 and compared on the 60 x 60 corner, where its truncation error is ~1e-30;
    # 1e-10: rounding (measured 1e-14)
    ref = qutip.displace(200, beta).full()[:60, :60]
    assert np.abs(displace_block(beta, 60, 60) - ref).max() < 1e-10


def test_block_matches_laguerre_formula_both_triangles():
    # the closed form with scipy's Laguerre polynomials at moderate |beta|^2 (no overflow there);
    # 1e-12: rounding of L_n at these sizes
    beta = 1.7 - 0.4j
    x = abs(beta) ** 2
    M = displace_block(beta, 12, 9)
    for m in range(12):
        for n in range(9):
            if m >= n:
                ref = np.exp(0.5 * (gammaln(n + 1) - gammaln(m + 1))) * beta ** (m - n) * eval_genlaguerre(n, m - n, x)
            else:
                ref = np.exp(0.5 * (gammaln(m + 1) - gammaln(n + 1))) * (-np.conj(beta)) ** (n - m) * eval_genlaguerre(m, n - m, x)
            assert abs(M[m, n] - ref * np.exp(-x / 2)) < 1e-12, (m, n)


def test_columns_orthonormal_at_500_photons():
    # columns whose support (sqrt(n) + |beta|)^2 + 12 (sqrt(n) + |beta|) fits into N_out = 2000 are
    # orthonormal displaced number states; 1e-11: accumulated rounding of 600-step recurrences
    # (measured 2e-13)
    M = displace_block(BIG, 2000, 600)
    n = np.arange(600)
    r = np.sqrt(n) + abs(BIG)
    ok = r**2 + 12 * r < 2000
    assert ok.sum() > 250
    G = M[:, ok].conj().T @ M[:, ok]
    assert np.abs(G - np.eye(ok.sum())).max() < 1e-11


def test_inverse_at_500_photons():
    # D(beta) D(-beta) = 1 on the first 100 levels (the intermediate sum runs to 1400, past the
    # support of D(-beta)|n>, n < 100); 1e-11 as above (measured 2e-13)
    P = displace_block(-BIG, 1400, 100)
    Q = displace_block(BIG, 100, 1400)
    assert np.abs(Q @ P - np.eye(100)).max() < 1e-11


def test_coherent_state_poisson_at_500_photons():
    # |<n|beta>|^2 = Poisson(|beta|^2); 1e-12 absolute on probabilities <= 0.018 (measured 5e-16)
    p = np.abs(coherent(BIG, 1000)) ** 2
    assert np.abs(p - poisson.pmf(np.arange(1000), 500.0)).max() < 1e-12
    assert abs(p.sum() - 1) < 1e-10


def test_zero_beta_is_identity_block():
    assert np.array_equal(displace_block(0, 4, 3), np.eye(4, 3))


def test_reshift_phase_and_state():
    # sum_m c'_m D(b_new)|m> = sum_n c_n D(b_old)|n>, checked as vectors in a large Fock space
    # (qutip at N = 160, exact there for these |beta| <= 3.2 and levels < 12); 1e-10: rounding
    rng = np.random.default_rng(1)
    c = rng.normal(size=12) + 1j * rng.normal(size=12)
    c /= np.linalg.norm(c)
    b_old, b_new = 1.5 + 2.0j, -0.7 + 2.4j
    c_new, lost = reshift(c, b_old, b_new, 80)
    N = 160
    lab_old = qutip.displace(N, b_old).full()[:, :12] @ c
    lab_new = qutip.displace(N, b_new).full()[:, :80] @ c_new
    assert np.abs(lab_new - lab_old).max() < 1e-10
    assert abs(lost) < 1e-12  # 80 levels hold the shifted state (level 11 moved by 2.3: support ~40)


def test_reshift_reports_lost_weight():
    # a new basis too small to hold the shifted state: the lost weight is what the norm misses
    c = np.zeros(6, complex)
    c[0] = 1.0
    c_new, lost = reshift(c, 3.0, 0.0, 4)  # the coherent state |3> on levels 0..3
    assert lost == pytest.approx(1 - poisson.cdf(3, 9.0), rel=1e-10)


def test_reshift2_two_modes_and_round_trip():
    rng = np.random.default_rng(2)
    psi = rng.normal(size=(8, 5)) + 1j * rng.normal(size=(8, 5))
    psi /= np.linalg.norm(psi)
    old, new = (1.0 - 0.5j, 0.3j), (2.0 + 0.2j, -0.4 + 0.1j)
    out, lost = reshift2(psi, old, new, (40, 30))
    back, lost2 = reshift2(out, new, old, (8, 5))
    assert abs(lost) < 1e-12 and np.abs(back - psi).max() < 1e-11
    # against the Kronecker product of the single-mode maps (qutip's tensor order s * Np + p)
    Ns, Np = 120, 80
    Ds = qutip.displace(Ns, old[0]).full()[:, :8]
    Dp = qutip.displace(Np, old[1]).full()[:, :5]
    Es = qutip.displace(Ns, new[0]).full()[:, :40]
    Ep = qutip.displace(Np, new[1]).full()[:, :30]
    assert np.abs(np.kron(Ds, Dp) @ psi.ravel() - np.kron(Es, Ep) @ out.ravel()).max() < 1e-10


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="n_out"):
        displace_block(1.0, 0, 3)
    with pytest.raises(ValueError, match="beta"):
        displace_block(float("nan"), 3, 3)
    with pytest.raises(ValueError, match="n_new"):
        reshift(np.ones(2), 0, 1, 1.5)
