r"""numba kernels of the network phase-space samplers (``network.phasespace``).

One call advances a block of B samples over m steps, one sample at a time (its N spins and the
scratch vectors stay in cache for the m steps), and adds the samples' moments to the group sums at
every output step.  The couplings enter as the CSR matrix of (eta/2)(D - J) (the signed Laplacian,
``indptr, indices, ldata``; its diagonal included), so one coupling product costs O(nonzeros).

Increments: three-point law of ``phasespace._sde._three_point`` (+-sqrt(h / (2 P1)) with
probability P1 = 715827883 / 2^32 each, else 0: variance h, Gaussian kurtosis up to 1e-9), from
the two 32-bit halves of 64-bit words (high half first) of the sample's own generator: numpy's
SFC64 (Doty-Humphrey's small fast chaotic generator, ``numpy.random.SFC64``), re-implemented here
(:func:`_next`, bitwise the same stream as numpy's, tested) so that a draw costs ~1 ns inside the
loop instead of ~10 ns through numpy's array interface (measured: 44 % of the run time before).
``rs[c]`` is sample c's state (a, b, c, counter), seeded by the caller from numpy; every sample has
its own stream, so switching samples off leaves the others' paths unchanged.  Order of the words
per step: positive-P one word per spin i (dW_1, dW_2); truncated Wigner two per spin (signal
re, im; pump re, im), then one per edge (re, im).

Step: stochastic Heun, exactly as ``phasespace._sde`` (weak order 2 for these noises: the
positive-P noise coefficients depend only on the noiseless pumps, the Wigner noise is additive).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_SH = np.uint64(32)
_SIX = np.uint64(6)
_TAB = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.0])


_LO = np.uint64(0xFFFFFFFF)
_S11 = np.uint64(11)
_S3 = np.uint64(3)
_S24 = np.uint64(24)
_S40 = np.uint64(40)
_ONE = np.uint64(1)


@numba.njit(inline="always")
def _next(rs, c):
    """Next 64-bit word of numpy's SFC64 with state rs[c] = (a, b, c, counter)."""
    a, b, x, n = rs[c, 0], rs[c, 1], rs[c, 2], rs[c, 3]
    tmp = a + b + n
    rs[c, 0] = b ^ (b >> _S11)
    rs[c, 1] = x + (x << _S3)
    rs[c, 2] = ((x << _S24) | (x >> _S40)) + tmp
    rs[c, 3] = n + _ONE
    return tmp


@numba.njit(inline="always")
def _pair(rs, c, sc):
    """Two three-point increments from one word (high half, low half)."""
    w = _next(rs, c)
    k1 = ((w >> _SH) * _SIX) >> _SH  # 0..5, each with probability P1 or P1 + 2^-32
    k2 = ((w & _LO) * _SIX) >> _SH
    return sc * _TAB[k1], sc * _TAB[k2]  # lookups, not branches: the draws are unpredictable


@numba.njit(cache=True)
def sfc64_words(rs, n):
    """n words of the generator of sample 0 (test entry point: against numpy's SFC64)."""
    out = np.empty(n, np.uint64)
    for i in range(n):
        out[i] = _next(rs, 0)
    return out


@numba.njit(inline="always")
def _couple(indptr, indices, ldata, x, i):
    """(eta/2) ((D - J) x)_i."""
    acc = x[i] * 0.0  # float or complex, as x
    for q in range(indptr[i], indptr[i + 1]):
        acc += ldata[q] * x[indices[q]]
    return acc


@numba.njit(inline="always")
def _couple2(indptr, indices, ldata, x, xp, i):
    """(eta/2) ((D - J) x)_i and the same for xp, in one pass over row i."""
    acc = x[i] * 0.0
    accp = x[i] * 0.0
    for q in range(indptr[i], indptr[i + 1]):
        k = indices[q]
        acc += ldata[q] * x[k]
        accp += ldata[q] * xp[k]
    return acc, accp


