"""Numba kernels of the photon-counting method (``jump.Jump``): DOPRI5 on one trajectory at a
time with its own step control, jump location on the dense output, and the loop ``_advance``
over the trajectories of a block.  See ``jump``'s docstring for the method; these are its inner
loops."""

import numba
import numpy as np

# --- Dormand-Prince 5(4) tableau (Hairer, Norsett & Wanner; same numbers as scipy's RK45) ---
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
#: b - b_hat over the 7 stages (stage 7 = f(y_new), first-same-as-last)
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
#: dense output: psi(t0 + theta h) = psi0 + h sum_k K_k sum_m _P[k, m] theta^(m+1)
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
#: step control, tuned by the step count (deterministic, unlike timings) of 64 trajectories over
#: t = 0..10 at the paper's defaults: safety 0.9 -> 0.95 saves 2.4 % of the steps
_SAFETY, _FAC_MIN, _FAC_MAX = 0.95, 0.2, 10.0
#: PI step-size control (Gustafsson; Hairer & Wanner's DOPRI5 uses beta = 0.04): the previous
#: error damps the step-size oscillation an explicit method shows at its stability limit,
#: where these steps are (rejected steps 165 -> 105 of 928 -> 893; beta = 0.08 rejects fewer
#: but takes more steps in all)
_BETA = 0.04
#: after a jump the next step starts at 0.85 of the proposed size: the state has changed
#: abruptly, and the full proposal was rejected after most jumps (per 10 time units at the
#: paper's defaults, safety 0.9: 105 rejected steps -> 46, 899 steps in all -> 878)
_JUMP_H = 0.85
_ALPHA = 0.2 - 0.75 * _BETA
_H0 = 1e-3  # first trial step; the controller reaches the natural step within a few steps
_THETA_TOL = 1e-12


_A2 = np.zeros((6, 6))
for _s, _row in enumerate(_A):
    _A2[_s, : len(_row)] = _row
_B1 = np.array(_B)
#: uniforms pre-drawn per trajectory (and per refill): 2 per jump, so a refill every ~256 jumps
_NRAND = 512


# Layout: a trajectory's state is one contiguous row of length D (the sector dimension, 144 at
# the paper's defaults), and every kernel loops over the components i in its innermost loop, so
# LLVM vectorises them (D / 8 AVX-512 iterations, no gathers).  The work arrays (7 stages of D
# numbers) stay in the L1 cache for the whole step.  Sums over stages run j-outer into an array,
# i.e. per component the same operations in the same order as a scalar loop over j; reductions
# over i (norms, error, Gram matrix) are sequential in i (no fastmath: no reassociation), so a
# trajectory's numbers do not depend on anything but its own state and random numbers.
@numba.njit(cache=True, nogil=True)
def _mv(ptr, ind, dr, di, offs, Vr, Vi, xr, xi, o_r, o_i, cplx):
    """o = M @ x for one state vector.  M in diagonal storage (component i, diagonal d: V[d, i] =
    M[i, i + offs[d]]) when ``offs`` is non-empty -- the Fock-space generators here are a
    handful of diagonals, each a contiguous, vectorisable sweep -- else in CSR.  ``cplx`` False:
    M and x are real and only the real part is computed (o_i is left untouched, i.e. zero)."""
    D = xr.size
    if offs.size == 0:
        for i in range(ptr.size - 1):
            sr, si = 0.0, 0.0
            for jj in range(ptr[i], ptr[i + 1]):
                ar, ai, j = dr[jj], di[jj], ind[jj]
                if cplx:
                    sr += ar * xr[j] - ai * xi[j]
                    si += ar * xi[j] + ai * xr[j]
                else:
                    sr += ar * xr[j]
            o_r[i] = sr
            if cplx:
                o_i[i] = si
        return
    for i in range(D):
        o_r[i] = 0.0
    if cplx:
        for i in range(D):
            o_i[i] = 0.0
    for d in range(offs.size):
        # the diagonal as slices indexed from 0: no negative-index wraparound in the loop, so
        # it vectorises
        off = offs[d]
        lo, hi = max(0, -off), min(D, D - off)
        if hi <= lo:
            continue
        n = hi - lo
        vr, x_r, orr = Vr[d, lo:hi], xr[lo + off:hi + off], o_r[lo:hi]
        if cplx:
            vi, x_i, oi = Vi[d, lo:hi], xi[lo + off:hi + off], o_i[lo:hi]
            for i in range(n):
                orr[i] += vr[i] * x_r[i] - vi[i] * x_i[i]
            for i in range(n):
                oi[i] += vr[i] * x_i[i] + vi[i] * x_r[i]
        else:
            for i in range(n):
                orr[i] += vr[i] * x_r[i]


