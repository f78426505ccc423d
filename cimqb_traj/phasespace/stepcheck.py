"""Step-halving check of a phase-space run: is the time step converged?

``step_check(method, problem, ntraj, seed)`` runs ``method`` (``PositiveP`` or ``Wigner``) at its
step dt and at dt/2 with the same seed and compares the normally ordered moments <a_s^dag a_s>,
<a_s^2>, <a_p^dag a_p> at every output time.  The two runs share their random streams but not
their paths, so each difference is compared with the combined standard error of the two runs
(conservative: correlation between them only lowers the true error of the difference).  The
step is called converged when no |z| exceeds ``z_max`` (default 3: with ~3 moments x len(t)
comparisons a few |z| > 2 are expected by chance, |z| > 3 rarely).
"""

from __future__ import annotations

import numpy as np

from ..trajectories.ensemble import run
from .moments import moments

__all__ = ["step_check"]

_CHECKED = ("a_dag_a", "a2", "n_p")


def step_check(method, problem, ntraj: int, seed: int, *, z_max: float = 3.0, **run_kw) -> dict:
    """Run at dt and dt/2; returns ``{"dt": dt, "z": {moment: z(t)}, "max_abs_z": ..., "converged":
    bool, "results": (coarse, fine)}`` (z = (coarse - fine) / combined standard error, real parts
    for <a_s^2>)."""
    if not hasattr(method, "dt"):
        raise ValueError(f"method must be a fixed-step phase-space method, got {type(method).__name__}")
    fine_method = type(method)(**{**_init_kw(method), "dt": method.dt / 2})
    coarse = run(method, problem, ntraj, seed, **run_kw)
    fine = run(fine_method, problem, ntraj, seed, **run_kw)
    mc, mf = moments(coarse), moments(fine)
    z = {}
    for name in _CHECKED:
        (vc, ec), (vf, ef) = mc[name], mf[name]
        err = np.hypot(ec.real, ef.real)
        d = (vc - vf).real
        z[name] = np.where(err > 0, d / np.where(err > 0, err, 1.0), 0.0)
    zmax = float(max(np.max(np.abs(v)) for v in z.values()))
    return {"dt": method.dt, "z": z, "max_abs_z": zmax, "converged": zmax <= z_max, "results": (coarse, fine)}


def _init_kw(method) -> dict:
    """The constructor keywords that reproduce ``method`` (all but dt are kept)."""
    keys = ("batch", "spike_bound", "divergence_bound", "max_diverged")
    return {k: getattr(method, k) for k in keys if hasattr(method, k)}
