"""Bad command-line input, generated (Hypothesis): exit code 2 and exactly one stderr line that
names the option.  Every case is refused before anything is computed, so the solvers are
replaced by stubs that fail the test if they are reached."""

import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimqb_traj import cli, resources
from cimqb_traj.errors import ResourceError
from cimqb_traj.params import BatteryParams

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def no_solvers(monkeypatch):
    """Any solver call is a failure: bad input must be refused before it."""
    import cimqb_traj.exact as exact
    import cimqb_traj.threshold as threshold
    import cimqb_traj.trajectories as trajectories
    import cimqb_traj.ensemble as ensemble

    def boom(*a, **k):
        raise AssertionError("a solver ran on input that should have been refused")

    for mod, name in ((exact, "charge"), (exact, "discharge"), (trajectories, "charge"),
                      (trajectories, "discharge"), (ensemble, "run"), (threshold, "sweep")):
        monkeypatch.setattr(mod, name, boom)


def refused(argv, capsys, option):
    rc = cli.main([*argv, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, rc, err)
    assert len(err.splitlines()) == 1 and option in err and "Traceback" not in err, (argv, err)


# negative, non-finite and overflowing values (written --opt=value: argparse would read "-1e-05"
# as an option name)
negative = st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False)
nonfinite = st.sampled_from(["nan", "inf", "-inf"])
bad_rate = st.one_of(negative.map(repr), nonfinite)


@FAST
@given(opt=st.sampled_from(["--kappa", "--gamma-s", "--gamma-p", "--nth-s", "--nth-p"]), value=bad_rate,
       command=st.sampled_from(["charge", "discharge", "threshold"]))
def test_bad_rates(opt, value, command, capsys, no_solvers):
    refused([command, f"{opt}={value}"], capsys, opt)


@FAST
@given(opt=st.sampled_from(["--F", "--delta", "--eps"]), value=nonfinite)
def test_nonfinite_drive(opt, value, capsys, no_solvers):
    refused(["charge", f"{opt}={value}"], capsys, opt)


@FAST
@given(opt=st.sampled_from(["--ns", "--np"]), value=st.integers(-10**6, 1),
       command=st.sampled_from(["charge", "discharge"]))
def test_truncation_below_two(opt, value, command, capsys, no_solvers):
    refused([command, f"{opt}={value}"], capsys, opt)


@FAST
@given(opt=st.sampled_from(["--t-end", "--dt-out"]),
       value=st.one_of(st.floats(max_value=0.0, allow_nan=False).map(repr), nonfinite),
       command=st.sampled_from(["charge", "discharge"]))
def test_non_increasing_times(opt, value, capsys, command, no_solvers):
    refused([command, f"{opt}={value}"], capsys, opt)


@FAST
@given(exponent=st.integers(7, 308), opt=st.sampled_from(["--t-end", "--t0"]))
def test_overflowing_times(exponent, opt, capsys, no_solvers):
    # t >= 1e7: more output times than the limit, or more integrator steps than the budget
    command = "discharge" if opt == "--t0" else "charge"
    refused([command, f"{opt}=1e{exponent}"], capsys, opt)


@FAST
@given(exponent=st.integers(150, 308), opt=st.sampled_from(["--F", "--kappa", "--gamma-p", "--gamma-s",
                                                            "--nth-s", "--delta", "--eps"]))
def test_overflowing_rates(exponent, opt, capsys, no_solvers):
    # any rate >= 1e150 makes the exact solver's step estimate exceed the budget or overflow
    refused(["charge", f"{opt}=1e{exponent}"], capsys, opt)


@FAST
@given(name=st.from_regex(r"--z[a-z-]{1,12}", fullmatch=True))  # no option starts with z (nor abbreviates one)
def test_unknown_option(name, capsys, no_solvers):
    refused(["charge", name, "1"], capsys, name)


NOT_APPLICABLE = [
    (["charge", "--theta", "0.5"], "--theta"),  # exact
    (["charge", "--heterodyne"], "--heterodyne"),
    (["charge", "--ntraj", "10"], "--ntraj"),
    (["charge", "--seed", "3"], "--seed"),
    (["charge", "--groups", "4"], "--groups"),
    (["charge", "--n-jobs", "1"], "--n-jobs"),
    (["charge", "--backend", "threading"], "--backend"),
    (["charge", "--dt", "0.01"], "--dt"),
    (["charge", "--check-step"], "--check-step"),
    (["charge", "--method", "jump", "--engine", "qutip"], "--engine"),
    (["charge", "--method", "jump", "--theta", "1"], "--theta"),
    (["charge", "--method", "jump", "--dt", "0.01"], "--dt"),
    (["charge", "--method", "homodyne", "--check-step"], "--check-step"),
    (["charge", "--method", "homodyne", "--engine", "fast"], "--engine"),
    (["charge", "--method", "mean-field", "--ntraj", "5"], "--ntraj"),
    (["charge", "--method", "mean-field", "--dt", "0.01"], "--dt"),
    (["charge", "--method", "mean-field", "--seed", "1"], "--seed"),
    (["charge", "--method", "positive-p", "--theta", "0.1"], "--theta"),
    (["charge", "--method", "wigner", "--engine", "fast"], "--engine"),
    (["discharge", "--ntraj", "5"], "--ntraj"),
    (["discharge", "--method", "jump", "--dt", "0.01"], "--dt"),
    (["discharge", "--engine", "fast"], "--engine"),  # discharge has no engine choice
    (["threshold", "--samples", "100"], "--samples"),  # methods mean-field,exact
    (["threshold", "--dt", "0.01"], "--dt"),
    (["threshold", "--method", "mean-field", "--ns", "12"], "--ns"),
    (["threshold", "--method", "mean-field,wigner", "--trunc-tol", "0.1"], "--trunc-tol"),
    (["phase-selection", "--method", "wigner", "--ns", "12"], "--ns"),
    (["phase-selection", "--method", "exact", "--dt", "0.01"], "--dt"),
    (["phase-selection", "--method", "mean-field", "--ntraj", "10"], "--ntraj"),
    (["reproduce", "--trunc-tol", "0.1"], "--trunc-tol"),
]


