"""Finite-ensemble bias of the ergotropy and coverage of its error bars (issue 4, item 4).

Ergotropy is a convex function of the state (W = Tr rho H - min_U Tr U rho U^dag H), so W of
the averaged state of N trajectories is biased upwards, by O(1/N) (Jensen).  Over many
independent runs at a small truncation (Ns = 4, Np = 3, kappa = 0.8, gamma_p = 4, F = 1.5) this
script measures, at several times, against the exact solver:

* the bias of the plain estimate W(mean rho) and of the jackknife bias-corrected W_bc;
* the coverage of the 95 % Student-t interval W_bc +- t_{0.975, G-1} W_err (G = 20 groups);
* the ratio of the mean reported error to the actual spread of the estimates over runs.

    python validation/trajectories/bias_coverage.py [--runs 400] [--ntraj 200] [--homodyne-runs 100]

Prints a Markdown table and writes validation/trajectories/bias_coverage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

import numpy as np

from cimqb_traj import BatteryParams
from cimqb_traj.exact import TruncationWarning, charge
from cimqb_traj.trajectories import charge_problem, interval, method, run

HERE = os.path.dirname(os.path.abspath(__file__))
P = BatteryParams(Ns=4, Np=3, F=1.5, kappa=0.8, gamma_p=4.0)
T = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])


def study(name, m, runs, ntraj, exact_W):
    pr = charge_problem(P, T)
    res = [run(m, pr, ntraj, seed=10_000 + s, groups=20) for s in range(runs)]
    W = np.array([r.W for r in res])
    Wbc = np.array([r.W_bc for r in res])
    err = np.array([r.W_err for r in res])
    rows = []
    for k in range(1, len(T)):
        lo, hi = interval(Wbc[:, k], err[:, k], 20)
        cov = float(np.mean((lo <= exact_W[k]) & (exact_W[k] <= hi)))
        lo_p, hi_p = interval(W[:, k], err[:, k], 20)
        cov_p = float(np.mean((lo_p <= exact_W[k]) & (exact_W[k] <= hi_p)))
        se = lambda x: float(x.std(ddof=1) / np.sqrt(runs))  # noqa: E731
        rows.append({
            "t": float(T[k]), "W_exact": float(exact_W[k]), "mean_err": float(err[:, k].mean()),
            "bias_plain": float(W[:, k].mean() - exact_W[k]), "bias_plain_se": se(W[:, k]),
            "bias_bc": float(Wbc[:, k].mean() - exact_W[k]), "bias_bc_se": se(Wbc[:, k]),
            "spread_plain": float(W[:, k].std(ddof=1)), "spread_bc": float(Wbc[:, k].std(ddof=1)),
            "coverage_bc": cov, "coverage_plain": cov_p, "coverage_se": float(np.sqrt(0.95 * 0.05 / runs)),
        })
    return {"method": name, "runs": runs, "ntraj": ntraj, "rows": rows}


def table(s) -> str:
    out = [f"### {s['method']}: {s['runs']} runs of {s['ntraj']} trajectories, 20 groups", "",
           "| t | W exact | mean W_err | bias plain | bias corrected | spread / W_err | coverage (bc) | coverage (plain) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        out.append(
            f"| {r['t']:g} | {r['W_exact']:.4f} | {r['mean_err']:.4f} | {r['bias_plain']:+.5f} +- {r['bias_plain_se']:.5f} "
            f"| {r['bias_bc']:+.5f} +- {r['bias_bc_se']:.5f} | {r['spread_bc'] / r['mean_err']:.2f} "
            f"| {r['coverage_bc']:.3f} | {r['coverage_plain']:.3f} |")
    out.append(f"\n(binomial standard error of a coverage near 0.95: {s['rows'][0]['coverage_se']:.3f})")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--ntraj", type=int, default=200)
    ap.add_argument("--homodyne-runs", type=int, default=100)
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)  # the same truncation on both sides
        exact_W = charge(P, T, engine="qutip", trunc_tol=None).W
    out = [study("jump", method("jump"), a.runs, a.ntraj, exact_W)]
    if a.homodyne_runs:
        out.append(study("homodyne", method("homodyne", dt=2e-3), a.homodyne_runs, a.ntraj, exact_W))
    with open(os.path.join(HERE, "bias_coverage.json"), "w") as f:
        json.dump({"params": P.to_dict(), "studies": out}, f, indent=1)
    text = "\n\n".join(table(s) for s in out)
    with open(os.path.join(HERE, "BIAS_COVERAGE.md"), "w") as f:
        f.write("# Ergotropy bias and error-bar coverage\n\n" + text + "\n")
    print(text)


if __name__ == "__main__":
    main()
