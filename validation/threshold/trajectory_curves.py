"""Moving-basis homodyne trajectories at the quantum threshold, where the exact solver stops
(issue 12, point 5).

For each kappa (gamma_p = 16) and each F on the study's grid F / F_th = 1 + g (-3 .. 6)
(``threshold_study.py``), ``--ntraj`` independent homodyne trajectories (theta = 0, dt = 1e-3) in
the displaced basis (``trajectories.charge(..., basis="displaced")``) run from the vacuum to
T = t_burn + t_avg and their steady state is the TIME average over [t_burn, T] (outputs every
``--dt-out``): the stationary state of an ergodic Markov process is its time average, so one
trajectory past its relaxation samples it, and the spread of the per-trajectory averages gives
the standard error (one trajectory per seed, independent; ntraj - 1 degrees of freedom).

* t_burn = max(20, 3/g): the slowest relaxation near threshold has rate ~ g gamma_s (the restoring
  rate kappa^2 <n_s> / gamma_p with <n_s> ~ 1/g); 3/g leaves ~ e^-3 of the transient from the
  vacuum (above threshold the growth from the vacuum, ln(n_mf) / (F / F_th - 1), is shorter at this
  grid's top).  Every point reports the averages of the first and second halves of its window
  (``n_s_halves``): a transient left over would show as a systematic difference between them.
* t_avg = max(20, 3/g).
* <n_s>: the trajectories' untruncated moment (conditional means in the moving basis, no lab cut).
* Bimodality P''(0) / P(0) of the signal quadrature (``threshold.bimodality``) from the time- and
  trajectory-averaged lab-frame rho_s (the same definition as for the exact steady state), its
  error by the jackknife over trajectories.  The lab output size Ns_out = n_mf + 8 sqrt(n_mf) +
  6/g + 20 covers the crossover's photon-number spread (~ 1/g at threshold); every run carries its
  truncation verdict (``moving.verdict``), kept in the JSON.

    python validation/threshold/trajectory_curves.py [--kappas 0.5,0.3,0.2,0.1] [--ntraj 12] [--n-jobs 2]

Writes validation/threshold/trajectory_curves.json after every point (a stopped run resumes where it
stopped; complete kappas are skipped unless --force); ``threshold_study.py --report-only`` merges it
into REPORT.md and the figure as the method "trajectories".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import tempfile
import time

import numpy as np
from joblib import Parallel, delayed

from cimqb_traj import BatteryParams, jsonio, trajectories
from cimqb_traj.results import atomic_path
from cimqb_traj.threshold import bimodality

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "trajectory_curves.json")


def grid(kappa: float, steps: int):
    p = BatteryParams(kappa=kappa)
    g = kappa / math.sqrt(p.gamma_s * p.gamma_p)
    return p, g, p.threshold * (1 + g * np.linspace(-3, 6, steps))


def lab_sizes(p: BatteryParams, F: float, g: float) -> tuple:
    n_mf = max(0.0, p.gamma_p * p.gamma_s * (F / p.threshold - 1) / (2 * p.kappa**2))
    n_p = 4 * F**2 / p.gamma_p  # the pump's coherent amplitude below threshold, its largest
    return (int(n_mf + 8 * math.sqrt(n_mf) + 6 / g + 20), int(n_p + 6 * math.sqrt(n_p) + 20))


def one_trajectory(p: BatteryParams, t: np.ndarray, k_burn: int, seed: int, dt: float) -> dict:
    r = trajectories.charge(p, t, method="homodyne", basis="displaced", ntraj=1, groups=1, n_jobs=1,
                            seed=seed, dt=dt, progress=False)
    n = np.asarray(r.options["n_s_untruncated"])[k_burn:]
    half = len(n) // 2
    rho = np.mean(np.asarray(r.rho_s)[k_burn:], axis=0)
    return {"n_s": float(n.mean()), "halves": (float(n[:half].mean()), float(n[half:].mean())), "rho": rho,
            "verdict": r.truncation["verdict"], "dims": r.options["dims"]}


def point(p, g, F, ntraj, seed0, dt, dt_out, n_jobs) -> dict:
    t_burn = t_avg = max(20.0, 3.0 / g)
    Ns, Np = lab_sizes(p, F, g)
    q = p.replace(F=float(F), Ns=Ns, Np=Np)
    t = np.concatenate([[0.0], t_burn + np.arange(0.0, t_avg + 1e-9, dt_out)])
    t0 = time.perf_counter()
    runs = Parallel(n_jobs=n_jobs)(delayed(one_trajectory)(q, t, 1, seed0 + k, dt) for k in range(ntraj))
    n = np.array([r["n_s"] for r in runs])
    rho = np.array([r["rho"] for r in runs])
    b = bimodality(rho.mean(axis=0))
    jack = np.array([bimodality(np.delete(rho, k, axis=0).mean(axis=0)) for k in range(ntraj)])
    b_err = math.sqrt((ntraj - 1) / ntraj * np.sum((jack - jack.mean()) ** 2))
    halves = np.array([r["halves"] for r in runs])
    return {"F": float(F), "n_s": float(n.mean()), "n_s_err": float(n.std(ddof=1) / math.sqrt(ntraj)),
            "bimodality": float(b), "bimodality_err": b_err,
            "n_s_halves": halves.mean(axis=0).tolist(),
            "n_s_halves_diff_err": float((halves[:, 1] - halves[:, 0]).std(ddof=1) / math.sqrt(ntraj)),
            "Ns_out": Ns, "Np_out": Np, "t_burn": t_burn, "t_end": float(t[-1]),
            "verdicts": sorted({r["verdict"] for r in runs}),
            "Ns_basis_max": max(r["dims"]["Ns_basis_max"] for r in runs),
            "Np_basis_max": max(r["dims"]["Np_basis_max"] for r in runs),
            "wall_s": time.perf_counter() - t0}


def _stored(kappa: float) -> list:
    done = json.load(open(OUT)) if os.path.exists(OUT) else []
    return next((d["points"] for d in done if d["kappa"] == kappa), [])


@contextlib.contextmanager
def _locked():
    with open(os.path.join(tempfile.gettempdir(), "trajectory_curves.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kappas", default="0.5,0.3,0.2,0.1")
    ap.add_argument("--steps", type=int, default=21)
    ap.add_argument("--ntraj", type=int, default=12)
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--dt-out", type=float, default=2.0)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--reverse", action="store_true", help="run the grid from the top F down (a second process)")
    a = ap.parse_args()
    done = json.load(open(OUT)) if os.path.exists(OUT) else []
    for kappa in map(float, a.kappas.split(",")):
        prev = next((d for d in done if d["kappa"] == kappa), None)
        if prev is not None and prev.get("complete", True) and not a.force:
            continue
        p, g, F = grid(kappa, a.steps)
        mine = []  # this process's points, rewritten at every write (the file holds everyone's)
        order = range(len(F) - 1, -1, -1) if a.reverse else range(len(F))
        for i in order:
            f = F[i]
            if any(abs(x["F"] - f) <= 1e-9 * f for x in _stored(kappa) + mine):
                continue  # done here or by another process working on the same kappa
            x = point(p, g, f, a.ntraj, a.seed + 100 * i, a.dt, a.dt_out, a.n_jobs)
            mine.append(x)
            print(f"kappa {kappa:g} F/F_th {f / p.threshold:.4f}: <n_s> {x['n_s']:.3f} +- {x['n_s_err']:.3f}, "
                  f"b {x['bimodality']:.3f} +- {x['bimodality_err']:.3f}, halves {x['n_s_halves']}, "
                  f"{x['verdicts']}, {x['wall_s']:.0f} s", flush=True)
            with _locked():  # read-merge-write: other processes may add kappas or points of this kappa
                done = json.load(open(OUT)) if os.path.exists(OUT) else []
                prev = next((d for d in done if d["kappa"] == kappa), None)
                pts = {round(y["F"], 9): y for y in (prev["points"] if prev else []) + mine}.values()
                entry = {"kappa": kappa, "g": g, "F_th": p.threshold, "ntraj": a.ntraj, "dt": a.dt,
                         "dt_out": a.dt_out, "seed": a.seed, "wall_s": sum(y["wall_s"] for y in pts),
                         "complete": len(pts) == len(F), "points": sorted(pts, key=lambda y: y["F"])}
                done = sorted([d for d in done if d["kappa"] != kappa] + [entry], key=lambda d: -d["kappa"])
                with atomic_path(OUT) as tmp, open(tmp, "w") as fh:  # after every point: a stopped run resumes
                    json.dump(jsonio.clean(done), fh, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
