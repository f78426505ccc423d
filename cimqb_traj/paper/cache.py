"""On-disk cache of exact runs, keyed on the request and on the code that computes it.

A rerun of the reproduction loads every run from here instead of integrating again.  The cache
directory is ``$CIMQB_TRAJ_CACHE`` or ``~/.cache/cimqb_traj``; delete it to start afresh.

Key.  The request -- kind of run, parameters, output grid (sha256 of its float64 bytes), options
(e.g. ``trunc_tol``; for a discharge the load, t0 and the sha256 of the initial signal state) --
together with :func:`solver_hash`, a sha256 of the source files of every module that shapes the
numbers (:data:`SOLVER_FILES`), and the versions of the numerical libraries they call.  Editing
the solver therefore invalidates every entry; the package version does not enter (it stayed
0.1.0 through many solver changes).

Use.  A file is returned only when it loads, its stored request (HDF5 attribute
``cache_request``) equals this request, and the result's own parameters and grid (for a
discharge: load and t0) equal the requested ones; otherwise it is recomputed and replaced
atomically (``results.atomic_path``: a reader never sees half a file).  A loaded result's stored
truncation verdict is enforced again (``truncation.enforce``), so a cached run warns exactly as a
fresh one does.  A cache directory that cannot be created or written gives one
:class:`CacheWarning` per directory and the result uncached; :func:`usable` checks it up front
(the reproduction does, before it starts worker processes, which inherit the fact that the
warning was given through the environment variable ``_CIMQB_TRAJ_CACHE_WARNED`` and stay quiet).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import tempfile
import warnings
from pathlib import Path

import h5py
import numpy as np

from .. import exact
from ..results import atomic_path, load
from ..truncation import enforce

__all__ = ["CacheWarning", "SOLVER_FILES", "cache_dir", "usable", "solver_hash", "request", "cached_charge",
           "cached_steady_state", "cached_discharge"]

#: Package modules whose source determines a cached result (the solvers, the model and its
#: parameters, the ergotropy, the truncation verdict, and the file format: results and dataset).
SOLVER_FILES = ("exact.py", "_lindblad_kernel.py", "steady.py", "model.py", "params.py", "ergotropy.py",
                "truncation.py", "results.py", "dataset.py")
#: Libraries whose version can move the numbers (qutip.mesolve, scipy's sparse solvers, numba).
LIBRARIES = ("numpy", "scipy", "qutip", "numba")

_WARNED: set = set()  # cache directories already warned about (one warning per directory)
_ENV_WARNED = "_CIMQB_TRAJ_CACHE_WARNED"  # ... and the one warned about by a parent process


class CacheWarning(UserWarning):
    """The cache directory cannot be written: results are computed but not cached."""


def cache_dir() -> Path:
    """``$CIMQB_TRAJ_CACHE`` or ``~/.cache/cimqb_traj`` (created if possible; see the module docstring)."""
    d = Path(os.environ.get("CIMQB_TRAJ_CACHE", Path.home() / ".cache" / "cimqb_traj"))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # reported once, when a result cannot be stored
    return d


def _warn_once(d: Path, e: OSError, stacklevel: int) -> None:
    d = str(d)
    if d in _WARNED or os.environ.get(_ENV_WARNED) == d:
        return
    _WARNED.add(d)
    os.environ[_ENV_WARNED] = d  # worker processes started from here on inherit it
    warnings.warn(f"cache directory {d} is not writable ({e.strerror or e}); computing without caching "
                  "(set CIMQB_TRAJ_CACHE to a writable folder)", CacheWarning, stacklevel=stacklevel + 1)


def usable() -> bool:
    """Whether results can be stored in :func:`cache_dir` (a probe file is created and removed);
    warns once (:class:`CacheWarning`) if not."""
    d = cache_dir()
    try:
        fd, probe = tempfile.mkstemp(dir=d, prefix=".probe-")
        os.close(fd)
        os.remove(probe)
        return True
    except OSError as e:
        _warn_once(d, e, stacklevel=2)
        return False


@functools.lru_cache(maxsize=None)
def solver_hash() -> str:
    """sha256 over the bytes of :data:`SOLVER_FILES` and the versions of :data:`LIBRARIES`.

    The files are read with ``importlib.resources`` rather than ``inspect.getsource``: it hashes
    the exact bytes of the installed files (comments and docstrings included, so any edit
    invalidates: conservative), needs no import of the modules and no ``linecache``, and works
    for any installed layout.  Computed once per process, for the code this process runs.
    """
    h = hashlib.sha256()
    root = importlib.resources.files("cimqb_traj")
    for name in SOLVER_FILES:
        h.update(name.encode() + b"\0" + root.joinpath(name).read_bytes() + b"\0")
    for lib in LIBRARIES:
        try:
            version = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"{lib}={version}\0".encode())
    return h.hexdigest()


def _sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def request(kind: str, params, t, **options) -> str:
    """The canonical JSON text of a request (what the key hashes and the file stores)."""
    t = np.ascontiguousarray(t, dtype=float)
    return json.dumps({"kind": kind, "solver": solver_hash(), "params": params.to_dict(), "options": options,
                       "t_sha256": _sha(t), "t_len": int(t.size)}, sort_keys=True, default=repr)


def _path(kind: str, req: str) -> Path:
    return cache_dir() / f"{kind}-{hashlib.sha256(req.encode()).hexdigest()[:32]}.h5"


def _read(path: Path, req: str, matches):
    """The cached result at ``path`` if it is this request's, else None (missing, damaged, foreign)."""
    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("cache_request") != req:
                return None
        res = load(path)
        return res if matches(res) else None
    except Exception:  # noqa: BLE001 - any unreadable or foreign file is a miss, recomputed below
        return None


