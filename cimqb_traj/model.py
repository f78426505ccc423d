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
    r"""Stable mean-field fixed point (alpha_s, alpha_p) of Eqs. (B4)-(B5) at the constant pump ``p.F``
    (``t_off`` and ``t_ramp`` play no role), for every valid model.

    Without a seed (eps = 0) in closed form, any detuning Delta.  Writing alpha_s = r e^{i phi},
    the signal equation gives alpha_p = (gamma_s/2 + i Delta) e^{2 i phi} / kappa and the pump
    equation then

    .. math:: e^{2i\phi}\,[\gamma_s/2 + \kappa^2 r^2/\gamma_p + i\Delta] = 2\kappa F/\sqrt{\gamma_p},

    so r^2 = (gamma_p / kappa^2) (sqrt(4 kappa^2 F^2 / gamma_p - Delta^2) - gamma_s / 2), real and
    positive exactly for |F| > F_th (``BatteryParams.threshold``); phi = arg(.)/2 in (-pi/2, pi/2]
    (the branch alpha_s >= 0 for F > 0, Delta = 0; -alpha_s is the other, equivalent one).  At
    and below F_th: alpha_s = 0, alpha_p = 2F/sqrt(gamma_p).  Thermal noise has no mean-field
    effect.

    With a seed (eps != 0, no closed form: the fixed points solve a cubic in alpha_s and its
    conjugate), the flow ``mean_field_rhs`` is integrated from the vacuum (the battery's initial
    state, so the branch the seed selects is the one the charging reaches) until it has settled,
    the end point polished by Newton's method (``scipy.optimize.root`` with
    ``mean_field_jacobian``), and the fixed point accepted only if the Jacobian there has all
    eigenvalues in the open left half-plane.  Integration first, not a root search alone: a root
    search may land on an unstable fixed point (the trivial state above threshold, the branch
    the seed disfavours); the flow from the vacuum cannot.

    Raises ``ValueError`` for gamma_p = 0 (the pump is not driven: no threshold, and with a seed
    no fixed point) and ``errors.Refused`` if the flow does not settle on a stable fixed point
    (e.g. an undamped signal, gamma_s = 0, that only oscillates).
    """
    if p.gamma_p <= 0:
        raise ValueError("gamma_p must be > 0 for a mean-field steady state (with gamma_p = 0 the pump "
                         "amplitude F does not drive the pump mode)")
    if p.eps == 0:
        return _mean_field_closed_form(p)
    return _mean_field_by_flow(p)


def _mean_field_closed_form(p: BatteryParams):
    """eps = 0: the closed form of ``mean_field_steady_state``."""
    drive = 2 * p.F / np.sqrt(p.gamma_p)  # the trivial state's alpha_p
    if p.kappa == 0 or abs(p.F) <= p.threshold:
        return 0j, complex(drive)
    root = np.sqrt(max((p.kappa * drive) ** 2 - p.delta**2, 0.0))
    n = p.gamma_p / p.kappa**2 * (root - 0.5 * p.gamma_s)
    if n <= 0:  # |F| > F_th by rounding only
        return 0j, complex(drive)
    phase2 = p.kappa * drive / complex(0.5 * p.gamma_s + p.kappa**2 * n / p.gamma_p, p.delta)  # e^{2 i phi}
    phi = 0.5 * np.angle(phase2)
    if phi <= -np.pi / 2 + 1e-15:  # keep phi in (-pi/2, pi/2]: F < 0, Delta = 0 gives alpha_s = i r
        phi += np.pi
    alpha_s = np.sqrt(n) * np.exp(1j * phi)
    return complex(alpha_s), complex((0.5 * p.gamma_s + 1j * p.delta) * phase2 / p.kappa)


def _real_rhs(p: BatteryParams):
    def f(x):
        ds, dp = mean_field_rhs(p, 0.0, x[0] + 1j * x[1], x[2] + 1j * x[3])
        return np.array([ds.real, ds.imag, dp.real, dp.imag])

    return f


def _mean_field_by_flow(p: BatteryParams):
    """eps != 0: integrate from the vacuum, polish by Newton, check stability (see
    ``mean_field_steady_state``)."""
    from scipy.integrate import solve_ivp
    from scipy.optimize import root

    from .errors import Refused

    p = p.replace(t_off=None, t_ramp=None)  # the constant pump
    f = _real_rhs(p)
    # the slowest linear rate of the model sets the time unit; an imperfect pitchfork (the seed
    # rounds the threshold) relaxes at least at ~ kappa^(2/3) eps^(2/3)-type rates, far faster
    # than the cap below allows for
    rate = min(r for r in (0.5 * p.gamma_s, 0.5 * p.gamma_p, abs(p.delta), abs(p.eps) ** (2 / 3)) if r > 0) \
        if any(r > 0 for r in (p.gamma_s, abs(p.delta))) else 0.0
    if rate == 0:
        raise Refused("the mean-field signal is undamped (gamma_s = 0, delta = 0) and the seed drives it "
                      "without bound: no steady state; use gamma_s > 0")
    x, t, T = np.zeros(4), 0.0, 20.0 / rate
    jac = lambda x: mean_field_jacobian(p, x[0] + 1j * x[1], x[2] + 1j * x[3])  # noqa: E731
    while t < 2e4 / rate:
        sol = solve_ivp(lambda _t, y: f(y), (t, t + T), x, method="LSODA", jac=lambda _t, y: jac(y),
                        rtol=1e-9, atol=1e-12)
        x, t = sol.y[:, -1], t + T
        scale = 1.0 + np.abs(x).max()
        if np.abs(f(x)).max() <= 1e-4 * rate * scale:  # close to a fixed point: polish
            r = root(f, x, jac=jac, method="hybr", tol=1e-14)
            moved = np.abs(r.x - x).max()
            if np.abs(f(r.x)).max() <= 1e-10 * rate * scale and moved <= 1e-2 * scale:
                growth = np.linalg.eigvals(jac(r.x)).real.max()
                if growth < 0:
                    return complex(r.x[0], r.x[1]), complex(r.x[2], r.x[3])
                raise Refused(f"the mean-field flow settles at a fixed point that is not stable (growth rate "
                              f"{growth:.2g}); no steady state at F={p.F:g}")
        T *= 2
    raise Refused(f"the mean-field flow from the vacuum has not settled by gamma_s t = {t:.3g} at F={p.F:g} "
                  "(a limit cycle or an undamped mode): no steady state")


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
