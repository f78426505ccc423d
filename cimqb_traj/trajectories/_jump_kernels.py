"""Numba kernels of the photon-counting method (``jump.Jump``): DOPRI5 on a block of
trajectories with per-column step control, jump location on the dense output, and the block
loop ``_advance``.  See ``jump``'s docstring for the method; these are its inner loops."""

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


# The kernels loop over each column separately with a fixed operation order and no fastmath,
# so a column's numbers never depend on the other columns of its block.
@numba.njit(cache=True, nogil=True)
def _spmm(ptr, ind, dr, di, Xr, Xi, Or, Oi, c0, c1, cplx):
    """O[:, c0:c1] = M @ X[:, c0:c1] (M in CSR, split real/imaginary parts): one sweep over M.
    ``cplx`` False: M and X are real, only the real part is computed (O's imaginary part is
    left untouched, i.e. zero)."""
    n = c1 - c0
    sr, si = np.empty(n), np.empty(n)
    for i in range(ptr.size - 1):
        for c in range(n):
            sr[c] = 0.0
            si[c] = 0.0
        for jj in range(ptr[i], ptr[i + 1]):
            ar, ai, j = dr[jj], di[jj], ind[jj]
            xr, xi = Xr[j, c0:c1], Xi[j, c0:c1]
            if cplx:
                for c in range(n):
                    sr[c] += ar * xr[c] - ai * xi[c]
                    si[c] += ar * xi[c] + ai * xr[c]
            else:
                for c in range(n):
                    sr[c] += ar * xr[c]
        for c in range(n):
            Or[i, c0 + c] = sr[c]
        if cplx:
            for c in range(n):
                Oi[i, c0 + c] = si[c]


@numba.njit(cache=True, nogil=True)
def _mul(ptr, ind, dr, di, offs, Vr, Vi, Xr, Xi, Or, Oi, c0, c1, cplx):
    """O[:, c0:c1] = M @ X[:, c0:c1] with M in diagonal storage (row i, diagonal d: V[d, i] =
    M[i, i + offs[d]]) when ``offs`` is non-empty -- the Fock-space generators here are a
    handful of diagonals, and the diagonal sweep needs no index indirection -- else in CSR."""
    if offs.size == 0:
        _spmm(ptr, ind, dr, di, Xr, Xi, Or, Oi, c0, c1, cplx)
        return
    # The row loop repeats _spmm's on purpose: its accumulators must be allocated here, in the
    # kernel that sweeps them, for LLVM to vectorise (passed to a helper they may alias O).
    D = Xr.shape[0]
    n = c1 - c0
    sr, si = np.empty(n), np.empty(n)
    for i in range(D):
        for c in range(n):
            sr[c] = 0.0
            si[c] = 0.0
        for d in range(offs.size):
            j = i + offs[d]
            ar, ai = Vr[d, i], Vi[d, i]
            if j < 0 or j >= D or (ar == 0.0 and ai == 0.0):
                continue
            xr, xi = Xr[j, c0:c1], Xi[j, c0:c1]
            if cplx:
                for c in range(n):
                    sr[c] += ar * xr[c] - ai * xi[c]
                    si[c] += ar * xi[c] + ai * xr[c]
            else:
                for c in range(n):
                    sr[c] += ar * xr[c]
        for c in range(n):
            Or[i, c0 + c] = sr[c]
        if cplx:
            for c in range(n):
                Oi[i, c0 + c] = si[c]


# Accumulators below are arrays allocated inside the kernel and swept j-outer: LLVM then knows
# they alias no argument and vectorises the loops over the block (2-3x faster than in place).
@numba.njit(cache=True, nogil=True)
def _stage_sum(coef, Kr, Ki, m, n, cplx):
    """(S_re, S_im) = sum_{j<m} coef[j] K[j] on the first n columns (S_im empty if not cplx)."""
    D = Kr.shape[1]
    ar = np.empty((D, n))
    ai = np.empty((D if cplx else 1, n if cplx else 1))
    for j in range(m):  # j = 0 assigns: no zero-fill pass (and 0 + x == x, so the same numbers)
        a = coef[j]
        for i in range(D):
            kr, acc = Kr[j, i], ar[i]
            if j == 0:
                for k in range(n):
                    acc[k] = a * kr[k]
            else:
                for k in range(n):
                    acc[k] += a * kr[k]
            if cplx:
                ki, acc = Ki[j, i], ai[i]
                if j == 0:
                    for k in range(n):
                        acc[k] = a * ki[k]
                else:
                    for k in range(n):
                        acc[k] += a * ki[k]
    return ar, ai


