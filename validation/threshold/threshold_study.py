"""Quantum threshold estimates against the mean-field F_th as the nonlinearity g decreases, and
where each method agrees with the exact solver as g grows (issue 5, items 4 and 7).

g = kappa / sqrt(gamma_s gamma_p) measures the quantum noise at threshold (mean-field photon
numbers scale as 1/g^2, the crossover width as g).  For each kappa (gamma_p = 16) the steady
state is computed on F / F_th = 1 + g * (-3 .. 6) (``--steps`` points: the crossover scales with
g, so a fixed grid in units of g resolves it at every kappa) by

* mean field (the threshold itself: <n_s> = 0 below, linear above);
* the exact steady-state solver, for kappa >= ``--exact-min-kappa`` (its truncation Ns =
  n + 6 sqrt(n) + 10 for the mean-field n at the largest F grows like 1/g^2: at kappa 0.3 it
  would need Ns ~ 110 and ~an hour here);
* positive-P and truncated Wigner, ``--samples`` samples per F from the vacuum to t_steady =
  max(30, 8 / g) (the relaxation time at threshold is ~ 1 / (g gamma_s): the restoring rate
  there is kappa^2 <n_s> / gamma_p with <n_s> ~ 1/g), step 0.01 (step-checked at the paper's
  defaults, validation/bench/README.md).

Quantum threshold estimates (``cimqb_traj.threshold``): the peak of d^2<n_s>/dF^2 ("curvature")
and the onset of a bimodal quadrature distribution ("bimodal", P''(0) > 0).  For the sampled
methods each estimate gets a standard error from a parametric bootstrap (200 redraws of the
sweep within its standard errors).  A method that refuses (positive-P: more than 1 % diverged
samples) is reported as such.

    python validation/threshold/threshold_study.py [--kappas 2,1.5,1,0.7,0.5,0.3,0.2,0.1] [--steps 21]

Writes validation/threshold/threshold_study.json, threshold_study.png and REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

from cimqb_traj import BatteryParams, jsonio
from cimqb_traj.crosscheck import z_crit  # Student t (ntraj - 1 dof), Bonferroni over the grid, family rate 1e-3, >= 4
from cimqb_traj.threshold import (bimodal_threshold, bimodal_threshold_fit, bootstrap, curvature_threshold,
                                  kink_threshold, sweep)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLED = ("positive-p", "wigner", "trajectories")
TRAJ = os.path.join(HERE, "trajectory_curves.json")  # trajectory_curves.py (issue 12, point 5)


def merge_trajectories(runs) -> list:
    """Add trajectory_curves.json's moving-basis homodyne curves as the method "trajectories" to the
    runs of the same kappa (same F grid, checked)."""
    if not os.path.exists(TRAJ):
        return runs
    with open(TRAJ) as f:
        curves = {d["kappa"]: d for d in json.load(f)}
    for r in runs:
        d = curves.get(r["kappa"])
        if d is None or not d.get("complete", True):  # a grid still running is left out
            continue
        at = {round(x["F"], 9): x for x in d["points"]}  # points not run (a partial grid) are NaN
        if not set(at) <= {round(f, 9) for f in r["F"]}:
            raise ValueError(f"kappa {r['kappa']}: trajectory_curves.json has F values off the study's grid")
        r["methods"]["trajectories"] = {k: [at[round(f, 9)][k] if round(f, 9) in at else float("nan") for f in r["F"]]
                                        for k in ("n_s", "n_s_err", "bimodality", "bimodality_err")}
        r["methods"]["trajectories"].update(wall_s=d["wall_s"], ntraj=d["ntraj"])
    return runs


def one(kappa: float, steps: int, samples: int, exact_min_kappa: float, n_jobs: int) -> dict:
    p0 = BatteryParams(kappa=kappa)
    g = kappa / math.sqrt(p0.gamma_s * p0.gamma_p)
    Fth = p0.threshold
    F = Fth * (1 + g * np.linspace(-3, 6, steps))
    n_max = p0.gamma_p * p0.gamma_s * (F[-1] / Fth - 1) / (2 * kappa**2)
    Ns = int(math.ceil(n_max + 6 * math.sqrt(n_max) + 10))
    p = p0.replace(Ns=Ns, Np=9)
    t_steady = max(30.0, 8.0 / g)
    out = {"kappa": kappa, "g": g, "F_th": Fth, "F": F.tolist(), "Ns": Ns, "Np": 9, "t_steady": t_steady,
           "samples": samples, "methods": {}}
    methods = ["mean-field"] + (["exact"] if kappa >= exact_min_kappa else []) + ["positive-p", "wigner"]
    for m in methods:
        t0 = time.perf_counter()
        try:
            r = sweep(p, F, (m,), progress=False, samples=samples, t_steady=t_steady, dt=0.01, seed=1,
                      n_jobs=n_jobs)
        except RuntimeError as e:  # positive-P refuses: too many diverged samples
            out["methods"][m] = {"refused": str(e).split(";")[0], "wall_s": time.perf_counter() - t0}
            print(f"kappa {kappa:g} {m}: refused ({e})", flush=True)
            continue
        d = {"n_s": r["n_s"][m], "wall_s": time.perf_counter() - t0}
        if m in r["bimodality"]:
            d["bimodality"] = r["bimodality"][m]
        if m in SAMPLED:
            d["n_s_err"] = r["n_s_err"][m]
            d["bimodality_err"] = r["bimodality_err"][m]
        out["methods"][m] = d
    estimates(out)
    for m, d in out["methods"].items():
        if "F_th_quantum" in d:
            print(f"kappa {kappa:g} {m}: {d['F_th_quantum']} ({d['wall_s']:.0f} s)", flush=True)
    return out


def estimates(r) -> dict:
    """Every method's estimates from its stored curves (``threshold``'s estimators), with
    standard errors for sampled methods: a parametric bootstrap for "curvature" and "kink" (fitted
    unweighted, like the exact curve, so that the model's misfit weighs the same), the fit error
    for "bimodal"."""
    F = np.array(r["F"])
    for m, d in r["methods"].items():
        if "refused" in d:
            continue
        n = np.array(d["n_s"], float)
        if m in SAMPLED:
            b = np.array([np.nan if x is None else x for x in d["bimodality"]], float)
            be = np.array([np.nan if x is None else x for x in d["bimodality_err"]], float)
            bf, bfe = bimodal_threshold_fit(F, b, be)
            d["F_th_quantum"] = {"curvature": curvature_threshold(F, n), "kink": kink_threshold(F, n)[0], "bimodal": bf}
            d["F_th_quantum_err"] = {"curvature": bootstrap(F, n, d["n_s_err"], curvature_threshold),
                                     "kink": bootstrap(F, n, d["n_s_err"], lambda F, y: kink_threshold(F, y)[0]),
                                     "bimodal": bfe}  # as threshold.sweep does
        else:
            d["F_th_quantum"] = {"curvature": curvature_threshold(F, n), "kink": kink_threshold(F, n)[0]}
            if "bimodality" in d:
                d["F_th_quantum"]["bimodal"] = bimodal_threshold(F, d["bimodality"])
    return r


def _est(r, m, key):
    d = r["methods"].get(m)
    if d is None:
        return "—"
    if "refused" in d:
        return "refused"
    v = d["F_th_quantum"].get(key)
    if v is None:
        return "—"
    x = (v / r["F_th"] - 1) / r["g"]
    e = d.get("F_th_quantum_err", {}).get(key)
    if not np.isfinite(x):
        return "none"
    return f"{x:.3f}" + (f" ± {e / r['F_th'] / r['g']:.3f}" if e is not None and np.isfinite(e) else "")


def agreement(r, m):
    """Against exact over the grid: largest |z| and largest |relative difference| of <n_s>."""
    d, ex = r["methods"].get(m), r["methods"].get("exact")
    if d is None or ex is None:
        return None
    if "refused" in d:
        return "refused"
    n, e, x = np.array(d["n_s"]), np.array(d.get("n_s_err", np.zeros(len(d["n_s"])))), np.array(ex["n_s"])
    rel = float(np.max(np.abs(n - x) / np.maximum(x, 1e-12)))
    if m == "mean-field":
        return f"max rel. diff {rel:.2f}"
    z = float(np.max(np.abs(n - x) / e))
    crit = f" (z_crit {z_crit(len(n), d['ntraj']):.1f})" if m == "trajectories" else ""
    return f"max abs z {z:.1f}{crit}, max rel. diff {rel:.3f}"


def against(r, m, ref):
    """Two sampled methods over the grid: largest |z| of the <n_s> difference (errors combined)."""
    d, e = r["methods"].get(m), r["methods"].get(ref)
    if d is None or e is None:
        return "—"
    if "refused" in d or "refused" in e:
        return "refused"
    n, x = np.array(d["n_s"]), np.array(e["n_s"])
    s = np.hypot(np.array(d["n_s_err"]), np.array(e["n_s_err"]))
    k = int(np.argmax(np.abs(n - x) / s))
    crit = z_crit(len(n), e["ntraj"])  # the trajectories' error dominates s: their ntraj - 1 degrees of freedom
    return (f"max abs z {abs(n[k] - x[k]) / s[k]:.1f} at F/F_th {r['F'][k] / r['F_th']:.3f} (z_crit {crit:.1f}), "
            f"max rel. diff {np.max(np.abs(n - x) / x):.3f}")


def report(runs) -> str:
    L = ["# Quantum threshold estimates against mean field, and where each method agrees with exact", "",
         "Command: `python validation/threshold/threshold_study.py` (defaults). gamma_p = 16, gamma_s = 1;",
         "steady states on F / F_th = 1 + g (-3 .. 6); estimates given as (F_q / F_th - 1) / g, i.e. the",
         "distance above the mean-field threshold in units of g. Definitions and estimators:",
         "`cimqb_traj.threshold` (curvature: peak of d²<n_s>/dF² by second differences; kink: intersection",
         "of the asymptotes of a rounded-kink fit; bimodal: onset of P''(0) > 0 of the signal quadrature",
         "distribution, interpolated for exact curves, a weighted line fit for sampled ones).", "",
         "## Threshold estimates", "",
         "(F_q / F_th - 1) / g for each definition; sampled methods with standard errors (curvature and",
         "kink: bootstrap; bimodal: fit).", "",
         "| kappa | g | F_th | method | curvature | kink | bimodal |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        for m in ("exact", "trajectories", "positive-p", "wigner", "mean-field"):
            if m in r["methods"]:
                L.append(f"| {r['kappa']:g} | {r['g']:.4f} | {r['F_th']:.4g} | {m} | {_est(r, m, 'curvature')} | "
                         f"{_est(r, m, 'kink')} | {_est(r, m, 'bimodal')} |")
    L += ["", "## Agreement with the exact steady state (<n_s> over the grid)", "",
          "| kappa | g | trajectories | positive-P | Wigner | mean field |", "|---|---|---|---|---|---|"]
    for r in runs:
        if "exact" in r["methods"]:
            L.append(f"| {r['kappa']:g} | {r['g']:.4f} | {agreement(r, 'trajectories') or '—'} | "
                     f"{agreement(r, 'positive-p')} | {agreement(r, 'wigner')} | {agreement(r, 'mean-field')} |")
    if any("trajectories" in r["methods"] for r in runs):
        L += ["", "## Where the exact solver stops: against the moving-basis trajectories (<n_s> over the grid)", "",
              "z of the difference with both standard errors combined; z_crit: Student t with the",
              "trajectories' ntraj - 1 degrees of freedom (their error dominates), Bonferroni over the grid",
              "at family rate 1e-3 (the rule of tests/stats.py).", "",
              "| kappa | g | positive-P | Wigner |", "|---|---|---|---|"]
        for r in runs:
            if "trajectories" in r["methods"]:
                L.append(f"| {r['kappa']:g} | {r['g']:.4f} | {against(r, 'positive-p', 'trajectories')} | "
                         f"{against(r, 'wigner', 'trajectories')} |")
    if os.path.exists(TRAJ):
        with open(TRAJ) as f:
            curves = [d for d in json.load(f) if d.get("complete", True)]
        L += ["", "## The moving-basis trajectory runs (`trajectory_curves.py`)", "",
              "Each point: ntraj homodyne trajectories (theta = 0, dt = 1e-3) in the displaced basis from the",
              "vacuum, time-averaged over [t_burn, t_end] (the steady state of an ergodic process); drift: the",
              "largest |second-half - first-half average| / its standard error over the grid (a transient left",
              "over would show as a systematic drift of one sign).", "",
              "| kappa | g | ntraj | t_burn | t_end | largest bases (signal x pump) | lab Ns_out | verdicts | "
              "largest drift z | wall (s), 2 workers, loaded machine |", "|---|---|---|---|---|---|---|---|---|---|"]
        for d in curves:
            pts = d["points"]
            drift = [(x["n_s_halves"][1] - x["n_s_halves"][0]) / x["n_s_halves_diff_err"] for x in pts]
            verdicts = sorted({v for x in pts for v in x["verdicts"]})
            L.append(f"| {d['kappa']:g} | {d['g']:.4f} | {d['ntraj']} | {pts[0]['t_burn']:g} | {pts[0]['t_end']:g} | "
                     f"{max(x['Ns_basis_max'] for x in pts)} x {max(x['Np_basis_max'] for x in pts)} | "
                     f"{min(x['Ns_out'] for x in pts)}..{max(x['Ns_out'] for x in pts)} | {', '.join(verdicts)} | "
                     f"{max(drift, key=abs):+.1f} (mean {np.mean(drift):+.2f}) | {d['wall_s']:.0f} |")
    L += ["", "## Wall times (s)", "", "| kappa | " + " | ".join(["mean-field", "exact", *SAMPLED]) + " |",
          "|---|---|---|---|---|---|"]
    for r in runs:
        L.append(f"| {r['kappa']:g} | " + " | ".join(
            f"{r['methods'][m]['wall_s']:.0f}" if m in r["methods"] else "—"
            for m in ["mean-field", "exact", *SAMPLED]) + " |")
    return "\n".join(L) + "\n"


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axs[0]
    seen = set()  # a sampled method is named in the legend once (its marker), exact once per g (its colour)
    for k, r in enumerate(runs):
        x = (np.array(r["F"]) / r["F_th"] - 1) / r["g"]
        for m, sty in (("exact", "o-"), ("trajectories", "D"), ("positive-p", "s"), ("wigner", "^")):
            d = r["methods"].get(m)
            if d and "refused" not in d:
                y = np.array(d["n_s"]) * r["g"]
                ye = np.array(d.get("n_s_err", np.zeros_like(y))) * r["g"]
                label = f"exact, g = {r['g']:.3f}" if m == "exact" else (None if m in seen else f"{m} (colour: g)")
                seen.add(m)
                ax.errorbar(x, y, ye, fmt=sty, ms=3, lw=0.8, color=f"C{k}", label=label)
        ax.plot(x, np.array(r["methods"]["mean-field"]["n_s"]) * r["g"], "k-", lw=0.6)
    ax.set_xlabel("(F / F_th - 1) / g")
    ax.set_ylabel(r"$g \langle n_s \rangle$ (mean field: black, x/2)")
    ax.legend(fontsize=6)
    ax = axs[1]
    for m, mk in (("exact", "o"), ("trajectories", "D"), ("positive-p", "s"), ("wigner", "^")):
        for key, ls in (("curvature", "-"), ("kink", ":"), ("bimodal", "--")):
            if key == "curvature" and m != "exact" or key == "bimodal" and m == "wigner":
                continue  # second differences of sampled curves, Wigner's P''(0): noise (see REPORT.md)
            gs, ys, es = [], [], []
            for r in runs:
                d = r["methods"].get(m)
                if d and "refused" not in d and np.isfinite(d["F_th_quantum"].get(key, np.nan)):
                    gs.append(r["g"])
                    ys.append((d["F_th_quantum"][key] / r["F_th"] - 1) / r["g"])
                    es.append(d.get("F_th_quantum_err", {}).get(key, 0.0) / r["F_th"] / r["g"])
            if gs:
                ax.errorbar(gs, ys, es, fmt=mk + ls, ms=4, lw=0.8, label=f"{m}, {key}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ticks = [0.025, 0.05, 0.1, 0.25, 0.5]
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel("g")
    ax.set_ylabel("(F_q / F_th - 1) / g")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kappas", default="2,1.5,1,0.7,0.5,0.3,0.2,0.1")
    ap.add_argument("--steps", type=int, default=21)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--exact-min-kappa", type=float, default=0.5)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--report-only", action="store_true",
                    help="recompute the estimates from threshold_study.json's curves and rewrite the report and plot")
    a = ap.parse_args()
    if a.report_only:
        with open(os.path.join(HERE, "threshold_study.json")) as f:
            runs = [r for r in json.load(f)]
        for r in runs:
            r["methods"].pop("trajectories", None)  # merged from trajectory_curves.json, not stored here
    else:
        runs = [one(float(k), a.steps, a.samples, a.exact_min_kappa, a.n_jobs) for k in a.kappas.split(",")]
    with open(os.path.join(HERE, "threshold_study.json"), "w") as f:
        json.dump(jsonio.clean(runs), f, indent=1, allow_nan=False)  # strict JSON: NaN -> null
    runs = [estimates(r) for r in merge_trajectories(runs)]
    text = report(runs)
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write(text)
    print(text)
    plot(runs, os.path.join(HERE, "threshold_study.png"))


if __name__ == "__main__":
    main()