@numba.njit(cache=True, nogil=True)
def _mv_halo(offs, Vr, xh, H, o):
    """o = M @ x for a real M in diagonal storage and a real x stored with H >= max |offs| zeros
    on both sides (x = xh[H:H + D]): no bounds, every diagonal runs over all D components, and
    up to four diagonals go into one sweep.  Per component the same operations in the same
    order as ``_mv``: 0.0 + the terms in ascending order of the diagonal (a term outside the
    matrix is 0 * 0 = +0.0 here, skipped there: only the sign of a zero can differ)."""
    D, nd = o.size, offs.size
    for d in range(0, nd, 4):
        k = min(4, nd - d)
        v0, a0 = Vr[d], H + offs[d]
        x0 = xh[a0:a0 + D]
        if k == 1:
            if d == 0:
                for i in range(D):
                    o[i] = 0.0 + v0[i] * x0[i]
            else:
                for i in range(D):
                    o[i] = o[i] + v0[i] * x0[i]
            continue
        v1, a1 = Vr[d + 1], H + offs[d + 1]
        x1 = xh[a1:a1 + D]
        if k == 2:
            if d == 0:
                for i in range(D):
                    o[i] = (0.0 + v0[i] * x0[i]) + v1[i] * x1[i]
            else:
                for i in range(D):
                    o[i] = (o[i] + v0[i] * x0[i]) + v1[i] * x1[i]
            continue
        v2, a2 = Vr[d + 2], H + offs[d + 2]
        x2 = xh[a2:a2 + D]
        if k == 3:
            if d == 0:
                for i in range(D):
                    o[i] = ((0.0 + v0[i] * x0[i]) + v1[i] * x1[i]) + v2[i] * x2[i]
            else:
                for i in range(D):
                    o[i] = ((o[i] + v0[i] * x0[i]) + v1[i] * x1[i]) + v2[i] * x2[i]
            continue
        v3, a3 = Vr[d + 3], H + offs[d + 3]
        x3 = xh[a3:a3 + D]
        if d == 0:
            for i in range(D):
                o[i] = (((0.0 + v0[i] * x0[i]) + v1[i] * x1[i]) + v2[i] * x2[i]) + v3[i] * x3[i]
        else:
            for i in range(D):
                o[i] = (((o[i] + v0[i] * x0[i]) + v1[i] * x1[i]) + v2[i] * x2[i]) + v3[i] * x3[i]


@numba.njit(cache=True, nogil=True)
def _stage_sum(coef, K, m, acc):
    """acc = sum_{j<m} coef[j] K[j], j ascending (zero coefficients skipped: adding a product
    with 0 changes nothing but the sign of a zero)."""
    D = acc.size
    first = True
    for j in range(m):
        a = coef[j]
        if a == 0.0:
            continue
        kj = K[j]
        if first:
            for i in range(D):
                acc[i] = a * kj[i]
            first = False
        else:
            for i in range(D):
                acc[i] += a * kj[i]


@numba.njit(cache=True, nogil=True)
def _combine(coef, Kr, Ki, m, yr, yi, h, Or, Oi, acc, cplx):
    """O = y + h * sum_{j<m} coef[j] K[j] (real part only if not cplx)."""
    _combine1(coef, Kr, m, yr, h, Or, acc)
    if cplx:
        _combine1(coef, Ki, m, yi, h, Oi, acc)


