"""The paper's figures drawn from the panels ``figures.RESULTS`` return, in the paper's layout.

Each figure is one row of panels (a), (b), ... as in the paper, every axis labelled with its
quantity and unit (``PHYSICS.md``): times in 1/gamma_s, ergotropies in hbar omega_s (the paper's
charging figures write W/gamma_s with omega_s = gamma_s), powers in hbar omega_s gamma_s, pump
amplitudes F_p in sqrt(gamma_s), discharge ergotropies normalised (kappa_i = W_i / hbar omega_i).
All curves are exact (Lindblad solver or closed form): no error bands.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from ..plotting import new_figure, save_figure

__all__ = ["plot_paper", "LAYOUT"]

_T = r"time $t$ ($1/\gamma_s$)"
_W = r"ergotropy ($\hbar\omega_s$)"
_F = r"pump amplitude $F_p$ ($\sqrt{\gamma_s}$)"
_T_DIS = r"time since the load was connected $t - t_0$ ($1/\gamma_s$)"

#: figure name -> (caption, [(x label, y label) per panel, in the order ``figures`` returns them])
LAYOUT = {
    "fig2": ("Fig. 2: ergotropy for several pumps F_p, and its steady value against F_p",
             [(_T, r"ergotropy $W$ ($\hbar\omega_s$)"), (_F, r"$\ln(W_{ss}/\hbar\omega_s)$")]),
    "fig3": ("Fig. 3: ergotropy W and its coherent and incoherent parts, F_p = 3",
             [(_T, _W)]),
    "fig4": ("Fig. 4: pump switched off at t = 40: decay of W_c and W_i",
             [(_T, _W), (_T, r"$\ln(W/\hbar\omega_s)$")]),
    "fig5": ("Fig. 5: higher-Q cavity, pump switched off at t = 7",
             [(_T, _W), (r"time $t$ ($1/\gamma_s$ of Figs. 2-4)", _W)]),
    "fig6": ("Fig. 6: average charging power for several F_p, and its maximum against F_p",
             [(_T, r"average power $P = W/t$ ($\hbar\omega_s\gamma_s$)"),
              (_F, r"$\ln(P_{max}/\hbar\omega_s\gamma_s)$")]),
    "fig7": ("Fig. 7: coherent ergotropy for several F_p, and its steady value against F_p",
             [(_T, r"coherent ergotropy $W^c$ ($\hbar\omega_s$)"),
              (_F, r"steady $W^c_{ss}$ ($\hbar\omega_s$)")]),
    "fig8": ("Fig. 8: discharge into a two-level load from t_0 = 10",
             [(_T_DIS, r"$\kappa_s = W_s/\hbar\omega_s$"), (_T_DIS, r"$\kappa_a = W_a/\hbar\omega_a$")]),
    "fig9": ("Fig. 9: discharge into a two-level load from t_0 = 30",
             [(_T_DIS, r"$\kappa_s = W_s/\hbar\omega_s$"), (_T_DIS, r"$\kappa_a = W_a/\hbar\omega_a$")]),
    "fig10": ("Fig. 10: ergotropy at several truncations Ns (Np = 9) and Np (Ns = 32)",
              [(_T, r"ergotropy $W$ ($\hbar\omega_s$)"), (_T, r"ergotropy $W$ ($\hbar\omega_s$)")]),
    "appD": ("Appendix D: amplitude-damped two-level battery (closed form)",
             [(r"time $t$ ($1/\gamma$, the decay rate)", r"ergotropy ($\hbar\omega$)")]),
}

# line styles of the paper: W solid, W^c dotted, W^i dashed (drawn together); a family of curves
# ("F=2.2", "g=0.3", "Ns=24", ...) cycles through _CYCLE; anything else is solid
_PARTS = {"W": "-", "W_c": ":", "W_i": "--", "ln W_c": ":", "ln W_i": "--"}
_CYCLE = [":", (0, (3, 1.5)), "--", "-.", "-"]
_LN_ZERO = np.log(1e-300) + 1  # figures writes ln(max(W, 1e-300)): below this W was 0, ln undefined


def _panel_title(title: str) -> tuple:
    """('a', 'W(t)') from 'a: W(t)'; ('', title) for a figure of one unlettered panel."""
    head, sep, rest = title.partition(": ")
    return (head, rest) if sep and len(head) == 1 else ("", title)


def plot_paper(name: str, panels: dict, out=None, *, labels: dict | None = None) -> Figure | None:
    """Draw one of the paper's figures in its layout, with labelled axes and units.

    Parameters
    ----------
    name : str
        The result's name in ``figures.RESULTS`` (``"fig2"`` ... ``"fig10"``, ``"appD"``).
    panels : dict
        {panel title: (x, {curve label: y})}, as the result function returns them, in panel order.
    out : str or path-like, optional
        A folder: ``<out>/<name>.png`` and ``<out>/<name>.pdf`` are written there atomically.
        None: do not save.
    labels : dict, optional
        {panel title: (x label, y label)}, overriding ``LAYOUT`` for those panels; required for
        every panel of a name ``LAYOUT`` does not know.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when ``panels`` is empty (a result without a figure, e.g. ``convergence``).

    Raises
    ------
    ValueError
        When a panel has no axis labels (an unknown ``name``, or a panel count that differs from
        ``LAYOUT[name]``) and ``labels`` does not give them.
    """
    if not panels:
        return None
    labels = dict(labels or {})
    caption, known = LAYOUT.get(name, (name, []))
    if known and len(known) != len(panels) and not all(k in labels for k in panels):
        raise ValueError(f"labels: {name} has {len(panels)} panels but the paper's layout {len(known)}; "
                         f"give labels={{panel title: (x label, y label)}} for {list(panels)}")
    missing = [k for i, k in enumerate(panels) if k not in labels and i >= len(known)]
    if missing:
        raise ValueError(f"labels: no axis labels for panel(s) {missing} of {name!r}; give "
                         "labels={panel title: (x label, y label)}")
    fig, axes = new_figure(len(panels), width=4.6, height=3.6)
    for i, (ax, (title, (x, curves))) in enumerate(zip(axes[0], panels.items())):
        xlabel, ylabel = labels.get(title, known[i] if i < len(known) else None)
        _draw(ax, np.asarray(x), curves)
        letter, text = _panel_title(title)
        if letter:
            ax.text(-0.02, 1.02, f"({letter})", transform=ax.transAxes, ha="right", va="bottom", fontweight="bold")
        ax.set_title(text, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if name == "fig7" and "W_c" in curves and len(x) > 2:
            _derivative(ax, np.asarray(x), np.asarray(curves["W_c"]))
        ax.legend(fontsize=7)
    fig.suptitle(caption, fontsize=10)
    if out is not None:
        for ext in ("png", "pdf"):
            save_figure(fig, os.path.join(out, f"{name}.{ext}"), dpi=110)
    return fig


def _draw(ax, x, curves: dict) -> None:
    marker = "o" if len(x) < 30 else None  # a sweep over a few F values: show the points
    parts = len(curves) > 1 and set(curves) <= set(_PARTS)
    for j, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, float)
        if label.startswith("ln "):
            y = np.where(y > _LN_ZERO, y, np.nan)  # W = 0: no logarithm, no point
        if label == "logistic fit":
            ax.plot(x, y, label=label, color="k", lw=0.8, ls="--")
        else:
            ax.plot(x, y, label=label, marker=marker, ms=4,
                    ls=_PARTS[label] if parts else _CYCLE[j % len(_CYCLE)] if "=" in label else "-")


def _derivative(ax, F, Wc) -> None:
    """Fig. 7(b)'s second curve: dW^c_ss/dF_p (central differences), on a right-hand axis."""
    tw = ax.twinx()
    tw.plot(F, np.gradient(Wc, F), color="C1", ls="--", label=r"$dW^c_{ss}/dF_p$")
    tw.set_ylabel(r"$dW^c_{ss}/dF_p$ ($\hbar\omega_s/\sqrt{\gamma_s}$)")
    tw.set_xlabel(ax.get_xlabel())  # hidden (twinx), kept so that every axes object names its x
    tw.legend(fontsize=7, loc="center right")
