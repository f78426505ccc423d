r"""Resource guards: refuse a run before it allocates memory or starts a process it cannot finish.

Every check raises :class:`~cimqb_traj.errors.ResourceError` (a ``Refused`` and a ``ValueError``;
the command line prints it as one line and exits 2) whose message starts with the name of the
parameter to change (``Ns``, ``F``, ``t_end``, ``dt``, ``n_jobs``, ...) and states the estimate
and the limit.  The checks use closed forms only, so they answer in well under a second for any
input, 1e308 included.

What is estimated
-----------------
* **Overflow.**  Every rate and time enters a bound on the generator (below); a value that
  overflows it (e.g. ``F = 1e308``: sqrt(gamma_p) F 2 sqrt(Np - 1) = inf) is refused.
* **Steps.**  The explicit integrators (DOPRI5 for the exact solver and the jump trajectories)
  take steps no longer than their stability limit, |lambda| h <~ 3.3 on the negative real axis,
  so a run over a time span T needs about T rho / 3.3 steps, with rho a bound on the spectral
  radius of the generator.  For the master equation, with ||a|| = sqrt(N - 1) in the truncation
  and ||[H, .]|| <= 2 ||H||, ||D[L]|| <= 2 ||L||^2::

      rho <= 2 |Delta| (Ns-1) + 2 kappa sqrt((Ns-1)(Ns-2)(Np-1)) + 4 sqrt(gamma_p) |F| sqrt(Np-1)
             + 4 |eps| sqrt(Ns-1) + sum_j 2 gamma_j [(Nj - 1) + n_j (2 Nj - 1)]

  (each term is charged to one parameter, which names the culprit).  At the paper's defaults
  this gives 541 against the true spectral radius 264 (eigenvalues -182 +- 191i), i.e. ~6600
  steps for t = 0..40 against the measured 3200: the estimate errs on the safe side by ~2.
  A trajectory's non-Hermitian evolution has half of it.  The fixed-step samplers
  (homodyne, positive-P, Wigner) take T / dt steps.  Budgets: :data:`MAX_STEPS` steps per path
  (the fast exact kernel itself gives up after 10^7 steps) and :data:`MAX_WORK` elementary
  updates (steps x paths x state size) per run.
* **Memory**, against :data:`MEMORY_FRACTION` of the memory available now (``psutil``): the
  exact solver's density matrix (Ns Np)^2 complex numbers for the unpacked buffer, its packed
  state (the layout of ``_lindblad_kernel``, in closed form) times the 11 rows of the DOPRI5 work
  array; the output grids nt (Ns^2 + Np^2) (the stored rho_s(t), rho_p(t), and ~4 more for the
  ergotropy); for ensembles, per worker the batch of state vectors (batch x nt x D) and their
  reduced states, in the main process the G group sums and the jackknife's copies of them (~8),
  plus :data:`WORKER_BASE` for each worker process.  The moving (displaced) basis: one trajectory
  of :data:`MOVING_BASIS` levels at a time per worker, its lab-frame group sums nt (Ns_out^2 +
  Np_out^2), and in the main process the G group sums plus ~6 grids (the reduction works one
  output time at a time).
* **Workers**: n_jobs <= ``os.cpu_count()``.
* **A Dask scheduler** address is probed with a TCP connection (:data:`SCHEDULER_TIMEOUT`).

The culprit named in a message is the parameter whose reset to its reference value (the
paper's defaults: Ns 32, Np 9, t = 0..40 in steps of 0.1, the method's default step, 1000
trajectories, one worker) lowers the estimate most.
"""

from __future__ import annotations

import math
import os
import socket

from .errors import ResourceError

__all__ = ["MOVING_BASIS", "MAX_STEPS", "MAX_WORK", "MAX_OUTPUT_TIMES", "MAX_SWEEP_POINTS", "MEMORY_FRACTION",
           "WORKER_BASE", "SCHEDULER_TIMEOUT", "available_memory", "cpu_count", "spectral_bound",
           "packed_size", "check_grid", "check_jobs", "check_scheduler", "check_charge",
           "check_discharge", "check_ensemble", "check_sweep", "check_phase_selection"]

