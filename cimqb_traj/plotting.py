"""Plots of charging, discharging, threshold and phase-selection results.

Every function draws on a :class:`matplotlib.figure.Figure` built with the object API (no
``pyplot``): importing this module and calling its functions never switches the user's matplotlib
backend, and saving needs none.  Each returns its ``Figure`` (shown inline by Jupyter); ``path``
is optional, and when given the figure is written there atomically (``results.atomic_path``), in
the format its suffix names.

Units (``PHYSICS.md``): times in 1/gamma_s, energies and ergotropies in hbar omega_s (the plotted
values are divided by ``params.omega_s``), powers in hbar omega_s gamma_s, pump amplitudes F in
sqrt(gamma_s), seeds eps in gamma_s.  Shaded bands are +-1 standard error (the ensemble runner's
delete-one-group jackknife over the result's ``groups``), and each legend says so.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .results import atomic_path

__all__ = ["plot_charge", "plot_discharge", "plot_threshold", "plot_phase_selection", "new_figure",
           "save_figure", "error_band_label"]

T_LABEL = r"time $t$ ($1/\gamma_s$)"
W_LABEL = r"energy, ergotropy ($\hbar\omega_s$)"
F_LABEL = r"pump amplitude $F$ ($\sqrt{\gamma_s}$)"
EPS_LABEL = r"seed $\epsilon$ ($\gamma_s$)"


def new_figure(ncols: int, nrows: int = 1, width: float = 5.0, height: float = 4.0):
    """A constrained-layout ``Figure`` of ``nrows x ncols`` panels of ``width x height`` inches,
    and its axes as a 2-d array (object API: no pyplot, no backend)."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig: Figure, path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically, in the format of its suffix (png, pdf, svg, ...)."""
    path = str(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.rsplit(".", 1)[-1])


_save = save_figure  # the name plot_threshold's test replaces


def error_band_label(result) -> str:
    """What a shaded band around an ensemble mean is: +-1 standard error, jackknife over groups."""
    groups = getattr(result, "groups", 0)
    return (rf"shaded: $\pm 1$ SE (delete-one-group jackknife, {groups} groups)" if groups
            else r"shaded: $\pm 1$ SE")


def _errband(ax, t, y, err, **kw) -> bool:
    line = ax.plot(t, y, **kw)[0]
    if err is None:
        return False
    ax.fill_between(t, y - err, y + err, color=line.get_color(), alpha=0.25, lw=0)
    return True


def _legend(ax, band: str | None, **kw) -> None:
    """The axes' legend, plus a grey patch naming the error band when one is drawn."""
    handles, labels = ax.get_legend_handles_labels()
    if band:
        handles.append(Patch(facecolor="0.5", alpha=0.25, lw=0))
        labels.append(band)
    if handles:
        ax.legend(handles, labels, fontsize=kw.pop("fontsize", 8), **kw)


def plot_charge(result, path=None) -> Figure:
    """W, W_c, W_i and the energy versus time (paper Figs. 3-4), and the power W/t (Fig. 6).

    Parameters
    ----------
    result : ChargeResult or TrajectoryResult
        Ensemble results (with ``*_err``) get +-1 SE bands, named in the legends.
    path : str or path-like, optional
        Where to write the figure (format from the suffix); None: do not save.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ((ax, axp),) = new_figure(2)
    t, w = result.t, result.params.omega_s
    err = getattr(result, "W_err", None)

    def scaled(e):
        return None if e is None else e / w

    band = _errband(ax, t, result.W / w, scaled(err), label="W", color="C3")
    band |= _errband(ax, t, result.W_c / w, scaled(getattr(result, "W_c_err", None)), label="W_c (coherent)",
                     ls=":", color="C0")
    band |= _errband(ax, t, result.W_i / w, scaled(getattr(result, "W_i_err", None)), label="W_i (incoherent)",
                     ls="--", color="C2")
    ax.plot(t, result.energy / w, label="energy E", color="0.5", lw=0.8)
    if result.params.t_off is not None:
        ax.axvline(result.params.t_off, color="k", lw=0.5, ls="-.", label="pump off")
    ax.set_xlabel(T_LABEL)
    ax.set_ylabel(W_LABEL)
    p = result.params
    how = f"{result.method}, {result.ntraj} traj" if hasattr(result, "ntraj") else result.method
    ax.set_title(f"{how}: F={p.F:g}, kappa={p.kappa:g}, gamma_p={p.gamma_p:g}, Ns={p.Ns}, Np={p.Np}",
                 fontsize=9)
    label = error_band_label(result) if band else None
    _legend(ax, label)
    with np.errstate(divide="ignore", invalid="ignore"):  # W/t is undefined at t = 0
        perr = None if err is None else err / t / w
    _errband(axp, t, result.power / w, perr, color="C4", label="P = W/t")
    axp.set_xlabel(T_LABEL)
    axp.set_ylabel(r"average power $P = W/t$ ($\hbar\omega_s\gamma_s$)")
    _legend(axp, label if perr is not None else None)
    if path is not None:
        _save(fig, path)
    return fig


def plot_discharge(result, path=None) -> Figure:
    """Normalised ergotropies kappa_s and kappa_a versus the time since the load was connected
    (paper Figs. 8-9); ensemble results get +-1 SE bands, named in the legends.

    Parameters
    ----------
    result : DischargeResult or TrajectoryDischargeResult
    path : str or path-like, optional
        Where to write the figure (format from the suffix); None: do not save.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ((a1, a2),) = new_figure(2)
    b1 = _errband(a1, result.t, result.kappa_s, getattr(result, "kappa_s_err", None), color="C3",
                  label=r"battery $\kappa_s$")
    b2 = _errband(a2, result.t, result.kappa_a, getattr(result, "kappa_a_err", None), color="C0",
                  label=r"load $\kappa_a$")
    a1.set_ylabel(r"$\kappa_s = W_s/\hbar\omega_s$ (dimensionless)")
    a2.set_ylabel(r"$\kappa_a = W_a/\hbar\omega_a$ (dimensionless)")
    band = error_band_label(result)
    for a, b in ((a1, b1), (a2, b2)):
        a.set_xlabel(r"time since the load was connected $t - t_0$ ($1/\gamma_s$)")
        _legend(a, band if b else None)
    fig.suptitle(f"discharge ({result.method}): g={result.load.g:g} gamma_s, gamma_a={result.load.gamma_a:g} "
                 f"gamma_s, t0={result.t0:g}/gamma_s", fontsize=9)
    if path is not None:
        _save(fig, path)
    return fig


