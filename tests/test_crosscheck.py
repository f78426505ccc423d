"""The cross-check (``cimqb_traj.crosscheck``): references, verdicts, table, JSON, command line.

Small workload: kappa = 1, F = 1.5 (pump ~0.56 photons), gamma_p = 16, Ns 10 / Np 5, t = 0..2.  The
verdicts use the rule of ``stats.z_crit`` (family rate 1e-3), so with a fixed seed an exact method
fails them by chance with probability <= 1e-3.
"""

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
from stats import z_crit as stats_z_crit

from cimqb_traj import BatteryParams, __version__, dataset, exact
from cimqb_traj import crosscheck as cc
from cimqb_traj.dataset import QUANTITIES
from cimqb_traj.jsonio import clean

SMALL = BatteryParams(kappa=1.0, F=1.5, Ns=10, Np=5)


def strict_loads(text):
    """json.loads that refuses NaN and Infinity (Python's accepts them; strict parsers do not)."""
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)
T = np.linspace(0.0, 2.0, 5)


@pytest.fixture(scope="module")
def small():
    return cc.crosscheck(SMALL, T, ntraj=100, samples=2000, seed=1, progress=False)


def test_unravelings_and_positive_p_agree_with_their_references(small):
    v = small.verdicts
    for m in ("jump", "homodyne", "positive-p"):
        assert v[m]["verdict"] == "agrees", (m, v[m]["reason"])
    for m in ("homodyne", "positive-p"):
        assert v[m]["compared"] == 16, m  # 4 quantities x 4 times (t = 0: vacuum, no error, not compared)
    given = exact.charge(SMALL, T, trunc_tol=0)
    # photon counting judges only values carried by >= 10 of its 100 trajectories (>= 0.1 photons)
    carried = sum(int(np.sum(x[1:] >= 10 / 100)) for x in (given.W, given.W_c, given.W_i, given.energy))
    assert v["jump"]["compared"] == carried and 8 <= carried < 16
    assert v["jump"]["reference"] == v["homodyne"]["reference"] == "given"
    assert v["positive-p"]["reference"] == v["wigner"]["reference"] == v["mean-field"]["reference"] == "converged"
    # each row holds the reference it was judged against (the exact solver itself, not a copy of it)
    conv = small.references["converged"]
    at_conv = exact.charge(SMALL.replace(Ns=conv["Ns"], Np=conv["Np"]), T, trunc_tol=0)
    for m, ref in (("jump", given), ("positive-p", at_conv)):
        rows = [r for r in small.rows if r["method"] == m and r["quantity"] == "W"]
        assert np.allclose([r["exact"] for r in rows], ref.W, rtol=0, atol=1e-12), m
        # the documented estimate: the jackknife bias-corrected ergotropy, not the plain one
        assert [r["value"] for r in rows] == list(small.results[m].W_bc), m


def test_converged_search_reproduces_the_guard(small):
    """The search's verdict at the truncation it stops at is the guard's own (exact.charge at that
    truncation compares with (smaller(Ns), smaller(Np)), the search's previous step)."""
    conv = small.references["converged"]
    assert conv["truncation"]["verdict"] == "ok" and (conv["Ns"], conv["Np"]) != (SMALL.Ns, SMALL.Np)
    assert [s["verdict"] for s in conv["steps"]][:-1] == ["warn"] * (len(conv["steps"]) - 1)
    guard = exact.charge(SMALL.replace(Ns=conv["Ns"], Np=conv["Np"]), T).truncation
    assert guard["verdict"] == "ok"
    assert guard["error"] == pytest.approx(conv["truncation"]["error"], rel=1e-9, abs=1e-12)
    for n in range(2, 60):  # each step is the smallest size whose guard comparison is the previous one
        m = cc._grow(n)
        assert cc.truncation.smaller(m) == n and (cc.truncation.smaller(m - 1) or 0) < n, n