@numba.njit(cache=True, nogil=True)
def _combine(coef, Kr, Ki, m, yr, yi, h, Or, Oi, n, cplx):
    """O = y + h * sum_{j<m} coef[j] K[j] on the first n columns (real part only if not cplx)."""
    ar, ai = _stage_sum(coef, Kr, Ki, m, n, cplx)
    for i in range(yr.shape[0]):
        for k in range(n):
            Or[i, k] = yr[i, k] + h[k] * ar[i, k]
        if cplx:
            for k in range(n):
                Oi[i, k] = yi[i, k] + h[k] * ai[i, k]


@numba.njit(cache=True, nogil=True)
def _error_norm(Kr, Ki, yr, yi, nr, ni, h, atc, rtol, err, nrm, n, cplx):
    """Squared error sum per column, err[k] = sum_i |h e_i|^2 / (atol_k^2 + rtol^2 max(|y_i|^2,
    |ynew_i|^2)) with e = sum_j E_j K_j -- Hairer's weights sc_i = atol + rtol max(|y_i|, |ynew_i|)
    combined in quadrature instead of summed (within a factor sqrt 2 of them, and no square
    root per component) -- and nrm[k] = ||ynew||^2."""
    D = yr.shape[0]
    er, ei = _stage_sum(_E, Kr, Ki, 7, n, cplx)
    e2, n2, at2, h2 = np.zeros(n), np.zeros(n), np.empty(n), np.empty(n)
    r2 = rtol * rtol
    for k in range(n):
        at2[k] = atc[k] * atc[k]
        h2[k] = h[k] * h[k]
    for i in range(D):
        y_r, y_i, n_r, n_i, e_r = yr[i], yi[i], nr[i], ni[i], er[i]
        if cplx:
            e_i = ei[i]
            for k in range(n):
                a2 = n_r[k] * n_r[k] + n_i[k] * n_i[k]
                b2 = y_r[k] * y_r[k] + y_i[k] * y_i[k]
                m2 = a2 if a2 > b2 else b2
                e2[k] += h2[k] * (e_r[k] * e_r[k] + e_i[k] * e_i[k]) / (at2[k] + r2 * m2)
                n2[k] += a2
        else:
            for k in range(n):
                a2 = n_r[k] * n_r[k]
                b2 = y_r[k] * y_r[k]
                m2 = a2 if a2 > b2 else b2
                e2[k] += h2[k] * (e_r[k] * e_r[k]) / (at2[k] + r2 * m2)
                n2[k] += a2
    for k in range(n):
        err[k] = e2[k]
        nrm[k] = n2[k]


