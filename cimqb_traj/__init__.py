"""cimqb_traj: a quantum battery in a degenerate optical parametric oscillator.

Exact (Lindblad) reference solver, ergotropy with its coherent / incoherent split, and the
discharge into a two-level load; see ``BatteryParams`` for the model.  Quantum trajectories
(photon counting, homodyne) are in ``cimqb_traj.trajectories``, the phase-space methods in
``cimqb_traj.phasespace``.  ``solve(params, t, method=...)`` runs every method through one door
(``cimqb_traj.api``); ``steady_state`` and ``threshold_sweep`` return result objects too.
"""

from .ergotropy import ergotropy, ergotropy_parts, gaussian_ergotropy, passive_state, tls_ergotropy
from .params import BatteryParams, LoadParams
from .api import solve
from .results import (ChargeResult, DischargeResult, ThresholdResult, TrajectoryDischargeResult, TrajectoryResult,
                      load)

__version__ = "0.1.0"

_LAZY = {"TruncationError", "charge", "discharge", "steady_state"}


def __getattr__(name):
    # The exact solver imports qutip (~3 s): loaded on first use, so trajectory workers and
    # the command line's start-up do not pay for it unless they need it.
    if name in _LAZY:
        from . import exact

        return getattr(exact, name)
    if name == "threshold_sweep":
        from .threshold import sweep

        return sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BatteryParams", "LoadParams", "ChargeResult", "DischargeResult", "TrajectoryResult",
    "TrajectoryDischargeResult", "ThresholdResult", "TruncationError",
    "solve", "charge", "discharge", "steady_state", "threshold_sweep", "load",
    "ergotropy", "ergotropy_parts", "passive_state", "gaussian_ergotropy", "tls_ergotropy",
]
