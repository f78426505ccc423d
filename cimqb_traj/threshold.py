r"""The pump threshold: semiclassical (mean field) against quantum estimates.

Mean field (PHYSICS.md, Eqs. B4-B5 with detuning): the trivial state alpha_s = 0,
alpha_p = 2F/sqrt(gamma_p) loses stability at

    F_th = sqrt(gamma_p) / (2 kappa) * sqrt(gamma_s^2 / 4 + Delta^2)     (``BatteryParams.threshold``)

In the quantum steady state nothing is singular at F_th (a finite system has no phase
transition); the threshold is a crossover.  Two estimates from the steady state, each a
definition:

* ``"curvature"``: the F where d^2 <n_s> / dF^2 peaks -- the kink of the mean-field <n_s>(F)
  (zero below F_th, linear above) rounded by quantum noise.  Second differences on the F grid,
  the peak refined by the parabola through the largest value and its two neighbours.
* ``"bimodal"``: the F from which on the distribution of the signal quadrature
  x = (a_s + a_s^dag)/sqrt(2), P(x) = <x|rho_s|x>, has a local minimum at x = 0 (P''(0) > 0):
  the two phases 0 and pi of the Ising spin have separated.  Linear interpolation of P''(0)/P(0)
  across its last sign change on the grid ("from which on": for a sampled P''(0) a noisy
  positive value below threshold does not count); NaN if it is not positive at the top of the
  grid.

* ``"kink"``: the F0 of the rounded kink n0 + A/2 [(F - F0) + sqrt((F - F0)^2 + w^2)] fitted
  to <n_s>(F) (weighted by the errors of sampled methods): where the below- and above-threshold
  asymptotes meet, the extrapolated onset of the linear growth (a laser's threshold by its
  asymptotes).  A fit, so it stands up to sampling noise; it is not the curvature peak of the
  real curve (the model's curvature is symmetric about F0, the real one is not).

For sampled methods the second differences of ``"curvature"`` amplify the noise (their
bootstrap errors in validation/threshold show it), and a noisy P''(0)/P(0) changes sign by
chance, so their ``"bimodal"`` is the zero of a straight line fitted, with weights 1/err^2, to
the points where P''(0)/P(0) is resolved and of vacuum scale (err <= 0.5, |b| <= 1): near the
crossing b(F) is close to linear (for the exact curves this fit and the interpolation differ by
<= 0.01 g F_th, validation/threshold/REPORT.md).

``sweep`` computes the steady-state <n_s>(F) and P(x) by each method and the estimates.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from .params import BatteryParams
from .results import ThresholdResult

__all__ = ["quadrature_distribution", "bimodality", "Estimate", "no_signal", "curvature_estimate",
           "kink_estimate", "bimodal_estimate", "bimodal_fit_estimate", "curvature_threshold", "bimodal_threshold",
           "kink_threshold", "bimodal_threshold_fit", "bootstrap",
           "mean_field_n_s", "sweep", "METHODS"]

METHODS = ("mean-field", "exact", "positive-p", "wigner")


def _hermite_functions(n: int, x: np.ndarray) -> np.ndarray:
    """psi_k(x), k < n, of the harmonic oscillator (x = (a + a^dag)/sqrt 2), by the stable
    three-term recursion psi_{k+1} = sqrt(2/(k+1)) x psi_k - sqrt(k/(k+1)) psi_{k-1}."""
    psi = np.zeros((n, x.size))
    psi[0] = math.pi ** -0.25 * np.exp(-(x**2) / 2)
    if n > 1:
        psi[1] = math.sqrt(2.0) * x * psi[0]
    for k in range(1, n - 1):
        psi[k + 1] = math.sqrt(2.0 / (k + 1)) * x * psi[k] - math.sqrt(k / (k + 1)) * psi[k - 1]
    return psi


def quadrature_distribution(rho_s, x) -> np.ndarray:
    """P(x) = <x|rho_s|x> of the quadrature x = (a + a^dag)/sqrt(2) (density, integrates to 1)."""
    rho = np.asarray(rho_s.full() if hasattr(rho_s, "full") else rho_s, dtype=complex)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    psi = _hermite_functions(rho.shape[0], x)
    return np.einsum("mx,mn,nx->x", psi, rho, psi).real


def bimodality(rho_s, h: float = 1e-2) -> float:
    """P''(0) / P(0) of the quadrature distribution (> 0: a local minimum at x = 0, bimodal),
    by the central second difference with step h (error O(h^2) relative to the scale ~1 of P)."""
    p = quadrature_distribution(rho_s, [-h, 0.0, h])
    return float((p[0] - 2 * p[1] + p[2]) / (h * h * p[1]))


class Estimate(NamedTuple):
    """A threshold estimate: ``value`` (None: no threshold on this curve) with its standard error
    ``err`` (None where it has none) and, when ``value`` is None, the ``reason``."""

    value: float | None
    err: float | None = None
    reason: str | None = None


def _none(reason: str) -> Estimate:
    return Estimate(None, None, reason)


#: A curve whose spread is below this many photons (deterministic methods: the solvers' rounding
#: is ~1e-10 of <n_s>) carries no signal.
FLAT = 1e-9
#: Significance (per curve) at which a sampled curve counts as distinguishable from a constant.
SIGNAL_P = 1e-3


def no_signal(F, y, err=None) -> str | None:
    """Why the curve y(F) carries no signal (None if it does): a non-finite point; a
    deterministic curve (``err`` None) flat to ``FLAT`` (e.g. the mean-field <n_s> = 0 below
    threshold); a sampled curve consistent with a constant within its errors (chi^2 of the
    weighted mean, p > ``SIGNAL_P``)."""
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        return "the curve has non-finite points"
    spread = float(y.max() - y.min())
    if err is None:
        if spread <= FLAT * max(1.0, float(np.abs(y).max())):
            return f"the curve is flat (spread {spread:.1e}): no signal"
        return None
    e = np.asarray(err, float)
    if not np.all(np.isfinite(e) & (e > 0)):
        return "the curve's errors are not all positive and finite"
    from scipy.stats import chi2

    w = 1 / e**2
    mean = float(np.sum(w * y) / np.sum(w))
    c2 = float(np.sum(w * (y - mean) ** 2))
    if chi2.sf(c2, y.size - 1) > SIGNAL_P:
        return f"the curve is consistent with a constant within its errors (chi^2 {c2:.3g} for {y.size - 1} dof)"
    return None


def _check_grid(F, n):
    F, n = np.asarray(F, float), np.asarray(n, float)
    if F.ndim != 1 or F.shape != n.shape:
        raise ValueError("F and the curve must be 1-D arrays of the same length")
    return F, n


def curvature_estimate(F, n_s, err=None) -> Estimate:
    """The ``"curvature"`` estimate (module docstring) or no estimate with the reason: the curve
    carries no signal (``no_signal``), d^2 n_s/dF^2 is nowhere positive, or it peaks at the edge
    of the grid (the kink is not inside the range)."""
    F, n = _check_grid(F, n_s)
    if F.size < 5:
        raise ValueError("F needs at least 5 points for the curvature estimate")
    why = no_signal(F, n, err)
    if why:
        return _none(why)
    dF = F[1] - F[0]
    c = (n[2:] - 2 * n[1:-1] + n[:-2]) / dF**2
    k = int(np.argmax(c))
    Fc = F[1:-1]
    # a kink of slope A gives a peak ~ A / dF; a straight curve's second differences are rounding
    if not c[k] > 1e-9 * (n.max() - n.min()) / ((F[-1] - F[0]) * dF):
        return _none("d^2<n_s>/dF^2 is nowhere positive: no kink in the range")
    if k == 0 or k == c.size - 1:
        return _none(f"the curvature peaks at the edge of the F grid (F = {Fc[k]:.4g}): the kink is not inside "
                     "the range")
    den = c[k - 1] - 2 * c[k] + c[k + 1]
    shift = 0.5 * (c[k - 1] - c[k + 1]) / den if den != 0 else 0.0
    return Estimate(float(Fc[k] + shift * dF))


def curvature_threshold(F, n_s) -> float:
    """F at the peak of d^2 n_s / dF^2 (uniform F grid, parabola-refined); NaN where
    ``curvature_estimate`` gives none (a flat curve, a peak at the grid's edge)."""
    v = curvature_estimate(F, n_s).value
    return float("nan") if v is None else v


def bimodal_estimate(F, b) -> Estimate:
    """The ``"bimodal"`` onset by interpolation (module docstring; +inf counts as positive, NaN
    points are skipped), or none: b is not positive at the top of the grid (never bimodal there)
    or positive over the whole grid (the onset lies below it)."""
    F, b = _check_grid(F, b)
    keep = ~np.isnan(b)
    F, b = F[keep], b[keep]
    if b.size == 0:
        return _none("no point has a defined P''(0)/P(0)")
    if not b[-1] > 0:
        return _none("P''(0)/P(0) is not positive at the top of the F range: not bimodal there")
    neg = np.flatnonzero(b <= 0)
    if neg.size == 0:
        return _none("P''(0)/P(0) is positive over the whole F range: the onset lies below it")
    k = int(neg[-1]) + 1  # first point of the final positive run
    if not np.isfinite(b[k]):
        return Estimate(float(0.5 * (F[k - 1] + F[k])))
    return Estimate(float(F[k - 1] + (F[k] - F[k - 1]) * (-b[k - 1]) / (b[k] - b[k - 1])))


def bimodal_threshold(F, b) -> float:
    """F from which on the bimodality b(F) = P''(0)/P(0) stays positive (``bimodal_estimate``);
    NaN where it gives none."""
    v = bimodal_estimate(F, b).value
    return float("nan") if v is None else v


def bootstrap(F, y, err, estimator, draws: int = 200, seed: int = 0) -> float:
    """Standard error of estimator(F, y) from redraws y + err * N(0, 1) (a parametric bootstrap;
    NaN draws ignored, NaN if most are NaN)."""
    g = np.random.default_rng(seed)
    est = np.asarray([estimator(F, np.asarray(y) + np.asarray(err) * g.standard_normal(len(y)))
                      for _ in range(draws)], float)
    return float(np.nanstd(est)) if np.isfinite(est).sum() > draws // 2 else float("nan")


def kink_estimate(F, n_s, err=None) -> Estimate:
    """The ``"kink"`` estimate F0 with its standard error (module docstring; err: errors of n_s,
    None: unweighted), or none: no signal (``no_signal``), the fit fails, its slope above the
    kink is not positive, or F0 lies outside the F range (an extrapolation, not a kink seen)."""
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    F, n = _check_grid(F, n_s)
    why = no_signal(F, n, err)
    if why:
        return _none(why)
    scale = max(float(np.abs(n).max()), 1e-300)
    e = np.full_like(n, 1e-3 * scale) if err is None else np.maximum(np.asarray(err, float), 1e-6 * scale)

    def model(F, n0, A, F0, w):
        return n0 + 0.5 * A * ((F - F0) + np.sqrt((F - F0) ** 2 + w**2))

    p0 = [n[0], 2 * (n[-1] - n[0]) / (F[-1] - F[0]), F[len(F) // 3], (F[-1] - F[0]) / 10]
    try:
        with warnings.catch_warnings():  # a sharp kink (mean field: w -> 0) has no covariance
            warnings.simplefilter("ignore", OptimizeWarning)
            p, cov = curve_fit(model, F, n, p0=p0, sigma=e, absolute_sigma=err is not None, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return _none(f"the rounded-kink fit failed ({str(exc).splitlines()[0]})")
    if not p[1] > 0:
        return _none("the fitted slope above the kink is not positive: no onset of growth")
    if not F[0] < p[2] < F[-1]:
        return _none(f"the fitted kink F0 = {p[2]:.4g} lies outside the F range {F[0]:g}..{F[-1]:g}")
    e0 = float(np.sqrt(cov[2, 2])) if np.isfinite(cov[2, 2]) else None
    return Estimate(float(p[2]), e0)


def kink_threshold(F, n_s, err=None) -> tuple:
    """(F0, its standard error) of the rounded-kink fit (``kink_estimate``); NaN where there is none."""
    est = kink_estimate(F, n_s, err)
    nan = float("nan")
    return (nan if est.value is None else est.value), (nan if est.err is None else est.err)


def bimodal_fit_estimate(F, b, err) -> Estimate:
    """The sampled methods' ``"bimodal"`` onset: the zero of the weighted straight-line fit of
    b(F) over the points with err <= 0.5 and |b| <= 1 (module docstring), with its standard error;
    none with fewer than 3 such points, a slope not positive by 4 standard errors (no signal
    above the noise), or a zero outside the F range."""
    F, b = _check_grid(F, b)
    e = np.asarray(err, float)
    ok = np.isfinite(b) & np.isfinite(e) & (e <= 0.5) & (np.abs(b) <= 1)
    if ok.sum() < 3:
        return _none(f"only {int(ok.sum())} points resolve P''(0)/P(0) near 0 (err <= 0.5, |b| <= 1); 3 needed")
    w = 1 / np.maximum(e[ok], 1e-3) ** 2
    A = np.vstack([np.ones(ok.sum()), F[ok]]).T
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    c = cov @ A.T @ (w * b[ok])
    if not c[1] > 4 * np.sqrt(cov[1, 1]):  # 4 sigma: the family-wise floor of tests/stats.py
        return _none(f"the slope of P''(0)/P(0) against F ({c[1]:.3g} +- {np.sqrt(cov[1, 1]):.2g}) is not "
                     "positive beyond its noise")
    grad = np.array([-1 / c[1], c[0] / c[1] ** 2])
    z = float(-c[0] / c[1])
    if not F[0] <= z <= F[-1]:
        return _none(f"the fitted onset {z:.4g} lies outside the F range {F[0]:g}..{F[-1]:g}")
    return Estimate(z, float(np.sqrt(grad @ cov @ grad)))


def bimodal_threshold_fit(F, b, err) -> tuple:
    """(F0, its standard error) of ``bimodal_fit_estimate``; (nan, nan) where there is none."""
    est = bimodal_fit_estimate(F, b, err)
    return (float("nan"), float("nan")) if est.value is None else (est.value, est.err)


def mean_field_n_s(params: BatteryParams) -> float:
    """Steady mean-field signal photon number |alpha_s|^2 (0 below threshold)."""
    from .model import mean_field_steady_state

    a_s, _ = mean_field_steady_state(params)
    return float(abs(a_s) ** 2)


def _range_reason(F: np.ndarray, F_th: float) -> str | None:
    """Why no threshold can lie in the F range (None if F_th is strictly inside it)."""
    if not math.isfinite(F_th):
        return "kappa = 0: the model has no threshold"
    if F[-1] <= F_th:
        return f"F range {F[0]:g}..{F[-1]:g} lies below the mean-field threshold {F_th:.4g}"
    if F[0] >= F_th:
        return f"F range {F[0]:g}..{F[-1]:g} lies above the mean-field threshold {F_th:.4g}"
    return None


def _estimates(F, n, b=None, e=None, be=None, range_reason=None) -> tuple:
    """({definition: value or None}, {definition: reason for each None}, {definition: err}) of one
    method's curves; e, be: the errors of a sampled method (None: deterministic)."""
    defs = ["curvature", "kink"] + ([] if b is None else ["bimodal"])
    if range_reason:
        est = {d: _none(range_reason) for d in defs}
    else:
        signal = no_signal(F, n, e)
        est = {"curvature": curvature_estimate(F, n, e),
               # kink unweighted like the exact curve (the model's misfit then weighs the same);
               # the signal test with the errors
               "kink": _none(signal) if signal else kink_estimate(F, n)}
        if b is not None:
            est["bimodal"] = bimodal_estimate(F, b) if be is None else bimodal_fit_estimate(F, b, be)
    values = {d: x.value for d, x in est.items()}
    reasons = {d: x.reason for d, x in est.items() if x.value is None}
    errs = {}
    if e is not None:  # sampled: parametric bootstrap for curvature and kink, the fit's error for bimodal
        errs = {"curvature": None if values["curvature"] is None else bootstrap(F, n, e, curvature_threshold),
                "kink": None if values["kink"] is None else bootstrap(F, n, e, lambda F, y: kink_threshold(F, y)[0]),
                "bimodal": est["bimodal"].err}
    return values, reasons, errs


#: Relaxation check of the seeded exact steady state: the change of <n_s> still to come, estimated
#: from its last two changes, must be below this fraction of max(<n_s>, 1) (P''(0)/P(0): absolute).
RELAX_TOL = 1e-3
#: At most this many doublings of t_steady in the relaxation check.
RELAX_DOUBLINGS = 6


#: Safety factor on the Aitken estimate of what is still to come: a faster transient still present
#: in the earlier change makes the estimate low (measured 4x at T = 10 in the test's seeded case).
RELAX_SAFETY = 10.0


def _left_to_come(x) -> float:
    """The change still to come after x[-1], for x sampled at T/2, 3T/4, T (equal steps) of an
    exponential relaxation: Aitken's q = d2/d1 and RELAX_SAFETY |d2| q/(1 - q); not a monotone
    decay (q outside [0, 1)): RELAX_SAFETY (|d1| + |d2|)."""
    d1, d2 = x[1] - x[0], x[2] - x[1]
    if d1 == 0:
        return 0.0 if d2 == 0 else math.inf
    q = d2 / d1
    if not 0 <= q < 1:
        return RELAX_SAFETY * (abs(d1) + abs(d2))
    return RELAX_SAFETY * abs(d2) * q / (1 - q)


def _exact_by_evolution(p: BatteryParams, t_steady: float, trunc_tol: float):
    """Seeded (eps != 0) exact steady state: ``exact.steady_state`` solves the signal-parity sector,
    which a seed breaks, and the full Liouvillian's sparse LU fills in badly (measured here:
    30 s at Ns*Np = 72, 170 s at 96, SuperLU and qutip.steadystate alike).  So ``exact.charge``
    (truncation guard included) integrates from the vacuum to T = t_steady, doubled until the
    change still to come (``_left_to_come`` of <n_s> and P''(0)/P(0) at T/2, 3T/4, T) is below
    ``RELAX_TOL``; refused (``errors.Refused``) if it is not after ``RELAX_DOUBLINGS`` doublings.
    Returns (rho_s, result, {"t_end": T, "n_s_left": .., "bimodality_left": ..})."""
    from .errors import Refused
    from .exact import charge

    T = float(t_steady)
    for _ in range(RELAX_DOUBLINGS + 1):
        r = charge(p, [0.0, T / 2, 0.75 * T, T], trunc_tol=trunc_tol, progress=False)
        rho = r.rho_s[1:]
        n = np.einsum("tkk,k->t", rho, np.arange(rho.shape[1])).real
        b = [bimodality(x) for x in rho]
        left_n, left_b = _left_to_come(n), _left_to_come(b)
        if left_n <= RELAX_TOL * max(n[-1], 1.0) and left_b <= RELAX_TOL:
            return rho[-1], r, {"t_end": T, "n_s_left": left_n, "bimodality_left": left_b}
        T *= 2
    raise Refused(f"exact steady state with the seed eps={p.eps:g} at F={p.F:g}: <n_s> still moves by ~{left_n:.2g} "
                  f"after gamma_s t = {T / 2:g} (phase switching is slow); raise t_steady, or use eps = 0 or the "
                  "phase-space methods")


def _exact_curve(params: BatteryParams, F: np.ndarray, trunc_tol: float, t_steady: float, progress):
    """<n_s>, P''(0)/P(0), truncation verdicts (and relaxation records with a seed) of the exact
    steady states, the largest F first (it has the most photons: a truncation refusal comes first)."""
    from tqdm.auto import tqdm

    from .exact import steady_state
    from .truncation import TruncationError, TruncationWarning

    n, b, verdicts, relax = [None] * F.size, [None] * F.size, [None] * F.size, [None] * F.size
    with warnings.catch_warnings():  # one summary line below instead of one warning per point
        warnings.simplefilter("ignore", TruncationWarning)
        for k in tqdm(range(F.size - 1, -1, -1), desc="exact steady states",
                      disable=not progress if progress is not None else None):
            q = params.replace(F=float(F[k]))
            try:
                if q.eps == 0:
                    res = steady_state(q, trunc_tol=trunc_tol)
                    rho = res.rho_s[0]
                else:
                    rho, res, relax[k] = _exact_by_evolution(q, t_steady, trunc_tol)
            except TruncationError as e:
                err = TruncationError(f"exact steady state at F={F[k]:g}: {e}")
                err.truncation, err.result = getattr(e, "truncation", None), None
                raise err from None
            n[k] = float(np.real(np.trace(rho @ np.diag(np.arange(rho.shape[0])))))
            b[k] = bimodality(rho)
            verdicts[k] = dict(getattr(res, "truncation", None) or {})
    warned = [(k, v) for k, v in enumerate(verdicts) if v.get("verdict") == "warn"]
    if warned:
        k, v = max(warned, key=lambda kv: kv[1].get("error") or 0.0)
        warnings.warn(f"exact steady states at {len(warned)} of {F.size} F points exceed trunc_tol; worst at "
                      f"F={F[k]:g}: {v.get('message')}", TruncationWarning, stacklevel=3)
    return n, b, verdicts, relax


def _null_reason(path: str) -> str:
    if path.endswith("error_at_t"):
        return "a steady state: t = inf"
    if path == "F_th_meanfield":
        return "kappa = 0: the model has no threshold"
    if path.startswith("bimodality_err"):
        return "no jackknife error: P''(0)/P(0) is not finite there"
    if path.startswith("bimodality"):
        return "P(0) = 0: no sample near x = 0 (a dip deeper than resolved; counts as bimodal)"
    if path.startswith("F_th_quantum_err"):
        return "the bootstrap redraws gave no estimate in most draws"
    return "not a finite number"


def sweep(params: BatteryParams, F, methods=("mean-field", "exact"), progress: bool | None = None, *,
          samples: int = 2000, t_steady: float = 30.0, dt: float | None = None, seed: int = 0,
          n_jobs: int = 1, trunc_tol: float | None = None) -> ThresholdResult:
    r"""Steady state over the pump amplitudes ``F`` by each method, and the threshold estimates.

    Runs for every valid model (detuning, thermal baths, a coherent seed eps); ``t_off`` and
    ``t_ramp`` of ``params`` are dropped (a steady state has the constant pump F).

    * ``"mean-field"``: ``model.mean_field_steady_state`` (closed form for eps = 0, else the flow
      from the vacuum to a fixed point checked stable by the Jacobian).
    * ``"exact"``: ``exact.steady_state(trunc_tol=trunc_tol)``; with a seed (which breaks the
      parity sector that solver uses) ``exact.charge`` from the vacuum until relaxed
      (``_exact_by_evolution``; its records in ``exact_relaxation``).  Every point goes through
      the truncation guard: one verdict per F in ``truncation["exact"]``; a refused point refuses
      the whole sweep (``TruncationError`` naming F, the largest F computed first so it comes
      early): a curve with a hole would move every estimate; warned points give one summary
      ``TruncationWarning``.
    * ``"positive-p"``, ``"wigner"``: ``samples`` phase-space samples (step ``dt``, default the
      method's) from the vacuum to ``t_steady``; <n_s> (the untruncated moment, with ``n_s_err``)
      and P''(0)/P(0) from the samples (``phasespace.bimodality``, with ``bimodality_err``); the
      truncation ``params.Ns`` plays no role for them.

    Returns a :class:`~cimqb_traj.results.ThresholdResult`: a strict-JSON-able dict (no NaN or
    infinity anywhere; ``jsonio.clean``) that also saves (``save``, ``to_xarray``; read back with
    ``cimqb_traj.load``) and carries the model ``params`` (t_off, t_ramp dropped; F the grid's last):
    ``F``, ``F_th_meanfield`` (None for kappa = 0), ``n_s[method]``, ``bimodality[method]`` (not
    for mean field: its state is coherent, never bimodal about x = 0),
    ``F_th_quantum[method][definition]`` (a number, or None: no threshold on this curve) with
    ``F_th_quantum_reason[method][definition]`` for every None (e.g. "F range 0.5..1 lies below
    the mean-field threshold 2", or the estimator's reason: a flat curve, a kink at the grid's
    edge; ``Estimate``), sampled methods' ``F_th_quantum_err``, ``n_s_err``, ``bimodality_err``,
    ``truncation`` ({"exact": [verdict per F]} when exact ran), ``trunc_tol`` and
    ``null_reasons`` (JSON path -> why, for any other value written as null).

    No estimate unless the F range strictly contains the mean-field threshold
    ``params.threshold``: outside it every method's estimate is None with the range as reason.
    """
    from .jsonio import clean
    from .truncation import TRUNC_TOL, check_tol

    F = np.asarray(F, dtype=float)
    if F.ndim != 1 or F.size < 5 or not np.all(np.isfinite(F)) or np.any(np.diff(F) <= 0):
        raise ValueError("F must be at least 5 finite, increasing pump amplitudes")
    if not np.allclose(np.diff(F), F[1] - F[0], rtol=1e-6):
        raise ValueError("F must be a uniform grid")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"methods must be among {', '.join(METHODS)}, got {', '.join(bad)}")
    if not (math.isfinite(t_steady) and t_steady > 0):
        raise ValueError(f"t_steady must be a finite number > 0, got {t_steady!r}")
    tol = TRUNC_TOL if trunc_tol is None else check_tol(trunc_tol)
    params = params.replace(t_off=None, t_ramp=None)
    F_th = params.threshold
    range_reason = _range_reason(F, F_th)
    out = {"F": F.tolist(), "F_th_meanfield": F_th, "n_s": {}, "bimodality": {}, "F_th_quantum": {},
           "F_th_quantum_reason": {}, "trunc_tol": tol}
    for m in methods:
        e = be = b = None
        if m == "mean-field":
            n = [mean_field_n_s(params.replace(F=float(f))) for f in F]
        elif m in ("positive-p", "wigner"):
            from . import phasespace
            from .trajectories import charge_problem, run

            n, e, b, be = [], [], [], []
            # only untruncated moments of the samples are read: no Fock estimate, so its guard is off
            small = params.replace(Ns=2, Np=2)
            opts = {"trunc_tol": 0, **({} if dt is None else {"dt": dt})}
            for k, f in enumerate(F):
                r = run(phasespace.method(m, **opts),
                        charge_problem(small.replace(F=float(f)), [0.0, t_steady]), samples, seed + k,
                        n_jobs=n_jobs, progress=progress)
                mom = phasespace.moments(r)["a_dag_a"]
                bb, bbe = phasespace.bimodality(r)
                n.append(float(mom[0][-1].real))
                e.append(float(mom[1][-1].real))
                b.append(float(bb[-1]))
                be.append(float(bbe[-1]))
            out.setdefault("n_s_err", {})[m], out.setdefault("bimodality_err", {})[m] = e, be
        else:
            n, b, verdicts, relax = _exact_curve(params, F, tol, t_steady, progress)
            out.setdefault("truncation", {})[m] = verdicts
            if params.eps != 0:
                out["exact_relaxation"] = relax
        out["n_s"][m] = n
        if b is not None:
            out["bimodality"][m] = b
        values, reasons, errs = _estimates(F, np.asarray(n, float), None if b is None else np.asarray(b, float),
                                           None if e is None else np.asarray(e, float),
                                           None if be is None else np.asarray(be, float), range_reason)
        out["F_th_quantum"][m], out["F_th_quantum_reason"][m] = values, reasons
        if e is not None:
            out.setdefault("F_th_quantum_err", {})[m] = errs
    nulls: list = []
    out = clean(out, nulls)
    out["null_reasons"] = {p: _null_reason(p) for p in nulls}
    return ThresholdResult(out, params.replace(F=float(F[-1])))
