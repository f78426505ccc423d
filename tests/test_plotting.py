"""Plots (issue 13, point 7): the user's backend is left alone, every axis is labelled, error bands
are named, the phase-selection sweep over F is drawn against F, the paper figures' layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from cimqb_traj import plotting
from cimqb_traj.params import BatteryParams, LoadParams

SE = r"$\pm 1$ SE"  # how the legends name a +-1 standard-error band


def _labelled(fig):
    """Every axes of ``fig`` names its x and its y (twin axes included)."""
    assert isinstance(fig, Figure)
    assert fig.axes
    for ax in fig.axes:
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())


def _legend_texts(ax):
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def test_import_leaves_the_backend_alone():
    # "svg" needs no display and is not the Agg the module used to force; pyplot would also pick one
    code = ("import sys, matplotlib; before = matplotlib.get_backend(); import cimqb_traj.plotting; "
            "assert matplotlib.get_backend() == before, (before, matplotlib.get_backend()); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    env = {**os.environ, "MPLBACKEND": "svg"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def jump():
    from cimqb_traj import trajectories

    # small and below threshold: a few jumps, nonzero errors; only the drawing is under test
    p = BatteryParams(Ns=6, Np=3, F=1.0, t_off=1.5)
    return trajectories.charge(p, np.linspace(0, 2, 11), method="jump", ntraj=16, seed=1, progress=False,
                               trunc_tol=0)


def test_plot_charge_labels_and_band(jump, tmp_path):
    fig = plotting.plot_charge(jump, tmp_path / "c.png")  # the positional signature cli.charge uses
    assert (tmp_path / "c.png").stat().st_size > 0
    _labelled(fig)
    for ax in fig.axes:
        assert any(SE in s and f"{jump.groups} groups" in s for s in _legend_texts(ax)), _legend_texts(ax)
    # the shaded band of W is W +- W_err (in units of omega_s), i.e. what the legend says
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    k = 6
    at = band[np.isclose(band[:, 0], jump.t[k]), 1]
    w, e = jump.W[k] / jump.params.omega_s, jump.W_err[k] / jump.params.omega_s
    assert e > 0 and at.min() == pytest.approx(w - e) and at.max() == pytest.approx(w + e)


def test_plot_without_errors_claims_no_band(jump, tmp_path):
    from cimqb_traj.results import ChargeResult

    exact_like = ChargeResult(params=jump.params, t=jump.t, method="exact", energy=jump.energy, W=jump.W,
                              W_c=jump.W_c, W_i=jump.W_i)
    fig = plotting.plot_charge(exact_like)  # path None: nothing written
    _labelled(fig)
    assert not any(SE in s for ax in fig.axes for s in _legend_texts(ax))
    assert not fig.axes[0].collections


def test_plot_discharge_labels_and_band(tmp_path):
    from cimqb_traj import trajectories

    d = trajectories.discharge(BatteryParams(Ns=6, Np=3, F=1.0), LoadParams(g=1.0), np.linspace(0, 1, 6), t0=1.0,
                               method="jump", ntraj=16, seed=1, progress=False, trunc_tol=0)
    fig = plotting.plot_discharge(d, tmp_path / "d.pdf")
    assert (tmp_path / "d.pdf").read_bytes()[:4] == b"%PDF"  # the format follows the suffix
    _labelled(fig)
    for ax in fig.axes:
        assert any(SE in s for s in _legend_texts(ax))


def test_plot_threshold_labels_and_error_bars():
    from cimqb_traj.threshold import sweep

    res = sweep(BatteryParams(), np.linspace(1.0, 3.0, 5), methods=("mean-field",))
    fig = plotting.plot_threshold(res)
    _labelled(fig)
    assert not any(SE in s for s in _legend_texts(fig.axes[0]))  # mean field: no errors, no claim
    # a sampled method's curve (numbers made up: only the drawing is under test)
    err = [0.1, 0.2, 0.3, 0.4, 0.5]
    res = {**res, "n_s": {**res["n_s"], "wigner": [1.0, 2.0, 3.0, 4.0, 5.0]}, "n_s_err": {"wigner": err},
           "F_th_quantum": {**res["F_th_quantum"], "wigner": {}}}
    ax = plotting.plot_threshold(res).axes[0]
    assert any(SE in s for s in _legend_texts(ax))
    bars = [c for c in ax.containers if c.has_yerr][0].lines[2][0].get_segments()
    assert [s[1, 1] - s[0, 1] for s in bars] == pytest.approx([2 * e for e in err])  # +-1 SE, as named


@pytest.fixture(scope="module")
def sweep_doc(tmp_path_factory):
    """The JSON ``cimqb-traj phase-selection`` writes for a sweep over F (and two seeds)."""
    from cimqb_traj.cli import main

    out = tmp_path_factory.mktemp("ps")
    assert main(["phase-selection", "--method", "mean-field", "--F", "2.5,1.5,2", "--eps", "0,0.1", "--kappa", "1",
                 "--t-end", "2", "--dt-out", "0.5", "--no-progress", "--out", str(out)]) == 0
    assert (out / "phase_selection.png").exists()
    return json.loads((out / "phase_selection.json").read_text())


def test_phase_selection_sweep_drawn_against_F(sweep_doc):
    fig = plotting.plot_phase_selection(sweep_doc, {})
    _labelled(fig)
    ax = fig.axes[0]
    assert "F" in ax.get_xlabel()
    F, eps = np.array(sweep_doc["F"]), np.array(sweep_doc["eps"])
    curves = {c.get_label(): c.lines[0] for c in ax.containers}
    assert sorted(curves) == ["mean-field, eps=0", "mean-field, eps=0.1"]
    for e in (0.0, 0.1):
        line = curves[f"mean-field, eps={e:g}"]
        sel = np.flatnonzero(eps == e)
        order = sel[np.argsort(F[sel])]
        assert list(line.get_xdata()) == sorted(set(sweep_doc["F"]))  # x = the F values, not one position
        assert list(line.get_ydata()) == [sweep_doc["p_plus"]["mean-field"][i] for i in order]
    assert any("95 % Clopper-Pearson" in s for s in _legend_texts(ax))


def test_phase_selection_one_F_drawn_against_eps(sweep_doc):
    keep = [i for i, f in enumerate(sweep_doc["F"]) if f == 2.0]
    doc = {k: ({m: [v[i] for i in keep] for m, v in sweep_doc[k].items()} if isinstance(sweep_doc[k], dict)
               and set(sweep_doc[k]) == set(sweep_doc["methods"]) else sweep_doc[k]) for k in sweep_doc}
    doc["F"], doc["eps"] = [sweep_doc["F"][i] for i in keep], [sweep_doc["eps"][i] for i in keep]
    paths = {"homodyne": (np.linspace(0, 1, 5), np.array([[0, 1, 2, 2, 3], [0, -1, -2, -2, -3.0]]))}
    fig = plotting.plot_phase_selection(doc, paths)
    _labelled(fig)
    assert len(fig.axes) == 3  # the paths panel
    ax = fig.axes[0]
    assert "epsilon" in ax.get_xlabel()
    assert [list(c.lines[0].get_xdata()) for c in ax.containers] == [[0.0, 0.1]]


# ---- the paper's figures ----

def test_plot_paper_appD_labelled_and_written(tmp_path):
    from cimqb_traj.paper.figures import appD
    from cimqb_traj.paper.plots import plot_paper

    _, panels = appD()
    fig = plot_paper("appD", panels, tmp_path)
    _labelled(fig)
    assert sorted(os.listdir(tmp_path)) == ["appD.pdf", "appD.png"]  # nothing else, no temporary left
    assert plot_paper("convergence", {}, tmp_path) is None  # a result without a figure


def test_plot_paper_every_layout_labelled():
    from cimqb_traj.paper.figures import RESULTS
    from cimqb_traj.paper.plots import LAYOUT, plot_paper

    assert set(RESULTS) - {"convergence"} <= set(LAYOUT)  # every figure result has its layout
    t = np.linspace(0, 10, 101)
    for name, (_, axes) in LAYOUT.items():
        panels = {f"{'abcd'[i]}: panel": (t, {"W": t, "W_c": t / 2}) for i in range(len(axes))}
        fig = plot_paper(name, panels)
        _labelled(fig)
        assert [ax.get_xlabel() for ax in fig.axes[: len(axes)]] == [x for x, _ in axes]
        assert [ax.get_ylabel() for ax in fig.axes[: len(axes)]] == [y for _, y in axes]


def test_plot_paper_fig7_derivative_and_log_zeros():
    from cimqb_traj.paper.plots import plot_paper

    F = np.linspace(2.0, 3.5, 16)
    fig = plot_paper("fig7", {"a: W_c(t)": (np.linspace(0, 40, 41), {"F=3": np.linspace(0, 1, 41)}),
                              "b: steady W_c": (F, {"W_c": F ** 2})})
    _labelled(fig)
    assert len(fig.axes) == 3  # (b) carries dW_c/dF on a twin axis
    assert fig.axes[2].lines[0].get_ydata() == pytest.approx(2 * F, abs=0.11)  # d(F^2)/dF; one-sided at the ends
    # figures writes ln(max(W, 1e-300)) where W = 0: those points are not drawn
    y = np.log(np.maximum([1.0, 0.5, 0.0], 1e-300))
    fig = plot_paper("fig4", {"a: W": (np.arange(3.0), {"W": [1, 0.5, 0]}), "b: ln W": (np.arange(3.0), {"ln W_c": y})})
    assert np.isnan(fig.axes[1].lines[0].get_ydata()[2]) and fig.axes[1].lines[0].get_ydata()[1] == pytest.approx(y[1])


def test_plot_paper_refuses_unlabelled_panels():
    from cimqb_traj.paper.plots import plot_paper

    t = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="labels"):
        plot_paper("fig11", {"a: x": (t, {"y": t})})
    with pytest.raises(ValueError, match="labels"):
        plot_paper("fig3", {"a: x": (t, {"y": t}), "b: z": (t, {"y": t})})
    fig = plot_paper("fig11", {"a: x": (t, {"y": t})}, labels={"a: x": ("time (1/gamma_s)", "y (photons)")})
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("time (1/gamma_s)", "y (photons)")
