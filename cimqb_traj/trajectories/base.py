"""What only the trajectory methods share: drawing a trajectory's initial pure state.

The problem and the per-group sums every ensemble method uses are in ``cimqb_traj.problem``,
the runner in ``cimqb_traj.ensemble``.

Seeds: with a mixed initial state (K > 1 kets in ``problem.psi0``), the first draw from a
trajectory's stream (``problem.rng``) picks its initial ket.
"""

from __future__ import annotations

import numpy as np

from ..problem import Problem

__all__ = ["initial_state"]


def initial_state(problem: Problem, g: np.random.Generator) -> np.ndarray:
    """Trajectory's initial pure state: psi0[0] if K = 1, else psi0[k] with probability p0[k]
    (one draw from ``g``)."""
    if len(problem.p0) == 1:
        return problem.psi0[0].copy()
    k = int(np.searchsorted(np.cumsum(problem.p0), g.random() * problem.p0.sum(), side="right"))
    return problem.psi0[min(k, len(problem.p0) - 1)].copy()
