"""The reproduction machinery: the report's arithmetic, a cheap end-to-end run, and Ctrl-C.

The cache has its own tests (tests/test_cache.py)."""

import importlib
import json

import h5py
import numpy as np
import pytest

from cimqb_traj.cli import main
from cimqb_traj.params import BatteryParams
from cimqb_traj.paper import RESULTS, ReproductionInterrupted, reproduce
from cimqb_traj.paper.reproduce import _report

# the module (the package attribute of the same name is the function)
reproduce_module = importlib.import_module("cimqb_traj.paper.reproduce")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIMQB_TRAJ_CACHE", str(tmp_path / "cache"))


def test_report_flags_deviations_above_five_percent():
    summary = {"fig6b": {"slope": 2.049 * 1.04, "intercept": -6.222 * 1.2, "r": 0.9995}}
    text = _report(summary)
    assert "| fig6b | slope | 2.049 | 2.131 | +4.0% | agrees (<= 5%) |" in text
    assert "fig6b.intercept" in text.split("Deviations above 5%")[1]


def test_reproduce_end_to_end_on_the_closed_form_result(tmp_path):
    out = tmp_path / "rep"
    assert main(["reproduce", "--only", "appD", "--out", str(out), "--no-progress"]) == 0
    s = json.loads((out / "summary.json").read_text())["appD"]
    p0, c0, gamma, omega = s["p0"], s["c0"], 1.0, 1.0  # appD: gamma = omega = 1
    # W_i = omega max(2 p0 e^{-gamma t} - 1, 0) vanishes from t = ln(2 p0)/gamma on; the sampled
    # zero is the first point of the written grid (step 0.01) at or after it
    t_zero = np.log(2 * p0) / gamma
    assert s["t_Wi_vanishes"] == pytest.approx(t_zero, rel=1e-12)
    assert t_zero <= s["t_Wi_vanishes_sampled"] < t_zero + 0.01 + 1e-12
    # the written curves against the two-level state diagonalised here: p = p0 e^{-gamma t},
    # |c| = c0 e^{-gamma t/2}; W = omega (p - lambda_min), W_i = omega max(2p - 1, 0)
    with h5py.File(out / "appD.h5", "r") as h5:
        g = h5["TLS decay"]
        t, W, W_c, W_i = (g[k][:] for k in ("x", "W", "W_c", "W_i"))
    assert t[0] == 0 and t[-1] > t_zero and len(t) > 100
    p, c = p0 * np.exp(-gamma * t), c0 * np.exp(-gamma * t / 2)
    lam_min = np.linalg.eigvalsh(np.stack([np.stack([1 - p, c], -1), np.stack([c, p], -1)], -2))[:, 0]
    assert np.allclose(W, omega * (p - lam_min), rtol=0, atol=1e-12)  # float64 round-off
    assert np.allclose(W_i, omega * np.maximum(2 * p - 1, 0), rtol=0, atol=1e-12)
    assert np.allclose(W_c, W - W_i, rtol=0, atol=1e-12) and np.all(W_c > 0)  # c != 0 at all t
    for ext in ("png", "pdf", "h5"):
        assert (out / f"appD.{ext}").stat().st_size > 0
    assert "| result |" in (out / "REPORT.md").read_text()
    assert main(["reproduce", "--only", "fig99", "--out", str(out)]) == 2


def _fake_results(monkeypatch, stop):
    """fig3 raises KeyboardInterrupt (as Ctrl-C in its computation would); no exact runs."""
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_module, "runs", lambda name: [])
    monkeypatch.setitem(RESULTS, stop, interrupted)


def test_ctrl_c_keeps_finished_results_marks_them_and_exits_130(tmp_path, monkeypatch):
    _fake_results(monkeypatch, "fig3")
    out = tmp_path / "rep"
    assert main(["reproduce", "--only", "appD,fig3,fig8", "--out", str(out), "--no-progress"]) == 130
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"appD", "interrupted"}
    assert summary["interrupted"] == {"stage": "results", "completed": ["appD"], "not_completed": ["fig3", "fig8"],
                                      "exact_runs_done": 0, "exact_runs_total": 0}
    report = (out / "REPORT.md").read_text()
    assert "**INTERRUPTED**" in report and "fig3, fig8" in report
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md", "appD.h5", "appD.pdf", "appD.png", "summary.json"]
    with pytest.raises(ReproductionInterrupted) as e:  # the API: a KeyboardInterrupt carrying the summary
        reproduce(["fig3"], str(out), progress=False)
    assert isinstance(e.value, KeyboardInterrupt) and e.value.summary["interrupted"]["completed"] == []
    assert json.loads((out / "summary.json").read_text())["interrupted"]["not_completed"] == ["fig3"]


def test_ctrl_c_during_the_exact_runs_and_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    import h5py as h5py_module

    def interrupted(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_module, "runs", lambda name: [("charge", BatteryParams(), None, {})])
    monkeypatch.setattr(reproduce_module, "compute", interrupted)
    out = tmp_path / "rep"
    with pytest.raises(ReproductionInterrupted):
        reproduce(["appD"], str(out), n_jobs=1, progress=False)
    stop = json.loads((out / "summary.json").read_text())["interrupted"]
    assert stop["stage"] == "exact runs" and stop["exact_runs_done"] == 0 and stop["exact_runs_total"] == 1

    monkeypatch.setattr(reproduce_module, "runs", lambda name: [])

    def cut(*a, **k):  # Ctrl-C in the middle of writing appD.h5
        raise KeyboardInterrupt

    monkeypatch.setattr(h5py_module.Group, "create_dataset", cut)
    with pytest.raises(ReproductionInterrupted):
        reproduce(["appD"], str(out), progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert "appD.h5" not in names and not [n for n in names if n.startswith(".tmp-")], names
    assert json.loads((out / "summary.json").read_text())["interrupted"]["not_completed"] == ["appD"]
