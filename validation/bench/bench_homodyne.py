"""Homodyne trajectories: ``cimqb_traj.trajectories`` against ``qutip.ssesolve``, in one process.

Workload (issue 12, point 7): the paper's defaults (Ns = 32, Np = 9, kappa = 0.5, gamma_p = 16,
F = 3), vacuum start, t = 0..5 with 51 outputs, fixed step dt = 1e-3 (5000 steps), 100
trajectories, every channel (signal loss and pump loss) measured by homodyne detection at
phase 0 -- the same unraveling in both: c_j = L_j, record dY_j = 2 Re<L_j> dt + dW_j.

* ours: ``trajectories.charge(..., method="homodyne", dt=1e-3, trunc_tol=0)`` (Milstein kick on
  an RK4-stable drift, ``homodyne``'s docstring), ``n_jobs`` worker processes;
* qutip: ``qutip.ssesolve`` with ``options={"method": "platen", "dt": 1e-3, "map": "parallel",
  "num_cpus": n_jobs}`` (explicit order-1 strong scheme, the same fixed step), <n_s> as its
  e_op, per-trajectory expectations kept for the error bar.

Both give <n_s>(t) with a standard error (ours: jackknife over 20 groups; qutip: the standard
deviation of its per-trajectory values / sqrt(ntraj)), each compared with the exact solver
(``exact.charge`` at the same truncation, the master equation both unravel) in units of its
own error.  Then both run serially in this process (``--cpu``) and their CPU time per
trajectory is compared: steadier than wall times when other jobs share the machine.  Both draw trajectory k's noise from ``SeedSequence(0).spawn(ntraj)[k]`` = our
``rng(0, k)`` (qutip 5's ``seeds=0``) as PCG64 normals, step after step, channel after
channel, scaled by sqrt(dt): the two engines integrate the *same Brownian paths*, so their
difference is the schemes' pathwise (strong) difference, not statistics -- it is printed
against the statistical error bar, and it must be far below it.  Each engine is warmed up first (worker
start-up, numba / qutip's first-call costs), untimed.  Neither run's truncation is checked
(``trunc_tol=0``; qutip has no such check).

    python validation/bench/bench_homodyne.py               # ~1 minute on 2 cores
    python validation/bench/bench_homodyne.py --ntraj 200   # more trajectories, both engines
    python validation/bench/bench_homodyne.py --groups 4    # ours in 4 groups of 25: wider blocks

Prints the wall times and the ratio ssesolve / ours; the issue aims at >= 20x.  Exit status 1
if the answers disagree: max |z| above the project's threshold (``tests/stats.py``: Student t with
the jackknife's 19 degrees of freedom, family-wise rate 1e-3 Bonferroni-split over the 2 x 50
comparisons with the exact solver; conservative for ssesolve's 100-sample error), or if the
pathwise difference exceeds half of ours' error bar.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from cimqb_traj import BatteryParams, exact, model
from cimqb_traj.trajectories import charge

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from stats import z_crit  # noqa: E402  (the one statistical threshold of the project)

TARGET = 20.0
GROUPS = 20  # ours: jackknife groups (the ensemble's default)


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def ours(p, t, ntraj, n_jobs, dt, groups):
    t0 = time.perf_counter()
    r = charge(p, t, method="homodyne", dt=dt, ntraj=ntraj, seed=0, n_jobs=n_jobs, progress=False,
               trunc_tol=0, groups=groups)
    return time.perf_counter() - t0, r.n_s, r.n_s_err


def cpu_per_traj(p, t, dt, groups, n_ours: int, n_sse: int):
    """CPU seconds per trajectory of each engine, both serial in this process (``time.process_time``;
    steadier than wall times on a shared machine).  Ours in ``groups`` groups, as timed above."""
    t0 = time.process_time()
    charge(p, t, method="homodyne", dt=dt, ntraj=n_ours, seed=0, n_jobs=1, progress=False, trunc_tol=0,
           groups=groups)
    c_ours = (time.process_time() - t0) / n_ours
    t0 = time.process_time()
    ssesolve(p, t, n_sse, 1, dt)
    return c_ours, (time.process_time() - t0) / n_sse


def ssesolve(p, t, ntraj, n_jobs, dt):
    import qutip

    psi0 = qutip.tensor(qutip.basis(p.Ns, 0), qutip.basis(p.Np, 0))
    n_s = qutip.tensor(qutip.num(p.Ns), qutip.qeye(p.Np))
    opts = {"method": "platen", "dt": dt, "store_states": False, "keep_runs_results": True,
            "progress_bar": False, "map": "parallel" if n_jobs > 1 else "serial", "num_cpus": n_jobs}
    t0 = time.perf_counter()
    res = qutip.ssesolve(model.hamiltonian(p), psi0, t, sc_ops=model.collapse_ops(p), e_ops=[n_s],
                         ntraj=ntraj, options=opts, seeds=0)
    wall = time.perf_counter() - t0
    runs = np.real(np.asarray(res.runs_expect[0]))  # (ntraj, nt)
    return wall, runs.mean(axis=0), runs.std(axis=0, ddof=1) / np.sqrt(runs.shape[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ntraj", type=int, default=100)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of ours (median used)")
    ap.add_argument("--cpu", type=int, default=20, help="ssesolve trajectories of the serial CPU-time "
                    "comparison (ours: --ntraj of them; 0: skip it)")
    ap.add_argument("--groups", type=int, default=GROUPS,
                    help="ours: trajectory groups (jackknife, parallel unit; the homodyne kernel "
                         "vectorises over the trajectories of a group, so fewer groups run faster)")
    a = ap.parse_args()
    p = BatteryParams()
    t = np.linspace(0.0, 5.0, 51)
    print(f"machine: {os.cpu_count()} CPUs; n_jobs = {a.n_jobs}; paper defaults, t = 0..5 (51 outputs), "
          f"dt = {a.dt:g}, {a.ntraj} homodyne trajectories, every channel; {load()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        charge(BatteryParams(Ns=6, Np=3), [0.0, 0.1], method="homodyne", dt=a.dt, ntraj=2 * a.n_jobs,
               seed=0, progress=False, trunc_tol=0, n_jobs=a.n_jobs, groups=2 * a.n_jobs)
        w_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ssesolve(BatteryParams(Ns=6, Np=3), [0.0, 0.1], 2 * a.n_jobs, a.n_jobs, a.dt)
        w_qt = time.perf_counter() - t0
    print(f"warm-up (untimed): ours {w_ours:.2f} s, ssesolve {w_qt:.2f} s")
    runs = [ours(p, t, a.ntraj, a.n_jobs, a.dt, a.groups) for _ in range(a.repeat)]
    walls = [r[0] for r in runs]
    wall = sorted(walls)[len(walls) // 2]
    _, n1, e1 = runs[0]
    assert all(np.array_equal(r[1], n1) for r in runs)
    print(f"cimqb_traj homodyne runs: {', '.join(f'{w:.2f}' for w in walls)} s (median {wall:.2f} s; "
          "identical results each time)")
    q_wall, n2, e2 = ssesolve(p, t, a.ntraj, a.n_jobs, a.dt)
    print(f"qutip.ssesolve (platen): {q_wall:.2f} s")
    ratio = q_wall / wall
    print(f"speed-up ssesolve / cimqb_traj = {ratio:.1f}x (issue's aim >= {TARGET:g})")
    if a.cpu > 0:
        c_ours, c_sse = cpu_per_traj(p, t, a.dt, a.groups, a.ntraj, a.cpu)
        print(f"CPU time per trajectory, serial, one process ({a.ntraj} ours in {a.groups} groups, {a.cpu} "
              f"ssesolve): ours {c_ours * 1e3:.1f} ms, ssesolve {c_sse * 1e3:.1f} ms: {c_sse / c_ours:.1f}x")
    ex = exact.charge(p, t, trunc_tol=0)
    n_ex = np.einsum("tii,i->t", ex.rho_s, np.arange(p.Ns)).real
    s = slice(1, None)  # t = 0: the vacuum, no spread
    Z_MAX = z_crit(2 * (len(t) - 1), min(a.groups, GROUPS))
    d12 = np.abs(n1 - n2)[s] / e1[s]  # same paths: a pathwise difference, not a z-score
    z1 = (n1 - n_ex)[s] / e1[s]
    z2 = (n2 - n_ex)[s] / e2[s]
    for k in (10, 30, 50):
        print(f"  t = {t[k]:3.1f}: <n_s> ours {n1[k]:.4f} +- {e1[k]:.4f}, ssesolve {n2[k]:.4f} +- {e2[k]:.4f}, "
              f"exact {n_ex[k]:.4f}")
    print(f"  same Brownian paths: max over t of |ours - ssesolve| / ours' error bar = {np.max(d12):.3f} "
          f"(largest |ours - ssesolve| {np.max(np.abs(n1 - n2)):.4f})")
    print(f"  max |z| over t against the exact solver: ours {np.max(np.abs(z1)):.2f}, "
          f"ssesolve {np.max(np.abs(z2)):.2f} (bound {Z_MAX:.2f}; one sample of paths, so the two are correlated)")
    print(f"  mean error bar: ours {e1[s].mean():.4f}, ssesolve {e2[s].mean():.4f}")
    print(load())
    # the pathwise difference of two weak/strong order-1 schemes at dt = 1e-3 is a small
    # fraction of the statistical error of 100 trajectories: 0.5 of it is a generous bound
    ok = max(np.max(np.abs(z1)), np.max(np.abs(z2))) <= Z_MAX and np.max(d12) <= 0.5
    print("answers agree" if ok else "ANSWERS DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
