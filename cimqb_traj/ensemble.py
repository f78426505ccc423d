r"""The ensemble runner: seeds, groups, joblib (loky / threading / Dask), progress, reduction.

Who uses it.  Every sampled method is one object with ``run_group(problem, ids, seed) ->
GroupSums`` (``cimqb_traj.problem``) that this module drives: the quantum trajectories
(``trajectories.jump.Jump``, ``trajectories.homodyne.Homodyne``), the moving displaced-Fock basis
(``trajectories.moving.Moving``) and the phase-space samplers (``phasespace.MeanField``,
``PositiveP``, ``Wigner``).  A method may add a ``reduce(problem, parts, result)`` hook for what
it reports differently (``_reduce``); the methods never import joblib or Dask (those that
report their own errors use ``jackknife``).  Front ends call ``run``: ``trajectories.charge`` /
``discharge``, ``solve`` (``cimqb_traj.api``), the threshold and spin studies, the command line,
the cross-check and the run files.

``run(method, problem, ntraj, seed)`` splits trajectories 0..ntraj-1 into ``groups`` contiguous
groups, has ``method.run_group`` compute each group's sums (one task per group, on joblib's
``loky`` processes, ``threading`` threads, or a Dask cluster through joblib's ``dask``
backend) and adds the groups in group order.  Because a trajectory's numbers depend only on its
own seed and a group's sums only on its trajectories, the result is bitwise identical for any
``n_jobs``, backend or batch size (tested).  Memory is O(groups * len(t) * Ns^2): it does not
grow with ``ntraj``; the reduction works one output time at a time, so the main process holds
the G group sums and O(G Ns^2) more, not several copies of all of them.

Errors.  Everything is reported from the averaged state rho_s = sum of group sums / ntraj.  The
standard error of any function f of the mean (linear: energy, n_s, matrix elements; nonlinear:
W, W_c, W_i) is the delete-one-group jackknife error

    se^2 = (G-1)/G sum_g (f_(g) - mean_g f_(g))^2,  f_(g) = f(mean without group g),

and f is also reported bias-corrected, f_bc = G f - (G-1) mean_g f_(g), which removes the
O(1/ntraj) bias that the nonlinearity of the ergotropy gives a finite ensemble.  With G groups
the standardised error is t-distributed with G - 1 degrees of freedom: a 95 % interval is
f +- t_{0.975, G-1} se (``interval``).

Ctrl-C (KeyboardInterrupt) stops the run cleanly: the groups that finished are kept and returned
(``interrupted=True``, ``ntraj`` = trajectories done).
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from .checks import check_int
from .ergotropy import ergotropy_parts
from .problem import GroupSums, Problem
from .results import TrajectoryDischargeResult, TrajectoryResult

__all__ = ["run", "jackknife", "interval", "BACKENDS"]

BACKENDS = ("loky", "threading", "dask")


def jackknife(S: np.ndarray, n: np.ndarray, fun):
    """Delete-one-group jackknife.  ``S``: group sums (G, ...); ``n``: group sizes; ``fun`` maps a
    stack of means (K, ...) to a stack of estimates.  Returns (estimate at the full mean,
    standard error, bias-corrected estimate); errors are NaN for G < 2."""
    G = S.shape[0]
    tot, N = S.sum(axis=0), n.sum()
    est = fun((tot / N)[None])[0]
    if G < 2:
        nan = np.full(np.shape(est), np.nan)  # errors are real, also for a complex estimate
        return est, nan, est
    loo = fun((tot[None] - S) / (N - n).reshape((G,) + (1,) * (S.ndim - 1)))
    mean = loo.mean(axis=0)
    err = np.sqrt((G - 1) / G * np.sum(np.abs(loo - mean) ** 2, axis=0))
    return est, err, G * est - (G - 1) * mean


def interval(value, err, groups: int, level: float = 0.95):
    """Two-sided confidence interval value +- t_{(1+level)/2, groups-1} * err."""
    from scipy.stats import t as student_t

    q = student_t.ppf(0.5 + level / 2, groups - 1)
    return value - q * err, value + q * err


def _task(method, problem, g, ids, seed):
    return g, method.run_group(problem, ids, seed)


@contextlib.contextmanager
def _dask(n_jobs: int, scheduler):
    """A Dask client: the given one, one connected to ``scheduler`` (an address), or a local
    cluster of n_jobs single-threaded worker processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client the caller manages
        return
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(method, problem: Problem, ntraj: int, seed: int, *, groups: int = 20, n_jobs: int = 1,
        backend: str = "loky", scheduler=None, progress: bool | None = None, e_ops=None):
    """Average ``ntraj`` trajectories (or samples) of ``method`` on ``problem``.

    Parameters
    ----------
    method : object with ``run_group(problem, ids, seed) -> GroupSums``, ``name``, ``options``
        (``Jump``, ``Homodyne``, ``Moving``, ``MeanField``, ``PositiveP``, ``Wigner``).
    problem : Problem (``charge_problem`` / ``discharge_problem``)
    ntraj, seed : int
        Trajectory k uses ``SeedSequence(seed, spawn_key=(k,))``.
    groups : int
        Number of contiguous trajectory groups: the unit of parallel work and of the jackknife.
    n_jobs : int
        Parallel workers (joblib ``n_jobs``; for ``dask`` without ``scheduler``, the number of
        local worker processes).
    backend : "loky", "threading" or "dask"
    scheduler : str or dask.distributed.Client, optional
        Dask scheduler address (or a client) for ``backend="dask"``.
    progress : bool, optional
        tqdm progress bar over trajectories (default: when stderr is a terminal).
    e_ops : dict, optional
        name -> operator (array or ``qutip.Qobj``) on the signal (Ns x Ns) or on the other factor
        (pump / load); the result's ``expect[name]`` and ``expect_err[name]`` hold its mean and
        jackknife error at every output time.  (Correlations between the two factors need the
        full state and are not reduced.)

    Returns
    -------
    TrajectoryResult (charge problems) or TrajectoryDischargeResult (discharge problems).
    """
    import joblib
    from tqdm.auto import tqdm

    ntraj = check_int("ntraj", ntraj, 1)
    seed = check_int("seed", seed, 0)
    G = min(check_int("groups", groups, 1), ntraj)
    n_jobs = check_int("n_jobs", n_jobs, 1)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler is only used with backend='dask'")
    # resources before any allocation or process start (ResourceError naming the parameter)
    from .resources import check_ensemble, check_scheduler

    check_ensemble(method, problem, ntraj, G, n_jobs, backend)
    if isinstance(scheduler, str):
        check_scheduler(scheduler)
    if progress is None:
        progress = sys.stderr.isatty()
    ops = _observables(problem, e_ops)
    bounds = (np.arange(G + 1) * ntraj) // G
    tasks = [(g, np.arange(bounds[g], bounds[g + 1])) for g in range(G)]
    done: list[GroupSums | None] = [None] * G
    interrupted = False
    t_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if backend == "dask":
            stack.enter_context(_dask(n_jobs, scheduler))
            stack.enter_context(joblib.parallel_config(backend="dask"))
            par = joblib.Parallel(return_as="generator_unordered")
        else:
            par = joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")
        bar = stack.enter_context(tqdm(total=ntraj, disable=not progress, unit="traj",
                                       desc=f"{method.name} {problem.kind}"))
        gen = par(joblib.delayed(_task)(method, problem, g, ids, seed) for g, ids in tasks)
        try:
            for g, sums in gen:
                done[g] = sums
                bar.update(sums.n)
        except KeyboardInterrupt:
            interrupted = True
            gen.close()
    parts = [d for d in done if d is not None]
    if not parts:
        raise KeyboardInterrupt("interrupted before any trajectory group finished")
    options = {**method.options, "channels": list(problem.channels), "backend": backend,
               "n_jobs": n_jobs, "elapsed_s": time.perf_counter() - t_start,
               "steps_per_traj": sum(p.steps for p in parts) / sum(p.n for p in parts),
               "rejected_per_traj": sum(p.rejected for p in parts) / sum(p.n for p in parts)}
    return _reduce(problem, method.name, parts, seed, interrupted, options, ops,
                   getattr(method, "reduce", None))


