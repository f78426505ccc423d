"""Command line: ``cimqb-traj charge | discharge | threshold | phase-selection | crosscheck | network | run |
reproduce``.

One vocabulary in every command: ``--method`` (a comma-separated list where a command runs
several), lists comma-separated, ``--ntraj`` the number of trajectories or phase-space samples,
``--t-end`` the last time of the output grid t = 0, dt_out, ..., t_end (counted from the start of
charging; in ``discharge`` from ``--t0``, where its time axis starts), ``--out DIR`` the folder the
files go to, ``--json`` one JSON object on stdout.  The model options' help (long name, unit,
default) is read from the parameter definitions: ``dataset.QUANTITIES`` and the fields of
``BatteryParams`` / ``LoadParams`` (``PARAM_OPTIONS``, ``add_param``).  Former spellings
(``_DEPRECATED``: threshold's and crosscheck's ``--methods``, threshold's ``--samples``) still work, with a one-line warning.
``run FILE.toml`` runs a run file (``cimqb_traj.runfile``); ``network`` runs the coherent Ising
machine on an instance (``cimqb_traj.network``).

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

Modules
-------
``common`` the shared pieces (exit codes, ``UsageError``, the option helpers, the input checks,
strict JSON with units); one module per command, each with ``add_parser(sub)`` and
``run(args) -> int``: ``charge``, ``discharge``, ``threshold``, ``phase_selection``,
``crosscheck``, ``network``, ``run``, ``reproduce``.  This module builds the parser (``build_parser``) and maps
errors to exit codes (``main``).  Importing it and building the parser imports no solver (qutip,
numba): each command imports its solver when it runs.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import warnings

from .. import __version__
from ..dataset import command_line
from ..errors import Refused, SamplesError
from ..truncation import TruncationError
from . import charge, crosscheck, discharge, network, phase_selection, reproduce, run, threshold
from .common import (EPILOG, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, UsageError, _check_out,
                     _Interrupted, _one_line, _Parser)
# re-exported: what the tests, the docs and ``cimqb_traj.runfile`` import from ``cimqb_traj.cli``
from .common import (METHODS, PARAM_OPTIONS, PHASE_SPACE, SAMPLED, T_END, T_END_FROM_0, _grid, add_param,
                     param_default, param_help, strict, unit_help)

__all__ = ["COMMANDS", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED", "METHODS", "PARAM_OPTIONS",
           "PHASE_SPACE", "SAMPLED", "T_END", "T_END_FROM_0", "UsageError", "add_param", "build_parser", "main",
           "param_default", "param_help", "strict", "unit_help"]

#: the commands in the order ``--help`` lists them: name -> module (``add_parser``, ``run``)
COMMANDS = {"charge": charge, "discharge": discharge, "threshold": threshold, "phase-selection": phase_selection,
            "crosscheck": crosscheck, "network": network, "run": run, "reproduce": reproduce}

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


def build_parser() -> argparse.ArgumentParser:
    """The ``cimqb-traj`` parser: one subparser per command (``COMMANDS``)."""
    parser = _Parser(prog="cimqb-traj", description="DOPO quantum battery (coherent Ising machine spin)",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cimqb-traj {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


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
            with command_line(shlex.join(["cimqb-traj", *map(str, argv)])):  # recorded in the files written
                return COMMANDS[a.command].run(a)
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
