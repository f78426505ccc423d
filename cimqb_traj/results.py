"""Immutable result objects, saved to and loaded from netCDF-4 files without pickle.

``result.to_xarray()`` gives an ``xarray.Dataset`` with dimensions, coordinates, units, long
names, every parameter and the provenance (``cimqb_traj.dataset``: the layout); ``save`` writes it
netCDF-4 (HDF5, through h5netcdf), so ``xarray.open_dataset`` or any netCDF-4 / HDF5 reader opens
it without this package.  :func:`load` reads these files and the older HDF5 layout (one dataset
per array, parameters as attributes with None written 'none', one group per trajectory record).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from .ergotropy import average_power
from .params import BatteryParams, LoadParams

__all__ = [
    "ChargeResult", "DischargeResult", "TrajectoryResult", "TrajectoryDischargeResult", "atomic_path",
    "CLASSES", "first_max", "load",
]


class atomic_path:
    """Context manager yielding a temporary path next to ``path``, renamed onto it on success.

    A run that fails or is interrupted leaves no half-written file behind.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __enter__(self):
        d = os.path.dirname(os.path.abspath(self.path))
        fd, self.tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(self.path))
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual mode
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False


def first_max(y) -> int:
    """Index of the first local maximum of a sampled curve (the global maximum if none)."""
    y = np.asarray(y)
    idx = np.nonzero((y[1:-1] >= y[:-2]) & (y[1:-1] > y[2:]))[0]
    return int(idx[0] + 1) if idx.size else int(np.argmax(y))


