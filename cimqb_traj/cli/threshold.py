"""``cimqb-traj threshold``: the steady-state <n_s> over a grid of pump amplitudes, the mean-field
threshold and the quantum threshold estimates per method (``cimqb_traj.threshold.sweep``);
``threshold.json``, ``threshold.h5`` (netCDF-4) and ``threshold.png`` with ``--out``."""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

from .. import resources
from ..params import BatteryParams
from ..results import atomic_path
from .common import (EPILOG, EXIT_INTERRUPTED, EXIT_OK, UsageError, _alias, _deprecated, _dflt, _dump, _methods, _opt,
                     _output_args, _print_json, _real, _trunc_tol, _trunc_tol_arg, _truncation_line,
                     _warn_deprecated, add_param, unit_help)

#: options of the sampled methods (positive-p, wigner) only, and their defaults
_SAMPLED_ONLY = ("ntraj", "t_steady", "dt", "seed", "n_jobs")
_DEFAULTS = {"ntraj": 2000, "t_steady": 30.0, "seed": 0, "n_jobs": 1}
#: the pump grid and the methods swept by default
_GRID = {"F_min": 1.0, "F_max": 3.0, "F_steps": 21, "method": "mean-field,exact"}


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``threshold`` on the subparsers ``sub``."""
    th = sub.add_parser("threshold", help="steady-state <n_s> over the pump: mean-field and quantum thresholds",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = th.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p", "delta", "nth_s", "nth_p"):
        add_param(g, name)
    for name in ("Ns", "Np"):
        add_param(g, name, given_only=True, note="--method exact only")
    for dest, text in (("F_min", "smallest pump amplitude"), ("F_max", "largest pump amplitude")):
        g.add_argument(_opt(dest), type=_real, default=_GRID[dest],
                       help=unit_help("F", text, _GRID[dest]))
    g.add_argument("--F-steps", type=int, default=_GRID["F_steps"],
                   help=_dflt(_GRID, "F_steps", "number of pump amplitudes, uniform grid"))
    r = th.add_argument_group("run")
    r.add_argument("--method", default=None,
                   help=_dflt(_GRID, "method", "comma-separated: mean-field, exact, positive-p, wigner"))
    r.add_argument("--ntraj", type=int, default=None,
                   help=_dflt(_DEFAULTS, "ntraj", "positive-p / wigner: samples per pump value"))
    r.add_argument("--t-steady", type=_real, default=None,
                   help=unit_help("t_steady", "positive-p / wigner: integration time to the steady state",
                                  _DEFAULTS["t_steady"]))
    r.add_argument("--dt", type=_real, default=None,
                   help=unit_help("dt", "positive-p / wigner: time step", "the method's"))
    r.add_argument("--seed", type=int, default=None,
                   help=_dflt(_DEFAULTS, "seed", "positive-p / wigner: seed (pump value k uses seed + k)"))
    r.add_argument("--n-jobs", type=int, default=None,
                   help=_dflt(_DEFAULTS, "n_jobs", "positive-p / wigner: parallel workers"))
    _trunc_tol_arg(r, "--method exact only: ")
    _deprecated(r, "--methods", "method")
    _deprecated(r, "--samples", "ntraj", type=int)
    _output_args(r, "threshold.json, threshold.h5 (netCDF-4) and threshold.png")
    return th


def run(a) -> int:
    """Run ``threshold`` from the parsed arguments ``a``; returns the exit code."""
    from .. import threshold

    for name, v in (("F_min", a.F_min), ("F_max", a.F_max)):
        if not math.isfinite(v) or v < 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be finite and >= 0, got {v}")
    if a.F_steps < 5:
        raise UsageError(f"--F-steps: needs at least 5 points, got {a.F_steps}")
    if a.F_max <= a.F_min:
        raise UsageError(f"--F-max: must exceed --F-min ({a.F_min:g}), got {a.F_max:g}")
    m_opt, n_opt = _alias(a, "method"), _alias(a, "ntraj")
    methods = _methods(a.method or _GRID["method"], threshold.METHODS, m_opt)
    sampled = [m for m in methods if m in ("positive-p", "wigner")]
    for dest in _SAMPLED_ONLY:
        if getattr(a, dest) is not None and not sampled:
            opt = n_opt if dest == "ntraj" else _opt(dest)
            raise UsageError(f"{opt}: applies to {m_opt} positive-p / wigner only, not {','.join(methods)}")
        if getattr(a, dest) is None and dest in _DEFAULTS:
            setattr(a, dest, _DEFAULTS[dest])
    for dest in ("ns", "np", "trunc_tol"):
        if getattr(a, dest) is not None and "exact" not in methods:
            raise UsageError(f"{_opt(dest)}: applies to {m_opt} exact only (the Fock-space steady state), "
                             f"not {','.join(methods)}")
    d = BatteryParams()
    p = BatteryParams(kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, F=max(a.F_max, 0.0), delta=a.delta,
                      nth_s=a.nth_s, nth_p=a.nth_p, Ns=a.ns if a.ns is not None else d.Ns,
                      Np=a.np if a.np is not None else d.Np)
    tol = _trunc_tol(a)
    if sampled:
        if a.ntraj < 5:
            raise UsageError(f"{n_opt}: needs at least 5, got {a.ntraj}")
        if not math.isfinite(a.t_steady) or a.t_steady <= 0:
            raise UsageError(f"--t-steady: must be finite and > 0, got {a.t_steady}")
    resources.check_sweep(p, a.F_steps, methods, samples=a.ntraj or 0, t_steady=a.t_steady or 1.0, dt=a.dt,
                          n_jobs=a.n_jobs, F_max=a.F_max)
    _warn_deprecated(a)
    res = threshold.sweep(p, np.linspace(a.F_min, a.F_max, a.F_steps), methods,
                          progress=False if a.no_progress else None, samples=a.ntraj, t_steady=a.t_steady,
                          dt=a.dt, seed=a.seed, n_jobs=a.n_jobs, trunc_tol=tol)
    res["params"] = {k: v for k, v in p.to_dict().items() if k != "F"}
    interrupted = bool(res.get("interrupted", False))
    if a.out:
        from ..plotting import plot_threshold

        with atomic_path(os.path.join(a.out, "threshold.json")) as tmp, open(tmp, "w") as f:
            _dump(res, f, indent=1)
        plot_threshold(res, os.path.join(a.out, "threshold.png"))
        res.save(os.path.join(a.out, "threshold.h5"))  # netCDF-4: xarray.open_dataset reads it
    if a.json:
        _print_json(res)
    else:
        print(f"threshold sweep F = {a.F_min:g}..{a.F_max:g} ({a.F_steps} points), kappa={p.kappa:g} "
              f"gamma_p={p.gamma_p:g} delta={p.delta:g} Ns={p.Ns} Np={p.Np}")
        if interrupted:
            print("  INTERRUPTED: only the pump values listed in the output were computed")
        print(f"  mean-field threshold F_th = {res['F_th_meanfield']:.6g}")
        reasons = res.get("F_th_quantum_reason", {})
        for m, est in res["F_th_quantum"].items():
            parts = []
            for k, v in est.items():
                why = (reasons.get(m) or {}).get(k) if isinstance(reasons.get(m), dict) else None
                parts.append(f"{k} {v:.4g}" if isinstance(v, (int, float)) and math.isfinite(v)
                             else f"{k} none ({why or 'not found'})")
            print(f"  {m}: " + ", ".join(parts))
        tr = res.get("truncation")
        if isinstance(tr, dict) and "verdict" in tr:
            print(_truncation_line(tr))
        elif isinstance(tr, dict) and tr:
            for m, v in tr.items():
                verdicts = v if isinstance(v, list) else [v]
                bad = [x for x in verdicts if isinstance(x, dict) and x.get("verdict") in ("warn", "refused")]
                worst = max(bad, key=lambda x: x.get("error") or 0.0) if bad else None
                print(f"  truncation ({m}): " + (f"{len(bad)} of {len(verdicts)} pump values above trunc_tol; worst: "
                                                 + worst.get("message", "") if worst else
                                                 f"ok at all {len(verdicts)} pump values"))
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'threshold.json')}, threshold.h5 and threshold.png")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
