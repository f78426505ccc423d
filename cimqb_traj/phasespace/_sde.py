r"""Shared machinery of the phase-space samplers (positive-P and truncated Wigner).

Variables of one sample: z = (alpha_s, alpha_s^+, alpha_p, alpha_p^+) (complex), for the Wigner
method with alpha^+ = alpha^* along the whole path.  Equation, in Ito and Stratonovich form alike
(see below)::

    d alpha_s   = [-(gamma_s/2 + i Delta) alpha_s   + kappa alpha_s^+ alpha_p + eps] dt
                  + q sqrt(kappa alpha_p) dW_1 + c_s (dW_3 + i dW_4)
    d alpha_s^+ = [-(gamma_s/2 - i Delta) alpha_s^+ + kappa alpha_s alpha_p^+ + eps] dt
                  + q sqrt(kappa alpha_p^+) dW_2 + c_s (dW_3 - i dW_4)
    d alpha_p   = [-gamma_p/2 alpha_p   - kappa/2 alpha_s^2   + sqrt(gamma_p) F(t)] dt + c_p (dW_5 + i dW_6)
    d alpha_p^+ = [-gamma_p/2 alpha_p^+ - kappa/2 alpha_s^+^2 + sqrt(gamma_p) F(t)] dt + c_p (dW_5 - i dW_6)

with independent real Wiener processes dW_k.  Positive-P: q = 1, c_j = sqrt(gamma_j n_j / 2);
truncated Wigner: q = 0, c_j = sqrt(gamma_j (n_j + 1/2) / 2).  A noise pair is drawn only when
its coefficient is non-zero, in the order (dW_1, dW_2) [positive-P], (dW_3, dW_4) [c_s > 0],
(dW_5, dW_6) [c_p > 0].

Ito = Stratonovich.  The Stratonovich drift is A_i - 1/2 sum_{j,k} B_jk d_j B_ik.  The only
state-dependent noise coefficients are B_{alpha_s,1} = sqrt(kappa alpha_p) and
B_{alpha_s^+,2} = sqrt(kappa alpha_p^+); the noise k = 1 moves only alpha_s, on which
B_{alpha_s,1} does not depend (likewise k = 2), so every term of the sum vanishes, with or
without thermal noise on the pump.

Scheme: stochastic Heun (trapezoidal predictor-corrector) with three-point increments::

    z_bar   = z_n + A(z_n) h + B(z_n) dW
    z_{n+1} = z_n + [A(z_n) + A(z_bar)] h/2 + [B(z_n) + B(z_n + A(z_n) h)] dW/2.

Why this scheme.  The noise coefficients B depend only on the pump variables, and no noise
that moves the pump variables enters them at zero pump temperature (positive-P with n_p = 0;
truncated Wigner, whose noise is additive).  Then every supporting-value term of Platen's explicit
weak order 2.0 scheme (Kloeden & Platen, Numerical Solution of SDEs, Eq. 15.1.3) that involves
a derivative of B along a noise direction vanishes, and that scheme reduces exactly to the Heun
step above: weak order 2 (moments and Fock elements converge like h^2), strong order 1
(commutative noise).  With thermal pump noise the pump variables are noisy and the order drops
to weak 1, strong 1/2 (the step is still consistent: Ito = Stratonovich, and Heun converges to
the Stratonovich solution).  ``tests/test_phasespace.py`` measures both orders.  Weak order 2
admits any increments whose first five moments are Gaussian; the three-point law
dW = +-sqrt(3h) with probability 1/6 each, 0 with 2/3, costs half a 32-bit random word instead of
a Gaussian (4x cheaper here, see ``_three_point``).  At the paper's defaults the step
difference of <n_s> between h = 0.01 and 0.005 on shared paths is at most 0.002 +- 0.002 over
t = 0..40 (1e5 samples, validation/bench/README.md).  The step map for alpha^+ = alpha^* inputs
and conjugate noise is the exact (IEEE) conjugate of that for alpha, so a Wigner path keeps
alpha^+ = conj(alpha).

Fast path: with real initial amplitudes, real F, Delta = 0 and no thermal noise, the positive-P
equations keep every variable real as long as alpha_p, alpha_p^+ stay positive (their square
roots are then real); a sample is integrated in real arithmetic until a pump variable would go
negative, and in complex arithmetic from that step on (same numbers up to rounding).

Coupled step halving (``step_check``): ``coupling = "coarse"`` draws two half-step increments
per step and uses their sum (also an admissible weak order 2 increment: symmetric, Gaussian
variance and kurtosis), ``coupling = "fine"`` integrates the two half steps with them; the
two runs then follow the same noise paths and their difference has a small spread.

Time grid: every output time and the pump switch-off are step ends; an interval of length L is
cut into ceil(L / dt) equal steps (up to a 1e-9 rounding margin), so steps are <= dt; the pump
is evaluated at each step's midpoint (constant within a step).

Diverged and spiking samples.  A sample is *diverged* when a component becomes non-finite or
exceeds DIVERGENCE_SCALE / (kappa h) (h the step): there the drift's Jacobian times the step
(~ kappa |z| h) exceeds one, the Heun step no longer resolves the path, and a
quadratic SDE blows up within a few steps anyway.  A diverged sample stops being integrated and
is excluded from every sum (``GroupSums.n`` counts only the kept samples); a sample whose Fock
estimator is non-finite (exp(-alpha alpha^+) overflows on a wild excursion) is treated the same
way.  A sample is *spiking* when some component exceeds spike_bound at some step (a large
excursion that returned); it is kept and counted.
"""

