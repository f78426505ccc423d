"""``cimqb-traj crosscheck``: every method beside the exact solver on one workload, the table of
W, W_c, W_i, <n_s> with standard errors, z-scores and a verdict per method
(``cimqb_traj.crosscheck``, whose docstring states the references and the verdicts);
``crosscheck.json``, ``crosscheck.h5`` (netCDF-4) and ``crosscheck.png`` with ``--out``."""

from __future__ import annotations

import argparse
import json
import os
import re

from .. import crosscheck as api
from ..errors import Refused
from ..results import atomic_path
from ..truncation import TRUNC_TOL
from .common import (EPILOG, EXIT_OK, T_END_FROM_0, UsageError, _battery, _deprecated, _dflt, _grid, _opt,
                     _one_line, _output_args, _real, _time_arg, _warn_deprecated, add_param, strict,
                     unit_help)

#: the sampled methods' options -> their defaults
_SAMPLED_DEFAULTS = {"ntraj": 500, "seed": 0, "groups": 20, "n_jobs": 1}
#: why a JSON value is null (``common.strict``'s ``null_reasons``)
_NULL_REASONS = {"table.err": "no standard error: a deterministic method (the mean field)"}


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``crosscheck`` on the subparsers ``sub`` (``argparse`` ``add_subparsers()``): the
    model options from the parameter definitions (``common.add_param``), ``--method`` a
    comma-separated list (``--methods``, its former spelling, still works with a warning)."""
    p = sub.add_parser("crosscheck", help="every method beside the exact solver: table, z-scores, verdicts",
                       description=api.__doc__.split("\n\n")[0] + " " + api.REFERENCE_RULE + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's)")
    for name in ("kappa", "gamma_s", "gamma_p", "F", "delta", "nth_s", "nth_p", "eps"):
        add_param(g, name)
    for name in ("Ns", "Np"):
        add_param(g, name, note="the trajectories' and the exact reference's truncation")
    for name in ("t_off", "t_ramp"):
        add_param(g, name)
    times = {"t_end": api.T_END, "dt_out": api.DT_OUT}
    _time_arg(g, "t_end", times, T_END_FROM_0)
    _time_arg(g, "dt_out", times, "step of the compared output times")
    r = p.add_argument_group("cross-check")
    r.add_argument("--method", dest="methods", default=None,
                   help=f"comma-separated, any of {','.join(api.METHODS)} (default: all)")
    _deprecated(r, "--methods", "methods")
    d = _SAMPLED_DEFAULTS
    r.add_argument("--ntraj", type=int, default=None, help=_dflt(d, "ntraj", "jump / homodyne trajectories"))
    r.add_argument("--samples", type=int, default=None, help="positive-p / wigner samples (default: --ntraj)")
    r.add_argument("--seed", type=int, default=None, help=_dflt(d, "seed", "seed of every sampled method"))
    r.add_argument("--groups", type=int, default=None,
                   help=_dflt(d, "groups", "jackknife groups of the sampled methods"))
    r.add_argument("--n-jobs", type=int, default=None,
                   help=_dflt(d, "n_jobs", "parallel workers of the sampled methods"))
    r.add_argument("--converged", default="search",
                   help="converged truncation of the phase-space reference: search (grow Ns/Np until the "
                        "guard says ok), NS,NP, or none (jump / homodyne only) (default: search)")
    r.add_argument("--trunc-tol", type=_real, default=TRUNC_TOL,
                   help=unit_help("trunc_tol", "truncation guard tolerance, > 0: the verdicts and the search "
                                               "target", TRUNC_TOL))
    r.add_argument("--mf-rtol", type=_real, default=None,
                   help=f"mean field: relative tolerance of <n_s> against the converged exact run [1] "
                        f"(default: {TRUNC_TOL:g})")
    _output_args(r, "crosscheck.json, crosscheck.h5 (netCDF-4) and crosscheck.png")
    return p


def _converged_arg(text: str):
    if text == "search":
        return True
    if text == "none":
        return False
    try:
        ns, np_ = (int(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--converged: search, none or NS,NP (two integers), got {text!r}") from None
    return ns, np_


def _method_option(a) -> str:
    """The spelling given for the methods: ``--method``, or the former ``--methods`` (which then
    fills ``a.methods``; the warning comes once the input is checked, ``common._warn_deprecated``).
    Both at once are refused, as in ``threshold``."""
    if a.old_methods is None:
        return "--method"
    if a.methods is not None:
        raise UsageError("--methods: the former spelling of --method; give --method only")
    a.methods = a.old_methods
    a.deprecated = [*getattr(a, "deprecated", []), "--methods"]
    return "--methods"


def run(a) -> int:
    """Run the ``crosscheck`` command from arguments ``a`` parsed by ``cli.build_parser`` (``cli.main``
    calls it); returns the exit code (0).  Bad input raises ``UsageError`` naming the option
    (the caller prints one line, exit 2)."""
    m_opt = _method_option(a)
    try:
        return _run(a, m_opt)
    except ValueError as e:  # from the API: name the option instead of the parameter
        raise UsageError(_option_first(_one_line(e), m_opt)) from None
    except Refused as e:  # e.g. the converged search: "converged: ..." -> "--converged: ..."
        msg = _option_first(_one_line(e), m_opt)
        if msg == _one_line(e):
            raise
        raise type(e)(msg) from None


def _run(a, m_opt: str) -> int:
    methods = api._check_methods(api.METHODS if a.methods is None else a.methods)
    sampled_tr = [m for m in methods if m in api.TRAJECTORY]
    sampled_ps = [m for m in methods if m in ("positive-p", "wigner")]
    if a.ntraj is not None and not sampled_tr:
        raise UsageError(f"--ntraj: applies to jump / homodyne only, not {m_opt} {','.join(methods)}")
    if a.samples is not None and not sampled_ps:
        raise UsageError(f"--samples: applies to positive-p / wigner only, not {m_opt} {','.join(methods)}")
    for dest, default in _SAMPLED_DEFAULTS.items():
        if dest != "ntraj" and getattr(a, dest) is not None and not (sampled_tr or sampled_ps):
            raise UsageError(f"{_opt(dest)}: applies to the sampled methods (jump, homodyne, positive-p, "
                             f"wigner) only, not {m_opt} {','.join(methods)}")
        if getattr(a, dest) is None:
            setattr(a, dest, default)
    if a.mf_rtol is not None and "mean-field" not in methods:
        raise UsageError(f"--mf-rtol: applies to the mean-field method only, not {m_opt} {','.join(methods)}")
    kw = api._checked(_battery(a), _grid(a.t_end, a.dt_out), methods, ntraj=a.ntraj, samples=a.samples,
                      seed=a.seed, groups=a.groups, n_jobs=a.n_jobs, converged=_converged_arg(a.converged),
                      trunc_tol=a.trunc_tol, mf_rtol=TRUNC_TOL if a.mf_rtol is None else a.mf_rtol)
    _warn_deprecated(a)
    cc = api._crosscheck(**kw, progress=False if a.no_progress else None)
    doc = strict(cc.to_dict(), {"reasons": _NULL_REASONS})  # the strict JSON of every command
    if a.out:
        with atomic_path(os.path.join(a.out, "crosscheck.json")) as tmp, open(tmp, "w") as f:
            json.dump(doc, f, allow_nan=False, indent=1)
        cc.plot(os.path.join(a.out, "crosscheck.png"))
        cc.save(os.path.join(a.out, "crosscheck.h5"))  # netCDF-4: the table for xarray
    if a.json:
        print(json.dumps(doc, allow_nan=False))
    else:
        print(cc.table())
        if a.out:
            print(f"wrote {os.path.join(a.out, 'crosscheck.json')}, crosscheck.h5 and crosscheck.png")
    return EXIT_OK


_NAMES = ("kappa", "gamma_s", "gamma_p", "F", "delta", "nth_s", "nth_p", "Ns", "Np", "t_off", "eps", "t_ramp",
          "t_end", "dt_out", "methods", "ntraj", "samples", "seed", "groups", "n_jobs", "trunc_tol", "mf_rtol",
          "converged")


def _option_first(msg: str, method_option: str = "--method") -> str:
    """``msg`` led by the command-line option of the parameter it names first ("ntraj: ..." becomes
    "--ntraj: ...", "kappa must be ..." becomes "--kappa: kappa must be ...", "methods: ..." the
    spelling ``method_option`` the user gave)."""
    name = re.split(r"[\s:=]", msg, maxsplit=1)[0]
    if name not in _NAMES:
        return msg
    opt = method_option if name == "methods" else "--" + (name.lower() if name in ("Ns", "Np") else
                                                          name.replace("_", "-"))
    rest = msg[len(name):]
    return f"{opt}:{rest[1:]}" if rest.startswith(":") else f"{opt}: {msg}"

