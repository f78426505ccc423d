"""One function per result of the paper: the runs it needs, and how it turns them into numbers
and a figure in the paper's layout.

Every number is computed from the model; the paper's values (``PAPER``) appear only in the
report, beside ours.  Fit definitions follow the paper (same variables, same F grid); where the
paper does not state a time window, the one used here is part of the summary.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit
from scipy.stats import linregress

from ..ergotropy import tls_amplitude_damping
from ..params import BatteryParams, LoadParams
from .. import exact
from ..results import first_max
from .cache import cached_charge, cached_discharge, cached_steady_state

T = np.round(np.arange(401) * 0.1, 10)  # 0..40, the paper's charging window
BASE = BatteryParams()

# The paper's reported numbers (PHYSICS.md), used only for the report's comparison column.
PAPER = {
    "fig2b": {"slope": 2.742, "intercept": -5.330, "r": 0.9974},
    "fig3": {"t_Wc_peak": 10.0, "t_Wi_onset": 8.0},
    "fig4": {"Wc_slope": -1.127, "Wc_intercept": 47.17, "Wi_slope": -2.082, "Wi_intercept": 85.48},
    "fig5": {"Wc_slope": -0.7361, "Wi_slope": -1.2146},
    "fig6b": {"slope": 2.049, "intercept": -6.222, "r": 0.9995},
    "fig7b": {"A": 8.2016, "k": 5.4097, "F0": 2.3605},
    "fig8": {"kappa_a_max": 0.43},
    "fig9": {"kappa_a_max": 0.8},
    "fig10": {"Ns_limit": 14.5, "Np_limit": 14.0},
}

F_FIG2 = [1.0, 1.5, 2.0, 2.5, 3.0]
F_FIG6 = [2.2, 2.4, 2.6, 2.8, 3.0]
F_FIG7B = list(np.round(np.arange(2.0, 3.51, 0.1), 10))
G_DISCHARGE = [0.3, 0.65, 1.0, 1.35, 1.7]
FIG4 = BASE.replace(t_off=40.0)
T_FIG4 = np.round(np.arange(601) * 0.1, 10)  # 0..60
FIG5 = BatteryParams(Ns=60, Np=9, gamma_p=32.0, kappa=1.0, F=4.24, t_off=7.0)
T_FIG5 = np.round(np.arange(151) * 0.1, 10)  # 0..15
# The same cavity with time in units of the gamma_s of Figs. 2-4: a higher-Q signal cavity,
# gamma_s halved, so kappa/gamma_s = 1, gamma_p/gamma_s = 32, F_p/sqrt(gamma_s) = 4.24 as stated
FIG5_OLD_UNITS = BatteryParams(Ns=60, Np=9, gamma_s=0.5, kappa=0.5, gamma_p=16.0, F=3.0, t_off=7.0)
NS_FIG10, NP_FIG10 = [24, 28, 32, 36], [3, 5, 7, 9]
CONVERGENCE = [(32, 9), (40, 9), (48, 9), (60, 9), (72, 9), (32, 11), (32, 13), (32, 15), (48, 13), (60, 15)]
CONVERGED = BASE.replace(Ns=60, Np=15)
T_CONV = np.array([0.0, 10.0, 40.0])


def runs(name: str) -> list:
    """The exact runs a result needs, as (kind, params, t, options) tuples (cacheable)."""
    charge = lambda p, t=T, **o: ("charge", p, t, o)  # noqa: E731
    steady = lambda p, **o: ("steady", p, None, o)  # noqa: E731
    table = {
        "fig2": [charge(BASE.replace(F=F)) for F in F_FIG2] + [steady(BASE.replace(F=F)) for F in F_FIG2],
        "fig3": [charge(BASE)],
        "fig4": [charge(FIG4, T_FIG4)],
        "fig5": [charge(FIG5, T_FIG5), charge(FIG5_OLD_UNITS, T_FIG5)],
        "fig6": [charge(BASE.replace(F=F)) for F in F_FIG6],
        # above the paper's F = 3 its cut 32 / 9 leaves the guard's range (the steady state at F = 3.5
        # changes by 26 % of E against 28 / 7, refused; 14 % at F = 3): these points reproduce the
        # paper at its fixed truncation, guard off (trunc_tol = 0); the convergence result sizes the error
        "fig7": [charge(BASE.replace(F=F)) for F in F_FIG6]
        + [steady(BASE.replace(F=F), **({"trunc_tol": 0} if F > 3.0 else {})) for F in F_FIG7B],
        "fig8": [charge(BASE)],
        "fig9": [charge(BASE)],
        "fig10": [charge(BASE.replace(Ns=n), trunc_tol=None) for n in NS_FIG10]
        + [charge(BASE.replace(Np=n), trunc_tol=None) for n in NP_FIG10],
        "appD": [],
        "convergence": [charge(BASE.replace(Ns=a, Np=b), T_CONV, trunc_tol=None) for a, b in CONVERGENCE]
        + [charge(CONVERGED)],
    }
    return table[name]


def compute(run):
    kind, p, t, options = run
    with warnings.catch_warnings():
        if options.get("trunc_tol", 0) is None:  # runs made to show truncation effects
            warnings.simplefilter("ignore", exact.TruncationWarning)
        return cached_charge(p, t, **options) if kind == "charge" else cached_steady_state(p, **options)


def _fit(x, y):
    r = linregress(x, y)
    return {"slope": float(r.slope), "intercept": float(r.intercept), "r": float(abs(r.rvalue))}


def _log_fit(t, y, window):
    m = (t >= window[0]) & (t <= window[1]) & (y > 1e-12)
    return _fit(t[m], np.log(y[m]))


# ---- each result: (summary dict, {panel name: (x, {label: y})}) ----


def fig2():
    Wss = [compute(r).W[0] for r in runs("fig2")[len(F_FIG2):]]
    curves = {f"F={F:g}": compute(("charge", BASE.replace(F=F), T, {})).W for F in F_FIG2}
    summary = {"F": F_FIG2, "W_ss": [float(w) for w in Wss], **_fit(F_FIG2, np.log(Wss))}
    return summary, {"a: W(t)": (T, curves), "b: ln W_ss vs F": (np.array(F_FIG2), {"ln W_ss": np.log(Wss)})}


def fig3():
    r = compute(runs("fig3")[0])
    i = int(np.argmax(r.W_c))
    # onset of W_i: where it turns from its slow early decline (a small inversion left by the
    # first squeezing transient, W_i ~ 0.01-0.03) to growth, i.e. its minimum before it rises
    j = first_max(r.W_i[: i + 1])  # the early bump
    onset = float(r.t[j + int(np.argmin(r.W_i[j : i + 1]))])
    summary = {"t_Wc_peak": float(r.t[i]), "Wc_peak": float(r.W_c[i]), "t_Wi_onset": onset,
               "onset_definition": "argmin of W_i between its early bump and t_Wc_peak",
               "Wc_at_10": float(np.interp(10.0, r.t, r.W_c)),
               "Wc_within_5pct_of_peak": [float(r.t[r.W_c >= 0.95 * r.W_c[i]][0]), float(r.t[r.W_c >= 0.95 * r.W_c[i]][-1])],
               "t_P_peak": float(r.t[np.nanargmax(r.power)])}
    lo, hi = summary["Wc_within_5pct_of_peak"]
    summary["explanation"] = {"t_Wc_peak": (
        f"W_c has a flat maximum: it stays within 5% of its peak {summary['Wc_peak']:.3f} (at t = {r.t[i]:g}) "
        f"from t = {lo:g} to {hi:g}, and W_c(10) = {summary['Wc_at_10']:.3f}; read by eye, 'around t = 10' is "
        f"the start of that plateau. The charging power W/t does peak at t = {summary['t_P_peak']:g}, as the paper says.")}
    return summary, {"W, W_c, W_i": (r.t, {"W": r.W, "W_c": r.W_c, "W_i": r.W_i})}


def _decay_fits(r, t_off):
    """ln W_c and ln W_i fitted linearly from the switch-off until W_i has fallen to 1% of its
    value at the switch-off (W_i vanishes identically soon after, once the dephased state is
    passive, and its logarithm leaves any straight line)."""
    i0 = int(np.argmin(abs(r.t - t_off)))
    end = float(r.t[i0 + int(np.argmax(r.W_i[i0:] < 0.01 * r.W_i[i0]))])
    window = (float(t_off), end)
    c, i = _log_fit(r.t, r.W_c, window), _log_fit(r.t, r.W_i, window)
    return {"Wc_slope": c["slope"], "Wc_intercept": c["intercept"], "Wc_r": c["r"],
            "Wi_slope": i["slope"], "Wi_intercept": i["intercept"], "Wi_r": i["r"], "window": list(window),
            "window_definition": "t_off until W_i < 0.01 W_i(t_off)"}


def fig4():
    r = compute(runs("fig4")[0])
    summary = _decay_fits(r, FIG4.t_off)
    return summary, {"a: W after switch-off": (r.t, {"W": r.W, "W_c": r.W_c, "W_i": r.W_i}),
                     "b: ln W": (r.t, {"ln W_c": np.log(np.maximum(r.W_c, 1e-300)),
                                       "ln W_i": np.log(np.maximum(r.W_i, 1e-300))})}


def fig5():
    r, old = (compute(x) for x in runs("fig5"))
    summary = _decay_fits(r, FIG5.t_off)
    alt = _decay_fits(old, FIG5_OLD_UNITS.t_off)
    summary["time_in_fig2to4_units"] = alt
    i0, j0 = int(np.argmin(abs(r.t - 7))), int(np.argmin(abs(old.t - 7)))
    why = (f"Read literally (gamma_s = 1, kappa = 1, gamma_p = 32, F = 4.24, pump off at t = 7) the battery holds "
           f"W_c = {r.W_c[i0]:.2f}, W_i = {r.W_i[i0]:.2f} at the switch-off, while the paper's fits put ln W at "
           f"t = 7 at W_c = {np.exp(-0.7361 * 7 + 7.6856):.1f}, W_i = {np.exp(-1.2146 * 7 + 10.7728):.1f}. With time in "
           f"units of the gamma_s of Figs. 2-4 (the higher-Q cavity: gamma_s = 0.5, kappa = 0.5, gamma_p = 16, F_p = 3, "
           f"which gives the stated ratios; pump off at t = 7 of those units) we get W_c = {old.W_c[j0]:.2f}, "
           f"W_i = {old.W_i[j0]:.2f} and slopes {alt['Wc_slope']:.4f} (W_c) and {alt['Wi_slope']:.4f} (W_i), intercepts "
           f"{alt['Wc_intercept']:.3f} and {alt['Wi_intercept']:.3f}, within "
           f"{100 * max(abs(alt['Wc_slope'] / -0.7361 - 1), abs(alt['Wi_slope'] / -1.2146 - 1)):.0f}% of the paper: "
           "Fig. 5's time axis is in the units of Figs. 2-4, not of its own gamma_s.")
    summary["explanation"] = {"Wc_slope": why, "Wi_slope": why}
    panels = {"a: literal units": (r.t, {"W": r.W, "W_c": r.W_c, "W_i": r.W_i}),
              "b: time in Fig. 2-4 units": (old.t, {"W": old.W, "W_c": old.W_c, "W_i": old.W_i})}
    return summary, panels


def fig6():
    res = [compute(x) for x in runs("fig6")]
    Pmax = [float(np.nanmax(r.power)) for r in res]
    summary = {"F": F_FIG6, "P_max": Pmax, **_fit(F_FIG6, np.log(Pmax))}
    return summary, {"a: P = W/t": (T, {f"F={F:g}": r.power for F, r in zip(F_FIG6, res)}),
                     "b: ln P_max vs F": (np.array(F_FIG6), {"ln P_max": np.log(Pmax)})}


def _logistic(F, A, k, F0):
    return A / (1 + np.exp(-k * (F - F0)))


def fig7():
    res = [compute(x) for x in runs("fig7")[: len(F_FIG6)]]
    Wc = np.array([compute(x).W_c[0] for x in runs("fig7")[len(F_FIG6):]])
    (A, k, F0), _ = curve_fit(_logistic, F_FIG7B, Wc, p0=(8.0, 5.0, 2.4))
    summary = {"F": F_FIG7B, "Wc_ss": [float(w) for w in Wc], "A": float(A), "k": float(k), "F0": float(F0)}
    return summary, {"a: W_c(t)": (T, {f"F={F:g}": r.W_c for F, r in zip(F_FIG6, res)}),
                     "b: steady W_c": (np.array(F_FIG7B), {"W_c": Wc, "logistic fit": _logistic(np.array(F_FIG7B), A, k, F0)})}


def _discharge_fig(t0):
    r = compute(runs("fig8")[0])
    t = np.round(np.arange(1001) * 0.01, 10)
    out, kmax, tfirst = {}, [], []
    curves_s, curves_a = {}, {}
    for g in G_DISCHARGE:
        d = cached_discharge(BASE, LoadParams(g=g), t, t0=t0, source=r)
        i = first_max(d.kappa_a)
        kmax.append(float(d.kappa_a.max()))
        tfirst.append(float(d.t[i]))
        curves_s[f"g={g:g}"], curves_a[f"g={g:g}"] = d.kappa_s, d.kappa_a
    out = {"g": G_DISCHARGE, "kappa_a_max": kmax, "t_first_max": tfirst, "t0": t0}
    return out, {"a: kappa_s": (t, curves_s), "b: kappa_a": (t, curves_a)}


def fig8():
    return _discharge_fig(10.0)


def fig9():
    return _discharge_fig(30.0)


def fig10():
    rs = [compute(x) for x in runs("fig10")]
    ns, np_ = rs[: len(NS_FIG10)], rs[len(NS_FIG10):]
    summary = {"Ns": {str(n): float(r.W[-1]) for n, r in zip(NS_FIG10, ns)},
               "Np": {str(n): float(r.W[-1]) for n, r in zip(NP_FIG10, np_)}}
    return summary, {"a: W(t), Np = 9": (T, {f"Ns={n}": r.W for n, r in zip(NS_FIG10, ns)}),
                     "b: W(t), Ns = 32": (T, {f"Np={n}": r.W for n, r in zip(NP_FIG10, np_)})}


def appD():
    t = np.linspace(0, 3, 301)
    p, c, parts = tls_amplitude_damping(0.9, 0.3, 1.0, t)
    t_zero = float(np.log(2 * 0.9))  # W_i = 0 once p0 e^{-t} <= 1/2
    summary = {"p0": 0.9, "c0": 0.3, "t_Wi_vanishes": t_zero,
               "t_Wi_vanishes_sampled": float(t[np.argmax(parts.W_i <= 0)])}
    return summary, {"TLS decay": (t, {"W": parts.W, "W_c": parts.W_c, "W_i": parts.W_i})}


def _headline(r):
    """The paper's numbers that a single F = 3 run determines."""
    i = int(np.argmax(r.W_c))
    out = {"W(40)": float(r.W[-1]), "Wc_peak": float(r.W_c[i]), "t_Wc_peak": float(r.t[i]),
           "P_max": float(np.nanmax(r.power))}
    for t0, key in ((10.0, "fig8 kappa_a_max"), (30.0, "fig9 kappa_a_max")):
        d = cached_discharge(r.params, LoadParams(g=1.7), np.round(np.arange(301) * 0.01, 10), t0=t0, source=r)
        out[key] = float(d.kappa_a.max())
    return out


