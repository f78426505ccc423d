"""Single-shot spin-phase selection study (issue 6, item 7).

One DOPO from the vacuum; the spin (phase 0 or pi) of each shot read at t_end = 20 / gamma_s.

A. P(+1) versus the seed eps, every method, at kappa = 1, gamma_p = 16 (g = 0.25, F_th = 1),
   F = 2 F_th (Ns 22, Np 8); and versus eps at the paper's defaults (g = 0.125, F = 1.5 F_th) by
   the exact solver (the paper's truncation), the phase-space methods and mean field.
B. Decision times (conditional <x_0> of homodyne shots, Re alpha_s of Wigner samples, level
   1/2 of the mean-field amplitude) versus F, eps and the pump ramp time, against the linearised
   growth rate lambda = (gamma_s/2)(F/F_th - 1): the spin grows from noise (or the seed) like
   e^{lambda t}, so lambda * t_decision should vary only logarithmically with F.
C. Work in a single shot: the mean ergotropy (and parts) of the homodyne shots' conditional
   signal states against the ergotropy of the ensemble state, versus F.

    python validation/phase_selection/study.py [--shots 400] [--samples 4000] [--n-jobs 2]

Writes study.json, p_plus.png, decisions.png, work.png and REPORT.md here.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from cimqb_traj import BatteryParams
from cimqb_traj.spin import growth_rate, phase_selection

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = BatteryParams(Ns=22, Np=8, kappa=1.0, F=2.0)  # g = 0.25, F_th = 1
PAPER = BatteryParams()  # g = 0.125, F_th = 2, F = 3
T_END = 20.0


def _run(p, m, a, **kw):
    n = {"homodyne": a.shots, "wigner": a.samples, "positive-p": a.samples}.get(m, 0)
    opts = {"homodyne": {"dt": 5e-3}, "wigner": {"dt": 0.01}, "positive-p": {"dt": 0.01}}.get(m, {})
    t0 = time.perf_counter()
    r = phase_selection(p, m, ntraj=n, seed=a.seed, t_end=T_END, dt_out=0.25, n_jobs=a.n_jobs, progress=False,
                        **opts, **kw)
    d = r.to_dict()
    d["wall_s"] = time.perf_counter() - t0
    d["growth_rate"] = growth_rate(p)
    d["t_ramp"] = p.t_ramp
    if r.decision_times is not None:
        d["decision_times"] = [float(x) for x in r.decision_times if np.isfinite(x)]
    if m == "homodyne":
        d["t"], d["x_paths"] = r.t.tolist(), r.x_paths.tolist()
    print(f"{m:10s} eps={p.eps:<6g} F={p.F:<5g} ramp={p.t_ramp} P+={d['p_plus']:.4f} "
          f"dec={d['decision_time_median']} W1={d['W_single_shot']} W={d['W_ensemble']} ({d['wall_s']:.0f} s)", flush=True)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shots", type=int, default=400)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--report-only", action="store_true", help="rewrite REPORT.md and the plots from study.json")
    a = ap.parse_args()
    if a.report_only:
        with open(os.path.join(HERE, "study.json")) as f:
            out = json.load(f)
        report(out, a)
        plots(out)
        return
    out = {"A_small": [], "A_paper": [], "B_F": [], "B_ramp": [], "C": []}
    eps_small = (0.0, 0.02, 0.05, 0.1, 0.2)
    for m in ("exact", "homodyne", "wigner", "positive-p", "mean-field"):
        for e in eps_small:
            out["A_small"].append(_run(SMALL.replace(eps=e), m, a))
    for m in ("exact", "wigner", "positive-p", "mean-field"):
        for e in (0.0, 0.01, 0.02, 0.05, 0.1):
            out["A_paper"].append(_run(PAPER.replace(eps=e), m, a))
    wide = SMALL.replace(Ns=30)  # room for n_mf = 16 at F = 3 F_th
    for m in ("homodyne", "wigner"):
        for f in (1.25, 1.5, 2.0, 3.0):
            out["B_F"].append(_run(wide.replace(F=f, eps=0.0), m, a))
        for tr in (2.0, 5.0, 10.0):
            out["B_ramp"].append(_run(wide.replace(eps=0.0, t_ramp=tr), m, a))
    out["C"] = [d for d in out["B_F"] if d["method"] == "homodyne"]
    with open(os.path.join(HERE, "study.json"), "w") as f:
        json.dump(out, f)
    report(out, a)
    plots(out)


def _ci(d):
    lo, hi = d["p_plus_ci"]
    return f"{d['p_plus']:.3f} [{lo:.3f}, {hi:.3f}]" if d["shots"] else f"{d['p_plus']:.3f}"


def _eps_table(rows, methods) -> list:
    """Markdown rows of P(+1) against eps: the given methods, positive-P (sign and quadrature
    weight) and mean field."""
    names = {"exact": "exact", "homodyne": "homodyne", "wigner": "Wigner"}
    L = ["| eps | " + " | ".join(names[m] for m in methods)
         + " | positive-P (sign) | positive-P (quadrature weight) | mean field |",
         "|---" * (len(methods) + 4) + "|"]
    by = {}
    for d in rows:
        by.setdefault(d["eps"], {})[d["method"]] = d
    for e, r in by.items():
        pq = r["positive-p"]
        L.append(f"| {e:g} | " + " | ".join(_ci(r[m]) for m in methods) + f" | {_ci(pq)} | "
                 f"{pq['p_plus_quadrature']:.3f} ± {pq['p_plus_quadrature_err']:.3f} | {_ci(r['mean-field'])} |")
    return L


def report(out, a):
    L = ["# Single-shot spin-phase selection", "",
         f"Command: `python validation/phase_selection/study.py` (shots {a.shots}, samples {a.samples}, seed {a.seed}).",
         "Spin read at t = 20 / gamma_s from the vacuum; P(+1) with 95 % Clopper-Pearson intervals; decision",
         "level 1/2 of the mean-field amplitude.  Definitions: `cimqb_traj/spin.py`.", "",
         "## A. P(spin = +1) versus the seed eps", "",
         "kappa = 1, gamma_p = 16 (g = 0.25), F = 2 F_th, Ns 22 / Np 8:", "",
         *_eps_table(out["A_small"], ("exact", "homodyne", "wigner")), "",
         "The paper's defaults (kappa 0.5, gamma_p 16, F 3 = 1.5 F_th, g = 0.125; exact at Ns 32 / Np 9):", "",
         *_eps_table(out["A_paper"], ("exact", "wigner"))]
    L += ["", "## B. Decision times", "", "eps = 0, kappa = 1 (g = 0.25): median decision time [95 % interval], undecided shots,"
          " and lambda x median (lambda the linearised growth rate):", "",
          "| method | F / F_th | ramp | lambda | median t_d | undecided | lambda t_d |", "|---|---|---|---|---|---|---|"]
    for d in out["B_F"] + out["B_ramp"]:
        md, ci = d["decision_time_median"], d["decision_time_ci"]
        med = "—" if md is None else f"{md:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
        lt = "—" if md is None else f"{d['growth_rate'] * md:.2f}"
        L.append(f"| {d['method']} | {d['F']:g} | {d['t_ramp'] or '—'} | {d['growth_rate']:.3f} | {med} | "
                 f"{d['undecided']} / {d['shots']} | {lt} |")
    L += ["", "Versus the seed (kappa = 1, F = 2 F_th, no ramp):", "",
          "| method | eps | median t_d | undecided | lambda t_d |", "|---|---|---|---|---|"]
    for d in out["A_small"]:
        if d["method"] in ("homodyne", "wigner", "positive-p"):
            md, ci = d["decision_time_median"], d["decision_time_ci"]
            med = "—" if md is None else f"{md:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
            lt = "—" if md is None else f"{d['growth_rate'] * md:.2f}"
            L.append(f"| {d['method']} | {d['eps']:g} | {med} | {d['undecided']} / {d['shots']} | {lt} |")
    L += ["", "## C. Work in a single shot (homodyne, eps = 0, t = 20)", "",
          "| F / F_th | W single shot | W_c | W_i | W ensemble | added by the record |", "|---|---|---|---|---|---|"]
    for d in out["C"]:
        L.append(f"| {d['F']:g} | {d['W_single_shot']:.3f} ± {d['W_single_shot_err']:.3f} | {d['W_c_single_shot']:.3f} | "
                 f"{d['W_i_single_shot']:.3f} | {d['W_ensemble']:.3f} ± {d['W_ensemble_err']:.3f} | "
                 f"{d['W_single_shot'] - d['W_ensemble']:.3f} |")
    text = "\n".join(L) + "\n"
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write(text)
    print(text)


def plots(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axs[0], "A_small", "kappa 1, F = 2 F_th (g 0.25)"), (axs[1], "A_paper", "paper defaults (g 0.125)")):
        for k, m in enumerate(("exact", "homodyne", "wigner", "positive-p", "mean-field")):
            rows = [d for d in out[key] if d["method"] == m]
            if not rows:
                continue
            e = np.array([d["eps"] for d in rows])
            p = np.array([d["p_plus"] for d in rows])
            ci = np.array([d["p_plus_ci"] for d in rows])
            ax.errorbar(e, p, [p - ci[:, 0], ci[:, 1] - p], fmt="o-", ms=3, capsize=2, color=f"C{k}", label=m)
        ax.axhline(0.5, color="k", lw=0.5)
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlabel("seed eps")
        ax.set_ylabel("P(spin = +1)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "p_plus.png"), dpi=110)
    plt.close(fig)

    fig, axs = plt.subplots(1, 3, figsize=(15, 4))
    for k, d in enumerate(d for d in out["B_F"] if d["method"] == "homodyne"):
        if d.get("decision_times"):
            axs[0].hist(d["decision_times"], bins=25, histtype="step", density=True, color=f"C{k}", label=f"F = {d['F']:g}")
    axs[0].set_xlabel("decision time (homodyne, eps = 0)")
    axs[0].legend(fontsize=7)
    for m, mk in (("homodyne", "o-"), ("wigner", "s--")):
        rows = [d for d in out["B_F"] if d["method"] == m and d["decision_time_median"] is not None]
        axs[1].plot([d["F"] for d in rows], [d["growth_rate"] * d["decision_time_median"] for d in rows], mk, label=m)
    axs[1].set_xlabel("F / F_th")
    axs[1].set_ylabel("lambda x median decision time")
    axs[1].legend(fontsize=7)
    d = next(d for d in out["B_F"] if d["method"] == "homodyne" and d["F"] == 2.0)
    for row in d["x_paths"]:
        axs[2].plot(d["t"], row, lw=0.7, color="C3" if row[-1] > 0 else "C0")
    axs[2].axhline(0, color="k", lw=0.5)
    axs[2].set_xlabel("t")
    axs[2].set_ylabel("conditional <x_0> (16 homodyne shots, F = 2)")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "decisions.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    F = [d["F"] for d in out["C"]]
    ax.errorbar(F, [d["W_single_shot"] for d in out["C"]], [d["W_single_shot_err"] for d in out["C"]], fmt="o-", label="mean over shots")
    ax.errorbar(F, [d["W_ensemble"] for d in out["C"]], [d["W_ensemble_err"] for d in out["C"]], fmt="s--", label="ensemble state")
    ax.set_xlabel("F / F_th")
    ax.set_ylabel("ergotropy at t = 20")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "work.png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