def test_mean_field_is_biased_where_fluctuations_charge_the_battery(small):
    """From the vacuum the classical equations stay at alpha_s = 0 (a fixed point), while the exact
    state gains photons by spontaneous down-conversion: the mean field's bias is its approximation."""
    v = small.verdicts["mean-field"]
    n_mf = [r["value"] for r in small.rows if r["method"] == "mean-field" and r["quantity"] == "n_s"]
    assert n_mf == [0.0] * len(T)
    assert v["verdict"] == "biased by its approximation", v["reason"]
    assert v["max_rel_diff"] > 0.5  # exact <n_s>(2) ~ 0.8 photons against 0


def test_mean_field_agrees_where_it_is_exact():
    """kappa = 0 with a coherent seed: the signal is a driven damped oscillator, its state a coherent
    state with alpha_s(t) = (2 eps / gamma_s)(1 - exp(-gamma_s t / 2)), which the mean field follows."""
    p = BatteryParams(kappa=0.0, eps=0.5, F=0.5, Ns=8, Np=3)
    res = cc.crosscheck(p, T, ("mean-field",), progress=False)
    v = res.verdicts["mean-field"]
    assert v["verdict"] == "agrees", v["reason"]
    alpha = 2 * 0.5 * (1 - np.exp(-T / 2))
    # the exact reference against the closed form: the converged truncation holds it to the guard's 1e-2
    assert np.allclose(res.exact["converged"]["n_s"], alpha**2, rtol=0, atol=1e-2)


def _wrong_jump(name, params, t, ntraj, seed, groups, n_jobs, tol, progress):
    """A faulty unraveling: photon counting at a 30 % larger coupling than asked for."""
    return cc._run_trajectories(name, params.replace(kappa=1.3 * params.kappa), t, ntraj, seed, groups, n_jobs,
                                tol, progress)


def test_a_wrong_method_does_not_agree(monkeypatch):
    monkeypatch.setitem(cc.RUNNERS, "jump", _wrong_jump)
    res = cc.crosscheck(SMALL, T, ("jump",), ntraj=100, seed=1, converged=False, progress=False)
    v = res.verdicts["jump"]
    assert v["verdict"] == "disagrees", v["reason"]
    assert v["max_abs_z"] > v["z_crit"]


def test_verdict_rule():
    """z_crit is the tests' rule (stats.z_crit); beyond it an exact method disagrees and an
    approximate one is biased by its approximation; refusals are outside its validity."""
    for m, g in ((1, 20), (16, 20), (40, 10), (5, None)):
        assert cc.z_crit(m, g) == pytest.approx(stats_z_crit(m, g), rel=1e-12)
    zc = cc.z_crit(2, 20)
    rows = [{"quantity": "W", "z": 0.5, "judged": True}, {"quantity": "n_s", "z": None, "judged": True},
            {"quantity": "W_c", "z": 99.0, "judged": False}]  # not judged: a rare-event row never decides
    for z, exact_m, approx_m in ((0.99 * zc, "agrees", "agrees"),
                                 (1.01 * zc, "disagrees", "biased by its approximation")):
        rows[1]["z"] = -z
        assert cc._judge("jump", rows, 20, 0.01, False)["verdict"] == exact_m
        assert cc._judge("positive-p", rows, 20, 0.01, False)["verdict"] == exact_m
        assert cc._judge("wigner", rows, 20, 0.01, False)["verdict"] == approx_m
    mf = [{"quantity": "n_s", "value": 2.0 * (1 + x), "exact": 2.0, "z": None} for x in (0.0, 0.009)]
    assert cc._judge("mean-field", mf, 1, 0.01, False)["verdict"] == "agrees"
    mf[1]["value"] = 2.0 * 1.011
    assert cc._judge("mean-field", mf, 1, 0.01, False)["verdict"] == "biased by its approximation"


def test_refusal_is_outside_its_validity(monkeypatch):
    def diverging(*a):
        raise cc.Refused("positive-p: 5 of 5 samples diverged")

    monkeypatch.setitem(cc.RUNNERS, "positive-p", diverging)
    res = cc.crosscheck(SMALL.replace(Ns=6, Np=4), T[:2], ("positive-p",), ntraj=4, converged=(6, 4),
                        progress=False)
    v = res.verdicts["positive-p"]
    assert v["verdict"] == "outside its validity" and "diverged" in v["reason"]
    assert not [r for r in res.rows if r["method"] == "positive-p"]


