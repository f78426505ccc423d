"""Quantum-trajectory (Monte Carlo wavefunction) unravelings of the charging and discharge
master equations.

``charge`` / ``discharge`` run an ensemble of trajectories of a method (``"jump"``: photon
counting; ``"homodyne"``: diffusive) through the ensemble runner and return results with
standard errors.  The pieces: ``jump`` and ``homodyne`` (the methods; ``moving``: homodyne in a
displaced Fock basis per trajectory, ``basis="displaced"``) and ``base`` (the trajectories'
initial state).  The problem and per-group sums (``cimqb_traj.problem``) and the ensemble
runner (``cimqb_traj.ensemble``: seeds, groups, joblib / Dask, reduction) sit beneath this
package and the phase-space one alike.
"""

from __future__ import annotations

import numpy as np

from dataclasses import replace

from ..params import BatteryParams, LoadParams
from ..truncation import TRUNC_TOL, check_tol, disabled, enforce
from ..ensemble import interval, run
from ..problem import Problem, charge_problem, discharge_problem
from .jump import Jump

__all__ = ["charge", "discharge", "run", "interval", "Jump", "Problem", "charge_problem",
           "discharge_problem", "METHODS", "BASES", "method", "lab_dims"]

METHODS = ("jump", "homodyne")
#: Bases of the trajectory state: ``"fock"`` the fixed lab Fock basis (Ns x Np), ``"displaced"``
#: a displaced Fock basis per trajectory that follows its conditional means (homodyne only).
BASES = ("fock", "displaced")
_RUN_KEYS = ("groups", "n_jobs", "backend", "scheduler", "progress", "e_ops")


def method(name: str, basis: str = "fock", **options):
    """The method object registered under ``name`` with its options (e.g. ``theta`` for homodyne);
    ``basis="displaced"`` (homodyne only) gives ``moving.Moving``."""
    _check_basis(name, basis)
    if basis == "displaced":
        from .moving import Moving

        return Moving(**options)
    if name == "jump":
        return Jump(**options)
    if name == "homodyne":
        from .homodyne import Homodyne

        return Homodyne(**options)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")


def _check_basis(name, basis) -> None:
    if not isinstance(basis, str) or basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    if basis == "displaced" and name != "homodyne":
        raise ValueError(f"basis='displaced' applies to method='homodyne' only, not {name!r}; "
                         "use basis='fock'")


def lab_dims(params: BatteryParams, t) -> tuple:
    """Lab-frame output sizes (Ns_out, Np_out) of a displaced-basis run (``charge``): the
    params' (Ns, Np), except that the package defaults (32, 9) mean "choose them":
    ``moving.output_dims(params, t)`` (largest mean-field photon number + 6 sqrt(n) + 20 levels)."""
    d = BatteryParams()
    if (params.Ns, params.Np) == (d.Ns, d.Np):
        from .moving import output_dims

        return output_dims(params, t)
    return params.Ns, params.Np


def _split(kw):
    run_kw = {k: kw.pop(k) for k in _RUN_KEYS if k in kw}
    return run_kw, kw


def _rho0(params: BatteryParams, psi0):
    """The initial density matrix of a charging run started from the ket ``psi0`` (None: vacuum)."""
    if psi0 is None:
        return None
    from ..problem import _ket

    v = _ket(psi0, params.Ns * params.Np, "psi0")
    return np.outer(v, v.conj())


#: Hilbert dimension Ns * Np up to which a trajectory run's truncation verdict comes from the exact
#: solver (its packed state grows as D^2: at 1200, e.g. 60 / 20, ~0.2 M numbers per stage, seconds
#: to minutes); above it from a rerun of the trajectories at the smaller truncation (``charge``).
EXACT_VERDICT_MAX_D = 1200
#: Family-wise rate at which noise alone may move the rerun verdict past the tolerance.
RERUN_RATE = 1e-2


def _rerun_verdict(tol, m, params, t, psi0, ntraj, seed, run_kw, res) -> dict:
    """The verdict from the same trajectories at (smaller(Ns), smaller(Np)) (``charge`` docstring)."""
    from scipy.stats import t as student_t

    from .. import exact
    from ..truncation import assess, smaller

    ns, np_ = smaller(params.Ns), smaller(params.Np)
    if ns is None or np_ is None:
        return assess(tol, "no smaller truncation exists (N = 2): top-level populations only", None,
                      top_s=res.tail_s, top_p=res.tail_p)
    small = params.replace(Ns=ns, Np=np_)
    psi_small = None
    if psi0 is not None:
        from ..problem import _ket

        v = _ket(psi0, params.Ns * params.Np, "psi0").reshape(params.Ns, params.Np)[:ns, :np_].ravel()
        if not np.linalg.norm(v) > 1e-12:
            return assess(tol, f"rerun at Ns={ns}, Np={np_}: psi0 has no weight there", float("inf"),
                          float(t[0]), top_s=res.tail_s, top_p=res.tail_p)
        psi_small = v / np.linalg.norm(v)
    ref = run(m, charge_problem(small, t, psi_small), ntraj, seed, **run_kw)
    qs = ("energy", "W", "W_c", "W_i")
    G = min(res.groups, ref.groups)
    z = float(student_t.isf(0.5 * RERUN_RATE / (len(qs) * len(t)), G - 1)) if G > 1 else 0.0
    lo, hi = {}, {}
    for q in qs:
        se = np.hypot(np.nan_to_num(getattr(res, q + "_err")), np.nan_to_num(getattr(ref, q + "_err")))
        d = np.abs(getattr(res, q) - getattr(ref, q))
        lo[q], hi[q] = np.maximum(d - z * se, 0.0), d + z * se
    zeros = {q: np.zeros(len(t)) for q in qs}
    low, at_lo, by_lo = exact.trunc.relative_change(t, res.energy, lo, zeros, params.omega_s)
    high, at, by = exact.trunc.relative_change(t, res.energy, hi, zeros, params.omega_s)
    refuse_above = max(exact.trunc.REFUSE, tol)
    measure = (f"change against a rerun of the trajectories (same seeds) at Ns={ns}, Np={np_} (reported: "
               f"Ns={params.Ns}, Np={params.Np}): {low:.1%} resolved, up to {high:.1%} within z={z:.2f} "
               f"jackknife errors of the difference")
    if low > refuse_above:  # resolved beyond the refusal level
        return assess(tol, measure, low, at_lo, by_lo, top_s=res.tail_s, top_p=res.tail_p)
    # not resolved beyond it: noise alone never refuses; the upper bound (capped) says how far off
    return assess(tol, measure, min(high, refuse_above), at, by, top_s=res.tail_s, top_p=res.tail_p)