@numba.njit(inline="always")
def _accumulate(k, a, ap, i0, i1, sn, saa, cond, cc, ca, ca2, cn):
    """Add one sample's moments at output k: sn += Re(ap a), saa += Re(a_i0 a_i1), and with
    ``cond`` the sums conditioned on the sign of Re a_i (index 0: >= 0, 1: < 0)."""
    N = a.shape[0]
    for i in range(N):
        sn[k, i] += (ap[i] * a[i]).real
    for q in range(i0.shape[0]):
        saa[k, q] += (a[i0[q]] * a[i1[q]]).real
    if cond:
        for i in range(N):
            side = 0 if a[i].real >= 0.0 else 1
            cc[k, i, side] += 1.0
            ca[k, i, side] += a[i]
            ca2[k, i, side] += a[i] * a[i]
            cn[k, i, side] += ap[i] * a[i]


@numba.njit(inline="always")
def _pp_step(x, xp, y, yp, fa, fap, fb, fbp, a1, ap1, na, nap, rs, c, hs, f, sc, indptr, indices, ldata,
             gp, kappa, dm, dmc, eps, epsc, real):
    """One Heun step of one positive-P sample in place; works on float (``real``) or complex
    arrays.  ``real``: returns (False, 0) before touching the state when a pump value the step
    needs is negative (its square root would turn imaginary; the caller restores the generator).
    Returns (True, max |variable|^2)."""
    N = x.shape[0]
    for i in range(N):
        cx, cxp = _couple2(indptr, indices, ldata, x, xp, i)
        fa[i] = -dm * x[i] + kappa * xp[i] * y[i] + eps - cx
        fap[i] = -dmc * xp[i] + kappa * x[i] * yp[i] + epsc - cxp
        fb[i] = -0.5 * gp * y[i] - 0.5 * kappa * x[i] * x[i] + f
        fbp[i] = -0.5 * gp * yp[i] - 0.5 * kappa * xp[i] * xp[i] + f
        y1 = y[i] + fb[i] * hs
        yp1 = yp[i] + fbp[i] * hs
        if real and (y[i].real < 0.0 or yp[i].real < 0.0 or y1.real < 0.0 or yp1.real < 0.0):
            return False, 0.0
        w1, w2 = _pair(rs, c, sc)
        ga = np.sqrt(kappa * y[i])
        gap = np.sqrt(kappa * yp[i])
        a1[i] = x[i] + fa[i] * hs + ga * w1
        ap1[i] = xp[i] + fap[i] * hs + gap * w2
        # B at z_n + A h (the pump carries no noise): the Heun average of the coefficients
        na[i] = 0.5 * (ga + np.sqrt(kappa * y1)) * w1
        nap[i] = 0.5 * (gap + np.sqrt(kappa * yp1)) * w2
    mx = 0.0
    for i in range(N):
        y1 = y[i] + fb[i] * hs
        yp1 = yp[i] + fbp[i] * hs
        cx, cxp = _couple2(indptr, indices, ldata, a1, ap1, i)
        ga1 = -dm * a1[i] + kappa * ap1[i] * y1 + eps - cx
        gap1 = -dmc * ap1[i] + kappa * a1[i] * yp1 + epsc - cxp
        gb1 = -0.5 * gp * y1 - 0.5 * kappa * a1[i] * a1[i] + f
        gbp1 = -0.5 * gp * yp1 - 0.5 * kappa * ap1[i] * ap1[i] + f
        x[i] = x[i] + 0.5 * (fa[i] + ga1) * hs + na[i]
        xp[i] = xp[i] + 0.5 * (fap[i] + gap1) * hs + nap[i]
        y[i] = y[i] + 0.5 * (fb[i] + gb1) * hs
        yp[i] = yp[i] + 0.5 * (fbp[i] + gbp1) * hs
        mx = max(mx, abs(x[i]) ** 2, abs(xp[i]) ** 2, abs(y[i]) ** 2, abs(yp[i]) ** 2)
    return True, mx