#: Integrator steps per path (trajectory, sample, or the exact solver's one path).
MAX_STEPS = 10**7
#: Elementary updates per run: steps x paths x numbers per path state (~1 ns each: hours).
MAX_WORK = 1e13
#: Output times per run.
MAX_OUTPUT_TIMES = 10**6
#: Pump values of a threshold sweep.
MAX_SWEEP_POINTS = 10**4
#: Fraction of the available memory a run may plan to use.
MEMORY_FRACTION = 0.8
#: Memory of one worker process before it holds any state: RSS of a Python process after
#: importing the trajectory, phase-space and exact modules (numpy, scipy, numba, qutip), 241 MiB.
WORKER_BASE = 256 * 2**20
#: Seconds to wait for a Dask scheduler's TCP port.
SCHEDULER_TIMEOUT = 5.0
#: DOPRI5's stability limit on the negative real axis, |lambda| h.
_STABILITY = 3.3
_KROWS = 11  # DOPRI5 work rows (10) and the state
_C16 = 16  # bytes per complex number

# reference values: the culprit is the parameter whose reset to these lowers the estimate most
_REF = {"Ns": 32, "Np": 9, "nt": 401, "t_span": 40.0, "ntraj": 1000, "groups": 20, "n_jobs": 1,
        "kappa": 0.5, "gamma_s": 1.0, "gamma_p": 16.0, "F": 3.0, "delta": 0.0, "nth_s": 0.0,
        "nth_p": 0.0, "eps": 0.0, "g": 1.0, "gamma_a": 0.1, "delta_a": 0.0, "samples": 2000,
        "F_steps": 21}
#: the discharge generator's bound at the paper's load (g 1, gamma_a 0.1, Ns 32), for blame
_LOAD_REF = 4 * math.sqrt(31) + 0.2 + 62
_DEFAULT_DT = {"homodyne": 1e-3, "positive-p": 2e-3, "wigner": 2e-3}
#: Moving-basis sizes (signal, pump) a displaced-basis trajectory is assumed to hold (its rule
#: sizes it on the tail populations; measured largest: 33 x 9 at kappa 0.1, F 15, t = 0..5), capped
#: by the lab output sizes.
MOVING_BASIS = (48, 16)


# ------------------------------------------------------------------------------------------
# machine
# ------------------------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (``psutil``; else ``os.sysconf``)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil ships with dask, a dependency
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _bytes(b: float) -> str:
    if not math.isfinite(b):
        return "an unbounded amount of memory (overflow)"
    for unit, k in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 2**k:
            return f"{b / 2**k:.3g} {unit}"
    return f"{b:.0f} B"


def _num(x: float) -> str:
    return "inf (overflow)" if not math.isfinite(x) else f"{x:.3g}"


# ------------------------------------------------------------------------------------------
# closed-form estimates
# ------------------------------------------------------------------------------------------


def spectral_bound(Ns, Np, *, kappa=0.0, gamma_s=0.0, gamma_p=0.0, F=0.0, delta=0.0, nth_s=0.0,
                   nth_p=0.0, eps=0.0) -> dict:
    """Terms (parameter -> contribution) of the bound on the spectral radius of the charging
    Liouvillian (module docstring); their sum is the bound.  Plain floats: an overflow gives inf."""
    Ns, Np = float(Ns), float(Np)
    sq = lambda x: math.sqrt(max(x, 0.0))  # noqa: E731

    def prod(*xs):  # a zero factor wins over an overflowed one (0 * inf would be NaN)
        return 0.0 if any(x == 0 for x in xs) else math.prod(xs)

    return {
        "delta": prod(2, abs(delta), Ns - 1),
        "kappa": prod(2, abs(kappa), sq((Ns - 1) * (Ns - 2) * (Np - 1))),
        "F": prod(4, sq(gamma_p), abs(F), sq(Np - 1)),
        "eps": prod(4, abs(eps), sq(Ns - 1)),
        "gamma_s": prod(2, gamma_s, Ns - 1),
        "nth_s": prod(2, gamma_s, nth_s, 2 * Ns - 1),
        "gamma_p": prod(2, gamma_p, Np - 1),
        "nth_p": prod(2, gamma_p, nth_p, 2 * Np - 1),
    }