@numba.njit(cache=True, nogil=True)
def _combine1(coef, K, m, y, h, o, acc):
    """o = y + h * sum_{j<m} coef[j] K[j] in at most two sweeps: the nonzero terms in ascending
    order of j, four per sweep, the last sweep writing o -- per component the operations of
    ``_stage_sum`` followed by y + h * acc, in the same order (the same numbers)."""
    D = y.size
    js = np.empty(8, np.int64)
    q = 0
    for j in range(m):
        if coef[j] != 0.0:
            js[q] = j
            q += 1
    if q > 4:  # the first four terms into acc, then the rest below
        a0, a1, a2, a3 = coef[js[0]], coef[js[1]], coef[js[2]], coef[js[3]]
        k0, k1, k2, k3 = K[js[0]], K[js[1]], K[js[2]], K[js[3]]
        for i in range(D):
            acc[i] = ((a0 * k0[i] + a1 * k1[i]) + a2 * k2[i]) + a3 * k3[i]
        r = q - 4
        a0, k0 = coef[js[4]], K[js[4]]
        if r == 1:
            for i in range(D):
                o[i] = y[i] + h * (acc[i] + a0 * k0[i])
        else:
            a1, k1 = coef[js[5]], K[js[5]]
            if r == 2:
                for i in range(D):
                    o[i] = y[i] + h * ((acc[i] + a0 * k0[i]) + a1 * k1[i])
            else:
                a2, k2 = coef[js[6]], K[js[6]]
                for i in range(D):
                    o[i] = y[i] + h * (((acc[i] + a0 * k0[i]) + a1 * k1[i]) + a2 * k2[i])
        return
    a0, k0 = coef[js[0]], K[js[0]]
    if q == 1:
        for i in range(D):
            o[i] = y[i] + h * (a0 * k0[i])
        return
    a1, k1 = coef[js[1]], K[js[1]]
    if q == 2:
        for i in range(D):
            o[i] = y[i] + h * (a0 * k0[i] + a1 * k1[i])
        return
    a2, k2 = coef[js[2]], K[js[2]]
    if q == 3:
        for i in range(D):
            o[i] = y[i] + h * ((a0 * k0[i] + a1 * k1[i]) + a2 * k2[i])
        return
    a3, k3 = coef[js[3]], K[js[3]]
    for i in range(D):
        o[i] = y[i] + h * (((a0 * k0[i] + a1 * k1[i]) + a2 * k2[i]) + a3 * k3[i])


@numba.njit(cache=True, nogil=True)
def _error_norm(Kr, Ki, yr, yi, nr, ni, h, atc, rtol, er, ei, term, zero, acc, cplx):
    """(err, nrm): err = sum_i |h e_i|^2 / (atol^2 + rtol^2 max(|y_i|^2, |ynew_i|^2)) with
    e = sum_j E_j K_j -- Hairer's weights sc_i = atol + rtol max(|y_i|, |ynew_i|) combined in
    quadrature instead of summed (within a factor sqrt 2 of them, and no square root per
    component) -- and nrm = ||ynew||^2.  The terms are computed vectorised, then summed in
    order of i."""
    D = yr.size
    # e = 0.0 + 1.0 * sum_j E_j K_j, which is the sum but for the sign of a zero (e enters squared)
    _combine1(_E, Kr, 7, zero, 1.0, er, acc)
    if cplx:
        _combine1(_E, Ki, 7, zero, 1.0, ei, acc)
    at2, h2, r2 = atc * atc, h * h, rtol * rtol
    if cplx:
        for i in range(D):
            a2 = nr[i] * nr[i] + ni[i] * ni[i]
            b2 = yr[i] * yr[i] + yi[i] * yi[i]
            m2 = a2 if a2 > b2 else b2
            term[i] = h2 * (er[i] * er[i] + ei[i] * ei[i]) / (at2 + r2 * m2)
    else:
        for i in range(D):
            a2 = nr[i] * nr[i]
            b2 = yr[i] * yr[i]
            m2 = a2 if a2 > b2 else b2
            term[i] = h2 * (er[i] * er[i]) / (at2 + r2 * m2)
    e2, n2 = 0.0, 0.0  # two independent sums in one sweep, each in order of i
    if cplx:
        for i in range(D):
            e2 += term[i]
            n2 += nr[i] * nr[i] + ni[i] * ni[i]
    else:
        for i in range(D):
            e2 += term[i]
            n2 += nr[i] * nr[i]
    return e2, n2