def _observables(problem: Problem, e_ops) -> dict:
    """name -> (factor, matrix) with factor 0 (signal) or 1 (other); clear errors otherwise."""
    if e_ops is None:
        return {}
    if not isinstance(e_ops, dict):
        raise ValueError(f"e_ops must be a dict name -> operator, got {type(e_ops).__name__}")
    Ns, No = problem.dims
    out = {}
    for name, op in e_ops.items():
        m = np.asarray(op.full() if hasattr(op, "full") else op, dtype=complex)
        if m.shape == (Ns, Ns):
            out[str(name)] = (0, m)
        elif m.shape == (No, No):
            out[str(name)] = (1, m)
        else:
            raise ValueError(f"e_ops[{name!r}] must be {Ns}x{Ns} (signal) or {No}x{No}, got shape {m.shape}")
    return out


def _reduce(problem: Problem, name: str, parts, seed, interrupted, options, ops=None, hook=None):
    """The result from the group sums ``parts``: every number from the averaged state (module
    docstring).  ``hook(problem, parts, result) -> result``, a method's own ``reduce``, then
    replaces what that method reports differently (phase-space methods: their Fock estimate is
    not a state, ``phasespace.state``)."""
    n = np.array([p.n for p in parts], dtype=float)
    N, G = int(n.sum()), len(parts)
    counts = sum(p.counts for p in parts) / N
    records = [r for p in parts for r in p.records]
    Ns, No = problem.dims
    nt = len(problem.t)

    def split(S):  # element-wise errors of Re and Im
        _, er, _ = jackknife(S.real, n, lambda x: x)
        _, ei, _ = jackknife(S.imag, n, lambda x: x)
        return er + 1j * ei

    def parts_s(x):
        e = ergotropy_parts(x, problem.ladder_s)
        return np.stack([e.energy, e.W, e.W_c, e.W_i], axis=1)

    # Time by time: the only full-size copies are the groups' own sums (memory G nt Ns^2, not the
    # ~8 G nt Ns^2 of stacking them and the jackknife's temporaries at once); every quantity is
    # element-wise in time, so the numbers are those of the stacked form.
    nums = np.arange(Ns, dtype=float), np.arange(No, dtype=float)
    rho_s, rho_o = np.empty((nt, Ns, Ns), complex), np.empty((nt, No, No), complex)
    rho_s_err, rho_o_err = np.empty_like(rho_s), np.empty_like(rho_o)
    J4 = [np.empty((4, nt)) for _ in range(3)]  # (est, err, bc) of (E, W, Wc, Wi)
    nsum = [np.empty(nt) for _ in range(4)]  # n_s, n_s_err, n_p, n_p_err
    Wa3 = [np.empty(nt) for _ in range(3)]
    ens_expect = {k: [np.empty(nt, complex), np.empty(nt)] for k in (ops or {})}
    from threadpoolctl import threadpool_limits

    # one BLAS thread: with another process busy on a 2-core machine, OpenBLAS' two threads made
    # eigvalsh of a 540 x 540 state 10-20x slower (0.7-1.0 s against 0.05 s; measured), and the
    # reduction's numbers then do not depend on the machine's thread settings
    with threadpool_limits(limits=1, user_api="blas"):
        _reduce_times(parts, N, n, nt, split, parts_s, ops, problem, nums, rho_s, rho_o, rho_s_err, rho_o_err,
                      J4, Wa3, nsum, ens_expect)
    ens = {"ntraj": N, "seed": seed, "groups": G, "interrupted": interrupted, "records": records,
           "expect": {}, "expect_err": {}}
    for key in ens_expect:
        ens["expect"][key], ens["expect_err"][key] = ens_expect[key]
    (E, W, Wc, Wi), (E_e, W_e, Wc_e, Wi_e), (_, W_b, Wc_b, Wi_b) = J4
    if problem.kind == "discharge":
        info = problem.info
        Wa, Wa_e, Wa_b = Wa3
        return TrajectoryDischargeResult(
            params=info["params"], t=problem.t, method=name, options=options, load=info["load"],
            t0=float(info.get("t0", 0.0)), rho_s=rho_s, rho_a=rho_o, W_s=W, W_a=Wa,
            rho_s_err=rho_s_err, rho_a_err=rho_o_err, W_s_err=W_e, W_a_err=Wa_e, W_s_bc=W_b,
            W_a_bc=Wa_b, counts=counts, **ens)
    n_s, n_s_e, n_p, n_p_e = nsum
    res = TrajectoryResult(
        params=problem.info["params"], t=problem.t, method=name, options=options, rho_s=rho_s,
        energy=E, W=W, W_c=Wc, W_i=Wi, n_p=n_p, tail_s=rho_s[:, -1, -1].real,
        tail_p=rho_o[:, -1, -1].real, rho_s_err=rho_s_err, energy_err=E_e, W_err=W_e,
        W_c_err=Wc_e, W_i_err=Wi_e, W_bc=W_b, W_c_bc=Wc_b, W_i_bc=Wi_b, n_s=n_s, n_s_err=n_s_e,
        n_p_err=n_p_e, counts=counts, **ens)
    return res if hook is None else hook(problem, parts, res)


