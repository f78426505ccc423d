"""Physics at non-default parameters against the exact solver (issue 11, point 8).

Thermal baths on both modes (nth_s, nth_p > 0) and a signal detuning Delta != 0, at a coupling
strong enough that the nonlinearity matters (kappa = 1, F = 1.25 F_th: the truncated Wigner method
is off by 9 % in <n_s> there, see below), for every sampled method: jump and homodyne
trajectories, positive-P and truncated Wigner.  Compared: <n_s>, <a_s^2> (real and imaginary part:
a sign error in Delta conjugates it and leaves <n_s> alone) and the signal populations, within the
family-wise threshold of ``tests/stats.py`` (Student t with the jackknife's G - 1 degrees of
freedom).  Moments are normally ordered (phase space: ``phasespace.moments``, which converts the
Wigner samples' symmetric order).  Each test's comparisons share its family-wise rate 1e-3 (split
evenly over the ``assert_within`` calls).  Plus the real and complex arithmetic paths of the SDE
kernel on the same noise.

The truncation guard is disabled (trunc_tol = 0) wherever the run and its reference share a
truncation (trajectories: both solve the same truncated master equation, so the truncation is no
error of the comparison); phase-space samplers have no truncation and are compared with an exact
reference at (Ns, Np) = (18, 9), which differs from (22, 11) by < 1e-4 in <n_s> and <n_p> over
t <= 3 (measured in development), far below the floors used here.
"""

import math

import numpy as np
import pytest

from cimqb_traj import exact
from cimqb_traj import trajectories as tr
from cimqb_traj.params import BatteryParams
from cimqb_traj.phasespace import diverged, method, moments
from cimqb_traj.trajectories import charge_problem, run

try:
    from stats import FAMILY_RATE, assert_within
except ImportError:  # run from another rootdir
    from tests.stats import FAMILY_RATE, assert_within

#: F_th = sqrt(gamma_p) / (2 kappa) * hypot(gamma_s / 2, Delta) = 0.640: F = 1.25 F_th
P = BatteryParams(Ns=10, Np=5, kappa=1.0, gamma_p=4.0, F=0.8, delta=0.4, nth_s=0.2, nth_p=0.1)
T = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
REF_DIMS = dict(Ns=18, Np=9)


def _a2(N):
    a = np.diag(np.sqrt(np.arange(1.0, N)), 1)
    return a @ a


def _moments_exact(ex):
    N = ex.rho_s.shape[-1]
    n = np.einsum("tii,i->t", ex.rho_s, np.arange(N)).real
    a2 = np.einsum("tij,ji->t", ex.rho_s, _a2(N))
    return n, a2


@pytest.fixture(scope="module")
def same_truncation():
    """Exact reference at the trajectories' own truncation."""
    return exact.charge(P, T, trunc_tol=0)


@pytest.fixture(scope="module")
def converged():
    """Exact reference for the untruncated phase-space samplers."""
    return exact.charge(P.replace(**REF_DIMS), T, trunc_tol=0)


def _compare(res, n, a2, pops, n_ref, a2_ref, pops_ref, floor, what):
    """<n_s>, Re and Im <a_s^2> and the signal populations (n, a2, pops: (value, error) pairs)
    within one family-wise rate for the test: 4 assert_within calls at rate FAMILY_RATE / 4."""
    rate = FAMILY_RATE / 4
    kw = dict(groups=res.groups, floor=floor, rate=rate)
    assert_within(n[0], n_ref, n[1], f"{what} <n_s>", **kw)
    # a2[1]: err(Re) + i err(Im) (phasespace.moments) or one real error of the complex mean, the
    # jackknife of |mean - loo| (ensemble expect_err), which bounds both parts' errors
    er, ei = (a2[1].real, a2[1].imag) if np.iscomplexobj(a2[1]) else (a2[1], a2[1])
    assert_within(a2[0].real, a2_ref.real, er, f"{what} Re <a_s^2>", **kw)
    assert_within(a2[0].imag, a2_ref.imag, ei, f"{what} Im <a_s^2>", **kw)
    assert_within(pops[0], pops_ref, pops[1], f"{what} populations", **kw)


def _diag(x):
    return np.diagonal(x, axis1=1, axis2=2).real


# --- trajectories: same truncation as the exact reference -------------------------------------

