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
"""

from __future__ import annotations

import warnings

import numpy as np
import qutip
from tqdm.auto import tqdm

from . import model
from . import _lindblad_kernel as kernel
from ._lindblad_kernel import coefficients
from .ergotropy import as_array, ergotropy_parts, ladder
from .params import BatteryParams, LoadParams
from .results import ChargeResult, DischargeResult
from .truncation import TruncationError, TruncationWarning

__all__ = ["charge", "discharge", "steady_state", "TruncationError", "TruncationWarning", "check_times"]

ENGINES = ("fast", "qutip")
#: Default tolerances of both engines.  With rtol = 1e-8, atol = 1e-10 the two engines agree
#: on W(t) to < 1e-6 at the paper's truncation (tests/test_exact.py).
RTOL, ATOL = 1e-8, 1e-10
#: Population of the highest kept Fock level above which a result is refused.  The truncation
#: error of W grows with that population times the photon number it stands for; see the
#: convergence study in validation/ for the numbers behind this default.
TRUNC_TOL = 1e-2
#: ... and above which a warning is emitted.
TRUNC_WARN = 2e-3


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
        rho = as_array(rho0)
        if rho.shape != (D, D):
            raise ValueError(f"rho0 must have shape ({D}, {D}) for Ns={p.Ns}, Np={p.Np}, got {rho.shape}")
        rho = 0.5 * (rho + rho.conj().T)  # the fast kernel relies on exact Hermiticity
    return rho.reshape(p.Ns, p.Np, p.Ns, p.Np)


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


def _check_truncation(tail_s, tail_p, trunc_tol):
    worst = max(np.max(tail_s), np.max(tail_p))
    which = "Ns" if np.max(tail_s) >= np.max(tail_p) else "Np"
    if trunc_tol is not None and worst > trunc_tol:
        raise TruncationError(
            f"population {worst:.2e} in the highest kept Fock level exceeds trunc_tol={trunc_tol:g}: "
            f"increase {which}"
        )
    if worst > TRUNC_WARN:
        warnings.warn(
            f"highest kept Fock level holds population {worst:.2e} (largest for {which}); "
            "check convergence in the truncation",
            TruncationWarning,
            stacklevel=3,
        )


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
    """Solve the charging master equation and return the signal state and its ergotropy.

    Parameters
    ----------
    params : BatteryParams
    t : array_like
        Output times (strictly increasing, >= 0); the state ``rho0`` is taken at ``t[0]``.
        Default: 0..40 in steps of 0.1 (Fig. 3 of the paper).
    rho0 : Qobj or array, optional
        Initial state on signal (x) pump; default the vacuum.
    engine : {"fast", "qutip"}
    progress : bool or None
        Progress bar over simulated time; None shows it on a terminal for runs over 2 s.
    trunc_tol : float or None
        Refuse (``TruncationError``) when the highest kept Fock level of either mode holds more
        population than this at any output time; None disables the check.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    t = check_times(np.arange(401) * 0.1 if t is None else t)
    rho4 = _initial_state(params, rho0)
    run = _run_fast if engine == "fast" else _run_qutip
    with tqdm(total=float(t[-1] - t[0]), disable=progress is False if progress is not None else None,
              delay=2.0, unit="t", desc=f"charge F={params.F:g}", leave=False) as bar:
        rho_s, rho_p = run(params, rho4, t, rtol, atol, bar)
    return _result(params, t, rho_s, rho_p, trunc_tol, "exact", {"engine": engine, "rtol": rtol, "atol": atol})


def _result(params, t, rho_s, rho_p, trunc_tol, method, options) -> ChargeResult:
    """The signal state's ergotropy and the truncation diagnostics, from the reduced states."""
    tail_s, tail_p = rho_s[:, -1, -1].real, rho_p[:, -1, -1].real
    _check_truncation(tail_s, tail_p, trunc_tol)
    parts = ergotropy_parts(rho_s, ladder(params.Ns, params.omega_s))
    return ChargeResult(
        params=params, t=t, method=method, options=options,
        rho_s=rho_s, energy=parts.energy, W=parts.W, W_c=parts.W_c, W_i=parts.W_i,
        n_p=np.einsum("tkk,k->t", rho_p, np.arange(params.Np)).real, tail_s=tail_s, tail_p=tail_p,
    )


def steady_state(
    params: BatteryParams = BatteryParams(), *, method: str = "auto", trunc_tol: float | None = TRUNC_TOL
) -> ChargeResult:
    """Stationary state of the charging master equation, solved directly (see ``steady``).

    Returned as a one-point :class:`ChargeResult` at t = inf.
    """
    from .steady import steady_state as _solve

    rho_s, rho_p = _reduce(_solve(params, method=method).reshape(params.Ns, params.Np, params.Ns, params.Np))
    return _result(params, np.array([np.inf]), rho_s[None], rho_p[None], trunc_tol, "exact-steady", {"method": method})


def charged_signal(params: BatteryParams, t0: float, progress: bool | None = None) -> np.ndarray:
    """The signal state after charging from the vacuum with the pump on until t0 (the initial
    battery state of a discharge)."""
    if not np.isfinite(t0) or t0 < 0:
        raise ValueError(f"t0 must be finite and >= 0, got {t0}")
    return charge(params.replace(t_off=None), [0.0, t0] if t0 > 0 else [0.0], progress=progress).rho_s[-1]


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
) -> DischargeResult:
    """Discharge the battery into a two-level load (Sec. IV, Eqs. 14-19).

    The battery is charged from the vacuum with the pump on until ``t0`` (unless the signal
    state ``rho_s0`` at that moment is given), then rho'(t0) = rho_s(t0) (x) |g><g| evolves
    under ``LoadParams``' master equation.  ``t`` is the time since t0 (default 0..10, step 0.05).
    """
    t = check_times(np.arange(201) * 0.05 if t is None else t)
    if rho_s0 is None:
        rho_s0 = charged_signal(params, t0, progress=progress)
    rho_s0 = as_array(rho_s0)
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
        load=load, t0=float(t0), rho_s=rho_s, rho_a=rho_a, W_s=W_s, W_a=W_a,
    )
