r"""The network battery: per-spin energy, ergotropy W and its coherent / incoherent split, their
totals over the spins and the charging power (issue 14, point 4).

Each spin's battery is its signal mode with H_i = omega a_i^dag a_i (omega = 1: photon numbers,
PHYSICS.md).  Per spin the reduced signal state rho_i = Tr_{all but a_i} rho gives E_i, W_i, W_c,i,
W_i,i (``ergotropy.ergotropy_parts``); the totals are the sums over spins of these LOCAL quantities
(not the ergotropy of the global N-spin state, which can exceed the sum); the average charging
power is P(t) = W_total(t) / t.

Three routes:

* :func:`exact_work` (small N): the reduced states of the exact network state (the solver of
  ``network.exact``, same Hamiltonian, channels and piecewise-constant F(t)).
* homodyne trajectories (N = 2..3): ``network.trajectories.homodyne(...).work``, the reduced states
  of the trajectory-averaged joint signal state, jackknife errors over the groups.
* :func:`work_from_conditional` (any N): the Gaussian-moment approximation from phase-space
  sums conditioned on the sign of Re alpha_i (module section below), with jackknife errors over
  the sampler's groups.

Gaussian-moment approximation
-----------------------------
Above threshold a spin's state is close to an incoherent mixture of two near-Gaussian lobes at
+-alpha_0; a single Gaussian with the mixture's moments misses this (its ergotropy is off by
O(sqrt(n))).  The reduced state is modelled as

    rho_i ~ p_+ G(mu_+(lam), C_+ + (1 - lam^2) B) + p_- G(mu_-(lam), C_- + (1 - lam^2) B),

with p_+-, mu_+-, C_+- the weight, mean <a> and covariance of the samples with Re alpha_i >= 0
(index 0) and < 0 (index 1) (converted to operator moments: normal order for positive-P, the
symmetric moments of truncated Wigner less the 1/2 of <a^dag a>), B = p_+ p_- d d^T the between-lobe
covariance (d = mu_+ - mu_-), and mu_+-(lam) = mu_bar + lam (mu_+- - mu_bar).  For every lam in
[0, 1] the mixture has exactly the samples' first and second moments (law of total covariance);
lam = 1 is the plain sign-conditioned mixture, lam = 0 two Gaussians at the common mean (one
Gaussian when C_+ = C_-, e.g. below threshold by symmetry).  lam is the largest value <= lam_b
for which both components are physical (det of the (x, p) covariance >= 1/4;
x = (a + a^dag)/sqrt 2; lam_b itself where no lam in [0, 1] achieves that), and lam_b measures
bimodality: b / V, the fraction of the x variance
(symmetric order) that lies between the two halves, against r_G(z) = phi(z)^2 / (Phi(z) Phi(-z)),
the fraction a single Gaussian of the same mean and variance (z = <x>/sqrt V) gives when cut at
x = 0::

    lam_b^2 = clip((b/V - r_G) / (1 - r_G), 0, 1).

Hence a Gaussian state split along x returns (almost, up to sampling) itself, and two well
separated lobes (b/V -> 1) the two-Gaussian mixture.  r_G is exact for a Wigner split; for
positive-P samples (whose x spread is the normally ordered one) b/V is smaller, so the rule leans
towards the single Gaussian there.  A component that is unphysical even at lam = 0 (sampling
noise, positive-P's non-physical conditional moments) keeps lam_b and gets the least isotropic noise s I that
makes det = 1/4 (counted in ``truncation['projected']``).  Where it holds and by how much it
misses: validation/network/E_battery.md (the exact single-spin states against this model built
from their own Wigner half-plane moments).

Each component is built in a Fock basis by the Gaussian kernel's recursion (:func:`gaussian_fock`)
with a cut K chosen from the components' photon-number mean and spread and enlarged (x 1.5) until
the energy the cut misses (known exactly from the moments) is below ``trunc_tol`` / 10 of max(E, omega).
The reported energy is the exact one of the sums, <a^dag a> omega; W, W_c, W_i are those of the
cut state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from .. import truncation as trunc
from ..ergotropy import average_power, ergotropy_parts
from ..errors import Refused

__all__ = ["NetworkWork", "gaussian_fock", "gaussian_mixture", "conditional_sums", "work_from_conditional",
           "exact_work", "wigner_conditional", "K_MAX"]

#: largest Fock cut of the Gaussian build (refused beyond: per-spin photon numbers of ~ 300)
K_MAX = 600
#: spins built together (memory: CHUNK * 2 components * K^2 complex numbers)
CHUNK = 64
QUANTITIES = ("energy", "W", "W_c", "W_i")
#: between / within variance ratio of the halves from which the lobes count as separated (lam = 1):
#: two Gaussian lobes at +-d with variance w have R = d^2 / w, and a fraction Phi(-sqrt R) of each
#: lobe lies across x = 0 (1.3e-3 at R = 9)
R_SEPARATED = 9.0
#: where the model is supported (validation/network/E_battery.md, the exact single-spin states
#: against the model built from their own Wigner half-planes): lam <= LAM_GAUSSIAN, a near-Gaussian
#: state (W within 1.5 % at lam <= 0.16, 3 % low from lam = 0.23), or lam >= LAM_SEPARATED, separated
#: lobes (W within 0.4 %, W_c / W_i within 2.5 %); in between the state is neither, W is 3-13 % low
#: and W_i is erased (52 % low at lam = 0.979 for the mixture of |+-4>)
LAM_GAUSSIAN = 0.2
LAM_SEPARATED = 0.999


@dataclass(frozen=True)
class NetworkWork:
    """Per-spin and total battery quantities of a network (module docstring), in units of omega.

    ``energy``, ``W``, ``W_c``, ``W_i``: (nt, N); ``*_total``: (nt,) sums over spins; ``*_err``:
    jackknife standard errors (None for the exact route); ``lam`` (nt, N): the split parameter of
    the Gaussian model (None for the exact route); ``truncation``: the Fock-cut verdict dict
    (``truncation.assess``); ``supported`` (nt, N): where the Gaussian model holds (lam <=
    LAM_GAUSSIAN or >= LAM_SEPARATED; None for the exact route) and ``model``: its verdict dict
    (``status`` "ok" / "partial" / "unsupported", ``unsupported`` count, ``reason``).  Where the
    model is unsupported W, W_c, W_i and the totals that include such a spin are NaN unless
    ``allow_unsupported`` was set; ``energy`` is exact from the sums everywhere.  ``power`` = W_total / t (NaN at t = 0)."""

    t: np.ndarray
    energy: np.ndarray
    W: np.ndarray
    W_c: np.ndarray
    W_i: np.ndarray
    energy_total: np.ndarray
    W_total: np.ndarray
    W_c_total: np.ndarray
    W_i_total: np.ndarray
    method: str
    omega: float = 1.0
    energy_err: np.ndarray | None = None
    W_err: np.ndarray | None = None
    W_c_err: np.ndarray | None = None
    W_i_err: np.ndarray | None = None
    energy_total_err: np.ndarray | None = None
    W_total_err: np.ndarray | None = None
    W_c_total_err: np.ndarray | None = None
    W_i_total_err: np.ndarray | None = None
    lam: np.ndarray | None = None
    truncation: dict = field(default_factory=dict)
    supported: np.ndarray | None = None
    model: dict = field(default_factory=dict)

    @property
    def power(self) -> np.ndarray:
        """Average charging power P(t) = W_total(t) / t (NaN at t = 0)."""
        return average_power(self.t, self.W_total)

    @property
    def power_err(self) -> np.ndarray | None:
        """Standard error of ``power`` (None for the exact route)."""
        return None if self.W_total_err is None else average_power(self.t, self.W_total_err)


# ---------------------------------------------------------------- Gaussian states in a Fock basis

def gaussian_fock(mu, N, M, K: int) -> np.ndarray:
    r"""Fock matrix <m|rho|n> (m, n < K) of the Gaussian state with <a> = mu,
    <a^dag a> - |mu|^2 = N and <a^2> - mu^2 = M (normally ordered), batched over leading axes.

    Derivation: the Husimi function of a Gaussian state is a Gaussian with anti-normally ordered
    covariance (N + 1, M); <beta|rho|beta'> exp((|beta|^2 + |beta'|^2)/2) is analytic in
    u = conj(beta), v = beta' and equals pi Q(beta) e^{|beta|^2} on u = conj(v), so it is
    T exp(b_1 u + b_2 v + (A_11 u^2 + 2 A_12 u v + A_22 v^2) / 2) with d = (N + 1)^2 - |M|^2,
    A_11 = M / d, A_22 = conj(M) / d, A_12 = 1 - (N + 1) / d, b_1 = ((N + 1) mu - M conj(mu)) / d,
    b_2 = conj(b_1), ln T = -ln(d)/2 - ((N + 1)|mu|^2 - Re(M conj(mu)^2)) / d.  Its Taylor
    coefficients times sqrt(m! n!) are rho_mn, which obey
    sqrt(m+1) rho_{m+1,n} = b_1 rho_mn + A_11 sqrt(m) rho_{m-1,n} + A_12 sqrt(n) rho_{m,n-1}
    and the same in n with (b_2, A_22).  Requires N >= 0, |M|^2 <= N (N + 1) (a physical state)."""
    mu, N, M = np.broadcast_arrays(np.asarray(mu, complex), np.asarray(N, float), np.asarray(M, complex))
    K = int(K)
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    n1 = N + 1.0
    d = n1**2 - np.abs(M) ** 2
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError("gaussian_fock: covariance not normalisable ((N + 1)^2 <= |M|^2 or not finite)")
    A11, A12 = M / d, 1.0 - n1 / d
    b1 = (n1 * mu - M * np.conj(mu)) / d
    logT = -0.5 * np.log(d) - (n1 * np.abs(mu) ** 2 - (M * np.conj(mu) ** 2).real) / d
    if np.any(logT < -700):
        raise Refused("gaussian_fock: <0|rho|0> underflows (more than ~700 photons in a component); "
                      "this Fock build does not reach such states")
    out = np.zeros(mu.shape + (K, K), complex)
    sq = np.sqrt(np.arange(K + 1.0))
    out[..., 0, 0] = np.exp(logT)
    for m in range(K - 1):  # first column
        nxt = b1 * out[..., m, 0]
        if m:
            nxt = nxt + A11 * sq[m] * out[..., m - 1, 0]
        out[..., m + 1, 0] = nxt / sq[m + 1]
    b2, A22 = np.conj(b1)[..., None], np.conj(A11)[..., None]
    A12c = A12[..., None] * sq[:K]  # A_12 sqrt(m) over the rows m
    for n in range(K - 1):  # columns n + 1 from n, n - 1
        nxt = b2 * out[..., :, n]
        if n:
            nxt = nxt + A22 * sq[n] * out[..., :, n - 1]
        nxt[..., 1:] += A12c[..., 1:] * out[..., :-1, n]
        out[..., :, n + 1] = nxt / sq[n + 1]
    return 0.5 * (out + np.conj(np.swapaxes(out, -1, -2)))


def _xp(N, M):
    """(x, p) covariance (symmetric order, vacuum I/2) from the normally ordered N, M: (Vxx, Vpp, Vxp)."""
    return N + 0.5 + M.real, N + 0.5 - M.real, M.imag


def _nm(Vxx, Vpp, Vxp):
    return 0.5 * (Vxx + Vpp - 1.0), 0.5 * (Vxx - Vpp) + 1j * Vxp


def _photon_var(mu, N, M):
    """Var(a^dag a) of a Gaussian state (normally ordered N, M)."""
    return N * (N + 1) + np.abs(M) ** 2 + np.abs(mu) ** 2 * (2 * N + 1) + 2 * (np.conj(mu) ** 2 * M).real


def gaussian_mixture(p, mu, N, M):
    """The two-lobe model of the module docstring from conditional moments.

    Parameters
    ----------
    p, mu, N, M : arrays (..., 2)
        Per lobe (last axis: Re alpha >= 0, < 0) the weight, <a>, and the normally ordered
        covariances N = <a^dag a> - |mu|^2, M = <a^2> - mu^2 of the conditional moments.

    Returns
    -------
    mu, N, M : arrays (..., 2)
        The components' parameters (physical: N >= 0, |M|^2 <= N (N + 1)).
    lam : array (...)
        The split parameter in [0, 1].
    projected : array (...) of bool
        Where a component needed the isotropic projection.
    """
    p, mu, N, M = (np.asarray(x) for x in (p, mu, N, M))
    pp = p[..., 0] * p[..., 1]
    mbar = (p * mu).sum(-1)
    dmu = mu[..., 0] - mu[..., 1]
    # bimodality: between / within variance of x = sqrt(2) Re alpha (symmetric order) against the
    # value R_G a single Gaussian of the same mean and variance gives when cut at x = 0
    Ntot = (p * (N + np.abs(mu) ** 2)).sum(-1) - np.abs(mbar) ** 2
    Mtot = (p * (M + mu**2)).sum(-1) - mbar**2
    V = np.maximum(_xp(Ntot, Mtot)[0], 1e-300)
    b = 2 * pp * dmu.real ** 2
    z = math.sqrt(2) * mbar.real / np.sqrt(V)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rG = np.exp(-z**2) / (2 * np.pi) / (ndtr(z) * ndtr(-z))
        RG = np.where(np.isfinite(rG) & (rG < 1), rG / (1 - rG), 0.0)
        R = b / np.maximum(V - b, 1e-300)
        lam_b2 = np.clip((R - RG) / (R_SEPARATED - RG), 0.0, 1.0)
    # physicality: det(S + t pp v v^T) = det S + t pp v^T adj(S) v >= 1/4, linear in t = 1 - lam^2
    Vxx, Vpp, Vxp = _xp(N, M)
    vx, vp = math.sqrt(2) * dmu.real, math.sqrt(2) * dmu.imag
    det = Vxx * Vpp - Vxp**2
    slope = pp[..., None] * (Vpp * vx[..., None] ** 2 - 2 * Vxp * (vx * vp)[..., None] + Vxx * vp[..., None] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tmin = np.where(det >= 0.25, 0.0, np.where(slope > 0, (0.25 - det) / slope, np.inf))
    tmin = tmin.max(-1)
    # physicality caps the split where lowering lam can restore it; where even lam = 0 cannot, the
    # defect is in a lobe's own covariance (sampling noise, positive-P's conditional moments): keep
    # lam_b and project that lobe below
    t = np.where(tmin <= 1, np.maximum(1 - lam_b2, tmin), 1 - lam_b2)
    lam = np.sqrt(1 - t)
    mu_c = mbar[..., None] + lam[..., None] * (mu - mbar[..., None])
    Bxx, Bpp, Bxp = pp * vx**2, pp * vp**2, pp * vx * vp
    Sxx, Spp, Sxp = (Vxx + (t * Bxx)[..., None], Vpp + (t * Bpp)[..., None], Vxp + (t * Bxp)[..., None])
    det = Sxx * Spp - Sxp**2
    tr = Sxx + Spp
    bad = (det < 0.25) | (Sxx <= 0) | (Spp <= 0)
    root = 0.5 * (-tr + np.sqrt(np.maximum(tr**2 - 4 * (det - 0.25), 0.0)))  # det(S + s I) = 1/4
    s = np.where(bad, np.maximum(root, 0.0) * (1 + 1e-9) + 1e-12, 0.0)
    Nc, Mc = _nm(Sxx + s, Spp + s, Sxp)
    return mu_c, np.maximum(Nc, 0.0), Mc, lam, bad.any(-1)


# ---------------------------------------------------------------- conditional sums

def conditional_sums(alpha, alpha_plus=None, groups: int = 20) -> dict:
    """Per-group sums conditioned on the sign of Re alpha from raw samples, in the layout of the
    network samplers' ``result.cond`` (dict of arrays (G, nt, N, 2); last axis 0: Re alpha >= 0,
    1: < 0; keys ``count``, ``a`` = sum alpha, ``a2`` = sum alpha^2, ``n`` = sum Re(alpha^+ alpha)).

    Parameters
    ----------
    alpha : complex array (samples, nt, N)
    alpha_plus : complex array like ``alpha``, optional
        Positive-P's alpha^+ (default conj(alpha): truncated Wigner, for which ``n`` is |alpha|^2,
        symmetrically ordered).
    groups : int
        Consecutive blocks of samples (jackknife groups); at most the number of samples.
    """
    a = np.asarray(alpha, complex)
    if a.ndim != 3:
        raise ValueError(f"alpha must have shape (samples, nt, N), got {a.shape}")
    ap = np.conj(a) if alpha_plus is None else np.asarray(alpha_plus, complex)
    if ap.shape != a.shape:
        raise ValueError(f"alpha_plus must have alpha's shape {a.shape}, got {ap.shape}")
    G = int(groups)
    if not 1 <= G <= a.shape[0]:
        raise ValueError(f"groups must be between 1 and the number of samples {a.shape[0]}, got {groups!r}")
    side = np.stack([a.real >= 0, a.real < 0], axis=-1)
    vals = {"count": np.ones(a.shape), "a": a, "a2": a**2, "n": (ap * a).real}
    blocks = np.array_split(np.arange(a.shape[0]), G)
    return {k: np.stack([(v[idx, ..., None] * side[idx]).sum(0) for idx in blocks]) for k, v in vals.items()}


def _check_cond(result):
    for name in ("t", "cond", "ordering"):
        if not hasattr(result, name):
            raise ValueError(f"result must have .t, .cond and .ordering (a network sampler run with "
                             f"conditional=True), missing .{name}")
    cond = result.cond
    if not isinstance(cond, dict) or set(cond) < {"count", "a", "a2", "n"}:
        raise ValueError("result.cond must be a dict with keys count, a, a2, n (run the sampler with conditional=True)")
    shape = np.shape(cond["count"])
    if len(shape) != 4 or shape[-1] != 2 or any(np.shape(cond[k]) != shape for k in ("a", "a2", "n")):
        raise ValueError(f"result.cond arrays must all have shape (G, nt, N, 2), got {shape}")
    if shape[1] != len(result.t):
        raise ValueError(f"result.cond has {shape[1]} times but result.t has {len(result.t)}")
    if result.ordering not in ("normal", "symmetric"):
        raise ValueError(f"result.ordering must be 'normal' or 'symmetric', got {result.ordering!r}")
    return cond


def wigner_conditional(rho, extent: float | None = None, points: int = 256) -> dict:
    """The sign-conditioned sums an ideal truncated-Wigner sampler would converge to: integrals
    of the Wigner function of ``rho`` (K x K, or a stack (nt, K, K)) over the half-planes
    Re alpha >= 0 and < 0 of 1, alpha, alpha^2, |alpha|^2 (symmetric order), in the layout of
    :func:`conditional_sums` with one group and one spin: (1, nt, 1, 2).

    The grid is cell-centred (no point on Re alpha = 0), ``points`` per axis over
    |Re alpha|, |Im alpha| <= ``extent`` (default 2 sqrt(K) + 4, beyond the cut's reach)."""
    import qutip

    r = np.asarray(rho.full() if hasattr(rho, "full") else rho, complex)
    r = r[None] if r.ndim == 2 else r
    K = r.shape[-1]
    L = 2 * math.sqrt(K) + 4 if extent is None else float(extent)
    h = 2 * L / points
    x = -L + h * (np.arange(points) + 0.5)
    X, Y = np.meshgrid(x, x, indexing="ij")  # X: Re alpha, Y: Im alpha
    al = X + 1j * Y
    vals = {"count": np.ones_like(X), "a": al, "a2": al**2, "n": np.abs(al) ** 2}
    side = [X >= 0, X < 0]
    out = {k: np.zeros((1, len(r), 1, 2), complex if k in ("a", "a2") else float) for k in vals}
    for j, rj in enumerate(r):
        # qutip: W(xq, yq) with alpha = (xq + i yq) / sqrt(2), normalised over d xq d yq = 2 d^2 alpha
        W = qutip.wigner(qutip.Qobj(rj), math.sqrt(2) * x, math.sqrt(2) * x).T * 2 * h * h
        for k, v in vals.items():
            for s in (0, 1):
                out[k][0, j, 0, s] = (W * v * side[s]).sum() if k in ("a", "a2") else (W * v * side[s]).sum().real
    return out


# ---------------------------------------------------------------- the Gaussian-moment route

def _lobes(c, a, a2, n, ordering):
    """Conditional (p, mu, N, M) from summed count, alpha, alpha^2, alpha^+ alpha (..., 2)."""
    c, n = np.real(c), np.real(n)  # real sums, whatever dtype the sampler stored them in
    if ordering == "symmetric":
        n = n - 0.5 * c  # <a^dag a> = <|alpha|^2>_W - 1/2
    tot = c.sum(-1, keepdims=True)
    p = c / tot
    safe = np.where(c > 0, c, 1.0)
    mu, m2, mn = a / safe, a2 / safe, n / safe
    N, M = mn - np.abs(mu) ** 2, m2 - mu**2
    empty = c == 0  # an empty lobe (weight 0) borrows the other lobe's moments
    for x in (mu, N, M):
        x[..., 0] = np.where(empty[..., 0], x[..., 1], x[..., 0])
        x[..., 1] = np.where(empty[..., 1], x[..., 0], x[..., 1])
    return p, mu, N, M


def _work_chunk(c, a, a2, n, ordering, omega, tol):
    """Energy, W, W_c, W_i, lam, the missing-energy ratio, top-level population, projections for
    one chunk of spins (arrays (..., 2))."""
    p, mu, N, M = _lobes(c, a, a2, n, ordering)
    mu_c, N_c, M_c, lam, proj = gaussian_mixture(p, mu, N, M)
    En = np.abs(mu_c) ** 2 + N_c
    K = int(np.ceil(np.max(En + 6 * np.sqrt(_photon_var(mu_c, N_c, M_c))))) + 8
    while True:
        if K > K_MAX:
            raise Refused(f"network battery: the Gaussian build needs a Fock cut above K_MAX = {K_MAX} "
                          f"(per-spin photon numbers ~ {float(np.max(En)):.0f}); not supported")
        rho = (p[..., None, None] * gaussian_fock(mu_c, N_c, M_c, K)).sum(-3)
        parts = ergotropy_parts(rho, omega * np.arange(K))
        Eexact = omega * (p * En).sum(-1)
        miss = float(np.max((Eexact - parts.energy) / np.maximum(Eexact, omega))) if Eexact.size else 0.0
        if tol == 0 or miss <= 0.1 * tol:
            break
        K = int(1.5 * K)
    top = float(np.max(np.abs(rho[..., -1, -1]))) if rho.size else 0.0
    E = omega * (p * (N + np.abs(mu) ** 2)).sum(-1)  # exact from the sums, whatever the cut
    return (E, parts.W, parts.W_c, parts.W_i), lam, miss, top, proj


def _evaluate(S, ordering, omega, tol):
    """Per-spin quantities (4, nt', N), lam, worst missing energy, top level, projections."""
    nt, N = S["count"].shape[:2]
    out = np.empty((4, nt, N))
    lam = np.empty((nt, N))
    miss, top, proj = 0.0, 0.0, 0
    for k in range(nt):
        for lo in range(0, N, CHUNK):
            sl = slice(lo, lo + CHUNK)
            q, l, m, tp, pj = _work_chunk(*(S[x][k, sl] for x in ("count", "a", "a2", "n")), ordering, omega, tol)
            out[:, k, sl] = q
            lam[k, sl] = l
            miss, top, proj = max(miss, m), max(top, tp), proj + int(pj.sum())
    return out, lam, miss, top, proj


def work_from_conditional(result, omega: float = 1.0, *, times=None, trunc_tol: float = trunc.TRUNC_TOL,
                          jackknife: bool = True, allow_unsupported: bool = False) -> NetworkWork:
    """Per-spin and total battery quantities from a network sampler's sign-conditioned sums,
    in the Gaussian-moment approximation (module docstring).

    Parameters
    ----------
    result : object with ``t``, ``cond``, ``ordering``
        A network sampler run with ``conditional=True`` (``cond``: per-group sums (G, nt, N, 2);
        ``ordering``: "normal" (positive-P) or "symmetric" (truncated Wigner)), or any object
        holding :func:`conditional_sums` output in these attributes.
    omega : float
        Signal frequency (energy ladder n omega).
    times : array_like, optional
        Evaluate only at these times (each must be one of ``result.t``); default all.  The cost is
        one Fock build per spin, time and jackknife group: restrict the times for N ~ 1000.
    trunc_tol : float
        The Fock cut is enlarged until it misses at most trunc_tol / 10 of max(E, omega) of the
        energy; the verdict (``truncation.assess``: ok / warn / refused) is ``result.truncation``
        (0 disables the guard and keeps the first cut).
    jackknife : bool
        Standard errors by leave-one-group-out (G + 1 evaluations); False: errors are None.
    allow_unsupported : bool
        Keep the model's W, W_c, W_i where it is unsupported (LAM_GAUSSIAN < lam < LAM_SEPARATED:
        near threshold, neither Gaussian nor two separated lobes; W 3-13 % low, W_i erased) instead
        of NaN; for studies of the model itself.  ``model`` says where either way.
    """
    cond = _check_cond(result)
    if not isinstance(allow_unsupported, bool):
        raise ValueError(f"allow_unsupported must be a bool, got {allow_unsupported!r}")
    if not (isinstance(omega, (int, float, np.integer, np.floating)) and math.isfinite(omega) and omega > 0):
        raise ValueError(f"omega must be a finite number > 0, got {omega!r}")
    tol = trunc.check_tol(trunc_tol)
    t_all = np.asarray(result.t, float)
    if times is None:
        idx = np.arange(t_all.size)
    else:
        want = np.atleast_1d(np.asarray(times, float))
        idx = np.array([int(np.argmin(np.abs(t_all - x))) for x in want], dtype=int)
        if want.size == 0 or np.any(np.abs(t_all[idx] - want) > 1e-9 * np.maximum(1, np.abs(want))):
            raise ValueError("times must be a non-empty subset of result.t")
    sums = {k: np.asarray(cond[k])[:, idx] for k in ("count", "a", "a2", "n")}
    G = sums["count"].shape[0]
    total = {k: v.sum(0) for k, v in sums.items()}
    if np.any(total["count"].sum(-1) == 0):
        raise ValueError("result.cond holds no samples at some time / spin (count 0)")
    q, lam, miss, top, proj = _evaluate(total, result.ordering, float(omega), tol)
    tot = q.sum(-1)
    errs, terrs = [None] * 4, [None] * 4
    if jackknife and G >= 2:
        loo = np.empty((G,) + q.shape)
        for g in range(G):
            loo[g] = _evaluate({k: total[k] - sums[k][g] for k in sums}, result.ordering, float(omega), tol)[0]
        fac = (G - 1) / G
        e = np.sqrt(fac * ((loo - loo.mean(0)) ** 2).sum(0))
        lt = loo.sum(-1)
        te = np.sqrt(fac * ((lt - lt.mean(0)) ** 2).sum(0))
        errs, terrs = list(e), list(te)
    verdict = trunc.assess(tol, "energy the Fock cut of the Gaussian build misses (exact from the moments)",
                           miss, float(t_all[idx][0]), None, top_s=top, hint="(K_MAX bounds the cut)")
    verdict["projected"] = proj
    if tol:
        trunc.enforce(verdict)
    ok = (lam <= LAM_GAUSSIAN) | (lam >= LAM_SEPARATED)
    model = _model_verdict(ok, lam)
    if not allow_unsupported:
        bad, bad_t = ~ok, ~ok.all(-1)
        for k in (1, 2, 3):
            q[k][bad] = np.nan
            tot[k][bad_t] = np.nan
            if errs[k] is not None:
                errs[k][bad] = np.nan
                terrs[k][bad_t] = np.nan
    return NetworkWork(t=t_all[idx], energy=q[0], W=q[1], W_c=q[2], W_i=q[3], energy_total=tot[0],
                       W_total=tot[1], W_c_total=tot[2], W_i_total=tot[3], method="gaussian-moments",
                       omega=float(omega), energy_err=errs[0], W_err=errs[1], W_c_err=errs[2], W_i_err=errs[3],
                       energy_total_err=terrs[0], W_total_err=terrs[1], W_c_total_err=terrs[2],
                       W_i_total_err=terrs[3], lam=lam, truncation=verdict, supported=ok, model=model)


def _model_verdict(ok, lam) -> dict:
    """Where the two-lobe Gaussian model holds (``LAM_GAUSSIAN``, ``LAM_SEPARATED``)."""
    n_bad = int((~ok).sum())
    if n_bad == 0:
        return {"status": "ok", "unsupported": 0, "reason": ""}
    span = lam[~ok]
    reason = (f"Gaussian-moment work unsupported for {n_bad} of {ok.size} (time, spin) entries: split "
              f"parameter lam in [{span.min():.2f}, {span.max():.2f}], between {LAM_GAUSSIAN} (Gaussian) and "
              f"{LAM_SEPARATED} (separated lobes): lobes neither Gaussian nor separated (near threshold, during "
              "the growth, or lam scattered by few samples); there W is up to 13 % low and W_i erased: use "
              "the exact or trajectory solvers (small N), more samples, later times or a pump further above "
              "threshold")
    return {"status": "unsupported" if ok.sum() == 0 else "partial", "unsupported": n_bad, "reason": reason}


# ---------------------------------------------------------------- the exact route

def exact_work(params, J, eta, t, Ns: int | None = None, Np: int | None = None, *, omega: float | None = None,
               trunc_tol: float = trunc.TRUNC_TOL) -> NetworkWork:
    """Per-spin battery quantities from the exact network state (``network.exact``: modes
    s0, p0, s1, p1, ...; qutip ``mesolve`` from the vacuum with F(t) piecewise constant).

    ``omega`` defaults to ``params.omega_s``.  The verdict only checks the top-level
    populations of each spin's signal and pump (a fixed-truncation run; compare two (Ns, Np)
    yourself to bound the error)."""
    import qutip

    from ..exact import ATOL, RTOL, _segments, check_times
    from .exact import _setup, network_operators
    from .. import model

    p, Jd, eta, N = _setup(params, J, eta, Ns, Np)
    omega = p.omega_s if omega is None else float(omega)
    tol = trunc.check_tol(trunc_tol)
    t = check_times(t)
    rho = qutip.tensor([model.vacuum(p)] * N)
    _, c_ops, _ = network_operators(p, Jd, eta)
    states = []
    for start, stop, F, t_seg in _segments(p, t):
        H = network_operators(p.replace(F=F, t_off=None, t_ramp=None), Jd, eta)[0]
        grid = np.unique(np.concatenate([[start], t_seg, [stop]]))
        res = qutip.mesolve(H, rho, grid, c_ops, options={"store_states": True, "atol": ATOL,
                                                          "rtol": RTOL, "nsteps": 100000})
        states += [s for s, tt in zip(res.states, grid) if np.isin(tt, t_seg)]
        rho = res.states[-1]
    rs = np.array([[s.ptrace(2 * i).full() for i in range(N)] for s in states])
    rp = np.array([[s.ptrace(2 * i + 1).full() for i in range(N)] for s in states])
    q = ergotropy_parts(rs, omega * np.arange(p.Ns))
    verdict = trunc.assess(tol, "fixed truncation: top-level populations only", None,
                           top_s=rs[..., -1, -1].real, top_p=rp[..., -1, -1].real)
    if tol:
        trunc.enforce(verdict)
    return NetworkWork(t=t, energy=q.energy, W=q.W, W_c=q.W_c, W_i=q.W_i, energy_total=q.energy.sum(-1),
                       W_total=q.W.sum(-1), W_c_total=q.W_c.sum(-1), W_i_total=q.W_i.sum(-1),
                       method="exact", omega=omega, truncation=verdict)