# Floors (deterministic errors, never statistics):
# * jump: DOPRI5 at rtol = atol = 1e-5 per trajectory, the no-jump evolution's local error held to
#   1e-5 of the norm, jump times found to the same accuracy: global error of a moment <= ~10 rtol.
# * homodyne: weak order 1; tests/test_homodyne.py measured the bias constant K <= 0.2 (bias
#   K dt on populations, E, W) on similar small problems; FLOOR = 0.5 dt.  At dt = 2e-3 that is
#   2e-3, ten times below the statistical band of 600 trajectories here.
HOM_DT = 4e-3  # inside the scheme's stability and noise bounds here (it raises otherwise)
TRAJ_CASES = [("jump", 1500, {}, 1e-4), ("homodyne", 600, {"theta": 0.3, "dt": HOM_DT}, 0.5 * HOM_DT)]


@pytest.mark.parametrize("name, ntraj, opts, floor", TRAJ_CASES, ids=[c[0] for c in TRAJ_CASES])
def test_trajectories_thermal_detuned(same_truncation, name, ntraj, opts, floor):
    ex = same_truncation
    res = tr.charge(P, T, method=name, ntraj=ntraj, seed=5, trunc_tol=0, progress=False,
                    e_ops={"a2": _a2(P.Ns)}, **opts)
    n_ref, a2_ref = _moments_exact(ex)
    _compare(res, (res.n_s, res.n_s_err), (res.expect["a2"], res.expect_err["a2"]),
             (_diag(res.rho_s), _diag(res.rho_s_err)), n_ref, a2_ref, _diag(ex.rho_s), floor, name)


# --- phase space: untruncated samplers against the converged reference -------------------------

# Step floor.  Heun with thermal noise is weak order 1 (_sde docstring).  The coupled step check
# (phasespace.step_check, 4000 samples, these parameters) measured |dt - dt/2| differences at
# dt = 1e-2 of <= 6e-4 in <n_s>, <= 1.3e-3 +- 0.7e-3 in <a_s^2>, <= 2e-4 in <n_p> (positive-P)
# and <= 3e-4 (Wigner); the error at dt is ~2x the difference (order 1): <= 3e-3.  PS_FLOOR =
# 5e-3 also covers the reference's truncation (< 1e-4) and is decisive only at t <= 0.5, where
# the spread is small.
PS_DT = 1e-2
PS_FLOOR = 5e-3


def _conditioned(ref_pops, res, Ns):
    """The exact populations of levels < Ns conditioned on n < K(t), K(t) the Fock range the
    phase-space state was projected on (``options["fock_range"]``, phasespace.state: the range
    block divided by its trace); levels >= K(t) are 0 in the state and in the reference."""
    K = np.asarray(res.options.get("fock_range", [Ns] * len(res.t)))
    p = np.array(ref_pops[:, :Ns])
    for k, Kt in enumerate(K):
        p[k, Kt:] = 0.0
        p[k] /= p[k].sum()
    return p


def _phase_space(name, p, ntraj, seed):
    # trunc_tol = 0: the comparison is with the exact untruncated moments, no guard needed
    res = run(method(name, dt=PS_DT, trunc_tol=0), charge_problem(p, T), ntraj, seed, progress=False)
    mo = moments(res)
    return res, mo


def test_positive_p_thermal_detuned(converged):
    # Positive-P is exact in distribution while no sample spikes: asserted (0 diverged, 0 spiking).
    res, mo = _phase_space("positive-p", P, 8000, 11)
    assert diverged(res) == (0, 0, 8000)
    n_ref, a2_ref = _moments_exact(converged)
    n = (mo["a_dag_a"][0].real, mo["a_dag_a"][1].real)
    pops_ref = _conditioned(_diag(converged.rho_s), res, P.Ns)
    _compare(res, n, mo["a2"], (_diag(res.rho_s), _diag(res.rho_s_err)), n_ref, a2_ref, pops_ref,
             PS_FLOOR, "positive-P")
    assert_within(mo["n_p"][0].real, converged.n_p, mo["n_p"][1].real, "positive-P <n_p>",
                  groups=res.groups, floor=PS_FLOOR)