@numba.njit(cache=True, nogil=True)
def _crossings(jk, yr, yi, Kr, Ki, h, rthr, act, cplx):
    """For the jumping columns jk of a step: DOPRI5's dense output psi(theta) = sum_m C_m
    theta^m (m = 0..4) gives ||psi(theta)||^2 = sum_{m,m'} Re<C_m, C_m'> theta^(m+m'), whose
    crossing with the column's threshold r is the jump time; returns theta and the states there
    (rows).  The columns are processed together, row by row, so each cache line of the stages is
    read once for all of them."""
    D, nj = yr.shape[0], jk.size
    Cr, Ci = np.zeros((5, D, nj)), np.zeros((5, D, nj))
    for i in range(D):
        for x in range(nj):
            Cr[0, i, x], Ci[0, i, x] = yr[i, jk[x]], yi[i, jk[x]]
        for m in range(4):
            ar, ai = Cr[m + 1, i], Ci[m + 1, i]
            for j in range(7):
                a = _P[j, m]
                if a == 0.0:
                    continue
                kr, ki = Kr[j, i], Ki[j, i]
                for x in range(nj):
                    ar[x] += a * kr[jk[x]]
                if cplx:
                    for x in range(nj):
                        ai[x] += a * ki[jk[x]]
            for x in range(nj):
                ar[x] *= h[jk[x]]
                ai[x] *= h[jk[x]]
    Q = np.zeros((nj, 9))
    g = np.empty(nj)
    for m in range(5):
        for m2 in range(m, 5):
            for x in range(nj):
                g[x] = 0.0
            for i in range(D):
                a_r, a_i, b_r, b_i = Cr[m, i], Ci[m, i], Cr[m2, i], Ci[m2, i]
                for x in range(nj):
                    g[x] += a_r[x] * b_r[x] + a_i[x] * b_i[x]
            for x in range(nj):
                Q[x, m + m2] += g[x] if m == m2 else 2.0 * g[x]
    th = np.empty(nj)
    for x in range(nj):
        th[x] = _theta(Q[x], rthr[act[jk[x]]])
    XCr, XCi = np.empty((nj, D)), np.empty((nj, D))
    for i in range(D):  # Horner
        for x in range(nj):
            sr, si = Cr[4, i, x], Ci[4, i, x]
            for m in range(3, -1, -1):
                sr = sr * th[x] + Cr[m, i, x]
                si = si * th[x] + Ci[m, i, x]
            XCr[x, i], XCi[x, i] = sr, si
    return th, XCr, XCi


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
def _advance(ptr, ind, dr, di, offs, Vr, Vi, idx, tgtsec, Lptr, Lind, Ldr, Ldi, n_ch, Yr, Yi, Fr, Fi,
             sec, fresh, tcol, hprop, eold, rthr, U, upos, iout, tout, b, rtol, atol, out, njumps, jt, jc,
             nrec, nsteps, cplx):
    """Advance every column to the segment end ``b``, or until it has fewer than two pre-drawn
    uniforms left (Python refills them and calls again).  Columns: state Y (split parts),
    first-same-as-last derivative F (valid where ``fresh``), time, proposed step, jump threshold
    r (the norm^2 at which it jumps), uniforms U[c, upos[c]:], next output index.  Writes the
    normalised state at each output time into ``out`` and each jump into jt/jc (nrec[c] of them).

    Sectors: column c lives in sector sec[c] (signal parity, or the whole space: one sector);
    its component i is the full-space component idx[sec[c], i] (-1: padding, always zero), the
    generator restricted to sector s is V[s] (diagonal storage), and channel j takes sector s to
    tgtsec[j, s].  Active columns are packed sector by sector, one product per sector.
    ``cplx`` False: generator, jump operators and states are real (the charging model without
    detuning in the Fock basis: -i H is real), so only real parts are computed -- half the work.
    nsteps[c] = (attempted steps, rejected steps).
    """
    D, B = Yr.shape
    nt, R = tout.size, U.shape[1]
    nsec, Dfull = idx.shape[0], out.shape[2]
    act = np.empty(B, np.int64)
    bnd, sbnd = np.zeros(nsec + 1, np.int64), np.zeros(nsec + 1, np.int64)
    # zeros: for a real problem (cplx False) the imaginary parts are never written
    yr, yi = np.zeros((D, B)), np.zeros((D, B))
    tr, ti = np.zeros((D, B)), np.zeros((D, B))
    nr, ni = np.zeros((D, B)), np.zeros((D, B))
    Kr, Ki = np.zeros((7, D, B)), np.zeros((7, D, B))
    h, tgt, atc, err, nrm = np.empty(B), np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    stale, status = np.empty(B, np.int64), np.empty(B, np.int64)
    hit = np.empty(B, np.bool_)
    jk = np.empty(B, np.int64)
    xcr, xci = np.zeros(Dfull), np.zeros(Dfull)
    LYr, LYi = np.empty(n_ch * Dfull), np.empty(n_ch * Dfull)
    w = np.empty(n_ch)
    while True:
        n = 0  # active columns, packed to the front of the work arrays, sector by sector
        for z in range(nsec):
            for c in range(B):
                if sec[c] == z and tcol[c] < b and upos[c] + 2 <= R:
                    act[n] = c
                    n += 1
            bnd[z + 1] = n
        if n == 0:
            break
        ns = 0  # columns whose f(y) is stale (after a jump or at a segment start)
        for z in range(nsec):
            for k in range(bnd[z], bnd[z + 1]):
                if not fresh[act[k]]:
                    stale[ns] = k
                    ns += 1
            sbnd[z + 1] = ns
        for i in range(D):
            for k in range(n):
                c = act[k]
                yr[i, k], Kr[0, i, k] = Yr[i, c], Fr[i, c]
            if cplx:
                for k in range(n):
                    c = act[k]
                    yi[i, k], Ki[0, i, k] = Yi[i, c], Fi[i, c]
            for k in range(ns):
                tr[i, k], ti[i, k] = yr[i, stale[k]], yi[i, stale[k]]
        if ns > 0:
            for z in range(nsec):
                _mul(ptr, ind, dr, di, offs, Vr[z], Vi[z], tr, ti, nr, ni, sbnd[z], sbnd[z + 1], cplx)
            for i in range(D):
                for k in range(ns):
                    Kr[0, i, stale[k]], Ki[0, i, stale[k]] = nr[i, k], ni[i, k]
        for k in range(n):
            c = act[k]
            target = tout[iout[c]] if iout[c] < nt else np.inf
            tgt[k] = min(target, b)
            gap = tgt[k] - tcol[c]
            hit[k] = hprop[c] >= gap
            h[k] = gap if hit[k] else hprop[c]
            atc[k] = 0.0
        for i in range(D):
            for k in range(n):
                atc[k] += yr[i, k] * yr[i, k] + yi[i, k] * yi[i, k]
        for k in range(n):
            # absolute tolerance relative to the column's norm: the accuracy of the normalised
            # state does not degrade while ||psi||^2 decays towards a small threshold
            atc[k] = atol * np.sqrt(atc[k])
        # --- DOPRI5 stages 2..6, the 5th-order solution, stage 7 = f(y_new)
        for s in range(1, 6):
            _combine(_A2[s], Kr, Ki, s, yr, yi, h, tr, ti, n, cplx)
            for z in range(nsec):
                _mul(ptr, ind, dr, di, offs, Vr[z], Vi[z], tr, ti, Kr[s], Ki[s], bnd[z], bnd[z + 1], cplx)
        _combine(_B1, Kr, Ki, 6, yr, yi, h, nr, ni, n, cplx)
        for z in range(nsec):
            _mul(ptr, ind, dr, di, offs, Vr[z], Vi[z], nr, ni, Kr[6], Ki[6], bnd[z], bnd[z + 1], cplx)
        _error_norm(Kr, Ki, yr, yi, nr, ni, h, atc, rtol, err, nrm, n, cplx)
        # --- per column: accept (1), reject (0), or a jump inside the step (2)
        for k in range(n):
            c = act[k]
            nsteps[c, 0] += 1
            e = np.sqrt(err[k] / D)
            fac = _FAC_MAX if e == 0 else min(max(_SAFETY * e**-_ALPHA, _FAC_MIN), _FAC_MAX)
            if e <= 1.0:
                fac = min(max(fac * eold[c] ** _BETA, _FAC_MIN), _FAC_MAX)
                eold[c] = max(e, 1e-4)
                hnew = hprop[c] if hit[k] else h[k] * fac  # a step shortened to hit a target keeps the proposal
                status[k] = 1 if nrm[k] > rthr[c] else 2
            else:
                hnew = h[k] * min(fac, 1.0)
                nsteps[c, 1] += 1
                status[k] = 0
            hprop[c] = max(hnew, 1e-14)
        # copy back row by row (one pass, instead of a strided pass per column)
        for i in range(D):
            for k in range(n):
                c = act[k]
                if status[k] == 1:
                    Yr[i, c], Fr[i, c] = nr[i, k], Kr[6, i, k]
                elif status[k] == 0:
                    Fr[i, c] = Kr[0, i, k]
            if cplx:
                for k in range(n):
                    c = act[k]
                    if status[k] == 1:
                        Yi[i, c], Fi[i, c] = ni[i, k], Ki[6, i, k]
                    elif status[k] == 0:
                        Fi[i, c] = Ki[0, i, k]
        for k in range(n):
            c = act[k]
            if status[k] != 2:
                fresh[c] = True
            if status[k] != 1:
                continue
            tcol[c] = tgt[k] if hit[k] else tcol[c] + h[k]
            if hit[k] and iout[c] < nt and tgt[k] == tout[iout[c]]:
                sq = np.sqrt(nrm[k])
                for i in range(D):
                    if idx[sec[c], i] >= 0:
                        out[c, iout[c], idx[sec[c], i]] = complex(nr[i, k] / sq, ni[i, k] / sq)
                iout[c] += 1
        nj = 0
        for k in range(n):
            if status[k] == 2:
                jk[nj] = k
                nj += 1
        if nj == 0:
            continue
        # jumps inside the step: crossing times and states, all jumping columns together
        th, XCr, XCi = _crossings(jk[:nj], yr, yi, Kr, Ki, h, rthr, act, cplx)
        for x in range(nj):
            k = jk[x]
            c = act[k]
            for i in range(D):  # embed the state at the crossing in the full space
                if idx[sec[c], i] >= 0:
                    xcr[idx[sec[c], i]], xci[idx[sec[c], i]] = XCr[x, i], XCi[x, i]
            _spmv(Lptr, Lind, Ldr, Ldi, xcr, xci, LYr, LYi)
            for i in range(D):
                if idx[sec[c], i] >= 0:
                    xcr[idx[sec[c], i]], xci[idx[sec[c], i]] = 0.0, 0.0
            total = 0.0
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
            z = tgtsec[ch, sec[c]]
            sec[c] = z
            for i in range(D):
                gi = idx[z, i]
                if gi >= 0:
                    Yr[i, c], Yi[i, c] = LYr[ch * Dfull + gi] / sq, LYi[ch * Dfull + gi] / sq
                else:
                    Yr[i, c], Yi[i, c] = 0.0, 0.0
            fresh[c] = False
            hprop[c] *= _JUMP_H
            tcol[c] = tcol[c] + th[x] * h[k]
            njumps[c, ch] += 1
            jt[c, nrec[c]] = tcol[c]
            jc[c, nrec[c]] = ch
            nrec[c] += 1