def plot_threshold(res: dict, path=None) -> Figure:
    """Steady-state <n_s> versus F per method, the mean-field threshold and the quantum estimates.

    Sampled methods (``n_s_err``) get +-1 SE error bars, named in the legend.  An estimate that is
    None (no threshold on that curve, ``threshold.sweep``) draws no line: its reason is written on
    the axes instead; so is a missing mean-field threshold (kappa = 0).

    Parameters
    ----------
    res : dict
        What ``threshold.sweep`` returns.
    path : str or path-like, optional
        Where to write the figure (format from the suffix); None: do not save.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ((ax,),) = new_figure(1, width=6.0)
    notes, errs = [], res.get("n_s_err", {})
    for k, (m, n) in enumerate(res["n_s"].items()):
        y = np.array([np.nan if v is None else v for v in n], float)
        line = ax.plot(res["F"], y, "o-" if m != "mean-field" else "-", ms=3, label=m, color=f"C{k}")[0]
        if errs.get(m) is not None:
            e = np.array([np.nan if v is None else v for v in errs[m]], float)
            ax.errorbar(res["F"], y, e, fmt="none", ecolor=line.get_color(), capsize=2, lw=0.8)
        reasons = res.get("F_th_quantum_reason", {}).get(m, {})
        for j, (name, F) in enumerate(res["F_th_quantum"].get(m, {}).items()):
            if F is not None and np.isfinite(F):
                ax.axvline(F, color=line.get_color(), ls=(":", "--")[j % 2], lw=0.8, label=f"{m}: {name} {F:.3g}")
            else:
                notes.append((f"{m} {name}", reasons.get(name, "no estimate"), line.get_color()))
    F_th = res["F_th_meanfield"]
    if F_th is not None and np.isfinite(F_th):
        ax.axvline(F_th, color="k", lw=0.8, label=f"mean-field F_th = {F_th:.3g}")
    else:
        notes.append(("mean-field F_th", "none (kappa = 0)", "k"))
    _threshold_notes(ax, notes)
    ax.set_xlabel(F_LABEL)
    ax.set_ylabel(r"steady $\langle a_s^\dagger a_s\rangle$ (photons)")
    handles, labels = ax.get_legend_handles_labels()
    if errs:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.4", marker="|", ls="none", ms=8))
        labels.append(r"error bars: $\pm 1$ SE (jackknife over sample groups)")
    ax.legend(handles, labels, fontsize=7)
    if path is not None:
        _save(fig, path)
    return fig


def _threshold_notes(ax, notes) -> None:
    """'no threshold: <reason>' lines on the axes; one line per distinct reason (the range reason is
    shared by every estimate), naming the estimates it applies to."""
    by_reason: dict = {}
    for what, why, color in notes:
        by_reason.setdefault(why, ([], color))[0].append(what)
    for i, (why, (whats, color)) in enumerate(by_reason.items()):
        names = ", ".join(whats) if len(whats) <= 3 else f"{len(whats)} estimates"
        ax.text(0.02, 0.97 - 0.07 * i, f"no threshold ({names}): {why}", transform=ax.transAxes, fontsize=6,
                va="top", ha="left", color=color if len(whats) <= 3 else "k", wrap=True)


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


def _interval(values, centre) -> np.ndarray:
    """Error-bar lengths (2, n) below and above ``centre`` from [lo, hi] pairs (None: no bar)."""
    ci = np.array([[np.nan, np.nan] if v is None else v for v in values], float).reshape(-1, 2)
    return np.abs(np.stack([centre - ci[:, 0], ci[:, 1] - centre]))


def _sweep_curves(doc: dict):
    """How a phase-selection sweep is drawn: the swept variable on x (F when the sweep has more
    than one F, else eps) and, per method, one curve for each value of the other variable:
    yields (method index, method, x values of every point, label, indices of the curve's points
    in x order)."""
    F, eps = np.asarray(doc["F"], float), np.asarray(doc["eps"], float)
    x, other, other_name = (F, eps, "eps") if len(np.unique(F)) > 1 else (eps, F, "F")
    for k, m in enumerate(doc["methods"]):
        for v in np.unique(other):
            idx = np.flatnonzero(other == v)
            yield k, m, x, f"{m}, {other_name}={v:g}", idx[np.argsort(x[idx], kind="stable")]


def plot_phase_selection(doc: dict, paths: dict, path=None) -> Figure:
    """P(+1) and the median decision time against the swept variable, and conditional homodyne
    paths <x_0>(t).

    The sweep is drawn against F when it has more than one F (one curve per method and seed eps),
    else against eps (one curve per method).  P(+1) carries its 95 % Clopper-Pearson interval and
    the median decision time its 95 % order-statistics interval (``spin``), both named in the
    legends.  A single point draws the decision-time histogram instead of the median.  The third
    panel, the paths of a few homodyne shots, appears only when ``paths`` has any.

    Parameters
    ----------
    doc : dict
        The phase-selection document (``cli.phase_selection``: keys ``F``, ``eps``, ``methods``, ``p_plus``,
        ``p_plus_ci``, ``decision_time_median``, ``decision_time_ci``, ``decision_times``).
    paths : dict
        method -> (t, x) with x of shape (shots, len(t)); may be empty.
    path : str or path-like, optional
        Where to write the figure (format from the suffix); None: do not save.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axs = new_figure(3 if paths else 2, width=4.7)
    axs = axs[0]
    ax = axs[0]
    x_label = F_LABEL if len(set(doc["F"])) > 1 else EPS_LABEL
    for k, m, x, label, idx in _sweep_curves(doc):
        p = _floats(doc["p_plus"][m])[idx]
        ax.errorbar(x[idx], p, _interval([doc["p_plus_ci"][m][i] for i in idx], p), fmt="o-", ms=3, capsize=2,
                    color=f"C{k}", label=label)
    ax.axhline(0.5, color="k", lw=0.5)
    ax.set_xlabel(x_label)
    ax.set_ylabel("P(spin = +1)")
    _legend(ax, "error bars: 95 % Clopper-Pearson interval", fontsize=7)
    ax = axs[1]
    if len(doc["F"]) > 1:
        for k, m, x, label, idx in _sweep_curves(doc):
            med = _floats(doc["decision_time_median"][m])[idx]
            if np.all(np.isnan(med)):
                continue
            ax.errorbar(x[idx], med, _interval([doc["decision_time_ci"][m][i] for i in idx], med), fmt="o-", ms=3,
                        capsize=2, color=f"C{k}", label=label)
        if not ax.lines:
            ax.text(0.5, 0.5, "no decided shots", transform=ax.transAxes, ha="center", fontsize=8)
        ax.set_xlabel(x_label)
        ax.set_ylabel(r"median decision time ($1/\gamma_s$)")
        _legend(ax, "error bars: 95 % interval of the median", fontsize=7)
    else:
        for k, m in enumerate(doc["methods"]):
            d = [x for row in doc["decision_times"][m] if row for x in row]
            if m == "mean-field":  # one deterministic path: a line, not a histogram
                for x in set(d):
                    ax.axvline(x, color=f"C{k}", lw=1, label=m)
            elif d:
                ax.hist(d, bins=30, histtype="step", color=f"C{k}", label=m, density=True)
        ax.set_xlabel(r"decision time ($1/\gamma_s$)")
        ax.set_ylabel(r"probability density ($\gamma_s$)")
        _legend(ax, None, fontsize=7)
    if paths:
        ax = axs[2]
        for m, (t, x) in paths.items():
            for row in x:
                ax.plot(t, row, lw=0.7, color="C3" if row[-1] > 0 else "C0")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel(T_LABEL)
        ax.set_ylabel(r"conditional $\langle x_0\rangle$, $x_0 = (a_s + a_s^\dagger)/2$")
        ax.set_title("homodyne shots (red: spin +1, blue: -1)", fontsize=8)
    if path is not None:
        _save(fig, path)
    return fig
