r"""Spin stability (issue 14, point 5): the Liouvillian's slowest relaxation rate and the
phase-switching rate of single shots.

Liouvillian gap
---------------
Above threshold a DOPO holds one of two phases, alpha_s ~ +-|alpha|.  Quantum noise makes it tunnel
between them; the master equation's generator L (``model`` for one spin, ``network.exact`` for N
coupled spins) has the steady state at eigenvalue 0 and, for the tunnelling, an isolated real
eigenvalue -lambda_1 far closer to 0 than every other (exponentially small in 1/g^2).  The phase
flip Pi(rho) = P rho P, P = prod_i (-1)^{n_i} over the signals, commutes with L (H and every
collapse operator are even or odd in the a_i; an edge channel a_i - s a_j is odd), so every
eigenvector has a parity +-1; the tunnelling one is odd: rho_1 ~ |alpha><alpha| - |-alpha><-alpha|
(P |alpha> = |-alpha>).  An odd observable (x_i = (a_i + a_i^dag)/2) therefore relaxes as
exp(-lambda_1 t) at long times, and so do the stationary correlations <x(t) x(t + tau)> (quantum
regression) and the correlations of a conditional <x>_c along homodyne records (conditioning on the
past, the record's future mean is Tr[x e^{L tau} rho_c(t)]).

Telegraph picture: a spin that switches between +-1 at rate k in each direction has
<sigma(t) sigma(t + tau)> = exp(-2 k tau), so lambda_1 = 2 k: one switch per 2 / lambda_1 on
average, i.e. 1/2 switch per relaxation time 1/lambda_1.

Two solvers for the slowest eigenvalues:

* ``"shift-invert"``: ``scipy.sparse.linalg.eigs`` of the full superoperator with shift
  sigma = ``SHIFT`` gamma_s (> 0: the exact 0 of the steady state would make L singular); the k + 1
  eigenvalues nearest to sigma; the steady state is the eigenvector with the largest |trace| (every
  other eigenvector is traceless, since Tr L(rho) = 0 = lambda Tr rho); each eigenvector's parity is
  *measured*, <v, Pi v> / <v, v>.  The LU factor fills in badly (the superoperator couples 2 N modes
  like a 2N-dimensional grid), so it is used up to ``SHIFT_INVERT_MAX`` superoperator dimensions.
* ``"exp-arnoldi"``: ``eigs`` (largest modulus) of the operator Q exp(tau L) Q, Q the projection on
  traceless operators (an invariant subspace of L that excludes the steady state: the left
  eigenvector of 0 is the identity), exp(tau L) v by ``scipy.sparse.linalg.expm_multiply``; the
  slowest eigenvalues of L are the largest |exp(tau lambda)|.  Each eigenvalue is the Rayleigh
  quotient <v, L v> / <v, v> of its eigenvector, accepted when the residual ||L v - lambda v|| / ||v||
  is below ``RESIDUAL`` max(|lambda|, 1e-3); parities measured as above.  No factorisation: used
  above ``AUTO_SHIFT_INVERT`` (and up to ``EXP_ARNOLDI_MAX``).

Truncation check: the same solver at (smaller(Ns), smaller(Np)) (``truncation.smaller``); the
relative change of lambda_1 is the verdict's error (``"ok"`` <= tol, ``"warn"`` above, ``"refused"``
(``TruncationError``) above max(``truncation.REFUSE``, tol)).

Switching statistics
--------------------
``switching_rate`` counts, per shot and spin, the switches of a signal x(t) (a conditional <x>, or
Re alpha of a phase-space sample) with a hysteresis dead band b: the spin is the sign of the last
value outside [-b, b]; a switch is a change of that sign (x crossing from > b to < -b or back).  The
rate is k = (switches) / (observed time); switches of a stationary telegraph process are Poisson, so
the standard error is sqrt(switches) / time, and also given from the scatter over shots.
``telegraph_correlation`` estimates C(tau) = <sigma(t) sigma(t + tau)> of the dead-band spin and fits
its decay rate (2 k for a telegraph process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as sla

from ..checks import check_int
from ..errors import Refused
from ..params import BatteryParams
from ..truncation import REFUSE, TRUNC_TOL, check_tol, enforce, smaller

__all__ = ["SHIFT_INVERT_MAX", "AUTO_SHIFT_INVERT", "EXP_ARNOLDI_MAX", "LiouvillianGap", "liouvillian",
           "liouvillian_gap", "Switching", "switching_rate", "TelegraphCorrelation", "telegraph_correlation",
           "hysteresis_spin"]

#: largest superoperator dimension D^2 for the shift-invert LU (fill-in: ~8e6 nonzeros at 1.2e4)
SHIFT_INVERT_MAX = 12_000
#: ``method="auto"`` uses shift-invert up to this dimension (it measures parities and gives k
#: eigenvalues fast at small sizes), exp-arnoldi above it (no LU: faster already at a few thousand)
AUTO_SHIFT_INVERT = 2_500
#: largest superoperator dimension for the exp-arnoldi (one sparse product costs ~nnz ~ 30 D^2)
EXP_ARNOLDI_MAX = 1_200_000
#: shift of the shift-invert solve, in units of gamma_s (the eigenvalue 0 itself is exact)
SHIFT = 1e-3
#: acceptance of an exp-arnoldi eigenpair: ||L v - lambda v|| / ||v|| <= RESIDUAL max(|lambda|, 1e-3)
RESIDUAL = 1e-6
METHODS = ("auto", "shift-invert", "exp-arnoldi")


@dataclass(frozen=True)
class LiouvillianGap:
    """Slowest nonzero eigenvalues of the Liouvillian (units of gamma_s).

    eigenvalues : (k,) complex, by decreasing real part (the steady state's 0 excluded);
    parity : (k,) <v, Pi v> / <v, v> of each eigenvector under the phase flip (+-1 up to rounding
    for a non-degenerate eigenvalue); rate : -Re eigenvalues[0], the slowest
    relaxation rate lambda_1; rate_coarse, change : lambda_1 at (Ns_coarse, Np_coarse) and the
    relative change |rate - rate_coarse| / rate (None without the check); truncation : the verdict
    dict (``truncation`` module keys).
    """

    eigenvalues: np.ndarray
    parity: np.ndarray
    rate: float
    rate_coarse: float | None
    change: float | None
    N: int
    Ns: int
    Np: int
    Ns_coarse: int | None
    Np_coarse: int | None
    method: str
    truncation: dict

    @property
    def switching_rate(self) -> float:
        """The telegraph rate k = lambda_1 / 2 (switches per unit time, module docstring)."""
        return 0.5 * self.rate


def _operators(params, J, eta, Ns, Np):
    """(H, c_ops, signal-parity diagonal over the Hilbert basis, N)."""
    from .. import model

    if J is None:
        if eta != 0:
            raise ValueError(f"eta = {eta!r} applies to a coupled network only; pass J (e.g. [[0, 1], [1, 0]]) "
                             "or eta = 0 for one DOPO")
        if not isinstance(params, BatteryParams):
            raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
        p = params.replace(Ns=params.Ns if Ns is None else Ns, Np=params.Np if Np is None else Np)
        return model.hamiltonian(p), model.collapse_ops(p), _parity(p.Ns, p.Np, 1), 1
    from . import exact

    H, c_ops, a = exact.network_operators(params, J, eta, Ns, Np)
    Ns = params.Ns if Ns is None else int(Ns)
    Np = params.Np if Np is None else int(Np)
    return H, c_ops, _parity(Ns, Np, len(a)), len(a)


def _parity(Ns, Np, N) -> np.ndarray:
    one = np.kron((-1.0) ** np.arange(Ns), np.ones(Np))
    out = np.ones(1)
    for _ in range(N):
        out = np.kron(out, one)
    return out


def liouvillian(params: BatteryParams, J=None, eta: float = 0.0, *, Ns: int | None = None,
                Np: int | None = None):
    """The superoperator L (CSR, column-stacked vec(rho), qutip's convention) at the constant pump
    ``params.F`` (``t_off`` and ramps play no role), and the phase-flip diagonal Pi (vec(P rho P) =
    Pi * vec(rho)), the Hilbert dimension D and N.  One DOPO for ``J`` None (``model``), else the
    network (``network.exact.network_operators``, which refuses (Ns Np)^N > its ``MAX_DIM``)."""
    import qutip

    H, c_ops, par, N = _operators(params, J, eta, Ns, Np)
    L = qutip.liouvillian(H, c_ops).to("csr").data.as_scipy().tocsr()
    return L, np.kron(par, par), par.size, N


def _check_method(method, dim):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        method = "shift-invert" if dim <= AUTO_SHIFT_INVERT else "exp-arnoldi"
    if method == "shift-invert" and dim > SHIFT_INVERT_MAX:
        raise Refused(f"method='shift-invert': superoperator dimension {dim} > {SHIFT_INVERT_MAX} (the LU factor "
                      "fills in); use method='exp-arnoldi' or lower Ns / Np")
    if dim > EXP_ARNOLDI_MAX:
        raise Refused(f"liouvillian_gap: superoperator dimension (Ns Np)^(2N) = {dim} > {EXP_ARNOLDI_MAX}; "
                      "lower Ns or Np")
    return method


def _shift_invert(L, Pi, D, k):
    w, v = sla.eigs(L.tocsc(), k=min(k + 1, L.shape[0] - 2), sigma=SHIFT)
    tr = np.abs(v[np.arange(D) * (D + 1)].sum(axis=0)) / np.linalg.norm(v, axis=0)
    ss = int(np.argmax(tr))
    keep = [i for i in range(w.size) if i != ss]
    w, v = w[keep], v[:, keep]
    par = np.real(np.einsum("ik,i,ik->k", v.conj(), Pi, v)) / np.linalg.norm(v, axis=0) ** 2
    o = np.argsort(-w.real, kind="stable")
    return w[o], par[o]


def _exp_arnoldi(L, Pi, D, k, tau, v0=None):
    """k slowest nonzero eigenpairs from Arnoldi on Q exp(tau L) Q (Q: projection on traceless
    operators; with a start ``v0`` (odd sector), on the odd operators instead)."""
    diag = np.arange(D) * (D + 1)
    n = L.shape[0]
    odd = Pi < 0

    def Q(v):
        v = np.array(v, dtype=complex).ravel()
        if v0 is not None:
            return np.where(odd, v, 0)
        v[diag] -= v[diag].mean()
        return v

    op = sla.LinearOperator((n, n), matvec=lambda v: Q(sla.expm_multiply(tau * L, Q(v))), dtype=complex)
    # from a good start (odd sector) a small Krylov space suffices: each product is an exp(tau L) v
    ncv = None if v0 is None else min(n - 1, 2 * k + 3)
    mu, v = sla.eigs(op, k=min(k, n - 2), which="LM", tol=1e-12, v0=Q(np.ones(n) if v0 is None else v0), ncv=ncv)
    v = v / np.linalg.norm(v, axis=0)
    Lv = L @ v
    w = np.einsum("ik,ik->k", v.conj(), Lv)  # Rayleigh quotients: exact for exact eigenvectors
    res = np.linalg.norm(Lv - v * w, axis=0)
    bad = res > RESIDUAL * np.maximum(np.abs(w), 1e-3)
    if bad.any():
        raise Refused(f"exp-arnoldi: eigenpair residual {res[bad].max():.2g} above {RESIDUAL:g} |lambda| (eigenvalues "
                      f"{w[bad]}); raise tau, or use method='shift-invert' at a smaller truncation")
    par = np.real(np.einsum("ik,i,ik->k", v.conj(), Pi, v))
    o = np.argsort(-w.real, kind="stable")
    return w[o], par[o]


def _odd_start(params, Ns, Np, N):
    """vec(|+><+| - |-><-|), |+-> the product of coherent states (+-alpha_s, alpha_p) at the mean-field
    fixed point (alpha_s = 1 below threshold): odd, and close to the tunnelling eigenvector."""
    import qutip

    from .. import model

    a_s, a_p = model.mean_field_steady_state(params.replace(eps=0.0))
    a_s = a_s if abs(a_s) > 0 else 1.0
    kets = [qutip.tensor([qutip.tensor(qutip.coherent(Ns, s * a_s), qutip.coherent(Np, a_p))] * N).full().ravel()
            for s in (1, -1)]
    rho = np.outer(kets[0], kets[0].conj()) - np.outer(kets[1], kets[1].conj())
    return rho.ravel(order="F")  # column stacking, as qutip's superoperators


def _solve(params, J, eta, Ns, Np, method, k, tau, sector="all"):
    n_spins = 1 if J is None else int(np.shape(J)[0])
    m = _check_method(method, (int(Ns) * int(Np)) ** (2 * n_spins))  # before L is built
    if sector not in ("all", "odd"):
        raise ValueError(f"sector must be 'all' or 'odd', got {sector!r}")
    if sector == "odd" and m != "exp-arnoldi":
        raise ValueError("sector='odd' applies to method='exp-arnoldi' only (shift-invert returns every "
                         "sector with measured parities)")
    L, Pi, D, N = liouvillian(params, J, eta, Ns=Ns, Np=Np)
    if m == "shift-invert":
        w, par = _shift_invert(L, Pi, D, k)
    else:
        v0 = _odd_start(params, int(Ns), int(Np), N) if sector == "odd" else None
        w, par = _exp_arnoldi(L, Pi, D, k, tau, v0)
    return w, par, m, N


def liouvillian_gap(params: BatteryParams, J=None, eta: float = 0.0, *, Ns: int | None = None,
                    Np: int | None = None, k: int = 4, method: str = "auto", trunc_tol: float = TRUNC_TOL,
                    tau: float = 5.0, sector: str = "all") -> LiouvillianGap:
    """Slowest nonzero relaxation rate(s) of the exact Liouvillian of one DOPO (``J`` None) or of N
    coupled DOPOs (``J``, ``eta``: ``network.exact``), with a truncation check (module docstring).

    Parameters
    ----------
    params : BatteryParams
        The spin model at the constant pump ``params.F``.
    J, eta : couplings and coupling rate (``network.exact.network_operators``); ``eta != 0`` without
        ``J`` is refused.
    Ns, Np : int, optional
        Fock dimensions per spin (default ``params.Ns``, ``params.Np``).
    k : int
        Number of slowest eigenvalues for ``"shift-invert"`` (same for ``"exp-arnoldi"``).
    method : {"auto", "shift-invert", "exp-arnoldi"}
        ``"auto"``: shift-invert up to ``AUTO_SHIFT_INVERT`` superoperator dimensions, else exp-arnoldi.
    trunc_tol : float
        Tolerated relative change of lambda_1 between (Ns, Np) and (smaller(Ns), smaller(Np)); above
        it a ``TruncationWarning``, above max(0.25, trunc_tol) a ``TruncationError``; 0 skips the check.
    tau : float
        ``"exp-arnoldi"``: the operator exp(tau L) (units of 1/gamma_s); larger separates the slow
        eigenvalues better (|exp(tau lambda)|) at more cost per product.
    sector : {"all", "odd"}
        ``"odd"`` (``"exp-arnoldi"`` only): the slowest eigenvalues among the phase-flip-odd operators
        (where the tunnelling lives), Arnoldi started from vec(|+><+| - |-><-|) of the mean-field
        coherent states: a few products of exp(tau L) instead of tens, for large superoperators.

    Returns
    -------
    LiouvillianGap
    """
    tol = check_tol(trunc_tol)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive finite number, got {tau!r}")
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    Ns = check_int("Ns", params.Ns if Ns is None else Ns, 2)
    Np = check_int("Np", params.Np if Np is None else Np, 2)
    w, par, m, N = _solve(params, J, eta, Ns, Np, method, int(k), float(tau), sector)
    rate = float(-w[0].real)
    if not rate > 0:
        raise Refused(f"liouvillian_gap: the slowest nonzero eigenvalue {w[0]:.3g} has no decay (a second "
                      "steady state: e.g. gamma_s = 0); no relaxation rate")
    coarse = (smaller(int(Ns)), smaller(int(Np))) if tol else (None, None)
    rate_c = change = None
    if tol and None not in coarse:
        wc = _solve(params, J, eta, coarse[0], coarse[1], m, int(k), float(tau), sector)[0]
        rate_c = float(-wc[0].real)
        change = abs(rate - rate_c) / rate
    verdict = _verdict(tol, change, Ns, Np, coarse)
    res = LiouvillianGap(eigenvalues=w, parity=par, rate=rate, rate_coarse=rate_c, change=change, N=N,
                         Ns=int(Ns), Np=int(Np), Ns_coarse=coarse[0], Np_coarse=coarse[1], method=m,
                         truncation=verdict)
    enforce(verdict, res)
    return res


def _verdict(tol, change, Ns, Np, coarse) -> dict:
    base = {"tolerance": tol, "refuse_above": max(REFUSE, tol) if tol else None,
            "measure": (f"relative change of lambda_1 from Ns={coarse[0]}, Np={coarse[1]} to Ns={Ns}, Np={Np}"
                        if change is not None else "none"),
            "error": change, "error_at_t": None, "error_by_quantity": None if change is None else {"lambda_1": change},
            "top_level_s": None, "top_level_p": None}
    hint = "increase Ns / Np"
    if not tol:
        return {**base, "verdict": "disabled", "message": "truncation check disabled (trunc_tol = 0)"}
    if change is None:
        return {**base, "verdict": "ok", "message": "no smaller truncation exists (Ns or Np = 2): not checked"}
    if change > base["refuse_above"]:
        return {**base, "verdict": "refused", "message": f"lambda_1 changes by {change:.0%} from Ns={coarse[0]}, "
                f"Np={coarse[1]} to Ns={Ns}, Np={Np} (above {base['refuse_above']:g}); {hint}"}
    if change > tol:
        return {**base, "verdict": "warn", "message": f"TRUNCATION: lambda_1 may be off by {change:.1%} (change from "
                f"Ns={coarse[0]}, Np={coarse[1]}), above trunc_tol={tol:g}; {hint}"}
    return {**base, "verdict": "ok", "message": f"lambda_1 changes by {change:.2%} from Ns={coarse[0]}, Np={coarse[1]}"}


# --- switching statistics of sign records ---


def _check_records(x, t):
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 2:
        raise ValueError(f"x must be (shots, times) or (shots, times, spins) with >= 2 times, got shape {np.shape(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite (drop diverged samples first, and say how many)")
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size != x.shape[1] or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError(f"t must be increasing finite times of length {x.shape[1]} (x's second axis)")
    return x, t


def _check_band(band) -> float:
    if (isinstance(band, bool) or not isinstance(band, (int, float, np.floating))
            or not (math.isfinite(band) and band >= 0)):
        raise ValueError(f"band must be a finite number >= 0 (the dead band half-width, units of x), got {band!r}")
    return float(band)


def hysteresis_spin(x, band: float) -> np.ndarray:
    """The dead-band spin of records x (shots, times[, spins]): the sign of the last value outside
    [-band, band] (0 before the first one), same shape as x, int8."""
    x = np.asarray(x, dtype=float)
    band = _check_band(band)
    s = np.where(x > band, 1, np.where(x < -band, -1, 0)).astype(np.int8)
    idx = np.where(s != 0, np.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2)), 0)
    idx = np.maximum.accumulate(idx, axis=1)  # forward fill: index of the last decided time
    out = np.take_along_axis(s, idx, axis=1)
    return out


@dataclass(frozen=True)
class Switching:
    """Switching rate per spin: rate (N,) k = switches / time; rate_err (N,) Poisson sqrt(switches) /
    time; rate_err_shots (N,) standard error from the scatter of the per-shot rates (nan for one
    shot); switches (N,) counts; time: observed time per spin (shots x (t[-1] - t_min)); band."""

    rate: np.ndarray
    rate_err: np.ndarray
    rate_err_shots: np.ndarray
    switches: np.ndarray
    time: float
    shots: int
    band: float

    @property
    def mean_time(self) -> np.ndarray:
        """Mean time between switches 1 / k."""
        with np.errstate(divide="ignore"):
            return 1.0 / self.rate


def switching_rate(x, t, *, band: float, t_min: float | None = None) -> Switching:
    """Phase-switching rate from records ``x`` (shots, times) or (shots, times, spins) at times ``t``
    with a hysteresis dead band ``band`` (module docstring); times before ``t_min`` (default t[0]:
    pass the end of the transient) are dropped."""
    x, t = _check_records(x, t)
    band = _check_band(band)
    keep = t >= (t[0] if t_min is None else float(t_min))
    if keep.sum() < 2:
        raise ValueError(f"t_min = {t_min!r} leaves fewer than 2 times (t ends at {t[-1]:g})")
    x, t = x[:, keep], t[keep]
    s = hysteresis_spin(x, band)
    flips = ((s[:, 1:] != s[:, :-1]) & (s[:, :-1] != 0)).sum(axis=1)  # (shots, N)
    T1 = t[-1] - t[0]
    n = flips.sum(axis=0).astype(float)
    time = x.shape[0] * T1
    per = flips / T1
    with np.errstate(invalid="ignore", divide="ignore"):
        err_shots = per.std(axis=0, ddof=1) / math.sqrt(x.shape[0]) if x.shape[0] > 1 else np.full(n.shape, np.nan)
    return Switching(rate=n / time, rate_err=np.sqrt(n) / time, rate_err_shots=err_shots, switches=n.astype(int),
                     time=float(time), shots=int(x.shape[0]), band=band)


@dataclass(frozen=True)
class TelegraphCorrelation:
    """C(tau) = <sigma(t) sigma(t + tau)> of the dead-band spin (or <x(t) x(t + tau)>, ``signal="x"``),
    averaged over t >= t_min, shots and spins: lags (L,), C (L,), C_err (L,) standard error from the
    scatter over shots; the fitted decay rate (2 k for a telegraph process) and its standard error,
    from ln C over ``fit`` lags (jackknife over shots)."""

    lags: np.ndarray
    C: np.ndarray
    C_err: np.ndarray
    rate: float
    rate_err: float
    fit: tuple


def _corr(s, maxlag):
    """Per-shot C at lags 0..maxlag (shots, L), averaged over start times and spins."""
    s = s.astype(float)
    nt = s.shape[1]
    return np.stack([(s[:, :nt - m] * s[:, m:]).mean(axis=(1, 2)) for m in range(maxlag + 1)], axis=1)


def _fit_rate(lags, C):
    """Least-squares slope of ln C against the lag (through C(0) = 1's neighbourhood: free intercept)."""
    if np.any(C <= 0):
        return math.nan
    return float(-np.polyfit(lags, np.log(C), 1)[0])


def telegraph_correlation(x, t, *, band: float, max_lag: float, fit: tuple | None = None,
                          t_min: float | None = None, signal: str = "spin") -> TelegraphCorrelation:
    """C(tau) of the dead-band spin of records ``x`` on a uniform grid ``t`` up to ``max_lag``, and
    its decay rate fitted over the lags in ``fit`` = (tau_lo, tau_hi) (default (0, max_lag));
    standard errors by the jackknife over shots (>= 2 shots).  ``signal="x"``: the correlation
    <x(t) x(t + tau)> of the records themselves (``band`` unused, pass 0), which for a conditional
    <x> or an odd phase-space variable decays at the Liouvillian's lambda_1 at long lags (module
    docstring), free of the dead band's choice."""
    x, t = _check_records(x, t)
    band = _check_band(band)
    dt = np.diff(t)
    if not np.allclose(dt, dt[0], rtol=1e-6, atol=0):
        raise ValueError("t must be uniformly spaced for telegraph_correlation")
    if x.shape[0] < 2:
        raise ValueError("telegraph_correlation needs >= 2 shots (the errors come from their scatter)")
    keep = t >= (t[0] if t_min is None else float(t_min))
    x, t = x[:, keep], t[keep]
    if not (isinstance(max_lag, (int, float)) and 0 < max_lag < t[-1] - t[0]):
        raise ValueError(f"max_lag must be in (0, {t[-1] - t[0]:g}) (the recorded span), got {max_lag!r}")
    m = int(round(max_lag / dt[0]))
    lags = np.arange(m + 1) * dt[0]
    lo, hi = (0.0, float(max_lag)) if fit is None else (float(fit[0]), float(fit[1]))
    sel = (lags >= lo) & (lags <= hi)
    if sel.sum() < 2:
        raise ValueError(f"fit = {fit!r} selects fewer than 2 lags of the grid (step {dt[0]:g})")
    if signal == "spin":
        s = hysteresis_spin(x, band)
    elif signal == "x":
        if band != 0:
            raise ValueError(f"band = {band!r} does not apply to signal='x' (no dead band); pass band=0")
        s = x
    else:
        raise ValueError(f"signal must be 'spin' or 'x', got {signal!r}")
    per = _corr(s, m)  # (shots, L)
    n = per.shape[0]
    C = per.mean(axis=0)
    C_err = per.std(axis=0, ddof=1) / math.sqrt(n)
    rate = _fit_rate(lags[sel], C[sel])
    loo = (C[None] * n - per) / (n - 1)
    rl = np.array([_fit_rate(lags[sel], c[sel]) for c in loo])
    rate_err = float(math.sqrt((n - 1) / n * np.sum((rl - rl.mean()) ** 2)))
    return TelegraphCorrelation(lags=lags, C=C, C_err=C_err, rate=rate, rate_err=rate_err, fit=(lo, hi))
