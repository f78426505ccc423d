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

import numpy as np

from .params import BatteryParams

__all__ = ["quadrature_distribution", "bimodality", "curvature_threshold", "bimodal_threshold",
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


def curvature_threshold(F, n_s) -> float:
    """F at the peak of d^2 n_s / dF^2 (uniform F grid, parabola-refined)."""
    F, n = np.asarray(F, float), np.asarray(n_s, float)
    if F.size < 5:
        raise ValueError("F needs at least 5 points for the curvature estimate")
    dF = F[1] - F[0]
    c = (n[2:] - 2 * n[1:-1] + n[:-2]) / dF**2
    k = int(np.argmax(c))
    Fc = F[1:-1]
    if 0 < k < c.size - 1:
        den = c[k - 1] - 2 * c[k] + c[k + 1]
        shift = 0.5 * (c[k - 1] - c[k + 1]) / den if den != 0 else 0.0
        return float(Fc[k] + shift * dF)
    return float(Fc[k])


def bimodal_threshold(F, b) -> float:
    """F from which on the bimodality b(F) = P''(0)/P(0) stays positive (linear interpolation
    across the last sign change; +inf counts as positive, NaN points are skipped)."""
    F, b = np.asarray(F, float), np.asarray(b, float)
    keep = ~np.isnan(b)
    F, b = F[keep], b[keep]
    if b.size == 0 or not b[-1] > 0:
        return float("nan")
    neg = np.flatnonzero(b <= 0)
    if neg.size == 0:
        return float(F[0])
    k = int(neg[-1]) + 1  # first point of the final positive run
    if not np.isfinite(b[k]):
        return float(0.5 * (F[k - 1] + F[k]))
    return float(F[k - 1] + (F[k] - F[k - 1]) * (-b[k - 1]) / (b[k] - b[k - 1]))


def bootstrap(F, y, err, estimator, draws: int = 200, seed: int = 0) -> float:
    """Standard error of estimator(F, y) from redraws y + err * N(0, 1) (a parametric bootstrap;
    NaN draws ignored, NaN if most are NaN)."""
    g = np.random.default_rng(seed)
    est = np.asarray([estimator(F, np.asarray(y) + np.asarray(err) * g.standard_normal(len(y)))
                      for _ in range(draws)], float)
    return float(np.nanstd(est)) if np.isfinite(est).sum() > draws // 2 else float("nan")


def kink_threshold(F, n_s, err=None) -> tuple:
    """(F0, its standard error) of the rounded-kink fit (module docstring); err: errors of n_s
    (None: unweighted).  (nan, nan) if the fit fails."""
    from scipy.optimize import curve_fit

    F, n = np.asarray(F, float), np.asarray(n_s, float)
    scale = max(float(np.abs(n).max()), 1e-300)
    e = np.full_like(n, 1e-3 * scale) if err is None else np.maximum(np.asarray(err, float), 1e-6 * scale)

    def model(F, n0, A, F0, w):
        return n0 + 0.5 * A * ((F - F0) + np.sqrt((F - F0) ** 2 + w**2))

    p0 = [n[0], 2 * (n[-1] - n[0]) / (F[-1] - F[0]), F[len(F) // 3], (F[-1] - F[0]) / 10]
    import warnings

    from scipy.optimize import OptimizeWarning

    try:
        with warnings.catch_warnings():  # a sharp kink (mean field: w -> 0) has no covariance
            warnings.simplefilter("ignore", OptimizeWarning)
            p, cov = curve_fit(model, F, n, p0=p0, sigma=e, absolute_sigma=err is not None, maxfev=20000)
    except (RuntimeError, ValueError):
        return float("nan"), float("nan")
    return float(p[2]), float(np.sqrt(cov[2, 2])) if np.isfinite(cov[2, 2]) else float("nan")


def bimodal_threshold_fit(F, b, err) -> tuple:
    """(F0, its standard error): zero of the weighted straight-line fit of b(F) over the points
    with err <= 0.5 and |b| <= 1 (module docstring); (nan, nan) with fewer than 3 such points."""
    F, b, e = np.asarray(F, float), np.asarray(b, float), np.asarray(err, float)
    ok = np.isfinite(b) & np.isfinite(e) & (e <= 0.5) & (np.abs(b) <= 1)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    w = 1 / np.maximum(e[ok], 1e-3) ** 2
    A = np.vstack([np.ones(ok.sum()), F[ok]]).T
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    c = cov @ A.T @ (w * b[ok])
    if c[1] <= 0:
        return float("nan"), float("nan")
    grad = np.array([-1 / c[1], c[0] / c[1] ** 2])
    return float(-c[0] / c[1]), float(np.sqrt(grad @ cov @ grad))


def mean_field_n_s(params: BatteryParams) -> float:
    """Steady mean-field signal photon number |alpha_s|^2 (0 below threshold)."""
    from .model import mean_field_steady_state

    a_s, _ = mean_field_steady_state(params)
    return float(abs(a_s) ** 2)


def sweep(params: BatteryParams, F, methods=("mean-field", "exact"), progress: bool | None = None, *,
          samples: int = 2000, t_steady: float = 30.0, dt: float | None = None, seed: int = 0,
          n_jobs: int = 1) -> dict:
    """Steady state over the pump amplitudes ``F`` by each method; returns a dict with
    ``F``, ``F_th_meanfield``, ``n_s[method]``, ``bimodality[method]`` (not for mean field:
    its state is coherent, never bimodal about x = 0) and ``F_th_quantum[method][definition]``.

    ``"exact"`` is the steady-state solver; ``"positive-p"`` and ``"wigner"`` integrate
    ``samples`` phase-space samples (step ``dt``, default the method's) from the vacuum to
    ``t_steady`` and read there <n_s> (the untruncated moment, with ``n_s_err``) and P''(0)/P(0)
    from the samples (``phasespace.bimodality``, with ``bimodality_err``); the truncation
    ``params.Ns`` plays no role for them."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 1 or F.size < 5 or not np.all(np.isfinite(F)) or np.any(np.diff(F) <= 0):
        raise ValueError("F must be at least 5 finite, increasing pump amplitudes")
    if not np.allclose(np.diff(F), F[1] - F[0], rtol=1e-6):
        raise ValueError("F must be a uniform grid")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"methods must be among {', '.join(METHODS)}, got {', '.join(bad)}")
    out = {"F": F.tolist(), "F_th_meanfield": params.threshold, "n_s": {}, "bimodality": {},
           "F_th_quantum": {}}
    for m in methods:
        if m == "mean-field":
            n = np.array([mean_field_n_s(params.replace(F=f)) for f in F])
            out["n_s"][m] = n.tolist()
            out["F_th_quantum"][m] = {"curvature": curvature_threshold(F, n), "kink": kink_threshold(F, n)[0]}
            continue
        if m in ("positive-p", "wigner"):
            from . import phasespace
            from .trajectories import charge_problem, run

            n, e, b, be = [], [], [], []
            small = params.replace(Ns=2, Np=2)  # no Fock estimate needed
            for k, f in enumerate(F):
                r = run(phasespace.method(m, **({} if dt is None else {"dt": dt})),
                        charge_problem(small.replace(F=f), [0.0, t_steady]), samples, seed + k,
                        n_jobs=n_jobs, progress=progress)
                mom = phasespace.moments(r)["a_dag_a"]
                bb, bbe = phasespace.bimodality(r)
                n.append(float(mom[0][-1].real))
                e.append(float(mom[1][-1].real))
                b.append(float(bb[-1]))
                be.append(float(bbe[-1]))
            out["n_s"][m], out.setdefault("n_s_err", {})[m], out["bimodality"][m] = n, e, b
            out.setdefault("bimodality_err", {})[m] = be
            bf, bfe = bimodal_threshold_fit(F, b, be)
            # kink: unweighted like the exact curve (the model's misfit then weighs the same), error by bootstrap
            out["F_th_quantum"][m] = {"curvature": curvature_threshold(F, n), "kink": kink_threshold(F, n)[0],
                                      "bimodal": bf}
            out.setdefault("F_th_quantum_err", {})[m] = {
                "curvature": bootstrap(F, n, e, curvature_threshold),
                "kink": bootstrap(F, n, e, lambda F, y: kink_threshold(F, y)[0]), "bimodal": bfe}
            continue
        from tqdm.auto import tqdm

        from .exact import steady_state

        n, b = [], []
        for f in tqdm(F, desc="exact steady states", disable=not progress if progress is not None else None):
            rho = steady_state(params.replace(F=f)).rho_s[0]
            n.append(float(np.real(np.trace(rho @ np.diag(np.arange(rho.shape[0]))))))
            b.append(bimodality(rho))
        out["n_s"][m], out["bimodality"][m] = n, b
        out["F_th_quantum"][m] = {"curvature": curvature_threshold(F, n), "kink": kink_threshold(F, n)[0],
                                  "bimodal": bimodal_threshold(F, b)}
    return out