# Truncated Wigner drops the third-order terms of the Wigner equation, which are proportional
# to kappa; its error is not statistical.  Measured in development (40000 samples, these
# parameters with kappa varied at fixed F), the bias of <n_s> at t = 3 was
# 0.084 +- 0.007 (kappa = 1), 0.038 +- 0.005 (kappa = 0.5), 0.010 +- 0.004 (kappa = 0.25),
# and of Re <a_s^2> 0.035, 0.017, 0.002: it falls at least linearly with kappa, as the
# dropped terms do, and stays below 0.1 kappa photons.  TW_BOUND(kappa) = 0.1 kappa is the
# argued bound (first order in the dropped terms, with the kappa = 1 coefficient rounded up);
# the test runs at kappa = 0.25, where it is 0.025 photons, and shows the bound is not vacuous
# at kappa = 1 (the bias there is > 5 standard errors of this run).
def tw_bound(kappa):
    return 0.1 * kappa


def test_wigner_thermal_detuned_error_bound():
    q = P.replace(kappa=0.25)  # F = 0.8 < F_th = 2.56 here
    ref = exact.charge(q.replace(**REF_DIMS), T, trunc_tol=0)
    res, mo = _phase_space("wigner", q, 10000, 12)
    assert diverged(res) == (0, 0, 10000)
    n_ref, a2_ref = _moments_exact(ref)
    floor = PS_FLOOR + tw_bound(q.kappa)
    _compare(res, (mo["a_dag_a"][0].real, mo["a_dag_a"][1].real), mo["a2"],
             (_diag(res.rho_s), _diag(res.rho_s_err)), n_ref, a2_ref, _conditioned(_diag(ref.rho_s), res, q.Ns), floor,
             "Wigner (kappa = 0.25)")


@pytest.mark.slow
def test_wigner_error_is_resolved_at_strong_coupling(converged):
    # At kappa = 1 the truncated Wigner bias is resolved (the nonlinearity matters at P: a test at
    # these parameters without a bound would fail) and within tw_bound: the bound is neither
    # vacuous nor violated where it is largest.  40000 samples (~4 s): err(<n_s>(3)) ~ 0.007.
    res, mo = _phase_space("wigner", P, 40000, 13)
    n_ref, _ = _moments_exact(converged)
    bias, err = mo["a_dag_a"][0].real[-1] - n_ref[-1], mo["a_dag_a"][1].real[-1]
    assert bias > 5 * err, (bias, err)
    assert abs(bias) <= tw_bound(P.kappa) + 5 * err, (bias, err)


# --- the SDE kernel's real and complex arithmetic paths ----------------------------------------

def _noise(B, m, T_end, seed):
    return np.random.default_rng(seed).standard_normal((B, m, 2)) * math.sqrt(T_end / m)


@pytest.mark.parametrize("F", [0.4, 1.2], ids=["below", "above"])
def test_sde_real_and_complex_paths_agree(F):
    # Positive-P at Delta = 0, zero temperature, real start: _advance integrates in real arithmetic
    # while the pump variables stay positive.  The same noise through the complex path (forced by an
    # imaginary part 1e-300 in z0, a perturbation of the initial state far below rounding) must give
    # the same numbers to rounding: |diff| <= 1e-12 max|z| (about 1000 steps of O(1) numbers,
    # each adding ~1e-16 relative).
    from cimqb_traj.phasespace._sde import final_states

    p = BatteryParams(kappa=1.0, gamma_p=4.0, F=F)  # F_th = 0.5: below / above threshold
    B, m, T_end = 64, 1000, 3.0
    dW = _noise(B, m, T_end, 3)
    z_real = final_states(p, dW, T_end, True)
    z0 = np.zeros((B, 4), complex)
    z0[:, 0] = 1e-300j
    z_cplx = final_states(p, dW, T_end, True, z0)
    stayed = np.all(z_real.imag == 0, axis=1)  # never left the real path (exact zeros)
    assert stayed.sum() >= B // 2  # most samples exercise the fast path
    scale = np.abs(z_real[stayed]).max()
    assert scale > 0.1  # not a trivial comparison of zeros
    assert np.abs(z_real[stayed] - z_cplx[stayed]).max() <= 1e-12 * scale
    # the same with the complex path forced by a detuning of 1e-300 instead
    z_det = final_states(p.replace(delta=1e-300), dW, T_end, True)
    assert np.abs(z_real[stayed] - z_det[stayed]).max() <= 1e-12 * scale
    if F < 0.5:
        assert stayed.all()  # below threshold no pump variable turns negative here
