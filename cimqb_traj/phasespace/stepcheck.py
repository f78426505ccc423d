"""Step-halving check of a phase-space run: is the time step converged?

``step_check(method, problem, ntraj, seed)`` runs ``method`` (``PositiveP`` or ``Wigner``) at its
step dt and at dt/2 on the SAME noise paths (``coupling = "coarse"`` / ``"fine"``, see ``_sde``:
each step's increment is the sum of the two half-step increments the fine run uses) and compares
the normally ordered moments <a_s^dag a_s>, <a_s^2>, <a_p^dag a_p> at every output time.
Because the paths are shared, the difference of the two runs is the step error plus a small
noise (its spread shrinks with the step, strong order 1), and its standard error comes from the
groups' differences (delete-one-group jackknife), not from the two runs' own errors: the check
resolves step errors far below the statistical error of either run.

The step is called converged when |coarse - fine| <= rel * err(coarse) + z_max * err(coarse - fine)
at every time: the step error is a small fraction (default rel = 0.25) of the run's statistical
error, allowing for the uncertainty of the difference itself (z_max = 3: with ~3 moments x len(t)
correlated comparisons a few |z| > 2 are expected by chance, |z| > 3 rarely).  The error of a
weak order 2 scheme at dt is ~4/3 of this difference (dt vs dt/2), at order 1 twice it.  The coarse run is itself a valid result
at dt (its increments are admissible weak order 2 increments), returned with the fine one.
"""

from __future__ import annotations

import numpy as np

from ..ensemble import run
from .moments import _groups, moments

__all__ = ["step_check"]

_CHECKED = ("a_dag_a", "a2", "n_p")


def _group_sums(result, name):
    recs = _groups(result)
    S = np.stack([np.asarray(r[name]).real for r in recs])
    n = np.array([r["samples"] - r["diverged"] for r in recs], dtype=float)
    return S, n


def coupled_difference(coarse, fine, name):
    """(mean difference, jackknife standard error) of the real part of moment ``name`` between
    two runs with the same groups (delete-one-group, the group's samples left out of both)."""
    (Sc, nc), (Sf, nf) = _group_sums(coarse, name), _group_sums(fine, name)
    if Sc.shape != Sf.shape:
        raise ValueError("coarse and fine runs must have the same groups")
    G = Sc.shape[0]
    d = Sc.sum(0) / nc.sum() - Sf.sum(0) / nf.sum()
    loo = (Sc.sum(0) - Sc) / (nc.sum() - nc)[:, None] - (Sf.sum(0) - Sf) / (nf.sum() - nf)[:, None]
    err = np.sqrt((G - 1) / G * np.sum((loo - loo.mean(0)) ** 2, axis=0))
    return d, err


def step_check(method, problem, ntraj: int, seed: int, *, rel: float = 0.25, z_max: float = 3.0,
               **run_kw) -> dict:
    """Run at dt and dt/2 on shared noise paths.  Returns ``{"dt", "diff": {moment: d(t)},
    "diff_err": {...}, "run_err": {...} (the coarse run's own error), "max_ratio" (largest
    |d| / run_err), "converged": bool, "results": (coarse, fine)}`` (real parts)."""
    if not hasattr(method, "coupling"):
        raise ValueError(f"method must be a fixed-step phase-space method, got {type(method).__name__}")
    kw = {k: getattr(method, k) for k in ("dt", "batch", "spike_bound", "divergence_bound", "max_diverged",
                                        "trunc_tol")}
    coarse = run(type(method)(**kw, coupling="coarse"), problem, ntraj, seed, **run_kw)
    if coarse.interrupted:  # the check compares whole runs: an interrupted one stops it as a whole
        raise KeyboardInterrupt("step check interrupted during the dt run")
    fine = run(type(method)(**kw, coupling="fine"), problem, ntraj, seed, **run_kw)
    if fine.interrupted:
        raise KeyboardInterrupt("step check interrupted during the dt/2 run")
    mc = moments(coarse)
    diff, derr, rerr = {}, {}, {}
    ok, ratio = True, 0.0
    for name in _CHECKED:
        d, e = coupled_difference(coarse, fine, name)
        r = mc[name][1].real
        diff[name], derr[name], rerr[name] = d, e, r
        ok &= bool(np.all(np.abs(d) <= rel * r + z_max * e))
        safe = np.where(r > 0, r, np.inf)
        ratio = max(ratio, float(np.max(np.abs(d) / safe)))
    return {"dt": method.dt, "diff": diff, "diff_err": derr, "run_err": rerr, "max_ratio": ratio,
            "converged": ok, "results": (coarse, fine)}
