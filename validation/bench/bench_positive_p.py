"""Positive-P at the paper's defaults: wall time and time-step convergence (issue 5, item 8).

Workload: Ns = 32, Np = 9 (sizes of the estimated Fock blocks), kappa = 0.5, gamma_p = 16, F = 3,
vacuum, t = 0..40 with 41 outputs, ``--samples`` positive-P samples (issue: 1e5) on ``--n-jobs``
processes, at step dt and dt/2 with the same seed.  Prints each wall time (and, with fewer than
1e5 samples, the time scaled to 1e5), n_s(40), n_p(40) and W(40) with errors, the dt - dt/2
differences in standard errors (the step is converged when they are within ~2-3), and the
diverged / spiking counts.  (``phasespace.moments`` gives <a_s^2> and the other normally
ordered moments of a run.)  Requirement: <= 60 s for 1e5 samples on 2 cores.

    python validation/bench/bench_positive_p.py [--samples 100000] [--dt 1e-3] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from cimqb_traj import BatteryParams
from cimqb_traj.phasespace import PositiveP, diverged
from cimqb_traj.trajectories import charge_problem, run

TARGET_S, TARGET_N = 60.0, 100_000


def one(samples, dt, n_jobs):
    pr = charge_problem(BatteryParams(), np.arange(41.0))
    t0 = time.perf_counter()
    r = run(PositiveP(dt=dt), pr, samples, seed=1, n_jobs=n_jobs, progress=False)
    return time.perf_counter() - t0, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=TARGET_N)
    ap.add_argument("--dt", type=float, default=1e-3, help="step; the run also uses dt/2 (default 1e-3)")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    run(PositiveP(dt=0.01), charge_problem(BatteryParams(Ns=6, Np=3), [0.0, 0.1]), 4, 0, n_jobs=a.n_jobs,
        progress=False)  # start the workers and load the kernels
    res = {}
    for dt in (a.dt, a.dt / 2):
        wall, r = one(a.samples, dt, a.n_jobs)
        res[dt] = r
        scaled = wall * TARGET_N / a.samples
        note = "" if a.samples == TARGET_N else f" (scaled to {TARGET_N}: {scaled:.0f} s)"
        print(f"dt = {dt:g}: {a.samples} samples, {wall:.1f} s{note}; diverged/spiking {diverged(r)}")
        print(f"  t = 40: n_s = {r.n_s[-1]:.4f} +- {r.n_s_err[-1]:.4f}, W = {r.W[-1]:.4f} +- {r.W_err[-1]:.4f} "
              f"(W_bc {r.W_bc[-1]:.4f}), n_p = {r.n_p[-1]:.4f} +- {r.n_p_err[-1]:.4f}")
        if a.samples == TARGET_N and dt == a.dt:
            print(f"  <= {TARGET_S:g} s: {'yes' if wall <= TARGET_S else 'NO'}")
    r1, r2 = res[a.dt], res[a.dt / 2]
    for name in ("n_s", "W", "n_p"):
        d = getattr(r1, name)[-1] - getattr(r2, name)[-1]
        e = np.hypot(getattr(r1, name + "_err")[-1], getattr(r2, name + "_err")[-1])
        print(f"step halving, {name}(40): {d:+.4f} = {d / e:+.2f} combined standard errors")


if __name__ == "__main__":
    main()
