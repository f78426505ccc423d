"""``cimqb-traj reproduce``: every result of the paper in one command.

All exact runs the requested results need are collected, de-duplicated and computed in
parallel (joblib, one process per core) into the on-disk cache; then each result is evaluated,
plotted (PNG and PDF), its data written (netCDF-4 with units and provenance, ``_write_data``), and
``summary.json`` and ``REPORT.md`` are written.  Output files are written atomically.

Interrupts (Ctrl-C).  The finished work is kept and marked: exact runs already computed stay in
the cache (each entry is written atomically), every result whose figure and data were written
stays, and ``summary.json`` (key ``"interrupted"``) and ``REPORT.md`` (a banner) are written for
the finished results and name what did not run.  Then :class:`ReproductionInterrupted`, a
``KeyboardInterrupt``, is raised again, so the command line exits with 130, never 0.
"""

from __future__ import annotations

import json
import os

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..results import atomic_path
from .cache import usable
from .figures import PAPER, RESULTS, compute, runs
from .plots import plot_paper

__all__ = ["reproduce", "ReproductionInterrupted", "SUMMARY_KEYS"]

#: result name -> key in summary.json (the issue's names)
SUMMARY_KEYS = {"fig2": "fig2b", "fig6": "fig6b", "fig7": "fig7b"}


class ReproductionInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`reproduce`: ``.summary`` holds the finished results (and the
    ``"interrupted"`` block written to summary.json), ``.out`` the output folder."""

    def __init__(self, summary: dict, out: str):
        super().__init__(f"interrupted; {len(summary) - 1} finished result(s) kept in {out}, "
                         "marked 'interrupted' in summary.json and REPORT.md")
        self.summary, self.out = summary, out


_T, _TD = ("1/gamma_s", "time"), ("1/gamma_s", "time since the load was connected (at t0)")
_F = ("sqrt(gamma_s)", "pump amplitude F")
_W, _E = ("hbar*gamma_s", "ergotropy W"), ("hbar*gamma_s", "ergotropy and its parts")
_KS, _KA = ("1", "normalised battery ergotropy kappa_s = W_s/omega_s"), ("1", "normalised load ergotropy kappa_a = W_a/omega_a")
#: (result, panel title) -> ((units, long name) of x, (units, long name) of the curves); a panel
#: missing here is written with units "unknown"
PANEL_UNITS = {
    ("fig2", "a: W(t)"): (_T, _W),
    ("fig2", "b: ln W_ss vs F"): (_F, ("1", "ln(W_ss / hbar gamma_s), steady-state ergotropy")),
    ("fig3", "W, W_c, W_i"): (_T, _E),
    ("fig4", "a: W after switch-off"): (_T, _E),
    ("fig4", "b: ln W"): (_T, ("1", "ln(W / hbar gamma_s)")),
    ("fig5", "a: literal units"): (_T, _E),
    ("fig5", "b: time in Fig. 2-4 units"): (("1/gamma_s", "time in the units of Figs. 2-4 (this run: gamma_s = 0.5)"),
                                           ("hbar*gamma_s", "ergotropy and its parts, in the units of Figs. 2-4")),
    ("fig6", "a: P = W/t"): (_T, ("hbar*gamma_s^2", "average charging power W/t")),
    ("fig6", "b: ln P_max vs F"): (_F, ("1", "ln(P_max / hbar gamma_s^2), largest charging power")),
    ("fig7", "a: W_c(t)"): (_T, ("hbar*gamma_s", "coherent ergotropy W_c")),
    ("fig7", "b: steady W_c"): (_F, ("hbar*gamma_s", "steady-state coherent ergotropy W_c")),
    ("fig8", "a: kappa_s"): (_TD, _KS), ("fig8", "b: kappa_a"): (_TD, _KA),
    ("fig9", "a: kappa_s"): (_TD, _KS), ("fig9", "b: kappa_a"): (_TD, _KA),
    ("fig10", "a: W(t), Np = 9"): (_T, _W),
    ("fig10", "b: W(t), Ns = 32"): (_T, _W),
    ("appD", "TLS decay"): (("1/gamma", "time (two-level system, gamma = omega = 1)"),
                           ("hbar*omega", "ergotropy and its parts (two-level system)")),
}


def _write_data(name, summary, panels, out):
    """``<name>.h5``: netCDF-4, one group per panel (coordinate ``x``, one variable per curve, with
    units and long names from :data:`PANEL_UNITS`), the summary (JSON) and the provenance as
    attributes of the root group.  ``xarray.open_dataset(path, group=title)`` reads a panel,
    ``xarray.open_datatree(path)`` all."""
    import xarray as xr

    from ..dataset import write_groups

    groups = {}
    for title, (x, curves) in panels.items():
        (xu, xl), (yu, yl) = PANEL_UNITS.get((name, title), (("unknown", "x"), ("unknown", "")))
        data = {label.replace("/", "_"): ("x", np.asarray(y), {"units": yu, "long_name": f"{yl}: {label}" if yl else label})
                for label, y in curves.items()}
        groups[title] = xr.Dataset(data, coords={"x": ("x", np.asarray(x, dtype=float), {"units": xu, "long_name": xl})},
                                   attrs={"title": title})
    write_groups(os.path.join(out, f"{name}.h5"), {"title": f"cimqb-traj reproduce: {name}", "result": name,
                                                   "summary": json.dumps(summary)}, groups)


def _rows(summary):
    for name, ref in PAPER.items():
        ours = summary.get(SUMMARY_KEYS.get(name, name))
        if ours is None:
            continue
        for key, paper in ref.items():
            if name in ("fig8", "fig9"):  # the saturated value: the largest over g
                val = max(ours["kappa_a_max"])
            elif key in ours:
                val = ours[key]
            elif name == "fig10":
                val = max((ours["Ns"] if key == "Ns_limit" else ours["Np"]).items(), key=lambda kv: int(kv[0]))[1]
            else:
                continue
            rel = (val - paper) / abs(paper)
            yield name, key, paper, float(val), rel


def _report(summary) -> str:
    lines = ["# Reproduction of the paper's numbers", ""]
    stop = summary.get("interrupted")
    if stop:
        lines += [f"**INTERRUPTED** (Ctrl-C during the {stop['stage']}): this report covers only "
                  f"{', '.join(stop['completed']) or 'no result'}; not completed: {', '.join(stop['not_completed'])} "
                  f"({stop['exact_runs_done']} of {stop['exact_runs_total']} exact runs finished and cached). "
                  "Files of the results not completed, where present, do not belong to this report.", ""]
    lines += [
             "Every value in 'ours' is computed from the model by `cimqb-traj reproduce`; fit windows and",
             "definitions are in `summary.json`.", "",
             "| result | quantity | paper | ours | rel. diff | verdict |", "|---|---|---|---|---|---|"]
    deviations = []
    for name, key, paper, val, rel in _rows(summary):
        verdict = "agrees (<= 5%)" if abs(rel) <= 0.05 else "deviates (> 5%)"
        if abs(rel) > 0.05:
            why = summary[SUMMARY_KEYS.get(name, name)].get("explanation", {}).get(key)
            if why and any(why in d for d in deviations):
                why = "same cause as above."
            deviations.append(f"{name}.{key}: {why or 'explanation not yet established by a computation.'}")
        lines.append(f"| {name} | {key} | {paper:g} | {val:.5g} | {100 * rel:+.1f}% | {verdict} |")
    if "convergence" in summary:
        c = summary["convergence"]
        lines += ["", "## Truncation convergence (F = 3)", "",
                  "| quantity | Ns=32, Np=9 (paper) | converged (Ns=60, Np=15) | error estimate | paper's truncation off by |",
                  "|---|---|---|---|---|"]
        for q, best in c["converged"].items():
            lines.append(f"| {q} | {c['table']['32,9'][q]:.5g} | {best:.5g} | {c['error'][q]:.2g} | "
                         f"{100 * c['paper_truncation_rel_error'][q]:+.2f}% |")
        lines += ["", "The paper's numbers fixed by the F = 3 run, at its truncation and converged:", "",
                  "| number | Ns=32, Np=9 | Ns=60, Np=15 | change |", "|---|---|---|---|"]
        for k, v in c["headline"].items():
            lines.append(f"| {k} | {v['Ns32_Np9']:.5g} | {v['Ns60_Np15']:.5g} | {100 * v['rel_change']:+.2f}% |")
        lines += ["", "Moving by more than 1% once converged: " + (", ".join(c["moves_more_than_1pct"]) or "none") + "."]
    lines += ["", "## Deviations above 5%", ""]
    lines += [f"- {d}" for d in deviations] or ["None."]
    return "\n".join(lines) + "\n"


def _write_summary(summary, out):
    with atomic_path(os.path.join(out, "summary.json")) as tmp, open(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    with atomic_path(os.path.join(out, "REPORT.md")) as tmp, open(tmp, "w") as f:
        f.write(_report(summary))


def reproduce(only=None, out: str = "reproduction", n_jobs: int = -1, progress: bool | None = None) -> dict:
    """Run the requested results (default: all) and write figures, data, summary and report.

    Returns the summary (also written to ``summary.json``).  Raises
    :class:`ReproductionInterrupted` (a ``KeyboardInterrupt``) on Ctrl-C, after writing the finished
    results and a summary and report marked ``interrupted`` (module docstring).
    """
    names = list(RESULTS) if not only else list(only)
    unknown = [n for n in names if n not in RESULTS]
    if unknown:
        raise ValueError(f"only: unknown results {unknown}; choose from {sorted(RESULTS)}")
    os.makedirs(out, exist_ok=True)
    usable()  # an unwritable cache warns once here, not once per worker process
    todo = {}
    for n in names:
        for r in runs(n):
            todo[repr((r[0], r[1], None if r[2] is None else tuple(r[2]), sorted(r[3].items())))] = r
    # Expensive runs first so that the pool is never left waiting on one long straggler.
    order = sorted(todo.values(), key=lambda r: -r[1].Ns * r[1].Np * r[1].gamma_p)
    quiet = progress is False if progress is not None else None
    summary, done, stage, finished = {}, [], "exact runs", 0
    try:
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(compute)(r) for r in order)
        for _ in tqdm(jobs, total=len(order), desc="exact runs", disable=quiet):
            finished += 1
        stage = "results"
        for n in tqdm(names, desc="results", disable=quiet):
            s, panels = RESULTS[n]()
            plot_paper(n, panels, out)
            _write_data(n, s, panels, out)
            summary[SUMMARY_KEYS.get(n, n)] = s  # only once all its files are written
            done.append(n)
    except KeyboardInterrupt:
        summary["interrupted"] = {"stage": stage, "completed": done, "not_completed": [n for n in names if n not in done],
                                  "exact_runs_done": finished, "exact_runs_total": len(order)}
        _write_summary(summary, out)
        raise ReproductionInterrupted(summary, out) from None
    _write_summary(summary, out)
    return summary