def _store(path: Path, res, req: str) -> None:
    """Write ``res`` with its request atomically; warn once per directory if that is impossible."""
    try:
        with atomic_path(path) as tmp:
            res.save(tmp)
            with h5py.File(tmp, "a") as h5:
                h5.attrs["cache_request"] = req
    except OSError as e:
        _warn_once(path.parent, e, stacklevel=4)


def _cached(kind, params, t, compute, matches, **options):
    req = request(kind, params, t, **options)
    path = _path(kind, req)
    res = _read(path, req, matches)
    if res is not None:
        enforce(res.truncation, res)  # a cached run warns (or refuses) as a fresh one would
        return res
    res = compute()
    _store(path, res, req)
    return res


def _same(params, t):
    return lambda r: r.params == params and r.t.shape == t.shape and np.array_equal(r.t, t)


def cached_charge(params, t, **options):
    """``exact.charge`` through the cache (options are passed on and are part of the key)."""
    t = np.asarray(t, dtype=float)
    return _cached("charge", params, t, lambda: exact.charge(params, t, progress=False, **options),
                   _same(params, t), **options)


def cached_steady_state(params, **options):
    """``exact.steady_state`` through the cache (a one-point result at t = inf)."""
    t = np.array([np.inf])
    return _cached("steady", params, t, lambda: exact.steady_state(params, **options), _same(params, t), **options)


def cached_discharge(params, load, t, *, t0, source):
    """``exact.discharge`` from the signal state of the (cached) run ``source`` at ``t0``.

    The key holds the initial signal state itself (sha256 of its bytes), the load and t0.
    """
    t = np.asarray(t, dtype=float)
    rho_s0 = np.ascontiguousarray(source.rho_s[int(np.argmin(abs(source.t - t0)))], dtype=complex)
    same = _same(params, t)
    return _cached("discharge", params, t, lambda: exact.discharge(params, load, t, t0=t0, rho_s0=rho_s0),
                   lambda r: same(r) and r.load == load and r.t0 == float(t0),
                   load=load.to_dict(), t0=float(t0), rho_s0_sha256=_sha(rho_s0))
