"""``cimqb-traj run FILE.toml``: a run file (``cimqb_traj.runfile``) swept into one netCDF dataset."""

from __future__ import annotations

import argparse

from .. import runfile
from .common import EPILOG, EXIT_OK, _output_args, _print_json


def runfile_doc() -> str:
    """The run command's description: the run file format (``runfile`` module docstring)."""
    return runfile.__doc__.split("\n\n", 1)[1].split("\nA swept quantity")[0].replace("``", "")


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``run`` on the subparsers ``sub``; its description is the run file format."""
    p = sub.add_parser("run", help="a run file (TOML): sweep parameters, write one netCDF dataset",
                       description=runfile_doc(), epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runfile", metavar="FILE.toml", help="the run file")
    _output_args(p, "<run file name>.nc", "the run file's folder")
    return p


def run(a) -> int:
    """Run the run file ``a.runfile`` (checked whole before anything runs); returns the exit code."""
    study = runfile.load(a.runfile)
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
