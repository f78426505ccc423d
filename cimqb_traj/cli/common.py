"""What every command shares: exit codes, the parser class and ``UsageError``, the option helpers
(model options' help from the parameter definitions, times, output options, deprecated spellings),
the input checks, and the output (strict JSON with its units block, the text lines).

Also the options that ``charge`` and ``discharge`` share (the model, the sampled methods' options
and which methods they apply to).  See the ``cimqb_traj.cli`` docstring for the vocabulary and the
exit codes.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import warnings

import numpy as np

from .. import resources
from ..dataset import units_block
from ..jsonio import clean
from ..params import BatteryParams, LoadParams
from ..truncation import TRUNC_TOL, check_tol

#: Phase-space methods (``cimqb_traj.phasespace``): charging only.
PHASE_SPACE = ("mean-field", "positive-p", "wigner")
METHODS = ("exact", "jump", "homodyne") + PHASE_SPACE
SAMPLED = ("jump", "homodyne", "positive-p", "wigner")

#: exit codes (``cimqb_traj.cli`` docstring)
EXIT_OK, EXIT_INTERNAL, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """exit codes:
  0    result computed and written
  1    internal failure (a bug: please report it)
  2    refused: bad input, an option that does not apply to the method, a resource or
       truncation limit, too few samples (one line on stderr naming the option)
  130  interrupted (Ctrl-C): finished trajectory groups / sweep points are kept and marked
       'interrupted' (JSON, HDF5, text); nothing half-written is left behind"""

#: former option spellings (still accepted, with a warning) -> the argparse dest of their option
_DEPRECATED = {"--methods": "method", "--samples": "ntraj"}


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


class _Interrupted(Exception):
    """A run stopped by Ctrl-C that has nothing valid to keep (exit 130)."""


def _one_line(msg) -> str:
    return " ".join(str(msg).split())


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


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------


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


def _methods(text: str, known, opt: str = "--method") -> list:
    """The comma-separated methods of ``text``, each one of ``known``."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in known]
    if bad or not methods:
        raise UsageError(f"{opt}: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(known)}")
    return methods


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


def number_list(text: str, opt: str, nonneg: bool = False) -> list:
    """The comma-separated numbers of option ``opt`` (finite; >= 0 with ``nonneg``), else a
    ``UsageError`` naming the option."""
    try:
        v = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{opt}: not a comma-separated list of numbers: {text!r}") from None
    if not v or not all(math.isfinite(x) and (x >= 0 or not nonneg) for x in v):
        raise UsageError(f"{opt}: needs finite numbers{' >= 0' if nonneg else ''}, got {text!r}")
    return v


def _truncation_line(tr: dict | None) -> str:
    if not tr:
        return "  truncation: not assessed"
    return f"  truncation: {tr.get('verdict', '?')}: {tr.get('message', '')}"


# ------------------------------------------------------------------------------------------
# what charge and discharge share: the model, the sampled methods' options, their result lines
# ------------------------------------------------------------------------------------------

# charge / discharge: option (argparse dest) -> the methods it applies to
_APPLIES = {
    "engine": ("exact",), "ntraj": SAMPLED, "seed": SAMPLED, "groups": SAMPLED, "n_jobs": SAMPLED,
    "backend": SAMPLED, "scheduler": SAMPLED, "theta": ("homodyne",), "heterodyne": ("homodyne",),
    "basis": ("homodyne",),
    "dt": ("homodyne", "positive-p", "wigner"), "check_step": ("positive-p", "wigner"),
}
_DEFAULTS = {"engine": "fast", "ntraj": 1000, "seed": 0, "groups": 20, "n_jobs": 1, "backend": "loky",
             "theta": 0.0, "heterodyne": False, "basis": "fock"}


def _model_group(p: argparse.ArgumentParser):
    """The model options of ``charge`` and ``discharge`` (the group; each adds its own times and
    pump or load options after these)."""
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p", "F", "delta", "nth_s", "nth_p", "Ns", "Np"):
        add_param(g, name)
    return g


def _sampling_group(p: argparse.ArgumentParser):
    """The trajectory and phase-space sample options of ``charge`` and ``discharge`` (``_APPLIES``
    says which methods each applies to); ``charge`` adds ``--basis`` and ``--check-step``."""
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
    return t


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


def _ensemble_json(res, names) -> dict:
    out = {"ntraj": res.ntraj, "seed": res.seed, "groups": res.groups, "interrupted": bool(res.interrupted),
           "options": res.options}
    for n in names:
        out[n + "_err"] = _floats(getattr(res, n + "_err"))
    return out


def _pm(res, name, i) -> str:
    err = getattr(res, name + "_err", None)
    v = getattr(res, name)[i]
    if err is None or not np.isfinite(err[i]) or res.method == "mean-field":  # deterministic: no error bar
        return f"{v:.6g}"
    return f"{v:.5g} +- {err[i]:.2g}"


def _interrupted_note(res, asked) -> str:
    return (f"  INTERRUPTED: {res.ntraj} of {asked} trajectories finished ({res.groups} groups); "
            "the numbers are theirs")
