"""The reproduction machinery: cache keys, the report's arithmetic, and a cheap end-to-end run."""

import json

import numpy as np
import pytest

from cimqb_traj.cli import main
from cimqb_traj.params import BatteryParams
from cimqb_traj.paper import cache
from cimqb_traj.paper.reproduce import _report


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIMQB_TRAJ_CACHE", str(tmp_path / "cache"))


def test_cache_hits_return_the_same_run():
    p = BatteryParams(Ns=8, Np=6, F=1.0, gamma_p=6.0)
    t = np.linspace(0, 1, 5)
    a = cache.cached_charge(p, t)
    files = list(cache.cache_dir().iterdir())
    b = cache.cached_charge(p, t)
    assert len(files) == 1 and list(cache.cache_dir().iterdir()) == files
    assert np.array_equal(a.W, b.W) and a.params == b.params
    cache.cached_charge(p.replace(F=1.1), t)  # another parameter, another entry
    cache.cached_charge(p, t[:-1])  # another grid, another entry
    assert len(list(cache.cache_dir().iterdir())) == 3
    from cimqb_traj.params import LoadParams

    d1 = cache.cached_discharge(p, LoadParams(g=0.7), t, t0=1.0, source=a)
    d2 = cache.cached_discharge(p, LoadParams(g=0.7), t, t0=1.0, source=a)
    d3 = cache.cached_discharge(p, LoadParams(g=0.9), t, t0=1.0, source=a)
    assert len(list(cache.cache_dir().iterdir())) == 5
    assert np.array_equal(d1.rho_a, d2.rho_a) and not np.array_equal(d1.rho_a, d3.rho_a)


def test_report_flags_deviations_above_five_percent():
    summary = {"fig6b": {"slope": 2.049 * 1.04, "intercept": -6.222 * 1.2, "r": 0.9995}}
    text = _report(summary)
    assert "| fig6b | slope | 2.049 | 2.131 | +4.0% | agrees (<= 5%) |" in text
    assert "fig6b.intercept" in text.split("Deviations above 5%")[1]


def test_reproduce_end_to_end_on_the_closed_form_result(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--only", "appD", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["appD"]["t_Wi_vanishes"] == pytest.approx(np.log(1.8))
    assert abs(summary["appD"]["t_Wi_vanishes_sampled"] - np.log(1.8)) <= 0.01  # grid step
    for ext in ("png", "pdf", "h5"):
        assert (out / f"appD.{ext}").stat().st_size > 0
    assert (out / "REPORT.md").exists()
    assert main(["reproduce", "--only", "fig99", "--out", str(out)]) == 2