@FAST
@given(case=st.sampled_from(NOT_APPLICABLE))
def test_option_not_applicable(case, capsys, no_solvers):
    argv, opt = case
    refused(argv, capsys, opt)


@FAST
@given(value=st.one_of(negative.map(repr), nonfinite), command=st.sampled_from(["charge", "discharge"]))
def test_bad_trunc_tol(value, command, capsys, no_solvers):
    refused([command, f"--trunc-tol={value}"], capsys, "--trunc-tol")


@FAST
@given(sub=st.text(alphabet="abcxyz", min_size=1, max_size=5), command=st.sampled_from(["charge", "threshold"]))
def test_unwritable_out(sub, command, capsys, no_solvers):
    with tempfile.TemporaryDirectory() as d:
        blocker = os.path.join(d, "file")
        with open(blocker, "w") as f:
            f.write("x")
        refused([command, "--out", os.path.join(blocker, sub)], capsys, "--out")


@FAST
@given(n_jobs=st.integers(resources.cpu_count() + 1, 10**6), method=st.sampled_from(["jump", "homodyne", "wigner"]))
def test_too_many_workers(n_jobs, method, capsys, no_solvers):
    refused(["charge", "--method", method, "--n-jobs", str(n_jobs), "--ntraj", "8"], capsys, "--n-jobs")


def test_unreachable_scheduler(capsys, no_solvers):
    # a port nobody listens on: refused by the TCP probe, not by a Dask timeout
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    refused(["charge", "--method", "jump", "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"],
            capsys, "--scheduler")


# --- the estimates behind the guards ---------------------------------------------------------


def test_packed_size_matches_the_kernel_layout():
    from cimqb_traj import _lindblad_kernel as kernel

    for Ns, Np in ((2, 2), (7, 3), (10, 7), (11, 5), (32, 9)):
        for parity in (True, False):
            for cplx in (True, False):
                lay = kernel.layout(Ns, Np, parity, cplx)
                assert resources.packed_size(Ns, Np, parity, cplx) == (lay[kernel._NY], lay[kernel._NW])


@pytest.mark.parametrize("term", [{"delta": 50.0}, {"eps": 50.0}, {"F": 50.0}, {"kappa": 20.0}, {"gamma_p": 100.0},
                                  {"nth_s": 10.0}, {"gamma_s": 50.0}, {"nth_p": 20.0}])
def test_spectral_bound_bounds_the_liouvillian(term):
    # the bound sets the step estimate: it must exceed the true spectral radius, and stay within a
    # factor 3 of it (measured 1.4 .. 2.1) so that the estimate means something; one term
    # dominates in each case, so each term's coefficient is tested
    from cimqb_traj.steady import liouvillian

    p = BatteryParams(Ns=6, Np=4, kappa=0.1, F=0.1, gamma_p=1.0).replace(**term)
    radius = np.max(np.abs(np.linalg.eigvals(liouvillian(p).toarray())))
    bound = sum(resources.spectral_bound(p.Ns, p.Np, **resources._rates(p)).values())
    assert radius <= bound <= 3 * radius, (radius, bound)


def test_resource_error_names_the_dominating_parameter():
    t = np.arange(401) * 0.1
    p = BatteryParams()
    for change, name in (({"F": 1e308}, "F"), ({"kappa": 1e308}, "kappa"), ({"Ns": 10**5}, "Ns"),
                         ({"F": 1e7}, "F"), ({"gamma_p": 1e9}, "gamma_p")):
        with pytest.raises(ResourceError, match=rf"^{name}:"):
            resources.check_charge(p.replace(**change), t)
    # two parameters off their reference values: the one that dominates is named, not the first
    with pytest.raises(ResourceError, match=r"^gamma_p:"):
        resources.check_charge(p.replace(F=10.0, gamma_p=1e9), t)
    with pytest.raises(ResourceError, match=r"^F:"):
        resources.check_charge(p.replace(F=1e9), np.array([0.0, 50.0]))
    with pytest.raises(ResourceError, match=r"^t_end:"):
        resources.check_charge(p.replace(F=4.0), np.array([0.0, 1e9]))
    with pytest.raises(ResourceError, match=r"^dt:"):
        resources.check_charge(p, t, "homodyne", ntraj=8, dt=1e-9)
    with pytest.raises(ResourceError, match=r"^ntraj:"):
        resources.check_charge(p, t, "jump", ntraj=10**12)
    est = resources.check_charge(p, t)  # the paper's run passes, with an estimate within 2.5x of the
    assert 3200 <= est["steps"] / 2 <= 2.5 * 3200  # measured 3200 steps (guard's second run: x2)
    assert math.isfinite(est["memory"]) and est["memory"] < 2**30
