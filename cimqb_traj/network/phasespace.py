r"""Positive-P and truncated-Wigner samplers of N coupled DOPOs (model: ``network.sde``).

Noise of a coupling channel (derivation)
----------------------------------------
Edge channel L = sum_k c_k a_k, rate 1, c real: c_i = sqrt(eta |J_ij|), c_j = -s sqrt(eta |J_ij|),
s = sgn J_ij.  With a unitary change of modes, L = |c| d with d = sum_k (c_k / |c|) a_k a normal
mode, D[L] = |c|^2 D[d], and the other modes orthogonal to d see nothing.  A single damped mode
gamma D[d] at zero temperature has, in each representation:

* positive-P: drift -(gamma/2) delta on delta and on delta^+, no diffusion (``network.sde``);
* Wigner: the same drift and the diffusion (gamma/2) d^2/(d delta d delta^*) W, i.e. complex noise
  with E[d delta d delta^*] = (gamma/2) dt, E[d delta^2] = 0 (the single-spin convention of
  ``phasespace._sde``: sqrt(gamma/4) (dW + i dW'), vacuum variance E|delta|^2 = 1/2 kept fixed).

Back in the spin modes, a_k = (c_k / |c|) d + ..., so the edge adds to the Wigner amplitudes the
complex noise d alpha_k = c_k xi with one xi per edge, E[xi xi^*] = dt / 2, E[xi^2] = 0:
E[d alpha_i d alpha_j^*] = (c_i c_j / 2) dt, i.e. the covariance (eta |J_ij| / 2) [[1, -s], [-s, 1]]
on (i, j), correlated across the two spins of the edge, anticorrelated for a ferromagnetic edge.
Summed over edges: the covariance (eta / 2)(D - J), the signed Laplacian, generated through the
signed incidence matrix (one complex increment per edge: O(edges) per step, never a Cholesky
factor).  No drift correction: the channel is linear, so its Weyl-symbol drift is the normal-order
one.  In positive-P the coupling adds no noise at all (``network.sde``).  With kappa = 0 the
Wigner equations are linear with drift matrix M = (gamma_s/2 + i Delta) + (eta/2)(D - J) and noise
covariance Q = gamma_s/2 + (eta/2)(D - J) = Re M: the covariance C = 1/2 (vacuum) obeys
dC/dt = -M C - C M^dag + Q = 0, so vacuum noise stays exactly 1/2 per mode, whatever J
(``tests/test_network_wigner.py`` checks it).

Per spin the rest is the single-spin truncated Wigner of ``phasespace.wigner`` / ``_sde``:
alpha^+ = alpha^*, noise sqrt(gamma_s)/2 (dW + i dW') on each signal and sqrt(gamma_p)/2 (...) on
each pump, initial samples alpha_0 + (x + i y)/2 for every mode (x, y standard normal), symmetric
ordering: <a_i^dag a_i> = E|alpha_i|^2 - 1/2, <a_i a_j> = E[alpha_i alpha_j] (i != j, the operators
commute).  The method drops the third-order derivative terms of the kappa coupling: approximate,
exact for kappa = 0.

Runner
------
``samples`` are cut into G = min(20, samples) contiguous groups; group g uses the child
ss_g = ``SeedSequence(seed).spawn(G)[g]``: ``default_rng(ss_g)`` draws the initial Wigner samples,
and sample k of the group draws its increments from its own SFC64 stream seeded by the child
(ss_g, k) (``_kernels``), so a result is bitwise the same for any ``n_jobs`` and backend.  Groups are joblib tasks (``loky`` processes, ``threading`` threads: the kernels release
the GIL, or a Dask cluster through joblib's ``dask`` backend as in ``cimqb_traj.ensemble``).
Only moment sums are kept (per group: n, Re a_i a_j for the requested pairs, optional conditional
sums), never the samples at all times; ``keep_final`` keeps the samples at t[-1].

A sample that diverges (a variable beyond ``divergence_bound`` or not finite) is excluded from every
sum: the group is integrated a second time with the same generator and those samples switched off
from the start (the other samples' paths are unchanged, their increments are the same words), so
no moment of an excluded sample enters at any time.  One kernel call integrates a sample over
the whole time span (its state stays in cache).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..checks import check_int
from ..errors import ResourceError, SamplesError
from ..params import BatteryParams
from ..phasespace._sde import check_dt, plan, pump
from ..phasespace.meanfield import _check_times
from ..resources import (MAX_STEPS, MAX_WORK, MEMORY_FRACTION, WORKER_BASE, available_memory, check_jobs,
                         check_scheduler)
from . import _kernels
from .sde import _check_eta, _check_params, _check_vector, check_couplings, signed_laplacian

__all__ = ["positive_p", "truncated_wigner", "NetworkPhaseSpace", "NetworkPositiveP", "GROUPS"]

#: jackknife groups of samples (fewer when there are fewer samples)
GROUPS = 20
_BACKENDS = ("loky", "threading", "dask")


@dataclass
class NetworkPhaseSpace:
    """Phase-space moments of the network, means over kept samples with jackknife standard errors
    over ``groups`` groups.  Moments are normally ordered quantum expectations for both methods
    (``ordering`` names the order the samples are in: "normal" for positive-P, "symmetric" for
    truncated Wigner, whose n is E|alpha_i|^2 - 1/2).

    ``n`` (nt, N): <a_i^dag a_i>; ``pairs`` (P, 2) with i < j and ``re_aa`` (nt, P):
    Re<a_i a_j> = Re E[alpha_i alpha_j]; ``spins`` (samples, N) int8: sign of Re alpha_i at t[-1]
    per sample (0 for a diverged sample); ``diverged``: samples excluded (non-finite or beyond the
    divergence bound), never silently.  ``final_alpha``, ``final_alpha_plus`` (samples, N),
    ``keep_final`` only: the samples at t[-1] (NaN rows for diverged samples; Wigner:
    alpha^+ = conj alpha).  ``cond`` (``conditional`` only): per-group raw sample sums
    (G, nt, N, 2), last axis 0: Re alpha_i >= 0, 1: < 0 at that time, keys "count", "a" (sum
    alpha_i), "a2" (sum alpha_i^2), "n" (sum alpha_i^+ alpha_i, complex), in the samples'
    ``ordering`` (Wigner: "n" sums |alpha_i|^2, symmetric)."""

    t: np.ndarray
    n: np.ndarray
    n_err: np.ndarray
    pairs: np.ndarray
    re_aa: np.ndarray
    re_aa_err: np.ndarray
    spins: np.ndarray
    diverged: int
    samples: int
    groups: int
    dt: float
    ordering: str = "normal"
    method: str = "positive-p"
    seed: int = 0
    final_alpha: np.ndarray | None = None
    final_alpha_plus: np.ndarray | None = None
    cond: dict | None = None
    options: dict = field(default_factory=dict)


#: the positive-P result (same class; kept under its first name)
NetworkPositiveP = NetworkPhaseSpace


def _jackknife(sums, counts):
    """Means and jackknife errors from per-group sums (G, ...) and kept counts (G,)."""
    G = len(counts)
    shape = (G,) + (1,) * (sums.ndim - 1)
    tot, n = sums.sum(axis=0), counts.sum()
    mean = tot / n
    loo = (tot[None] - sums) / (n - counts).reshape(shape)
    err = np.sqrt((G - 1) / G * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    return mean, err


def _check_pairs(pairs, N):
    if pairs is None:
        if N * (N - 1) // 2 > 100_000:
            raise ValueError(f"pairs: all {N * (N - 1) // 2} pairs i < j is too many; pass pairs=(P, 2) indices")
        return np.array(np.triu_indices(N, 1), dtype=np.int64).T.copy()
    pairs = np.asarray(pairs)
    if pairs.size == 0:
        return np.zeros((0, 2), np.int64)
    if (pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer)
            or np.any(pairs < 0) or np.any(pairs >= N) or np.any(pairs[:, 0] >= pairs[:, 1])):
        raise ValueError(f"pairs must be a (P, 2) integer array of spin indices 0 <= i < j < N = {N}")
    return pairs.astype(np.int64)


def _check_bool(name, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def _edges(J, eta):
    """Upper-triangle edges (i, j), ec = sqrt(eta |J_ij|) / 2 and es = -sgn J_ij (Wigner noise)."""
    U = sp.triu(sp.csr_matrix(J), k=1).tocoo()
    keep = U.data != 0
    i, j, w = U.row[keep].astype(np.int64), U.col[keep].astype(np.int64), U.data[keep]
    return i, j, 0.5 * np.sqrt(eta * np.abs(w)), -np.sign(w)


def _check_resources(samples, G, N, nt, P, wigner, cond, keep_final, n_jobs):
    """Refuse (ResourceError naming the parameter) a run whose memory would not fit: per worker
    the group's state, its generators and its sums; in the main process the G group sums (and the
    jackknife's copies), the spins and the kept final samples.  The culprit named is the largest
    part."""
    B = -(-samples // G)
    copies = 3 * G + 2 * n_jobs  # sums: G groups, ~2 jackknife copies; 2 per worker
    parts = {"samples": WORKER_BASE * n_jobs + n_jobs * (16.0 * B * N * (4 if wigner else 6) + 32.0 * B)
             + samples * N,
             "keep_final": 32.0 * samples * N * keep_final,
             "conditional": copies * 56.0 * nt * N * 2 * cond,
             "pairs": copies * 8.0 * nt * P,
             "t": copies * 8.0 * nt * N}
    need = sum(parts.values())
    avail = MEMORY_FRACTION * available_memory()
    if need > avail:
        blame = max(parts, key=parts.get)
        raise ResourceError(f"{blame}: the network sampler would need about {need / 2**30:.3g} GiB, more than "
                            f"the {avail / 2**30:.3g} GiB available; use fewer samples or workers, fewer output "
                            "times t or pairs, or leave out conditional / keep_final")


@dataclass(frozen=True)
class _Spec:
    """Everything one group needs (pickled to the workers)."""

    wigner: bool
    p: BatteryParams
    indptr: np.ndarray
    indices: np.ndarray
    ldata: np.ndarray
    edges: tuple
    a0: np.ndarray
    h: np.ndarray
    sF: np.ndarray
    oidx: np.ndarray
    nt: int
    pairs: np.ndarray
    bound: float
    cond: bool
    keep_final: bool


def _run_group(spec: _Spec, ss, B: int):
    """Integrate one group of B samples from the SeedSequence child ``ss``; returns its sums."""
    out = _integrate(spec, ss, B, np.zeros(B, bool))
    died = ~out["alive"]
    if died.any():  # again without them, so that none of their moments enters any sum
        out = _integrate(spec, ss, B, died)
        if not np.array_equal(~out["alive"], died):  # pragma: no cover - paths are deterministic
            raise RuntimeError("network sampler: the repeated group did not reproduce its divergences")
    return out


def _streams(ss, B):
    """(B, 4) SFC64 states: sample k of the group draws from SeedSequence(ss.entropy,
    spawn_key = ss.spawn_key + (k,)) (a child of the group's sequence, made without spawning so
    that a repeated group gets the same streams)."""
    rs = np.empty((B, 4), np.uint64)
    for k in range(B):
        child = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (k,))
        rs[k] = np.random.SFC64(child).state["state"]["state"]
    return rs


def _integrate(spec: _Spec, ss, B, off):
    p, N, nt = spec.p, spec.a0.size, spec.nt
    gen = np.random.default_rng(ss)
    a = np.tile(spec.a0, (B, 1))
    b = np.zeros((B, N), complex)
    if spec.wigner:  # Wigner function of the coherent product state
        x = gen.standard_normal((B, N, 4)) * 0.5
        a += x[..., 0] + 1j * x[..., 1]
        b += x[..., 2] + 1j * x[..., 3]
    else:
        ap, bp = np.conj(a), np.conj(b)
    alive = ~off
    P = spec.pairs.shape[0]
    sn, saa = np.zeros((nt, N)), np.zeros((nt, P))
    cshape = (nt, N, 2) if spec.cond else (1, 1, 2)
    cc = np.zeros(cshape)
    ca, ca2, cn = (np.zeros(cshape, complex) for _ in range(3))
    i0, i1 = spec.pairs[:, 0].copy(), spec.pairs[:, 1].copy()
    rs = _streams(ss, B)
    args = (alive, rs, spec.h, spec.sF, spec.oidx, True, spec.indptr, spec.indices, spec.ldata)
    tail = (p.gamma_s, p.gamma_p, p.delta, p.kappa, complex(p.eps), spec.bound, i0, i1, sn, saa, spec.cond,
            cc, ca, ca2, cn)
    if spec.wigner:
        _kernels.wigner_block(a, b, *args, *spec.edges, *tail)
    else:
        _kernels.positive_p_block(a, ap, b, bp, *args, *tail)
    res = {"alive": alive, "kept": int(alive.sum()), "sn": sn, "saa": saa,
           "spins": np.where(alive[:, None], np.sign(a.real), 0).astype(np.int8)}
    if spec.cond:
        res["cond"] = {"count": cc, "a": ca, "a2": ca2, "n": cn}
    if spec.keep_final:
        fa = np.where(alive[:, None], a, np.nan)
        res["final"] = (fa, np.conj(fa) if spec.wigner else np.where(alive[:, None], ap, np.nan))
    return res


def _map(spec, children, sizes, n_jobs, backend, scheduler):
    """The groups' sums in group order (joblib over groups)."""
    tasks = list(zip(children, sizes))
    if n_jobs == 1 and backend != "dask":
        return [_run_group(spec, ss, int(B)) for ss, B in tasks]
    import contextlib

    import joblib

    from ..ensemble import _dask

    with contextlib.ExitStack() as stack:
        if backend == "dask":
            stack.enter_context(_dask(n_jobs, scheduler))
            stack.enter_context(joblib.parallel_config(backend="dask"))
            par = joblib.Parallel()
        else:
            par = joblib.Parallel(n_jobs=n_jobs, backend=backend)
        return par(joblib.delayed(_run_group)(spec, ss, int(B)) for ss, B in tasks)


