"""``cimqb-traj phase-selection``: single-shot spin statistics over seeds eps and pumps F (``spin``)."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from .params import BatteryParams
from .results import atomic_path


def add_parser(sub, real) -> None:
    d = BatteryParams()
    p = sub.add_parser("phase-selection", help="single-shot spin: P(+1), decision times, single-shot work")
    g = p.add_argument_group("model (defaults are the paper's)")
    for opt, attr in (("--kappa", "kappa"), ("--gamma-s", "gamma_s"), ("--gamma-p", "gamma_p")):
        g.add_argument(opt, type=real, default=getattr(d, attr), help=f"({getattr(d, attr):g})")
    g.add_argument("--eps", default="0", help="comma-separated coherent seeds eps (0)")
    g.add_argument("--F", default=f"{d.F:g}", help=f"comma-separated pump amplitudes ({d.F:g})")
    g.add_argument("--t-ramp", type=real, default=None, help="pump ramp duration (none)")
    g.add_argument("--ns", type=int, default=d.Ns, help=f"signal Fock dimension, exact/homodyne ({d.Ns})")
    g.add_argument("--np", type=int, default=d.Np, help=f"pump Fock dimension, exact/homodyne ({d.Np})")
    r = p.add_argument_group("run")
    r.add_argument("--method", default="homodyne",
                   help="comma-separated: homodyne, wigner, positive-p, exact, mean-field (homodyne)")
    r.add_argument("--t-end", type=real, default=20.0, help="time at which the spin is read, 1/gamma_s (20)")
    r.add_argument("--dt-out", type=real, default=0.1, help="output step of the paths (0.1)")
    r.add_argument("--frac", type=real, default=0.5, help="decision level: fraction of the mean-field amplitude (0.5)")
    r.add_argument("--ntraj", type=int, default=500, help="shots per (eps, F) and method (500)")
    r.add_argument("--seed", type=int, default=0, help="seed (0)")
    r.add_argument("--n-jobs", type=int, default=1, help="parallel workers (1)")
    r.add_argument("--dt", type=real, default=None, help="time step of homodyne / wigner / positive-p (method default)")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.add_argument("--out", metavar="DIR", help="write phase_selection.json and plots into DIR")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def _floats(text: str, name: str, UsageError) -> list:
    try:
        v = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{name}: not a comma-separated list of numbers: {text!r}") from None
    if not v or not all(math.isfinite(x) for x in v):
        raise UsageError(f"{name}: needs finite numbers, got {text!r}")
    return v


def run(a, UsageError) -> int:
    from .spin import METHODS, phase_selection

    eps = _floats(a.eps, "--eps", UsageError)
    Fs = _floats(a.F, "--F", UsageError)
    methods = [m.strip() for m in a.method.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UsageError(f"--method: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}")
    if a.ntraj < 2:
        raise UsageError(f"--ntraj: needs at least 2, got {a.ntraj}")
    base = BatteryParams(kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, Ns=a.ns, Np=a.np, t_ramp=a.t_ramp)
    opts = {} if a.dt is None else {"dt": a.dt}
    grid = [(e, f) for f in Fs for e in eps]
    doc = {"eps": [e for e, _ in grid], "F": [f for _, f in grid], "t_end": a.t_end, "frac": a.frac,
           "methods": methods, "params": base.to_dict()}
    keys = ("p_plus", "p_plus_ci", "decision_time_median", "decision_time_ci", "undecided", "W_single_shot",
            "W_single_shot_err", "W_ensemble", "W_ensemble_err", "p_plus_quadrature", "p_plus_quadrature_err")
    for k in keys:
        doc[k] = {m: [] for m in methods}
    doc["decision_times"] = {m: [] for m in methods}
    paths = {}
    for m in methods:
        for e, f in grid:
            res = phase_selection(base.replace(eps=e, F=f), m, ntraj=a.ntraj, seed=a.seed, t_end=a.t_end,
                                  dt_out=a.dt_out, frac=a.frac, n_jobs=a.n_jobs,
                                  progress=False if a.no_progress else None,
                                  **(opts if m in ("homodyne", "wigner", "positive-p") else {}))
            d = res.to_dict()
            for k in keys:
                doc[k][m].append(d[k])
            dts = res.decision_times
            doc["decision_times"][m].append(None if dts is None else [float(x) for x in dts if np.isfinite(x)])
            if res.x_paths is not None and m == "homodyne" and (e, f) == grid[-1]:
                paths[m] = (res.t, res.x_paths)
    if a.out:
        from .plotting import plot_phase_selection

        with atomic_path(os.path.join(a.out, "phase_selection.json")) as tmp, open(tmp, "w") as fh:
            json.dump(doc, fh)
        plot_phase_selection(doc, paths, os.path.join(a.out, "phase_selection.png"))
    if a.json:
        json.dump({k: v for k, v in doc.items() if k != "decision_times"}, sys.stdout)
        print()
    else:
        print(f"phase selection, kappa={a.kappa:g} gamma_p={a.gamma_p:g}, spin read at t={a.t_end:g}, {a.ntraj} shots")
        for m in methods:
            for i, (e, f) in enumerate(grid):
                lo, hi = doc["p_plus_ci"][m][i]
                line = f"  {m:10s} eps={e:<7g} F={f:<6g} P(+1)={doc['p_plus'][m][i]:.4f} [{lo:.4f}, {hi:.4f}]"
                if doc["decision_time_median"][m][i] is not None:
                    line += f"  median decision time {doc['decision_time_median'][m][i]:.2f}"
                if doc["W_single_shot"][m][i] is not None:
                    line += (f"  W single shot {doc['W_single_shot'][m][i]:.3f} +- {doc['W_single_shot_err'][m][i]:.3f}"
                             f" vs ensemble {doc['W_ensemble'][m][i]:.3f} +- {doc['W_ensemble_err'][m][i]:.3f}")
                print(line)
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'phase_selection.json')} and phase_selection.png")
    return 0
