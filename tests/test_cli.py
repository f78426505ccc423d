"""The command line: JSON round trip against the API, data files, and bad-input exits."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from cimqb_traj import exact
from cimqb_traj.cli import main
from cimqb_traj.params import BatteryParams, LoadParams

SMALL = ["--ns", "10", "--np", "7", "--F", "1.2", "--kappa", "0.7", "--gamma-p", "6", "--no-progress"]


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_charge_json_round_trip(capsys):
    out = run_json(capsys, ["charge", *SMALL, "--t-end", "3", "--dt-out", "0.5", "--t-off", "2"])
    assert set(out) >= {"params", "t", "W", "W_c", "W_i", "energy"}
    p = BatteryParams(**out["params"])
    assert p == BatteryParams(Ns=10, Np=7, F=1.2, kappa=0.7, gamma_p=6.0, t_off=2.0)
    api = exact.charge(p, out["t"])
    assert np.allclose(out["t"], np.arange(7) * 0.5)
    for k in ("W", "W_c", "W_i", "energy"):
        assert np.allclose(out[k], getattr(api, k), rtol=0, atol=1e-12), k


def test_discharge_json_round_trip(capsys):
    out = run_json(capsys, ["discharge", *SMALL, "--t0", "2", "--g", "0.8", "--t-end", "1", "--dt-out", "0.25"])
    assert set(out) >= {"params", "t", "kappa_s", "kappa_a", "W_s", "W_a"}
    assert LoadParams(**out["params"]["load"]) == LoadParams(g=0.8) and out["params"]["t0"] == 2.0
    assert BatteryParams(**out["params"]["battery"]).kappa == 0.7
    api = exact.discharge(BatteryParams(Ns=10, Np=7, F=1.2, kappa=0.7, gamma_p=6.0), LoadParams(g=0.8),
                          out["t"], t0=2.0)
    assert np.allclose(out["kappa_a"], api.kappa_a, atol=1e-12)
    assert np.allclose(np.array(out["W_s"]) / 100.0, out["kappa_s"])  # omega_s = 100 by default


def test_jump_json_has_errors_and_matches_api(capsys):
    argv = ["charge", *SMALL, "--t-end", "2", "--dt-out", "1", "--method", "jump", "--ntraj", "40",
            "--seed", "5", "--groups", "4"]
    out = run_json(capsys, argv)
    assert out["ntraj"] == 40 and out["seed"] == 5 and out["method"] == "jump"
    assert set(out) >= {"W_err", "W_c_err", "W_i_err", "energy_err"}
    from cimqb_traj import trajectories

    api = trajectories.charge(BatteryParams(**out["params"]), out["t"], ntraj=40, seed=5, groups=4)
    for k in ("W", "W_err", "energy", "energy_err"):  # the same seeds give the same numbers
        np.testing.assert_array_equal(out[k], getattr(api, k))
    # any n_jobs gives the same result
    out2 = run_json(capsys, argv + ["--n-jobs", "2"])
    assert out2["W"] == out["W"] and out2["W_err"] == out["W_err"]


def test_out_writes_data_and_plot(tmp_path, capsys):
    assert main(["charge", *SMALL, "--t-end", "1", "--dt-out", "0.5", "--out", str(tmp_path / "res")]) == 0
    assert "W=" in capsys.readouterr().out
    with h5py.File(tmp_path / "res" / "charge.h5") as h5:
        assert h5.attrs["F"] == 1.2 and h5["W"].shape == (3,)
    assert (tmp_path / "res" / "charge.png").stat().st_size > 1000
    assert not [f for f in (tmp_path / "res").iterdir() if f.name.startswith(".tmp")]


@pytest.mark.parametrize("argv,name", [
    (["charge", "--kappa", "-1"], "--kappa"),
    (["charge", "--gamma-p", "nan"], "--gamma-p"),
    (["charge", "--nth-s", "-0.1"], "--nth-s"),
    (["charge", "--ns", "1"], "--ns"),
    (["charge", "--np", "0"], "--np"),
    (["charge", "--t-end", "-2"], "--t-end"),
    (["charge", "--dt-out", "0"], "--dt-out"),
    (["charge", "--F", "abc"], "--F"),
    (["charge", "--frobnicate", "1"], "--frobnicate"),
    (["charge", "--method", "magic"], "--method"),
    (["discharge", "--g", "-0.3"], "--g"),
    (["discharge", "--omega-a", "0"], "--omega-a"),
    (["discharge", "--t0", "inf"], "--t0"),
    (["charge", "--ns", "8", "--np", "3", "--t-end", "2"], "--ns/--np"),  # truncation too small
    (["charge", "--method", "jump", "--ntraj", "0"], "--ntraj"),
    (["charge", "--method", "jump", "--seed", "-4"], "--seed"),
    (["charge", "--method", "jump", "--n-jobs", "0"], "--n-jobs"),
    (["charge", "--method", "jump", "--backend", "mpi"], "--backend"),
    (["charge", "--method", "jump", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
    (["charge", "--method", "jump", "--theta", "0.3"], "--theta"),
])
def test_bad_input_exits_2_with_one_line(argv, name, capsys):
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err, err


def test_unwritable_out_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["charge", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err


def test_console_script_exit_code():
    r = subprocess.run([sys.executable, "-m", "cimqb_traj.cli", "charge", "--ns", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"\n  {code}" in text, code


def test_warning_is_one_line_and_text_has_the_verdict(capsys):
    # t = 0..2 at Ns 10 / Np 7 is 1.2 % off (the guard's comparison with Ns 8 / Np 6): a warn verdict
    assert main(["charge", *SMALL, "--t-end", "2", "--dt-out", "1"]) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cimqb-traj: warning: TRUNCATION"), err
    assert "truncation: warn:" in out
    assert main(["charge", *SMALL, "--t-end", "2", "--dt-out", "1", "--trunc-tol", "0"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "truncation: disabled" in out