def _reduce_times(parts, N, n, nt, split, parts_s, ops, problem, nums, rho_s, rho_o, rho_s_err, rho_o_err,
                  J4, Wa3, nsum, ens_expect):
    """The time loop of ``_reduce`` (fills the output arrays in place)."""
    for it in range(nt):
        S_s = np.stack([p.rho_s[it] for p in parts])[:, None]  # (G, 1, Ns, Ns)
        S_o = np.stack([p.rho_o[it] for p in parts])[:, None]
        rho_s[it], rho_o[it] = S_s.sum(axis=0)[0] / N, S_o.sum(axis=0)[0] / N
        rho_s_err[it], rho_o_err[it] = split(S_s)[0], split(S_o)[0]
        for key, (factor, m) in (ops or {}).items():
            e, ee, _ = jackknife(S_s if factor == 0 else S_o, n, lambda x, m=m: np.einsum("ktij,ji->kt", x, m))
            ens_expect[key][0][it], ens_expect[key][1][it] = e[0], ee[0]
        for k, arr in enumerate(jackknife(S_s, n, parts_s)):
            J4[k][:, it] = arr[:, 0]
        if problem.kind == "discharge":
            for k, arr in enumerate(jackknife(S_o, n, lambda x: ergotropy_parts(x, problem.ladder_o).W)):
                Wa3[k][it] = arr[0]
        else:
            a, b, _ = jackknife(S_s, n, lambda x: np.einsum("ktii,i->kt", x, nums[0]).real)
            nsum[0][it], nsum[1][it] = a[0], b[0]
            a, b, _ = jackknife(S_o, n, lambda x: np.einsum("ktii,i->kt", x, nums[1]).real)
            nsum[2][it], nsum[3][it] = a[0], b[0]
