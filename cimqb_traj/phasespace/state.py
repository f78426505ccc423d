r"""From phase-space samples to a density matrix: Fock range, projection, errors, refusals.

Positive-P and truncated-Wigner samples give unbiased estimates R of the leading Ns x Ns block
of the signal's density matrix (``_sde``), but R is not a state: with few samples its
eigenvalues are of order +-1 (the truncated-Wigner estimator of every element has a variance
of order one, whatever the level), and the ergotropy of R is then meaningless (W >> E, E < 0).
:func:`reduce` turns the group sums of a run into the numbers a result reports:

1. **Fock range** (fixed from the full data, per output time t).  The diagonal estimates
   p_n(t) have delete-one-group jackknife errors e_n(t).  Level n is *resolved* when
   p_n > z_range e_n and p_n > ``FLOOR`` (rounding); the range is K(t) = 1 + the largest
   resolved n (never beyond Ns).  z_range is the one-sided Student-t quantile with G - 1
   degrees of freedom (G groups) at rate ``ALPHA`` / Ns, so that noise alone resolves a level
   beyond the true range with probability <= ``ALPHA`` per time (Bonferroni over the levels).
   Unresolved levels inside the range stay (parity: odd levels of a state charged from the
   vacuum are empty); levels beyond it are dropped.
2. **Projection**.  The range block P R P is divided by its trace (the state conditioned on
   n < K) and replaced by the closest density matrix in the Frobenius norm: its eigenvalues are
   projected onto the probability simplex, eigenvectors kept (Smolin, Gambetta & Smith,
   PRL 108, 070502 (2012); for Gaussian noise on the elements it is the maximum-likelihood
   state).  With mu_1 >= ... >= mu_K the eigenvalues (sum 1) the result is
   lambda_i = max(mu_i - theta, 0) with theta fixed by sum lambda_i = 1 (:func:`simplex`); a
   matrix that already is a state is returned unchanged.  The state is Hermitian, PSD and of unit
   trace, so its energy E, ergotropy W, incoherent part W_i and W_c = W - W_i satisfy
   0 <= W_i <= W <= E exactly (``ergotropy.ergotropy_parts``; E above the ground state).
3. **Errors**.  Every reported function of the state (elements, E, W, W_c, W_i) and the missing
   energy (below) comes with the delete-one-group jackknife error of the *whole* pipeline:
   the range K(t) of the full data, then renormalisation, projection and ergotropy applied to
   each leave-one-group-out mean (``ensemble.jackknife``).  The projection's bias (it pushes
   noise eigenvalues to zero, a nonlinear map) is thereby in the bias-corrected ``*_bc``.
4. **Untruncated moments**.  <n_s> and <n_p> (normal order) are the sample moments
   (``phasespace.moments``), never those of the cut estimate.
5. **Missing energy and verdict**.  The state misses the energy
   Delta(t) = omega_s (<n_s>_samples - Tr[rho_state n]), with jackknife error s_Delta.  In units
   of the energy scale S = max(E, omega_s) (``truncation``), with z the two-sided Student-t
   quantile (G - 1 degrees of freedom) at rate ``ALPHA`` / len(t),
   lo = max(|Delta| - z s_Delta, 0) / S (what the samples prove missing) and
   hi = (|Delta| + z s_Delta) / S (what they cannot exclude), maximised over t:

   * hi <= tol: ``"ok"``;
   * lo > tol: the cut misses more than the tolerance whatever the noise: the truncation
     verdict of ``truncation.assess`` with err = hi (``"warn"`` up to ``REFUSE``, ``"refused"``
     above; also ``"refused"`` when the signal's level Ns - 1 holds more than ``TOP_LEVEL``
     resolved population, p_{Ns-1} - z_range e_{Ns-1});
   * lo <= tol < hi: the samples cannot tell whether the cut is good enough (noise, not the
     truncation): :class:`~cimqb_traj.errors.SamplesError` when hi > ``REFUSE``, with the sample
     count M' = M (z s_Delta / (tol S))^2 (errors fall like 1/sqrt(M)), the largest over the
     undecided times: the fewest samples whose bound could show the cut good enough; between tol and ``REFUSE`` a ``"warn"`` verdict that says
     so and gives the same count.

   tol = 0 disables all of it (``"disabled"``; nothing refused: fixed-truncation cross-checks,
   moment-only runs at tiny Ns).  A run with fewer than 2 groups has no error estimate: every
   level with p_n > ``FLOOR`` is in range, and with tol > 0 it is refused (SamplesError).

Mean field (``MeanField``) is deterministic: the same steps with zero errors (its coherent
state cut at Ns, renormalised; the projection leaves it unchanged) and its exact missing energy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import truncation
from ..errors import SamplesError
from ..ergotropy import ergotropy_parts
from ..ensemble import jackknife

__all__ = ["simplex", "project", "fock_range", "reduce", "ALPHA", "FLOOR"]

#: Family-wise rate of the range choice (per time) and of the missing-energy bounds (per run).
ALPHA = 1e-2
#: Diagonal estimates at or below this are rounding, never a resolved level.
FLOOR = 1e-12


def simplex(v, total: float = 1.0) -> np.ndarray:
    """Euclidean projection of the last axis of ``v`` onto {x >= 0, sum x = total}.

    x_i = max(v_i - theta, 0) with theta = (sum_{j<=r} u_j - total) / r, u sorted descending and
    r the largest index with u_r > (sum_{j<=r} u_j - total) / r (Duchi et al., ICML 2008; the
    eigenvalue step of Smolin, Gambetta & Smith 2012)."""
    v = np.asarray(v, dtype=float)
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, axis=-1) - total
    k = np.arange(1, v.shape[-1] + 1)
    r = np.sum(u - css / k > 0, axis=-1, keepdims=True)  # the condition holds for a prefix
    theta = np.take_along_axis(css, r - 1, axis=-1) / r
    return np.maximum(v - theta, 0.0)


def project(rho) -> np.ndarray:
    """The density matrix closest to the Hermitian part of ``rho`` (..., K, K) in the Frobenius
    norm: eigenvalues projected onto the probability simplex (:func:`simplex`)."""
    rho = np.asarray(rho, dtype=complex)
    h = 0.5 * (rho + np.swapaxes(rho, -1, -2).conj())
    lam, V = np.linalg.eigh(h)
    return (V * simplex(lam)[..., None, :]) @ np.swapaxes(V, -1, -2).conj()


def _z(rate: float, G: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.isf(rate, G - 1))


def fock_range(diag, err, G: int) -> tuple[np.ndarray, float]:
    """(K(t), z_range): the Fock range the diagonal estimates ``diag`` (nt, Ns) with jackknife
    errors ``err`` support (module docstring, step 1); K = 0 where no level is resolved."""
    diag = np.asarray(diag, float)
    Ns = diag.shape[-1]
    if G < 2:
        z, ok = math.inf, diag > FLOOR
    else:
        z = _z(ALPHA / Ns, G)
        ok = (diag > FLOOR) & (diag > z * np.asarray(err, float))
    K = np.where(ok.any(axis=-1), Ns - np.argmax(ok[..., ::-1], axis=-1), 0)
    return K, z


def _state_parts(X, m, ladder):
    """States (B, m, m) from the range blocks X[:, :m, :m] (renormalised, projected) and their
    (E, W, W_c, W_i); NaN where the block's trace is not positive (no state)."""
    blk = X[:, :m, :m]
    tr = np.trace(blk, axis1=-2, axis2=-1).real
    st = project(blk / np.where(tr > 0, tr, 1.0)[:, None, None])
    st[tr <= 0] = np.nan  # the caller refuses
    return st, ergotropy_parts(st, ladder[:m])


