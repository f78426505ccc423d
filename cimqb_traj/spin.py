r"""Single-shot spin-phase selection: which phase one DOPO picks, when, and what work a shot holds.

By signal parity the ensemble has <a_s> = 0 (with eps = 0): the state is a mixture of the two
phases 0 and pi, the two spins of a coherent Ising machine.  A single run picks one.  Here the
spin of a shot is read at the final time T:

* ``"homodyne"``: homodyne trajectories of the signal output at theta = 0; the spin is the sign
  of the conditional <x_0>, x_0 = (a_s + a_s^dag)/2 (so <x_0> = Re <a_s>).  ``basis="fock"``
  integrates them in the lab Fock basis Ns x Np; ``basis="displaced"`` in a displaced Fock basis
  per trajectory (``trajectories.moving``: psi = D_s(beta_s) D_p(beta_p) sum c_nm |n, m>), where
  the record is the lab-frame <x_0> = Re(beta_s) + Re <A>, A = D^dag a_s D - beta_s the displaced
  annihilator (``Moving``'s ``x_theta``);
* ``"wigner"`` / ``"positive-p"``: the sign of Re alpha_s of each phase-space sample.  For the
  truncated Wigner method the samples' x-marginal is the quadrature distribution, so the
  fraction is an estimate of P(x > 0).  A positive-P sample is not a state, and the sign of
  Re alpha_s is only a proxy; its unbiased estimator of P(x > 0) is also given
  (``p_plus_quadrature``): the x-representation of the sample's projector is the Gaussian
  exp(-(x - c)^2)/sqrt(pi), c = (alpha + alpha^+)/sqrt 2 in the units x = (a + a^dag)/sqrt 2,
  whose weight on x > 0 is erfc(-c)/2;
* ``"exact"``: no shots; P(+1) is the weight of the x > 0 half of the quadrature distribution
  <x|rho_s(T)|x>;
* ``"mean-field"``: one deterministic path; its spin is the sign of Re alpha_s(T) (P = 1/2 when
  alpha_s stays 0, the unbroken symmetric solution from the vacuum at eps = 0).

P(+1) of the sampled methods carries a 95 % Clopper-Pearson interval.

Decision time of a shot: the first output time from which its x(t) (conditional <x_0>, or Re
alpha_s) stays on the side of its final spin beyond ``frac`` times the mean-field amplitude
sqrt(n_mf) (n_mf the steady mean-field photon number at F, eps = 0: defined above threshold
only); NaN if it never does (undecided).  The median over decided shots gets a 95 %
distribution-free interval (order statistics).  Linearised growth rate of the signal at the
trivial state, for comparison: lambda = (gamma_s / 2)(F / F_th - 1) (``growth_rate``).

Work in a single shot (homodyne): each shot's conditional signal state Tr_pump |psi><psi| has
an ergotropy W_k(T) (and parts); ``W_single_shot`` is their mean over shots with its standard
error, against the ergotropy of the ensemble state at T (jackknife error).  The difference is
the work the measurement record makes extractable (W is convex, so the mean over shots is >= W
of the mean state).
In the displaced basis the shots' records carry no per-shot ergotropy: the single-shot work
is None there (the ensemble's W, from the lab-frame rho_s, is given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .params import BatteryParams
from .truncation import TRUNC_TOL, check_tol, disabled, enforce

__all__ = ["PhaseSelection", "phase_selection", "decision_times", "growth_rate", "METHODS", "BASES"]

METHODS = ("homodyne", "wigner", "positive-p", "exact", "mean-field")
#: bases of the homodyne trajectories (``trajectories.BASES``): the lab Fock basis, or a displaced one per shot
BASES = ("fock", "displaced")


@dataclass
class PhaseSelection:
    """Single-shot statistics of one (params, method) run; ``None`` where a method has no such
    number (e.g. no shots for ``exact``)."""

    method: str
    params: BatteryParams
    t: np.ndarray
    shots: int
    n_plus: int | None
    p_plus: float
    p_plus_ci: tuple
    p_plus_t: np.ndarray  # P(+1) read at every output time
    frac: float
    x_mf: float
    decision_times: np.ndarray = field(repr=False, default=None)
    decision_time_median: float | None = None
    decision_time_ci: tuple | None = None
    undecided: int | None = None
    W_single_shot: float | None = None
    W_single_shot_err: float | None = None
    W_c_single_shot: float | None = None
    W_i_single_shot: float | None = None
    W_ensemble: float | None = None
    W_ensemble_err: float | None = None
    p_plus_quadrature: float | None = None
    p_plus_quadrature_err: float | None = None
    x_paths: np.ndarray = field(repr=False, default=None)  # a few shots' x(t)
    x_mean: np.ndarray = field(repr=False, default=None)  # mean over shots of x(t) ...
    x_mean_err: np.ndarray = field(repr=False, default=None)  # ... and its standard error
    #: the truncation verdict (``truncation.assess``) of a Fock-space method (homodyne, exact); {} otherwise
    truncation: dict = field(default_factory=dict)
    #: the ensemble run was interrupted (Ctrl-C): the numbers are those of the ``ntraj`` shots that finished
    interrupted: bool = False
    #: trajectories / samples done (None for exact and mean field)
    ntraj: int | None = None
    #: the basis of the homodyne trajectories ("fock" or "displaced"); "fock" for the other methods
    basis: str = "fock"
    #: displaced basis: the largest moving bases and the lab output sizes (``Moving``'s ``dims``); else None
    dims: dict | None = None

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("method", "shots", "n_plus", "p_plus", "frac", "x_mf", "undecided",
                                           "decision_time_median", "W_single_shot", "W_single_shot_err",
                                           "W_c_single_shot", "W_i_single_shot", "W_ensemble", "W_ensemble_err",
                                           "p_plus_quadrature", "p_plus_quadrature_err", "truncation",
                                           "interrupted", "ntraj", "basis", "dims")}
        d["eps"], d["F"], d["t_end"] = self.params.eps, self.params.F, float(self.t[-1])
        d["p_plus_ci"] = list(self.p_plus_ci)
        d["decision_time_ci"] = None if self.decision_time_ci is None else list(self.decision_time_ci)
        return {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in d.items()}


def growth_rate(params: BatteryParams) -> float:
    """Linearised growth rate of alpha_s at the trivial state, (gamma_s/2)(F/F_th - 1) (Delta = 0)."""
    return 0.5 * params.gamma_s * (params.F / params.threshold - 1.0)


def _x_mf(params: BatteryParams) -> float:
    """Mean-field steady amplitude sqrt(n_mf) at F (eps = 0, Delta = 0); 0 at or below threshold."""
    if params.F <= params.threshold:
        return 0.0
    n = (2 / params.kappa) * (math.sqrt(params.gamma_p) * params.F - params.gamma_p * params.gamma_s / (4 * params.kappa))
    return math.sqrt(n)


def decision_times(t, x, level: float) -> np.ndarray:
    """Per row of x (shots, len(t)): the first t_k such that s x(t_j) >= level for every j >= k,
    s = sign(x(t[-1])); NaN when |x(t[-1])| < level or level <= 0."""
    t, x = np.asarray(t, float), np.atleast_2d(np.asarray(x, float))
    out = np.full(x.shape[0], np.nan)
    if not level > 0:
        return out
    s = np.sign(x[:, -1:])
    ok = s * x >= level  # (shots, nt)
    # index of the first k with ok[k:] all True: after the last False
    bad = ~ok
    last_bad = np.where(bad.any(axis=1), x.shape[1] - 1 - np.argmax(bad[:, ::-1], axis=1), -1)
    decided = last_bad < x.shape[1] - 1
    out[decided] = t[last_bad[decided] + 1]
    return out


def _clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple:
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def _median_ci(x, level: float = 0.95) -> tuple:
    """Distribution-free interval of the median: order statistics (j, k) with binomial weights."""
    from scipy.stats import binom

    x = np.sort(np.asarray(x, float))
    n = x.size
    if n == 0:
        return (math.nan, math.nan)
    j = int(binom.ppf((1 - level) / 2, n, 0.5))
    k = int(binom.isf((1 - level) / 2, n, 0.5))
    return float(x[max(j - 1, 0)]), float(x[min(k, n - 1)])


def _shots(method, params, t, x, frac, extra=None) -> PhaseSelection:
    xm = _x_mf(params)
    n = x.shape[0]
    plus_t = np.mean(x > 0, axis=0)
    k = int(np.sum(x[:, -1] > 0))
    dts = decision_times(t, x, frac * xm)
    dec = dts[np.isfinite(dts)]
    res = PhaseSelection(method=method, params=params, t=t, shots=n, n_plus=k, p_plus=k / n,
                         p_plus_ci=_clopper_pearson(k, n), p_plus_t=plus_t, frac=frac, x_mf=xm,
                         decision_times=dts, undecided=int(n - dec.size),
                         decision_time_median=float(np.median(dec)) if dec.size else None,
                         decision_time_ci=_median_ci(dec) if dec.size else None, x_paths=x[:16].copy(),
                         x_mean=x.mean(axis=0),
                         x_mean_err=x.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(len(t), np.nan))
    for key, v in (extra or {}).items():
        setattr(res, key, v)
    return res


def _p_plus_exact(rho_s) -> float:
    """Weight of x > 0 of <x|rho|x> (x = (a + a^dag)/sqrt 2): trapezoid on a grid reaching 8
    vacuum widths beyond the largest Fock level's turning point sqrt(2 N + 1)."""
    from .threshold import quadrature_distribution

    N = rho_s.shape[0]
    x = np.linspace(0.0, math.sqrt(2 * N + 1) + 8.0, 8001)
    return float(np.trapezoid(quadrature_distribution(rho_s, x), x))


