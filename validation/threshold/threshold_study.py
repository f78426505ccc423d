"""Quantum threshold estimates against the mean-field F_th as the nonlinearity g decreases.

g = kappa / sqrt(gamma_s gamma_p) measures quantum noise at threshold (mean-field photon numbers
scale as 1/g^2).  For each kappa (gamma_p = 16) the steady state is computed over
F = F_th * (0.2 .. 1.6) by the exact solver at a truncation sized from the mean-field photon
number at the largest F (Ns = n + 6 sqrt(n) + 10), and the two quantum estimates of
``cimqb_traj.threshold`` (curvature peak of <n_s>(F), onset of a bimodal quadrature distribution)
are compared with F_th.

    python validation/threshold/threshold_study.py [--kappas 1.0,0.7,0.5] [--steps 15]

Writes validation/threshold/threshold_study.json, threshold_study.png and REPORT.md.
The smaller kappa (down to 0.1) need truncations the exact steady-state solver cannot reach
here; they are for the phase-space methods (issue 5, open).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

from cimqb_traj import BatteryParams
from cimqb_traj.threshold import sweep

HERE = os.path.dirname(os.path.abspath(__file__))


def one(kappa: float, steps: int) -> dict:
    p0 = BatteryParams(kappa=kappa)
    Fth = p0.threshold
    F = Fth * np.linspace(0.2, 1.6, steps)
    n_max = p0.gamma_p * p0.gamma_s * (F[-1] / Fth - 1) / (2 * kappa**2)
    Ns = int(math.ceil(n_max + 6 * math.sqrt(n_max) + 10))
    p = p0.replace(Ns=Ns, Np=9)
    t0 = time.perf_counter()
    r = sweep(p, F, progress=False)
    r.update(kappa=kappa, g=kappa / math.sqrt(p.gamma_s * p.gamma_p), Ns=Ns, Np=9, wall_s=time.perf_counter() - t0)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kappas", default="1.0,0.7,0.5")
    ap.add_argument("--steps", type=int, default=15)
    a = ap.parse_args()
    runs = [one(float(k), a.steps) for k in a.kappas.split(",")]
    with open(os.path.join(HERE, "threshold_study.json"), "w") as f:
        json.dump(runs, f, indent=1)
    lines = ["# Quantum threshold estimates against mean field", "",
             "Steady states by the exact solver, gamma_p = 16, F = F_th x (0.2 .. 1.6); estimates in units of F_th.", "",
             "| kappa | g | Ns | F_th | curvature / F_th | bimodal / F_th | wall (s) |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        q = r["F_th_quantum"]["exact"]
        lines.append(f"| {r['kappa']:g} | {r['g']:.3f} | {r['Ns']} | {r['F_th_meanfield']:.4g} | "
                     f"{q['curvature'] / r['F_th_meanfield']:.3f} | {q['bimodal'] / r['F_th_meanfield']:.3f} | {r['wall_s']:.0f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write(text)
    print(text)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, r in enumerate(runs):
        x = np.array(r["F"]) / r["F_th_meanfield"]
        ax.plot(x, np.array(r["n_s"]["exact"]) * r["g"] ** 2, "o-", ms=3, color=f"C{k}", label=f"exact, g = {r['g']:.3f}")
        ax.plot(x, np.array(r["n_s"]["mean-field"]) * r["g"] ** 2, "-", lw=0.8, color=f"C{k}")
    ax.set_xlabel("F / F_th")
    ax.set_ylabel(r"$g^2 \langle n_s \rangle$ (mean field: lines)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "threshold_study.png"), dpi=120)


if __name__ == "__main__":
    main()
