r"""Energy, ergotropy and its coherent / incoherent split (paper Eqs. 9-12, Appendix D).

For a state rho and a Hamiltonian diagonal in the working basis with ascending energies
e_0 <= e_1 <= ...:

* E = Tr[rho H];
* passive energy = sum_n e_n r_n, r_n the eigenvalues of rho sorted descending;
* W = E - passive energy (ergotropy);
* W_i = E - sum_n e_n d_n, d_n the diagonal of rho sorted descending (the ergotropy of the
  dephased state, paper Eq. 11 / D1 with the tilde fixed as in PHYSICS.md);
* W_c = W - W_i >= 0 (the dephased passive state is less mixed than rho's passive state).

Every routine takes a numpy array or a ``qutip.Qobj``; arrays may carry leading batch axes
(``(..., N, N)``), e.g. a whole time series at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Ergotropy",
    "as_array",
    "ladder",
    "energy",
    "ergotropy",
    "ergotropy_parts",
    "passive_state",
    "average_power",
    "tls_ergotropy",
    "tls_amplitude_damping",
    "gaussian_ergotropy",
]


class Ergotropy(NamedTuple):
    """Energy, ergotropy W, incoherent part W_i, coherent part W_c and passive energy."""

    energy: np.ndarray
    W: np.ndarray
    W_c: np.ndarray
    W_i: np.ndarray
    passive: np.ndarray


def as_array(rho) -> np.ndarray:
    """Dense complex array of a density matrix given as array or ``qutip.Qobj``."""
    if hasattr(rho, "full"):
        rho = rho.full()
    rho = np.asarray(rho, dtype=complex)
    if rho.ndim < 2 or rho.shape[-1] != rho.shape[-2]:
        raise ValueError(f"rho must be a square matrix (or a stack of them), got shape {rho.shape}")
    return rho


def ladder(n: int, omega: float = 1.0) -> np.ndarray:
    """Energies n * omega of a truncated harmonic oscillator (0 .. n-1)."""
    return omega * np.arange(n, dtype=float)


def _energies(rho: np.ndarray, energies) -> np.ndarray:
    n = rho.shape[-1]
    e = ladder(n) if energies is None else np.asarray(energies, dtype=float)
    if e.shape != (n,):
        raise ValueError(f"energies must have length {n} to match rho, got shape {e.shape}")
    if np.any(np.diff(e) < 0):
        raise ValueError("energies must be sorted ascending (the working basis is the energy basis)")
    return e


def energy(rho, energies=None) -> np.ndarray:
    """Tr[rho H] for H = diag(energies) (default: photon number)."""
    rho = as_array(rho)
    e = _energies(rho, energies)
    return np.einsum("...ii,i->...", rho, e).real


def ergotropy_parts(rho, energies=None) -> Ergotropy:
    """Energy, W, W_c, W_i and the passive energy of ``rho`` (see module docstring)."""
    rho = as_array(rho)
    e = _energies(rho, energies)
    herm = 0.5 * (rho + np.swapaxes(rho, -1, -2).conj())
    E = np.einsum("...ii,i->...", herm, e).real
    r = np.linalg.eigvalsh(herm)[..., ::-1]  # descending
    d = np.sort(np.diagonal(herm, axis1=-2, axis2=-1).real, axis=-1)[..., ::-1]
    passive = r @ e
    W = E - passive
    W_i = E - d @ e
    return Ergotropy(E, W, W - W_i, W_i, passive)


def ergotropy(rho, energies=None) -> np.ndarray:
    """Ergotropy W = Tr[rho H] - Tr[rho_passive H]."""
    return ergotropy_parts(rho, energies).W


def passive_state(rho, energies=None):
    """The passive state: rho's eigenvalues, descending, on the ascending energy levels.

    Returns a ``qutip.Qobj`` when given one, else an array.
    """
    arr = as_array(rho)
    _energies(arr, energies)
    r = np.linalg.eigvalsh(0.5 * (arr + np.swapaxes(arr, -1, -2).conj()))[..., ::-1]
    out = np.zeros_like(arr)
    idx = np.arange(arr.shape[-1])
    out[..., idx, idx] = r
    if hasattr(rho, "full"):
        import qutip

        return qutip.Qobj(out, dims=rho.dims)
    return out


def average_power(t, W) -> np.ndarray:
    """Average charging power P(t) = W(t)/t; NaN at t = 0 where it is undefined."""
    t = np.asarray(t, dtype=float)
    W = np.asarray(W, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, W / np.where(t > 0, t, 1.0), np.nan)


def tls_ergotropy(p, c, omega: float = 1.0) -> Ergotropy:
    """Closed form of Appendix D for rho = [[1-p, c], [c*, p]], H = diag(0, omega).

    lambda_- = (1 - sqrt((2p-1)^2 + 4|c|^2))/2 (D5); W = omega (p - lambda_-) (D8-D9);
    W_i = omega max(2p-1, 0) (D12, D15); W_c = W - W_i (D13, D16).
    """
    p = np.asarray(p, dtype=float)
    c = np.asarray(c)
    lam_minus = 0.5 * (1 - np.sqrt((2 * p - 1) ** 2 + 4 * np.abs(c) ** 2))
    E = omega * p
    W = omega * (p - lam_minus)
    W_i = omega * np.maximum(2 * p - 1, 0.0)
    return Ergotropy(E, W, W - W_i, W_i, omega * lam_minus)


def tls_amplitude_damping(p0, c0, gamma: float, t, omega: float = 1.0):
    """Eqs. (D24)-(D28): a damped two-level battery.

    Returns ``(p, c, parts)`` with p(t) = p0 e^{-gamma t}, c(t) = c0 e^{(i omega - gamma/2) t}
    and ``parts`` the :class:`Ergotropy` of the closed form, where W_c takes Eq. (D28),
    W_c = omega/2 [sqrt((2p-1)^2 + 4|c|^2) - |2p-1|], valid for any p.
    """
    t = np.asarray(t, dtype=float)
    p = p0 * np.exp(-gamma * t)
    c = c0 * np.exp((1j * omega - gamma / 2) * t)
    x = 2 * p - 1
    W_c = 0.5 * omega * (np.sqrt(x**2 + 4 * np.abs(c) ** 2) - np.abs(x))  # (D28)
    W_i = omega * np.maximum(x, 0.0)  # (D27), zero once p <= 1/2
    lam_minus = 0.5 * (1 - np.sqrt(x**2 + 4 * np.abs(c) ** 2))
    return p, c, Ergotropy(omega * p, W_c + W_i, W_c, W_i, omega * lam_minus)


def gaussian_ergotropy(mean, cov, omega: float = 1.0) -> Ergotropy:
    r"""Ergotropy of a single-mode Gaussian state from its first and second moments.

    Parameters
    ----------
    mean : complex or array of shape (2,)
        <a>, or the quadrature means (<x>, <p>) with x = (a + a^dag)/sqrt(2).
    cov : array (2, 2)
        Symmetrised covariance of (x, p); the vacuum has cov = I/2.

    Notes
    -----
    The energy is omega (|<a>|^2 + (Tr cov - 1)/2); the passive state of a Gaussian state is
    the thermal state of the same symplectic eigenvalue nu = sqrt(det cov), with energy
    omega (nu - 1/2).  Hence W = omega (|<a>|^2 + (Tr cov - 1)/2 - sqrt(det cov) + 1/2).
    W_i and W_c are not Gaussian closed forms; they are returned as NaN (use the Fock-basis
    :func:`ergotropy_parts` on a reconstructed state when needed).
    """
    mean = np.asarray(mean)
    if mean.shape == (2,):
        alpha2 = 0.5 * float(np.real(mean[0]) ** 2 + np.real(mean[1]) ** 2)
    else:
        alpha2 = float(np.abs(complex(mean)) ** 2)
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (2, 2):
        raise ValueError(f"cov must be 2x2, got shape {cov.shape}")
    det = float(np.linalg.det(cov))
    if det < 0.25 * (1 - 1e-9):
        raise ValueError(f"cov violates the uncertainty relation: det(cov) = {det} < 1/4")
    E = omega * (alpha2 + 0.5 * (np.trace(cov) - 1))
    passive = omega * (np.sqrt(det) - 0.5)
    nan = np.float64(np.nan)
    return Ergotropy(np.float64(E), np.float64(E - passive), nan, nan, np.float64(passive))
