"""``cimqb-traj reproduce``: recompute the paper's figures, ``summary.json`` and ``REPORT.md``
(``cimqb_traj.paper.reproduce``)."""

from __future__ import annotations

import argparse

from .. import resources
from .common import EPILOG, EXIT_INTERRUPTED, EXIT_OK, UsageError, _real


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``reproduce`` on the subparsers ``sub``."""
    p = sub.add_parser("reproduce", help="recompute the paper's figures, summary.json and REPORT.md",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated results, e.g. fig3,fig8 (default: all)")
    p.add_argument("--out", metavar="DIR", default="reproduction", help="output folder (reproduction)")
    p.add_argument("--n-jobs", type=int, default=-1, help="parallel processes (-1: all cores)")
    p.add_argument("--trunc-tol", type=_real, default=None,
                   help="not accepted: the reproduction runs the paper's own truncations and records each "
                        "figure's truncation verdict; use charge --trunc-tol to vary the tolerance")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(a) -> int:
    """Run ``reproduce`` from the parsed arguments ``a``; returns the exit code."""
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