@dataclass(frozen=True)
class _Result:
    params: BatteryParams
    t: np.ndarray
    method: str
    options: dict = field(default_factory=dict)
    #: the truncation verdict (``truncation.assess``); {} where no Fock space is involved
    truncation: dict = field(default_factory=dict)

    _arrays: ClassVar[tuple] = ()

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (``cimqb_traj.dataset``: dimensions, units, long
        names, parameters, provenance; complex arrays with a trailing ``re_im`` dimension)."""
        from .dataset import to_dataset

        return to_dataset(self)

    def save(self, path) -> None:
        """Write a netCDF-4 file (h5netcdf), atomically: nothing is left behind if writing fails."""
        from .dataset import write

        write(self.to_xarray(), path)


# The HDF5 layout written before netCDF-4 (up to commit 6814dd0) is read by ``_read`` (each
# class) and the helpers marked "old layout"; nothing writes it any more.


def _truncation(attrs) -> dict:  # old layout
    return json.loads(attrs["truncation"]) if "truncation" in attrs else {}  # files before the guard: {}


def _params_from_attrs(attrs, cls):  # old layout: None was written 'none'
    kw = {}
    for f in fields(cls):
        if f.name in attrs:
            v = attrs[f.name]
            v = v.item() if hasattr(v, "item") else v
            kw[f.name] = None if (isinstance(v, str) and v == "none") else v
    return cls(**kw)


@dataclass(frozen=True)
class ChargeResult(_Result):
    """Charging dynamics: the reduced signal state and its ergotropy on the output grid.

    Energies and ergotropies are in units of gamma_s with ladder n * params.omega_s
    (omega_s = 1: photon numbers).  ``n_p`` is the pump photon number, ``tail_s`` / ``tail_p``
    the populations of the highest Fock level kept (truncation diagnostics).
    """

    rho_s: np.ndarray = None
    energy: np.ndarray = None
    W: np.ndarray = None
    W_c: np.ndarray = None
    W_i: np.ndarray = None
    n_p: np.ndarray = None
    tail_s: np.ndarray = None
    tail_p: np.ndarray = None
    _arrays: ClassVar[tuple] = ("t", "rho_s", "energy", "W", "W_c", "W_i", "n_p", "tail_s", "tail_p")

    @property
    def power(self) -> np.ndarray:
        """Average charging power P = W/t (NaN at t = 0)."""
        return average_power(self.t, self.W)

    def states(self):
        """The reduced signal states as a list of ``qutip.Qobj``."""
        import qutip

        return [qutip.Qobj(r) for r in self.rho_s]

    def __repr__(self):
        return (
            f"ChargeResult(method={self.method!r}, Ns={self.params.Ns}, Np={self.params.Np}, "
            f"F={self.params.F}, t=[{self.t[0]:g}..{self.t[-1]:g}] ({len(self.t)} pts), "
            f"W(t_end)={self.W[-1]:.6g})"
        )

    @classmethod
    def _read(cls, h5):
        arrays = {k: h5[k][()] for k in cls._arrays}
        return cls(
            params=_params_from_attrs(h5.attrs, BatteryParams),
            method=str(h5.attrs["method"]),
            options=json.loads(h5.attrs["options"]),
            truncation=_truncation(h5.attrs),
            **arrays,
        )


@dataclass(frozen=True)
class DischargeResult(_Result):
    """Discharge into a two-level load; t is the time since the load was connected (at t0).

    ``W_s``, ``W_a``: ergotropies of the battery and of the load in units of gamma_s (ladders
    n omega_s and (0, omega_a)); ``kappa_s = W_s / omega_s``, ``kappa_a = W_a / omega_a``.
    """

    load: LoadParams = None
    t0: float = 0.0
    rho_s: np.ndarray = None
    rho_a: np.ndarray = None
    W_s: np.ndarray = None
    W_a: np.ndarray = None
    _arrays: ClassVar[tuple] = ("t", "rho_s", "rho_a", "W_s", "W_a")
    #: written to files beside the arrays, for readers without this package (not read back)
    _derived: ClassVar[tuple] = ("kappa_s", "kappa_a")

    @property
    def kappa_s(self):
        return self.W_s / self.load.omega_s

    @property
    def kappa_a(self):
        return self.W_a / self.load.omega_a

    def __repr__(self):
        return (
            f"DischargeResult(method={self.method!r}, g={self.load.g}, t0={self.t0}, "
            f"max kappa_a={np.max(self.kappa_a):.4g})"
        )

    @classmethod
    def _read(cls, h5):
        arrays = {k: h5[k][()] for k in cls._arrays}
        load_kw = {k[5:]: h5.attrs[k].item() for k in h5.attrs if k.startswith("load_")}
        return cls(
            params=_params_from_attrs(h5.attrs, BatteryParams),
            method=str(h5.attrs["method"]),
            options=json.loads(h5.attrs["options"]),
            truncation=_truncation(h5.attrs),
            load=LoadParams(**load_kw),
            t0=float(h5.attrs["t0"]),
            **arrays,
        )


# --- ensemble (trajectory / phase-space sample) results: the same fields plus standard errors ---

_ENSEMBLE_ATTRS = ("ntraj", "seed", "groups", "interrupted")


def _read_ensemble(h5):  # old layout
    kw = {k: h5.attrs[k].item() for k in _ENSEMBLE_ATTRS}
    kw["interrupted"] = bool(kw["interrupted"])
    recs = []
    if "records" in h5:
        recs = [{n: gk[n][()] for n in gk} for _, gk in sorted(h5["records"].items())]
    kw["records"] = recs
    for gname in ("expect", "expect_err"):
        kw[gname] = {k: v[()] for k, v in h5[gname].items()} if gname in h5 else {}
    return kw


@dataclass(frozen=True)
class _Ensemble:
    """The fields every ensemble result adds (see ``TrajectoryResult``)."""

    ntraj: int = 0
    seed: int = 0
    groups: int = 0
    interrupted: bool = False
    records: list = field(default_factory=list, repr=False)
    expect: dict = field(default_factory=dict, repr=False)
    expect_err: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TrajectoryResult(_Ensemble, ChargeResult):
    """Charging computed from an ensemble (trajectories); the fields of :class:`ChargeResult`
    are those of the averaged state, plus their standard errors.

    ``*_err``: delete-one-group jackknife standard errors over ``groups`` groups of
    trajectories (for a linear quantity, the grouped standard error of the mean).
    ``W_bc, W_c_bc, W_i_bc``: jackknife bias-corrected ergotropies (ergotropy is a nonlinear
    function of the averaged state, so the plain values carry an O(1/ntraj) bias).
    ``n_s``: mean signal photon number; ``counts``: mean number of jumps per trajectory in each
    channel (``options['channels']``); ``records``: per-trajectory records, when asked for.
    ``interrupted``: the run was stopped early and holds the ``ntraj`` trajectories that finished.
    ``expect`` / ``expect_err``: means and errors of the requested observables (``e_ops``).
    """

    rho_s_err: np.ndarray = None
    energy_err: np.ndarray = None
    W_err: np.ndarray = None
    W_c_err: np.ndarray = None
    W_i_err: np.ndarray = None
    W_bc: np.ndarray = None
    W_c_bc: np.ndarray = None
    W_i_bc: np.ndarray = None
    n_s: np.ndarray = None
    n_s_err: np.ndarray = None
    n_p_err: np.ndarray = None
    counts: np.ndarray = None
    _arrays: ClassVar[tuple] = ChargeResult._arrays + (
        "rho_s_err", "energy_err", "W_err", "W_c_err", "W_i_err", "W_bc", "W_c_bc", "W_i_bc",
        "n_s", "n_s_err", "n_p_err", "counts")

    def __repr__(self):
        return (
            f"TrajectoryResult(method={self.method!r}, ntraj={self.ntraj}, Ns={self.params.Ns}, "
            f"Np={self.params.Np}, F={self.params.F}, t=[{self.t[0]:g}..{self.t[-1]:g}], "
            f"W(t_end)={self.W[-1]:.6g} +- {self.W_err[-1]:.2g})"
        )

    @classmethod
    def _read(cls, h5):
        arrays = {k: h5[k][()] for k in cls._arrays}
        return cls(params=_params_from_attrs(h5.attrs, BatteryParams), method=str(h5.attrs["method"]),
                   options=json.loads(h5.attrs["options"]), truncation=_truncation(h5.attrs), **arrays,
                   **_read_ensemble(h5))


@dataclass(frozen=True)
class TrajectoryDischargeResult(_Ensemble, DischargeResult):
    """Discharge computed from an ensemble; :class:`DischargeResult`'s fields from the averaged
    states plus jackknife standard errors (``*_err``) and bias-corrected ergotropies (``*_bc``)."""

    rho_s_err: np.ndarray = None
    rho_a_err: np.ndarray = None
    W_s_err: np.ndarray = None
    W_a_err: np.ndarray = None
    W_s_bc: np.ndarray = None
    W_a_bc: np.ndarray = None
    counts: np.ndarray = None
    _arrays: ClassVar[tuple] = DischargeResult._arrays + (
        "rho_s_err", "rho_a_err", "W_s_err", "W_a_err", "W_s_bc", "W_a_bc", "counts")
    _derived: ClassVar[tuple] = DischargeResult._derived + ("kappa_s_err", "kappa_a_err")

    @property
    def kappa_s_err(self):
        return self.W_s_err / self.load.omega_s

    @property
    def kappa_a_err(self):
        return self.W_a_err / self.load.omega_a

    def __repr__(self):
        i = int(np.argmax(self.kappa_a))
        return (
            f"TrajectoryDischargeResult(method={self.method!r}, ntraj={self.ntraj}, g={self.load.g}, "
            f"t0={self.t0}, max kappa_a={self.kappa_a[i]:.4g} +- {self.kappa_a_err[i]:.2g})"
        )

    @classmethod
    def _read(cls, h5):
        base = DischargeResult._read.__func__(cls, h5)
        return base.__class__(**{**{f.name: getattr(base, f.name) for f in fields(base)}, **_read_ensemble(h5)})


#: kind (the class name stored in a file) -> result class
CLASSES = {c.__name__: c for c in (ChargeResult, DischargeResult, TrajectoryResult, TrajectoryDischargeResult)}


def load(path):
    """Read a result written by ``save``: a netCDF-4 file (``cimqb_traj.dataset``) or a file of
    the older HDF5 layout."""
    import h5py

    from . import dataset

    with h5py.File(path, "r") as h5:
        kind = h5.attrs.get("kind")
        if kind not in CLASSES:
            raise ValueError(f"{os.fspath(path)}: not a result file of cimqb_traj (kind {kind!r}; the "
                             "reproduction's files hold panels: read them with xarray.open_datatree)")
        if not dataset.is_dataset_file(h5):
            return CLASSES[kind]._read(h5)
    return dataset.read(path)
