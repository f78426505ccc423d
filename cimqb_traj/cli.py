"""Command line: ``cimqb-traj charge`` and ``cimqb-traj discharge`` at the paper's defaults.

Bad input exits with code 2 and one line on stderr naming the parameter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings

import numpy as np

from .params import BatteryParams, LoadParams
from .results import atomic_path, first_max

#: Phase-space methods (``cimqb_traj.phasespace``): charging only.
PHASE_SPACE = ("mean-field", "positive-p", "wigner")
METHODS = ("exact", "jump", "homodyne") + PHASE_SPACE

# parameter name -> command-line option, for error messages
_OPTION = {
    "kappa": "--kappa", "gamma_s": "--gamma-s", "gamma_p": "--gamma-p", "F": "--F", "delta": "--delta",
    "nth_s": "--nth-s", "nth_p": "--nth-p", "Ns": "--ns", "Np": "--np", "t_off": "--t-off",
    "g": "--g", "gamma_a": "--gamma-a", "omega_s": "--omega-s", "omega_a": "--omega-a",
    "t_end": "--t-end", "dt_out": "--dt-out", "t0": "--t0", "ntraj": "--ntraj", "seed": "--seed",
    "n_jobs": "--n-jobs", "backend": "--backend", "scheduler": "--scheduler", "theta": "--theta",
    "dt": "--dt", "groups": "--groups", "method": "--method", "eps": "--eps", "t_ramp": "--t-ramp",
    "frac": "--frac",
}


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _model_args(p: argparse.ArgumentParser, discharge: bool):
    d = BatteryParams()
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    g.add_argument("--kappa", type=_real, default=d.kappa, help="nonlinear coupling (0.5)")
    g.add_argument("--gamma-s", type=_real, default=d.gamma_s, help="signal decay rate (1)")
    g.add_argument("--gamma-p", type=_real, default=d.gamma_p, help="pump decay rate (16)")
    g.add_argument("--F", type=_real, default=d.F, help="pump amplitude F_p/sqrt(gamma_s) (3.0)")
    g.add_argument("--delta", type=_real, default=d.delta, help="signal detuning (0)")
    g.add_argument("--nth-s", type=_real, default=d.nth_s, help="signal bath occupation (0)")
    g.add_argument("--nth-p", type=_real, default=d.nth_p, help="pump bath occupation (0)")
    g.add_argument("--ns", type=int, default=d.Ns, help="signal Fock dimension (32)")
    g.add_argument("--np", type=int, default=d.Np, help="pump Fock dimension (9)")
    if discharge:
        g.add_argument("--t0", type=_real, default=10.0, help="charging time, pump off and load on (10)")
        g.add_argument("--g", type=_real, default=1.0, help="battery-load coupling (1.0)")
        g.add_argument("--gamma-a", type=_real, default=0.1, help="load decay rate (0.1)")
        g.add_argument("--omega-s", type=_real, default=100.0, help="signal frequency (100)")
        g.add_argument("--omega-a", type=_real, default=100.0, help="load frequency; omega_a - omega_s is the load detuning (100)")
        g.add_argument("--t-end", type=_real, default=10.0, help="discharge duration after t0 (10)")
        g.add_argument("--dt-out", type=_real, default=0.05, help="output step (0.05)")
    else:
        g.add_argument("--t-end", type=_real, default=40.0, help="final time (40)")
        g.add_argument("--t-off", type=_real, default=None, help="pump switch-off time (none: pump stays on)")
        g.add_argument("--eps", type=_real, default=0.0, help="coherent seed on the signal, H = i eps (a_s^dag - a_s) (0)")
        g.add_argument("--t-ramp", type=_real, default=None, help="pump ramp duration: F rises linearly over it (none)")
        g.add_argument("--dt-out", type=_real, default=0.1, help="output step (0.1)")
    r = p.add_argument_group("run")
    r.add_argument("--method", choices=METHODS, default="exact",
                   help="exact: Lindblad master equation; jump: photon-counting trajectories; "
                        "homodyne: diffusive trajectories; charge only: mean-field (classical, from "
                        "the vacuum), positive-p (exact sampling), wigner (truncated Wigner)")
    r.add_argument("--engine", choices=("fast", "qutip"), default="fast",
                   help="exact solver engine: fast (default) or qutip.mesolve (reference)")
    t = p.add_argument_group("trajectories (--method jump|homodyne) and phase-space samples (positive-p|wigner)")
    t.add_argument("--ntraj", type=int, default=1000, help="number of trajectories (1000)")
    t.add_argument("--seed", type=int, default=0, help="seed; trajectory k uses SeedSequence(seed).spawn()[k] (0)")
    t.add_argument("--n-jobs", type=int, default=1, help="parallel workers (1)")
    t.add_argument("--backend", choices=("loky", "threading", "dask"), default="loky",
                   help="joblib backend (loky); dask without --scheduler starts a local cluster of n-jobs workers")
    t.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (with --backend dask)")
    t.add_argument("--groups", type=int, default=20, help="trajectory groups for the jackknife errors (20)")
    t.add_argument("--theta", type=_real, default=0.0, help="homodyne phase of the signal output (0)")
    t.add_argument("--heterodyne", action="store_true", help="heterodyne instead of homodyne detection")
    t.add_argument("--dt", type=_real, default=None, help="homodyne / positive-p / wigner time step (method default)")
    t.add_argument("--check-step", action="store_true",
                   help="positive-p / wigner: also run at dt/2 on the same noise paths and report the step "
                        "differences of the moments in units of their standard errors (output: the dt run)")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.add_argument("--out", metavar="DIR", help="write an HDF5 data file and a PNG plot into DIR")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cimqb-traj", description="DOPO quantum battery (coherent Ising machine spin)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _model_args(sub.add_parser("charge", help="charging dynamics W(t), W_c(t), W_i(t)"), discharge=False)
    _model_args(sub.add_parser("discharge", help="discharge into a two-level load"), discharge=True)
    th = sub.add_parser("threshold", help="steady-state <n_s> over the pump: mean-field and quantum thresholds")
    d = BatteryParams()
    g = th.add_argument_group("model (defaults are the paper's)")
    for opt, attr, help_ in (("--kappa", "kappa", "nonlinear coupling"), ("--gamma-s", "gamma_s", "signal decay"),
                             ("--gamma-p", "gamma_p", "pump decay"), ("--delta", "delta", "signal detuning"),
                             ("--nth-s", "nth_s", "signal bath occupation"), ("--nth-p", "nth_p", "pump bath occupation")):
        g.add_argument(opt, type=_real, default=getattr(d, attr), help=f"{help_} ({getattr(d, attr):g})")
    g.add_argument("--ns", type=int, default=d.Ns, help=f"signal Fock dimension ({d.Ns})")
    g.add_argument("--np", type=int, default=d.Np, help=f"pump Fock dimension ({d.Np})")
    g.add_argument("--F-min", type=_real, default=1.0, help="smallest pump amplitude (1.0)")
    g.add_argument("--F-max", type=_real, default=3.0, help="largest pump amplitude (3.0)")
    g.add_argument("--F-steps", type=int, default=21, help="number of pump amplitudes, uniform grid (21)")
    g.add_argument("--methods", default="mean-field,exact",
                   help="comma-separated: mean-field, exact, positive-p, wigner (default mean-field,exact)")
    g.add_argument("--samples", type=int, default=2000, help="phase-space samples per pump value (2000)")
    g.add_argument("--t-steady", type=_real, default=30.0, help="phase-space integration time to the steady state (30)")
    g.add_argument("--dt", type=_real, default=None, help="phase-space time step (method default)")
    g.add_argument("--seed", type=int, default=0, help="phase-space seed (pump value k uses seed + k)")
    g.add_argument("--n-jobs", type=int, default=1, help="parallel workers for phase-space samples (1)")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.add_argument("--out", metavar="DIR", help="write threshold.json and threshold.png into DIR")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    from . import spin_cli

    spin_cli.add_parser(sub, _real)
    rep = sub.add_parser("reproduce", help="recompute the paper's figures, summary.json and REPORT.md")
    rep.add_argument("--only", help="comma-separated results, e.g. fig3,fig8 (default: all)")
    rep.add_argument("--out", metavar="DIR", default="reproduction", help="output folder (reproduction)")
    rep.add_argument("--n-jobs", type=int, default=-1, help="parallel processes (-1: all cores)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _grid(t_end: float, dt: float) -> np.ndarray:
    if not math.isfinite(t_end) or t_end <= 0:
        raise ValueError(f"t_end must be finite and > 0, got {t_end}")
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt_out must be finite and > 0, got {dt}")
    n = int(round(t_end / dt))
    if n > 10**6:
        raise ValueError(f"dt_out gives {n} output times; use a larger step")
    return np.linspace(0.0, n * dt, n + 1) if abs(n * dt - t_end) < 1e-9 * t_end else np.append(np.arange(n + 1) * dt, t_end)


def _battery(a) -> BatteryParams:
    return BatteryParams(
        kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, F=a.F, delta=a.delta, nth_s=a.nth_s,
        nth_p=a.nth_p, Ns=a.ns, Np=a.np, t_off=getattr(a, "t_off", None), eps=getattr(a, "eps", 0.0),
        t_ramp=getattr(a, "t_ramp", None),
    )


def _error_growth(res):
    """Standard error of <n_s> (untruncated moment) relative to its value, at the end and at its
    worst after <n_s> first exceeds 0.1: (final, worst, time of worst), or None."""
    from .phasespace import moments

    m, e = moments(res)["a_dag_a"]
    m, e = m.real, e.real
    ok = np.flatnonzero(np.abs(m) > 0.1)
    if ok.size == 0:
        return None
    rel = e[ok[0]:] / np.maximum(np.abs(m[ok[0]:]), 0.1)
    j = int(np.argmax(rel))
    return float(rel[-1]), float(rel[j]), float(res.t[ok[0] + j])


def _check_out(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"--out: cannot write to {path!r} ({e.strerror or e})") from None


def _floats(x) -> list:
    return [float(v) for v in np.asarray(x)]


def _traj_kw(a) -> dict:
    """Keywords of trajectories.charge / discharge from the command line."""
    if a.scheduler and a.backend != "dask":
        raise UsageError("--scheduler: needs --backend dask")
    kw = {"method": a.method, "ntraj": a.ntraj, "seed": a.seed, "n_jobs": a.n_jobs, "backend": a.backend,
          "scheduler": a.scheduler, "groups": a.groups, "progress": False if a.no_progress else None}
    if a.method == "homodyne":
        kw.update(theta=a.theta, heterodyne=a.heterodyne)
        if a.dt is not None:
            kw["dt"] = a.dt
    elif a.theta != 0.0 or a.heterodyne or a.dt is not None:
        raise UsageError("--theta/--heterodyne/--dt: only with --method homodyne")
    return kw


def _phase_space(a, p: BatteryParams, t: np.ndarray):
    """A phase-space method (``cimqb_traj.phasespace``) through the ensemble runner.  The
    dynamics are untruncated; --ns/--np only size the estimated Fock matrices (the tail line of
    the text output says whether they hold the state)."""
    from .phasespace import method
    from .trajectories.base import charge_problem
    from .trajectories.ensemble import run

    if a.scheduler and a.backend != "dask":
        raise UsageError("--scheduler: needs --backend dask")
    if a.theta != 0.0 or a.heterodyne:
        raise UsageError("--theta/--heterodyne: only with --method homodyne")
    if a.dt is not None and a.method == "mean-field":
        raise UsageError("--dt: not used by --method mean-field (adaptive ODE solver)")
    opts = {"dt": a.dt} if a.dt is not None else {}
    kw = dict(groups=a.groups, n_jobs=a.n_jobs, backend=a.backend, scheduler=a.scheduler,
              progress=False if a.no_progress else None)
    if a.check_step:
        from .phasespace import step_check

        check = step_check(method(a.method, **opts), charge_problem(p, t), a.ntraj, a.seed, **kw)
        a.step_check_result = {k: check[k] for k in ("dt", "max_ratio", "converged")}
        return check["results"][0]  # the run at dt (the check's dt/2 run shares its noise)
    return run(method(a.method, **opts), charge_problem(p, t), a.ntraj, a.seed, **kw)


def _ensemble_json(res, names) -> dict:
    out = {"ntraj": res.ntraj, "seed": res.seed, "groups": res.groups, "interrupted": res.interrupted,
           "options": res.options}
    for n in names:
        out[n + "_err"] = _floats(getattr(res, n + "_err"))
    return out


def _pm(res, name, i) -> str:
    err = getattr(res, name + "_err", None)
    v = getattr(res, name)[i]
    return f"{v:.6g}" if err is None else f"{v:.5g} +- {err[i]:.2g}"


def _check_step_allowed(a) -> None:
    if getattr(a, "check_step", False) and (a.command != "charge" or a.method not in ("positive-p", "wigner")):
        raise UsageError("--check-step: only for charge --method positive-p|wigner (fixed-step samplers)")


def _charge(a) -> int:
    from . import exact

    _check_step_allowed(a)
    p = _battery(a)
    t = _grid(a.t_end, a.dt_out)
    if a.method == "exact":
        res = exact.charge(p, t, engine=a.engine, progress=False if a.no_progress else None)
    elif a.method in PHASE_SPACE:
        res = _phase_space(a, p, t)
    else:
        from . import trajectories

        res = trajectories.charge(p, t, **_traj_kw(a))
    if a.out:
        from .plotting import plot_charge

        res.save(os.path.join(a.out, "charge.h5"))
        plot_charge(res, os.path.join(a.out, "charge.png"))
    if a.json:
        doc = {"params": p.to_dict(), "method": a.method, "t": _floats(res.t), "W": _floats(res.W),
               "W_c": _floats(res.W_c), "W_i": _floats(res.W_i), "energy": _floats(res.energy)}
        if a.method != "exact":
            doc.update(_ensemble_json(res, ("W", "W_c", "W_i", "energy")))
        if a.method in ("positive-p", "wigner"):
            from .phasespace import diverged

            doc["diverged"], doc["spiking"], _ = diverged(res)
            g = _error_growth(res)
            doc["n_s_rel_err_end"], doc["n_s_rel_err_max"] = (g[0], g[1]) if g else (None, None)
        if getattr(a, "step_check_result", None):
            doc["step_check"] = a.step_check_result
        json.dump(doc, sys.stdout)
        print()
    else:
        i_c = int(np.argmax(res.W_c))
        P = res.power
        i_p = int(np.nanargmax(P)) if np.any(np.isfinite(P)) else 0
        unit = "samples" if a.method in PHASE_SPACE else "trajectories"
        how = (a.engine if a.method == "exact" else "deterministic" if a.method == "mean-field"
               else f"{res.ntraj} {unit}, seed {res.seed}")
        print(f"charge ({a.method}, {how}) F={p.F:g} kappa={p.kappa:g} gamma_p={p.gamma_p:g} "
              f"Ns={p.Ns} Np={p.Np}  [threshold F_th={p.threshold:.4g}]")
        if getattr(res, "interrupted", False):
            print(f"  interrupted: {res.ntraj} of {a.ntraj} trajectories finished; results are theirs")
        print(f"  at t={res.t[-1]:g}: W={_pm(res, 'W', -1)}  W_c={_pm(res, 'W_c', -1)}  W_i={_pm(res, 'W_i', -1)}  "
              f"energy={_pm(res, 'energy', -1)}  (units of omega_s)")
        print(f"  max W_c={res.W_c[i_c]:.6g} at t={res.t[i_c]:g};  max power W/t={P[i_p]:.6g} at t={res.t[i_p]:g}")
        print(f"  truncation: max population of top level  signal {res.tail_s.max():.2e}, pump {res.tail_p.max():.2e}")
        if a.method in ("positive-p", "wigner"):
            from .phasespace import diverged

            n_div, n_spk, n_all = diverged(res)
            print(f"  phase-space samples: {n_div} of {n_all} diverged (excluded), {n_spk} spiking")
            g = _error_growth(res)
            if g:
                print(f"  sampling error of <n_s> (relative): {g[0]:.2g} at the end, largest {g[1]:.2g} at t={g[2]:g}")
        c = getattr(a, "step_check_result", None)
        if c:
            verdict = "converged" if c["converged"] else "NOT converged: use a smaller --dt"
            print(f"  step check dt={c['dt']:g} vs dt/2 on shared noise: largest |step difference| / "
                  f"standard error of <n_s>, <a_s^2>, <n_p> = {c['max_ratio']:.2f} -> {verdict}")
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'charge.h5')} and charge.png")
    return 0


def _discharge(a) -> int:
    from . import exact

    _check_step_allowed(a)
    if a.method in PHASE_SPACE:
        raise UsageError(f"--method: {a.method} is for charge only; discharge takes exact, jump or homodyne")
    p = _battery(a)
    load = LoadParams(g=a.g, gamma_a=a.gamma_a, omega_s=a.omega_s, omega_a=a.omega_a)
    if not math.isfinite(a.t0) or a.t0 < 0:
        raise ValueError(f"t0 must be finite and >= 0, got {a.t0}")
    t = _grid(a.t_end, a.dt_out)
    if a.method == "exact":
        res = exact.discharge(p, load, t, t0=a.t0, progress=False if a.no_progress else None)
    else:
        from . import trajectories

        res = trajectories.discharge(p, load, t, t0=a.t0, **_traj_kw(a))
    if a.out:
        from .plotting import plot_discharge

        res.save(os.path.join(a.out, "discharge.h5"))
        plot_discharge(res, os.path.join(a.out, "discharge.png"))
    if a.json:
        params = {"battery": p.to_dict(), "load": load.to_dict(), "t0": a.t0}
        doc = {"params": params, "method": a.method, "t": _floats(res.t), "kappa_s": _floats(res.kappa_s),
               "kappa_a": _floats(res.kappa_a), "W_s": _floats(res.W_s), "W_a": _floats(res.W_a)}
        if a.method != "exact":
            doc.update(_ensemble_json(res, ("kappa_s", "kappa_a", "W_s", "W_a")))
        json.dump(doc, sys.stdout)
        print()
    else:
        i = int(np.argmax(res.kappa_a))
        first = first_max(res.kappa_a)
        print(f"discharge ({a.method}) from t0={a.t0:g}: g={load.g:g} gamma_a={load.gamma_a:g} "
              f"omega_s={load.omega_s:g} omega_a={load.omega_a:g}")
        if getattr(res, "interrupted", False):
            print(f"  interrupted: {res.ntraj} of {a.ntraj} trajectories finished; results are theirs")
        print(f"  battery at t0: kappa_s={_pm(res, 'kappa_s', 0)} (W_s={_pm(res, 'W_s', 0)})")
        print(f"  load: first maximum kappa_a={_pm(res, 'kappa_a', first)} at t-t0={res.t[first]:g};"
              f"  overall max {_pm(res, 'kappa_a', i)} at t-t0={res.t[i]:g}")
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'discharge.h5')} and discharge.png")
    return 0


def _threshold(a) -> int:
    from . import threshold

    p = BatteryParams(kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, F=max(a.F_max, 0.0), delta=a.delta,
                      nth_s=a.nth_s, nth_p=a.nth_p, Ns=a.ns, Np=a.np)
    for name, v in (("F_min", a.F_min), ("F_max", a.F_max)):
        if not math.isfinite(v) or v < 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be finite and >= 0, got {v}")
    if a.F_steps < 5:
        raise UsageError(f"--F-steps: needs at least 5 points, got {a.F_steps}")
    if a.F_max <= a.F_min:
        raise UsageError(f"--F-max: must exceed --F-min ({a.F_min:g}), got {a.F_max:g}")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in threshold.METHODS]
    if bad or not methods:
        raise UsageError(f"--methods: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(threshold.METHODS)}")
    if a.samples < 5:
        raise UsageError(f"--samples: needs at least 5, got {a.samples}")
    if not math.isfinite(a.t_steady) or a.t_steady <= 0:
        raise UsageError(f"--t-steady: must be finite and > 0, got {a.t_steady}")
    res = threshold.sweep(p, np.linspace(a.F_min, a.F_max, a.F_steps), methods,
                          progress=False if a.no_progress else None, samples=a.samples, t_steady=a.t_steady,
                          dt=a.dt, seed=a.seed, n_jobs=a.n_jobs)
    res["params"] = {k: v for k, v in p.to_dict().items() if k != "F"}
    if a.out:
        from .plotting import plot_threshold

        with atomic_path(os.path.join(a.out, "threshold.json")) as tmp, open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        plot_threshold(res, os.path.join(a.out, "threshold.png"))
    if a.json:
        json.dump(res, sys.stdout)
        print()
    else:
        print(f"threshold sweep F = {a.F_min:g}..{a.F_max:g} ({a.F_steps} points), kappa={p.kappa:g} "
              f"gamma_p={p.gamma_p:g} delta={p.delta:g} Ns={p.Ns} Np={p.Np}")
        print(f"  mean-field threshold F_th = {res['F_th_meanfield']:.6g}")
        for m, est in res["F_th_quantum"].items():
            print(f"  {m}: " + ", ".join(f"{k} {v:.4g}" for k, v in est.items()))
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'threshold.json')} and threshold.png")
    return 0


def _reproduce(a) -> int:
    from .paper import RESULTS, reproduce

    only = [x.strip() for x in a.only.split(",") if x.strip()] if a.only else None
    bad = [x for x in only or [] if x not in RESULTS]
    if bad:
        raise UsageError(f"--only: unknown result(s) {', '.join(bad)}; choose from {', '.join(RESULTS)}")
    if a.n_jobs == 0 or a.n_jobs < -1:
        raise UsageError(f"--n-jobs: must be a positive number or -1, got {a.n_jobs}")
    summary = reproduce(only, a.out, n_jobs=a.n_jobs, progress=False if a.no_progress else None)
    print(f"wrote {len(summary)} results, summary.json and REPORT.md to {a.out}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
        if a.out:
            _check_out(a.out)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            from .spin_cli import run as _phase_selection

            commands = {"charge": _charge, "discharge": _discharge, "threshold": _threshold, "reproduce": _reproduce,
                        "phase-selection": lambda a: _phase_selection(a, UsageError)}
            return commands[a.command](a)
    except UsageError as e:
        print(f"cimqb-traj: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        msg = str(e)
        name = msg.split(" ", 1)[0]
        opt = _OPTION.get(name)
        print(f"cimqb-traj: error: {opt + ': ' if opt else ''}{msg}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # TruncationError and solver failures: one line, no traceback
        from .exact import TruncationError

        opt = "--ns/--np: " if isinstance(e, TruncationError) else ""
        print(f"cimqb-traj: error: {opt}{e}", file=sys.stderr)
        return 2 if opt else 1
    except KeyboardInterrupt:
        print("cimqb-traj: interrupted; no output file was left half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
