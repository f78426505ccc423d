"""Network mean field and positive-P (cimqb_traj.network.sde): eta = 0 limit, coupling drift
against qutip, linear threshold against a numerical bifurcation, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import qutip
import scipy.sparse as sp

from cimqb_traj import exact
from cimqb_traj.network import ising, sde
from cimqb_traj.params import BatteryParams
from cimqb_traj.phasespace.meanfield import mean_field
from stats import assert_within

FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])
ANTI = -FERRO
TRIANGLE = -(np.ones((3, 3)) - np.eye(3))  # frustrated: lambda_min(D - J) = 1


def test_meanfield_eta0_is_independent_single_spins():
    p = BatteryParams(F=3.0, delta=0.3, eps=0.01)
    J = np.array([[0, 1.0, -0.5], [1.0, 0, 2.0], [-0.5, 2.0, 0]])
    t = np.linspace(0, 8, 17)
    a0 = np.array([0.1, -0.2j, 0.05 + 0.05j])
    a, b = sde.integrate_meanfield(p, J, 0.0, t, a0)
    for i in range(3):
        ref = mean_field(p, t, alpha_s0=a0[i])
        # both DOP853 at rtol 1e-10 on O(4) amplitudes: 1e-7 covers the two solvers' tolerances
        np.testing.assert_allclose(a[:, i], ref.alpha_s, atol=1e-7)
        np.testing.assert_allclose(b[:, i], ref.alpha_p, atol=1e-7)


def test_positive_p_eta0_matches_exact_single_spin():
    p = BatteryParams(F=1.5, Ns=10, Np=6)
    t = np.linspace(0, 3, 4)
    ref = exact.charge(p, t, trunc_tol=None).n_s
    r = sde.positive_p(p, FERRO, 0.0, t, samples=2000, seed=7, dt=0.01)
    assert r.diverged == 0 and r.groups == 20
    # jackknife errors over 20 groups; Heun bias O(dt^2) ~ 1e-4 is far below the errors (~1e-2)
    assert_within(r.n[1:], np.repeat(ref[1:, None], 2, axis=1), r.n_err[1:], "n_i vs exact n_s", groups=20)


def test_positive_p_coupling_drift_kappa0_equals_meanfield():
    """kappa = 0: no noise, so every sample is the (linear) mean field with the coupling (and the
    detuning and seed, which act on alpha^+ with conjugate signs)."""
    p = BatteryParams(kappa=0.0, F=1.0, delta=0.7, eps=0.2)
    J = np.array([[0, 1.0, -0.7], [1.0, 0, 0.4], [-0.7, 0.4, 0]])
    t = np.linspace(0, 2, 5)
    a0 = np.array([1.0, -0.5j, 0.3])
    a, _ = sde.integrate_meanfield(p, J, 1.3, t, a0)
    r = sde.positive_p(p, sp.csr_matrix(J), 1.3, t, samples=4, seed=0, dt=0.005, alpha_s0=a0)
    # Heun is second order for this linear ODE: error ~ (h^2) * rates^3 * T ~ 1e-5
    np.testing.assert_allclose(r.n, np.abs(a) ** 2, atol=1e-4)
    np.testing.assert_allclose(r.re_aa, (a[:, r.pairs[:, 0]] * a[:, r.pairs[:, 1]]).real, atol=1e-4)
    np.testing.assert_array_equal(r.spins, np.tile(np.sign(a[-1].real), (4, 1)))


@pytest.mark.parametrize("Jij", [1.0, -0.6])
def test_coupling_drift_against_qutip(Jij):
    """d<a_m>/dt of a coherent product state under D[L_12] alone, exact (qutip Liouvillian),
    against the coupling part of meanfield_rhs."""
    n, eta = 10, 0.8
    a1, a2 = qutip.tensor(qutip.destroy(n), qutip.qeye(n)), qutip.tensor(qutip.qeye(n), qutip.destroy(n))
    L = np.sqrt(eta * abs(Jij)) * (a1 - np.sign(Jij) * a2)
    al = np.array([0.3 + 0.1j, -0.2j])
    rho = qutip.ket2dm(qutip.tensor(qutip.coherent(n, al[0]), qutip.coherent(n, al[1])))
    drho = qutip.vector_to_operator(qutip.lindblad_dissipator(L) * qutip.operator_to_vector(rho))
    exact_rate = np.array([qutip.expect(a1, drho), qutip.expect(a2, drho)])
    J = np.array([[0, Jij], [Jij, 0]])
    p = BatteryParams()
    alp = np.array([0.5, -0.2j])
    with_c, _ = sde.meanfield_rhs(p, J, eta, al, alp)
    without, _ = sde.meanfield_rhs(p, J, 0.0, al, alp)
    # truncation at n = 10 of |alpha| <= 0.32: error ~ |alpha|^20 / 10! ~ 1e-16
    np.testing.assert_allclose(with_c - without, exact_rate, atol=1e-10)


def _grows(p, J, eta, F, seed=3):
    """Integrate from the trivial state plus a small random signal; True if it grew."""
    N = J.shape[0]
    rng = np.random.default_rng(seed)
    a0 = 1e-4 * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
    q = p.replace(F=F)
    a, _ = sde.integrate_meanfield(q, J, eta, [0.0, 400.0], a0, 2 * F / np.sqrt(q.gamma_p), rtol=1e-8,
                                   atol=1e-14)
    return np.linalg.norm(a[-1]) > np.linalg.norm(a0)


def test_linear_threshold_eta0_is_single_spin():
    p = BatteryParams(delta=0.4)
    assert sde.linear_threshold(p, TRIANGLE, 0.0) == pytest.approx(p.threshold, rel=1e-12)
    # the sparse path (eigsh) finds the same lowest Laplacian mode as the dense one (eigvalsh)
    assert sde.linear_threshold(p, sp.csr_matrix(TRIANGLE), 0.5) == pytest.approx(
        sde.linear_threshold(p, TRIANGLE, 0.5), rel=1e-9)


@pytest.mark.parametrize("J, raised", [(FERRO, False), (ANTI, False), (TRIANGLE, True)])
def test_linear_threshold_against_bifurcation(J, raised):
    p, eta = BatteryParams(), 0.5
    F_th = sde.linear_threshold(p, J, eta)
    # unfrustrated pairs: lambda_min = 0; the triangle: lambda_min = 1 (exact to round-off)
    assert F_th == pytest.approx(p.threshold * (1.5 if raised else 1.0), rel=1e-12)
    # +-2 %: growth/decay rate ~ 0.01 gamma_s over t = 400 changes the seed by e^{+-4}
    assert not _grows(p, J, eta, 0.98 * F_th)
    assert _grows(p, J, eta, 1.02 * F_th)


@pytest.mark.parametrize("J, match", [
    (np.array([[0, 1.0], [0.5, 0]]), "symmetric"),
    (np.array([[1.0, 1.0], [1.0, 0]]), "diagonal"),
    (np.array([[0, np.nan], [np.nan, 0]]), "finite"),
    (np.ones((2, 3)), "square"),
    (np.array([[0, 1j], [1j, 0]]), "real"),
])
def test_bad_couplings_refused(J, match):
    with pytest.raises(ValueError, match=match):
        sde.linear_threshold(BatteryParams(), J, 1.0)


@pytest.mark.parametrize("kw, match", [
    ({"eta": -1.0}, "eta"), ({"eta": float("nan")}, "eta"), ({"samples": 1}, "samples"),
    ({"dt": 0.0}, "dt"), ({"seed": -1}, "seed"), ({"pairs": [[1, 0]]}, "pairs"),
    ({"params": BatteryParams(nth_s=0.1)}, "nth_s"), ({"alpha_s0": [1, 2, 3]}, "alpha_s0"),
])
def test_positive_p_refusals(kw, match):
    args = {"params": BatteryParams(), "J": FERRO, "eta": 1.0, "t": [0, 0.1], "samples": 4, "seed": 0,
            "dt": 0.05}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sde.positive_p(**args)


@pytest.mark.parametrize("N, degree, seed", [(1000, 3, 1), (10, 3, 0), (9, 4, 5), (2, 1, 0)])
def test_random_regular_is_simple_regular_and_symmetric(N, degree, seed):
    J = ising.random_regular(N, degree, seed)
    A = J.toarray()
    assert A.shape == (N, N) and np.array_equal(A, A.T) and not np.diag(A).any()
    assert set(np.unique(A[A != 0])) <= {-1.0, 1.0}
    np.testing.assert_array_equal((A != 0).sum(axis=1), degree)  # simple: no repeated edge collapsed
    assert J.nnz == N * degree  # every stub paired into a distinct edge (a repeat would merge two)
    assert (ising.random_regular(N, degree, seed) != J).nnz == 0  # the seed names the instance
    if N == 1000:  # random signs: about half ferromagnetic (binomial, 1500 edges, 5 sigma ~ 97)
        assert abs((A > 0).sum() / 2 - 750) < 97
        assert (ising.parse_instance(f"regular:{N}:{seed}") != J).nnz == 0


def test_random_regular_signs_and_refusals():
    assert (ising.random_regular(8, 3, 2, signs="anti").data == -1).all()
    assert (ising.random_regular(8, 3, 2, signs="ferro").data == 1).all()
    for kw, match in [({"N": 7, "degree": 3}, "even"), ({"N": 4, "degree": 4}, "degree"),
                      ({"N": 8, "signs": "x"}, "signs"), ({"N": 1}, "N"), ({"N": 50, "degree": 9}, "degree")]:
        with pytest.raises(ValueError, match=match):
            ising.random_regular(**kw)
    with pytest.raises(ValueError, match="regular:N:SEED"):
        ising.parse_instance("regular:10")
