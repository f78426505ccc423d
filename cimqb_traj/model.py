"""Operators of the DOPO battery and of the discharge model, as ``qutip.Qobj``.

Tensor order: (signal, pump) for charging, (signal, load) for discharging.
"""

from __future__ import annotations

import numpy as np
import qutip

from .params import BatteryParams, LoadParams

__all__ = [
    "signal_ops",
    "hamiltonian",
    "collapse_ops",
    "vacuum",
    "signal_parity",
    "mean_field_rhs",
    "mean_field_jacobian",
    "mean_field_steady_state",
    "load_ops",
    "load_hamiltonian",
    "load_collapse_ops",
]


def signal_ops(p: BatteryParams):
    """(a_s, a_p) on the signal (x) pump space."""
    a = qutip.tensor(qutip.destroy(p.Ns), qutip.qeye(p.Np))
    b = qutip.tensor(qutip.qeye(p.Ns), qutip.destroy(p.Np))
    return a, b


def hamiltonian(p: BatteryParams, F: float | None = None) -> qutip.Qobj:
    """Interaction-picture Hamiltonian (PHYSICS.md, Eq. A13 with its typo fixed)."""
    a, b = signal_ops(p)
    F = p.F if F is None else F
    H = p.delta * a.dag() * a + 0.5j * p.kappa * (a.dag() ** 2 * b - a**2 * b.dag())
    if p.eps:
        H += 1j * p.eps * (a.dag() - a)  # coherent seed on the signal
    return H + 1j * np.sqrt(p.gamma_p) * F * (b.dag() - b)


def collapse_ops(p: BatteryParams) -> list[qutip.Qobj]:
    """Lindblad operators of Eq. (A24): sqrt(gamma_j (n_j+1)) a_j and sqrt(gamma_j n_j) a_j^dag."""
    a, b = signal_ops(p)
    ops = []
    for op, gamma, nth in ((a, p.gamma_s, p.nth_s), (b, p.gamma_p, p.nth_p)):
        if gamma * (nth + 1) > 0:
            ops.append(np.sqrt(gamma * (nth + 1)) * op)
        if gamma * nth > 0:
            ops.append(np.sqrt(gamma * nth) * op.dag())
    return ops


def vacuum(p: BatteryParams) -> qutip.Qobj:
    return qutip.tensor(qutip.fock_dm(p.Ns, 0), qutip.fock_dm(p.Np, 0))


def signal_parity(p: BatteryParams) -> qutip.Qobj:
    """(-1)^{n_s} on the signal (x) pump space; it commutes with H and maps D[a_s] to itself."""
    return qutip.tensor(qutip.Qobj(np.diag((-1.0) ** np.arange(p.Ns))), qutip.qeye(p.Np))


# --- mean field (Eqs. B4-B5 with signal detuning; thermal noise has no mean-field effect) ---


def mean_field_rhs(p: BatteryParams, t: float, alpha_s: complex, alpha_p: complex):
    """d alpha_s/dt = -(gamma_s/2 + i Delta) alpha_s + kappa alpha_s^* alpha_p + eps,
    d alpha_p/dt = -gamma_p/2 alpha_p - kappa/2 alpha_s^2 + sqrt(gamma_p) F(t)."""
    ds = -(0.5 * p.gamma_s + 1j * p.delta) * alpha_s + p.kappa * np.conj(alpha_s) * alpha_p + p.eps
    dp = -0.5 * p.gamma_p * alpha_p - 0.5 * p.kappa * alpha_s**2 + np.sqrt(p.gamma_p) * p.F_at(t)
    return ds, dp


def mean_field_jacobian(p: BatteryParams, alpha_s: complex, alpha_p: complex) -> np.ndarray:
    """Real 4x4 Jacobian of the mean-field flow in (Re a_s, Im a_s, Re a_p, Im a_p)."""
    eps = 1e-7
    x0 = np.array([alpha_s.real, alpha_s.imag, alpha_p.real, alpha_p.imag])

    def f(x):
        ds, dp = mean_field_rhs(p, 0.0, x[0] + 1j * x[1], x[2] + 1j * x[3])
        return np.array([ds.real, ds.imag, dp.real, dp.imag])

    # Central differences: the flow is a quadratic polynomial, so the O(eps^2) error vanishes
    # up to rounding; no analytic bookkeeping of conjugates needed.
    return np.column_stack([(f(x0 + eps * e) - f(x0 - eps * e)) / (2 * eps) for e in np.eye(4)])


def mean_field_steady_state(p: BatteryParams):
    """Stable mean-field fixed point (alpha_s >= 0 branch above threshold), Delta = 0 closed form.

    Below threshold alpha_s = 0, alpha_p = 2F/sqrt(gamma_p).  Above, alpha_p = gamma_s/(2 kappa)
    and |alpha_s|^2 = (2/kappa)(sqrt(gamma_p) F - gamma_p gamma_s/(4 kappa)).
    """
    if p.delta != 0 or p.eps != 0:
        raise NotImplementedError("closed form only for delta = 0, eps = 0; integrate mean_field_rhs instead")
    if abs(p.F) <= p.threshold:
        return 0j, complex(2 * p.F / np.sqrt(p.gamma_p))
    n = (2 / p.kappa) * (np.sqrt(p.gamma_p) * abs(p.F) - p.gamma_p * p.gamma_s / (4 * p.kappa))
    alpha_s = np.sqrt(n) * (1 if p.F > 0 else 1j)
    return complex(alpha_s), complex(p.gamma_s / (2 * p.kappa) * np.sign(p.F))


# --- discharge: signal (x) two-level load ---


def load_ops(Ns: int):
    """(a_s, sigma_-) on the signal (x) load space; load basis (|g>, |e>)."""
    a = qutip.tensor(qutip.destroy(Ns), qutip.qeye(2))
    sm = qutip.tensor(qutip.qeye(Ns), qutip.Qobj(np.array([[0, 1], [0, 0]], dtype=complex)))
    return a, sm


def load_hamiltonian(Ns: int, load: LoadParams) -> qutip.Qobj:
    a, sm = load_ops(Ns)
    return load.delta_a * sm.dag() * sm + load.g * (a * sm.dag() + a.dag() * sm)


def load_collapse_ops(Ns: int, battery: BatteryParams, load: LoadParams) -> list[qutip.Qobj]:
    a, sm = load_ops(Ns)
    ops = []
    if battery.gamma_s * (battery.nth_s + 1) > 0:
        ops.append(np.sqrt(battery.gamma_s * (battery.nth_s + 1)) * a)
    if battery.gamma_s * battery.nth_s > 0:
        ops.append(np.sqrt(battery.gamma_s * battery.nth_s) * a.dag())
    if load.gamma_a > 0:
        ops.append(np.sqrt(load.gamma_a) * sm)
    return ops
