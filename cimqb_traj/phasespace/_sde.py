r"""Shared machinery of the phase-space samplers (positive-P and truncated Wigner).

Variables of one sample: z = (alpha_s, alpha_s^+, alpha_p, alpha_p^+) (complex), for the Wigner
method with alpha^+ = alpha^* along the whole path.  Equation, in Ito and Stratonovich form alike
(see below)::

    d alpha_s   = [-(gamma_s/2 + i Delta) alpha_s   + kappa alpha_s^+ alpha_p  ] dt
                  + q sqrt(kappa alpha_p) dW_1 + c_s (dW_3 + i dW_4)
    d alpha_s^+ = [-(gamma_s/2 - i Delta) alpha_s^+ + kappa alpha_s alpha_p^+ ] dt
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

Scheme: semi-implicit midpoint (Drummond & Mortimer, J. Comput. Phys. 93, 144 (1991)): per step
of length h with increments dW ~ N(0, h),

    z_m <- z_n;  repeat ITERATIONS times:  z_m <- z_n + 1/2 [A(z_m) h + B(z_m) dW];
    z_{n+1} = 2 z_m - z_n,

which converges to the Stratonovich solution (hence here to the Ito one) with weak order 1; its
implicitness damps the instabilities of explicit Euler near the large excursions that
positive-P paths make.  Three iterations are the usual choice (two already give the order; the
third widens the stable region).  Strong order: 1 where the noise is additive or commutative
(truncated Wigner; positive-P at zero temperature, whose noise coefficients depend only on the
noise-free pump variables), 1/2 with thermal pump noise (then sqrt(kappa alpha_p) is driven by
noise and the Levy areas the scheme ignores matter).  ``tests/test_phasespace.py`` measures
0.93, 0.40 and 1.00 (mean successive-refinement slopes over 8 sets of 256 shared paths).  The step map for alpha^+ = alpha^* inputs and conjugate noise
is the exact (IEEE) conjugate of that for alpha, so a Wigner path keeps alpha^+ = conj(alpha).

Time grid: every output time and the pump switch-off are step ends; an interval of length L is
cut into ceil(L / dt) equal steps (up to a 1e-9 rounding margin), so steps are <= dt; the pump
is evaluated at each step's midpoint (constant within a step).

Diverged and spiking samples.  A sample is *diverged* when a component becomes non-finite or
exceeds DIVERGENCE_SCALE / (kappa h) (h the step): there the drift's Jacobian times the step
(~ kappa |z| h) exceeds one, the midpoint iteration no longer resolves the path, and a
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

from ..params import BatteryParams
from ..trajectories.base import GroupSums, Problem, rng

#: Fixed-point iterations of the semi-implicit midpoint step.
ITERATIONS = 3
#: A sample diverges when some |z| > DIVERGENCE_SCALE / (kappa h).
DIVERGENCE_SCALE = 1.0
#: Steps whose Gaussian increments are drawn (and stored) at once.
_CHUNK = 4096


@numba.njit(cache=True, nogil=True)
def _advance(z, dW, h, sF, oidx, out, alive, spiked, gs, gp, delta, kappa, pp, cs, cp, bound,
             spike, iters):
    """Advance samples z (B, 4) by dW.shape[0] steps; dW (B, steps, J) increments (already
    scaled by sqrt(h)); h, sF (= sqrt(gamma_p) F) per step; after step s, if oidx[s] >= 0,
    store z into out[:, oidx[s]].  Dead samples (alive False) are left alone."""
    B = z.shape[0]
    ds = 0.5 * gs + 1j * delta
    dsc = 0.5 * gs - 1j * delta
    for c in range(B):
        if not alive[c]:
            continue
        a, ap, b, bp = z[c, 0], z[c, 1], z[c, 2], z[c, 3]
        for s in range(dW.shape[1]):
            hs = h[s]
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
            am, apm, bm, bpm = a, ap, b, bp
            da = dap = db = dbp = 0j
            for _ in range(iters):
                da = (-ds * am + kappa * apm * bm) * hs + na
                dap = (-dsc * apm + kappa * am * bpm) * hs + nap
                if pp:
                    da += cmath.sqrt(kappa * bm) * w1
                    dap += cmath.sqrt(kappa * bpm) * w2
                db = (-0.5 * gp * bm - 0.5 * kappa * am * am + sF[s]) * hs + nb
                dbp = (-0.5 * gp * bpm - 0.5 * kappa * apm * apm + sF[s]) * hs + nbp
                am = a + 0.5 * da
                apm = ap + 0.5 * dap
                bm = b + 0.5 * db
                bpm = bp + 0.5 * dbp
            a = a + da
            ap = ap + dap
            b = b + db
            bp = bp + dbp
            m = max(abs(a), abs(ap), abs(b), abs(bp))
            if not (m <= bound):  # also catches NaN
                alive[c] = False
                break
            if m > spike:
                spiked[c] = True
            if oidx[s] >= 0:
                k = oidx[s]
                out[c, k, 0] = a
                out[c, k, 1] = ap
                out[c, k, 2] = b
                out[c, k, 3] = bp
        z[c, 0], z[c, 1], z[c, 2], z[c, 3] = a, ap, b, bp


@numba.njit(cache=True, nogil=True)
def _pp_fock(x, y, N, X):
    """X[m, n] = exp(-x y) x^m y^n / sqrt(m! n!) (positive-P estimator of <m|rho|n>)."""
    e = cmath.exp(-x * y)
    u = np.empty(N, np.complex128)
    v = np.empty(N, np.complex128)
    u[0] = 1.0
    v[0] = 1.0
    for m in range(1, N):
        u[m] = u[m - 1] * x / math.sqrt(m)
        v[m] = v[m - 1] * y / math.sqrt(m)
    for m in range(N):
        for n in range(N):
            X[m, n] = e * u[m] * v[n]


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
def _accumulate(out, alive, pp, Rs, Ro, mom):
    """Add the kept samples of ``out`` (B, nt, 4), in order, to Rs (nt, Ns, Ns), Ro (nt, Np, Np)
    and mom (5, nt) = sums of <a_s^dag a_s>, <a_s^2>, <a_s>, <a_p^dag a_p>, <a_p> in normal
    order.  Positive-P estimators are Hermitised per sample, (X + X^dag)/2 (unbiased: E[X] is
    Hermitian).  A sample with a non-finite estimate is marked dead and not added.
    Returns the number of samples added."""
    B, nt = out.shape[0], out.shape[1]
    Ns, Np = Rs.shape[1], Ro.shape[1]
    Ts = np.empty((nt, Ns, Ns), np.complex128)
    To = np.empty((nt, Np, Np), np.complex128)
    Tm = np.empty((5, nt), np.complex128)
    added = 0
    for c in range(B):
        if not alive[c]:
            continue
        ok = True
        for k in range(nt):
            a, ap, b, bp = out[c, k, 0], out[c, k, 1], out[c, k, 2], out[c, k, 3]
            if pp:
                _pp_fock(a, ap, Ns, Ts[k])
                _pp_fock(b, bp, Np, To[k])
                Tm[0, k] = ap * a
                Tm[3, k] = bp * b
            else:
                _wigner_fock(a, Ns, Ts[k])
                _wigner_fock(b, Np, To[k])
                Tm[0, k] = ap * a - 0.5  # symmetric -> normal order
                Tm[3, k] = bp * b - 0.5
            Tm[1, k] = a * a  # a^2 is its own Weyl symbol: no conversion
            Tm[2, k] = a
            Tm[4, k] = b
        for k in range(nt):
            for i in range(5):
                if not (math.isfinite(Tm[i, k].real) and math.isfinite(Tm[i, k].imag)):
                    ok = False
            for i in range(Ns):
                for j in range(Ns):
                    v = Ts[k, i, j]
                    if not (math.isfinite(v.real) and math.isfinite(v.imag)):
                        ok = False
            for i in range(Np):
                for j in range(Np):
                    v = To[k, i, j]
                    if not (math.isfinite(v.real) and math.isfinite(v.imag)):
                        ok = False
        if not ok:
            alive[c] = False
            continue
        added += 1
        for k in range(nt):
            for i in range(Ns):
                for j in range(Ns):
                    if pp:
                        Rs[k, i, j] += 0.5 * (Ts[k, i, j] + Ts[k, j, i].conjugate())
                    else:
                        Rs[k, i, j] += Ts[k, i, j]
            for i in range(Np):
                for j in range(Np):
                    if pp:
                        Ro[k, i, j] += 0.5 * (To[k, i, j] + To[k, j, i].conjugate())
                    else:
                        Ro[k, i, j] += To[k, i, j]
            for i in range(5):
                mom[i, k] += Tm[i, k]
    return added


MOMENTS = ("a_dag_a", "a2", "a", "n_p", "a_p")


def check_dt(dt) -> float:
    try:
        v = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a real number, got {dt!r}") from None
    if isinstance(dt, (bool, np.bool_)) or not (math.isfinite(v) and v > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    return v


def check_int(name, v, low) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


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
    """Step lengths h, sqrt(gamma_p) F per step and output index after each step (-1: none)."""
    ends = set(float(x) for x in t[1:])
    if params.t_off is not None and t[0] < params.t_off < t[-1]:
        ends.add(float(params.t_off))
    h, sF, oidx = [], [], []
    prev = float(t[0])
    for e in sorted(ends):
        n = max(1, math.ceil((e - prev) / dt - 1e-9))
        hs = (e - prev) / n
        for i in range(n):
            h.append(hs)
            sF.append(math.sqrt(params.gamma_p) * params.F_at(prev + (i + 0.5) * hs))
            oidx.append(-1)
        hit = np.flatnonzero(t == e)
        if hit.size:
            oidx[-1] = int(hit[0])
        prev = e
    return np.array(h), np.array(sF), np.array(oidx, dtype=np.int64)


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
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a Problem, got {type(problem).__name__}")
    if problem.kind != "charge" or not isinstance(problem.info.get("params"), BatteryParams):
        raise ValueError("problem: phase-space methods solve the charging problem only (charge_problem)")
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError("ids must be a 1-D array of sample indices")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return ids


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
    h, sF, oidx = plan(p, t, method.dt)
    if positive_p:
        cs, cp = math.sqrt(p.gamma_s * p.nth_s / 2), math.sqrt(p.gamma_p * p.nth_p / 2)
    else:
        cs, cp = math.sqrt(p.gamma_s * (p.nth_s + 0.5) / 2), math.sqrt(p.gamma_p * (p.nth_p + 0.5) / 2)
    J = 2 * (int(positive_p) + int(cs > 0) + int(cp > 0))
    bound = DIVERGENCE_SCALE / (p.kappa * h.max()) if p.kappa > 0 else math.inf
    bound = min(bound, method.divergence_bound)
    spike = method.spike_bound if method.spike_bound is not None else 10 * math.sqrt(max(problem.dims))
    sq = np.sqrt(h)
    Ns, No = problem.dims
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
            dW = np.empty((B, m, J))
            if J:
                for c, g in enumerate(gens):
                    g.standard_normal((m, J), out=dW[c])
                dW *= sq[None, s0:s0 + m, None]
            _advance(z, dW, h[s0:s0 + m], sF[s0:s0 + m], oidx[s0:s0 + m], out, alive, spiked,
                     p.gamma_s, p.gamma_p, p.delta, p.kappa, positive_p, cs, cp, bound, spike,
                     ITERATIONS)
        added = _accumulate(out, alive, positive_p, sums.rho_s, sums.rho_o, mom)
        sums.n += added
        rec["diverged"] += B - added
        rec["spiking"] += int(np.sum(spiked & alive))
        sums.steps += h.size * B
    rec.update({k: mom[i].copy() for i, k in enumerate(MOMENTS)})
    sums.records.append(rec)
    if sums.n == 0:
        raise RuntimeError(
            f"{method.name}: all {ids.size} samples of the group {ids[0]}..{ids[-1]} diverged; nothing to "
            "average (positive-P far above threshold / strong nonlinearity, or too large dt)")
    if rec["diverged"] > method.max_diverged * ids.size:
        raise RuntimeError(
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
             p.delta, p.kappa, positive_p, cs, cp, math.inf, math.inf, ITERATIONS)
    return z