def _pipeline(X, nsum, K, ladder, omega):
    """Stack of means X (B, nt, Ns, Ns), <n_s> nsum (B, nt) -> (B, nt, 9 + 2 Ns^2): E, W, W_c,
    W_i of the state over the range K; the missing energy; the changes of E, W, W_c, W_i from
    the range truncation.smaller(K) to K (0 where there is none); Re and Im of the state
    (zeros beyond K)."""
    B, nt, Ns = X.shape[0], X.shape[1], X.shape[-1]
    out = np.zeros((B, nt, 9 + 2 * Ns * Ns))
    for k in range(nt):
        m = int(K[k])
        st, e = _state_parts(X[:, k], m, ladder)
        out[:, k, :4] = np.stack([e.energy, e.W, e.W_c, e.W_i], axis=-1)
        out[:, k, 4] = omega * nsum[:, k] - e.energy
        m2 = truncation.smaller(m) if m >= 2 else None
        if m2 is not None:
            _, e2 = _state_parts(X[:, k], m2, ladder)
            out[:, k, 5:9] = out[:, k, :4] - np.stack([e2.energy, e2.W, e2.W_c, e2.W_i], axis=-1)
        full = np.zeros((B, Ns, Ns), complex)
        full[:, :m, :m] = st
        out[:, k, 9:9 + Ns * Ns] = full.real.reshape(B, -1)
        out[:, k, 9 + Ns * Ns:] = full.imag.reshape(B, -1)
    return out