def test_trajectories_are_judged_against_their_own_truncation():
    """At Ns 4 / Np 3 the truncated and the converged master equations differ by many standard
    errors: the unraveling agrees with the first and would fail against the second."""
    p = SMALL.replace(Ns=4, Np=3)
    res = cc.crosscheck(p, T, ("jump",), ntraj=100, seed=1, converged=(14, 7), progress=False)
    v = res.verdicts["jump"]
    assert v["verdict"] == "agrees", v["reason"]
    conv = res.exact["converged"]
    z = [abs(r["value"] - conv[r["quantity"]][list(T).index(r["t"])]) / r["err"]
         for r in res.rows if r["judged"]]
    assert max(z) > 2 * v["z_crit"]  # this test would see a wrong reference choice


def test_json_is_strict_and_carries_the_table(small, tmp_path):
    doc = small.to_dict()
    text = json.dumps(clean(doc), allow_nan=False)
    back = strict_loads(text)
    assert {"params", "t", "references", "exact", "table", "verdicts", "units", "reference_rule"} <= set(back)
    assert {r["method"] for r in back["table"]} == set(cc.METHODS)
    wig = {r["quantity"] for r in back["table"] if r["method"] == "wigner"}
    assert wig == {"n_s"} or wig == set(cc.QUANTITIES)  # W parts only when its Fock estimate is not refused
    row = back["table"][1]
    assert set(row) == {"method", "t", "quantity", "value", "err", "exact", "z", "judged"}
    text = small.table()
    assert "THEIR truncation" in text and "CONVERGED truncation" in text
    for m in cc.METHODS:
        assert f"{m} vs exact" in text
    fig = small.plot(tmp_path / "cc.png")
    assert (tmp_path / "cc.png").stat().st_size > 0
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel() and fig.axes[1].get_ylabel()


def test_bad_input_names_the_parameter():
    for kw, name in ((dict(methods=("jump", "bogus")), "methods"), (dict(methods=()), "methods"),
                     (dict(methods=("jump", "jump")), "methods"), (dict(ntraj=1), "ntraj"),
                     (dict(samples=1), "samples"), (dict(groups=1), "groups"),
                     (dict(converged=False), "converged"), (dict(converged=(1, 5)), "converged"),
                     (dict(trunc_tol=0), "trunc_tol"), (dict(mf_rtol=-1), "mf_rtol")):
        with pytest.raises(ValueError, match=f"^{name}"):
            cc.crosscheck(SMALL, T, **kw)


CLI_SMALL = ["crosscheck", "--kappa", "1", "--F", "1.5", "--ns", "8", "--np", "5", "--t-end", "2", "--dt-out", "1",
             "--no-progress"]


def test_cli_json_and_files(capsys, tmp_path):
    argv = CLI_SMALL + ["--method", "jump,mean-field", "--ntraj", "40", "--dt-out", "0.8", "--json",
                        "--out", str(tmp_path)]
    assert cc.main(argv) == 0
    out = strict_loads(capsys.readouterr().out)  # strict: the mean field's missing errors are null
    assert out["t"] == [0.0, 0.8, 1.6, 2.0]  # the package's one output grid (cli._grid): t_end is the last time
    assert out["verdicts"]["jump"]["verdict"] == "agrees", out["verdicts"]["jump"]["reason"]
    assert {r["err"] for r in out["table"] if r["method"] == "mean-field"} == {None}
    assert "deterministic" in out["null_reasons"]["table.err"]
    assert strict_loads((tmp_path / "crosscheck.json").read_text()) == out
    assert (tmp_path / "crosscheck.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crosscheck.h5", "crosscheck.json", "crosscheck.png"]
    import xarray as xr  # the table in netCDF-4, opened without this package: the same numbers as the JSON

    with xr.open_dataset(tmp_path / "crosscheck.h5", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["t"].values, out["t"])
        for r in out["table"]:
            cell = ds.sel(methods=r["method"], t=r["t"], quantity=r["quantity"])
            assert float(cell["value"]) == r["value"] and float(cell["exact"]) == r["exact"]
            assert (np.isnan(cell["z"]) if r["z"] is None else float(cell["z"]) == r["z"])
        assert json.loads(ds.attrs["verdicts"])["jump"]["verdict"] == "agrees"
        assert all(ds[v].attrs["units"] for v in ds.data_vars)


