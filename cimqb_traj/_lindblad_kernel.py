"""Right-hand side of the DOPO master equation, written out element by element.

Why not ``qutip.mesolve``: at the paper's truncation (Ns = 32, Np = 9, a 288-dimensional
Hilbert space) mesolve multiplies a sparse 82944 x 82944 Liouvillian with ~1e6 non-zeros per
right-hand side and needs minutes for t = 0..40.  The master equation only couples each element
rho[n, k, m, l] (signal n, pump k on the left; m, l on the right) to a handful of neighbours, so
one numba pass over the 4-index array costs ~0.1 ms.  From the vacuum only elements with n - m
even are ever non-zero (signal parity, see ``model.signal_parity``); ``parity_only`` skips the
others.  Tests check this kernel against the qutip Liouvillian on random states.

Let X = H_eff rho with H_eff = H - (i/2) sum_j L_j^dag L_j.  Then
    d rho/dt = -i X + (-i X)^dag + sum_j L_j rho L_j^dag.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# coefficient layout of ``coef``: kappa, sqrt(gamma_p) F, delta, gs_down, gs_up, gp_down, gp_up
# where g*_down = gamma (n_th + 1), g*_up = gamma n_th.


@njit(cache=True)
def lindblad_rhs(rho, out, coef, parity_only):
    """Write d rho/dt into ``out`` (both of shape (Ns, Np, Ns, Np)); returns ``out``."""
    Ns, Np = rho.shape[0], rho.shape[1]
    kappa, f, delta, gsd, gsu, gpd, gpu = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], coef[6]
    sq_s = np.sqrt(np.arange(Ns + 2).astype(np.float64))
    sq_p = np.sqrt(np.arange(Np + 1).astype(np.float64))
    hk = 0.5 * kappa
    half_gsd, half_gsu, half_gpd, half_gpu = 0.5 * gsd, 0.5 * gsu, 0.5 * gpd, 0.5 * gpu
    step = 2 if parity_only else 1
    # Pass 1: M = -i H_eff rho + J(rho)/2, with J the jump terms; then d rho/dt = M + M^dag.
    # J is computed with symmetric products (gamma * (sqrt_n * sqrt_m)) so that it is exactly
    # Hermitian, and M + M^dag is Hermitian to the last bit by construction.  This matters:
    # the kernel equals the Lindbladian only on Hermitian input, and an anti-Hermitian rounding
    # residue would grow like exp(gamma N t / 2).
    M = out  # reuse the output buffer for M, symmetrised in place below
    if parity_only:
        M[:] = 0.0
    for n in range(Ns):
        c_up = sq_s[n] * sq_s[n - 1] if n >= 2 else 0.0  # <n| a^dag^2 |n-2>
        c_dn = sq_s[n + 1] * sq_s[n + 2]  # <n| a^2 |n+2>
        for k in range(Np):
            # a a^dag of the truncated space is diag(1, .., N-1, 0): keeps the trace exact
            up_s = n + 1 if n + 1 < Ns else 0
            up_p = k + 1 if k + 1 < Np else 0
            gam = gsd * n + gsu * up_s + gpd * k + gpu * up_p
            diag = -1j * delta * n - 0.5 * gam  # -i (delta n - i gam / 2)
            a_up = hk * c_up * sq_p[k + 1] if (n >= 2 and k + 1 < Np) else 0.0
            a_dn = hk * c_dn * sq_p[k] if (n + 2 < Ns and k >= 1) else 0.0
            d_up = f * sq_p[k] if k >= 1 else 0.0
            d_dn = f * sq_p[k + 1] if k + 1 < Np else 0.0
            for m in range(n % step, Ns, step):
                js_d = half_gsd * (sq_s[n + 1] * sq_s[m + 1]) if (n + 1 < Ns and m + 1 < Ns) else 0.0
                js_u = half_gsu * (sq_s[n] * sq_s[m]) if (n >= 1 and m >= 1) else 0.0
                for l in range(Np):
                    acc = diag * rho[n, k, m, l]
                    # -i * H_c with H_c = i (kappa/2)(a^dag^2 b - a^2 b^dag)
                    if a_up != 0.0:
                        acc += a_up * rho[n - 2, k + 1, m, l]
                    if a_dn != 0.0:
                        acc -= a_dn * rho[n + 2, k - 1, m, l]
                    # -i * H_d with H_d = i f (b^dag - b)
                    if d_up != 0.0:
                        acc += d_up * rho[n, k - 1, m, l]
                    if d_dn != 0.0:
                        acc -= d_dn * rho[n, k + 1, m, l]
                    if js_d != 0.0:
                        acc += js_d * rho[n + 1, k, m + 1, l]
                    if js_u != 0.0:
                        acc += js_u * rho[n - 1, k, m - 1, l]
                    if k + 1 < Np and l + 1 < Np:
                        acc += half_gpd * (sq_p[k + 1] * sq_p[l + 1]) * rho[n, k + 1, m, l + 1]
                    if half_gpu != 0.0 and k >= 1 and l >= 1:
                        acc += half_gpu * (sq_p[k] * sq_p[l]) * rho[n, k - 1, m, l - 1]
                    M[n, k, m, l] = acc
    # Pass 2: out = M + M^dag in place over the (Ns Np) x (Ns Np) matrix view.
    D = Ns * Np
    A = M.reshape(D, D)
    for i in range(D):
        n = i // Np
        A[i, i] = 2.0 * A[i, i].real
        for j in range(i + 1, D):
            if parity_only and (j // Np - n) % 2 != 0:
                continue
            s = A[i, j] + np.conj(A[j, i])
            A[i, j] = s
            A[j, i] = np.conj(s)
    return out


def coefficients(params, F: float) -> np.ndarray:
    """Pack the model parameters for :func:`lindblad_rhs`."""
    p = params
    return np.array(
        [
            p.kappa,
            np.sqrt(p.gamma_p) * F,
            p.delta,
            p.gamma_s * (p.nth_s + 1),
            p.gamma_s * p.nth_s,
            p.gamma_p * (p.nth_p + 1),
            p.gamma_p * p.nth_p,
        ]
    )