def _needed(M, zs, target, where):
    """Samples that would shrink the bound's half-width z s_Delta to the tolerance target = tol S
    at the times ``where`` (errors fall like 1/sqrt(M)): the fewest that could show the cut good
    enough."""
    with np.errstate(divide="ignore", invalid="ignore"):
        need = M * (zs[where] / target[where]) ** 2
    return float(np.max(need))


def _count(x: float) -> str:
    if not math.isfinite(x) or x > 1e12:
        return "more than 1e12"
    mag = 10.0 ** max(math.floor(math.log10(max(x, 1.0))) - 1, 0)  # round up to 2 digits
    return f"at least {math.ceil(x / mag) * mag:,.0f}"


def reduce(problem, parts, result, *, trunc_tol: float, sampled: bool = True):
    """The result of a phase-space run (module docstring): ``result`` (the runner's generic
    reduction) with ``rho_s``, energy, W, W_c, W_i (and errors, bias-corrected values), n_s,
    n_p (sample moments, normal order), ``tail_s`` and ``truncation`` replaced.  Raises
    ``SamplesError`` or ``truncation.TruncationError`` (module docstring, step 5)."""
    from ._sde import MOMENTS

    tol = truncation.check_tol(trunc_tol)
    recs = [r for p in parts for r in p.records if "a_dag_a" in r]
    if len(recs) != len(parts):
        raise ValueError("phase-space reduction: every group must carry one moment record")
    n = np.array([p.n for p in parts], dtype=float)
    G, M = len(parts), int(n.sum())
    Ns = problem.dims[0]
    omega = float(problem.ladder_s[1] - problem.ladder_s[0]) if Ns > 1 else 1.0
    S = np.stack([p.rho_s for p in parts])
    mom = {k: np.stack([np.asarray(r[k]).real for r in recs]) for k in ("a_dag_a", "n_p")}
    assert "a_dag_a" in MOMENTS and "n_p" in MOMENTS
    n_s, n_s_e, _ = jackknife(mom["a_dag_a"], n, lambda x: x)
    n_p, n_p_e, _ = jackknife(mom["n_p"], n, lambda x: x)
    eG = G if sampled else 1  # deterministic: no noise, no errors
    diag = np.diagonal(S.sum(axis=0) / M, axis1=-2, axis2=-1).real
    if eG >= 2:
        _, derr, _ = jackknife(np.diagonal(S, axis1=-2, axis2=-1).real, n, lambda x: x)
    else:
        derr = np.zeros_like(diag)
    K, z_range = fock_range(diag, derr, eG)
    if tol > 0 and sampled and G < 2:
        raise SamplesError(f"{result.method}: {M} sample(s) in {G} group: no error estimate, so no Fock range "
                           "or truncation bound; run at least 2 samples in >= 2 groups (groups=20 is the default)")
    if np.any(K == 0):
        if tol > 0:
            k = int(np.argmax(K == 0))
            raise SamplesError(f"{result.method}: no Fock level of the signal is resolved at t={problem.t[k]:g} "
                               f"with {M} samples; about {math.ceil(4 * M)} samples or more would be needed")
        K = np.maximum(K, 1)
    # the pipeline on the full mean and on every leave-one-group-out mean
    Sm = np.concatenate([S.reshape(G, len(problem.t), -1), mom["a_dag_a"][..., None]], axis=-1)

    def fun(x):
        X = x[..., :-1].reshape(x.shape[0], len(problem.t), Ns, Ns)
        return _pipeline(X, x[..., -1].real, K, problem.ladder_s, omega)

    if eG >= 2:
        est, err, bc = jackknife(Sm, n, fun)
    else:
        est = fun((Sm.sum(axis=0) / M)[None])[0]
        err, bc = np.zeros_like(est), est
    if not np.all(np.isfinite(est)):
        k = int(np.argmax(~np.all(np.isfinite(est), axis=-1)))
        if tol > 0:
            raise SamplesError(f"{result.method}: the Fock estimate at t={problem.t[k]:g} has no positive trace "
                               f"in its resolved range with {M} samples; several times more samples are needed")
    E, W, Wc, Wi, D = (est[:, i] for i in range(5))
    E_e, W_e, Wc_e, Wi_e, D_e = (err[:, i] for i in range(5))
    _, W_b, Wc_b, Wi_b, _ = (bc[:, i] for i in range(5))
    q = Ns * Ns
    rho = (est[:, 9:9 + q] + 1j * est[:, 9 + q:]).reshape(-1, Ns, Ns)
    rho_err = (err[:, 9:9 + q] + 1j * err[:, 9 + q:]).reshape(-1, Ns, Ns)
    top = diag[:, -1] - (z_range if math.isfinite(z_range) else 0.0) * derr[:, -1]
    measures = {"energy the Fock estimate misses (the samples' untruncated omega_s <n_s> minus the state's)": (D, D_e)}
    measures.update({f"{name} change from range K' = smaller(K)": (est[:, 5 + i], err[:, 5 + i])
                     for i, name in enumerate(("energy", "W", "W_c", "W_i"))})
    verdict = _verdict(tol, problem.t, E, measures, omega, eG, M, np.maximum(top, 0.0), result.method, K, Ns)
    res = dataclasses.replace(
        result, rho_s=rho, rho_s_err=rho_err, energy=E, energy_err=E_e, W=W, W_err=W_e, W_c=Wc,
        W_c_err=Wc_e, W_i=Wi, W_i_err=Wi_e, W_bc=W_b, W_c_bc=Wc_b, W_i_bc=Wi_b, n_s=n_s, n_s_err=n_s_e,
        n_p=n_p, n_p_err=n_p_e, tail_s=rho[:, -1, -1].real, truncation=verdict,
        options={**result.options, "fock_range": K.tolist(), "missing_energy": D.tolist(),
                 "missing_energy_err": D_e.tolist(), "n_ordering": "normal (sample moments)"})
    truncation.enforce(verdict, res, stacklevel=4)
    return res