def convergence():
    rows = {f"{a},{b}": compute(x) for (a, b), x in zip(CONVERGENCE, runs("convergence"))}
    table = {k: {f"{q}@{int(tt)}": float(getattr(r, q)[j]) for q in ("W", "W_c", "W_i")
                 for j, tt in enumerate(T_CONV) if tt > 0} for k, r in rows.items()}
    best = table["60,15"]
    # error of the best run: the largest change seen in the last refinement step along Ns
    # (60 -> 72 at Np = 9), along Np (13 -> 15 at Ns = 32) and jointly (48,13 -> 60,15)
    err = {q: max(abs(table["72,9"][q] - table["60,9"][q]), abs(table["32,15"][q] - table["32,13"][q]),
                  abs(best[q] - table["48,13"][q])) for q in best}
    paper = table["32,9"]
    moved = {q: (paper[q] - best[q]) / best[q] for q in best}
    ref = _headline(compute(runs("fig3")[0]))
    conv = _headline(compute(runs("convergence")[-1]))
    headline = {k: {"Ns32_Np9": ref[k], "Ns60_Np15": conv[k], "rel_change": (conv[k] - ref[k]) / ref[k]} for k in ref}
    summary = {"table": table, "converged": best, "converged_at": [60, 15], "error": err,
               "paper_truncation_rel_error": moved, "headline": headline,
               "moves_more_than_1pct": sorted(k for k, v in headline.items() if abs(v["rel_change"]) > 0.01)}
    return summary, {}


RESULTS = {f.__name__: f for f in (fig2, fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10, appD, convergence)}
