"""``cimqb-traj phase-selection``: single-shot spin statistics over seeds eps and pumps F (``spin``).

The sweep runs every (method, eps, F) point in turn.  Ctrl-C stops it at the point it
interrupts: that point keeps the shots that finished (``spin.phase_selection`` returns them with
``interrupted``), every later point is marked ``"not run"`` (its numbers null), the JSON carries
``interrupted`` and a per-point ``status`` and ``shots``, no plot is drawn, and the command exits
130 (``cimqb_traj.cli`` module docstring).

``--basis displaced`` (``--method homodyne`` only; exit 2 when no homodyne method is chosen) runs the
homodyne shots in a moving displaced Fock basis (``spin.phase_selection(..., basis="displaced")``);
``--ns/--np`` are then the lab output sizes.  The JSON carries ``basis`` and per point ``dims`` (the
largest moving bases and the lab output sizes; null for the other methods and for ``--basis fock``).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from .. import resources
from ..params import BatteryParams
from ..results import atomic_path
from ..truncation import TRUNC_TOL, check_tol
from .common import (_TIMES, EPILOG, EXIT_INTERRUPTED, EXIT_OK, UsageError, _dflt, _dump, _methods, _output_args,
                     _print_json, _real, _time_arg, _trunc_tol_arg, add_param, number_list, param_default,
                     param_help)

SAMPLED = ("homodyne", "wigner", "positive-p")
FOCK = ("exact", "homodyne")  # the methods that integrate in a Fock space (--ns, --np, --trunc-tol)
# option dest -> methods it applies to (refused when none of the chosen methods uses it)
_APPLIES = {"ntraj": SAMPLED, "seed": SAMPLED, "n_jobs": SAMPLED, "dt": SAMPLED, "ns": FOCK, "np": FOCK,
            "trunc_tol": FOCK, "basis": ("homodyne",)}
_DEFAULTS = {"ntraj": 500, "seed": 0, "n_jobs": 1, "basis": "fock"}
#: the per-point numbers as netCDF variables: key -> (units, long name, trailing dimensions)
_VARIABLES = {
    "p_plus": ("1", "probability that a shot selects spin +1 (phase 0)", ()),
    "p_plus_ci": ("1", "95 % Clopper-Pearson interval of p_plus", ("bound",)),
    "decision_time_median": ("1/gamma_s", "median decision time of the decided shots", ()),
    "decision_time_ci": ("1/gamma_s", "95 % interval of the median decision time", ("bound",)),
    "undecided": ("1", "number of shots that never decided before t_end", ()),
    "W_single_shot": ("hbar*gamma_s", "mean ergotropy of the shots' conditional signal states", ()),
    "W_single_shot_err": ("hbar*gamma_s", "standard error of W_single_shot", ()),
    "W_ensemble": ("hbar*gamma_s", "ergotropy of the ensemble-averaged signal state", ()),
    "W_ensemble_err": ("hbar*gamma_s", "standard error of W_ensemble", ()),
    "p_plus_quadrature": ("1", "weight of x > 0 in the signal quadrature distribution", ()),
    "p_plus_quadrature_err": ("1", "standard error of p_plus_quadrature", ()),
    "shots": ("1", "number of shots", ()),
}
_KEYS = ("p_plus", "p_plus_ci", "decision_time_median", "decision_time_ci", "undecided", "W_single_shot",
         "W_single_shot_err", "W_ensemble", "W_ensemble_err", "p_plus_quadrature", "p_plus_quadrature_err")


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``phase-selection`` on the subparsers ``sub``; the model options' help and defaults
    come from the parameter definitions (``common.add_param``)."""
    p = sub.add_parser("phase-selection", help="single-shot spin: P(+1), decision times, single-shot work",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p"):
        add_param(g, name)
    for name in ("eps", "F"):  # swept: comma-separated lists
        g.add_argument(f"--{name}", default=f"{param_default(name):g}", help=param_help(name, note="comma-separated"))
    add_param(g, "t_ramp")
    for name in ("Ns", "Np"):
        add_param(g, name, given_only=True, note="--method exact / homodyne only")
    r = p.add_argument_group("run")
    r.add_argument("--method", default="homodyne",
                   help="comma-separated: homodyne, wigner, positive-p, exact, mean-field (default: %(default)s)")
    _time_arg(r, "t_end", _TIMES["phase-selection"], "last output time, at which the spin is read: the output "
                                                     "grid is t = 0, dt_out, ..., t_end (t = 0: the pump is "
                                                     "switched on)")
    _time_arg(r, "dt_out", _TIMES["phase-selection"], "output step of the paths")
    r.add_argument("--frac", type=_real, default=0.5,
                   help="decision level: fraction of the mean-field amplitude [1] (default: %(default)s)")
    r.add_argument("--ntraj", type=int, default=None,
                   help=_dflt(_DEFAULTS, "ntraj", "homodyne / wigner / positive-p: shots per (eps, F)"))
    r.add_argument("--seed", type=int, default=None, help=_dflt(_DEFAULTS, "seed", "homodyne / wigner / positive-p: seed"))
    r.add_argument("--n-jobs", type=int, default=None,
                   help=_dflt(_DEFAULTS, "n_jobs", "homodyne / wigner / positive-p: parallel workers"))
    r.add_argument("--dt", type=_real, default=None,
                   help="time step of homodyne / wigner / positive-p [1/gamma_s] (default: the method's)")
    _trunc_tol_arg(r, "exact / homodyne only: ")
    r.add_argument("--basis", choices=("fock", "displaced"), default=None,
                   help=_dflt(_DEFAULTS, "basis", "homodyne: fock integrates in the lab Fock basis --ns x --np; "
                                                  "displaced moves a small Fock basis with each shot's means (large "
                                                  "photon numbers); --ns/--np are then the lab-frame output sizes, "
                                                  "chosen from the mean field when left at their defaults"))
    _output_args(r, "phase_selection.json and phase_selection.png")
    return p


def _check(a, methods) -> None:
    for dest, applies in _APPLIES.items():
        if getattr(a, dest) is not None and not any(m in applies for m in methods):
            raise UsageError(f"--{dest.replace('_', '-')}: applies to --method {'/'.join(applies)} only, "
                             f"not {','.join(methods)}")
        if getattr(a, dest) is None and dest in _DEFAULTS:
            setattr(a, dest, _DEFAULTS[dest])


def run(a) -> int:
    """Run ``phase-selection`` from the parsed arguments ``a``; returns the exit code."""
    from ..spin import METHODS, phase_selection

    eps = number_list(a.eps, "--eps")
    Fs = number_list(a.F, "--F")
    methods = _methods(a.method, METHODS)
    _check(a, methods)
    if any(m in SAMPLED for m in methods) and a.ntraj < 2:
        raise UsageError(f"--ntraj: needs at least 2, got {a.ntraj}")
    tol = TRUNC_TOL if a.trunc_tol is None else check_tol(a.trunc_tol)
    d = BatteryParams()
    base = BatteryParams(kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, Ns=a.ns or d.Ns, Np=a.np or d.Np,
                         t_ramp=a.t_ramp)
    displaced = a.basis == "displaced"
    for f in Fs:  # resources of the most demanding point, before anything runs
        pf = base.replace(F=f, eps=max(eps, key=abs))
        resources.check_phase_selection(pf, [m for m in methods if not (displaced and m == "homodyne")],
                                        ntraj=a.ntraj, t_end=a.t_end, dt_out=a.dt_out, dt=a.dt, n_jobs=a.n_jobs)
        if displaced:  # the moving basis: the lab output sizes it will use, its own estimate
            from ..trajectories import lab_dims

            t = np.linspace(0.0, a.t_end, max(1, int(round(a.t_end / a.dt_out))) + 1)
            ns, np_ = lab_dims(pf, t)
            resources.check_charge(pf.replace(Ns=int(ns), Np=int(np_)), t, "homodyne", ntraj=a.ntraj,
                                   n_jobs=a.n_jobs, dt=a.dt, trunc_tol=1.0, records=True, basis="displaced")
    opts = {} if a.dt is None else {"dt": a.dt}
    grid = [(e, f) for f in Fs for e in eps]
    doc = {"eps": [e for e, _ in grid], "F": [f for _, f in grid], "t_end": a.t_end, "frac": a.frac,
           "methods": methods, "params": base.to_dict(), "ntraj": a.ntraj, "basis": a.basis, "interrupted": False}
    for k in _KEYS + ("decision_times", "status", "shots", "truncation", "dims"):
        doc[k] = {m: [] for m in methods}
    paths = {}
    stop = False
    for m in methods:
        for e, f in grid:
            if stop:
                _fill(doc, m, "not run")
                continue
            try:
                res = phase_selection(base.replace(eps=e, F=f), m, ntraj=a.ntraj, seed=a.seed, t_end=a.t_end,
                                      dt_out=a.dt_out, frac=a.frac, n_jobs=a.n_jobs,
                                      progress=False if a.no_progress else None, trunc_tol=tol,
                                      **(opts if m in SAMPLED else {}),
                                      **({"basis": "displaced"} if displaced and m == "homodyne" else {}))
            except KeyboardInterrupt:  # nothing of this point finished
                stop = doc["interrupted"] = True
                doc["interrupted_at"] = {"method": m, "eps": e, "F": f}
                _fill(doc, m, "interrupted (nothing finished)")
                continue
            dct = res.to_dict()
            for k in _KEYS:
                doc[k][m].append(dct[k])
            dts = res.decision_times
            doc["decision_times"][m].append(None if dts is None else [float(x) for x in dts if np.isfinite(x)])
            doc["shots"][m].append(res.shots)
            doc["truncation"][m].append(getattr(res, "truncation", None) or {})
            doc["dims"][m].append(res.dims)  # the moving bases (--basis displaced homodyne), else null
            if getattr(res, "interrupted", False):
                stop = doc["interrupted"] = True
                doc["interrupted_at"] = {"method": m, "eps": e, "F": f}
                doc["status"][m].append(f"interrupted ({res.shots} of {a.ntraj} shots)")
            else:
                doc["status"][m].append("done")
            if res.x_paths is not None and m == "homodyne" and (e, f) == grid[-1]:
                paths[m] = (res.t, res.x_paths)
    if a.out:
        with atomic_path(os.path.join(a.out, "phase_selection.json")) as tmp, open(tmp, "w") as fh:
            _dump(doc, fh)
        from ..dataset import write

        write(_dataset(doc), os.path.join(a.out, "phase_selection.h5"))  # netCDF-4 for xarray
        if not doc["interrupted"]:
            from ..plotting import plot_phase_selection

            plot_phase_selection(doc, paths, os.path.join(a.out, "phase_selection.png"))
    if a.json:
        _print_json({k: v for k, v in doc.items() if k != "decision_times"})
    else:
        shots = f"{a.ntraj} shots" if any(m in SAMPLED for m in methods) else "no shots"
        where = ", homodyne in the displaced basis" if displaced and "homodyne" in methods else ""
        print(f"phase selection, kappa={a.kappa:g} gamma_p={a.gamma_p:g}, spin read at t={a.t_end:g}, {shots}{where}")
        if doc["interrupted"]:
            at = doc["interrupted_at"]
            print(f"  INTERRUPTED at {at['method']} eps={at['eps']:g} F={at['F']:g}; later points not run")
        for m in methods:
            for i, (e, f) in enumerate(grid):
                status = doc["status"][m][i]
                line = f"  {m:10s} eps={e:<7g} F={f:<6g}"
                if doc["p_plus"][m][i] is None:
                    print(f"{line} {status}")
                    continue
                lo, hi = doc["p_plus_ci"][m][i]
                line += f" P(+1)={doc['p_plus'][m][i]:.4f} [{lo:.4f}, {hi:.4f}]"
                if doc["decision_time_median"][m][i] is not None:
                    line += f"  median decision time {doc['decision_time_median'][m][i]:.2f}"
                if doc["W_single_shot"][m][i] is not None:
                    line += (f"  W single shot {doc['W_single_shot'][m][i]:.3f} +- {doc['W_single_shot_err'][m][i]:.3f}"
                             f" vs ensemble {doc['W_ensemble'][m][i]:.3f} +- {doc['W_ensemble_err'][m][i]:.3f}")
                if status != "done":
                    line += f"  [{status}]"
                tr = doc["truncation"][m][i]
                if tr and tr.get("verdict") in ("warn", "refused"):
                    line += f"  [truncation {tr['verdict']}: {tr.get('message', '')}]"
                print(line)
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'phase_selection.json')}, phase_selection.h5"
                  + ("" if doc["interrupted"] else " and phase_selection.png"))
    return EXIT_INTERRUPTED if doc["interrupted"] else EXIT_OK


