"""Quantum-trajectory (Monte Carlo wavefunction) unravelings of the charging and discharge
master equations.

``charge`` / ``discharge`` run an ensemble of trajectories of a method (``"jump"``: photon
counting; ``"homodyne"``: diffusive) through the ensemble runner and return results with
standard errors.  The pieces: ``base`` (the problem and per-group sums), ``jump`` and
``homodyne`` (the methods), ``ensemble`` (seeds, groups, joblib / Dask, reduction).
"""

from __future__ import annotations

import numpy as np

from ..params import BatteryParams, LoadParams
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


def charge(params: BatteryParams = BatteryParams(), t=None, *, method: str = "jump", ntraj: int = 1000,
           seed: int = 0, psi0=None, trunc_tol: float | None = 1e-2, **kw):
    """Charging by ``ntraj`` trajectories (default grid t = 0..40, step 1).

    Keywords of the runner (``groups, n_jobs, backend, scheduler, progress, e_ops``; see ``run``) and of
    the method (``Jump``: ``batch, rtol, atol, records``; ``Homodyne``: ``theta, dt, heterodyne,
    scheme, batch, records``).  Raises ``exact.TruncationError`` when the top Fock level of the
    averaged state holds more than ``trunc_tol`` (the result is attached as ``err.result``).
    """
    from ..exact import TruncationError, _check_truncation

    run_kw, m_kw = _split(dict(kw))
    t = np.arange(41.0) if t is None else t
    res = run(globals()["method"](method, **m_kw), charge_problem(params, t, psi0), ntraj, seed, **run_kw)
    try:
        _check_truncation(res.tail_s, res.tail_p, trunc_tol)
    except TruncationError as err:
        err.result = res
        raise
    return res


def discharge(params: BatteryParams = BatteryParams(), load: LoadParams = LoadParams(), t=None, *,
              t0: float = 10.0, rho_s0=None, method: str = "jump", ntraj: int = 1000, seed: int = 0, **kw):
    """Discharge into the two-level load by ``ntraj`` trajectories; ``t`` is the time since the
    load was connected (default 0..10, step 0.05).  The initial signal state is ``rho_s0``, by
    default the exact charged state at ``t0`` (``exact.charge``)."""
    from .. import exact

    run_kw, m_kw = _split(dict(kw))
    t = np.arange(201) * 0.05 if t is None else t
    if rho_s0 is None:
        rho_s0 = exact.charged_signal(params, t0, progress=kw.get("progress"))
    problem = discharge_problem(params, load, t, rho_s0, t0)
    return run(globals()["method"](method, **m_kw), problem, ntraj, seed, **run_kw)