def phase_selection(params: BatteryParams, method: str = "homodyne", *, ntraj: int = 500, seed: int = 0,
                    t_end: float = 20.0, dt_out: float = 0.1, frac: float = 0.5, n_jobs: int = 1,
                    progress: bool | None = None, trunc_tol: float | None = TRUNC_TOL, basis: str = "fock",
                    **options) -> PhaseSelection:
    """Single-shot statistics of ``method`` (see module docstring) for ``params`` from the vacuum,
    the spin read at ``t_end`` (default 20 / gamma_s); output grid step ``dt_out``.  ``options``
    go to the method's constructor (e.g. ``dt``).

    ``trunc_tol``: the truncation guard of ``exact.charge`` on the Fock-space methods ("exact",
    "homodyne"; the verdict of the exact solver on the same grid, computed before any shot: a
    refused truncation raises ``TruncationError`` and a doubtful one warns), kept in
    ``result.truncation``; 0 or None disables it.  The phase-space methods and the mean field
    read their spin from untruncated amplitudes and carry no verdict ({}).  ``result.interrupted``
    and ``result.ntraj`` say whether the ensemble run was stopped early and how many shots it holds.

    ``basis`` (``"homodyne"`` only; ValueError otherwise): ``"fock"`` (default) or ``"displaced"``
    (``trajectories.charge(..., basis="displaced")``: Ns / Np are the lab OUTPUT sizes of the mean
    state, chosen from the mean field when left at the package defaults; the verdict is the moving
    basis' own, ``moving.verdict``, from the run itself, so a refusal comes after the shots).  The
    spin of a shot is the sign of its lab-frame <x_0> = Re(beta_s + <A>) (module docstring).
    """
    if not isinstance(params, BatteryParams):
        raise ValueError(f"params must be a BatteryParams, got {type(params).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    for name, v in (("t_end", t_end), ("dt_out", dt_out)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    if not (isinstance(frac, (int, float)) and 0 < frac <= 1):
        raise ValueError(f"frac must be in (0, 1], got {frac!r}")
    if method in ("homodyne", "wigner", "positive-p") and (not isinstance(ntraj, (int, np.integer)) or ntraj < 2):
        raise ValueError(f"ntraj must be an integer >= 2, got {ntraj!r}")
    if not isinstance(basis, str) or basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    if basis == "displaced" and method != "homodyne":
        raise ValueError(f"basis='displaced' applies to method='homodyne' only, not {method!r}; use basis='fock'")
    tol = check_tol(trunc_tol)
    n = max(1, int(round(t_end / dt_out)))
    t = np.linspace(0.0, float(t_end), n + 1)
    if method == "exact":
        from . import exact

        r = exact.charge(params, t, progress=progress, trunc_tol=tol)  # refuses / warns itself
        p = np.array([_p_plus_exact(rho) for rho in r.rho_s])
        return PhaseSelection(method=method, params=params, t=t, shots=0, n_plus=None, p_plus=float(p[-1]),
                              p_plus_ci=(float(p[-1]), float(p[-1])), p_plus_t=p, frac=frac, x_mf=_x_mf(params),
                              W_ensemble=float(r.W[-1]), W_ensemble_err=0.0, truncation=r.truncation)
    if method == "mean-field":
        from .phasespace import mean_field

        x = mean_field(params, t).alpha_s.real[None]
        res = _shots(method, params, t, x, frac)
        if x[0, -1] == 0:  # the symmetric solution: no phase picked
            res.p_plus, res.n_plus = 0.5, None
        res.p_plus_ci = (res.p_plus, res.p_plus)  # deterministic
        return res
    from .ensemble import run
    from .problem import charge_problem

    kw = dict(n_jobs=n_jobs, progress=progress)
    if basis == "displaced":
        return _homodyne_displaced(params, t, ntraj, seed, frac, tol, kw, options)
    if method == "homodyne":
        from . import exact
        from .trajectories.homodyne import Homodyne

        homodyne = Homodyne(0.0, records=True, **options)
        problem = charge_problem(params, t)
        # the ensemble mean is the exact solution at this truncation: its verdict, before any shot
        verdict = exact.charge_verdict(params, t, trunc_tol=tol, progress=progress)
        if verdict["verdict"] == "refused":
            enforce(verdict)
        r = run(homodyne, problem, ntraj, seed, **kw)
        if not tol:
            verdict = disabled(r.tail_s, r.tail_p)
        recs = [d for d in r.records if "x_theta" in d]
        x = np.stack([d["x_theta"] for d in recs])
        Ws = np.array([[d["W"][-1], d["W_c"][-1], d["W_i"][-1]] for d in recs])
        res = _shots(method, params, t, x, frac, {
            "W_single_shot": float(Ws[:, 0].mean()), "W_single_shot_err": float(Ws[:, 0].std(ddof=1) / math.sqrt(len(Ws))),
            "W_c_single_shot": float(Ws[:, 1].mean()), "W_i_single_shot": float(Ws[:, 2].mean()),
            "W_ensemble": float(r.W[-1]), "W_ensemble_err": float(r.W_err[-1]),
            "truncation": verdict, "interrupted": bool(r.interrupted), "ntraj": int(r.ntraj)})
        enforce(verdict)  # a warning, after the run (a refusal came before it)
        return res
    from .phasespace import method as ps_method

    # the spin is read from the untruncated amplitudes; the reduction's Fock estimate (at Ns = Np = 2,
    # only to keep it cheap) is not used, so its guard is off
    r = run(ps_method(method, paths=True, trunc_tol=0, **options), charge_problem(params.replace(Ns=2, Np=2), t),
            ntraj, seed, **kw)
    recs = [d for d in r.records if "alpha_s" in d]
    a = np.concatenate([d["alpha_s"] for d in recs])
    extra = {}
    if method == "positive-p":
        from scipy.special import erfc

        ap = np.concatenate([d["alpha_s_plus"] for d in recs])
        w = 0.5 * erfc(-(a[:, -1] + ap[:, -1]) / math.sqrt(2)).real
        extra = {"p_plus_quadrature": float(w.mean()), "p_plus_quadrature_err": float(w.std(ddof=1) / math.sqrt(w.size))}
    extra.update(interrupted=bool(r.interrupted), ntraj=int(r.ntraj))
    return _shots(method, params, t, a.real, frac, extra)


def _homodyne_displaced(params, t, ntraj, seed, frac, tol, kw, options) -> PhaseSelection:
    """``phase_selection(..., "homodyne", basis="displaced")``: ``trajectories.charge`` in the moving
    basis (lab output sizes, its run, its verdict: refused or warned by ``charge`` itself), each
    shot's x(t) its record ``x_theta`` at theta = 0, Re(beta_s + <A>): the lab-frame <x_0>."""
    from .trajectories import charge

    r = charge(params, t, method="homodyne", basis="displaced", ntraj=ntraj, seed=seed, trunc_tol=tol,
               records=True, theta=0.0, **kw, **options)
    x = np.stack([d["x_theta"] for d in r.records if "x_theta" in d])
    return _shots("homodyne", r.params, t, x, frac, {
        "W_ensemble": float(r.W[-1]), "W_ensemble_err": float(r.W_err[-1]), "truncation": r.truncation,
        "interrupted": bool(r.interrupted), "ntraj": int(r.ntraj), "basis": "displaced",
        "dims": {k: int(v) for k, v in (r.options.get("dims") or {}).items()}})