def _refuse(verdict: dict) -> None:
    """Raise the refusal of a verdict computed before the ensemble (no result to attach)."""
    if verdict.get("verdict") == "refused":
        enforce(verdict, None)


def charge(params: BatteryParams = BatteryParams(), t=None, *, method: str = "jump", ntraj: int = 1000,
           seed: int = 0, psi0=None, trunc_tol: float | None = TRUNC_TOL, basis: str = "fock", **kw):
    """Charging by ``ntraj`` trajectories (default grid t = 0..40, step 1).

    ``basis``: ``"fock"`` (default) integrates every trajectory in the lab Fock basis Ns x Np;
    ``"displaced"`` (``method="homodyne"`` only; ``moving.Moving``) in a displaced Fock basis per
    trajectory that follows its conditional means and sizes itself on its tail populations.  Then
    ``params.Ns`` / ``params.Np`` are the lab-frame OUTPUT sizes of the averaged states rho_s,
    rho_p (not the dynamics' truncation), and if they are the package defaults (32, 9) the run
    chooses them (``lab_dims``); the result's params carry the sizes used, its ``options["dims"]``
    the largest moving bases.  Its truncation verdict is ``moving.verdict`` (the lab cut's missing
    energy, the weight the basis changes discarded, the top-level populations), computed from the
    run itself: no exact solver and no rerun.  ``psi0`` is not supported there (vacuum start).

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
    the smaller truncation costs ~50-80 % of the run, and its noise blurs the verdict).

    Above ``EXACT_VERDICT_MAX_D`` = Ns * Np, where the exact state (D^2 numbers) is out of reach,
    the trajectories are rerun at (Ns', Np') with the same seeds instead (~50-80 % more time).
    With d = |q - q'| and s = sqrt(se_q^2 + se_q'^2) (jackknife errors; an upper bound of the
    difference's error, the runs share their seeds), z the Student-t value (groups - 1 degrees of
    freedom) of a two-sided 1e-2 rate Bonferroni-split over the 4 len(t) comparisons:
    refused only when max(d - z s, 0) / max(E, omega_s) (the resolved change) exceeds
    max(0.25, trunc_tol), so noise alone refuses with probability < 1e-2; otherwise the verdict's
    error is the upper bound (d + z s) / max(E, omega_s), capped there, so a change the noise
    hides still warns (with too few trajectories the warning is the noise).  Such a run can only
    be refused after it has run.
    The verdict is ``result.truncation``; a warning is one line.
    """
    from .. import exact  # not at module level: the trajectory workers need no qutip

    run_kw, m_kw = _split(dict(kw))
    tol = check_tol(trunc_tol)
    t = exact.check_times(np.arange(41.0) if t is None else t)
    m = globals()["method"](method, basis, **m_kw)
    if basis == "displaced":
        return _charge_displaced(m, params, t, psi0, ntraj, seed, tol, run_kw)
    problem = charge_problem(params, t, psi0)  # validates params and psi0 before the exact runs
    verdict = None
    by_exact = params.Ns * params.Np <= EXACT_VERDICT_MAX_D
    if tol and by_exact:
        verdict = exact.charge_verdict(params, t, rho0=_rho0(params, psi0), trunc_tol=tol,
                                       progress=run_kw.get("progress"))
        _refuse(verdict)
    res = run(m, problem, ntraj, seed, **run_kw)
    if tol and not by_exact:
        verdict = _rerun_verdict(tol, m, params, t, psi0, ntraj, seed, run_kw, res)
    res = replace(res, truncation=verdict if tol else disabled(res.tail_s, res.tail_p))
    enforce(res.truncation, res)  # warns (the refusal came before the run)
    return res


def _charge_displaced(m, params, t, psi0, ntraj, seed, tol, run_kw):
    """``charge`` with ``basis="displaced"``: lab output sizes, the run, its own verdict."""
    from .moving import displaced_problem, verdict as moving_verdict

    if psi0 is not None:
        raise ValueError("psi0: the displaced basis starts from the vacuum (psi0=None); use basis='fock'")
    Ns, Np = lab_dims(params, t)
    params = params.replace(Ns=int(Ns), Np=int(Np))
    res = run(m, displaced_problem(params, t), ntraj, seed, **run_kw)
    res = replace(res, truncation=moving_verdict(res, tol) if tol else disabled(res.tail_s, res.tail_p))
    enforce(res.truncation, res)
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
