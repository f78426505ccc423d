"""cimqb_traj: a quantum battery in a degenerate optical parametric oscillator.

Exact (Lindblad) reference solver, ergotropy with its coherent / incoherent split, and the
discharge into a two-level load; see ``BatteryParams`` for the model.  Quantum trajectories
(photon counting, homodyne) are in ``cimqb_traj.trajectories``.
"""

from .ergotropy import ergotropy, ergotropy_parts, gaussian_ergotropy, passive_state, tls_ergotropy
from .exact import TruncationError, charge, discharge, steady_state
from .params import BatteryParams, LoadParams
from .results import ChargeResult, DischargeResult, TrajectoryDischargeResult, TrajectoryResult, load

__version__ = "0.1.0"

__all__ = [
    "BatteryParams", "LoadParams", "ChargeResult", "DischargeResult", "TrajectoryResult",
    "TrajectoryDischargeResult", "TruncationError",
    "charge", "discharge", "steady_state", "load",
    "ergotropy", "ergotropy_parts", "passive_state", "gaussian_ergotropy", "tls_ergotropy",
]
