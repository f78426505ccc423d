r"""Joint distributions of the quadrature signs sigma_i = sgn x_i, x_i = (a_i + a_i^dag)/sqrt 2.

The physical spin probability of a configuration sigma in {-1, +1}^N is

    P(sigma) = Tr[rho prod_i Theta(sigma_i x_i)],

Theta the step function (a projector on each signal mode).  This module evaluates it exactly for a
density matrix (:func:`spin_distribution_exact`, through the Fock matrix of Theta(x),
:func:`sign_projector`) and estimates it without bias from positive-P samples
(:func:`spin_distribution_positive_p`) and from truncated-Wigner samples
(:func:`spin_distribution_wigner`), so that the three can be compared at N = 2.

This is the distribution of an ideal x-quadrature measurement of every signal at once; the Ising
*readout* of a phase-space shot (``NetworkPositiveP.spins``: sgn Re alpha_i) is a different,
representation-dependent quantity and is not what is estimated here.

Configurations are the rows of :func:`configurations`: spin 0 varies slowest, +1 before -1
(row k has sigma_i = +1 iff bit N-1-i of k is 0; row 0 all up, the last row all down).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc

from ..checks import check_int

__all__ = ["sign_projector", "configurations", "spin_distribution_exact",
           "spin_distribution_positive_p", "spin_distribution_wigner"]

#: largest N for which the 2^N configurations are enumerated
MAX_SPINS = 20


def _hermite_at_zero(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """psi_n(0) and psi_n'(0) for n < dim (harmonic-oscillator eigenfunctions, x = (a + a^dag)/sqrt 2).

    psi_{n+1}(0) = -sqrt(n/(n+1)) psi_{n-1}(0) (the three-term recurrence at x = 0) and
    psi_n' = (sqrt(n) psi_{n-1} - sqrt(n+1) psi_{n+1}) / sqrt 2 (d/dx = (a - a^dag)/sqrt 2).
    """
    psi = np.zeros(dim + 1)
    psi[0] = math.pi ** -0.25
    for n in range(1, dim):
        psi[n + 1] = -math.sqrt(n / (n + 1)) * psi[n - 1]
    n = np.arange(dim)
    lower = np.concatenate([[0.0], psi[:dim - 1]])
    dpsi = (np.sqrt(n) * lower - np.sqrt(n + 1) * psi[1:dim + 1]) / math.sqrt(2)
    return psi[:dim], dpsi


def sign_projector(dim: int) -> np.ndarray:
    r"""Fock-basis matrix of Theta(x), x = (a + a^dag)/sqrt 2, on the first ``dim`` levels.

    M_nm = int_0^inf psi_n(x) psi_m(x) dx.  The diagonal is 1/2 (psi_n^2 is even).  Off the diagonal,
    psi_n'' = (x^2 - 2n - 1) psi_n gives (psi_m psi_n' - psi_n psi_m')' = 2 (m - n) psi_n psi_m, so

        M_nm = (psi_n(0) psi_m'(0) - psi_m(0) psi_n'(0)) / (2 (m - n)),   n != m,

    which vanishes for even n - m (psi_n(0) = 0 for odd n, psi_n'(0) = 0 for even n).  Closed form,
    accurate to round-off.  Theta(-x) is ``I - M`` (the truncation of 1 - Theta(x)).

    Parameters
    ----------
    dim : int
        Fock cut-off (>= 1).

    Returns
    -------
    (dim, dim) float ndarray, real symmetric.
    """
    dim = check_int("dim", dim, 1)
    psi, dpsi = _hermite_at_zero(dim)
    n = np.arange(dim)
    diff = n[None, :] - n[:, None]  # m - n
    num = psi[:, None] * dpsi[None, :] - psi[None, :] * dpsi[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        M = np.where(diff != 0, num / (2.0 * diff), 0.5)
    return M


def configurations(N: int) -> np.ndarray:
    """All 2^N spin configurations, (2^N, N) int8 of +-1 in the module's order (spin 0 slowest,
    +1 before -1; row 0 all up).  N <= ``MAX_SPINS``."""
    N = check_int("N", N, 1)
    if N > MAX_SPINS:
        raise ValueError(f"N must be <= {MAX_SPINS} to enumerate 2^N configurations, got {N}")
    k = np.arange(1 << N)[:, None]
    return (1 - 2 * ((k >> np.arange(N - 1, -1, -1)) & 1)).astype(np.int8)


def spin_distribution_exact(rho, N: int, dims) -> np.ndarray:
    r"""P(sigma) = Tr[rho prod_i Theta(sigma_i x_i)] for a network density matrix.

    Parameters
    ----------
    rho : qutip.Qobj or ndarray
        Density matrix over the modes s_0, p_0, s_1, p_1, ... (``network.exact`` order), dimension
        (Ns Np)^N.
    N : int
        Number of spins.
    dims : (int, int)
        (Ns, Np), the signal and pump cut-offs of every spin.

    Returns
    -------
    (2^N,) float ndarray over the rows of ``configurations(N)``; sums to Tr rho.  Each factor is the
    truncated Theta, so P is exact for the truncated state (no further approximation).
    """
    N = check_int("N", N, 1)
    if N > MAX_SPINS:
        raise ValueError(f"N must be <= {MAX_SPINS}, got {N}")
    try:
        if len(dims) != 2:
            raise ValueError
        Ns, Np = (check_int(name, d, 1) for name, d in zip(("Ns", "Np"), dims))
    except (TypeError, ValueError) as e:
        raise ValueError(f"dims must be (Ns, Np), two positive integers, got {dims!r}") from e
    if hasattr(rho, "full"):
        want = [[Ns, Np] * N] * 2
        if [list(map(int, d)) for d in rho.dims] != want:
            raise ValueError(f"rho: qutip dims {rho.dims} do not match N = {N}, dims = ({Ns}, {Np})")
        rho = rho.full()
    rho = np.asarray(rho)
    D = (Ns * Np) ** N
    if rho.shape != (D, D):
        raise ValueError(f"rho must be a ({D}, {D}) matrix for N = {N}, dims = ({Ns}, {Np}); got {rho.shape}")
    # trace out the pumps: einsum labels of the row indices (s0, p0, s1, p1, ...) then the column
    # ones; a pump's row and column share a label (summed), the signals' are kept
    row = [x for i in range(N) for x in (3 * i, 3 * i + 2)]
    col = [x for i in range(N) for x in (3 * i + 1, 3 * i + 2)]
    keep = [3 * i for i in range(N)] + [3 * i + 1 for i in range(N)]
    rs = np.einsum(rho.reshape([Ns, Np] * N * 2), row + col, keep)  # (Ns,)*N rows, (Ns,)*N columns
    M = sign_projector(Ns)
    proj = np.stack([M, np.eye(Ns) - M])  # Theta(x), Theta(-x)
    probs = np.empty(1 << N)
    for k, sigma in enumerate(configurations(N)):
        ops = [proj[0] if s > 0 else proj[1] for s in sigma]
        # Tr[rs (x)_i O_i] = sum rs[n_0..n_{N-1}, m_0..m_{N-1}] prod_i O_i[m_i, n_i]
        args = [rs, list(range(2 * N))]
        for i, O in enumerate(ops):
            args += [O, [N + i, i]]
        probs[k] = np.einsum(*args, []).real
    return probs


def _samples(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be a (samples, N) numeric array with >= 2 samples, got shape {x.shape}")
    if x.shape[1] > MAX_SPINS:
        raise ValueError(f"{name}: N = {x.shape[1]} spins exceeds {MAX_SPINS} (2^N configurations)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite (drop diverged samples first, and count them)")
    return x.astype(complex)


def _mean_err(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over samples (axis 0) and standard error from the sample spread."""
    return w.mean(axis=0), w.std(axis=0, ddof=1) / math.sqrt(w.shape[0])


