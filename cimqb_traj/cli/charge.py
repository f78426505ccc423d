"""``cimqb-traj charge``: the charging dynamics W(t), W_c(t), W_i(t) by any method (exact, jump,
homodyne, mean-field, positive-p, wigner); ``charge.h5`` and ``charge.png`` with ``--out``."""

from __future__ import annotations

import argparse
import os

import numpy as np

from .. import resources
from ..params import BatteryParams
from .common import (_DEFAULTS, _TIMES, EPILOG, EXIT_INTERRUPTED, EXIT_OK, METHODS, PHASE_SPACE, SAMPLED,
                     T_END_FROM_0, _applicable, _battery, _dflt, _ensemble_json, _floats, _grid,
                     _Interrupted, _interrupted_note, _model_group, _output_args, _pm, _print_json,
                     _sampling_group, _time_arg, _traj_kw, _trunc_tol, _trunc_tol_arg, _truncation_line,
                     add_param)


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``charge`` on the subparsers ``sub``."""
    p = sub.add_parser("charge", help="charging dynamics W(t), W_c(t), W_i(t)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = _model_group(p)
    times = _TIMES["charge"]
    _time_arg(g, "t_end", times, T_END_FROM_0)
    for name in ("t_off", "eps", "t_ramp"):
        add_param(g, name)
    _time_arg(g, "dt_out", times, "output step")
    r = p.add_argument_group("run")
    r.add_argument("--method", choices=METHODS, default="exact",
                   help="exact: Lindblad master equation; jump: photon-counting trajectories; "
                        "homodyne: diffusive trajectories; mean-field (classical, deterministic, from the "
                        "vacuum); positive-p (exact sampling); wigner (truncated Wigner) (default: %(default)s)")
    r.add_argument("--engine", choices=("fast", "qutip"), default=None,
                   help=_dflt(_DEFAULTS, "engine", "--method exact only: fast or qutip.mesolve (reference)"))
    _trunc_tol_arg(r)
    t = _sampling_group(p)
    t.add_argument("--basis", choices=("fock", "displaced"), default=None,
                   help=_dflt(_DEFAULTS, "basis",
                              "--method homodyne: fock integrates in the lab Fock basis --ns x --np; displaced "
                              "moves a small Fock basis with each trajectory's means (large photon numbers); "
                              "--ns/--np are then the lab-frame output sizes, chosen from the mean field when "
                              "left at their defaults"))
    t.add_argument("--check-step", action="store_true", default=None,
                   help="positive-p / wigner: also run at dt/2 on the same noise paths and report the step "
                        "differences of the moments in units of their standard errors (output: the dt run)")
    _output_args(r, "the netCDF-4 data file charge.h5 and the plot charge.png")
    return p


def _dims(res) -> dict:
    """The dimensions a Fock-space run used: the largest signal / pump basis (the moving basis'
    largest for --basis displaced, else the lab truncation) and the lab output sizes."""
    d = (getattr(res, "options", None) or {}).get("dims")
    if d:
        return {k: int(v) for k, v in d.items()}
    Ns, Np = res.params.Ns, res.params.Np
    return {"Ns_basis_max": Ns, "Np_basis_max": Np, "Ns_out": Ns, "Np_out": Np}


def _error_growth(res):
    """Standard error of <n_s> (untruncated moment) relative to its value, at the end and at its
    worst after <n_s> first exceeds 0.1: (final, worst, time of worst), or None."""
    from ..phasespace import moments

    m, e = moments(res)["a_dag_a"]
    m, e = m.real, e.real
    ok = np.flatnonzero(np.abs(m) > 0.1)
    if ok.size == 0:
        return None
    rel = e[ok[0]:] / np.maximum(np.abs(m[ok[0]:]), 0.1)
    j = int(np.argmax(rel))
    return float(rel[-1]), float(rel[j]), float(res.t[ok[0] + j])


def _phase_space(a, p: BatteryParams, t: np.ndarray, tol: float):
    """A phase-space method (``cimqb_traj.phasespace``) through the ensemble runner.  The
    dynamics are untruncated; --ns/--np size the estimated Fock matrices (their truncation
    verdict is the result's ``truncation``)."""
    from ..phasespace import method
    from ..ensemble import run
    from ..problem import charge_problem

    opts = {"dt": a.dt} if a.dt is not None else {}
    if a.method == "mean-field":  # deterministic: one path
        return run(method(a.method, trunc_tol=tol), charge_problem(p, t), 1, 0, groups=1,
                   progress=False if a.no_progress else None)
    kw = dict(groups=a.groups, n_jobs=a.n_jobs, backend=a.backend, scheduler=a.scheduler,
              progress=False if a.no_progress else None)
    if a.check_step:
        from ..phasespace import step_check

        check = step_check(method(a.method, trunc_tol=tol, **opts), charge_problem(p, t), a.ntraj, a.seed, **kw)
        if any(getattr(r, "interrupted", False) for r in check["results"]):
            raise _Interrupted("the step check needs both runs (dt and dt/2) complete; nothing was written")
        a.step_check_result = {k: check[k] for k in ("dt", "max_ratio", "converged")}
        return check["results"][0]  # the run at dt (the check's dt/2 run shares its noise)
    return run(method(a.method, trunc_tol=tol, **opts), charge_problem(p, t), a.ntraj, a.seed, **kw)


def _check_resources(a, p, t, tol) -> None:
    """Memory, steps and workers of the run (``resources.check_charge``), before anything runs."""
    if a.scheduler:
        resources.check_scheduler(a.scheduler)
    kw = {}
    if a.method in SAMPLED:
        kw = dict(ntraj=a.ntraj, groups=a.groups, n_jobs=a.n_jobs, backend=a.backend, dt=a.dt)
    if a.basis == "displaced":
        from ..trajectories import lab_dims

        ns, np_ = lab_dims(p, t)
        p, kw["basis"] = p.replace(Ns=int(ns), Np=int(np_)), "displaced"
    resources.check_charge(p, t, a.method, engine=a.engine or "fast", trunc_tol=tol, **kw)


def run(a) -> int:
    """Run ``charge`` from the parsed arguments ``a``; returns the exit code."""
    _applicable(a, a.method)
    tol = _trunc_tol(a)
    p = _battery(a)
    t = _grid(a.t_end, a.dt_out)
    _check_resources(a, p, t, tol)  # before the solvers are imported (qutip, numba: seconds)
    progress = False if a.no_progress else None
    if a.method == "exact":
        from .. import exact

        res = exact.charge(p, t, engine=a.engine, progress=progress, trunc_tol=tol)
    elif a.method in PHASE_SPACE:
        res = _phase_space(a, p, t, tol)
    else:
        from .. import trajectories

        res = trajectories.charge(p, t, trunc_tol=tol, **_traj_kw(a))
    interrupted = bool(getattr(res, "interrupted", False))
    if a.out:
        from ..plotting import plot_charge

        res.save(os.path.join(a.out, "charge.h5"))
        plot_charge(res, os.path.join(a.out, "charge.png"))
    ctx = {"groups": getattr(res, "groups", None), "deterministic": a.method == "mean-field"}
    if a.json:
        doc = {"params": p.to_dict(), "method": a.method, "t": _floats(res.t), "W": _floats(res.W),
               "W_c": _floats(res.W_c), "W_i": _floats(res.W_i), "energy": _floats(res.energy)}
        if a.method == "exact":
            doc["n_s"] = _floats(np.einsum("tnn,n->t", res.rho_s, np.arange(p.Ns)).real)
            doc["n_p"] = _floats(res.n_p)
        else:
            doc.update(_ensemble_json(res, ("W", "W_c", "W_i", "energy")))
            for k in ("n_s", "n_s_err", "n_p", "n_p_err"):
                if getattr(res, k, None) is not None:
                    doc[k] = _floats(getattr(res, k))
        if a.method in ("positive-p", "wigner"):
            from ..phasespace import diverged

            doc["diverged"], doc["spiking"], _ = diverged(res)
            g = _error_growth(res)
            doc["n_s_rel_err_end"], doc["n_s_rel_err_max"] = (g[0], g[1]) if g else (None, None)
            if not g:
                doc["null_reasons"] = {k: "<n_s> never exceeds 0.1: no relative error"
                                       for k in ("n_s_rel_err_end", "n_s_rel_err_max")}
        if getattr(a, "step_check_result", None):
            doc["step_check"] = a.step_check_result
        if a.method in ("exact", "jump", "homodyne"):
            doc["dims"] = _dims(res)
            doc["params"] = res.params.to_dict()  # the displaced basis chooses its lab output sizes
        doc["interrupted"] = interrupted
        doc["truncation"] = getattr(res, "truncation", {}) or {}
        _print_json(doc, ctx)
    else:
        i_c = int(np.argmax(res.W_c))
        P = res.power
        i_p = int(np.nanargmax(P)) if np.any(np.isfinite(P)) else 0
        unit = "samples" if a.method in PHASE_SPACE else "trajectories"
        how = (a.engine if a.method == "exact" else "deterministic" if a.method == "mean-field"
               else f"{res.ntraj} {unit}, seed {res.seed}")
        print(f"charge ({a.method}, {how}) F={p.F:g} kappa={p.kappa:g} gamma_p={p.gamma_p:g} "
              f"Ns={p.Ns} Np={p.Np}  [threshold F_th={p.threshold:.4g}]")
        if interrupted:
            print(_interrupted_note(res, a.ntraj))
        if a.basis == "displaced":
            d = _dims(res)
            print(f"  displaced basis: up to {d['Ns_basis_max']} x {d['Np_basis_max']} levels per trajectory; "
                  f"lab-frame output Ns={d['Ns_out']} Np={d['Np_out']} (--ns/--np)")
        print(f"  at t={res.t[-1]:g}: W={_pm(res, 'W', -1)}  W_c={_pm(res, 'W_c', -1)}  W_i={_pm(res, 'W_i', -1)}  "
              f"energy={_pm(res, 'energy', -1)}  (units of omega_s)")
        if a.method in PHASE_SPACE:  # the untruncated moment beside the Fock-range state's energy
            src = "|alpha_s|^2 of the mean-field path" if a.method == "mean-field" else "normal order, from the samples"
            print(f"  <n_s>={_pm(res, 'n_s', -1)} ({src}, untruncated); energy, W, W_c, W_i "
                  f"are those of the state on Fock levels < {res.options.get('fock_range', [res.params.Ns])[-1]}")
        print(f"  max W_c={res.W_c[i_c]:.6g} at t={res.t[i_c]:g};  max power W/t={P[i_p]:.6g} at t={res.t[i_p]:g}")
        print(_truncation_line(getattr(res, "truncation", None)))
        if a.method in ("positive-p", "wigner"):
            from ..phasespace import diverged

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
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