@numba.njit(cache=True, nogil=True)
def positive_p_block(a, ap, b, bp, alive, rs, h, sF, oidx, first, indptr, indices, ldata, gs, gp,
                     delta, kappa, eps, bound, i0, i1, sn, saa, cond, cc, ca, ca2, cn):
    """Advance the positive-P samples (rows of a, ap, b, bp: (B, N) complex) over len(h) steps
    (step lengths h, sqrt(gamma_p) F per step sF, output index oidx or -1), drawing increments
    from the generators rs (B, 4) uint64.  ``first``: also add the moments at output 0 before stepping.
    A sample whose largest |variable| exceeds ``bound`` (or is not finite) is marked dead, set to
    0 and left alone from then on.

    Fast path: with Delta = 0 and real eps, a sample whose variables are all real stays real
    while its pumps stay >= 0; it is stepped in real arithmetic (same equations, ~2x faster) and
    switches to complex arithmetic at the first step that would need the root of a negative pump."""
    B, N = a.shape
    m = h.shape[0]
    dm = 0.5 * gs + 1j * delta
    dmc = 0.5 * gs - 1j * delta
    epsc = np.conj(eps)
    real_ok = delta == 0.0 and eps.imag == 0.0
    dmr = 0.5 * gs
    epsr = eps.real
    bound2 = bound * bound
    fa, fap, fb, fbp, a1, ap1, na, nap = (np.empty(N, np.complex128), np.empty(N, np.complex128),
                                          np.empty(N, np.complex128), np.empty(N, np.complex128),
                                          np.empty(N, np.complex128), np.empty(N, np.complex128),
                                          np.empty(N, np.complex128), np.empty(N, np.complex128))
    xr, xpr, yr, ypr = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
    ra, rap, rb, rbp, r1, rp1, rn, rnp = (np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(N),
                                          np.empty(N), np.empty(N), np.empty(N))
    for c in range(B):
        if not alive[c]:
            continue
        x, xp, y, yp = a[c], ap[c], b[c], bp[c]
        if first:
            _accumulate(0, x, xp, i0, i1, sn, saa, cond, cc, ca, ca2, cn)
        real = real_ok
        for i in range(N):
            if x[i].imag != 0.0 or xp[i].imag != 0.0 or y[i].imag != 0.0 or yp[i].imag != 0.0:
                real = False
        if real:
            for i in range(N):
                xr[i], xpr[i], yr[i], ypr[i] = x[i].real, xp[i].real, y[i].real, yp[i].real
        for s in range(m):
            hs = h[s]
            f = sF[s]
            sc = math.sqrt(hs / (2.0 * 715827883 / 2**32))
            ok = False
            if real:
                s0, s1, s2, s3 = rs[c, 0], rs[c, 1], rs[c, 2], rs[c, 3]
                ok, mx = _pp_step(xr, xpr, yr, ypr, ra, rap, rb, rbp, r1, rp1, rn, rnp, rs, c, hs, f, sc,
                                  indptr, indices, ldata, gp, kappa, dmr, dmr, epsr, epsr, True)
                if not ok:  # go on in complex arithmetic from this step, with the same words
                    rs[c, 0], rs[c, 1], rs[c, 2], rs[c, 3] = s0, s1, s2, s3
                    real = False
                    for i in range(N):
                        x[i], xp[i], y[i], yp[i] = xr[i], xpr[i], yr[i], ypr[i]
            if not ok:
                ok, mx = _pp_step(x, xp, y, yp, fa, fap, fb, fbp, a1, ap1, na, nap, rs, c, hs, f, sc,
                                  indptr, indices, ldata, gp, kappa, dm, dmc, eps, epsc, False)
            if not (mx <= bound2):  # also catches NaN
                alive[c] = False
                real = False
                x[:] = 0
                xp[:] = 0
                y[:] = 0
                yp[:] = 0
                break
            if oidx[s] >= 0:
                if real:
                    _accumulate(oidx[s], xr, xpr, i0, i1, sn, saa, cond, cc, ca, ca2, cn)
                else:
                    _accumulate(oidx[s], x, xp, i0, i1, sn, saa, cond, cc, ca, ca2, cn)
        if real:
            for i in range(N):
                x[i], xp[i], y[i], yp[i] = xr[i], xpr[i], yr[i], ypr[i]


