"""Network homodyne trajectories (network.trajectories): N = 2 against the exact Lindblad solution
(n_i, Re<a_0 a_1>, P(sigma)), bitwise independence of n_jobs, the N = 3 frustrated triangle's
symmetries and readout, and bad input."""

import numpy as np
import pytest
import qutip
from stats import assert_within, z_crit

from cimqb_traj import BatteryParams
from cimqb_traj.errors import ResourceError
from cimqb_traj.network import exact as nx
from cimqb_traj.network import sde, spins
from cimqb_traj.network.trajectories import MAX_DIM, NetworkHomodyne, homodyne, network_problem
from cimqb_traj.ergotropy import ergotropy_parts
from cimqb_traj.problem import charge_problem

PAIR = np.array([[0.0, 1.0], [1.0, 0.0]])
TRIANGLE_AF = -(np.ones((3, 3)) - np.eye(3))
ETA = 0.5


# network.exact's converged case (test_network_exact: top populations < 1e-2; (6, 5) and (8, 4)
# move n, Re<aa> by <= 6e-3, a quarter of the errors here), 1.2 x the coupled threshold (the same
# for both signs: the signed Laplacians of +-PAIR both have eigenvalues 0 and 2)
P_PAIR = BatteryParams(kappa=1.0, gamma_p=4.0, Ns=6, Np=4)
P_PAIR = P_PAIR.replace(F=1.2 * sde.linear_threshold(P_PAIR, PAIR, ETA))
T_PAIR = np.array([0.0, 1.5, 3.0])


@pytest.fixture(scope="module")
def exact_ferro():
    """n_i, Re<a_0 a_1> and P(sigma) of the exact ferromagnetic pair (qutip.mesolve, constant pump)."""
    p = P_PAIR
    H, c_ops, a = nx.network_operators(p, PAIR, ETA)
    rho0 = qutip.ket2dm(qutip.tensor([qutip.basis(p.Ns, 0), qutip.basis(p.Np, 0)] * 2))
    st = qutip.mesolve(H, rho0, T_PAIR, c_ops, options={"atol": 1e-8, "rtol": 1e-6, "store_states": True}).states
    n = np.array([[qutip.expect(x.dag() * x, s) for x in a] for s in st])
    aa = np.array([[qutip.expect(a[0] * a[1], s).real] for s in st])
    ps = np.array([spins.spin_distribution_exact(s, 2, (p.Ns, p.Np)) for s in st])
    e = ergotropy_parts(np.array([[s.ptrace(2 * i).full() for i in range(2)] for s in st]))
    work = np.concatenate([e.energy, e.W, e.W_c], axis=1)  # per spin (the gauge leaves them alone)
    return n, aa, ps, work


@pytest.mark.parametrize("sign", [1, -1])
def test_pair_against_exact(sign, exact_ferro):
    J = sign * PAIR
    n, aa, ps, work = exact_ferro
    if sign < 0:
        # antiferro = ferro under U = (-1)^(n_1) (a_1 -> -a_1): H (eps = 0) is invariant and the
        # edge channel a_0 - a_1 becomes a_0 + a_1; so n is unchanged, Re<a_0 a_1> flips and
        # P(s0, s1) -> P(s0, -s1) (rows ++, +-, -+, -- of spins.configurations)
        aa, ps = -aa, ps[:, [1, 0, 3, 2]]
    r = homodyne(P_PAIR, J, ETA, T_PAIR, 200, 7, dt=0.01)
    assert r.truncation["verdict"] == "ok"
    x = np.concatenate([r.n, r.re_aa, r.p_sign], axis=1)[1:]
    ref = np.concatenate([n, aa, ps], axis=1)[1:]
    err = np.concatenate([r.n_err, r.re_aa_err, r.p_sign_err], axis=1)[1:]
    # jackknife errors over 20 groups, family-wise (stats.z_crit); the dt = 0.01 weak bias is
    # below 1.4 errors of a 1000-trajectory run (C_trajectories.md), i.e. < 0.7 errors here;
    # mesolve's tolerance (rtol 1e-6) is 1e-4 of the errors
    assert_within(x, ref, err, "n_i, Re<a0 a1>, P(sigma)", groups=r.groups)
    # the network battery per spin from the same shots: each spin's reduced signal state's energy,
    # W and W_c (nonlinear in the state: jackknife errors; the estimate's O(1/ntraj) bias is ~1e-3,
    # a tenth of the errors at t > 0)
    w = r.work
    got = np.concatenate([w.energy, w.W, w.W_c], axis=1)[1:]
    gerr = np.concatenate([w.energy_err, w.W_err, w.W_c_err], axis=1)[1:]
    assert_within(got, work[1:], gerr, "per-spin energy, W, W_c", groups=r.groups)
    np.testing.assert_allclose(w.energy, r.n, rtol=1e-12, atol=1e-14)  # omega_s = 1: energy = n
    # the edge correlates the signals in phase (ferro) or in antiphase (antiferro), resolved
    assert r.re_aa[-1, 0] * sign > 5 * r.re_aa_err[-1, 0]
    assert r.spins.shape == (200, 2) and r.spins.dtype == np.int8 and set(np.unique(r.spins)) <= {-1, 1}


