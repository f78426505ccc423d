"""``cimqb-traj discharge``: the charged battery (pump off at ``--t0``) discharging into a
two-level load, by the exact solver or trajectories; ``discharge.h5`` and ``discharge.png`` with
``--out``."""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

from .. import resources
from ..params import LoadParams
from ..results import first_max
from .common import (_TIMES, EPILOG, EXIT_INTERRUPTED, EXIT_OK, METHODS, SAMPLED, T_END, _applicable, _battery,
                     _ensemble_json, _floats, _grid, _interrupted_note, _model_group, _output_args, _pm,
                     _print_json, _sampling_group, _time_arg, _traj_kw, _trunc_tol, _trunc_tol_arg,
                     _truncation_line, add_param)


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``discharge`` on the subparsers ``sub``."""
    p = sub.add_parser("discharge", help="discharge into a two-level load", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = _model_group(p)
    times = _TIMES["discharge"]
    _time_arg(g, "t0", times, "charging time: pump off and load connected; the output's time axis starts "
                              "there (t = time since t0)")
    for name in ("g", "gamma_a", "omega_s", "omega_a"):
        add_param(g, name, load=True)
    _time_arg(g, "t_end", times, T_END + ", counted from t0")
    _time_arg(g, "dt_out", times, "output step")
    r = p.add_argument_group("run")
    r.add_argument("--method", choices=METHODS[:3], default="exact",
                   help="exact: Lindblad master equation (qutip.mesolve after the fast charge to t0); "
                        "jump: photon-counting trajectories; homodyne: diffusive trajectories "
                        "(default: %(default)s)")
    _trunc_tol_arg(r)
    _sampling_group(p)
    _output_args(r, "the netCDF-4 data file discharge.h5 and the plot discharge.png")
    return p


def run(a) -> int:
    """Run ``discharge`` from the parsed arguments ``a``; returns the exit code."""
    _applicable(a, a.method)
    tol = _trunc_tol(a)
    p = _battery(a)
    load = LoadParams(g=a.g, gamma_a=a.gamma_a, omega_s=a.omega_s, omega_a=a.omega_a)
    if not math.isfinite(a.t0) or a.t0 < 0:
        raise ValueError(f"t0 must be finite and >= 0, got {a.t0}")
    t = _grid(a.t_end, a.dt_out)
    if a.scheduler:
        resources.check_scheduler(a.scheduler)
    kw = dict(ntraj=a.ntraj, groups=a.groups, n_jobs=a.n_jobs, backend=a.backend, dt=a.dt) \
        if a.method in SAMPLED else {}
    resources.check_discharge(p, load, t, a.t0, a.method, **kw)
    if a.method == "exact":
        from .. import exact

        res = exact.discharge(p, load, t, t0=a.t0, progress=False if a.no_progress else None, trunc_tol=tol)
    else:
        from .. import trajectories

        res = trajectories.discharge(p, load, t, t0=a.t0, trunc_tol=tol, **_traj_kw(a))
    interrupted = bool(getattr(res, "interrupted", False))
    if a.out:
        from ..plotting import plot_discharge

        res.save(os.path.join(a.out, "discharge.h5"))
        plot_discharge(res, os.path.join(a.out, "discharge.png"))
    if a.json:
        params = {"battery": p.to_dict(), "load": load.to_dict(), "t0": a.t0}
        doc = {"params": params, "method": a.method, "t": _floats(res.t), "kappa_s": _floats(res.kappa_s),
               "kappa_a": _floats(res.kappa_a), "W_s": _floats(res.W_s), "W_a": _floats(res.W_a)}
        if a.method != "exact":
            doc.update(_ensemble_json(res, ("kappa_s", "kappa_a", "W_s", "W_a")))
        doc["interrupted"] = interrupted
        doc["truncation"] = getattr(res, "truncation", {}) or {}
        _print_json(doc, {"groups": getattr(res, "groups", None)})
    else:
        i = int(np.argmax(res.kappa_a))
        first = first_max(res.kappa_a)
        print(f"discharge ({a.method}) from t0={a.t0:g}: g={load.g:g} gamma_a={load.gamma_a:g} "
              f"omega_s={load.omega_s:g} omega_a={load.omega_a:g}")
        if interrupted:
            print(_interrupted_note(res, a.ntraj))
        print(f"  battery at t0: kappa_s={_pm(res, 'kappa_s', 0)} (W_s={_pm(res, 'W_s', 0)})")
        print(f"  load: first maximum kappa_a={_pm(res, 'kappa_a', first)} at t-t0={res.t[first]:g};"
              f"  overall max {_pm(res, 'kappa_a', i)} at t-t0={res.t[i]:g}")
        print(_truncation_line(getattr(res, "truncation", None)))
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'discharge.h5')} and discharge.png")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