@numba.njit(cache=True, nogil=True)
def wigner_block(a, b, alive, rs, h, sF, oidx, first, indptr, indices, ldata, ei, ej, ec, es, gs, gp,
                 delta, kappa, eps, bound, i0, i1, sn, saa, cond, cc, ca, ca2, cn):
    """Advance truncated-Wigner samples (a, b: (B, N) complex; alpha^+ = conj alpha) like
    ``positive_p_block``; additive noise: sqrt(gamma_s)/2 (dW + i dW') on each signal,
    sqrt(gamma_p)/2 (...) on each pump, and for edge e = (ei, ej) the complex noise
    xi = ec (dW + i dW') added to a_ei and es xi to a_ej (ec = sqrt(eta |J|) / 2, es = -sgn J).
    The moment sums get Re(conj(a) a) = |a|^2 (symmetric order; the caller converts)."""
    B, N = a.shape
    m = h.shape[0]
    E = ei.shape[0]
    dm = 0.5 * gs + 1j * delta
    cs = 0.5 * math.sqrt(gs)
    cp = 0.5 * math.sqrt(gp)
    bound2 = bound * bound
    fa = np.empty(N, np.complex128)
    fb = np.empty(N, np.complex128)
    a1 = np.empty(N, np.complex128)
    na = np.empty(N, np.complex128)
    nb = np.empty(N, np.complex128)
    xc = np.empty(N, np.complex128)
    for c in range(B):
        if not alive[c]:
            continue
        x, y = a[c], b[c]
        if first:
            for i in range(N):
                xc[i] = np.conj(x[i])
            _accumulate(0, x, xc, i0, i1, sn, saa, cond, cc, ca, ca2, cn)
        for s in range(m):
            hs = h[s]
            f = sF[s]
            sc = math.sqrt(hs / (2.0 * 715827883 / 2**32))
            for i in range(N):
                u, v = _pair(rs, c, sc)
                na[i] = cs * (u + 1j * v)
                u, v = _pair(rs, c, sc)
                nb[i] = cp * (u + 1j * v)
            for e in range(E):
                u, v = _pair(rs, c, sc)
                xi = ec[e] * (u + 1j * v)
                na[ei[e]] += xi
                na[ej[e]] += es[e] * xi
            for i in range(N):
                fa[i] = -dm * x[i] + kappa * np.conj(x[i]) * y[i] + eps - _couple(indptr, indices, ldata, x, i)
                fb[i] = -0.5 * gp * y[i] - 0.5 * kappa * x[i] * x[i] + f
                a1[i] = x[i] + fa[i] * hs + na[i]
            mx = 0.0
            for i in range(N):
                y1 = y[i] + fb[i] * hs + nb[i]
                ga1 = -dm * a1[i] + kappa * np.conj(a1[i]) * y1 + eps - _couple(indptr, indices, ldata, a1, i)
                gb1 = -0.5 * gp * y1 - 0.5 * kappa * a1[i] * a1[i] + f
                x[i] = x[i] + 0.5 * (fa[i] + ga1) * hs + na[i]
                y[i] = y[i] + 0.5 * (fb[i] + gb1) * hs + nb[i]
                mx = max(mx, x[i].real ** 2 + x[i].imag ** 2, y[i].real ** 2 + y[i].imag ** 2)
            if not (mx <= bound2):
                alive[c] = False
                x[:] = 0
                y[:] = 0
                break
            if oidx[s] >= 0:
                for i in range(N):
                    xc[i] = np.conj(x[i])
                _accumulate(oidx[s], x, xc, i0, i1, sn, saa, cond, cc, ca, ca2, cn)
