"""The dense limit, measured: how far the exact (density-matrix) solver reaches on this machine.

For a ladder of truncations at the issue-12 target's physics (kappa = 0.1, gamma_p = 16, F = 15),
run ``exact.charge`` over a short window (t = 0..T_WIN), record wall time and peak memory, and
compare with ``resources``' closed-form estimates (memory; steps from the generator's spectral
bound).  Then extrapolate with those estimates: the largest (Ns, Np) whose exact run fits in the
memory this machine has, its time for t = 0..40, and what the cases that trajectories reach would
need.  Writes dense_limit.json and prints a Markdown table (copied into LARGE_TRUNCATION.md).

    python validation/trajectories/dense_limit.py        # ~3 min on 2 cores
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
T_WIN = 0.5
LADDER = [(32, 9), (64, 12), (96, 16), (128, 20), (160, 24)]
TARGET = dict(kappa=0.1, gamma_p=16.0, F=15.0)

CHILD = r"""
import json, resource, sys, time
import numpy as np
from cimqb_traj import BatteryParams, exact
Ns, Np, T = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
p = BatteryParams(Ns=Ns, Np=Np, **json.loads(sys.argv[4]))
exact.charge(p, [0.0, 1e-3], trunc_tol=0, progress=False)   # compile numba kernels outside the timing
t0 = time.perf_counter()
exact.charge(p, [0.0, T], trunc_tol=0, progress=False)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def estimate(Ns, Np, t_span):
    from cimqb_traj import BatteryParams, resources

    p = BatteryParams(Ns=Ns, Np=Np, **TARGET)
    terms = resources.spectral_bound(Ns, Np, **resources._rates(p))
    steps = t_span * sum(terms.values()) / resources._STABILITY
    return resources._exact_memory(Ns, Np, 2), steps


def main():
    from cimqb_traj import resources

    rows = []
    for Ns, Np in LADDER:
        out = subprocess.run([sys.executable, "-c", CHILD, str(Ns), str(Np), str(T_WIN), json.dumps(TARGET)],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            break
        m = json.loads(out.stdout.strip().splitlines()[-1])
        mem, steps = estimate(Ns, Np, T_WIN)
        rows.append({"Ns": Ns, "Np": Np, "D": Ns * Np, "wall_s": m["wall_s"], "peak_rss": m["peak_rss"],
                     "memory_estimate": mem, "steps_estimate": steps,
                     "s_per_step_entry": m["wall_s"] / steps / (Ns * Np) ** 2})
        print(rows[-1], flush=True)
    avail = resources.MEMORY_FRACTION * resources.available_memory()
    # time per step grows like D^2 (the packed state); calibrate on the largest measured run
    c = rows[-1]["s_per_step_entry"]
    big = []
    for Ns, Np in [(256, 32), (384, 48), (560, 100), (700, 60)]:
        mem, steps = estimate(Ns, Np, 40.0)
        big.append({"Ns": Ns, "Np": Np, "D": Ns * Np, "memory_estimate": mem, "fits": mem <= avail,
                    "steps_estimate_t40": steps, "time_estimate_t40_s": c * steps * (Ns * Np) ** 2})
    doc = {"target_params": TARGET, "window": T_WIN, "available_bytes": avail, "measured": rows,
           "extrapolated": big}
    with open(os.path.join(HERE, "dense_limit.json"), "w") as f:
        json.dump(doc, f, indent=1)
    gib = 2.0**30
    print("\n| Ns | Np | D = Ns Np | memory (est.) | measured peak RSS | wall for t = 0..%g |" % T_WIN)
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['Ns']} | {r['Np']} | {r['D']} | {r['memory_estimate'] / gib:.2f} GiB | "
              f"{r['peak_rss'] / gib:.2f} GiB | {r['wall_s']:.1f} s |")
    print(f"\nAvailable for one run (80 % of free memory): {avail / gib:.1f} GiB\n")
    print("| Ns | Np | D | memory (est.) | fits | time for t = 0..40 (est.) |")
    print("|---|---|---|---|---|---|")
    for r in big:
        print(f"| {r['Ns']} | {r['Np']} | {r['D']} | {r['memory_estimate'] / gib:.1f} GiB | "
              f"{'yes' if r['fits'] else 'no'} | {r['time_estimate_t40_s'] / 3600:.1f} h |")


if __name__ == "__main__":
    main()