def test_cli_json_has_units_and_provenance(capsys, tmp_path):
    """The JSON of every command: units from the one table (dataset.QUANTITIES via units_block), and
    what wrote it (dataset.provenance: version, git commit, the command line), on stdout and in the file."""
    argv = CLI_SMALL + ["--method", "mean-field", "--converged", "8,5", "--json", "--out", str(tmp_path)]
    assert cc.main(argv) == 0
    out = strict_loads(capsys.readouterr().out)
    assert strict_loads((tmp_path / "crosscheck.json").read_text()) == out
    for q in ("W", "W_c", "W_i", "n_s", "t", "kappa", "gamma_p", "F", "Ns"):
        assert out["units"][q] == QUANTITIES[q][0], q
    prov = out["provenance"]
    assert prov["cimqb_traj_version"] == __version__
    assert prov.get("git_commit") == dataset._git().get("git_commit")  # absent only outside a git checkout
    assert prov["command_line"] == shlex.join(["cimqb-traj", *argv])


def test_cli_deprecated_methods_spelling(capsys):
    """--methods (former spelling) means --method, with threshold's one warning line; both together
    are refused in one line naming --methods; a bad list names the spelling given."""
    base = CLI_SMALL + ["--converged", "8,5", "--json"]
    assert cc.main(base + ["--method", "mean-field"]) == 0
    new = strict_loads(capsys.readouterr().out)
    assert cc.main(base + ["--methods", "mean-field"]) == 0
    captured = capsys.readouterr()
    old = strict_loads(captured.out)
    assert old["table"] == new["table"] and old["verdicts"].keys() == new["verdicts"].keys() == {"mean-field"}
    assert captured.err.strip() == "cimqb-traj: warning: --methods is deprecated: use --method (same meaning)"
    for extra, option in ((["--methods", "mean-field", "--method", "jump"], "--methods"),
                          (["--methods", "jump,foo"], "--methods"), (["--methods", "mean-field", "--ntraj", "5"],
                                                                     "--ntraj")):
        assert cc.main(CLI_SMALL + extra) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"cimqb-traj: error: {option}"), err


@pytest.mark.parametrize("extra, option", [(["--method", "jump,foo"], "--method"), (["--ntraj", "1"], "--ntraj"),
                                           (["--method", "mean-field", "--seed", "2"], "--seed"),
                                           (["--method", "wigner", "--converged", "none"], "--converged"),
                                           (["--method", "jump", "--mf-rtol", "0.1"], "--mf-rtol"),
                                           (["--method", ""], "--method"),
                                           (["--kappa", "-1"], "--kappa"), (["--converged", "7"], "--converged")])
def test_cli_bad_input_exits_2_with_one_line(capsys, extra, option):
    assert cc.main(CLI_SMALL + extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"cimqb-traj: error: {option}"), err


def test_cli_wired():
    from cimqb_traj import cli

    assert cli.main(CLI_SMALL + ["--method", "jump,bogus"]) == 2
    assert cli.main(CLI_SMALL + ["--method", "jump", "--converged", "none", "--ntraj", "40"]) == 0


def test_command_line_does_not_import_qutip():
    """Importing the command line and building its parser (what --help does) stays light: the
    exact solver (qutip, seconds) is imported when a cross-check runs."""
    code = ("import sys, cimqb_traj.cli as c; c.build_parser(); "
            "sys.exit(1 if 'qutip' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr or "qutip was imported"
