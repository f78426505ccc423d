"""Command line: ``cimqb-traj charge | discharge | threshold | phase-selection | crosscheck | run | reproduce``.

One vocabulary in every command: ``--method`` (a comma-separated list where a command runs
several), lists comma-separated, ``--ntraj`` the number of trajectories or phase-space samples,
``--t-end`` the last time of the output grid t = 0, dt_out, ..., t_end (counted from the start of
charging; in ``discharge`` from ``--t0``, where its time axis starts), ``--out DIR`` the folder the
files go to, ``--json`` one JSON object on stdout.  The model options' help (long name, unit,
default) is read from the parameter definitions: ``dataset.QUANTITIES`` and the fields of
``BatteryParams`` / ``LoadParams`` (``PARAM_OPTIONS``, ``add_param``).  Former spellings
(``_DEPRECATED``: threshold's and crosscheck's ``--methods``, threshold's ``--samples``) still work, with a one-line warning.
``run FILE.toml`` runs a run file (``cimqb_traj.runfile``).

Every command checks its input before it computes: bad values, options that do not apply to the
chosen method, and runs that would exceed this machine's memory, CPU count or a step budget
(``cimqb_traj.resources``) are refused in one line on stderr naming the option.  JSON output is
strict (non-finite numbers are written as null, and ``null_reasons`` says why) and carries a
``units`` block (quantity -> unit, ``dataset.units_block``); data files are netCDF-4 with units and
provenance, the command line included (``cimqb_traj.dataset``); warnings are
printed as one line ``cimqb-traj: warning: <message>``.  Every result built on a Fock space carries
its truncation verdict (``truncation`` in the JSON, one line of the text); ``--trunc-tol X`` sets
the guard's tolerance (0 disables it).

Exit codes
----------
0    the result was computed and written;
1    an internal failure (a bug: please report it);
2    refused: bad input, an option that does not apply, a resource or truncation limit, too few
     samples (one line on stderr says which option and what would work);
130  interrupted (Ctrl-C).  Ensemble runs and sweeps keep what finished and mark it
     (``interrupted`` in the JSON, the HDF5 file and the text, per sweep point); a run with
     nothing to keep writes nothing.  No file is left half-written.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import sys
import tempfile
import warnings

import numpy as np

from .. import __version__, resources
from ..dataset import command_line, units_block
from ..errors import Refused, SamplesError
from ..jsonio import clean
from ..params import BatteryParams, LoadParams
from ..results import atomic_path, first_max
from ..truncation import TRUNC_TOL, TruncationError, check_tol

#: Phase-space methods (``cimqb_traj.phasespace``): charging only.
PHASE_SPACE = ("mean-field", "positive-p", "wigner")
METHODS = ("exact", "jump", "homodyne") + PHASE_SPACE
SAMPLED = ("jump", "homodyne", "positive-p", "wigner")

EXIT_OK, EXIT_INTERNAL, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """exit codes:
  0    result computed and written
  1    internal failure (a bug: please report it)
  2    refused: bad input, an option that does not apply to the method, a resource or
       truncation limit, too few samples (one line on stderr naming the option)
  130  interrupted (Ctrl-C): finished trajectory groups / sweep points are kept and marked
       'interrupted' (JSON, HDF5, text); nothing half-written is left behind"""

# parameter name -> command-line option, for error messages
_OPTION = {
    "kappa": "--kappa", "gamma_s": "--gamma-s", "gamma_p": "--gamma-p", "F": "--F", "delta": "--delta",
    "nth_s": "--nth-s", "nth_p": "--nth-p", "Ns": "--ns", "Np": "--np", "t_off": "--t-off",
    "g": "--g", "gamma_a": "--gamma-a", "omega_s": "--omega-s", "omega_a": "--omega-a", "delta_a": "--omega-a",
    "t_end": "--t-end", "dt_out": "--dt-out", "t0": "--t0", "ntraj": "--ntraj", "seed": "--seed",
    "n_jobs": "--n-jobs", "backend": "--backend", "scheduler": "--scheduler", "theta": "--theta",
    "dt": "--dt", "groups": "--groups", "method": "--method", "eps": "--eps", "t_ramp": "--t-ramp",
    "frac": "--frac", "trunc_tol": "--trunc-tol", "F_steps": "--F-steps", "samples": "--samples",
    "t_steady": "--t-steady", "batch": "--ntraj", "basis": "--basis",
}

# charge / discharge: option (argparse dest) -> the methods it applies to
_APPLIES = {
    "engine": ("exact",), "ntraj": SAMPLED, "seed": SAMPLED, "groups": SAMPLED, "n_jobs": SAMPLED,
    "backend": SAMPLED, "scheduler": SAMPLED, "theta": ("homodyne",), "heterodyne": ("homodyne",),
    "basis": ("homodyne",),
    "dt": ("homodyne", "positive-p", "wigner"), "check_step": ("positive-p", "wigner"),
}
_DEFAULTS = {"engine": "fast", "ntraj": 1000, "seed": 0, "groups": 20, "n_jobs": 1, "backend": "loky",
             "theta": 0.0, "heterodyne": False, "basis": "fock"}


#: former option spellings (still accepted, with a warning) -> the argparse dest of their option
_DEPRECATED = {"--methods": "method", "--samples": "ntraj"}

_THRESHOLD_PS = ("ntraj", "t_steady", "dt", "seed", "n_jobs")
_THRESHOLD_DEFAULTS = {"ntraj": 2000, "t_steady": 30.0, "seed": 0, "n_jobs": 1}
_THRESHOLD_GRID = {"F_min": 1.0, "F_max": 3.0, "F_steps": 21, "method": "mean-field,exact"}


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


def _opt(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _trunc_tol_arg(g, applies: str = "") -> None:
    g.add_argument("--trunc-tol", type=_real, default=None,
                   help=f"{applies}truncation guard: warn when the Fock cut-off may move the reported numbers by "
                        f"more than this fraction of max(E, omega_s), refuse far beyond; 0 disables it "
                        f"[1] (default: {TRUNC_TOL:g})")


# ------------------------------------------------------------------------------------------
# option help from the parameter definitions
# ------------------------------------------------------------------------------------------

#: model parameter (a field of BatteryParams, or of LoadParams with ``load=True``) -> its option; the
#: help is ``dataset.QUANTITIES``' long name and unit, the default the dataclass field's
PARAM_OPTIONS = {
    "kappa": "--kappa", "gamma_s": "--gamma-s", "gamma_p": "--gamma-p", "F": "--F", "delta": "--delta",
    "nth_s": "--nth-s", "nth_p": "--nth-p", "Ns": "--ns", "Np": "--np", "t_off": "--t-off", "eps": "--eps",
    "t_ramp": "--t-ramp", "g": "--g", "gamma_a": "--gamma-a", "omega_s": "--omega-s", "omega_a": "--omega-a",
}
_NONE = {"t_off": "none: the pump stays on", "t_ramp": "none: F is on at once"}
_NOTE = {"Ns": "photon numbers 0..Ns-1", "Np": "photon numbers 0..Np-1",
         "omega_a": "omega_a - omega_s is the load detuning"}

#: The last time of the output grid t = 0, dt_out, ..., t_end: the same meaning in every command.
T_END = "last output time: the output grid is t = 0, dt_out, 2 dt_out, ..., t_end"
T_END_FROM_0 = T_END + ", counted from the start (t = 0: the pump is switched on)"


def _show(v) -> str:
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def unit_help(name: str, text: str, default) -> str:
    """``text [unit] (default: X)``: the unit of ``name`` from ``dataset.QUANTITIES``."""
    from ..dataset import QUANTITIES

    return f"{text} [{QUANTITIES[name][0]}] (default: {_show(default)})".replace("%", "%%")


def param_default(name: str, load: bool = False):
    """The default of model parameter ``name``: the field of ``BatteryParams()`` (``LoadParams()``)."""
    return getattr(LoadParams() if load else BatteryParams(), name)


def param_help(name: str, load: bool = False, note: str = "") -> str:
    """Help of the option of model parameter ``name``: long name, unit and default from the
    parameter definitions (``dataset.QUANTITIES``, the dataclass), then ``note``."""
    from ..dataset import QUANTITIES

    v = param_default(name, load)
    text = "; ".join(x for x in (QUANTITIES[name][1], _NOTE.get(name, ""), note) if x)
    h = unit_help(name, text, v)
    return h.removesuffix("(default: none)") + f"(default: {_NONE[name]})" if v is None and name in _NONE else h


def add_param(g, name: str, *, load: bool = False, note: str = "", given_only: bool = False, type=None):
    """``--option`` of model parameter ``name`` on the group ``g``; its default is the dataclass
    field (argparse's default None with ``given_only``, when the command must see whether it was
    given; the help shows the dataclass default either way)."""
    v = param_default(name, load)
    kind = type or (int if name in ("Ns", "Np") else _real)
    g.add_argument(PARAM_OPTIONS[name], dest={"Ns": "ns", "Np": "np"}.get(name, name), type=kind,
                   default=None if given_only else v,
                   help=param_help(name, load, note))


#: the time options' defaults per command (every time in 1/gamma_s)
_TIMES = {"charge": {"t_end": 40.0, "dt_out": 0.1}, "discharge": {"t0": 10.0, "t_end": 10.0, "dt_out": 0.05},
          "phase-selection": {"t_end": 20.0, "dt_out": 0.1}}


def _time_arg(g, dest: str, defaults: dict, text: str) -> None:
    g.add_argument(_opt(dest), type=_real, default=defaults[dest], help=unit_help(dest, text, defaults[dest]))


def _dflt(table: dict, dest: str, text: str) -> str:
    return f"{text} (default: {_show(table[dest])})"


def _deprecated(g, old: str, dest: str, **kw) -> None:
    """``old``: a former spelling of the option of ``dest``, accepted but hidden (``_alias``)."""
    g.add_argument(old, dest=f"old_{dest}", default=None, help=argparse.SUPPRESS, **kw)


def _alias(a, dest: str) -> str:
    """The spelling the user gave for ``dest`` (its option, or the deprecated one ``_deprecated``
    registered, which then fills ``dest``); both given is refused.  The warning comes from
    ``_warn_deprecated`` once the input is checked, so that a refusal stays one line."""
    old = getattr(a, f"old_{dest}", None)
    if old is None:
        return _opt(dest)
    spelling = next(o for o in _DEPRECATED if _DEPRECATED[o] == dest)
    if getattr(a, dest) is not None:
        raise UsageError(f"{spelling}: the former spelling of {_opt(dest)}; give {_opt(dest)} only")
    setattr(a, dest, old)
    a.deprecated = [*getattr(a, "deprecated", []), spelling]
    return spelling


def _warn_deprecated(a) -> None:
    for old in getattr(a, "deprecated", []):
        warnings.warn(f"{old} is deprecated: use {_opt(_DEPRECATED[old])} (same meaning)", DeprecationWarning,
                      stacklevel=2)


def _output_args(g, files: str, default: str = "") -> None:
    """--json, --out, --no-progress: the same in every command."""
    g.add_argument("--json", action="store_true", help="print one JSON object (with a units block) on stdout")
    g.add_argument("--out", metavar="DIR", help=f"folder to write {files} into (created if missing; "
                                                f"default: {default or 'no files'})")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _model_args(p: argparse.ArgumentParser, discharge: bool):
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p", "F", "delta", "nth_s", "nth_p", "Ns", "Np"):
        add_param(g, name)
    times = _TIMES["discharge" if discharge else "charge"]
    if discharge:
        _time_arg(g, "t0", times, "charging time: pump off and load connected; the output's time axis starts "
                                  "there (t = time since t0)")
        for name in ("g", "gamma_a", "omega_s", "omega_a"):
            add_param(g, name, load=True)
        _time_arg(g, "t_end", times, T_END + ", counted from t0")
    else:
        _time_arg(g, "t_end", times, T_END_FROM_0)
        for name in ("t_off", "eps", "t_ramp"):
            add_param(g, name)
    _time_arg(g, "dt_out", times, "output step")
    r = p.add_argument_group("run")
    if discharge:
        r.add_argument("--method", choices=METHODS[:3], default="exact",
                       help="exact: Lindblad master equation (qutip.mesolve after the fast charge to t0); "
                            "jump: photon-counting trajectories; homodyne: diffusive trajectories "
                            "(default: %(default)s)")
    else:
        r.add_argument("--method", choices=METHODS, default="exact",
                       help="exact: Lindblad master equation; jump: photon-counting trajectories; "
                            "homodyne: diffusive trajectories; mean-field (classical, deterministic, from the "
                            "vacuum); positive-p (exact sampling); wigner (truncated Wigner) (default: %(default)s)")
        r.add_argument("--engine", choices=("fast", "qutip"), default=None,
                       help=_dflt(_DEFAULTS, "engine", "--method exact only: fast or qutip.mesolve (reference)"))
    _trunc_tol_arg(r)
    t = p.add_argument_group("trajectories (--method jump|homodyne) and phase-space samples (positive-p|wigner)")
    t.add_argument("--ntraj", type=int, default=None, help=_dflt(_DEFAULTS, "ntraj", "number of trajectories / samples"))
    t.add_argument("--seed", type=int, default=None,
                   help=_dflt(_DEFAULTS, "seed", "seed; trajectory k uses SeedSequence(seed).spawn()[k]"))
    t.add_argument("--n-jobs", type=int, default=None,
                   help=_dflt(_DEFAULTS, "n_jobs", "parallel workers, at most the CPU count"))
    t.add_argument("--backend", choices=("loky", "threading", "dask"), default=None,
                   help=_dflt(_DEFAULTS, "backend", "joblib backend; dask without --scheduler starts a local "
                                                    "cluster of n-jobs workers"))
    t.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (with --backend dask)")
    t.add_argument("--groups", type=int, default=None,
                   help=_dflt(_DEFAULTS, "groups", "trajectory groups for the jackknife errors"))
    t.add_argument("--theta", type=_real, default=None,
                   help=_dflt(_DEFAULTS, "theta", "--method homodyne: phase of the signal output [rad]"))
    t.add_argument("--heterodyne", action="store_true", default=None,
                   help="--method homodyne: heterodyne instead of homodyne detection")
    t.add_argument("--dt", type=_real, default=None,
                   help=unit_help("dt", "homodyne / positive-p / wigner time step", "1e-3 / 2e-3 / 2e-3 by method"))
    if not discharge:
        t.add_argument("--basis", choices=("fock", "displaced"), default=None,
                       help=_dflt(_DEFAULTS, "basis",
                                  "--method homodyne: fock integrates in the lab Fock basis --ns x --np; displaced "
                                  "moves a small Fock basis with each trajectory's means (large photon numbers); "
                                  "--ns/--np are then the lab-frame output sizes, chosen from the mean field when "
                                  "left at their defaults"))
        t.add_argument("--check-step", action="store_true", default=None,
                       help="positive-p / wigner: also run at dt/2 on the same noise paths and report the step "
                            "differences of the moments in units of their standard errors (output: the dt run)")
    name = "discharge" if discharge else "charge"
    _output_args(r, f"the netCDF-4 data file {name}.h5 and the plot {name}.png")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cimqb-traj", description="DOPO quantum battery (coherent Ising machine spin)",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cimqb-traj {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _model_args(sub.add_parser("charge", help="charging dynamics W(t), W_c(t), W_i(t)", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter), discharge=False)
    _model_args(sub.add_parser("discharge", help="discharge into a two-level load", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter), discharge=True)
    th = sub.add_parser("threshold", help="steady-state <n_s> over the pump: mean-field and quantum thresholds",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = th.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p", "delta", "nth_s", "nth_p"):
        add_param(g, name)
    for name in ("Ns", "Np"):
        add_param(g, name, given_only=True, note="--method exact only")
    for dest, text in (("F_min", "smallest pump amplitude"), ("F_max", "largest pump amplitude")):
        g.add_argument(_opt(dest), type=_real, default=_THRESHOLD_GRID[dest],
                       help=unit_help("F", text, _THRESHOLD_GRID[dest]))
    g.add_argument("--F-steps", type=int, default=_THRESHOLD_GRID["F_steps"],
                   help=_dflt(_THRESHOLD_GRID, "F_steps", "number of pump amplitudes, uniform grid"))
    r = th.add_argument_group("run")
    r.add_argument("--method", default=None,
                   help=_dflt(_THRESHOLD_GRID, "method", "comma-separated: mean-field, exact, positive-p, wigner"))
    r.add_argument("--ntraj", type=int, default=None,
                   help=_dflt(_THRESHOLD_DEFAULTS, "ntraj", "positive-p / wigner: samples per pump value"))
    r.add_argument("--t-steady", type=_real, default=None,
                   help=unit_help("t_steady", "positive-p / wigner: integration time to the steady state",
                                  _THRESHOLD_DEFAULTS["t_steady"]))
    r.add_argument("--dt", type=_real, default=None,
                   help=unit_help("dt", "positive-p / wigner: time step", "the method's"))
    r.add_argument("--seed", type=int, default=None,
                   help=_dflt(_THRESHOLD_DEFAULTS, "seed", "positive-p / wigner: seed (pump value k uses seed + k)"))
    r.add_argument("--n-jobs", type=int, default=None,
                   help=_dflt(_THRESHOLD_DEFAULTS, "n_jobs", "positive-p / wigner: parallel workers"))
    _trunc_tol_arg(r, "--method exact only: ")
    _deprecated(r, "--methods", "method")
    _deprecated(r, "--samples", "ntraj", type=int)
    _output_args(r, "threshold.json and threshold.png")
    from .. import spin_cli

    spin_cli.add_parser(sub, _real, epilog=EPILOG)
    from .. import crosscheck

    crosscheck.add_parser(sub, epilog=EPILOG)
    rf = sub.add_parser("run", help="a run file (TOML): sweep parameters, write one netCDF dataset",
                        description=runfile_doc(), epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rf.add_argument("runfile", metavar="FILE.toml", help="the run file")
    _output_args(rf, "<run file name>.nc", "the run file's folder")
    rep = sub.add_parser("reproduce", help="recompute the paper's figures, summary.json and REPORT.md",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("--only", help="comma-separated results, e.g. fig3,fig8 (default: all)")
    rep.add_argument("--out", metavar="DIR", default="reproduction", help="output folder (reproduction)")
    rep.add_argument("--n-jobs", type=int, default=-1, help="parallel processes (-1: all cores)")
    rep.add_argument("--trunc-tol", type=_real, default=None,
                     help="not accepted: the reproduction runs the paper's own truncations and records each "
                          "figure's truncation verdict; use charge --trunc-tol to vary the tolerance")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------


def _applicable(a, method: str) -> None:
    """Refuse options given for a method they do not apply to; fill in the defaults of the rest."""
    for dest, methods in _APPLIES.items():
        if not hasattr(a, dest):
            continue
        given = getattr(a, dest) is not None
        if given and method not in methods:
            which = ", ".join(m for m in methods if m in METHODS)
            raise UsageError(f"{_opt(dest)}: does not apply to --method {method} (only {which})"
                             + ("; the mean field is deterministic" if method == "mean-field" and dest in
                                ("ntraj", "seed", "groups", "n_jobs", "backend") else ""))
        if not given and dest in _DEFAULTS:
            setattr(a, dest, _DEFAULTS[dest])
    if getattr(a, "scheduler", None) and a.backend != "dask":
        raise UsageError("--scheduler: needs --backend dask")


def _trunc_tol(a) -> float:
    return TRUNC_TOL if a.trunc_tol is None else check_tol(a.trunc_tol)


def _grid(t_end: float, dt: float) -> np.ndarray:
    """t = 0, dt, 2 dt, ... up to t_end, and t_end itself when the steps do not land on it."""
    resources.check_grid(t_end, dt)  # its limits; the step count below never rounds past t_end
    m = int(math.floor(t_end / dt * (1 + 1e-12)))
    g = np.arange(m + 1) * dt
    return g if abs(g[-1] - t_end) <= 1e-9 * t_end else np.append(g, t_end)


def _battery(a) -> BatteryParams:
    return BatteryParams(
        kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, F=a.F, delta=a.delta, nth_s=a.nth_s,
        nth_p=a.nth_p, Ns=a.ns, Np=a.np, t_off=getattr(a, "t_off", None), eps=getattr(a, "eps", 0.0),
        t_ramp=getattr(a, "t_ramp", None),
    )


def _check_out(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"--out: cannot write to {path!r} ({e.strerror or e})") from None


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------


def _null_reason(key: str, ctx: dict) -> str:
    if key.endswith("_err") or "_err." in key or key.endswith("_ci"):
        if ctx.get("deterministic"):
            return "deterministic method: no sampling error"
        if ctx.get("groups") is not None and ctx["groups"] < 2:
            return f"no error with {ctx['groups']} trajectory group (needs >= 2: more --ntraj or --groups)"
    return ctx.get("reasons", {}).get(key, "not a finite number (NaN or infinity) in the computation")


def strict(doc: dict, ctx: dict | None = None) -> dict:
    """``doc`` with non-finite numbers as null and ``null_reasons`` {key: why} (list indices
    dropped from the keys) when there were any."""
    nulls: list = []
    out = clean(doc, nulls)
    if nulls:
        reasons = dict(out.get("null_reasons") or {})
        for path in nulls:
            key = re.sub(r"\[\d+\]", "", path)
            reasons.setdefault(key, _null_reason(key, ctx or {}))
        out["null_reasons"] = reasons
    return out


def _dump(doc: dict, fh, ctx=None, **kw) -> None:
    """Strict JSON of ``doc`` with its ``units`` block (``dataset.units_block``)."""
    import json

    json.dump(strict({**doc, "units": units_block(doc)}, ctx), fh, allow_nan=False, **kw)


def _print_json(doc: dict, ctx=None) -> None:
    _dump(doc, sys.stdout, ctx)
    print()


def _floats(x) -> list:
    return [float(v) for v in np.asarray(x)]


def _truncation_line(tr: dict | None) -> str:
    if not tr:
        return "  truncation: not assessed"
    return f"  truncation: {tr.get('verdict', '?')}: {tr.get('message', '')}"


def _ensemble_json(res, names) -> dict:
    out = {"ntraj": res.ntraj, "seed": res.seed, "groups": res.groups, "interrupted": bool(res.interrupted),
           "options": res.options}
    for n in names:
        out[n + "_err"] = _floats(getattr(res, n + "_err"))
    return out


def _dims(res) -> dict:
    """The dimensions a Fock-space run used: the largest signal / pump basis (the moving basis'
    largest for --basis displaced, else the lab truncation) and the lab output sizes."""
    d = (getattr(res, "options", None) or {}).get("dims")
    if d:
        return {k: int(v) for k, v in d.items()}
    Ns, Np = res.params.Ns, res.params.Np
    return {"Ns_basis_max": Ns, "Np_basis_max": Np, "Ns_out": Ns, "Np_out": Np}


def _pm(res, name, i) -> str:
    err = getattr(res, name + "_err", None)
    v = getattr(res, name)[i]
    if err is None or not np.isfinite(err[i]) or res.method == "mean-field":  # deterministic: no error bar
        return f"{v:.6g}"
    return f"{v:.5g} +- {err[i]:.2g}"


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


# ------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------


def _traj_kw(a) -> dict:
    """Keywords of trajectories.charge / discharge from the command line."""
    kw = {"method": a.method, "ntraj": a.ntraj, "seed": a.seed, "n_jobs": a.n_jobs, "backend": a.backend,
          "scheduler": a.scheduler, "groups": a.groups, "progress": False if a.no_progress else None}
    if a.method == "homodyne":
        kw.update(theta=a.theta, heterodyne=a.heterodyne)
        if getattr(a, "basis", "fock") != "fock":
            kw["basis"] = a.basis
        if a.dt is not None:
            kw["dt"] = a.dt
    return kw


class _Interrupted(Exception):
    """A run stopped by Ctrl-C that has nothing valid to keep (exit 130)."""


def _phase_space(a, p: BatteryParams, t: np.ndarray, tol: float):
    """A phase-space method (``cimqb_traj.phasespace``) through the ensemble runner.  The
    dynamics are untruncated; --ns/--np size the estimated Fock matrices (their truncation
    verdict is the result's ``truncation``)."""
    from ..phasespace import method
    from ..trajectories.base import charge_problem
    from ..trajectories.ensemble import run

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
    if getattr(a, "scheduler", None):
        resources.check_scheduler(a.scheduler)
    kw = {}
    if a.method in SAMPLED:
        kw = dict(ntraj=a.ntraj, groups=a.groups, n_jobs=a.n_jobs, backend=a.backend, dt=a.dt)
    if a.command == "charge":
        if getattr(a, "basis", None) == "displaced":
            from ..trajectories import lab_dims

            ns, np_ = lab_dims(p, t)
            p, kw["basis"] = p.replace(Ns=int(ns), Np=int(np_)), "displaced"
        resources.check_charge(p, t, a.method, engine=a.engine or "fast", trunc_tol=tol, **kw)


def _interrupted_note(res, asked) -> str:
    return (f"  INTERRUPTED: {res.ntraj} of {asked} trajectories finished ({res.groups} groups); "
            "the numbers are theirs")


def _charge(a) -> int:
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
        if getattr(a, "basis", None) == "displaced":
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


def _discharge(a) -> int:
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




def _methods(text: str, known, opt: str = "--method") -> list:
    """The comma-separated methods of ``text``, each one of ``known``."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in known]
    if bad or not methods:
        raise UsageError(f"{opt}: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(known)}")
    return methods


def _threshold(a) -> int:
    from .. import threshold

    for name, v in (("F_min", a.F_min), ("F_max", a.F_max)):
        if not math.isfinite(v) or v < 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be finite and >= 0, got {v}")
    if a.F_steps < 5:
        raise UsageError(f"--F-steps: needs at least 5 points, got {a.F_steps}")
    if a.F_max <= a.F_min:
        raise UsageError(f"--F-max: must exceed --F-min ({a.F_min:g}), got {a.F_max:g}")
    m_opt, n_opt = _alias(a, "method"), _alias(a, "ntraj")
    methods = _methods(a.method or _THRESHOLD_GRID["method"], threshold.METHODS, m_opt)
    sampled = [m for m in methods if m in ("positive-p", "wigner")]
    for dest in _THRESHOLD_PS:
        if getattr(a, dest) is not None and not sampled:
            opt = n_opt if dest == "ntraj" else _opt(dest)
            raise UsageError(f"{opt}: applies to {m_opt} positive-p / wigner only, not {','.join(methods)}")
        if getattr(a, dest) is None and dest in _THRESHOLD_DEFAULTS:
            setattr(a, dest, _THRESHOLD_DEFAULTS[dest])
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
            print(f"  wrote {os.path.join(a.out, 'threshold.json')} and threshold.png")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def runfile_doc() -> str:
    """The run command's description: the run file format (``runfile`` module docstring)."""
    from .. import runfile

    return runfile.__doc__.split("\n\n", 1)[1].split("\nA swept quantity")[0].replace("``", "")


def _run(a) -> int:
    from .. import runfile

    study = runfile.load(a.runfile)  # the whole file is checked before anything runs
    path, ds = runfile.run(study, a.out, progress=False if a.no_progress else None)
    sweeps = dict(study.sweeps)
    if a.json:
        _print_json({"file": path, "command": study.command, "method": study.method, "sweep": sweeps,
                     "dims": {k: int(v) for k, v in ds.sizes.items()}})
    else:
        shape = " x ".join(f"{n} ({len(v)})" for n, v in sweeps.items())
        print(f"run {a.runfile}: {study.command} ({study.method}) over {shape}")
        print(f"  wrote {path}")
    return EXIT_OK


def _reproduce(a) -> int:
    from ..paper import RESULTS, reproduce

    if a.trunc_tol is not None:
        raise UsageError("--trunc-tol: reproduce runs the paper's own truncations and records each figure's "
                         "truncation verdict; vary the tolerance with charge --trunc-tol")
    only = [x.strip() for x in a.only.split(",") if x.strip()] if a.only else None
    bad = [x for x in only or [] if x not in RESULTS]
    if bad:
        raise UsageError(f"--only: unknown result(s) {', '.join(bad)}; choose from {', '.join(RESULTS)}")
    if a.n_jobs == 0 or a.n_jobs < -1:
        raise UsageError(f"--n-jobs: must be a positive number or -1, got {a.n_jobs}")
    if a.n_jobs > 0:
        resources.check_jobs(a.n_jobs)
    summary = reproduce(only, a.out, n_jobs=a.n_jobs, progress=False if a.no_progress else None)
    interrupted = isinstance(summary, dict) and bool(summary.get("interrupted", False))
    n = len(summary.get("results", summary)) if isinstance(summary, dict) else len(summary)
    print(f"wrote {n} results, summary.json and REPORT.md to {a.out}"
          + ("  (INTERRUPTED: the unfinished results are marked)" if interrupted else ""))
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------


def _showwarning(message, category, filename, lineno, file=None, line=None):
    """One line per warning, without the Python source line."""
    text = " ".join(str(message).split())
    print(f"cimqb-traj: warning: {text}", file=sys.stderr if file is None else file)


def _option_of(msg: str) -> str:
    name = re.split(r"[\s:=]", msg, maxsplit=1)[0]
    opt = _OPTION.get(name)
    return f"{opt}: " if opt and not msg.startswith(opt) else ""


def _with_option(msg: str) -> str:
    """``msg`` led by the command-line option of the parameter it names first ("F: ..." becomes
    "--F: ...", "t_end must be ..." becomes "--t-end: t_end must be ...")."""
    name, sep, rest = msg.partition(": ")
    if sep and name in _OPTION:
        return f"{_OPTION[name]}: {rest}"
    return _option_of(msg) + msg


def _one_line(msg) -> str:
    return " ".join(str(msg).split())


def main(argv=None) -> int:
    """Run the command line; returns the exit code (module docstring)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        a = parser.parse_args(argv)
        if a.out:
            _check_out(a.out)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _showwarning
            from ..spin_cli import run as _phase_selection

            from ..crosscheck import run as _crosscheck

            commands = {"charge": _charge, "discharge": _discharge, "threshold": _threshold, "reproduce": _reproduce,
                        "phase-selection": lambda a: _phase_selection(a, UsageError), "crosscheck": _crosscheck,
                        "run": _run}
            with command_line(shlex.join(["cimqb-traj", *map(str, argv)])):  # recorded in the files written
                return commands[a.command](a)
    except UsageError as e:
        print(f"cimqb-traj: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_REFUSED
    except Refused as e:  # ResourceError, TruncationError, SamplesError: what would work is in the message
        msg = _one_line(e)
        if isinstance(e, TruncationError):
            prefix = "--ns/--np: "
        elif isinstance(e, SamplesError):
            named = _with_option(msg)  # a SamplesError that names no parameter is about the sample count
            msg, prefix = (named, "") if named != msg else (msg, "--ntraj: ")
        else:
            msg, prefix = _with_option(msg), ""
        print(f"cimqb-traj: error: {prefix}{msg}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as e:
        print(f"cimqb-traj: error: {_with_option(_one_line(e))}", file=sys.stderr)
        return EXIT_REFUSED
    except (KeyboardInterrupt, _Interrupted) as e:
        # e.g. what a reproduction kept (ReproductionInterrupted)
        why = f": {_one_line(e).removeprefix('interrupted; ')}" if str(e) else ""
        print(f"cimqb-traj: interrupted{why}; no output file was left half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as e:  # a solver failure on input that passed every check: a bug
        print(f"cimqb-traj: internal error: {_one_line(e)}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
