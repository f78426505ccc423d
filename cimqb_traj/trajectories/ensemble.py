"""The ensemble runner moved to ``cimqb_traj.ensemble`` (it serves the phase-space methods too);
this module keeps the old import path ``cimqb_traj.trajectories.ensemble`` working."""

from ..ensemble import BACKENDS, interval, jackknife, run  # noqa: F401  moved to cimqb_traj.ensemble / problem; kept for the old import path