def spin_distribution_positive_p(alpha, alpha_plus) -> tuple[np.ndarray, np.ndarray]:
    r"""Unbiased positive-P estimate of P(sigma) with standard errors.

    Derivation.  A positive-P sample stands for the operator Lambda = |alpha><alpha^{+*}| /
    <alpha^{+*}|alpha> (per mode; a product over modes).  With the coherent wavefunction
    <x|alpha> = pi^{-1/4} exp(-x^2/2 + sqrt2 alpha x - alpha^2/2 - |alpha|^2/2),

        <x|Lambda|x> = pi^{-1/2} exp(-(x - mu)^2),   mu = (alpha + alpha^+)/sqrt 2,

    a Gaussian of mean mu (complex in general) and variance 1/2.  Hence
    Tr[Lambda Theta(sigma x)] = int_{sigma x > 0} pi^{-1/2} exp(-(x - mu)^2) dx = (1/2) erfc(-sigma mu)
    (both sides are entire in mu and agree for real mu), and over the spins the sample weight is

        w(sigma) = prod_i (1/2) erfc(-sigma_i (alpha_i + alpha_i^+) / sqrt 2).

    P(sigma) = E[w(sigma)] exactly (normal-ordering-free: Theta is evaluated on Lambda directly);
    the estimate is the real part of the sample mean (its imaginary part has mean zero).  The error
    is the sample standard deviation of Re w over sqrt(samples) (independent samples: normal-law
    critical values apply, not Student's t of a jackknife).  Heavy tails appear where |Im mu| is large (far above
    threshold), as for every positive-P moment.

    Parameters
    ----------
    alpha, alpha_plus : (samples, N) complex arrays
        Signal amplitudes alpha_i and alpha_i^+ of the kept (non-diverged) samples at one time.

    Returns
    -------
    probs, errs : (2^N,) float ndarrays over the rows of ``configurations(N)``.
    """
    a, ap = _samples("alpha", alpha), _samples("alpha_plus", alpha_plus)
    if a.shape != ap.shape:
        raise ValueError(f"alpha and alpha_plus must have the same shape, got {a.shape} and {ap.shape}")
    mu = (a + ap) / math.sqrt(2)
    up = 0.5 * erfc(-mu)  # Theta(x) weight per sample and spin; Theta(-x) is 1 - up
    S = configurations(a.shape[1])
    w = np.prod(np.where(S[None] > 0, up[:, None, :], 1.0 - up[:, None, :]), axis=2)
    return _mean_err(w.real)