def _sample(wigner, params, J, eta, t, samples, seed, dt, alpha_s0, pairs, max_diverged, divergence_bound,
            n_jobs, backend, scheduler, keep_final, conditional):
    name = "truncated_wigner" if wigner else "positive_p"
    p = _check_params(params)
    J = check_couplings(J)
    L = signed_laplacian(J)
    eta = _check_eta(eta)
    t = _check_times(t)
    samples = check_int("samples", samples, 2)
    seed = check_int("seed", seed, 0)
    dt = check_dt(dt)
    if p.nth_s != 0 or p.nth_p != 0:
        raise ValueError(f"params: nth_s and nth_p must be 0 for the network {name} (zero temperature "
                         "only); use the single-spin phasespace samplers for thermal baths")
    if not (isinstance(max_diverged, (int, float)) and 0 <= max_diverged <= 1):
        raise ValueError(f"max_diverged must be a number in [0, 1], got {max_diverged!r}")
    if not (isinstance(divergence_bound, (int, float)) and divergence_bound > 0):
        raise ValueError(f"divergence_bound must be a positive number, got {divergence_bound!r}")
    keep_final, conditional = _check_bool("keep_final", keep_final), _check_bool("conditional", conditional)
    n_jobs = check_int("n_jobs", n_jobs, 1)
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler is only used with backend='dask' (a Dask scheduler address or Client)")
    if backend != "dask":
        check_jobs(n_jobs)
    N = L.shape[0]
    a0 = _check_vector("alpha_s0", alpha_s0, N)
    pairs = _check_pairs(pairs, N)
    edges = _edges(J, eta)
    G = min(GROUPS, samples)
    _check_resources(samples, G, N, t.size, pairs.shape[0], wigner, conditional, keep_final,
                     1 if backend == "dask" and scheduler is not None else n_jobs)
    steps = (t[-1] - t[0]) / dt
    if not steps <= MAX_STEPS:
        raise ResourceError(f"dt: t[-1] - t[0] = {t[-1] - t[0]:g} in steps of {dt:g} is {steps:.3g} steps per sample, "
                            f"above the budget of {MAX_STEPS:.3g}; use a larger dt or a shorter time span")
    if not steps * samples * N * 4 <= MAX_WORK:
        raise ResourceError(f"samples: {samples} samples x {N} spins x {steps:.3g} steps is above the budget of "
                            f"{MAX_WORK:.3g} updates; use fewer samples, a larger dt or a shorter time span")
    if isinstance(scheduler, str):
        check_scheduler(scheduler)
    ts, h, oidx = plan(p, t, dt)
    Lk = sp.csr_matrix(0.5 * eta * sp.csr_matrix(L))
    Lk.eliminate_zeros()
    spec = _Spec(wigner=wigner, p=p, indptr=Lk.indptr.astype(np.int64), indices=Lk.indices.astype(np.int64),
                 ldata=Lk.data.astype(float), edges=edges, a0=a0, h=h, sF=pump(p, ts, h), oidx=oidx, nt=t.size,
                 pairs=pairs, bound=float(divergence_bound), cond=conditional, keep_final=keep_final)
    sizes = np.full(G, samples // G) + (np.arange(G) < samples % G)
    t0 = time.perf_counter()
    parts = _map(spec, np.random.SeedSequence(seed).spawn(G), sizes, n_jobs, backend, scheduler)
    elapsed = time.perf_counter() - t0
    kept = np.array([q["kept"] for q in parts], float)
    for g, q in enumerate(parts):
        if q["kept"] == 0:
            raise SamplesError(f"network {name}: all {sizes[g]} samples of group {g} diverged (positive-P far "
                               "above threshold or too large dt)")
    diverged = int(samples - kept.sum())
    if diverged > max_diverged * samples:
        raise SamplesError(f"network {name}: {diverged} of {samples} samples diverged (more than "
                           f"max_diverged = {max_diverged:g}); lower dt or the pump")
    n, n_err = _jackknife(np.stack([q["sn"] for q in parts]), kept)
    if wigner:
        n = n - 0.5  # symmetric -> normal order: |alpha|^2 <-> a^dag a + 1/2
    aa, aa_err = _jackknife(np.stack([q["saa"] for q in parts]), kept)
    res = NetworkPhaseSpace(
        t=t, n=n, n_err=n_err, pairs=pairs, re_aa=aa, re_aa_err=aa_err,
        spins=np.concatenate([q["spins"] for q in parts]), diverged=diverged, samples=samples, groups=G, dt=dt,
        ordering="symmetric" if wigner else "normal", method="wigner" if wigner else "positive-p", seed=seed,
        options={"eta": eta, "n_jobs": n_jobs, "backend": backend, "steps": int(h.size), "elapsed_s": elapsed,
                 "divergence_bound": float(divergence_bound), "max_diverged": float(max_diverged),
                 "scheme": "stochastic Heun, three-point increments"})
    if keep_final:
        res.final_alpha = np.concatenate([q["final"][0] for q in parts])
        res.final_alpha_plus = np.concatenate([q["final"][1] for q in parts])
    if conditional:
        res.cond = {k: np.stack([q["cond"][k] for q in parts]) for k in ("count", "a", "a2", "n")}
    return res


_PARAMS_DOC = """

    Parameters
    ----------
    params : BatteryParams
        Each spin's single-spin model (zero temperature).
    J : (N, N) array or scipy.sparse matrix
        Symmetric couplings, zero diagonal; edge channels sqrt(eta |J_ij|) (a_i - sgn J_ij a_j).
    eta : float >= 0
        Coupling rate.
    t : array_like
        Increasing output times.
    samples : int >= 2
        Number of samples.
    seed : int >= 0
        Group g of the G = min(20, samples) groups uses ``SeedSequence(seed).spawn(G)[g]``.
    dt : float
        Largest step (steps end on every output time and on the pump switch-off).
    alpha_s0 : complex or N-vector
        Coherent initial signal amplitudes (pumps in vacuum).
    pairs : (P, 2) int, optional
        Spin pairs i < j for Re<a_i a_j> (default all; refused beyond 1e5: pass the ones you need).
    max_diverged : float in [0, 1]
        ``SamplesError`` when more than this fraction of the samples, or a whole group, diverged.
    divergence_bound : float > 0
        A sample with a variable beyond this modulus (or not finite) counts as diverged.
    n_jobs : int
        Parallel groups (joblib).  The result does not depend on ``n_jobs``, ``backend`` or
        ``scheduler`` (bitwise).
    backend : {"loky", "threading", "dask"}
        joblib backend ("dask": a Dask cluster as in ``cimqb_traj.ensemble``).
    scheduler : str or distributed.Client, optional
        The Dask scheduler address or client.
    keep_final : bool
        Keep the samples at t[-1] (``final_alpha``, ``final_alpha_plus``).
    conditional : bool
        Keep per-group sums conditioned on the sign of Re alpha_i (``cond``).

    Returns
    -------
    NetworkPhaseSpace
"""


def positive_p(params: BatteryParams, J, eta, t, samples: int, seed: int, dt: float = 0.01, *,
               alpha_s0=0.0, pairs=None, max_diverged: float = 0.01, divergence_bound: float = 1e6,
               n_jobs: int = 1, backend: str = "loky", scheduler=None, keep_final: bool = False,
               conditional: bool = False) -> NetworkPhaseSpace:
    """Positive-P samples of the network (``network.sde``: the coupling adds the drift
    -(eta/2)(D - J) alpha on alpha and alpha^+ and no noise) from the coherent product state
    |alpha_s0> (x) |0>_pump, stochastic Heun; normally ordered moments."""
    return _sample(False, params, J, eta, t, samples, seed, dt, alpha_s0, pairs, max_diverged, divergence_bound,
                   n_jobs, backend, scheduler, keep_final, conditional)


def truncated_wigner(params: BatteryParams, J, eta, t, samples: int, seed: int, dt: float = 0.01, *,
                     alpha_s0=0.0, pairs=None, max_diverged: float = 0.01, divergence_bound: float = 1e6,
                     n_jobs: int = 1, backend: str = "loky", scheduler=None, keep_final: bool = False,
                     conditional: bool = False) -> NetworkPhaseSpace:
    """Truncated-Wigner samples of the network (module docstring: each edge adds complex noise
    correlated across its two spins, covariance (eta/2)(D - J) in all), from the Wigner function
    of |alpha_s0> (x) |0>_pump; ``ordering = "symmetric"``, but ``n`` and ``re_aa`` are the
    normally ordered quantum moments (n = E|alpha_i|^2 - 1/2)."""
    return _sample(True, params, J, eta, t, samples, seed, dt, alpha_s0, pairs, max_diverged, divergence_bound,
                   n_jobs, backend, scheduler, keep_final, conditional)


positive_p.__doc__ += _PARAMS_DOC
truncated_wigner.__doc__ += _PARAMS_DOC
