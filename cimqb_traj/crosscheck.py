r"""Every method on one workload beside the exact solver: the cross-check the package exists for.

``crosscheck(params, t, methods=...)`` runs the trajectory unravelings (``jump``, ``homodyne``) and
the phase-space methods (``positive-p``, ``wigner``, ``mean-field``) on the charging workload
``params``, ``t``, solves the master equation exactly, and tabulates for every method and output
time the values of W, W_c, W_i and <n_s>, their standard errors, and z = (value - exact) / SE.

References (which exact run a method is held against)
-----------------------------------------------------
* **Trajectory unravelings** against the exact solution at *their* truncation (``params.Ns``,
  ``params.Np``): they unravel the same truncated master equation, so their ensemble mean is that
  solution whatever the truncation error; a difference beyond the statistics is a fault of the
  unraveling.  They run with the guard off (``trunc_tol=0``): their truncation verdict is the
  exact run's at the same truncation, reported once in the header.
* **Phase-space methods** against the exact solution at a *converged* truncation: their moments
  carry no Fock cut (``<n_s>`` is the normally ordered sample moment, or |alpha_s|^2 of the
  mean-field path), and their W, W_c, W_i come from a Fock-range state estimated up to the
  converged Ns (``phasespace.state``, with its own truncation guard).
* **Converged truncation** (``converged=True``): starting from (Ns, Np), both dimensions grow to
  the smallest M with ``truncation.smaller(M) == N`` (about N + N/7) until the guard's verdict
  on the compared grid is ``ok`` at ``trunc_tol``.  That verdict is the guard's own measure (the
  change of energy, W, W_c, W_i against the run at (smaller(Ns), smaller(Np)), in units of
  max(E, omega_s)); growing so that the smaller run is the previous step makes every step one exact
  run.  At most ``MAX_STEPS`` steps; then ``Refused``.  ``converged=(Ns, Np)`` takes that
  truncation (its verdict reported, not enforced); ``converged=False`` skips it (trajectory
  methods only).

Compared quantities: the jackknife bias-corrected W, W_c, W_i (``*_bc``; the ergotropy of an
averaged state carries an O(1/ntraj) bias) and <n_s> (linear, unbiased), with the delete-one-group
jackknife standard errors over ``groups`` groups.  A point whose standard error is 0 or not finite
(t = 0: every sample is the vacuum) is not compared (z null).  Photon counting (``jump``): a value
below ``RARE`` / ntraj (in units of omega_s, photons for <n_s>) rests on fewer than ~10 trajectories
that have jumped, a rare-event mean whose jackknife error is not an error bar (its interval covers
~50 %: ``validation/trajectories/README.md``); such a row keeps its z but is not judged
(``judged`` false).  Homodyne and phase-space samples carry every quantity continuously.

Verdicts
--------
* ``"agrees"``: max |z| over the M compared points <= z_crit(M, G), the two-sided Student-t
  quantile with G - 1 degrees of freedom at the family-wise rate ``FAMILY_RATE`` = 1e-3 split by
  Bonferroni over M, never below 4 (the rule of ``tests/stats.py``): an exact method fails it
  by chance with probability <= 1e-3.
* ``"biased by its approximation"``: beyond it, for a method that is an approximation
  (``APPROXIMATE``: truncated Wigner; mean field).
* ``"disagrees"``: beyond it, for a method that should be exact (jump, homodyne, positive-P):
  a fault, not an approximation (or, for positive-P, boundary-term bias without divergence).
* ``"outside its validity"``: the method refused (``errors.Refused``: positive-P divergence,
  too few samples for the Fock estimate, a resource limit); the reason is its one line.  A
  phase-space run whose Fock estimate alone is refused (``TruncationError`` with the result)
  is compared on its untruncated <n_s> only, and says so.
* Mean field is deterministic (no standard errors): only <n_s> is compared (its W, W_c, W_i
  are those of a coherent state and are listed, not judged), by the relative difference
  |n_mf - n_exact| / max(n_exact, 1) (photon units, the guard's scale max(E, omega_s) / omega_s).
  It agrees when that stays within ``mf_rtol`` (default ``TRUNC_TOL`` = 1e-2): the converged
  reference itself is only trusted to the guard's tolerance, so a smaller difference cannot be
  told from the reference's own error.  Beyond it: ``"biased by its approximation"``.
* ``"not compared"``: no row is judged (no positive standard error; photon counting with every
  value below ``RARE`` / ntraj): more trajectories, or later times.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from . import jsonio, resources, truncation
from .dataset import provenance, units_block
from .errors import Refused
from .params import BatteryParams
from .results import atomic_path
from .truncation import TRUNC_TOL, TruncationError, TruncationWarning, check_tol

__all__ = ["crosscheck", "CrossCheck", "converged_truncation", "z_crit", "format_table", "plot", "METHODS",
           "TRAJECTORY", "PHASE_SPACE", "APPROXIMATE", "QUANTITIES", "RARE", "RUNNERS", "main"]

TRAJECTORY = ("jump", "homodyne")
PHASE_SPACE = ("positive-p", "wigner", "mean-field")
METHODS = TRAJECTORY + PHASE_SPACE
#: Methods that approximate the master equation (a significant difference is their bias).
APPROXIMATE = ("wigner", "mean-field")
QUANTITIES = ("W", "W_c", "W_i", "n_s")
#: Family-wise false-alarm rate of one method's verdict (as ``tests/stats.py``).
FAMILY_RATE = 1e-3
#: Photon counting: a quantity below RARE / ntraj rests on < ~RARE trajectories; its z is not judged.
RARE = 10
#: Most growth steps of the converged-truncation search.
MAX_STEPS = 12
#: The default compared times t = 0, DT_OUT, ..., T_END (1/gamma_s).
T_END, DT_OUT = 40.0, 4.0
_LABEL = {"W": "W", "W_c": "W_c", "W_i": "W_i", "n_s": "<n_s>"}


def z_crit(m: int, groups: int | None, rate: float = FAMILY_RATE) -> float:
    """Two-sided critical |z| for ``m`` comparisons at family-wise ``rate`` (Bonferroni): Student's t
    with groups - 1 degrees of freedom (None: the normal law), never below 4."""
    from scipy.stats import norm
    from scipy.stats import t as student_t

    q = 0.5 * rate / max(int(m), 1)
    z = norm.isf(q) if groups is None else student_t.isf(q, int(groups) - 1)
    return max(4.0, float(z))


# ------------------------------------------------------------------------------------------
# the runs
# ------------------------------------------------------------------------------------------


def _n_s(res) -> np.ndarray:
    """<n_s> of an exact result, from its signal state."""
    return np.einsum("tnn,n->t", res.rho_s, np.arange(res.params.Ns)).real


def _exact_values(res) -> dict:
    return {"W": res.W, "W_c": res.W_c, "W_i": res.W_i, "n_s": _n_s(res)}


def _exact(params, t, tol, progress):
    """Exact run with the guard; a refused truncation still returns the run (its verdict says so)."""
    from . import exact  # qutip: imported when a run starts, not with the command line

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            res = exact.charge(params, t, trunc_tol=tol, progress=progress)
    except TruncationError as e:
        if e.result is None:
            raise
        res = e.result
    return res


def _grow(N: int) -> int:
    """The smallest M whose guard comparison size ``truncation.smaller(M)`` is N."""
    M = N + 1
    while truncation.smaller(M) < N:
        M += 1
    return M


def converged_truncation(params: BatteryParams, t, trunc_tol: float = TRUNC_TOL, *, start=None,
                         progress: bool | None = None):
    """The exact run at the first truncation of the search (module docstring) whose verdict is ok.

    Parameters
    ----------
    params : BatteryParams
        The workload; the search starts at its (Ns, Np).
    t : array_like
        Output times (the verdict is maximised over them).
    trunc_tol : float
        The guard's tolerance (> 0).
    start : ChargeResult, optional
        The exact run at (Ns, Np) with its guard verdict, when already computed.

    Returns
    -------
    (ChargeResult, list of dict)
        The converged run (its ``truncation`` the guard's verdict) and the search steps
        ``{"Ns", "Np", "verdict", "error"}``.

    Raises
    ------
    Refused
        No truncation within ``MAX_STEPS`` steps (or within this machine's resources) is ok.
    """
    from . import exact

    tol = check_tol(trunc_tol)
    if tol == 0:
        raise ValueError("trunc_tol: the converged truncation needs the guard (trunc_tol > 0)")
    t = exact.check_times(t)
    prev = start if start is not None else _exact(params, t, tol, progress)
    steps = [_step(prev)]
    for _ in range(MAX_STEPS):
        if prev.truncation.get("verdict") == "ok":
            return prev, steps
        p = prev.params.replace(Ns=_grow(prev.params.Ns), Np=_grow(prev.params.Np))
        try:
            resources.check_charge(p, t, "exact", trunc_tol=0)
        except Refused as e:
            raise Refused(f"converged: the search stopped at Ns={p.Ns}, Np={p.Np} ({_one_line(e)}); last verdict "
                          f"{prev.truncation.get('verdict')} at Ns={prev.params.Ns}, Np={prev.params.Np}; pass "
                          "converged=(Ns, Np) or a larger trunc_tol") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            res = exact.charge(p, t, trunc_tol=0, progress=progress)
        err, at, by = truncation.relative_change(t, res.energy, _quantities(res), _quantities(prev), p.omega_s)
        measure = (f"change against the same run at Ns={prev.params.Ns}, Np={prev.params.Np} "
                   f"(reported: Ns={p.Ns}, Np={p.Np})")
        verdict = truncation.assess(tol, measure, err, at, by, top_s=res.tail_s, top_p=res.tail_p)
        prev = replace(res, truncation=verdict)
        steps.append(_step(prev))
    if prev.truncation.get("verdict") == "ok":
        return prev, steps
    raise Refused(f"converged: no truncation up to Ns={prev.params.Ns}, Np={prev.params.Np} ({MAX_STEPS} steps) "
                  f"passes the truncation guard at trunc_tol={tol:g} (last: {prev.truncation.get('message')}); "
                  "pass converged=(Ns, Np) or a larger trunc_tol")


def _quantities(res) -> dict:
    return {"energy": res.energy, "W": res.W, "W_c": res.W_c, "W_i": res.W_i}


def _step(res) -> dict:
    v = res.truncation or {}
    return {"Ns": res.params.Ns, "Np": res.params.Np, "verdict": v.get("verdict"), "error": v.get("error")}


def _run_trajectories(name, params, t, ntraj, seed, groups, n_jobs, tol, progress):
    from . import trajectories

    # guard off: the exact run at the same truncation is the reference and carries the verdict
    return trajectories.charge(params, t, method=name, ntraj=ntraj, seed=seed, groups=groups, n_jobs=n_jobs,
                               trunc_tol=0, progress=progress)


def _run_phase_space(name, params, t, ntraj, seed, groups, n_jobs, tol, progress):
    from .phasespace import method
    from .ensemble import run as run_ensemble
    from .problem import charge_problem

    if name == "mean-field":  # deterministic: one path
        return run_ensemble(method(name, trunc_tol=tol), charge_problem(params, t), 1, 0, groups=1,
                            progress=progress)
    return run_ensemble(method(name, trunc_tol=tol), charge_problem(params, t), ntraj, seed, groups=groups,
                        n_jobs=n_jobs, progress=progress)


#: method name -> runner(name, params, t, ntraj, seed, groups, n_jobs, trunc_tol, progress) -> result.
#: Tests replace an entry to inject a deliberately wrong method.
RUNNERS = {**{m: _run_trajectories for m in TRAJECTORY}, **{m: _run_phase_space for m in PHASE_SPACE}}


# ------------------------------------------------------------------------------------------
# comparison and verdicts
# ------------------------------------------------------------------------------------------


def _values(res, name: str) -> tuple:
    """(values, errors) per quantity of a method's result: bias-corrected ergotropies, <n_s>."""
    vals, errs = {}, {}
    for q in ("W", "W_c", "W_i"):
        bc = getattr(res, q + "_bc", None)
        vals[q] = np.asarray(bc if bc is not None and name != "mean-field" else getattr(res, q), float)
        errs[q] = _err(res, q, name)
    vals["n_s"] = np.asarray(res.n_s, float)
    errs["n_s"] = _err(res, "n_s", name)
    return vals, errs


def _err(res, q, name) -> np.ndarray:
    e = getattr(res, q + "_err", None)
    if e is None or name == "mean-field":
        return np.full(len(res.t), np.nan)
    return np.asarray(e, float)


def _judge(name: str, rows: list, groups: int, mf_rtol: float, only_n_s: bool) -> dict:
    """The verdict of a method from its table rows (module docstring)."""
    if name == "mean-field":
        rel = [abs(r["value"] - r["exact"]) / max(abs(r["exact"]), 1.0) for r in rows if r["quantity"] == "n_s"]
        worst = max(rel) if rel else 0.0
        ok = worst <= mf_rtol
        return {"verdict": "agrees" if ok else "biased by its approximation", "max_rel_diff": worst,
                "rel_tol": mf_rtol, "compared": len(rel), "max_abs_z": None, "z_crit": None,
                "reason": (f"max |n_mf - n_exact| / max(n_exact, 1) = {worst:.3g} "
                           f"{'<=' if ok else '>'} {mf_rtol:g} (deterministic: <n_s> only, by relative difference)")}
    zs = [abs(r["z"]) for r in rows if r["judged"]]
    if not zs:
        return {"verdict": "not compared", "compared": 0, "max_abs_z": None, "z_crit": None,
                "reason": "no row is judged (no positive standard error, or photon counting below RARE/ntraj)"}
    zc = z_crit(len(zs), groups)
    worst = max(zs)
    what = "<n_s> only: " if only_n_s else ""
    if worst <= zc:
        verdict = "agrees"
    else:
        verdict = "biased by its approximation" if name in APPROXIMATE else "disagrees"
    return {"verdict": verdict, "compared": len(zs), "max_abs_z": worst, "z_crit": zc,
            "reason": f"{what}max |z| = {worst:.2f} {'<=' if worst <= zc else '>'} z_crit = {zc:.2f} "
                      f"(Student t, {groups - 1} dof, family rate {FAMILY_RATE:g} over {len(zs)} points)"}


def _rows(name: str, res, ref: dict, quantities) -> list:
    """One row per (t, quantity): value, err, exact, z, judged (module docstring)."""
    vals, errs = _values(res, name)
    rare = RARE / res.ntraj if name == "jump" else 0.0
    rows = []
    for k, tk in enumerate(res.t):
        for q in quantities:
            e = errs[q][k]
            z = (vals[q][k] - ref[q][k]) / e if np.isfinite(e) and e > 0 else np.nan
            ok = bool(np.isfinite(z))
            rows.append({"method": name, "t": float(tk), "quantity": q, "value": float(vals[q][k]),
                         "err": float(errs[q][k]), "exact": float(ref[q][k]), "z": float(z) if ok else None,
                         "judged": ok and abs(ref[q][k]) >= rare})
    return rows


@dataclass(frozen=True)
class CrossCheck:
    """The outcome of :func:`crosscheck`.

    ``references``: ``"given"`` / ``"converged"`` -> {"Ns", "Np", "truncation"} (and the search
    ``steps``, ``how``); ``exact``: reference -> quantity -> values on ``t``; ``rows``: the table,
    one dict per (method, t, quantity) with ``value``, ``err`` (1 SE), ``exact``, ``z``;
    ``verdicts``: method -> {"verdict", "reference", "reason", ...}; ``results``: the methods'
    result objects (not in the JSON).
    """

    params: BatteryParams
    t: np.ndarray
    methods: tuple
    ntraj: int
    samples: int
    seed: int
    groups: int
    references: dict
    exact: dict
    rows: list
    verdicts: dict
    results: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """The JSON document (strict after ``jsonio.clean``): the header, the table, the verdicts,
        ``units`` (``dataset.units_block`` of the document and of the compared quantities; a row's
        ``value``, ``err`` and ``exact`` are in its quantity's unit, ``z`` in standard errors) and
        ``provenance`` (``dataset.provenance``: package version, git commit, date, command line)."""
        doc = {"params": self.params.to_dict(), "t": [float(x) for x in self.t], "methods": list(self.methods),
               "ntraj": self.ntraj, "samples": self.samples, "seed": self.seed, "groups": self.groups,
               "reference_rule": REFERENCE_RULE, "compared": COMPARED, "references": self.references,
               "exact": {r: {q: [float(x) for x in v] for q, v in d.items()} for r, d in self.exact.items()},
               "table": self.rows, "verdicts": self.verdicts}
        units = {**units_block(doc), **units_block(dict.fromkeys(QUANTITIES)), "z": "1"}
        return {**doc, "units": units, "provenance": provenance()}

    def to_xarray(self):
        """The table as an ``xarray.Dataset``: ``value``, ``err`` (1 SE), ``exact`` (the method's
        reference), ``z`` and ``judged`` over (``methods``, ``t``, ``quantity``), NaN where a method
        has no row; the verdicts, references and parameters as attributes (JSON / numbers) with
        the provenance.  ``methods``, not ``method``: ``Dataset.sel(method=...)`` is xarray's keyword."""
        import xarray as xr

        from .dataset import QUANTITIES as UNITS
        from .dataset import param_attrs

        t = [float(x) for x in self.t]
        qs = list(QUANTITIES)
        shape = (len(self.methods), len(t), len(qs))
        arr = {k: np.full(shape, np.nan) for k in ("value", "err", "exact", "z", "judged")}
        for r in self.rows:
            i, k, j = list(self.methods).index(r["method"]), t.index(r["t"]), qs.index(r["quantity"])
            for key in arr:
                v = r[key]
                arr[key][i, k, j] = np.nan if v is None else float(v)
        dims = ("methods", "t", "quantity")
        names = {"value": "the method's value", "err": "its standard error (1 SE, jackknife over groups)",
                 "exact": "the exact solver's value at the method's reference truncation",
                 "z": "(value - exact) / err", "judged": "1 if the row enters the verdict, else 0"}
        unit = " / ".join(f"{q}: {UNITS[q][0]}" for q in qs)  # one unit per quantity along "quantity"
        data = {k: (dims, a, {"long_name": names[k], "units": "1" if k in ("z", "judged") else unit})
                for k, a in arr.items()}
        coords = {"methods": ("methods", np.array(self.methods, dtype=str), {"long_name": "method", "units": "1"}),
                  "t": ("t", np.array(t), {"long_name": "time", "units": "1/gamma_s"}),
                  "quantity": ("quantity", np.array(qs, dtype=str), {"long_name": "compared quantity", "units": "1"})}
        attrs = {"kind": "crosscheck", "reference_rule": REFERENCE_RULE, "verdicts": json.dumps(self.verdicts),
                 "references": json.dumps(jsonio.clean(self.references)), "ntraj": self.ntraj,
                 "samples": self.samples, "seed": str(self.seed), "groups": self.groups,
                 **param_attrs(self.params.to_dict().items()), **provenance()}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def save(self, path) -> None:
        """``to_xarray()`` written as netCDF-4, atomically (``dataset.write``)."""
        from .dataset import write

        write(self.to_xarray(), path)

    def table(self) -> str:
        """The printed table (text)."""
        return format_table(self.to_dict())

    def plot(self, path=None):
        """W and <n_s> over time per method (+-1 SE bands) against the exact curves; returns the
        Figure (written atomically as PNG to ``path`` when given)."""
        return plot(self.to_dict(), path)


REFERENCE_RULE = ("trajectory unravelings (jump, homodyne) vs exact at THEIR truncation (same master equation); "
                  "phase-space methods (positive-p, wigner, mean-field) vs exact at the CONVERGED truncation "
                  "(their moments carry no Fock cut)")
COMPARED = ("W, W_c, W_i bias-corrected (jackknife), <n_s>; err = 1 jackknife SE; z = (value - exact) / err; "
            "mean field: <n_s> by relative difference only")


def _check_methods(methods) -> tuple:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        methods = tuple(methods)
    except TypeError:
        raise ValueError(f"methods: a sequence of method names, got {methods!r}") from None
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods: unknown {', '.join(map(repr, bad)) or '(none given)'}; choose from "
                         f"{', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: each method once, got {', '.join(methods)}")
    return methods


def _check_count(name: str, v, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
        raise ValueError(f"{name}: must be an integer >= {least}, got {v!r}")
    return int(v)


def _check_converged(converged, methods):
    if converged is True or converged is False:
        if converged is False and any(m in PHASE_SPACE for m in methods):
            raise ValueError("converged: the phase-space methods are compared with the converged exact run; "
                             "converged=False applies to jump / homodyne only")
        return converged
    try:
        ns, np_ = converged
    except (TypeError, ValueError):
        raise ValueError(f"converged: True, False or (Ns, Np), got {converged!r}") from None
    return (_check_count("converged Ns", ns, 2), _check_count("converged Np", np_, 2))


def crosscheck(params: BatteryParams = BatteryParams(), t=None, methods=METHODS, *, ntraj: int = 500,
               samples: int | None = None, seed: int = 0, groups: int = 20, n_jobs: int = 1,
               converged=True, trunc_tol: float = TRUNC_TOL, mf_rtol: float = TRUNC_TOL,
               progress: bool | None = None) -> CrossCheck:
    """Run every method on one charging workload beside the exact solver and judge each one.

    References, compared quantities and verdict rules: module docstring.  In short: trajectory
    unravelings against the exact run at their own truncation (``params.Ns``, ``params.Np``);
    phase-space methods against the exact run at the converged truncation.

    Parameters
    ----------
    params : BatteryParams
        Workload (default: the paper's: kappa 0.5, gamma_p 16, F 3, Ns 32, Np 9).
    t : array_like, optional
        Output times, the compared points (default ``T_END``, ``DT_OUT``: 0..40 in steps of 4).
    methods : sequence of str
        Any of ``METHODS`` (each once).
    ntraj : int
        Trajectories of jump / homodyne (>= 2).
    samples : int, optional
        Samples of positive-p / wigner (>= 2; default ``ntraj``).
    seed : int
        Seed of every sampled method (trajectory k: ``SeedSequence(seed, spawn_key=(k,))``).
    groups : int
        Jackknife groups (>= 2).
    n_jobs : int
        Parallel workers of the ensemble runs.
    converged : True, False or (Ns, Np)
        True: search the converged truncation (module docstring); (Ns, Np): use it;
        False: no converged run (jump / homodyne only).
    trunc_tol : float
        Tolerance of the truncation guard (> 0): the verdicts of both exact runs and of the
        phase-space Fock estimates, and the target of the search.
    mf_rtol : float
        Relative tolerance of the mean field's <n_s> (module docstring).

    Returns
    -------
    CrossCheck

    Raises
    ------
    ValueError
        Bad input, naming the parameter.
    Refused
        The converged search failed, or an exact run exceeds this machine's resources.  A method
        that refuses does not raise: its verdict is ``"outside its validity"``.
    """
    return _crosscheck(**_checked(params, t, methods, ntraj=ntraj, samples=samples, seed=seed, groups=groups,
                                  n_jobs=n_jobs, converged=converged, trunc_tol=trunc_tol, mf_rtol=mf_rtol),
                       progress=progress)


def _checked(params, t, methods, *, ntraj, samples, seed, groups, n_jobs, converged, trunc_tol, mf_rtol) -> dict:
    """The keywords of ``_crosscheck``: the input of :func:`crosscheck` checked (``ValueError``
    naming the parameter; ``Refused`` beyond this machine's resources) before anything runs."""
    from . import exact

    methods = _check_methods(methods)
    ntraj = _check_count("ntraj", ntraj, 2)
    samples = ntraj if samples is None else _check_count("samples", samples, 2)
    seed = _check_count("seed", seed, 0)
    groups = _check_count("groups", groups, 2)
    n_jobs = _check_count("n_jobs", n_jobs, 1)
    tol = check_tol(trunc_tol)
    if tol == 0:
        raise ValueError("trunc_tol: must be > 0 (the cross-check reports and searches truncation verdicts)")
    if isinstance(mf_rtol, bool) or not (isinstance(mf_rtol, (int, float)) and math.isfinite(mf_rtol) and mf_rtol > 0):
        raise ValueError(f"mf_rtol: must be a finite number > 0, got {mf_rtol!r}")
    converged = _check_converged(converged, methods)
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params: a BatteryParams, got {type(params).__name__}")
    t = exact.check_times(np.arange(0.0, T_END + DT_OUT / 2, DT_OUT) if t is None else t)
    resources.check_charge(params, t, "exact", trunc_tol=tol)
    for m in methods:
        resources.check_charge(params, t, m, ntraj=samples if m in PHASE_SPACE else ntraj, groups=groups,
                               n_jobs=n_jobs)
    return dict(params=params, t=t, methods=methods, ntraj=ntraj, samples=samples, seed=seed, groups=groups,
                n_jobs=n_jobs, converged=converged, tol=tol, mf_rtol=mf_rtol)


def _crosscheck(params, t, methods, ntraj, samples, seed, groups, n_jobs, converged, tol, mf_rtol, progress):
    """:func:`crosscheck` on checked input (``_checked``)."""
    given, conv, refs = _references(params, t, tol, converged, progress)
    ex = {"given": _exact_values(given)}
    if conv is not None:
        ex["converged"] = _exact_values(conv)
    rows, verdicts, results = [], {}, {}
    for m in methods:
        ref = "given" if m in TRAJECTORY else "converged"
        p = params if ref == "given" else conv.params
        res, mrows, verdicts[m] = _check_one(m, p, t, ntraj if m in TRAJECTORY else samples, seed, groups, n_jobs,
                                             tol, mf_rtol, progress, ex[ref], ref)
        if res is not None:
            verdicts[m]["truncation"] = given.truncation if m in TRAJECTORY else (res.truncation or {})
            results[m] = res
            rows.extend(mrows)
    return CrossCheck(params=params, t=t, methods=methods, ntraj=ntraj, samples=samples, seed=seed, groups=groups,
                      references=refs, exact=ex, rows=rows, verdicts=verdicts, results=results)


def _references(params, t, tol, converged, progress):
    """(the exact run at params' truncation, the converged run or None, the references' header)."""
    t0 = time.perf_counter()
    given = _exact(params, t, tol, progress)
    refs = {"given": {"Ns": params.Ns, "Np": params.Np, "truncation": given.truncation,
                      "wall_s": time.perf_counter() - t0}}
    t0 = time.perf_counter()
    if converged is True:
        conv, steps = converged_truncation(params, t, tol, start=given, progress=progress)
        how = ("searched: both dimensions grown to M with smaller(M) = N until the guard's verdict is ok at "
               f"trunc_tol={tol:g} (" + ", ".join(f"{s['Ns']}/{s['Np']} {s['verdict']}" for s in steps) + ")")
    elif converged:
        conv = _exact(params.replace(Ns=converged[0], Np=converged[1]), t, tol, progress)
        steps, how = [_step(conv)], "given (converged=(Ns, Np)); its verdict is not enforced"
    else:
        return given, None, refs
    refs["converged"] = {"Ns": conv.params.Ns, "Np": conv.params.Np, "truncation": conv.truncation,
                         "steps": steps, "how": how, "wall_s": time.perf_counter() - t0}
    return given, conv, refs


def _check_one(m, p, t, n, seed, groups, n_jobs, tol, mf_rtol, progress, ref_values, ref):
    """Run method ``m`` and judge it: (result or None, table rows, verdict dict)."""
    t0 = time.perf_counter()
    only_n_s, note = m == "mean-field", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            res = RUNNERS[m](m, p, t, n, seed, groups, n_jobs, tol, progress)
    except TruncationError as e:
        if m not in PHASE_SPACE or e.result is None:
            return None, [], _refused(m, ref, e, time.perf_counter() - t0)
        res, only_n_s = e.result, True  # the Fock estimate is refused; <n_s> is untruncated
        note = f"W, W_c, W_i not compared: its Fock estimate is refused ({_one_line(e)})"
    except Refused as e:
        return None, [], _refused(m, ref, e, time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    if getattr(res, "interrupted", False):
        raise KeyboardInterrupt(f"{m} was interrupted; the cross-check needs every run complete")
    partial = only_n_s and m != "mean-field"  # mean field: all listed, <n_s> judged
    rows = _rows(m, res, ref_values, ("n_s",) if partial else QUANTITIES)
    judged = [r for r in rows if not only_n_s or r["quantity"] == "n_s"]
    v = _judge(m, judged, getattr(res, "groups", groups), mf_rtol, partial)
    v.update(reference=ref, reference_Ns=p.Ns, reference_Np=p.Np, wall_s=wall, note=note,
             n=None if m == "mean-field" else int(getattr(res, "ntraj", n)))
    return res, rows, v


def _refused(m, ref, e, wall) -> dict:
    return {"verdict": "outside its validity", "reference": ref, "reason": f"{type(e).__name__}: {_one_line(e)}",
            "compared": 0, "max_abs_z": None, "z_crit": None, "wall_s": wall, "note": None}


def _one_line(e) -> str:
    return " ".join(str(e).split())


# ------------------------------------------------------------------------------------------
# text, figure
# ------------------------------------------------------------------------------------------


_CELL = 32


def _cell(r) -> str:
    """One table cell: value +- SE [exact] z; (z) when not judged."""
    if r is None:
        return " " * _CELL
    v = f"{r['value']:.4g}"
    e = r["err"]
    if e is not None and math.isfinite(e):
        v += f"±{e:.2g}"
    z = "" if r.get("z") is None else f"{r['z']:+.1f}" if r.get("judged") else f"({r['z']:+.1f})"
    return f"{v:>15} {'[' + format(r['exact'], '.4g') + ']':<10}{z:>7}"


def format_table(doc: dict) -> str:
    """The printed table of a cross-check document (``CrossCheck.to_dict``)."""
    p, refs = doc["params"], doc["references"]
    t = doc["t"]
    out = [f"cross-check: kappa={p['kappa']:g} gamma_p={p['gamma_p']:g} F={p['F']:g} delta={p['delta']:g} "
           f"t={t[0]:g}..{t[-1]:g} ({len(t)} times); ntraj={doc['ntraj']} samples={doc['samples']} "
           f"seed={doc['seed']} groups={doc['groups']}",
           f"references: {doc['reference_rule']}"]
    for name, r in refs.items():
        tr = r["truncation"] or {}
        line = (f"  exact {name}: Ns={r['Ns']} Np={r['Np']} [{r['wall_s']:.0f} s]  truncation {tr.get('verdict')}: "
                f"{tr.get('message', '')}")
        out.append(line)
        if r.get("how"):
            out.append(f"    {r['how']}")
    out.append(f"compared: {doc['compared']}; (z): not judged, photon counting below {RARE}/ntraj (rare events)")
    by = {}
    for r in doc["table"]:
        by.setdefault(r["method"], {})[(r["t"], r["quantity"])] = r
    for m in doc["methods"]:
        v = doc["verdicts"][m]
        ref = refs.get(v["reference"], {})
        out.append("")
        out.append(f"{m} vs exact {v['reference']} (Ns={ref.get('Ns')} Np={ref.get('Np')}): {v['verdict'].upper()}"
                   f" -- {v['reason']}" + (f"  [{v['wall_s']:.0f} s]" if v.get("wall_s") is not None else ""))
        if v.get("note"):
            out.append(f"  note: {v['note']}")
        if m not in by:
            continue
        out.append(f"  {'t':>5} " + " ".join(f"{_LABEL[q] + ' ±SE':>15} {'[exact]':<10}{'z':>7}" for q in QUANTITIES))
        rows = by[m]
        for tk in t:
            out.append(f"  {tk:>5g} " + " ".join(_cell(rows.get((tk, q))) for q in QUANTITIES))
    return "\n".join(out)


def plot(doc: dict, path=None):
    """Figure of a cross-check document: W and <n_s> over time, each method's value with a +-1 SE
    band, and the exact curves (given and converged truncation).  Uses ``matplotlib.figure.Figure``
    (the user's pyplot backend is left alone); returns it, and writes a PNG atomically to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    t = np.asarray(doc["t"])
    styles = {"given": ("k", "--"), "converged": ("k", "-")}
    for ax, q, ylabel in ((axes[0], "W", r"ergotropy $W$ ($\hbar\gamma_s$)"),
                          (axes[1], "n_s", r"$\langle n_s\rangle$ (photons)")):
        for name, d in doc["exact"].items():
            c, ls = styles[name]
            r = doc["references"][name]
            ax.plot(t, d[q], color=c, ls=ls, lw=1.2, label=f"exact Ns={r['Ns']} Np={r['Np']} ({name})")
        for i, m in enumerate(doc["methods"]):
            rows = [r for r in doc["table"] if r["method"] == m and r["quantity"] == q]
            if not rows:
                continue
            tt = np.array([r["t"] for r in rows])
            v = np.array([r["value"] for r in rows])
            e = np.array([r["err"] if r["err"] is not None else np.nan for r in rows], float)
            color = f"C{i}"
            vd = doc["verdicts"][m]
            ax.plot(tt, v, "o-", ms=3, color=color, lw=1,
                    label=f"{m} ({vd['verdict']}{'; <n_s> only' if vd.get('note') else ''})")
            if np.any(np.isfinite(e)):
                ax.fill_between(tt, v - np.nan_to_num(e), v + np.nan_to_num(e), color=color, alpha=0.25, lw=0)
        ax.set_xlabel(r"time $t$ ($1/\gamma_s$)")
        ax.set_ylabel(ylabel)
    axes[1].legend(fontsize=7, loc="best", title="bands: ±1 SE (jackknife)", title_fontsize=7)
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    return fig


# ------------------------------------------------------------------------------------------
# command line: ``cimqb_traj.cli.crosscheck`` (``cimqb-traj crosscheck``)
# ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    """``cimqb-traj crosscheck ...`` (``argv`` starts with ``crosscheck``; ``python -m
    cimqb_traj.crosscheck crosscheck ...``): the package's command line, ``cli.main``."""
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
