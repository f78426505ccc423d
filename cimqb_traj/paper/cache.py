"""On-disk cache of exact runs, keyed by parameters, output grid, options and package version.

A rerun of the reproduction loads every run from here instead of integrating again.  The
cache directory is ``$CIMQB_TRAJ_CACHE`` or ``~/.cache/cimqb_traj``; delete it to start afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .. import __version__, exact
from ..results import load

__all__ = ["cache_dir", "cached_charge", "cached_steady_state", "cached_discharge"]


def cache_dir() -> Path:
    d = Path(os.environ.get("CIMQB_TRAJ_CACHE", Path.home() / ".cache" / "cimqb_traj"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(kind: str, params, t, **options) -> str:
    blob = json.dumps(
        {"kind": kind, "version": __version__, "params": params.to_dict(), "options": options,
         "t": hashlib.sha256(np.ascontiguousarray(t, dtype=float).tobytes()).hexdigest()},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _cached(kind, params, t, compute, **options):
    path = cache_dir() / f"{kind}-{_key(kind, params, t, **options)}.h5"
    if path.exists():
        try:
            return load(path)
        except (OSError, KeyError):  # a foreign or damaged file: recompute and overwrite
            pass
    res = compute()
    res.save(path)
    return res


def cached_charge(params, t, **options):
    """``exact.charge`` through the cache (options are passed on and are part of the key)."""
    t = np.asarray(t, dtype=float)
    return _cached("charge", params, t, lambda: exact.charge(params, t, progress=False, **options), **options)


def cached_steady_state(params, **options):
    return _cached("steady", params, np.array([np.inf]), lambda: exact.steady_state(params, **options), **options)


def cached_discharge(params, load, t, *, t0, source):
    """``exact.discharge`` from the signal state of the (cached) run ``source`` at ``t0``.

    The key holds the charging run's parameters and grid, so the same source state always
    maps to the same entry.
    """
    t = np.asarray(t, dtype=float)
    rho_s0 = source.rho_s[int(np.argmin(abs(source.t - t0)))]
    return _cached("discharge", params, t, lambda: exact.discharge(params, load, t, t0=t0, rho_s0=rho_s0),
                   load=load.to_dict(), t0=t0, source_t=_key("grid", source.params, source.t))
