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
    Ns, Np = rho.shape[0], rho.shape[1]
    kappa, f, delta, gsd, gsu, gpd, gpu = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], coef[6]
    sq_s = np.sqrt(np.arange(Ns + 2).astype(np.float64))
    sq_p = np.sqrt(np.arange(Np + 1).astype(np.float64))
    half_k = 0.5 * kappa
    # Y = -i H_eff rho, on the full array
    Y = np.empty_like(rho)
    for n in range(Ns):
        c_up = sq_s[n] * sq_s[n - 1] if n >= 2 else 0.0  # <n| a^dag^2 |n-2>
        c_dn = sq_s[n + 1] * sq_s[n + 2]  # <n| a^2 |n+2>
        for k in range(Np):
            # a a^dag of the truncated space is diag(1, .., N-1, 0): keeps the trace exact
            up_s = n + 1 if n + 1 < Ns else 0
            up_p = k + 1 if k + 1 < Np else 0
            gam = gsd * n + gsu * up_s + gpd * k + gpu * up_p
            diag = -1j * delta * n - 0.5 * gam  # -i (delta n - i gam / 2)
            for m in range(Ns):
                if parity_only and (n - m) % 2 != 0:
                    for l in range(Np):
                        Y[n, k, m, l] = 0.0
                    continue
                for l in range(Np):
                    acc = diag * rho[n, k, m, l]
                    # -i * i(kappa/2) = kappa/2 ; H_c = i(k/2)(a^dag^2 b - a^2 b^dag)
                    if n >= 2 and k + 1 < Np:
                        acc += half_k * c_up * sq_p[k + 1] * rho[n - 2, k + 1, m, l]
                    if n + 2 < Ns and k >= 1:
                        acc -= half_k * c_dn * sq_p[k] * rho[n + 2, k - 1, m, l]
                    # -i * i f (b^dag - b) = f (b^dag - b)
                    if k >= 1:
                        acc += f * sq_p[k] * rho[n, k - 1, m, l]
                    if k + 1 < Np:
                        acc -= f * sq_p[k + 1] * rho[n, k + 1, m, l]
                    Y[n, k, m, l] = acc
    for n in range(Ns):
        for k in range(Np):
            for m in range(Ns):
                if parity_only and (n - m) % 2 != 0:
                    for l in range(Np):
                        out[n, k, m, l] = 0.0
                    continue
                for l in range(Np):
                    acc = Y[n, k, m, l] + np.conj(Y[m, l, n, k])
                    if n + 1 < Ns and m + 1 < Ns:
                        acc += gsd * sq_s[n + 1] * sq_s[m + 1] * rho[n + 1, k, m + 1, l]
                    if gsu != 0.0 and n >= 1 and m >= 1:
                        acc += gsu * sq_s[n] * sq_s[m] * rho[n - 1, k, m - 1, l]
                    if k + 1 < Np and l + 1 < Np:
                        acc += gpd * sq_p[k + 1] * sq_p[l + 1] * rho[n, k + 1, m, l + 1]
                    if gpu != 0.0 and k >= 1 and l >= 1:
                        acc += gpu * sq_p[k] * sq_p[l] * rho[n, k - 1, m, l - 1]
                    out[n, k, m, l] = acc
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