@numba.njit(cache=True, nogil=True)
def _crossing(yr, yi, Kr, Ki, h, r, Cr, Ci, xr, xi, cplx):
    """A jump inside the step: DOPRI5's dense output psi(theta) = sum_m C_m theta^m (m = 0..4)
    gives ||psi(theta)||^2 = sum_{m,m'} Re<C_m, C_m'> theta^(m+m'), whose crossing with the
    threshold r is the jump time; returns theta and writes the state there into x."""
    D = yr.size
    for i in range(D):
        Cr[0, i] = yr[i]
    if cplx:
        for i in range(D):
            Ci[0, i] = yi[i]
    for m in range(4):
        _stage_sum(_P[:, m], Kr, 7, Cr[m + 1])
        for i in range(D):
            Cr[m + 1, i] *= h
        if cplx:
            _stage_sum(_P[:, m], Ki, 7, Ci[m + 1])
            for i in range(D):
                Ci[m + 1, i] *= h
    # the 15 Gram entries <C_m, C_m'> (m <= m') in one sweep, each summed in order of i, in
    # scalar accumulators (registers: 15 independent chains instead of one through memory)
    g00 = g01 = g02 = g03 = g04 = g11 = g12 = g13 = g14 = g22 = g23 = g24 = g33 = g34 = g44 = 0.0
    c0, c1, c2, c3, c4 = Cr[0], Cr[1], Cr[2], Cr[3], Cr[4]
    if cplx:
        d0, d1, d2, d3, d4 = Ci[0], Ci[1], Ci[2], Ci[3], Ci[4]
        for i in range(D):
            g00 += c0[i] * c0[i] + d0[i] * d0[i]
            g01 += c0[i] * c1[i] + d0[i] * d1[i]
            g02 += c0[i] * c2[i] + d0[i] * d2[i]
            g03 += c0[i] * c3[i] + d0[i] * d3[i]
            g04 += c0[i] * c4[i] + d0[i] * d4[i]
            g11 += c1[i] * c1[i] + d1[i] * d1[i]
            g12 += c1[i] * c2[i] + d1[i] * d2[i]
            g13 += c1[i] * c3[i] + d1[i] * d3[i]
            g14 += c1[i] * c4[i] + d1[i] * d4[i]
            g22 += c2[i] * c2[i] + d2[i] * d2[i]
            g23 += c2[i] * c3[i] + d2[i] * d3[i]
            g24 += c2[i] * c4[i] + d2[i] * d4[i]
            g33 += c3[i] * c3[i] + d3[i] * d3[i]
            g34 += c3[i] * c4[i] + d3[i] * d4[i]
            g44 += c4[i] * c4[i] + d4[i] * d4[i]
    else:
        for i in range(D):
            g00 += c0[i] * c0[i]
            g01 += c0[i] * c1[i]
            g02 += c0[i] * c2[i]
            g03 += c0[i] * c3[i]
            g04 += c0[i] * c4[i]
            g11 += c1[i] * c1[i]
            g12 += c1[i] * c2[i]
            g13 += c1[i] * c3[i]
            g14 += c1[i] * c4[i]
            g22 += c2[i] * c2[i]
            g23 += c2[i] * c3[i]
            g24 += c2[i] * c4[i]
            g33 += c3[i] * c3[i]
            g34 += c3[i] * c4[i]
            g44 += c4[i] * c4[i]
    # Q[s] = sum_{m + m' = s} Re<C_m, C_m'>, accumulated in the order (m, m'), m <= m'
    Q = np.zeros(9)
    Q[0] += g00
    Q[1] += 2.0 * g01
    Q[2] += 2.0 * g02
    Q[3] += 2.0 * g03
    Q[4] += 2.0 * g04
    Q[2] += g11
    Q[3] += 2.0 * g12
    Q[4] += 2.0 * g13
    Q[5] += 2.0 * g14
    Q[4] += g22
    Q[5] += 2.0 * g23
    Q[6] += 2.0 * g24
    Q[6] += g33
    Q[7] += 2.0 * g34
    Q[8] += g44
    th = _theta(Q, r)
    for i in range(D):  # Horner
        s = Cr[4, i]
        for m in range(3, -1, -1):
            s = s * th + Cr[m, i]
        xr[i] = s
    if cplx:
        for i in range(D):
            s = Ci[4, i]
            for m in range(3, -1, -1):
                s = s * th + Ci[m, i]
            xi[i] = s
    return th


