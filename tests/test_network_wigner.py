"""Network truncated Wigner and the samplers' runner (cimqb_traj.network.phasespace): the linear
(kappa = 0) limit in closed form, eta = 0 against the single-spin Wigner sampler, bitwise
independence of n_jobs, conditional sums, final samples, divergence exclusion, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from cimqb_traj.errors import ResourceError, SamplesError
from cimqb_traj.network import phasespace as ps
from cimqb_traj.network import sde
from cimqb_traj.params import BatteryParams
from cimqb_traj.phasespace.wigner import Wigner
from cimqb_traj.problem import charge_problem
from stats import FAMILY_RATE, assert_within

# three spins, mixed signs and weights: edges of both kinds, a frustrated loop
J3 = np.array([[0, 1.0, -0.7], [1.0, 0, 0.4], [-0.7, 0.4, 0]])
FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])


def test_wigner_kappa0_closed_form():
    """kappa = 0: the Wigner equations are linear; the mean is the mean field and the covariance
    of a coherent state stays the vacuum's, E[d a_i d a_j^*] = delta_ij / 2, E[d a_i d a_j] = 0
    (module docstring of network.phasespace), for any J: the edge noise must be there, with its
    sign, for the coupled modes to keep it."""
    p = BatteryParams(kappa=0.0, F=1.0, delta=0.7, eps=0.2)
    t = np.linspace(0, 2, 5)
    a0 = np.array([1.0, -0.5j, 0.3])
    S = 4000
    r = ps.truncated_wigner(p, J3, 1.3, t, samples=S, seed=3, dt=0.01, alpha_s0=a0, keep_final=True)
    assert r.ordering == "symmetric" and r.diverged == 0
    a, _ = sde.integrate_meanfield(p, J3, 1.3, t, a0)
    # Heun's deterministic error for this linear system at dt = 0.01 is ~1e-5, far below the errors
    assert_within(r.n, np.abs(a) ** 2, r.n_err, "n vs |mean field|^2", groups=20, floor=1e-4)
    ref_aa = (a[:, r.pairs[:, 0]] * a[:, r.pairs[:, 1]]).real
    assert_within(r.re_aa, ref_aa, r.re_aa_err, "Re<a_i a_j> vs mean field", groups=20, floor=1e-4)
    d = r.final_alpha - a[-1]
    C = d.T @ d.conj() / S  # E[d a_i d a_j^*]
    K = d.T @ d / S  # E[d a_i d a_j]
    C_err = np.sqrt((np.abs(d[:, :, None] * d[:, None, :].conj()) ** 2).mean(axis=0) / S)
    K_err = np.sqrt((np.abs(d[:, :, None] * d[:, None, :]) ** 2).mean(axis=0) / S)
    # each complex entry: real and imaginary parts, errors from the samples (|.|^2 bounds both)
    for M, ref, err, what in ((C, 0.5 * np.eye(3), C_err, "covariance"), (K, 0 * K, K_err, "pseudo-covariance")):
        assert_within(M.real, ref, err, f"{what} (real)")
        assert_within(M.imag, 0 * ref, err, f"{what} (imag)")
    assert np.array_equal(r.final_alpha_plus, np.conj(r.final_alpha))


def test_wigner_eta0_is_the_single_spin_sampler():
    """eta = 0: each spin's samples have the single-spin truncated Wigner law (same equations,
    noises, initial samples, step plan and increments' law).  Below threshold, where <n> is
    sensitive to every vacuum noise (signal, pump, initial): <n>(t) pooled over the two
    independent spins against the single-spin samples' mean, and two-sample KS tests on Re alpha
    and |alpha|^2 at t[-1]."""
    p = BatteryParams(F=1.2, Ns=3, Np=2)
    t = [0.0, 1.0, 3.0]
    S = 6000
    r = ps.truncated_wigner(p, FERRO, 0.0, t, samples=S, seed=5, dt=0.02, keep_final=True)
    one = Wigner(dt=0.02, paths=True).run_group(charge_problem(p, t), np.arange(2 * S), 9).records[0]["alpha_s"]
    n1 = np.abs(one) ** 2 - 0.5
    err = np.hypot(np.hypot(r.n_err[:, 0], r.n_err[:, 1]) / 2, n1.std(axis=0) / np.sqrt(2 * S))
    # t = 0 is included: the initial Wigner samples of both samplers
    assert_within(r.n.mean(axis=1), n1.mean(axis=0), err, "pooled n_i vs single spin")
    x = r.final_alpha.ravel()
    rate = FAMILY_RATE / 2  # two KS tests at the project's family-wise rate
    for f, what in ((np.real, "Re alpha"), (lambda z: np.abs(z) ** 2, "|alpha|^2")):
        pv = ks_2samp(f(x), f(one[:, -1])).pvalue
        assert pv > rate, f"{what}: KS p = {pv:.2g}"


def _n_jobs_check(sampler, backend):
    p = BatteryParams(F=2.5)
    t = [0.0, 0.5, 1.0]
    kw = dict(samples=40, seed=11, dt=0.02, keep_final=True, conditional=True)
    one = sampler(p, J3, 0.4, t, **kw)
    two = sampler(p, J3, 0.4, t, n_jobs=2, backend=backend, **kw)
    for k in ("n", "n_err", "re_aa", "re_aa_err", "spins", "final_alpha", "final_alpha_plus"):
        assert np.array_equal(getattr(one, k), getattr(two, k)), k
    for k in one.cond:
        assert np.array_equal(one.cond[k], two.cond[k]), k
    assert one.options["n_jobs"] == 1 and two.options["n_jobs"] == 2


@pytest.mark.parametrize("sampler", [ps.positive_p, ps.truncated_wigner])
def test_results_do_not_depend_on_n_jobs(sampler):
    """Two threads (the kernels release the GIL) give bitwise the one-worker result."""
    _n_jobs_check(sampler, "threading")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_process_backends_are_bitwise_the_same(backend):
    """Worker processes (loky; a local Dask cluster): ~10 s to start, hence slow."""
    _n_jobs_check(ps.positive_p, backend)


@pytest.mark.parametrize("sampler", [ps.positive_p, ps.truncated_wigner])
def test_conditional_sums_and_final_samples(sampler):
    """The conditional sums at t[-1] against the kept final samples split by the sign of
    Re alpha_i (same numbers, summed in another order), their totals against n, and the spins."""
    p = BatteryParams(F=2.5)
    t = [0.0, 1.0, 2.0]
    r = sampler(p, J3, 0.4, t, samples=60, seed=4, dt=0.02, keep_final=True, conditional=True)
    G = r.groups
    assert all(r.cond[k].shape == (G, 3, 3, 2) for k in ("count", "a", "a2", "n"))
    x, xp = r.final_alpha, r.final_alpha_plus
    pos = x.real >= 0
    for side, mask in ((0, pos), (1, ~pos)):
        np.testing.assert_array_equal(r.cond["count"][:, -1, :, side].sum(axis=0), mask.sum(axis=0))
        # sums of 60 O(1) numbers in two orders: rounding ~1e-14
        np.testing.assert_allclose(r.cond["a"][:, -1, :, side].sum(axis=0), (x * mask).sum(axis=0), atol=1e-12)
        np.testing.assert_allclose(r.cond["a2"][:, -1, :, side].sum(axis=0), (x**2 * mask).sum(axis=0), atol=1e-12)
        np.testing.assert_allclose(r.cond["n"][:, -1, :, side].sum(axis=0), (xp * x * mask).sum(axis=0), atol=1e-12)
    shift = 0.5 if r.ordering == "symmetric" else 0.0
    tot = r.cond["n"].sum(axis=(0, 3)).real / r.samples - shift
    np.testing.assert_allclose(tot, r.n, atol=1e-12)
    np.testing.assert_array_equal(r.spins, np.where(pos, 1, -1))


def test_diverged_samples_enter_no_sum():
    """Samples beyond divergence_bound are excluded at every time, including the times before
    they diverged (the conditional counts at t = 0 equal the kept samples), and get NaN rows."""
    p = BatteryParams(F=4.0)
    t = [0.0, 1.0, 3.0]
    r = ps.truncated_wigner(p, J3, 0.4, t, samples=40, seed=1, dt=0.02, divergence_bound=4.0,
                            max_diverged=1.0, keep_final=True, conditional=True)
    kept = r.samples - r.diverged
    assert 0 < r.diverged < r.samples
    np.testing.assert_array_equal(r.cond["count"].sum(axis=(0, 3)), np.full((3, 3), kept))
    bad = np.isnan(r.final_alpha).any(axis=1)
    assert bad.sum() == r.diverged and np.all(r.spins[bad] == 0) and np.all(r.spins[~bad] != 0)
    with pytest.raises(SamplesError, match="max_diverged"):
        ps.truncated_wigner(p, J3, 0.4, t, samples=40, seed=1, dt=0.02, divergence_bound=4.0)


@pytest.mark.parametrize("sampler", [ps.positive_p, ps.truncated_wigner])
@pytest.mark.parametrize("kw, match", [
    ({"eta": -1.0}, "eta"), ({"samples": 1}, "samples"), ({"dt": 0.0}, "dt"), ({"seed": -1}, "seed"),
    ({"pairs": [[1, 0]]}, "pairs"), ({"params": BatteryParams(nth_p=0.1)}, "nth_s and nth_p"),
    ({"alpha_s0": [1, 2, 3]}, "alpha_s0"), ({"backend": "mpi"}, "backend"), ({"scheduler": "tcp://x:1"}, "scheduler"),
    ({"keep_final": 1}, "keep_final"), ({"conditional": "yes"}, "conditional"), ({"n_jobs": 0}, "n_jobs"),
])
def test_sampler_refusals(sampler, kw, match):
    args = {"params": BatteryParams(), "J": FERRO, "eta": 1.0, "t": [0, 0.1], "samples": 4, "seed": 0, "dt": 0.05}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sampler(**args)


@pytest.mark.parametrize("kw, match", [({"n_jobs": 10_000}, "n_jobs"), ({"dt": 1e-9}, "dt"),
                                       ({"samples": 10**9, "t": [0, 100]}, "samples")])
def test_resources_refused_before_running(kw, match):
    args = {"samples": 4, "t": [0, 0.1], "dt": 0.05, **kw}
    with pytest.raises(ResourceError, match=match):
        ps.positive_p(BatteryParams(), FERRO, 1.0, args.pop("t"), args.pop("samples"), 0, **args)



def test_kernel_generator_is_numpy_sfc64():
    """The kernels' in-loop generator reproduces numpy's SFC64 stream bitwise (so the increments
    inherit its tested statistical quality), and the three-point law has variance h."""
    from cimqb_traj.network import _kernels

    bg = np.random.SFC64(np.random.SeedSequence(12345))
    rs = np.array([bg.state["state"]["state"]], np.uint64)
    np.testing.assert_array_equal(_kernels.sfc64_words(rs, 1000), bg.random_raw(1000))
