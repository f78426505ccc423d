"""Immutable, validated parameters of the DOPO battery and of its two-level load.

Units: hbar = 1, every rate and frequency in units of the signal decay rate gamma_s of the
paper (which fixes gamma_s = 1), times in 1/gamma_s.  The pump amplitude ``F`` is the paper's
F_p / sqrt(gamma_s).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["BatteryParams", "LoadParams", "RAMP_PIECE", "ramp_pieces"]

#: Longest piece (in 1/gamma_s) of the staircase that represents a linear pump ramp.
RAMP_PIECE = 0.1


def ramp_pieces(t_ramp: float) -> int:
    """Number of equal staircase pieces of a ramp of duration t_ramp (each <= RAMP_PIECE)."""
    return max(1, math.ceil(t_ramp / RAMP_PIECE - 1e-9))


def _check_real(name: str, value, *, minimum=None, strict=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be {rel} {minimum}, got {value!r}")
    return v


def _check_dim(name: str, value) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):  # None, "abc", nan, inf
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < 2:
        raise ValueError(f"{name} (Fock truncation) must be >= 2, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class BatteryParams:
    r"""The charging stage: one DOPO, signal = battery, pump = charger.

    .. math::

        H = \Delta a_s^\dagger a_s + i\frac{\kappa}{2}(a_s^{\dagger 2} a_p - a_s^2 a_p^\dagger)
            + i\sqrt{\gamma_p}F(t)(a_p^\dagger - a_p) + i\epsilon(a_s^\dagger - a_s),

        \dot\rho = -i[H,\rho] + \sum_{j=s,p}\gamma_j(n_j+1)D[a_j]\rho + \gamma_j n_j D[a_j^\dagger]\rho,

    with ``F(t) = F`` for ``t < t_off`` and 0 afterwards.  Defaults are the paper's
    (kappa = 0.5, gamma_p = 16, F = 3, Ns = 32, Np = 9, zero temperature, no switch-off).

    Coherent-Ising-machine knobs (issue 6), both off by default:

    * ``eps``: a real coherent seed (injection) on the signal, H_inj = i eps (a_s^dag - a_s), i.e.
      d alpha_s/dt += eps in the mean field; eps > 0 favours the phase 0 (spin +1).  It breaks
      the signal parity symmetry.
    * ``t_ramp``: the pump rises linearly from 0 to F over [0, t_ramp], as a staircase of
      ``ramp_pieces(t_ramp)`` equal pieces of length <= RAMP_PIECE, each at the ramp's value at
      its midpoint (``F_at``).  Every method integrates this same piecewise-constant F(t),
      which keeps the exact and trajectory solvers on constant generators; the staircase
      differs from the smooth ramp by O(RAMP_PIECE^2 F / t_ramp) in the state (midpoint rule).
    ``cuts(t0, t1)`` lists the times in (t0, t1) where F(t) jumps (ramp pieces, t_off).

    ``Ns`` and ``Np`` are Fock-space dimensions (photon numbers 0 .. N-1).  ``omega_s`` is the
    signal frequency that sets the battery energy ladder ``n omega_s``; the paper's charging
    figures use omega_s = gamma_s = 1, so W is then a photon number.
    """

    kappa: float = 0.5
    gamma_s: float = 1.0
    gamma_p: float = 16.0
    F: float = 3.0
    delta: float = 0.0
    nth_s: float = 0.0
    nth_p: float = 0.0
    Ns: int = 32
    Np: int = 9
    omega_s: float = 1.0
    t_off: float | None = None
    eps: float = 0.0
    t_ramp: float | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for name in ("kappa", "gamma_s", "gamma_p", "nth_s", "nth_p"):
            set_(name, _check_real(name, getattr(self, name), minimum=0.0))
        set_("F", _check_real("F", self.F))
        set_("delta", _check_real("delta", self.delta))
        set_("omega_s", _check_real("omega_s", self.omega_s, minimum=0.0, strict=True))
        set_("Ns", _check_dim("Ns", self.Ns))
        set_("Np", _check_dim("Np", self.Np))
        if self.t_off is not None:
            set_("t_off", _check_real("t_off", self.t_off, minimum=0.0))
        set_("eps", _check_real("eps", self.eps))
        if self.t_ramp is not None:
            set_("t_ramp", _check_real("t_ramp", self.t_ramp, minimum=0.0, strict=True))

    def F_at(self, t: float) -> float:
        """Pump amplitude at time ``t``: the ramp staircase (if ``t_ramp``), F, and 0 from ``t_off``."""
        if self.t_off is not None and t >= self.t_off:
            return 0.0
        if self.t_ramp is not None and t < self.t_ramp:
            n = ramp_pieces(self.t_ramp)
            k = min(int(t / self.t_ramp * n + 1e-9), n - 1)  # a cut time belongs to the next piece
            return self.F * (k + 0.5) / n
        return self.F

    def cuts(self, t0: float, t1: float) -> list:
        """Sorted times in the open interval (t0, t1) at which F(t) jumps."""
        c = []
        if self.t_ramp is not None:
            n = ramp_pieces(self.t_ramp)
            c += [self.t_ramp * k / n for k in range(1, n + 1)]
        if self.t_off is not None:
            c.append(self.t_off)
        return sorted(x for x in set(c) if t0 < x < t1)

    @property
    def threshold(self) -> float:
        r"""Mean-field pump threshold

        .. math:: F_{th} = \frac{\sqrt{\gamma_p}}{2\kappa}\sqrt{\gamma_s^2/4 + \Delta^2},

        the pump at which the trivial solution alpha_s = 0, alpha_p = 2F/sqrt(gamma_p) of
        Eqs. (B4)-(B5) loses stability (eigenvalues -gamma_s/2 +- sqrt(kappa^2 alpha_p^2 -
        Delta^2)).  At Delta = 0 it is the paper's gamma_s sqrt(gamma_p) / (4 kappa).
        """
        if self.kappa == 0:
            return math.inf
        return math.sqrt(self.gamma_p) / (2 * self.kappa) * math.hypot(self.gamma_s / 2, self.delta)

    def replace(self, **changes) -> "BatteryParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LoadParams:
    r"""The discharge stage: the battery's signal mode coupled to a two-level load.

    In the frame rotating at omega_s (Sec. IV of the paper, resonant when ``delta_a = 0``):

    .. math::

        H' = \delta_a \sigma_+\sigma_- + g(a_s\sigma_+ + a_s^\dagger\sigma_-),\qquad
        \dot\rho' = -i[H',\rho'] + \gamma_s(n_s+1) D[a_s]\rho' + \gamma_s n_s D[a_s^\dagger]\rho'
                    + \gamma_a D[\sigma_-]\rho',

    with ``delta_a = omega_a - omega_s``.  The frame change is a product of local unitaries that
    commute with each local Hamiltonian, so the ergotropies of the reduced states are those of
    the lab frame.  ``omega_s`` and ``omega_a`` (paper: 100 gamma_s) set the energy ladders;
    the normalised ergotropies are kappa_i = W_i / omega_i.
    """

    g: float = 1.0
    gamma_a: float = 0.1
    omega_s: float = 100.0
    omega_a: float = 100.0

    def __post_init__(self):
        object.__setattr__(self, "g", _check_real("g", self.g, minimum=0.0))
        object.__setattr__(self, "gamma_a", _check_real("gamma_a", self.gamma_a, minimum=0.0))
        for name in ("omega_s", "omega_a"):
            object.__setattr__(self, name, _check_real(name, getattr(self, name), minimum=0.0, strict=True))

    @property
    def delta_a(self) -> float:
        """Load detuning omega_a - omega_s."""
        return self.omega_a - self.omega_s

    def replace(self, **changes) -> "LoadParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
