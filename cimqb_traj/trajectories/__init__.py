"""Quantum-trajectory (Monte Carlo wavefunction) unravelings of the charging and discharge
master equations.

``charge`` / ``discharge`` run an ensemble of trajectories of a method (``"jump"``: photon
counting; ``"homodyne"``: diffusive) through the ensemble runner and return results with
standard errors.  The pieces: ``base`` (the problem and per-group sums), ``jump`` and
``homodyne`` (the methods), ``ensemble`` (seeds, groups, joblib / Dask, reduction).
"""

from __future__ import annotations

import numpy as np

from dataclasses import replace

from ..params import BatteryParams, LoadParams
from ..truncation import TRUNC_TOL, check_tol, disabled, enforce
from .base import Problem, charge_problem, discharge_problem
from .ensemble import interval, run
from .jump import Jump

__all__ = ["charge", "discharge", "run", "interval", "Jump", "Problem", "charge_problem",
           "discharge_problem", "METHODS", "method"]

METHODS = ("jump", "homodyne")
_RUN_KEYS = ("groups", "n_jobs", "backend", "scheduler", "progress", "e_ops")


def method(name: str, **options):
    """The method object registered under ``name`` with its options (e.g. ``theta`` for homodyne)."""
    if name == "jump":
        return Jump(**options)
    if name == "homodyne":
        from .homodyne import Homodyne

        return Homodyne(**options)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")


def _split(kw):
    run_kw = {k: kw.pop(k) for k in _RUN_KEYS if k in kw}
    return run_kw, kw


def _rho0(params: BatteryParams, psi0):
    """The initial density matrix of a charging run started from the ket ``psi0`` (None: vacuum)."""
    if psi0 is None:
        return None
    from .base import _ket

    v = _ket(psi0, params.Ns * params.Np, "psi0")
    return np.outer(v, v.conj())


def _refuse(verdict: dict) -> None:
    """Raise the refusal of a verdict computed before the ensemble (no result to attach)."""
    if verdict.get("verdict") == "refused":
        enforce(verdict, None)


def charge(params: BatteryParams = BatteryParams(), t=None, *, method: str = "jump", ntraj: int = 1000,
           seed: int = 0, psi0=None, trunc_tol: float | None = TRUNC_TOL, **kw):
    """Charging by ``ntraj`` trajectories (default grid t = 0..40, step 1).

    Keywords of the runner (``groups, n_jobs, backend, scheduler, progress, e_ops``; see ``run``) and of
    the method (``Jump``: ``batch, rtol, atol, records``; ``Homodyne``: ``theta, dt, heterodyne,
    scheme, batch, records``).

    Truncation guard (``trunc_tol``, 0 or None disables it): the ensemble mean of an unraveling is
    the solution of the master equation it unravels at the same truncation, so its truncation
    error is that of ``exact.charge`` on the same grid, and the verdict is computed by the exact
    solver (``exact.charge_verdict``: the change against the same run at (smaller(Ns),
    smaller(Np))), free of statistical noise; the statistical error is the separate ``*_err``.
    It runs before the ensemble, so a refused truncation (``TruncationError``, ``.result`` None)
    costs no trajectory time.  Cost: two fast exact runs, at the paper's defaults (t = 0..40,
    step 2) ~3 s against ~150 s for 1000 jump trajectories (a coupled rerun of the trajectories at
    the smaller truncation would cost ~50-80 % of the run, and its noise would blur the verdict).
    Where the exact solver is out of reach (very large Ns * Np), pass trunc_tol = 0 and compare
    truncations by hand.  The verdict is ``result.truncation``; a warning is one line.
    """
    from .. import exact  # not at module level: the trajectory workers need no qutip

    run_kw, m_kw = _split(dict(kw))
    tol = check_tol(trunc_tol)
    t = exact.check_times(np.arange(41.0) if t is None else t)
    m = globals()["method"](method, **m_kw)
    problem = charge_problem(params, t, psi0)  # validates params and psi0 before the exact runs
    verdict = None
    if tol:
        verdict = exact.charge_verdict(params, t, rho0=_rho0(params, psi0), trunc_tol=tol,
                                       progress=run_kw.get("progress"))
        _refuse(verdict)
    res = run(m, problem, ntraj, seed, **run_kw)
    res = replace(res, truncation=verdict if tol else disabled(res.tail_s, res.tail_p))
    enforce(res.truncation, res)  # warns (the refusal came before the run)
    return res


def discharge(params: BatteryParams = BatteryParams(), load: LoadParams = LoadParams(), t=None, *,
              t0: float = 10.0, rho_s0=None, method: str = "jump", ntraj: int = 1000, seed: int = 0,
              trunc_tol: float | None = TRUNC_TOL, **kw):
    """Discharge into the two-level load by ``ntraj`` trajectories; ``t`` is the time since the
    load was connected (default 0..10, step 0.05).  The initial signal state is ``rho_s0``, by
    default the exact charged state at ``t0`` (``exact.charge``).

    Truncation guard: the verdict of ``exact.discharge`` for the same inputs (the unraveling
    averages to that master equation at the same truncation; see ``charge``), computed before the
    ensemble by two exact discharges (64-dimensional at Ns = 32: well under the trajectories'
    cost) and the charge runs that prepare the battery.
    """
    from .. import exact as _exact

    run_kw, m_kw = _split(dict(kw))
    tol = check_tol(trunc_tol)
    t = _exact.check_times(np.arange(201) * 0.05 if t is None else t)
    m = globals()["method"](method, **m_kw)
    if rho_s0 is not None:
        discharge_problem(params, load, t, rho_s0, t0)  # bad input is refused before the exact runs
    verdict = None
    if tol:
        ex, rho_s0 = _exact._discharge_checked(params, load, t, t0, rho_s0, _exact.RTOL, _exact.ATOL,
                                               run_kw.get("progress"), tol)
        verdict = ex.truncation
        _refuse(verdict)
    elif rho_s0 is None:
        rho_s0 = _exact.charged_signal(params, t0, progress=run_kw.get("progress"), trunc_tol=0)
    res = run(m, discharge_problem(params, load, t, rho_s0, t0), ntraj, seed, **run_kw)
    res = replace(res, truncation=verdict if tol else disabled(float(np.max(res.rho_s[:, -1, -1].real))))
    enforce(res.truncation, res)  # warns (a refusal came before the run)
    return res
