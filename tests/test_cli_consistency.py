"""One command line: the same option names and meanings in every command, and the help's defaults
and units read from the parameter definitions (issue 13, point 3)."""

import dataclasses
import json

import pytest

from cimqb_traj.cli import common as cli  # the module whose BatteryParams / LoadParams the help reads
from cimqb_traj.cli import PARAM_OPTIONS, build_parser, main
from cimqb_traj.dataset import QUANTITIES
from cimqb_traj.params import BatteryParams, LoadParams

TINY = ["--ns", "5", "--np", "3", "--F", "1.0", "--gamma-p", "6", "--trunc-tol", "0", "--no-progress", "--json"]
METHOD_COMMANDS = ("charge", "discharge", "threshold", "phase-selection", "crosscheck")


def subparsers(parser=None) -> dict:
    parser = parser or build_parser()
    return next(a for a in parser._actions if a.choices and "charge" in a.choices).choices


def options(p) -> dict:
    return {s: a for a in p._actions for s in a.option_strings}


def test_every_command_is_listed_with_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in subparsers():
        assert f"\n    {name} " in out, name


@pytest.mark.parametrize("command", METHOD_COMMANDS)
def test_every_command_takes_method(command):
    """--method, and its lists comma-separated where a command takes several methods."""
    p = subparsers()[command]
    assert "--method" in options(p)
    a = p.parse_args(["--method", "exact"])
    assert "exact" in (getattr(a, "method", None) or a.methods)


def test_model_option_help_shows_dataclass_default_and_unit():
    """Every model option of every command shows its unit and the dataclass default (None shown as
    'none'), whether argparse's default is that value or None (options checked for applicability)."""
    seen = set()
    for command, p in subparsers().items():
        for opt, action in options(p).items():
            name = next((k for k, o in PARAM_OPTIONS.items() if o == opt), None)
            if name is None:
                continue
            load = command == "discharge" and name in ("g", "gamma_a", "omega_s", "omega_a")
            v = getattr(LoadParams() if load else BatteryParams(), name)
            shown = "none" if v is None else f"{v:g}"
            assert f"(default: {shown}" in action.help and f"[{QUANTITIES[name][0]}]" in action.help, (command, opt)
            seen.add(name)
    assert seen == set(PARAM_OPTIONS)  # every parameter option appears in some command


def test_help_follows_the_dataclass(monkeypatch, capsys):
    """Change the defaults of the parameter definitions: the help changes with them (nothing typed by hand)."""
    battery = dataclasses.make_dataclass("B", [("kappa", float, 0.123), ("Ns", int, 17), ("F", float, 2.5)],
                                         bases=(BatteryParams,), frozen=True)
    load = dataclasses.make_dataclass("L", [("gamma_a", float, 0.321)], bases=(LoadParams,), frozen=True)
    monkeypatch.setattr(cli, "BatteryParams", battery)
    monkeypatch.setattr(cli, "LoadParams", load)
    subs = subparsers()
    for command in METHOD_COMMANDS:
        opts = options(subs[command])
        assert "(default: 0.123)" in opts["--kappa"].help, command
        assert "(default: 17)" in opts["--ns"].help, command
        if command != "threshold":  # threshold sweeps F over --F-min .. --F-max
            assert "(default: 2.5)" in opts["--F"].help, command
    assert "(default: 0.321)" in options(subs["discharge"])["--gamma-a"].help
    for command in ("charge", "crosscheck"):  # the default used is the one shown
        assert subs[command].parse_args([]).kappa == 0.123


@pytest.mark.parametrize("command", ["charge", "discharge", "phase-selection", "crosscheck"])
def test_t_end_help_says_last_output_time(command):
    assert "last output time" in options(subparsers()[command])["--t-end"].help


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_t_end_is_the_last_output_time_in_charge_and_discharge(capsys):
    """--t-end is the last time of the output grid t = 0, dt_out, ..., t_end in both commands (the
    discharge's axis counted from --t0): the same option values give the same grid."""
    grid = ["--t-end", "1.5", "--dt-out", "0.5"]
    charge = run_json(capsys, ["charge", *TINY, *grid])
    discharge = run_json(capsys, ["discharge", *TINY, "--t0", "0.5", *grid])
    assert charge["t"] == discharge["t"] == [0.0, 0.5, 1.0, 1.5]


def test_threshold_deprecated_spellings(capsys):
    """--methods / --samples still work (one warning line each) and mean what --method / --ntraj mean;
    both spellings at once are refused."""
    base = ["threshold", "--F-min", "0.5", "--F-max", "1", "--F-steps", "5", "--no-progress", "--json"]
    new = run_json(capsys, [*base, "--method", "mean-field"])
    assert main([*base, "--methods", "mean-field"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_s"] == new["n_s"]
    assert captured.err.strip() == "cimqb-traj: warning: --methods is deprecated: use --method (same meaning)"
    assert main([*base, "--methods", "mean-field", "--method", "exact"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--methods" in err
    assert main([*base, "--samples", "10"]) == 2  # mean-field,exact: no samples; named as the user typed it
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("cimqb-traj: error: --samples:"), err


def test_crosscheck_is_a_command():
    a = subparsers()["crosscheck"].parse_args(["--method", "jump,homodyne", "--ntraj", "10"])
    assert a.methods == "jump,homodyne" and a.ntraj == 10


@pytest.mark.parametrize("t_end,dt,expect", [(2.0, 0.75, [0, 0.75, 1.5, 2.0]), (2.0, 0.5, [0, 0.5, 1.0, 1.5, 2.0]),
                                             (1.0, 0.3, [0, 0.3, 0.6, 0.9, 1.0]), (0.3, 0.1, [0, 0.1, 0.2, 0.3])])
def test_output_grid_ends_at_t_end(t_end, dt, expect):
    # round(t_end / dt) used to overshoot (2 / 0.75 -> 3 steps: 2.25 > 2) and the grid was refused as
    # not increasing; the grid is the steps up to t_end, then t_end itself
    import numpy as np

    from cimqb_traj.cli import _grid

    np.testing.assert_allclose(_grid(t_end, dt), expect, rtol=0, atol=1e-12)