def packed_size(Ns: int, Np: int, parity: bool, cplx: bool) -> tuple:
    """(stored numbers NY, work array NW) of ``_lindblad_kernel.layout`` in closed form (the
    layout itself loops over Ns Np rows, too slow for a guard against Ns = 10^9)."""
    S = [(Ns + 1) // 2, Ns // 2] if parity else [Ns, 0]
    R = Np + 2

    def nsym(Sb):  # sum over s < Sb, k < Np of Sb R - (s R + k + 1)
        return Sb * Np * Sb * R - R * Np * Sb * (Sb - 1) // 2 - Sb * Np * (Np + 1) // 2

    d = [s * Np for s in S]
    ny = nsym(S[0]) + nsym(S[1])
    if cplx:
        ny += nsym(S[0]) - d[0] + nsym(S[1]) - d[1]
    nw = 3 * R + d[0] * S[0] * R + 3 * R + d[1] * S[1] * R + 3 * R + S[0] * R + 3 * R
    return ny, nw


def _exact_memory(Ns, Np, nt, engine="fast", parity=True, cplx=False) -> float:
    D2 = float(Ns * Np) ** 2
    outputs = (4 + 2) * _C16 * nt * (float(Ns) ** 2 + float(Np) ** 2)  # rho_s, rho_p; ergotropy copies
    if engine == "qutip":  # stored states, the Liouvillian (~12 non-zeros per row) and ODE vectors
        return _C16 * D2 * (nt + 10) + 20 * 12 * D2 + outputs
    ny, nw = packed_size(int(Ns), int(Np), parity, cplx)
    return _C16 * D2 + 8.0 * (_KROWS * ny + nw) + outputs


def _blame(estimate, values: dict, candidates, ref: dict | None = None) -> str:
    """The candidate parameter whose reset to its reference value lowers ``estimate`` most
    (an overflowing estimate: the reset that makes it finite and smallest)."""
    ref = _REF if ref is None else ref
    base = estimate(values)
    best, key = candidates[0], None
    for name in candidates:
        if name not in values or name not in ref or values[name] == ref[name]:
            continue
        v = estimate({**values, name: ref[name]})
        if not math.isfinite(v):
            continue
        k = (math.inf if not math.isfinite(base) else base - v, -v)
        if key is None or k > key:
            best, key = name, k
    return best


def _check_memory(need: float, what: str, blame: str, hint: str) -> None:
    avail = MEMORY_FRACTION * available_memory()
    if not (math.isfinite(need) and need <= avail):
        raise ResourceError(f"{blame}: {what} would need about {_bytes(need)}, more than the "
                            f"{_bytes(avail)} available ({MEMORY_FRACTION:.0%} of this machine's free "
                            f"memory); {hint}")


def _check_steps(steps: float, what: str, blame: str, hint: str, limit: float = MAX_STEPS) -> None:
    if not (math.isfinite(steps) and steps <= limit):
        raise ResourceError(f"{blame}: {what} would need about {_num(steps)} steps, above the budget "
                            f"of {limit:.3g}; {hint}")


def _rates(params) -> dict:
    return {k: getattr(params, k) for k in ("kappa", "gamma_s", "gamma_p", "F", "delta", "nth_s", "nth_p",
                                            "eps")}


def _check_overflow(terms: dict, extra: str = "") -> float:
    rho = sum(terms.values())
    if not math.isfinite(rho):
        name = max(terms, key=lambda k: terms[k] if math.isfinite(terms[k]) else math.inf)
        raise ResourceError(f"{name}: the generator's spectral bound overflows (inf){extra}; rates and "
                            "times must keep every product finite: use a value many orders of magnitude smaller")
    return rho


# ------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------


def check_grid(t_end: float, dt_out: float, names=("t_end", "dt_out")) -> int:
    """Number of output intervals round(t_end / dt_out), refused (naming the parameter) when it
    overflows or exceeds :data:`MAX_OUTPUT_TIMES`; plain ``ValueError`` for non-positive input."""
    for name, v in zip(names, (t_end, dt_out)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    n = t_end / dt_out
    if not (math.isfinite(n) and n <= MAX_OUTPUT_TIMES):
        blame = names[0] if t_end / _REF["t_span"] >= 0.1 / dt_out else names[1]
        raise ResourceError(f"{blame}: {names[0]} / {names[1]} = {_num(n)} output times, above the limit of "
                            f"{MAX_OUTPUT_TIMES:g}; use a shorter {names[0]} or a larger {names[1]}")
    return int(round(n))


def check_jobs(n_jobs: int, name: str = "n_jobs") -> int:
    """``n_jobs`` must be an integer 1 .. :func:`cpu_count` (more workers than CPUs only add
    processes and memory)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n_jobs!r}")
    cpus = cpu_count()
    if n_jobs > cpus:
        raise ResourceError(f"{name}: {n_jobs} workers on a machine with {cpus} CPUs would only add processes "
                            f"(~{_bytes(WORKER_BASE)} each); use at most {cpus}")
    return n_jobs


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse a Dask scheduler address whose TCP port does not answer within ``timeout`` s."""
    if not isinstance(address, str) or not address:
        raise ValueError(f"scheduler must be an address like tcp://host:8786, got {address!r}")
    rest = address.split("://", 1)[-1].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"scheduler must be an address like tcp://host:8786, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ResourceError(f"scheduler: no Dask scheduler answers at {address} within {timeout:g} s "
                            f"({e.strerror or e}); start one (dask scheduler) or leave out the address "
                            "for a local cluster") from None


def _ensemble_estimate(v: dict):
    """(memory bytes, steps per path, work) of an ensemble run from the numbers in ``v``."""
    Ns, No, nt, B, G, J = (float(v[k]) for k in ("Ns", "Np", "nt", "batch", "groups", "n_jobs"))
    D = Ns * No
    red = _C16 * nt * (Ns**2 + No**2)  # one set of reduced states over the grid
    main = 8 * red * G
    if v["kind"] == "phase-space":
        per_path, per_worker = 4.0, red * 3 + B * nt * 4 * _C16 + B * 4096 * 8 * 8
        steps = v["t_span"] / v["dt"]
    elif v["kind"] == "displaced":
        # one trajectory at a time in a moving basis ms x mp; the lab-frame map D(beta) blocks
        # (Ns_out x ms, Np_out x mp, a few copies); the worker's group sums; the main process
        # holds the G group sums and, reducing time by time (ensemble._reduce), a few grids more
        ms, mp = min(Ns, MOVING_BASIS[0]), min(No, MOVING_BASIS[1])
        per_path = ms * mp  # the state size, as for the fixed basis
        per_worker = 2 * red + 40 * ms * mp * _C16 + 4 * (Ns * ms + No * mp) * _C16 + 4096 * 8 * 8
        steps = v["t_span"] / v["dt"]
        main = red * (G + 6)
    else:
        per_path = D
        per_worker = red * (2 + B) + B * nt * D * _C16 * 2 + 40 * D * _C16
        steps = v["t_span"] / v["dt"] if v["kind"] == "homodyne" else v["t_span"] * v["rho"] / 2 / _STABILITY
    records = v["ntraj"] * nt * 8 * 8 if v.get("records") else 0.0
    main = main + 8 * v["ntraj"] + records
    base = WORKER_BASE if v.get("processes", True) else 0
    mem = main + J * (base + per_worker)
    return mem, steps, steps * v["ntraj"] * per_path


def check_ensemble(method, problem, ntraj: int, groups: int, n_jobs: int, backend: str = "loky") -> dict:
    """Resources of ``ensemble.run(method, problem, ntraj, ...)``: worker count, steps per path
    (fixed-step methods: t span / dt; jump: the spectral bound), total work and memory.  Returns
    the estimate ``{"memory", "steps", "work"}``; raises ``ResourceError`` naming the culprit."""
    check_jobs(n_jobs)
    name = getattr(method, "name", "")
    kind = "phase-space" if name in ("positive-p", "wigner", "mean-field") else name
    if (getattr(method, "options", None) or {}).get("basis") == "displaced":
        kind = "displaced"
    t = problem.t
    Ns, No = problem.dims
    v = {"kind": kind, "Ns": Ns, "Np": No, "nt": len(t), "t_span": float(t[-1] - t[0]), "ntraj": ntraj,
         "groups": min(groups, ntraj), "n_jobs": n_jobs, "batch": getattr(method, "batch", 64),
         "dt": getattr(method, "dt", None) or 1.0, "records": getattr(method, "records", False) or
         getattr(method, "paths", False), "processes": backend != "threading", "rho": 0.0}
    if name == "mean-field":
        v["dt"] = v["t_span"] or 1.0  # adaptive ODE solver: steps do not scale with a step size
    info = getattr(problem, "info", None) or {}
    if kind == "jump" and "params" in info:  # (a hand-made Problem without params: no step estimate)
        p = info["params"]
        if problem.kind == "discharge" and "load" in info:
            terms = _load_terms(Ns, p, info["load"])
        else:
            terms = spectral_bound(Ns, No, **_rates(p))
        v["rho"] = _check_overflow(terms)
    return _run_checks(v, {"phase-space": "sample", "homodyne": "trajectory", "jump": "trajectory",
                           "displaced": "trajectory"}.get(kind, "path"), name, method_dt=_DEFAULT_DT.get(name))


def _run_checks(v: dict, unit: str, name: str, method_dt=None) -> dict:
    def est(i):
        return lambda w: _ensemble_estimate(w)[i]

    ref = {**_REF, "dt": method_dt if method_dt is not None else v["dt"]}
    mem, steps, work = _ensemble_estimate(v)
    cand_steps = ["dt", "t_span"] if v["kind"] in ("homodyne", "phase-space", "displaced") else ["t_span", "Ns", "Np"]
    _check_steps(steps, f"each {unit} of {name}", _pname(_blame(est(1), v, cand_steps, ref)),
                 "use a shorter time span or a larger step" if "dt" in cand_steps else
                 "use a shorter time span, smaller rates or a smaller truncation")
    units = {"trajectory": "trajectories", "sample": "samples"}.get(unit, unit + "s")
    _check_steps(work, f"{name} with {v['ntraj']} {units} ({_num(steps)} steps each)",
                 _pname(_blame(est(2), v, ["ntraj"] + cand_steps, ref)), "use fewer paths or a shorter run",
                 limit=MAX_WORK)
    _check_memory(mem, f"{name} ({v['ntraj']} {units}, {v['n_jobs']} worker(s), Ns={v['Ns']}, "
                  f"{v['nt']} output times)",
                  _pname(_blame(est(0), v, ["Ns", "Np", "nt", "n_jobs", "ntraj", "groups"], ref)),
                  "use a smaller truncation, fewer output times, fewer groups or fewer workers")
    return {"memory": mem, "steps": steps, "work": work}


def _pname(name: str) -> str:
    return {"nt": "dt_out", "t_span": "t_end"}.get(name, name)


def _load_terms(Ns, p, load) -> dict:
    return {"g": 4 * load.g * math.sqrt(Ns - 1), "delta_a": 2 * abs(load.delta_a),
            "gamma_a": 2 * load.gamma_a, "gamma_s": 2 * p.gamma_s * (Ns - 1),
            "nth_s": 2 * p.gamma_s * p.nth_s * (2 * Ns - 1)}


def _exact_checks(p, nt: int, t_span: float, engine: str, guard: bool, what: str, span: str = "t_end") -> dict:
    terms = spectral_bound(p.Ns, p.Np, **_rates(p))
    _check_overflow(terms, f" for {what}")
    if not math.isfinite(t_span):
        raise ResourceError(f"{span}: the time span {t_span} overflows")
    runs = 2.0 if guard else 1.0  # the truncation guard's comparison run at a smaller truncation

    def steps_of(v):
        rho = sum(spectral_bound(v["Ns"], v["Np"], **{k: v[k] for k in terms}).values())
        return runs * v["t_span"] * rho / _STABILITY

    v = {"Ns": p.Ns, "Np": p.Np, "nt": nt, "t_span": t_span, **_rates(p)}
    parity, cplx = p.eps == 0, p.delta != 0

    def mem_of(w):
        return _exact_memory(w["Ns"], w["Np"], w["nt"], engine, parity, cplx)

    mem = mem_of(v)
    _check_memory(mem, f"the exact solver (Ns={p.Ns}, Np={p.Np}, {nt} output times)",
                  _pname(_blame(mem_of, v, ["Ns", "Np", "nt"])),
                  "use a smaller truncation or fewer output times")
    steps = steps_of(v)
    _check_steps(steps, f"the exact solver ({what}, t span {t_span:g}, spectral bound "
                 f"{_num(sum(terms.values()))})",
                 {"t_span": span}.get(b := _blame(steps_of, v, ["t_span", *terms, "Ns", "Np"]), b),
                 "use a shorter time span, smaller rates or a smaller truncation")
    return {"memory": mem, "steps": steps, "work": steps * _KROWS}


def check_charge(params, t, method: str = "exact", *, engine: str = "fast", ntraj: int = 1, groups: int = 20,
                 n_jobs: int = 1, backend: str = "loky", dt: float | None = None, batch: int | None = None,
                 trunc_tol: float = 1.0, records: bool = False, basis: str = "fock") -> dict:
    """Resources of a charging run of ``method`` on the output grid ``t`` with ``params``
    (``BatteryParams``): overflow, integrator steps, memory and workers (module docstring).
    ``basis="displaced"`` (homodyne): params' Ns / Np are the lab output sizes; the trajectory's
    own basis is taken as ``MOVING_BASIS`` (capped by them).
    Returns the estimate ``{"memory", "steps", "work"}``; raises ``ResourceError`` naming the
    parameter that dominates (e.g. ``"F: the generator's spectral bound overflows ..."``)."""
    nt, t_span = len(t), float(t[-1] - t[0])
    if method == "exact":
        return _exact_checks(params, nt, t_span, engine, bool(trunc_tol), "charge")
    terms = spectral_bound(params.Ns, params.Np, **_rates(params))
    rho = _check_overflow(terms)
    check_jobs(n_jobs)
    kind = "phase-space" if method in ("positive-p", "wigner", "mean-field") else method
    if basis == "displaced" and method == "homodyne":
        kind = "displaced"
    v = {"kind": kind, "Ns": params.Ns, "Np": params.Np, "nt": nt, "t_span": t_span, "ntraj": ntraj,
         "groups": min(groups, ntraj), "n_jobs": n_jobs, "batch": batch or 64, "records": records,
         "processes": backend != "threading", "rho": rho,
         "dt": dt if dt is not None else _DEFAULT_DT.get(method, t_span or 1.0)}
    if method == "mean-field":
        v["dt"] = t_span or 1.0
    return _run_checks(v, "sample" if kind == "phase-space" else "trajectory", method,
                       method_dt=_DEFAULT_DT.get(method))


def check_discharge(params, load, t, t0: float, method: str = "exact", **kw) -> dict:
    """Resources of a discharge run: the charge to ``t0`` (exact, two output times) and the
    discharge over ``t`` (exact: qutip.mesolve on signal (x) load; trajectories: ``check_charge``'s
    ensemble estimate with the load's generator)."""
    if not math.isfinite(t0):
        raise ResourceError(f"t0: the charging time {t0} overflows")
    est = _exact_checks(params.replace(t_off=None), 2, float(t0), "fast", False, "the charge to t0", span="t0")
    Ns, nt, t_span = params.Ns, len(t), float(t[-1] - t[0])
    terms = _load_terms(Ns, params, load)
    rho = _check_overflow(terms, " of the discharge")
    if method == "exact":
        steps = t_span * rho / _STABILITY
        _check_steps(steps, f"the discharge solver (t span {t_span:g}, spectral bound {_num(rho)})",
                     "t_end" if t_span / 10.0 > rho / _LOAD_REF else max(terms, key=terms.get),
                     "use a shorter time span or smaller rates")
        mem = _C16 * (2.0 * Ns) ** 2 * (2 * nt + 10) + 20 * 12 * (2.0 * Ns) ** 2
        _check_memory(mem, f"the discharge solver (Ns={Ns}, {nt} output times)",
                      "Ns" if Ns / 32 > nt / 201 else "dt_out", "use a smaller truncation or fewer output times")
        return {"memory": mem + est["memory"], "steps": steps + est["steps"]}
    v = {"kind": method, "Ns": Ns, "Np": 2, "nt": nt, "t_span": t_span, "ntraj": kw.get("ntraj", 1),
         "groups": min(kw.get("groups", 20), kw.get("ntraj", 1)), "n_jobs": check_jobs(kw.get("n_jobs", 1)),
         "batch": kw.get("batch") or 64, "records": False, "processes": kw.get("backend", "loky") != "threading",
         "rho": rho, "dt": kw.get("dt") or _DEFAULT_DT.get(method, 1.0)}
    return _run_checks(v, "trajectory", method, method_dt=_DEFAULT_DT.get(method))


def check_sweep(params, F_steps: int, methods, *, samples: int = 2000, t_steady: float = 30.0,
                dt: float | None = None, n_jobs: int = 1, F_max: float = 0.0) -> dict:
    """Resources of ``threshold.sweep``: the number of pump values (<= :data:`MAX_SWEEP_POINTS`),
    overflow of the largest pump, the exact steady-state solver's memory (the sparse Liouvillian
    of dimension (Ns Np)^2 and its LU factors, estimated at 50 complex numbers per unknown) and
    the phase-space samples' steps (F_steps x samples x t_steady / dt)."""
    if F_steps > MAX_SWEEP_POINTS:
        raise ResourceError(f"F_steps: {F_steps} pump values, above the limit of {MAX_SWEEP_POINTS}; "
                            "use a coarser grid")
    check_jobs(n_jobs)
    _check_overflow(spectral_bound(params.Ns, params.Np, **{**_rates(params), "F": F_max}))
    out = {"memory": 0.0, "steps": 0.0}
    if "exact" in methods:
        mem = 50.0 * _C16 * float(params.Ns * params.Np) ** 2
        _check_memory(mem, f"the exact steady state (Ns={params.Ns}, Np={params.Np})",
                      "Ns" if params.Ns / 32 >= params.Np / 9 else "Np", "use a smaller truncation")
        out["memory"] = mem
    ps = [m for m in methods if m in ("positive-p", "wigner")]
    if ps:
        step = dt if dt is not None else 2e-3
        if not math.isfinite(t_steady / step):
            raise ResourceError("t_steady: t_steady / dt overflows")
        steps = t_steady / step
        _check_steps(steps, "each phase-space sample", "dt" if 2e-3 / step > t_steady / 30 else "t_steady",
                     "use a larger dt or a shorter t_steady")
        work = steps * samples * F_steps * len(ps) * 4
        _check_steps(work, f"{samples} samples at {F_steps} pump values", "samples" if samples / 2000 >=
                     F_steps / 21 else "F_steps", "use fewer samples or pump values", limit=MAX_WORK)
        out["steps"] = steps
    return out


def check_phase_selection(params, methods, *, ntraj: int, t_end: float, dt_out: float,
                          dt: float | None = None, n_jobs: int = 1) -> dict:
    """Resources of one ``spin.phase_selection`` point for each of ``methods`` (the same
    estimates as :func:`check_charge`; phase-space methods run at Ns = Np = 2, and every shot's
    record is kept)."""
    n = max(1, check_grid(t_end, dt_out))
    t = [0.0] * n + [float(t_end)]  # only len(t) and the span matter
    out = {}
    for m in methods:
        if m == "mean-field":
            continue
        p = params.replace(Ns=2, Np=2) if m in ("positive-p", "wigner") else params
        out[m] = check_charge(p, t, m, ntraj=ntraj, groups=20, n_jobs=n_jobs,
                              dt=dt if m in ("homodyne", "positive-p", "wigner") else None, trunc_tol=1.0,
                              records=True)
    return out