def test_n_jobs_bitwise():
    p = BatteryParams(kappa=1.0, gamma_p=4.0, Ns=4, Np=2, F=1.5)
    t = np.array([0.0, 0.3, 0.6])
    a = homodyne(p, PAIR, ETA, t, 6, 3, groups=3, dt=0.01, records=True, trunc_tol=0)
    b = homodyne(p, PAIR, ETA, t, 6, 3, groups=3, dt=0.01, records=True, trunc_tol=0, n_jobs=2)
    for name in ("n", "re_aa", "p_sign", "spins", "x", "W"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.x.shape == (6, 3, 2)
    # the shot's spin is the sign of its conditional <x_i> at t[-1]
    assert np.array_equal(a.spins, np.where(a.x[:, -1] < 0, -1, 1))


def test_triangle_symmetry_and_readout():
    # Symmetries of the antiferromagnetic triangle (exact at any truncation, so a small one is used):
    # the spins are equivalent (S3) and sigma -> -sigma (a_i -> -a_i) maps the model to itself.
    p = BatteryParams(kappa=1.0, gamma_p=4.0, Ns=4, Np=2)
    p = p.replace(F=1.5 * sde.linear_threshold(p, TRIANGLE_AF, 1.0))
    ntraj = 160
    r = homodyne(p, TRIANGLE_AF, 1.0, np.array([0.0, 2.0, 4.0]), ntraj, 1, dt=0.01, trunc_tol=0)
    # n_i equal: each difference against zero, error hypot of the two (conservative: n_i are
    # positively correlated); 3 differences x 2 times
    d = np.stack([r.n[1:, i] - r.n[1:, j] for i, j in ((0, 1), (0, 2), (1, 2))], axis=1)
    e = np.stack([np.hypot(r.n_err[1:, i], r.n_err[1:, j]) for i, j in ((0, 1), (0, 2), (1, 2))], axis=1)
    assert_within(d, 0.0, e, "n_i - n_j", groups=r.groups)
    # P(sigma): the 2 aligned configurations and the 6 frustrated ones form two orbits of the symmetry;
    # each entry against its orbit's mean, at the entry's error (P_k - mean has variance ~(1 - 1/m)
    # of P_k's for m equal, weakly correlated entries)
    aligned = np.all(r.configs == r.configs[:, :1], axis=1)
    for orbit in (aligned, ~aligned):
        P, E = r.p_sign[-1, orbit], r.p_sign_err[-1, orbit]
        assert_within(P, P.mean(), E, "P(sigma) within an orbit", groups=r.groups)
    # readout: an antiferromagnetic edge damps a_i + a_j, so shots avoid the aligned pair of
    # configurations; uncoupled spins would read them with probability 1/4 exactly (two
    # independent fair signs per pair).  One-sided binomial test at the null's standard error.
    f = np.mean(np.all(r.spins == r.spins[:, :1], axis=1))
    assert f < 0.25 - z_crit(1) * np.sqrt(0.25 * 0.75 / ntraj), f
    # within the frustrated orbit the 6 readout frequencies are equal (binomial errors of their mean)
    counts = np.array([np.sum(np.all(r.spins == c, axis=1)) for c in r.configs[~aligned]])
    m = counts.mean()
    assert_within(counts, m, np.sqrt(m * (1 - m / ntraj)), "readout counts within the orbit")


@pytest.mark.slow
def test_triangle_ns6_np3_runs():
    """N = 3 at Ns 6, Np 3 (the brief's size): runs, symmetric, within the truncation guard."""
    p = BatteryParams(kappa=3.0, gamma_p=16.0, Ns=6, Np=3)
    p = p.replace(F=1.5 * sde.linear_threshold(p, TRIANGLE_AF, 0.5))
    r = homodyne(p, TRIANGLE_AF, 0.5, np.array([0.0, 2.0, 4.0]), 40, 2, dt=0.005)
    assert r.truncation["verdict"] in ("ok", "warn")
    d = r.n[-1] - r.n[-1].mean()
    assert_within(d, 0.0, 2 * r.n_err[-1], "n_i - mean", groups=r.groups)  # 2 err: mean shares n_i
    aligned = np.all(r.configs == r.configs[:, :1], axis=1)
    for orbit in (aligned, ~aligned):
        assert_within(r.p_sign[-1, orbit], r.p_sign[-1, orbit].mean(), r.p_sign_err[-1, orbit],
                      "P(sigma) within an orbit", groups=r.groups)
    # uncoupled spins give P(+++) + P(---) = 1/4 exactly (independent, each sign 1/2); the
    # antiferromagnetic edges push it down.  Error of the sum <= sum of the errors (triangle inequality)
    assert r.p_sign[-1, aligned].sum() < 0.25 - z_crit(1, r.groups) * r.p_sign_err[-1, aligned].sum()


def test_sizes_and_bad_input():
    # the brief's sizes build; one over MAX_DIM is refused with what fits
    assert network_problem(BatteryParams(Ns=10, Np=5, F=1.0), PAIR, ETA, [0, 1]).dims == (100, 25)
    assert network_problem(BatteryParams(Ns=6, Np=3, F=1.0), TRIANGLE_AF, ETA, [0, 1]).D == 18 ** 3
    with pytest.raises(ResourceError, match=r"Ns \* Np <= 27"):
        network_problem(BatteryParams(Ns=10, Np=5), TRIANGLE_AF, ETA, [0, 1])
    assert 18 ** 3 <= MAX_DIM < 50 ** 3
    p = BatteryParams(Ns=3, Np=2, F=1.0)
    with pytest.raises(ValueError, match="eta"):
        network_problem(p, PAIR, -1.0, [0, 1])
    with pytest.raises(ValueError, match="symmetric"):
        network_problem(p, np.array([[0.0, 1.0], [0.5, 0.0]]), ETA, [0, 1])
    with pytest.raises(ValueError, match="params"):
        network_problem({"Ns": 3}, PAIR, ETA, [0, 1])
    with pytest.raises(ValueError, match="psi0"):
        network_problem(p, PAIR, ETA, [0, 1], psi0=np.ones(5))
    with pytest.raises(ValueError, match="t must"):
        network_problem(p, PAIR, ETA, [1, 0])
    with pytest.raises(ValueError, match="records"):
        homodyne(p, PAIR, ETA, [0, 1], 2, 0, records="yes")
    with pytest.raises(ValueError, match="dt"):
        homodyne(p, PAIR, ETA, [0, 1], 2, 0, dt=-1.0)
    with pytest.raises(ValueError, match="ntraj"):
        homodyne(p, PAIR, ETA, [0, 1], 0, 0)
    with pytest.raises(ValueError, match="network_problem"):
        NetworkHomodyne().run_group(charge_problem(p, [0, 1]), np.arange(2), 0)


def test_initial_state_and_readout_orientation():
    # psi0 in network.exact's order (s0, p0, s1, p1): coherent signals alpha = (0.8, -0.5), pumps
    # empty.  At t = 0 every trajectory holds psi0, so the moments and P(sigma) are those of psi0
    # itself (network.spins' own einsum over the exact order; qutip expectations): round-off only.
    p = BatteryParams(Ns=6, Np=2, F=0.0, kappa=0.0)
    ket = qutip.tensor(qutip.coherent(6, 0.8), qutip.basis(2, 0), qutip.coherent(6, -0.5), qutip.basis(2, 0))
    r = homodyne(p, PAIR, ETA, [0.0, 0.2], 4, 0, groups=2, psi0=ket, records=True, trunc_tol=0)
    a = [qutip.tensor(*[qutip.destroy(6) if k == 2 * i else qutip.qeye(d) for k, d in enumerate((6, 2, 6, 2))])
         for i in range(2)]
    np.testing.assert_allclose(r.n[0], [qutip.expect(x.dag() * x, ket) for x in a], atol=1e-12)
    np.testing.assert_allclose(r.re_aa[0, 0], qutip.expect(a[0] * a[1], ket).real, atol=1e-12)
    np.testing.assert_allclose(r.p_sign[0], spins.spin_distribution_exact(qutip.ket2dm(ket), 2, (6, 2)), atol=1e-12)
    # a coherent state under linear loss and homodyne stays coherent with a deterministic amplitude
    # (kappa = F = 0; the edge is linear too): every shot reads sgn(0.8, -0.5) = (+1, -1)
    assert np.all(r.spins == [1, -1]) and np.all(np.sign(r.x[:, :, 0]) == 1)
    with pytest.raises(ValueError, match="no output channel"):
        homodyne(p.replace(gamma_s=0.0, gamma_p=0.0), PAIR, 0.0, [0.0, 0.1], 2, 0)