def _dataset(doc: dict):
    """The sweep as an ``xarray.Dataset``: dimensions ``methods`` x ``point`` (with ``eps`` and ``F``
    as coordinates along ``point``) and ``bound`` (lower, upper) for intervals; a point without a
    number is NaN.  Units, long names, parameters (JSON) and provenance as attributes; the shots'
    decision times stay in the JSON."""
    import json

    import xarray as xr

    from ..dataset import provenance

    methods = doc["methods"]
    data = {}
    for key, (units, long_name, extra) in _VARIABLES.items():
        a = np.full((len(methods), len(doc["eps"])) + (2,) * len(extra), np.nan)
        for i, m in enumerate(methods):
            for j, v in enumerate(doc[key][m]):
                if v is not None:
                    a[i, j] = v
        data[key] = (("methods", "point") + extra, a, {"units": units, "long_name": long_name})
    data["status"] = (("methods", "point"), np.array([doc["status"][m] for m in methods], dtype=str),
                      {"long_name": "done / interrupted / not run", "units": "1"})
    # "methods", not "method": Dataset.sel(method=...) is xarray's own keyword (as ThresholdResult)
    coords = {"methods": ("methods", np.array(methods, dtype=str), {"long_name": "method", "units": "1"}),
              "eps": ("point", np.asarray(doc["eps"], float), {"units": "gamma_s", "long_name": "coherent seed eps"}),
              "F": ("point", np.asarray(doc["F"], float), {"units": "sqrt(gamma_s)", "long_name": "pump amplitude F"}),
              "bound": ("bound", np.array(["lower", "upper"]), {"long_name": "interval bound", "units": "1"})}
    attrs = {"kind": "phase_selection", "params": json.dumps(doc["params"]), "t_end": doc["t_end"],
             "frac": doc["frac"], "ntraj": doc["ntraj"], "basis": doc["basis"],
             "interrupted": int(doc["interrupted"]), **provenance()}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _fill(doc: dict, m: str, status: str) -> None:
    """A point without results: null numbers and its status."""
    for k in _KEYS + ("decision_times", "shots", "dims"):
        doc[k][m].append(None)
    doc["truncation"][m].append({})
    doc["status"][m].append(status)
