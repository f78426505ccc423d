r"""The truncation guard: how far a Fock cut-off may move the reported numbers, and a verdict.

Every result built on a Fock space carries ``result.truncation``, a plain dict (saved in every
HDF5 and JSON file) made by :func:`assess`::

    {"tolerance": tol, "refuse_above": R, "measure": "<how err was obtained>",
     "error": err, "error_at_t": t*, "error_by_quantity": {"energy": .., "W": .., ...},
     "top_level_s": p_s, "top_level_p": p_p, "verdict": "ok"|"warn"|"refused"|"disabled",
     "message": "<one line>"}

``err`` bounds the truncation error of the reported energy, W, W_c and W_i, in units of the
energy scale max(E(t), omega_s) (absolute below one quantum, relative above), maximised over the
output times.  How it is obtained depends on the method (``measure`` says which):

* a dynamics cut (exact, trajectories): the change of each reported number when the run is
  repeated at a smaller truncation (Ns', Np') = :func:`smaller`.  The Fock tail of these
  models decays faster than geometrically, so the change from (Ns', Np') to (Ns, Np) exceeds
  the remaining error of (Ns, Np): measured at the paper's defaults (t = 0..40), 32/9 against
  28/8 changes W by 0.119 E while 32/9 is 0.066 E below the converged value (56/14); at 36/9 the
  error is 0.021.  A population measure alone does not bound it: there the top level holds
  only 5.6e-4 and the top eighth of the levels 2.3 % of the energy.
* a cut of an estimated state (phase-space Fock estimates): the energy the cut misses, known
  exactly from the untruncated moment <n_s> of the samples.

Verdict: ``"ok"`` for err <= tol; ``"warn"`` (a ``TruncationWarning``, one line saying by how
much the numbers may be off) for tol < err <= refuse_above = max(REFUSE, tol); ``"refused"``
(``TruncationError``) above it, or when the highest kept level of either mode holds more than
``TOP_LEVEL`` of the population (the state runs into the wall of the cut-off); tol = 0:
``"disabled"`` (fixed-truncation cross-checks: nothing is compared or refused, the top-level
populations are still recorded).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .errors import Refused

__all__ = ["TRUNC_TOL", "REFUSE", "TOP_LEVEL", "TruncationError", "TruncationWarning", "check_tol",
           "smaller", "relative_change", "assess", "enforce", "disabled"]

#: Default tolerance: warn when the reported numbers may be off by more than 1 % of max(E, omega_s).
TRUNC_TOL = 1e-2
#: Refuse when they may be off by more than a quarter of the energy scale (or the tolerance, if larger).
REFUSE = 0.25
#: Refuse when the highest kept Fock level of either mode holds more population than this.
TOP_LEVEL = 1e-2
QUANTITIES = ("energy", "W", "W_c", "W_i")


class TruncationError(Refused):
    """The Fock truncation is too small for the requested dynamics (``.truncation``: the verdict;
    ``.result``: the refused result, where one was computed)."""


class TruncationWarning(UserWarning):
    """The reported numbers may be off by more than the tolerance because of the truncation."""


def check_tol(trunc_tol) -> float:
    """Validate a tolerance: a finite number >= 0 (0 disables the guard); None means 0."""
    if trunc_tol is None:
        return 0.0
    try:
        v = float(trunc_tol)
    except (TypeError, ValueError):
        raise ValueError(f"trunc_tol must be a number >= 0, got {trunc_tol!r}") from None
    if isinstance(trunc_tol, bool) or not (math.isfinite(v) and v >= 0):
        raise ValueError(f"trunc_tol must be a finite number >= 0 (0 disables the guard), got {trunc_tol!r}")
    return v


def smaller(N: int) -> int | None:
    """The smaller truncation a dimension N is compared with: N - ceil(N/8) (None when < 2)."""
    m = N - max(1, math.ceil(N / 8))
    return m if m >= 2 else None


def relative_change(t, energy, values: dict, reference: dict, omega: float):
    """(err, t*, per-quantity max |change|): max over t and quantities of
    |values[q] - reference[q]| / max(energy, omega)."""
    scale = np.maximum(np.abs(np.asarray(energy, float)), omega)
    by, worst, at = {}, 0.0, float(np.asarray(t)[0])
    for q in values:
        d = np.abs(np.asarray(values[q], float) - np.asarray(reference[q], float))
        by[q] = float(np.max(d))
        r = d / scale
        k = int(np.argmax(r))
        if r[k] > worst:
            worst, at = float(r[k]), float(np.asarray(t)[k])
    return worst, at, by


def disabled(top_s=None, top_p=None) -> dict:
    """The verdict of a run with the guard switched off (tol = 0)."""
    return {"tolerance": 0.0, "refuse_above": None, "measure": "none (guard disabled, trunc_tol = 0)",
            "error": None, "error_at_t": None, "error_by_quantity": None,
            "top_level_s": _f(top_s), "top_level_p": _f(top_p), "verdict": "disabled",
            "message": "truncation guard disabled (trunc_tol = 0)"}


def _f(x):
    return None if x is None else float(np.max(x))


def assess(tol: float, measure: str, err: float | None, at: float | None = None, by: dict | None = None, *,
           top_s=None, top_p=None, hint: str = "increase Ns / Np", quantities: str = "energy / W / W_c / W_i",
           scale: str = "max(E, omega_s)") -> dict:
    """The verdict dict (module docstring).  ``err`` None: the error could not be estimated
    (e.g. no smaller truncation exists); then only the top-level populations decide.
    ``quantities`` and ``scale`` name what ``err`` bounds, in which units (for the message)."""
    tol = check_tol(tol)
    if tol == 0:
        return disabled(top_s, top_p)
    refuse_above = max(REFUSE, tol)
    ps, pp = _f(top_s), _f(top_p)
    top = max(x for x in (ps, pp, 0.0) if x is not None)
    if top > TOP_LEVEL:
        which = "signal" if (ps or 0.0) >= (pp or 0.0) else "pump"
        verdict = "refused"
        msg = (f"the highest kept Fock level of the {which} holds population {top:.2e} > {TOP_LEVEL:g}: "
               f"the state runs into the cut-off; {hint}")
    elif err is None:
        verdict, msg = "ok", f"top-level populations {ps or 0:.1e} / {pp or 0:.1e}; error not estimated ({measure})"
    elif not math.isfinite(err) or err > refuse_above:
        verdict = "refused"
        msg = (f"the truncation may move {quantities} by {err:.0%} of {scale} (at t={at:g}; "
               f"{measure}), above {refuse_above:g}; {hint}")
    elif err > tol:
        verdict = "warn"
        msg = (f"TRUNCATION: reported {quantities} may be off by up to {err:.1%} of {scale} "
               f"(at t={at:g}; {measure}), above trunc_tol={tol:g}; {hint}")
    else:
        verdict, msg = "ok", f"truncation error of {quantities} <= {err:.2%} of {scale} ({measure})"
    return {"tolerance": tol, "refuse_above": refuse_above, "measure": measure,
            "error": None if err is None else float(err), "error_at_t": at, "error_by_quantity": by,
            "top_level_s": ps, "top_level_p": pp, "verdict": verdict, "message": msg}


def enforce(verdict: dict, result=None, stacklevel: int = 3) -> None:
    """Raise ``TruncationError`` for a refused verdict (with ``.result`` and ``.truncation``), warn
    (one line) for ``"warn"``."""
    if verdict.get("verdict") == "refused":
        err = TruncationError(verdict["message"])
        err.truncation, err.result = verdict, result
        raise err
    if verdict.get("verdict") == "warn":
        warnings.warn(verdict["message"], TruncationWarning, stacklevel=stacklevel)
