r"""One entry point for every method: ``solve(params, t, method=...)``.

``solve`` runs the charging problem of :class:`~cimqb_traj.params.BatteryParams` by any method
and returns one result family, with QuTiP's conventions where they fit:

========================  ==================================================================
method                    what runs (the module that documents it)
========================  ==================================================================
``"exact"``               the Lindblad master equation (``exact.charge``)
``"jump"``                photon-counting trajectories (``trajectories.charge``)
``"homodyne"``            diffusive trajectories; ``options={"basis": "displaced"}``: in a
                          displaced Fock basis per trajectory (``trajectories.moving``)
``"mean-field"``          the classical equations (``phasespace.MeanField``)
``"positive-p"``          positive-P samples (``phasespace.PositiveP``)
``"wigner"``              truncated-Wigner samples (``phasespace.Wigner``)
========================  ==================================================================

Every result has the fields ``t`` (also ``times``), ``rho_s``, ``n_s``, ``n_p``, ``energy``,
``W``, ``W_c``, ``W_i``, ``truncation`` and their standard errors ``rho_s_err``, ``n_s_err``,
``n_p_err``, ``energy_err``, ``W_err``, ``W_c_err``, ``W_i_err``: arrays for the sampled methods
(jump, homodyne, positive-p, wigner: delete-one-group jackknife), **None** for the deterministic
ones (exact, mean-field: no sampling error).  ``states`` are the reduced signal states (the pump
traced out; an ensemble's averaged state; a phase-space method's Fock-range state,
``phasespace.state``) as ``qutip.Qobj``; ``expect`` / ``expect_err`` hold the ``e_ops``
means; ``to_xarray()``, ``save()`` and ``cimqb_traj.load`` work for all of them.  The classes:
``ChargeResult`` (exact) and ``TrajectoryResult`` (the others, with ``ntraj``, ``seed``,
``groups``, ``records``, bias-corrected ``*_bc``).  Orderings: every moment is reported in
normal order (the phase-space methods convert theirs, ``phasespace``).

Steady states and threshold sweeps are not folded in here: ``cimqb_traj.steady_state(params)``
(``exact.steady_state``: a one-point ``ChargeResult`` at t = inf) and
``cimqb_traj.threshold_sweep(params, F, methods)`` (``threshold.sweep``: a ``ThresholdResult``)
return result objects that save and convert like these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from .params import BatteryParams
from .truncation import TRUNC_TOL

__all__ = ["solve", "METHODS", "OPTIONS", "SAMPLED"]

METHODS = ("exact", "jump", "homodyne", "mean-field", "positive-p", "wigner")
#: methods that average samples (trajectories or phase-space samples): ntraj, seed, n_jobs apply
SAMPLED = ("jump", "homodyne", "positive-p", "wigner")
_RUNNER = ("groups", "backend", "scheduler")
_PHASE_SPACE = ("dt", "batch", "spike_bound", "divergence_bound", "max_diverged", "paths")
#: options of the displaced basis only (``moving.Moving``)
_DISPLACED = ("shift", "grow_tol", "shrink_tol", "n_min", "n_grow", "n_max")
#: method -> the keys its ``options`` mapping takes (the method's own keywords, documented there,
#: and the ensemble runner's ``groups``, ``backend``, ``scheduler``, ``cimqb_traj.ensemble.run``)
OPTIONS = {
    "exact": ("engine", "rtol", "atol"),
    "jump": ("batch", "rtol", "atol", "records") + _RUNNER,
    "homodyne": ("basis", "theta", "dt", "heterodyne", "scheme", "batch", "records") + _RUNNER + _DISPLACED,
    "mean-field": ("alpha_s0",),
    "positive-p": _PHASE_SPACE + _RUNNER,
    "wigner": _PHASE_SPACE + _RUNNER,
}


def solve(params: BatteryParams = BatteryParams(), t=None, method: str = "exact", *, state0=None, e_ops=None,
          options: Mapping | None = None, ntraj: int | None = None, seed: int | None = None,
          n_jobs: int | None = None, progress: bool | None = None, trunc_tol: float | None = TRUNC_TOL):
    r"""Charge the battery by ``method`` and return its result (module docstring for the fields).

    Parameters
    ----------
    params : BatteryParams
        The model (and its Fock truncation Ns, Np: the dynamics' for exact, jump, homodyne; the
        size of the estimated Fock matrices for the phase-space methods, whose dynamics are
        untruncated; the lab-frame output size for the displaced basis).
    t : array_like, optional
        Output times, strictly increasing, >= 0; ``state0`` is the state at ``t[0]``.
        Default 0, 1, ..., 40 for every method.
    method : {"exact", "jump", "homodyne", "mean-field", "positive-p", "wigner"}
    state0 : ket or density matrix, optional
        Initial state on signal (x) pump (index i_s * Np + i_p, qutip's ``tensor`` order), a
        numpy array or ``qutip.Qobj`` (dims [[Ns, Np], ...]); default the vacuum.  exact: any
        state.  jump, homodyne: a pure state (a ket, or a density matrix of rank one; a mixed
        one is refused).  mean-field, positive-p, wigner: a product of coherent states.  The
        displaced basis: the vacuum only.
    e_ops : list, dict, operator or callable, optional
        Observables: operators on the signal (Ns x Ns) or the pump (Np x Np) (arrays or Qobj;
        an Ns x Ns matrix is a signal operator also when Np = Ns), or callables ``f(t, rho_s)``
        of the time and the reduced signal state (``qutip.Qobj``) returning a number.  A joint
        (signal (x) pump) operator is refused: no method keeps the joint state; a pump operator
        is refused by ``"exact"``, which keeps the signal state (and ``n_p``) only.
        ``result.expect`` is a list in e_ops order for a list (or a single e_op), a dict with the
        same keys for a dict (``[]`` without e_ops); values are complex arrays over t.
        ``result.expect_err``: the same layout with jackknife errors for the sampled methods
        (NaN for callables: a function of the averaged state has no group sums to resample),
        None for exact and mean-field.  Operators of a phase-space method are averaged over its
        Fock-element estimator (the leading Ns x Ns block, ``phasespace``), callables see its
        Fock-range state.
    options : mapping, optional
        The method's options (``OPTIONS[method]``): exact ``engine, rtol, atol``; jump
        ``batch, rtol, atol, records``; homodyne ``basis ("fock" | "displaced"), theta, dt,
        heterodyne, scheme, batch, records`` (displaced only: ``shift, grow_tol, shrink_tol,
        n_min, n_grow, n_max``); mean-field ``alpha_s0``; positive-p, wigner ``dt, batch,
        spike_bound, divergence_bound, max_diverged, paths``; every sampled method also the
        runner's ``groups, backend, scheduler``.  An unknown key, or one that does not apply to
        the method, raises ValueError naming it.
    ntraj : int
        Trajectories (samples); required for the sampled methods, refused for exact and mean-field.
    seed : int, optional
        Sampled methods only (default 0): sample k uses ``SeedSequence(seed, spawn_key=(k,))``.
    n_jobs : int, optional
        Sampled methods only (default 1): parallel workers.
    progress : bool or None
        Progress bar (None: on a terminal, for runs that take a while).
    trunc_tol : float
        The truncation guard of each method (``exact.charge``, ``trajectories.charge``,
        ``phasespace.state``); 0 or None disables it.

    Returns
    -------
    ChargeResult (exact) or TrajectoryResult (every other method).
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    opts = _options(method, options)
    ntraj, seed, n_jobs = _sampling(method, ntraj, seed, n_jobs)
    from . import exact

    t = exact.check_times(np.arange(41.0) if t is None else t)
    displaced = opts.get("basis", "fock") == "displaced"
    dims = (params.Ns, params.Np)
    if displaced:
        from .trajectories import lab_dims

        dims = tuple(int(n) for n in lab_dims(params, t))
    ops, layout = _e_ops(e_ops, dims, method)
    run_ops = {f"{i}": m for i, (_, kind, m) in enumerate(ops) if kind in ("signal", "pump")}
    if method == "exact":
        rho0 = None if state0 is None else _state_matrix(params, state0)
        res = exact.charge(params, t, rho0=rho0, progress=progress, trunc_tol=trunc_tol, **opts)
        got, err = {}, None
    elif method in ("jump", "homodyne"):
        from . import trajectories

        if displaced and state0 is not None:
            raise ValueError("state0: the displaced basis (options basis='displaced') starts from the vacuum; "
                             "leave state0 None, or use basis 'fock'")
        psi0 = None if state0 is None else _ket(params, state0, method)
        res = trajectories.charge(params, t, method=method, ntraj=ntraj, seed=seed, psi0=psi0, trunc_tol=trunc_tol,
                                  n_jobs=n_jobs, progress=progress, e_ops=run_ops, **opts)
        got, err = res.expect, res.expect_err
    else:
        res = _phase_space(method, params, t, state0, opts, ntraj, seed, n_jobs, progress, trunc_tol, run_ops)
        got, err = res.expect, (None if method == "mean-field" else res.expect_err)
    if method == "mean-field":  # deterministic: no sampling error (the runner's one group has none)
        res = replace(res, **{k: None for k in ("rho_s_err", "energy_err", "W_err", "W_c_err", "W_i_err",
                                                "n_s_err", "n_p_err")})
    expect, expect_err = _expectations(res, ops, got, err, method)
    if layout == "dict":
        keys = [k for k, _, _ in ops]
        expect = dict(zip(keys, expect))
        expect_err = None if expect_err is None else dict(zip(keys, expect_err))
    return replace(res, expect=expect, expect_err=expect_err)


def _options(method: str, options) -> dict:
    """The checked ``options`` mapping (ValueError naming an unknown or inapplicable key)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a mapping of option names to values, got {type(options).__name__}")
    known = OPTIONS[method]
    for key in options:
        if key in known:
            continue
        where = [m for m, keys in OPTIONS.items() if key in keys]
        if not where:
            every = sorted({k for keys in OPTIONS.values() for k in keys})
            raise ValueError(f"options: unknown key {key!r}; the options are {', '.join(every)}")
        raise ValueError(f"options[{key!r}] does not apply to method {method!r} (only to {', '.join(where)}); "
                         f"{method} takes {', '.join(known)}")
    opts = dict(options)
    if method == "homodyne" and opts.get("basis", "fock") != "displaced":
        bad = [k for k in opts if k in _DISPLACED]
        if bad:
            raise ValueError(f"options[{bad[0]!r}] applies to basis='displaced' only, not basis="
                             f"{opts.get('basis', 'fock')!r}")
    return opts


def _sampling(method: str, ntraj, seed, n_jobs) -> tuple:
    """(ntraj, seed, n_jobs) with the sampled methods' defaults; the deterministic methods refuse them."""
    if method not in SAMPLED:
        for name, v in (("ntraj", ntraj), ("seed", seed), ("n_jobs", n_jobs)):
            if v is not None:
                raise ValueError(f"{name} does not apply to method {method!r}: it is deterministic "
                                 f"(sampled methods: {', '.join(SAMPLED)})")
        return None, None, None
    if ntraj is None:
        raise ValueError(f"ntraj: method {method!r} averages samples; give their number (e.g. ntraj=1000)")
    return ntraj, 0 if seed is None else seed, 1 if n_jobs is None else n_jobs


def _state_matrix(params: BatteryParams, state0) -> np.ndarray:
    """state0 as a checked density matrix on signal (x) pump (ValueError naming state0)."""
    from .exact import _check_state, _density_matrix

    rho = _density_matrix(params, state0, "state0")
    _check_state(rho, "state0")
    return rho


def _ket(params: BatteryParams, state0, method: str) -> np.ndarray:
    """The ket of a pure state0 (a ket as given, or the eigenvector of a rank-one density matrix)."""
    rho = _state_matrix(params, state0)
    full = state0.full() if hasattr(state0, "full") else np.asarray(state0)
    if full.ndim == 1 or full.shape[-1] == 1:
        return np.asarray(full, dtype=complex).ravel()
    lam, vec = np.linalg.eigh(rho)
    if 1.0 - lam[-1] > 1e-10:
        raise ValueError(f"state0: method {method!r} starts every sample from one pure state, and this state0 is "
                         f"mixed (largest eigenvalue {lam[-1]:.6g}); give a ket or a pure density matrix, or use "
                         "method='exact'")
    return vec[:, -1]


def _phase_space(method, params, t, state0, opts, ntraj, seed, n_jobs, progress, trunc_tol, run_ops):
    """A phase-space method through the ensemble runner (as the command line runs them)."""
    from . import phasespace
    from .phasespace._sde import coherent_amplitudes
    from .ensemble import run
    from .problem import charge_problem
    from .truncation import check_tol

    psi0 = None if state0 is None else _ket(params, state0, method)
    problem = charge_problem(params, t, psi0)
    try:
        coherent_amplitudes(problem)
    except ValueError as e:
        raise ValueError(f"state0: {str(e).removeprefix('problem: ')}") from None
    tol = check_tol(trunc_tol)
    run_kw = {k: opts.pop(k) for k in _RUNNER if k in opts}
    m = phasespace.method(method, trunc_tol=tol, **opts)
    if method == "mean-field":  # deterministic: one path
        return run(m, problem, 1, 0, groups=1, progress=progress, e_ops=run_ops)
    return run(m, problem, ntraj, seed, n_jobs=n_jobs, progress=progress, e_ops=run_ops, **run_kw)


def _e_ops(e_ops, dims: tuple, method: str) -> tuple:
    """([(key, kind, payload)], layout): kind "signal" / "pump" (payload the matrix) or
    "callable"; layout "list" or "dict".  ValueError naming the e_op it cannot take."""
    if e_ops is None:
        return [], "list"
    if isinstance(e_ops, Mapping):
        items, layout = list(e_ops.items()), "dict"
    elif isinstance(e_ops, (list, tuple)):
        items, layout = list(enumerate(e_ops)), "list"
    else:
        items, layout = [(0, e_ops)], "list"
    Ns, Np = dims
    out = []
    for key, op in items:
        name = f"e_ops[{key!r}]"
        if callable(op) and not hasattr(op, "full"):
            out.append((key, "callable", op))
            continue
        try:
            m = np.asarray(op.full() if hasattr(op, "full") else op, dtype=complex)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an operator (array or Qobj) or a callable f(t, rho_s), "
                             f"got {type(op).__name__}") from None
        if m.shape == (Ns, Ns):
            out.append((key, "signal", m))
        elif m.shape == (Np, Np):
            if method == "exact":
                raise ValueError(f"{name}: a pump operator; method 'exact' keeps the reduced signal state only (and "
                                 "<n_p>, the result's n_p): use a signal operator, or a sampled method")
            out.append((key, "pump", m))
        elif m.shape == (Ns * Np, Ns * Np):
            raise ValueError(f"{name}: a joint signal (x) pump operator; no method keeps the joint state: give its "
                             f"signal ({Ns}x{Ns}) or pump ({Np}x{Np}) factor, or a callable of rho_s")
        else:
            raise ValueError(f"{name} must be {Ns}x{Ns} (signal) or {Np}x{Np} (pump), got shape {m.shape}")
    return out, layout


def _expectations(res, ops, got, err, method) -> tuple:
    """(expect, expect_err) as lists in e_ops order (module docstring of ``solve``)."""
    expect, errs = [], [] if err is not None else None
    states = None
    for i, (_, kind, payload) in enumerate(ops):
        if kind == "callable":
            if states is None:
                states = res.states
            expect.append(np.array([complex(payload(tt, s)) for tt, s in zip(res.t, states)]))
            if errs is not None:
                errs.append(np.full(len(res.t), np.nan))
        elif method == "exact":
            expect.append(np.einsum("tij,ji->t", res.rho_s, payload))
        else:
            expect.append(got[f"{i}"])
            if errs is not None:
                errs.append(err[f"{i}"])
    return expect, errs