@numba.njit(cache=True, nogil=True)
def _spmv(ptr, ind, dr, di, xr, xi, o_r, o_i):
    """o = M @ x for one vector (split parts)."""
    for i in range(ptr.size - 1):
        sr, si = 0.0, 0.0
        for jj in range(ptr[i], ptr[i + 1]):
            ar, ai, j = dr[jj], di[jj], ind[jj]
            sr += ar * xr[j] - ai * xi[j]
            si += ar * xi[j] + ai * xr[j]
        o_r[i] = sr
        o_i[i] = si


@numba.njit(cache=True, nogil=True)
def _theta(q, r):
    """First theta in (0, 1] with sum_s q[s] theta^s = r, given f(0) > r >= f(1): Newton on the
    degree-8 norm polynomial, safeguarded by bisection of the bracket."""
    lo, hi = 0.0, 1.0
    f0, f1 = q[0] - r, np.sum(q) - r
    th = f0 / (f0 - f1) if f0 - f1 > 0 else 0.5
    th = min(max(th, 0.0), 1.0)
    for _ in range(60):
        f, df = q[8], 8.0 * q[8]
        for s in range(7, -1, -1):
            f = f * th + q[s]
        for s in range(7, 0, -1):
            df = df * th + s * q[s]
        f -= r
        if f > 0:
            lo = th
        else:
            hi = th
        new = th - f / df if df < 0 else -1.0
        if not (lo <= new <= hi):
            new = 0.5 * (lo + hi)
        done = abs(new - th) < _THETA_TOL or hi - lo < _THETA_TOL
        th = new
        if done:
            break
    return th