from __future__ import annotations

import cmath
import math

import numba
import numpy as np

from ..errors import SamplesError
from ..params import BatteryParams
from ..problem import GroupSums, Problem, check_group_args, rng

#: A sample diverges when some |z| > DIVERGENCE_SCALE / (kappa h).
DIVERGENCE_SCALE = 1.0
#: Steps whose increments are drawn (and stored) at once.
_CHUNK = 4096
#: P(dW = +sqrt(h / (2 _P1))) = P(dW = -...) of the three-point increment (see _three_point).
_P1 = 715827883 / 2**32


@numba.njit(cache=True, nogil=True)
def _three_point(raw, scale, out):
    """out (m, J) <- three-point increments: value k = (6 u) >> 32 of the 32-bit half u of a
    raw word (two per word, high half first) gives +scale[s] (k = 0), -scale[s] (k = 1) or 0.
    k = 0 and k = 1 each take exactly 715827883 of the 2^32 words, so the law is exactly
    symmetric (odd moments 0); with scale = sqrt(h / (2 _P1)) its variance is exactly h and its
    kurtosis 3 up to 1e-9."""
    m, J = out.shape
    nw = (J + 1) // 2
    six = np.uint64(6)
    sh = np.uint64(32)
    lo = np.uint64(0xFFFFFFFF)
    for s in range(m):
        for j in range(J):
            w = raw[s * nw + j // 2]
            u = (w >> sh) if j % 2 == 0 else (w & lo)
            k = (u * six) >> sh
            out[s, j] = scale[s] if k == 0 else (-scale[s] if k == 1 else 0.0)


@numba.njit(inline="always")
def _drift(a, ap, b, bp, ds, dsc, gp, kappa, sF, eps):
    return (-ds * a + kappa * ap * b + eps, -dsc * ap + kappa * a * bp + eps,
            -0.5 * gp * b - 0.5 * kappa * a * a + sF, -0.5 * gp * bp - 0.5 * kappa * ap * ap + sF)


@numba.njit(cache=True, nogil=True)
def _advance(z, dW, h, sF, oidx, out, alive, spiked, gs, gp, delta, kappa, eps, pp, cs, cp, bound, spike):
    """Heun steps (module docstring) for samples z (B, 4) over dW.shape[1] steps; dW (B, steps, J)
    increments; h, sF (= sqrt(gamma_p) F) per step; after step s, if oidx[s] >= 0, store z into
    out[:, oidx[s]].  Dead samples (alive False) are left alone."""
    B = z.shape[0]
    ds = 0.5 * gs + 1j * delta
    dsc = 0.5 * gs - 1j * delta
    hg = 0.5 * gs
    real_ok = pp and delta == 0.0 and cs == 0.0 and cp == 0.0
    for c in range(B):
        if not alive[c]:
            continue
        a, ap, b, bp = z[c, 0], z[c, 1], z[c, 2], z[c, 3]
        real = real_ok and a.imag == 0.0 and ap.imag == 0.0 and b.imag == 0.0 and bp.imag == 0.0
        ar, apr, br, bpr = a.real, ap.real, b.real, bp.real
        for s in range(dW.shape[1]):
            hs = h[s]
            f = sF[s]
            if real:
                w1 = dW[c, s, 0]
                w2 = dW[c, s, 1]
                fa, fap, fb, fbp = _drift(ar, apr, br, bpr, hg, hg, gp, kappa, f, eps)
                b1 = br + fb * hs
                bp1 = bpr + fbp * hs
                if br < 0.0 or bpr < 0.0 or b1 < 0.0 or bp1 < 0.0:
                    real = False  # a square root turns imaginary: go on in complex arithmetic
                    a, ap, b, bp = complex(ar), complex(apr), complex(br), complex(bpr)
                else:
                    ga = math.sqrt(kappa * br)
                    gap = math.sqrt(kappa * bpr)
                    a1 = ar + fa * hs + ga * w1
                    ap1 = apr + fap * hs + gap * w2
                    ga = 0.5 * (ga + math.sqrt(kappa * b1))
                    gap = 0.5 * (gap + math.sqrt(kappa * bp1))
                    fa1, fap1, fb1, fbp1 = _drift(a1, ap1, b1, bp1, hg, hg, gp, kappa, f, eps)
                    ar = ar + 0.5 * (fa + fa1) * hs + ga * w1
                    apr = apr + 0.5 * (fap + fap1) * hs + gap * w2
                    br = br + 0.5 * (fb + fb1) * hs
                    bpr = bpr + 0.5 * (fbp + fbp1) * hs
                    m = max(abs(ar), abs(apr), abs(br), abs(bpr))
            if not real:
                j = 0
                w1 = 0.0
                w2 = 0.0
                if pp:
                    w1 = dW[c, s, 0]
                    w2 = dW[c, s, 1]
                    j = 2
                na = 0j
                nap = 0j
                if cs > 0.0:
                    na = cs * (dW[c, s, j] + 1j * dW[c, s, j + 1])
                    nap = cs * (dW[c, s, j] - 1j * dW[c, s, j + 1])
                    j += 2
                nb = 0j
                nbp = 0j
                if cp > 0.0:
                    nb = cp * (dW[c, s, j] + 1j * dW[c, s, j + 1])
                    nbp = cp * (dW[c, s, j] - 1j * dW[c, s, j + 1])
                fa, fap, fb, fbp = _drift(a, ap, b, bp, ds, dsc, gp, kappa, f, eps)
                b1 = b + fb * hs + nb
                bp1 = bp + fbp * hs + nbp
                ga = 0j
                gap = 0j
                gb = 0j
                gbp = 0j
                if pp:
                    ga = cmath.sqrt(kappa * b)
                    gap = cmath.sqrt(kappa * bp)
                    # B at z_n + A h: the pump variables without their noise
                    gb = cmath.sqrt(kappa * (b + fb * hs))
                    gbp = cmath.sqrt(kappa * (bp + fbp * hs))
                a1 = a + fa * hs + ga * w1 + na
                ap1 = ap + fap * hs + gap * w2 + nap
                fa1, fap1, fb1, fbp1 = _drift(a1, ap1, b1, bp1, ds, dsc, gp, kappa, f, eps)
                a = a + 0.5 * (fa + fa1) * hs + 0.5 * (ga + gb) * w1 + na
                ap = ap + 0.5 * (fap + fap1) * hs + 0.5 * (gap + gbp) * w2 + nap
                b = b + 0.5 * (fb + fb1) * hs + nb
                bp = bp + 0.5 * (fbp + fbp1) * hs + nbp
                m = max(abs(a), abs(ap), abs(b), abs(bp))
            if not (m <= bound):  # also catches NaN
                alive[c] = False
                break
            if m > spike:
                spiked[c] = True
            if oidx[s] >= 0:
                k = oidx[s]
                if real:
                    out[c, k, 0] = ar
                    out[c, k, 1] = apr
                    out[c, k, 2] = br
                    out[c, k, 3] = bpr
                else:
                    out[c, k, 0] = a
                    out[c, k, 1] = ap
                    out[c, k, 2] = b
                    out[c, k, 3] = bp
        if real:
            a, ap, b, bp = complex(ar), complex(apr), complex(br), complex(bpr)
        z[c, 0], z[c, 1], z[c, 2], z[c, 3] = a, ap, b, bp


@numba.njit(cache=True, nogil=True)
def _pp_factors(x, y, u, v):
    """u[m] = x^m / sqrt(m!), v[n] = y^n / sqrt(n!) and e = exp(-x y), so that e u[m] v[n] is
    the positive-P estimator of <m|rho|n>; returns e, or nan when some product could overflow."""
    N = u.shape[0]
    e = cmath.exp(-x * y)
    u[0] = 1.0
    v[0] = 1.0
    mu = 1.0
    mv = 1.0
    for m in range(1, N):
        u[m] = u[m - 1] * x / math.sqrt(m)
        v[m] = v[m - 1] * y / math.sqrt(m)
        mu = max(mu, abs(u[m]))
        mv = max(mv, abs(v[m]))
    if not (abs(e) * mu * mv < 1e300):  # also catches inf and nan
        return complex(math.nan, 0.0)
    return e


@numba.njit(cache=True, nogil=True)
def _wigner_fock(x, N, X):
    """X[m, n] = Weyl symbol of |n><m| at alpha = x, so that E_W[X] = <m|rho|n>:
    X[n+k, n] = 2 (-1)^n sqrt(n!/(n+k)!) (2 x)^k exp(-2|x|^2) L_n^(k)(4|x|^2), X[n, n+k] its
    conjugate."""
    r = 4.0 * (x.real * x.real + x.imag * x.imag)
    e = math.exp(-0.5 * r)
    pk = 1.0 + 0j  # (2x)^k / sqrt(k!)
    for k in range(N):
        if k > 0:
            pk = pk * 2.0 * x / math.sqrt(k)
        # n = 0
        f = 1.0  # sqrt(n! k! / (n+k)!)
        L0 = 1.0
        L1 = 1.0 + k - r
        for n in range(N - k):
            if n == 0:
                L = L0
            elif n == 1:
                L = L1
            else:
                L = ((2 * n - 1 + k - r) * L1 - (n - 1 + k) * L0) / n
                L0 = L1
                L1 = L
            if n > 0:
                f = f * math.sqrt(n / (n + k))
            val = 2.0 * (-1.0 if n % 2 else 1.0) * f * pk * e * L
            X[n + k, n] = val
            X[n, n + k] = val.conjugate()


@numba.njit(cache=True, nogil=True)
def _outer_add(R, e, u, v):
    """R[i, j] += e u[i] v[j]."""
    N = u.shape[0]
    for i in range(N):
        w = e * u[i]
        for j in range(N):
            R[i, j] += w * v[j]


@numba.njit(cache=True, nogil=True)
def _accumulate(out, alive, pp, Rs, Ro, mom):
    """Add the kept samples of ``out`` (B, nt, 4), in order, to Rs (nt, Ns, Ns), Ro (nt, Np, Np)
    and mom (7, nt) = sums of the records ``MOMENTS`` (normal order).  Positive-P estimators are added as they are (not Hermitian per sample): the caller
    Hermitises the group's sums, (S + S^dag)/2, which keeps the mean (rho is Hermitian) and
    lowers the variance.  A sample with a non-finite (or overflowing) estimate is marked dead
    and not added.  Returns the number of samples added."""
    B, nt = out.shape[0], out.shape[1]
    Ns, Np = Rs.shape[1], Ro.shape[1]
    Ts = np.empty((nt, Ns, Ns), np.complex128)  # Wigner estimators
    To = np.empty((nt, Np, Np), np.complex128)
    us = np.empty((nt, Ns), np.complex128)  # positive-P factors
    vs = np.empty((nt, Ns), np.complex128)
    uo = np.empty((nt, Np), np.complex128)
    vo = np.empty((nt, Np), np.complex128)
    es = np.empty(nt, np.complex128)
    eo = np.empty(nt, np.complex128)
    Tm = np.empty((7, nt), np.complex128)
    added = 0
    for c in range(B):
        if not alive[c]:
            continue
        ok = True
        for k in range(nt):
            a, ap, b, bp = out[c, k, 0], out[c, k, 1], out[c, k, 2], out[c, k, 3]
            if pp:
                es[k] = _pp_factors(a, ap, us[k], vs[k])
                eo[k] = _pp_factors(b, bp, uo[k], vo[k])
                ok = ok and math.isfinite(es[k].real) and math.isfinite(eo[k].real)
                Tm[0, k] = ap * a
                Tm[3, k] = bp * b
            else:
                _wigner_fock(a, Ns, Ts[k])  # bounded by 2: always finite for finite a
                _wigner_fock(b, Np, To[k])
                Tm[0, k] = ap * a - 0.5  # symmetric -> normal order
                Tm[3, k] = bp * b - 0.5
            Tm[1, k] = a * a  # a^2 is its own Weyl symbol: no conversion
            Tm[2, k] = a
            Tm[4, k] = b
            # quadrature density P(x) = <x|rho_s|x> at x = 0 and its second derivative (see
            # MOMENTS); positive-P: exact kernel of |alpha><alpha^+*| / <alpha^+*|alpha>,
            # centre c = (alpha + alpha^+)/sqrt 2; Wigner: Gaussian kernel of width _KDE_SIGMA
            if pp:
                cc = (a + ap) * _SQRT_HALF
                g = cmath.exp(-cc * cc) * _INV_SQRT_PI
                Tm[5, k] = g
                Tm[6, k] = (4.0 * cc * cc - 2.0) * g
            else:
                x = (a.real + ap.real) * _SQRT_HALF
                s2 = _KDE_SIGMA * _KDE_SIGMA
                g = math.exp(-0.5 * x * x / s2) / math.sqrt(2.0 * math.pi * s2)
                Tm[5, k] = g
                Tm[6, k] = (x * x / s2 - 1.0) / s2 * g
            for i in range(7):
                if not (math.isfinite(Tm[i, k].real) and math.isfinite(Tm[i, k].imag)):
                    ok = False
        if not ok:
            alive[c] = False
            continue
        added += 1
        for k in range(nt):
            if pp:
                _outer_add(Rs[k], es[k], us[k], vs[k])
                _outer_add(Ro[k], eo[k], uo[k], vo[k])
            else:
                Rs[k] += Ts[k]
                Ro[k] += To[k]
            for i in range(7):
                mom[i, k] += Tm[i, k]
    return added


#: Record names: normally ordered moments <a_s^dag a_s>, <a_s^2>, <a_s>, <a_p^dag a_p>, <a_p>, then
#: the signal quadrature density at x = 0 and its second derivative, P(0) and P''(0), x =
#: (a_s + a_s^dag)/sqrt 2.  Positive-P: unbiased, since the x-representation of the projector
#: |alpha><alpha^+*| / <alpha^+*|alpha> is exp(-(x - c)^2) / sqrt(pi) with c = (alpha + alpha^+)/sqrt 2.
#: Truncated Wigner: the Wigner function's x-marginal IS P(x), but a density needs a kernel:
#: Gaussian of width _KDE_SIGMA, i.e. P convolved with N(0, _KDE_SIGMA^2) (the vacuum's own
#: variance is 1/2, 8x larger), a small bias towards unimodality.
MOMENTS = ("a_dag_a", "a2", "a", "n_p", "a_p", "P0", "P2")
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
#: Kernel width (in x) of the Wigner quadrature density.
_KDE_SIGMA = 0.25


def check_dt(dt) -> float:
    try:
        v = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a real number, got {dt!r}") from None
    if isinstance(dt, (bool, np.bool_)) or not (math.isfinite(v) and v > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    return v


def check_fraction(name, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {v!r}") from None
    if isinstance(v, (bool, np.bool_)) or not (0.0 <= f <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
    return f


def check_positive(name, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {v!r}") from None
    if isinstance(v, (bool, np.bool_)) or not (f > 0):  # inf allowed: no bound
        raise ValueError(f"{name} must be a positive number, got {v!r}")
    return f


def plan(params: BatteryParams, t: np.ndarray, dt: float):
    """Step starts, step lengths h and output index after each step (-1: none)."""
    ends = set(float(x) for x in t[1:]) | set(params.cuts(float(t[0]), float(t[-1])))
    ts, h, oidx = [], [], []
    prev = float(t[0])
    for e in sorted(ends):
        n = max(1, math.ceil((e - prev) / dt - 1e-9))
        hs = (e - prev) / n
        ts.extend(prev + i * hs for i in range(n))
        h.extend([hs] * n)
        oidx.extend([-1] * n)
        hit = np.flatnonzero(t == e)
        if hit.size:
            oidx[-1] = int(hit[0])
        prev = e
    return np.array(ts), np.array(h), np.array(oidx, dtype=np.int64)


def pump(params: BatteryParams, ts, h) -> np.ndarray:
    """sqrt(gamma_p) F at the midpoint of each step (F is constant within a step)."""
    return np.array([math.sqrt(params.gamma_p) * params.F_at(s + 0.5 * d) for s, d in zip(ts, h)])


def split(ts, h, oidx):
    """The plan with every step cut in two equal halves."""
    ts2 = np.stack([ts, ts + 0.5 * h], axis=1).ravel()
    o2 = np.stack([np.full_like(oidx, -1), oidx], axis=1).ravel()
    return ts2, np.repeat(0.5 * h, 2), o2


def coherent_amplitudes(problem: Problem):
    """(alpha_s0, alpha_p0) of a product-coherent initial state psi0 = |a_s> (x) |a_p>
    (truncated and normalised), or ValueError.  Amplitudes from the ratios c_10/c_00 and c_01/c_00;
    accepted when the fidelity with the truncated coherent product is >= 1 - 1e-8."""
    if len(problem.p0) != 1:
        raise ValueError("problem: phase-space methods need a pure initial state (a coherent state)")
    Ns, No = problem.dims
    M = problem.psi0[0].reshape(Ns, No)
    if abs(M[0, 0]) < 1e-8:
        raise ValueError("problem: the initial state must be a product of coherent states (psi0[0,0] = 0)")
    a, b = M[1, 0] / M[0, 0], M[0, 1] / M[0, 0]

    def coh(x, N):
        v = np.empty(N, complex)
        v[0] = 1.0
        for n in range(1, N):
            v[n] = v[n - 1] * x / math.sqrt(n)
        return v / np.linalg.norm(v)

    ref = np.kron(coh(a, Ns), coh(b, No))
    fid = abs(np.vdot(ref, problem.psi0[0])) ** 2
    if fid < 1 - 1e-8:
        raise ValueError("problem: phase-space methods need a product of coherent states as the initial "
                         f"state (fidelity with the closest one is {fid:.6g})")
    return complex(a), complex(b)


def check_problem(problem: Problem, ids, seed):
    ids = check_group_args(problem, ids, seed, unit="sample")
    if problem.kind != "charge" or not isinstance(problem.info.get("params"), BatteryParams):
        raise ValueError("problem: phase-space methods solve the charging problem only (charge_problem)")
    return ids


def spike_default(p: BatteryParams, dims) -> float:
    """Default spike bound: 10 x the larger of sqrt(max(Ns, Np)) (the amplitudes the Fock estimates
    resolve) and the mean-field amplitude scale: |alpha_p| <= 2 |F| / sqrt(gamma_p) (the undepleted
    pump) and |alpha_s|^2 <= (2/kappa) sqrt(gamma_p) |F| (the above-threshold fixed point without
    its negative term; Delta, eps and baths only lower it or add O(1)), plus the seed's linear
    response (2 |eps| / gamma_s)^2."""
    scale = max(max(dims), 4 * p.F**2 / p.gamma_p if p.gamma_p > 0 else 0.0)
    if p.kappa > 0 and p.gamma_p > 0:
        scale = max(scale, 2 / p.kappa * math.sqrt(p.gamma_p) * abs(p.F))
    if p.gamma_s > 0:
        scale = max(scale, (2 * abs(p.eps) / p.gamma_s) ** 2)
    return 10 * math.sqrt(scale)


def run_group(method, problem: Problem, ids, seed: int, positive_p: bool) -> GroupSums:
    """Integrate samples ``ids`` of ``problem`` (shared by PositiveP and Wigner)."""
    ids = check_problem(problem, ids, seed)
    p: BatteryParams = problem.info["params"]
    sums = GroupSums.zeros(problem)
    nt = len(problem.t)
    mom = np.zeros((len(MOMENTS), nt), complex)
    rec = {"samples": int(ids.size), "diverged": 0, "spiking": 0}
    if ids.size == 0:
        sums.records.append({**rec, **{k: mom[i].copy() for i, k in enumerate(MOMENTS)}})
        return sums
    a0, b0 = coherent_amplitudes(problem)
    t = np.asarray(problem.t, dtype=float)
    ts, h, oidx = plan(p, t, method.dt)  # the steps the noise is drawn for
    coupling = getattr(method, "coupling", None)
    r = 2 if coupling is not None else 1  # half steps drawn per step
    kts, kh, ko = split(ts, h, oidx) if coupling == "fine" else (ts, h, oidx)  # the steps taken
    ksF = pump(p, kts, kh)
    q = len(kh) // len(h)  # steps taken per drawn step
    if positive_p:
        cs, cp = math.sqrt(p.gamma_s * p.nth_s / 2), math.sqrt(p.gamma_p * p.nth_p / 2)
    else:
        cs, cp = math.sqrt(p.gamma_s * (p.nth_s + 0.5) / 2), math.sqrt(p.gamma_p * (p.nth_p + 0.5) / 2)
    J = 2 * (int(positive_p) + int(cs > 0) + int(cp > 0))
    nw = (J + 1) // 2  # random words per increment set
    bound = DIVERGENCE_SCALE / (p.kappa * kh.max()) if p.kappa > 0 else math.inf
    bound = min(bound, method.divergence_bound)
    spike = method.spike_bound if method.spike_bound is not None else spike_default(p, problem.dims)
    scale = np.repeat(np.sqrt(h / r / (2 * _P1)), r)  # of the r draws per step
    paths_a, paths_ap = [], []
    for start in range(0, ids.size, method.batch):
        block = ids[start:start + method.batch]
        B = block.size
        gens = [rng(int(seed), int(k)) for k in block]
        z = np.empty((B, 4), complex)
        z[:, 0], z[:, 1], z[:, 2], z[:, 3] = a0, np.conj(a0), b0, np.conj(b0)
        if not positive_p:  # Wigner function of the coherent state: alpha0 + (x + i y) / 2
            for c, g in enumerate(gens):
                x = g.standard_normal(4) * 0.5
                z[c, 0] += complex(x[0], x[1])
                z[c, 2] += complex(x[2], x[3])
            z[:, 1], z[:, 3] = np.conj(z[:, 0]), np.conj(z[:, 2])
        out = np.empty((B, nt, 4), complex)
        out[:, 0] = z
        alive = np.ones(B, bool)
        spiked = np.zeros(B, bool)
        for s0 in range(0, h.size, _CHUNK):
            m = min(_CHUNK, h.size - s0)
            draws = np.zeros((B, m * r, J))
            if J:
                for c, g in enumerate(gens):
                    _three_point(g.bit_generator.random_raw(m * r * nw), scale[s0 * r:(s0 + m) * r], draws[c])
            dW = draws.reshape(B, m, r, J).sum(axis=2) if coupling == "coarse" else draws
            k0, k1 = s0 * q, (s0 + m) * q
            _advance(z, dW, kh[k0:k1], ksF[k0:k1], ko[k0:k1], out, alive, spiked,
                     p.gamma_s, p.gamma_p, p.delta, p.kappa, p.eps, positive_p, cs, cp, bound, spike)
        added = _accumulate(out, alive, positive_p, sums.rho_s, sums.rho_o, mom)
        if getattr(method, "paths", False):  # kept samples' signal variables at the output times
            paths_a.append(out[alive, :, 0])
            paths_ap.append(out[alive, :, 1])
        sums.n += added
        rec["diverged"] += B - added
        rec["spiking"] += int(np.sum(spiked & alive))
        sums.steps += kh.size * B
    if positive_p:  # Hermitise the sums (see _accumulate)
        sums.rho_s[:] = 0.5 * (sums.rho_s + np.conj(np.swapaxes(sums.rho_s, 1, 2)))
        sums.rho_o[:] = 0.5 * (sums.rho_o + np.conj(np.swapaxes(sums.rho_o, 1, 2)))
    rec.update({k: mom[i].copy() for i, k in enumerate(MOMENTS)})
    if getattr(method, "paths", False):
        rec["alpha_s"], rec["alpha_s_plus"] = np.concatenate(paths_a), np.concatenate(paths_ap)
    sums.records.append(rec)
    if sums.n == 0:
        raise SamplesError(
            f"{method.name}: all {ids.size} samples of the group {ids[0]}..{ids[-1]} diverged; nothing to "
            "average (positive-P far above threshold / strong nonlinearity, or too large dt)")
    if rec["diverged"] > method.max_diverged * ids.size:
        raise SamplesError(
            f"{method.name}: {rec['diverged']} of {ids.size} samples diverged in the group of samples "
            f"{ids[0]}..{ids[-1]} (bound: a fraction max_diverged = {method.max_diverged:g}); the "
            "phase-space averages are not reliable here (positive-P above threshold or too large dt)")
    return sums


def final_states(params: BatteryParams, dW: np.ndarray, T: float, positive_p: bool, z0=None) -> np.ndarray:
    """Test entry point for given noise: integrate from z0 (B, 4) (default the vacuum point) over
    [0, T] in dW.shape[1] equal steps driven by dW (B, steps, J), J the noise count of the method
    (``run_group``'s order), pump on; no divergence checks.  Returns z(T) (B, 4)."""
    dW = np.ascontiguousarray(dW, dtype=float)
    B, m, J = dW.shape
    p = params
    if positive_p:
        cs, cp = math.sqrt(p.gamma_s * p.nth_s / 2), math.sqrt(p.gamma_p * p.nth_p / 2)
    else:
        cs, cp = math.sqrt(p.gamma_s * (p.nth_s + 0.5) / 2), math.sqrt(p.gamma_p * (p.nth_p + 0.5) / 2)
    if J != 2 * (int(positive_p) + int(cs > 0) + int(cp > 0)):
        raise ValueError(f"dW must have {2 * (int(positive_p) + int(cs > 0) + int(cp > 0))} noises, got {J}")
    z = np.zeros((B, 4), complex) if z0 is None else np.array(z0, dtype=complex)
    h = np.full(m, T / m)
    _advance(z, dW, h, np.full(m, math.sqrt(p.gamma_p) * p.F), -np.ones(m, np.int64),
             np.zeros((B, 1, 4), complex), np.ones(B, bool), np.zeros(B, bool), p.gamma_s, p.gamma_p,
             p.delta, p.kappa, p.eps, positive_p, cs, cp, math.inf, math.inf)
    return z
