"""Plots of charging and discharging results (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .results import atomic_path  # noqa: E402

__all__ = ["plot_charge", "plot_discharge", "plot_threshold", "plot_phase_selection"]


def _errband(ax, t, y, err, **kw):
    line = ax.plot(t, y, **kw)[0]
    if err is not None:
        ax.fill_between(t, y - err, y + err, color=line.get_color(), alpha=0.25, lw=0)


def plot_charge(result, path) -> None:
    """W, W_c, W_i and the energy versus time (paper Figs. 3-4), and the power W/t (Fig. 6)."""
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(10, 4))
    t = result.t
    err = getattr(result, "W_err", None)
    _errband(ax, t, result.W, err, label="W", color="C3")
    _errband(ax, t, result.W_c, getattr(result, "W_c_err", None), label="W_c (coherent)", ls=":", color="C0")
    _errband(ax, t, result.W_i, getattr(result, "W_i_err", None), label="W_i (incoherent)", ls="--", color="C2")
    ax.plot(t, result.energy, label="energy", color="0.5", lw=0.8)
    if result.params.t_off is not None:
        ax.axvline(result.params.t_off, color="k", lw=0.5, ls="-.")
    ax.set_xlabel(r"$\gamma_s t$")
    ax.set_ylabel(r"$W/\omega_s$")
    p = result.params
    how = f"{result.method}, {result.ntraj} traj" if hasattr(result, "ntraj") else result.method
    ax.set_title(f"{how}: F={p.F:g}, kappa={p.kappa:g}, gamma_p={p.gamma_p:g}, Ns={p.Ns}, Np={p.Np}",
                 fontsize=9)
    ax.legend(fontsize=8)
    with np.errstate(divide="ignore", invalid="ignore"):  # W/t is undefined at t = 0
        perr = None if err is None else err / t
    _errband(axp, t, result.power, perr, color="C4")
    axp.set_xlabel(r"$\gamma_s t$")
    axp.set_ylabel(r"$P = W/t$")
    fig.tight_layout()
    _save(fig, path)


def plot_discharge(result, path) -> None:
    """Normalised ergotropies kappa_s and kappa_a versus time (paper Figs. 8-9)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    _errband(a1, result.t, result.kappa_s, getattr(result, "kappa_s_err", None), color="C3")
    _errband(a2, result.t, result.kappa_a, getattr(result, "kappa_a_err", None), color="C0")
    a1.set_ylabel(r"$\kappa_s = W_s/\omega_s$")
    a2.set_ylabel(r"$\kappa_a = W_a/\omega_a$")
    for a in (a1, a2):
        a.set_xlabel(r"$\gamma_s (t - t_0)$")
    fig.suptitle(f"discharge ({result.method}): g={result.load.g:g}, gamma_a={result.load.gamma_a:g}, t0={result.t0:g}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_threshold(res: dict, path) -> None:
    """Steady-state <n_s> versus F per method, the mean-field threshold and the quantum estimates.

    An estimate that is None (no threshold on that curve, ``threshold.sweep``) draws no line: its
    reason is written on the axes instead; so is a missing mean-field threshold (kappa = 0)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    notes = []
    for k, (m, n) in enumerate(res["n_s"].items()):
        y = np.array([np.nan if v is None else v for v in n], float)
        line = ax.plot(res["F"], y, "o-" if m != "mean-field" else "-", ms=3, label=m, color=f"C{k}")[0]
        reasons = res.get("F_th_quantum_reason", {}).get(m, {})
        for j, (name, F) in enumerate(res["F_th_quantum"].get(m, {}).items()):
            if F is not None and np.isfinite(F):
                ax.axvline(F, color=line.get_color(), ls=(":", "--")[j % 2], lw=0.8, label=f"{m}: {name} {F:.3g}")
            else:
                notes.append((f"{m} {name}", reasons.get(name, "no estimate"), line.get_color()))
    F_th = res["F_th_meanfield"]
    if F_th is not None and np.isfinite(F_th):
        ax.axvline(F_th, color="k", lw=0.8, label=f"F_th = {F_th:.3g}")
    else:
        notes.append(("mean-field F_th", "none (kappa = 0)", "k"))
    _threshold_notes(ax, notes)
    ax.set_xlabel("F")
    ax.set_ylabel(r"steady $\langle n_s \rangle$")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


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


def _save(fig, path):
    path = str(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.rsplit(".", 1)[-1])
    plt.close(fig)


def plot_phase_selection(doc: dict, paths: dict, path) -> None:
    """P(+1) versus eps per method (and F), decision-time histograms, and a few conditional
    homodyne paths <x_0>(t) showing the two branches."""
    fig, axs = plt.subplots(1, 3, figsize=(14, 4))
    eps, F = np.array(doc["eps"]), np.array(doc["F"])
    ax = axs[0]
    for k, m in enumerate(doc["methods"]):
        for f in np.unique(F):
            sel = F == f
            p = np.array(doc["p_plus"][m], float)[sel]
            ci = np.array(doc["p_plus_ci"][m], float)[sel]
            ax.errorbar(eps[sel], p, [p - ci[:, 0], ci[:, 1] - p], fmt="o-", ms=3, capsize=2, color=f"C{k}",
                        label=f"{m}, F={f:g}")
    ax.axhline(0.5, color="k", lw=0.5)
    ax.set_xlabel("seed eps")
    ax.set_ylabel("P(spin = +1) (95 % CI)")
    ax.legend(fontsize=7)
    ax = axs[1]
    for k, m in enumerate(doc["methods"]):
        d = [x for row in doc["decision_times"][m] if row for x in row]
        if m == "mean-field":  # one deterministic path: a line, not a histogram
            for x in set(d):
                ax.axvline(x, color=f"C{k}", lw=1, label=m)
        elif d:
            ax.hist(d, bins=30, histtype="step", color=f"C{k}", label=m, density=True)
    ax.set_xlabel("decision time (1/gamma_s)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax = axs[2]
    for m, (t, x) in paths.items():
        for row in x:
            ax.plot(t, row, lw=0.7, color="C3" if row[-1] > 0 else "C0")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("t (1/gamma_s)")
    ax.set_ylabel("conditional <x_0> (homodyne shots)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