@numba.njit(cache=True, nogil=True)
def _advance(ptr, ind, dr, di, offs, Vr, Vi, idx, tgtsec, Lptr, Lind, Ldr, Ldi, Loffs, LVr, LVi, n_ch, Yr, Yi, Fr, Fi,
             sec, fresh, tcol, hprop, eold, rthr, U, upos, iout, tout, b, rtol, atol, out, njumps, jt, jc,
             nrec, nsteps, cplx):
    """Advance every trajectory (row c of the block) to the segment end ``b``, or until it has
    fewer than two pre-drawn uniforms left (Python refills them and calls again).  Row c: state
    Y[c] (split parts), first-same-as-last derivative F[c] (valid where ``fresh``), time, proposed
    step, jump threshold r (the norm^2 at which it jumps), uniforms U[c, upos[c]:], next output
    index.  Writes the normalised state at each output time into ``out`` and each jump into
    jt/jc (nrec[c] of them).  Trajectories are advanced one after the other: each is an
    independent ODE, so its numbers cannot depend on the others of its block.

    Sectors: trajectory c lives in sector sec[c] (signal parity, or the whole space: one sector);
    its component i is the full-space component idx[sec[c], i] (-1: padding, always zero), the
    generator restricted to sector s is V[s] (diagonal storage), and channel j takes sector s to
    tgtsec[j, s], as L_j restricted to the two sectors, LV[j, s] (diagonal storage), or if
    ``Loffs`` is empty as the stacked full-space CSR (Lptr, ...).  ``cplx`` False: generator,
    jump operators and states are real (the charging model without detuning in the Fock basis:
    -i H is real), so only real parts are computed -- half the work.  nsteps[c] = (attempted steps, rejected steps).
    """
    B, D = Yr.shape
    nt, R = tout.size, U.shape[1]
    Dfull = out.shape[2]
    # zeros: for a real problem (cplx False) the imaginary parts are never written
    Kr, Ki = np.zeros((7, D)), np.zeros((7, D))
    # real diagonal generator: the stage inputs carry H zeros on both sides (``_mv_halo``)
    halo = (not cplx) and offs.size > 0
    H = max(np.max(offs), -np.min(offs)) if offs.size > 0 else 0
    trh, nrh = np.zeros(D + 2 * H), np.zeros(D + 2 * H)
    tr, nr = trh[H:H + D], nrh[H:H + D]
    ti, ni = np.zeros(D), np.zeros(D)
    acc, er, ei, term, zero = np.zeros(D), np.zeros(D), np.zeros(D), np.zeros(D), np.zeros(D)
    Cr, Ci = np.zeros((5, D)), np.zeros((5, D))
    xcr, xci = np.zeros(Dfull), np.zeros(Dfull)
    LYr, LYi = np.empty(n_ch * Dfull), np.empty(n_ch * Dfull)
    LXr, LXi = np.zeros((n_ch, D)), np.zeros((n_ch, D))
    nodummy = np.zeros(1, np.int64), np.empty(0, np.int64), np.empty(0)
    w = np.empty(n_ch)
    for c in range(B):
        yr, yi, fr, fi = Yr[c], Yi[c], Fr[c], Fi[c]
        a2 = -1.0  # ||y||^2, unknown
        while tcol[c] < b and upos[c] + 2 <= R:
            z = sec[c]
            Mr, Mi = Vr[z], Vi[z]
            if fresh[c]:
                Kr[0, :] = fr
                if cplx:
                    Ki[0, :] = fi
            elif halo:  # f(y) is stale after a jump or at a segment start
                tr[:] = yr
                _mv_halo(offs, Mr, trh, H, Kr[0])
            else:
                _mv(ptr, ind, dr, di, offs, Mr, Mi, yr, yi, Kr[0], Ki[0], cplx)
            target = tout[iout[c]] if iout[c] < nt else np.inf
            tgt = min(target, b)
            gap = tgt - tcol[c]
            hit = hprop[c] >= gap
            h = gap if hit else hprop[c]
            if a2 < 0.0:  # else: ||y||^2 is the previous step's ||ynew||^2 (the same sum)
                a2 = 0.0
                for i in range(D):
                    a2 += yr[i] * yr[i] + yi[i] * yi[i]
            # absolute tolerance relative to the state's norm: the accuracy of the normalised
            # state does not degrade while ||psi||^2 decays towards a small threshold
            atc = atol * np.sqrt(a2)
            # --- DOPRI5 stages 2..6, the 5th-order solution, stage 7 = f(y_new)
            for s in range(1, 6):
                _combine(_A2[s], Kr, Ki, s, yr, yi, h, tr, ti, acc, cplx)
                if halo:
                    _mv_halo(offs, Mr, trh, H, Kr[s])
                else:
                    _mv(ptr, ind, dr, di, offs, Mr, Mi, tr, ti, Kr[s], Ki[s], cplx)
            _combine(_B1, Kr, Ki, 6, yr, yi, h, nr, ni, acc, cplx)
            if halo:
                _mv_halo(offs, Mr, nrh, H, Kr[6])
            else:
                _mv(ptr, ind, dr, di, offs, Mr, Mi, nr, ni, Kr[6], Ki[6], cplx)
            err, nrm = _error_norm(Kr, Ki, yr, yi, nr, ni, h, atc, rtol, er, ei, term, zero, acc, cplx)
            # --- accept (1), reject (0), or a jump inside the step (2)
            nsteps[c, 0] += 1
            e = np.sqrt(err / D)
            fac = _FAC_MAX if e == 0 else min(max(_SAFETY * e**-_ALPHA, _FAC_MIN), _FAC_MAX)
            if e <= 1.0:
                fac = min(max(fac * eold[c] ** _BETA, _FAC_MIN), _FAC_MAX)
                eold[c] = max(e, 1e-4)
                hnew = hprop[c] if hit else h * fac  # a step shortened to hit a target keeps the proposal
                status = 1 if nrm > rthr[c] else 2
            else:
                hnew = h * min(fac, 1.0)
                nsteps[c, 1] += 1
                status = 0
            hprop[c] = max(hnew, 1e-14)
            if status == 0:
                fr[:] = Kr[0]
                if cplx:
                    fi[:] = Ki[0]
                fresh[c] = True
                continue
            if status == 1:
                yr[:] = nr
                fr[:] = Kr[6]
                if cplx:
                    yi[:] = ni
                    fi[:] = Ki[6]
                fresh[c] = True
                a2 = nrm
                tcol[c] = tgt if hit else tcol[c] + h
                if hit and iout[c] < nt and tgt == tout[iout[c]]:
                    sq = np.sqrt(nrm)
                    for i in range(D):
                        if idx[z, i] >= 0:
                            out[c, iout[c], idx[z, i]] = complex(yr[i] / sq, yi[i] / sq)
                    iout[c] += 1
                continue
            # a jump inside the step: the state at the crossing, then every L_j applied to it
            th = _crossing(yr, yi, Kr, Ki, h, rthr[c], Cr, Ci, tr, ti, cplx)
            total = 0.0
            if Loffs.size > 0:
                for j in range(n_ch):  # L_j from sector z to its target, O(D)
                    _mv(nodummy[0], nodummy[1], nodummy[2], nodummy[2], Loffs, LVr[j, z], LVi[j, z],
                        tr, ti, LXr[j], LXi[j], cplx)
                    # sum in order of the target sector's components (ascending full-space
                    # index): the same sum as over the full space, whose other rows are zero
                    s2 = 0.0
                    lr, li = LXr[j], LXi[j]
                    if cplx:
                        for i in range(D):
                            s2 += lr[i] * lr[i] + li[i] * li[i]
                    else:  # li = 0: (x + 0.0) == x for x = lr^2 >= 0
                        for i in range(D):
                            s2 += lr[i] * lr[i]
                    w[j] = s2
                    total += s2
            else:
                for i in range(D):  # embed in the full space
                    if idx[z, i] >= 0:
                        xcr[idx[z, i]], xci[idx[z, i]] = tr[i], ti[i]
                _spmv(Lptr, Lind, Ldr, Ldi, xcr, xci, LYr, LYi)
                for i in range(D):
                    if idx[z, i] >= 0:
                        xcr[idx[z, i]], xci[idx[z, i]] = 0.0, 0.0
                for j in range(n_ch):
                    s2 = 0.0
                    for i in range(j * Dfull, (j + 1) * Dfull):
                        s2 += LYr[i] * LYr[i] + LYi[i] * LYi[i]
                    w[j] = s2
                    total += s2
            u = U[c, upos[c]]
            rthr[c] = U[c, upos[c] + 1]
            upos[c] += 2
            # channel: the first j whose cumulative weight exceeds u * total
            ch, cum = 0, w[0]
            while ch < n_ch - 1 and cum <= u * total:
                ch += 1
                cum += w[ch]
            sq = np.sqrt(w[ch])
            z = tgtsec[ch, z]
            sec[c] = z
            if Loffs.size > 0:
                for i in range(D):
                    yr[i], yi[i] = LXr[ch, i] / sq, LXi[ch, i] / sq
            else:
                for i in range(D):
                    gi = idx[z, i]
                    if gi >= 0:
                        yr[i], yi[i] = LYr[ch * Dfull + gi] / sq, LYi[ch * Dfull + gi] / sq
                    else:
                        yr[i], yi[i] = 0.0, 0.0
            fresh[c] = False
            a2 = -1.0
            hprop[c] *= _JUMP_H
            tcol[c] = tcol[c] + th * h
            njumps[c, ch] += 1
            jt[c, nrec[c]] = tcol[c]
            jc[c, nrec[c]] = ch
            nrec[c] += 1