def spin_distribution_wigner(alpha) -> tuple[np.ndarray, np.ndarray]:
    r"""Truncated-Wigner estimate of P(sigma) with binomial standard errors.

    The Wigner function's marginal in x is the quadrature distribution, so for an observable
    f(x_1..x_N) of the commuting quadratures <f> = E_W[f(sqrt2 Re alpha)]: P(sigma) is the fraction
    of samples with sgn Re alpha_i = sigma_i for every i (a sample with Re alpha_i = 0 exactly counts
    1/2 to each sign).  Exact for the Wigner distribution; the truncated-Wigner dynamics is itself an
    approximation (third-order derivative terms dropped).  Errors sqrt(p (1 - p) / (samples - 1))
    (the sample spread of the 0/1 indicator).

    Parameters
    ----------
    alpha : (samples, N) complex array
        Signal amplitudes of the samples at one time.

    Returns
    -------
    probs, errs : (2^N,) float ndarrays over the rows of ``configurations(N)``.
    """
    a = _samples("alpha", alpha)
    up = 0.5 * (1.0 + np.sign(a.real))
    S = configurations(a.shape[1])
    w = np.prod(np.where(S[None] > 0, up[:, None, :], 1.0 - up[:, None, :]), axis=2)
    return _mean_err(w)
