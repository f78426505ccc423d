r"""Exact density-matrix reference: the Lindblad master equation at any truncation.

Two engines solve the same equation (``BatteryParams`` docstring):

* ``"fast"`` (default): the element-wise right-hand side of ``_lindblad_kernel`` integrated by
  the Dormand-Prince 5(4) pair with Hairer's DOPRI5 step control (adaptive, in numba).  The
  problem is only mildly stiff (largest eigenvalues ~ -182 +- 191i at the paper's truncation,
  so about 3200 steps for t = 0..40, the step held at DOPRI5's stability limit, where the
  error is far below the tolerance); an explicit method keeps the per-step cost at six cheap
  kernel calls.  Hermiticity, signal parity and (delta = 0) reality cut the state eightfold
  (a coherent seed eps breaks parity, so seeded runs use the layout without parity blocks).
* ``"qutip"``: ``qutip.mesolve``, the trusted baseline the fast engine is tested against.

The pump switch-off at ``t_off`` is a discontinuity in time: both engines integrate the two
pieces separately instead of stepping across it.

Truncation guard (``truncation`` module; ``trunc_tol``, default 1e-2, 0 disables it): every
result is repeated at (Ns', Np') = (smaller(Ns), smaller(Np)) and carries the verdict
``result.truncation``, with the error

    err = max over t and q in {E, W, W_c, W_i} of |q_(Ns,Np)(t) - q_(Ns',Np')(t)| / max(E(t), omega_s)

(a discharge: W_s and W_a, the battery charged and discharged at the smaller cut).  Above
``trunc_tol`` a one-line ``TruncationWarning``; above max(0.25, trunc_tol), or with a top Fock
level holding > 1e-2, ``TruncationError``.  The comparison run costs ~30 % of the run (measured
at the paper's 32 / 9 against 28 / 7, t = 0..12: 2.8 s + 0.8 s).  At the paper's defaults the
verdict is "warn": 16 % of max(E, omega_s) (at t = 10, the pump's transient), against a true
error of 3.6 % over t = 0..10 (reference 40 / 12) and 6.6 % over t = 0..40 (reference 56 / 14).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import qutip
from tqdm.auto import tqdm

from . import model, resources
from . import _lindblad_kernel as kernel
from ._lindblad_kernel import coefficients
from .ergotropy import as_array, ergotropy_parts, ladder
from .params import BatteryParams, LoadParams
from .results import ChargeResult, DischargeResult
from . import truncation as trunc
from .truncation import TRUNC_TOL, TruncationError, TruncationWarning, check_tol

__all__ = ["charge", "discharge", "steady_state", "charge_verdict", "charged_signal",
           "TruncationError", "TruncationWarning", "TRUNC_TOL", "check_times"]

ENGINES = ("fast", "qutip")
#: Default tolerances of both engines.  With rtol = 1e-8, atol = 1e-10 the two engines agree
#: on W(t) to < 1e-6 at the paper's truncation (tests/test_exact.py).
RTOL, ATOL = 1e-8, 1e-10


def check_times(t, name: str = "t") -> np.ndarray:
    """Validate an output grid: 1-D, finite, >= 0 and strictly increasing."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of times")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite")
    if t[0] < 0:
        raise ValueError(f"{name} must start at a time >= 0, got {t[0]}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return t


def _segments(p: BatteryParams, t: np.ndarray):
    """Split [t0, t_end] where F(t) jumps (ramp pieces, t_off); yield (start, stop, F, output
    times in [start, stop))  (the last segment includes its stop)."""
    cuts = [t[0], *p.cuts(t[0], t[-1]), t[-1]]
    for a, b in zip(cuts[:-1], cuts[1:]):
        mask = (t >= a) & (t <= b) if b == cuts[-1] else (t >= a) & (t < b)
        yield a, b, p.F_at(0.5 * (a + b)), t[mask]


def _initial_state(p: BatteryParams, rho0) -> np.ndarray:
    D = p.Ns * p.Np
    if rho0 is None:
        rho = np.zeros((D, D), complex)
        rho[0, 0] = 1.0
    else:
        rho = _density_matrix(p, rho0, "rho0")
        _check_state(rho, "rho0")
        rho = 0.5 * (rho + rho.conj().T)  # the fast kernel relies on exact Hermiticity (rounding only)
    return rho.reshape(p.Ns, p.Np, p.Ns, p.Np)


def _density_matrix(p: BatteryParams, state, name: str) -> np.ndarray:
    """The D x D matrix (D = Ns Np) of an initial state on signal (x) pump given as a density
    matrix or a ket (a unit vector: shape (D,) or (D, 1)), numpy array or ``qutip.Qobj``; a
    Qobj's dims must be signal (x) pump, [Ns, Np] (not the pump first)."""
    D = p.Ns * p.Np
    if hasattr(state, "dims") and hasattr(state, "full"):
        if list(state.dims[0]) not in ([p.Ns, p.Np], [D]):
            raise ValueError(f"{name}: a Qobj on signal (x) pump needs dims [[{p.Ns}, {p.Np}], ...] "
                             f"(Ns={p.Ns}, Np={p.Np}), got {state.dims}")
        state = state.full()
    m = np.asarray(state, dtype=complex)
    if m.shape in ((D,), (D, 1)):
        v = m.ravel()
        norm = float(np.linalg.norm(v)) if np.all(np.isfinite(v)) else float("nan")
        if not abs(norm - 1.0) <= 1e-8:
            raise ValueError(f"{name}: a ket must be a finite unit vector, got norm {norm:.10g}")
        return np.outer(v, v.conj())
    if m.shape != (D, D):
        raise ValueError(f"{name} must be a ket of length {D} or a density matrix of shape ({D}, {D}) "
                         f"for Ns={p.Ns}, Np={p.Np}, got shape {m.shape}")
    return m


def _check_state(rho: np.ndarray, name: str, tol: float = 1e-10) -> None:
    """Refuse anything but a density matrix: finite, Hermitian, unit trace, eigenvalues >= 0
    (each to ``tol``, rounding only).  A non-Hermitian input is not silently symmetrised."""
    if not np.all(np.isfinite(rho)):
        raise ValueError(f"{name} must be finite")
    dev = float(np.abs(rho - rho.conj().T).max())
    if dev > tol:
        raise ValueError(f"{name} must be Hermitian (largest |rho - rho^dag| = {dev:.2g})")
    tr = float(np.trace(rho).real)
    if abs(tr - 1.0) > 1e-8:
        raise ValueError(f"{name} must have unit trace, got {tr:.10g}")
    low = float(np.linalg.eigvalsh(0.5 * (rho + rho.conj().T))[0])
    if low < -tol:
        raise ValueError(f"{name} must be positive semi-definite (smallest eigenvalue {low:.2g})")


def _is_parity_block(rho4: np.ndarray) -> bool:
    n = np.arange(rho4.shape[0])
    odd = (n[:, None] - n[None, :]) % 2 == 1
    return not np.any(np.abs(rho4.transpose(0, 2, 1, 3)[odd]) > 0)


def _run_fast(p, rho4, t, rtol, atol, bar):
    # The state is packed (see _lindblad_kernel): upper triangle only, only the signal-parity
    # blocks when rho0 has no odd coherences and there is no seed (eps (a_s^dag - a_s) changes
    # the signal number by one), only real parts when delta = 0 and rho0 is real (the seed term
    # is real too); 20880 numbers instead of 165888 at the paper's defaults.  Anything else (a
    # coherent seed in rho0 or in H, detuning) runs the same kernel on the larger layouts.
    parity = p.eps == 0 and _is_parity_block(rho4)
    cplx = p.delta != 0.0 or bool(np.any(rho4.imag))
    lay = kernel.layout(p.Ns, p.Np, parity, cplx)
    y = np.empty(lay[kernel._NY])
    kernel.pack(rho4, y, lay)
    W = kernel.work_array(lay)
    K = kernel.dopri5_work(lay)
    full = np.empty((p.Ns, p.Np, p.Ns, p.Np), complex)  # one buffer: memory stays O(1) in len(t)
    reduced = []
    for a, b, F, t_seg in _segments(p, t):
        coef = coefficients(p, F)
        C = kernel.column_coefficients(lay, coef)
        state = kernel.dopri5_state()  # the switch-off is a discontinuity: start afresh
        ta = a
        for tt in np.concatenate([t_seg, [b]] if (not t_seg.size or t_seg[-1] != b) else [t_seg]):
            if tt > ta:
                code = kernel.dopri5(y, ta, tt, state, K, W, C, lay, coef, rtol, atol, 10**7)
                if code != 0:
                    what = "too many steps" if code == -1 else "step size too small"
                    raise RuntimeError(f"integration failed at t={state[kernel._T]} ({what})")
                ta = tt
                bar.update(tt - t[0] - bar.n)
            if tt in t_seg:
                kernel.unpack(y, full, lay)
                reduced.append(_reduce(full))
    return [np.array(x) for x in zip(*reduced)]


def _reduce(full: np.ndarray):
    """(rho_s, rho_p) of one state of shape (Ns, Np, Ns, Np)."""
    return np.einsum("nkmk->nm", full), np.einsum("nknl->kl", full)


def _run_qutip(p, rho4, t, rtol, atol, bar):
    D = p.Ns * p.Np
    rho = qutip.Qobj(rho4.reshape(D, D), dims=[[p.Ns, p.Np], [p.Ns, p.Np]])
    c_ops = model.collapse_ops(p)
    states = []
    for a, b, F, t_seg in _segments(p, t):
        grid = np.unique(np.concatenate([[a], t_seg, [b]]))
        res = qutip.mesolve(
            model.hamiltonian(p, F), rho, grid, c_ops,
            options={"store_states": True, "atol": atol, "rtol": rtol, "nsteps": 100000},
        )
        keep = np.isin(grid, t_seg)
        states.extend(_reduce(s.full().reshape(p.Ns, p.Np, p.Ns, p.Np)) for s, k in zip(res.states, keep) if k)
        rho = res.states[-1]
        bar.update(b - a)
    return [np.array(x) for x in zip(*states)]


# ---- the truncation guard (module docstring of ``truncation``) ----------------------------------
#
# Every result is compared with the same run at the smaller truncation (Ns', Np') =
# (smaller(Ns), smaller(Np)): same engine, tolerances and output times, the initial state cut to
# the smaller space.  The largest change of energy / W / W_c / W_i over the output times, in
# units of max(E, omega_s), is the verdict's error: the Fock tail of this model decays faster
# than geometrically, so that change exceeds the error left at (Ns, Np) (measured at the paper's
# defaults, t = 0..40: change 0.119 against a true error 0.066).  The comparison run costs about
# half of the run itself (its dimension is ~77 % of the full one, its state ~60 %).


def _smaller_params(params: BatteryParams) -> BatteryParams | None:
    """params at (smaller(Ns), smaller(Np)); None when either has no smaller truncation (N = 2)."""
    ns, np_ = trunc.smaller(params.Ns), trunc.smaller(params.Np)
    return None if ns is None or np_ is None else params.replace(Ns=ns, Np=np_)


def _cut(rho, dims) -> np.ndarray | None:
    """The block of ``rho`` (shape (n1, .., n1, ..)) on the first ``dims`` levels of each factor,
    renormalised; None when the block holds no weight."""
    r = rho[tuple(slice(0, d) for d in dims) * 2].copy()
    k = len(dims)
    tr = np.trace(r.reshape(int(np.prod(dims)), -1)).real if k > 1 else np.trace(r).real
    return r / tr if tr > 1e-12 else None


def _quantities(res) -> dict:
    return {"energy": res.energy, "W": res.W, "W_c": res.W_c, "W_i": res.W_i}


def _verdict(tol, res, small, ref, top_s, top_p, what: str) -> dict:
    """The verdict of a charge or steady-state result ``res`` against ``ref`` at ``small``."""
    p = res.params
    if tol == 0:
        return trunc.disabled(top_s, top_p)
    if small is None:
        return trunc.assess(tol, f"no smaller truncation than Ns={p.Ns}, Np={p.Np} exists (N = 2): "
                            "top-level populations only", None, top_s=top_s, top_p=top_p)
    measure = f"change against {what} at Ns={small.Ns}, Np={small.Np} (reported: Ns={p.Ns}, Np={p.Np})"
    if ref is None:
        return trunc.assess(tol, measure + "; the initial state has no weight there", float("inf"),
                            float(res.t[0]), top_s=top_s, top_p=top_p)
    err, at, by = trunc.relative_change(res.t, res.energy, _quantities(res), _quantities(ref), p.omega_s)
    return trunc.assess(tol, measure, err, at, by, top_s=top_s, top_p=top_p)


def _solve(params, t, rho4, engine, rtol, atol, progress, desc) -> ChargeResult:
    run = _run_fast if engine == "fast" else _run_qutip
    with tqdm(total=float(t[-1] - t[0]), disable=progress is False if progress is not None else None,
              delay=2.0, unit="t", desc=desc, leave=False) as bar:
        rho_s, rho_p = run(params, rho4, t, rtol, atol, bar)
    return _result(params, t, rho_s, rho_p, "exact", {"engine": engine, "rtol": rtol, "atol": atol})


def _charge_checked(params, t, rho4, engine, rtol, atol, progress, tol):
    """(the result carrying its verdict, the comparison result or None); nothing is enforced."""
    res = _solve(params, t, rho4, engine, rtol, atol, progress, f"charge F={params.F:g}")
    small = _smaller_params(params) if tol else None
    ref = None
    if small is not None:
        r4 = _cut(rho4, (small.Ns, small.Np))
        if r4 is not None:
            ref = _solve(small, t, r4, engine, rtol, atol, progress, f"truncation check Ns={small.Ns} Np={small.Np}")
    verdict = _verdict(tol, res, small, ref, res.tail_s, res.tail_p, "the same run")
    return replace(res, truncation=verdict), ref


def charge(
    params: BatteryParams = BatteryParams(),
    t=None,
    *,
    rho0=None,
    engine: str = "fast",
    rtol: float = RTOL,
    atol: float = ATOL,
    progress: bool | None = None,
    trunc_tol: float | None = TRUNC_TOL,
) -> ChargeResult:
    r"""Solve the charging master equation and return the signal state and its ergotropy.

    Parameters
    ----------
    params : BatteryParams
    t : array_like
        Output times (strictly increasing, >= 0); the state ``rho0`` is taken at ``t[0]``.
        Default: 0..40 in steps of 0.1 (Fig. 3 of the paper).
    rho0 : Qobj or array, optional
        Initial state on signal (x) pump (index i_s * Np + i_p, qutip's ``tensor`` order): a
        density matrix (D x D, D = Ns Np) or a ket (unit vector of length D); a ``Qobj``'s dims
        must be [[Ns, Np], ...].  Default the vacuum.
    engine : {"fast", "qutip"}
    progress : bool or None
        Progress bar over simulated time; None shows it on a terminal for runs over 2 s.
    trunc_tol : float
        Truncation guard (``truncation``): the run is repeated at (Ns', Np') = (smaller(Ns),
        smaller(Np)) on the same output times and

        .. math:: \mathrm{err} = \max_{t,\,q \in \{E, W, W_c, W_i\}} |q_{N_s,N_p}(t) - q_{N_s',N_p'}(t)| / \max(E(t), \omega_s)

        decides: <= trunc_tol ok, up to max(0.25, trunc_tol) a one-line ``TruncationWarning``,
        above (or a top Fock level holding > 1e-2) ``TruncationError`` with ``.result``.  The
        verdict is ``result.truncation``.  0 (or None) disables the guard and the second run;
        with Ns or Np = 2 only the top-level populations decide.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    tol = check_tol(trunc_tol)
    t = check_times(np.arange(401) * 0.1 if t is None else t)
    resources.check_charge(params, t, "exact", engine=engine, trunc_tol=tol)  # before any allocation
    res, _ = _charge_checked(params, t, _initial_state(params, rho0), engine, rtol, atol, progress, tol)
    trunc.enforce(res.truncation, res)
    return res


def charge_verdict(params: BatteryParams, t, *, rho0=None, trunc_tol: float | None = TRUNC_TOL,
                   progress: bool | None = None) -> dict:
    """The truncation verdict ``charge(params, t, rho0=rho0)`` would carry (fast engine), not
    enforced: for the unravelings of the same master equation (trajectories, homodyne phase
    selection), whose ensemble mean is this solution at the same truncation, so their truncation
    error is its truncation error (without statistical noise).  trunc_tol = 0: the disabled verdict
    without top-level populations (nothing is run)."""
    tol = check_tol(trunc_tol)
    if tol == 0:
        return trunc.disabled()
    t = check_times(t)
    res, _ = _charge_checked(params, t, _initial_state(params, rho0), "fast", RTOL, ATOL, progress, tol)
    return res.truncation


def _result(params, t, rho_s, rho_p, method, options) -> ChargeResult:
    """The signal state's ergotropy and the top-level populations, from the reduced states."""
    parts = ergotropy_parts(rho_s, ladder(params.Ns, params.omega_s))
    return ChargeResult(
        params=params, t=t, method=method, options=options,
        rho_s=rho_s, energy=parts.energy, W=parts.W, W_c=parts.W_c, W_i=parts.W_i,
        n_p=np.einsum("tkk,k->t", rho_p, np.arange(params.Np)).real,
        tail_s=rho_s[:, -1, -1].real, tail_p=rho_p[:, -1, -1].real,
    )


def _steady(params, method) -> ChargeResult:
    from .steady import steady_state as _solve_steady

    full = _solve_steady(params, method=method).reshape(params.Ns, params.Np, params.Ns, params.Np)
    rho_s, rho_p = _reduce(full)
    return _result(params, np.array([np.inf]), rho_s[None], rho_p[None], "exact-steady", {"method": method})


def steady_state(
    params: BatteryParams = BatteryParams(), *, method: str = "auto", trunc_tol: float | None = TRUNC_TOL
) -> ChargeResult:
    """Stationary state of the charging master equation, solved directly (see ``steady``).

    Returned as a one-point :class:`ChargeResult` at t = inf.  ``trunc_tol``: the guard of
    ``charge``, by the stationary state at (smaller(Ns), smaller(Np)) (0 or None: disabled).
    """
    tol = check_tol(trunc_tol)
    res = _steady(params, method)
    small = _smaller_params(params) if tol else None
    ref = _steady(small, method) if small is not None else None
    res = replace(res, truncation=_verdict(tol, res, small, ref, res.tail_s, res.tail_p, "the stationary state"))
    trunc.enforce(res.truncation, res)
    return res


def _charged(params: BatteryParams, t0: float, progress, tol):
    """(rho_s(t0), the same at the smaller truncation or None, the charge verdict), not enforced."""
    if not np.isfinite(t0) or t0 < 0:
        raise ValueError(f"t0 must be finite and >= 0, got {t0}")
    t = np.array([0.0, t0] if t0 > 0 else [0.0])
    res, ref = _charge_checked(params.replace(t_off=None), t, _initial_state(params, None), "fast", RTOL, ATOL,
                               progress, tol)
    return res.rho_s[-1], None if ref is None else ref.rho_s[-1], res.truncation


def charged_signal(params: BatteryParams, t0: float, progress: bool | None = None,
                   trunc_tol: float | None = TRUNC_TOL) -> np.ndarray:
    """The signal state after charging from the vacuum with the pump on until t0 (the initial
    battery state of a discharge); the charge run's truncation guard is enforced."""
    rho, _, verdict = _charged(params, t0, progress, check_tol(trunc_tol))
    trunc.enforce(verdict)
    return rho


def _discharge_run(params, load, t, rho_s0, rtol, atol) -> DischargeResult:
    Ns = rho_s0.shape[0]
    ground = np.array([[1, 0], [0, 0]], dtype=complex)
    rho0 = qutip.Qobj(np.kron(rho_s0, ground), dims=[[Ns, 2], [Ns, 2]])
    grid = np.unique(np.concatenate([[0.0], t]))  # the load is connected at t = 0 (i.e. t0)
    res = qutip.mesolve(
        model.load_hamiltonian(Ns, load), rho0, grid, model.load_collapse_ops(Ns, params, load),
        options={"store_states": True, "atol": atol, "rtol": rtol, "nsteps": 100000},
    )
    res_states = [s for s, tt in zip(res.states, grid) if tt in set(t)]
    full = np.array([s.full() for s in res_states]).reshape(len(t), Ns, 2, Ns, 2)
    rho_s = np.einsum("tnama->tnm", full)
    rho_a = np.einsum("tnanb->tab", full)
    W_s = ergotropy_parts(rho_s, ladder(Ns, load.omega_s)).W
    W_a = ergotropy_parts(rho_a, np.array([0.0, load.omega_a])).W
    return DischargeResult(
        params=params, t=t, method="exact", options={"engine": "qutip", "rtol": rtol, "atol": atol},
        load=load, rho_s=rho_s, rho_a=rho_a, W_s=W_s, W_a=W_a,
    )


def _discharge_verdict(tol, res, rho_small, charge_verdict, compared: str | None, rtol, atol) -> dict:
    """The discharge's verdict: the change of W_s and W_a, in units of max(E_s + E_a, omega_s),
    when the whole computation runs at the smaller truncation (``compared``: the battery charged
    at (Ns', Np') and discharged at Ns', or the given rho_s0 cut to Ns'; None: no smaller one).
    That change contains both the charged state's truncation error, as far as it reaches the
    reported numbers, and the discharge's own; the latter vanishes at nth_s = 0, where H'
    conserves n_s + sigma_+ sigma_- and every dissipator lowers it, so no population goes beyond
    the initial state's top level (tested).  Top-level populations: the signal's during the
    discharge and, for a charged battery, those of the charge run."""
    load = res.load
    Ns = res.rho_s.shape[-1]
    top_s, top_p = float(np.max(res.rho_s[:, -1, -1].real)), None
    if charge_verdict is not None:
        top_s = max(top_s, charge_verdict.get("top_level_s") or 0.0)
        top_p = charge_verdict.get("top_level_p")
    if tol == 0:
        return trunc.disabled(top_s, top_p)
    if compared is None:
        return trunc.assess(tol, f"no smaller truncation than Ns={Ns} exists (N = 2): top-level populations only",
                            None, top_s=top_s, top_p=top_p)
    measure = f"change of W_s, W_a against the discharge of {compared} (reported: Ns={Ns})"
    if rho_small is None:
        return trunc.assess(tol, measure + "; it has no weight there", float("inf"), float(res.t[0]),
                            top_s=top_s, top_p=top_p)
    ref = _discharge_run(res.params, load, res.t, rho_small, rtol, atol)
    E = np.einsum("tnn,n->t", res.rho_s, ladder(Ns, load.omega_s)).real + load.omega_a * res.rho_a[:, 1, 1].real
    err, at, by = trunc.relative_change(res.t, E, {"W_s": res.W_s, "W_a": res.W_a},
                                        {"W_s": ref.W_s, "W_a": ref.W_a}, load.omega_s)
    return trunc.assess(tol, measure, err, at, by, top_s=top_s, top_p=top_p, quantities="W_s / W_a",
                        scale="max(E_s + E_a, omega_s)")


def _discharge_checked(params, load, t, t0, rho_s0, rtol, atol, progress, tol):
    """(the discharge result with its verdict, the initial signal state); nothing enforced."""
    if rho_s0 is None:
        rho_s0, rho_small, charge_v = _charged(params, t0, progress, tol)
        small = _smaller_params(params)
        compared = None if small is None else (
            f"the battery charged at Ns={small.Ns}, Np={small.Np} and discharged at Ns={small.Ns}")
    else:
        rho_s0, charge_v = as_array(rho_s0).astype(complex), None
        if rho_s0.ndim != 2 or rho_s0.shape[0] != rho_s0.shape[1] or rho_s0.shape[0] < 2:
            raise ValueError(f"rho_s0 must be a square matrix of size >= 2, got shape {rho_s0.shape}")
        _check_state(rho_s0, "rho_s0")
        ns = trunc.smaller(rho_s0.shape[0])
        compared = None if ns is None else f"the given rho_s0 cut to Ns={ns}"
        rho_small = _cut(rho_s0, (ns,)) if tol and ns is not None else None
    res = replace(_discharge_run(params, load, t, rho_s0, rtol, atol), t0=float(t0))
    verdict = _discharge_verdict(tol, res, rho_small, charge_v, compared, rtol, atol)
    return replace(res, truncation=verdict), rho_s0


def discharge(
    params: BatteryParams = BatteryParams(),
    load: LoadParams = LoadParams(),
    t=None,
    *,
    t0: float = 10.0,
    rho_s0=None,
    rtol: float = RTOL,
    atol: float = ATOL,
    progress: bool | None = None,
    trunc_tol: float | None = TRUNC_TOL,
) -> DischargeResult:
    """Discharge the battery into a two-level load (Sec. IV, Eqs. 14-19).

    The battery is charged from the vacuum with the pump on until ``t0`` (unless the signal
    state ``rho_s0`` at that moment is given), then rho'(t0) = rho_s(t0) (x) |g><g| evolves
    under ``LoadParams``' master equation.  ``t`` is the time since t0 (default 0..10, step 0.05).

    ``trunc_tol``: the truncation guard (``charge``; 0 or None disables it).  Its error is the
    change of W_s and W_a, in units of max(E_s + E_a, omega_s), when the battery is charged at
    (smaller(Ns), smaller(Np)) and discharged at smaller(Ns) (a given ``rho_s0``: cut to
    smaller(Ns)); see ``_discharge_verdict`` for why that covers the discharge's own cut.
    """
    tol = check_tol(trunc_tol)
    t = check_times(np.arange(201) * 0.05 if t is None else t)
    resources.check_discharge(params, load, t, t0, "exact")  # before any allocation
    res, _ = _discharge_checked(params, load, t, t0, rho_s0, rtol, atol, progress, tol)
    trunc.enforce(res.truncation, res)
    return res