def _verdict(tol, t, E, measures, omega, G, M, top, name, K, Ns):
    """The truncation dict (module docstring, step 5) from ``measures``: name -> (value(t),
    jackknife error(t)) of the differences that bound the cut's error; raises SamplesError."""
    if tol == 0:
        return truncation.disabled(top_s=top)
    scale = np.maximum(np.abs(E), omega)
    z = _z(0.5 * ALPHA / (len(t) * len(measures)), G) if G >= 2 else 0.0
    lo, hi, zs, by = [], [], [], {}
    for key, (v, e) in measures.items():
        zs.append(z * e)
        lo.append(np.maximum(np.abs(v) - z * e, 0.0) / scale)
        hi.append((np.abs(v) + z * e) / scale)
        by[key] = float(np.max(np.abs(v) + z * e))
    lo, hi, zs = np.array(lo), np.array(hi), np.array(zs)
    j, k = np.unravel_index(int(np.argmax(hi)), hi.shape)
    key = list(measures)[j]
    v, e = measures[key][0][k], measures[key][1][k]
    measure = (f"{key}, Fock range K <= {int(K.max())} of Ns = {Ns}: {v:.3g} +- {e:.2g} at t={t[k]:g}, "
               f"upper {1 - ALPHA:.0%} bound")
    if K[k] < Ns:  # the range, not Ns, cuts: the samples do not resolve the levels K .. Ns-1
        hint = (f"the samples resolve only levels n < {int(K[k])} of Ns = {Ns} at t={t[k]:g}: more samples "
                "would resolve the rest (errors fall like 1/sqrt(M))")
    else:
        hint = "increase Ns (the samples carry the untruncated state)"
    if not (np.all(hi <= tol) or np.any(lo > tol)):  # undecided: the noise, not the cut
        need = _needed(M, zs, np.broadcast_to(tol * scale, hi.shape), (lo <= tol) & (hi > tol))
        if hi[j, k] > max(truncation.REFUSE, tol):
            raise SamplesError(
                f"{name}: {M} samples bound the {key.split(' (')[0]} only to "
                f"{hi[j, k]:.0%} of max(E, omega_s) (t={t[k]:g}; trunc_tol={tol:g}); {_count(need)} samples "
                "would decide it (errors fall like 1/sqrt(M))")
        hint = f"sampling, not the cut: {_count(need)} samples would decide it"
    return truncation.assess(tol, measure, float(hi[j, k]), float(t[k]), by, top_s=top, hint=hint)
