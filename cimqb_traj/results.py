"""Immutable result objects, saved to and loaded from netCDF-4 files without pickle.

``result.to_xarray()`` gives an ``xarray.Dataset`` with dimensions, coordinates, units, long
names, every parameter and the provenance (``cimqb_traj.dataset``: the layout); ``save`` writes it
netCDF-4 (HDF5, through h5netcdf), so ``xarray.open_dataset`` or any netCDF-4 / HDF5 reader opens
it without this package.  :func:`load` reads these files and the older HDF5 layout (one dataset
per array, parameters as attributes with None written 'none', one group per trajectory record).
:class:`ThresholdResult` (a threshold sweep) saves, converts and loads the same way.
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
    "ChargeResult", "DischargeResult", "TrajectoryResult", "TrajectoryDischargeResult", "ThresholdResult",
    "States", "atomic_path", "CLASSES", "first_max", "load",
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


class States(list):
    """A list of states (``qutip.Qobj``); calling it returns itself, so code written for the
    former method ``result.states()`` keeps working beside QuTiP's attribute ``result.states``."""

    def __call__(self):
        return self


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
    (omega_s = 1: photon numbers).  ``n_s`` / ``n_p`` are the signal / pump photon numbers,
    ``tail_s`` / ``tail_p`` the populations of the highest Fock level kept (truncation
    diagnostics).  QuTiP's names: ``times`` (= ``t``), ``states`` (``rho_s`` as ``qutip.Qobj``),
    ``expect`` / ``expect_err`` (the ``e_ops`` of ``cimqb_traj.solve``).  The standard errors
    ``*_err`` are None here (deterministic); :class:`TrajectoryResult` holds arrays.
    """

    rho_s: np.ndarray = None
    energy: np.ndarray = None
    W: np.ndarray = None
    W_c: np.ndarray = None
    W_i: np.ndarray = None
    n_p: np.ndarray = None
    tail_s: np.ndarray = None
    tail_p: np.ndarray = None
    #: means of the requested observables (``cimqb_traj.solve``'s ``e_ops``): a list in e_ops
    #: order when e_ops was a list, a dict when it was a dict; None when none were asked for
    expect: list | dict | None = field(default=None, repr=False)
    #: their standard errors, laid out like ``expect``; None for deterministic methods
    expect_err: list | dict | None = field(default=None, repr=False)
    _arrays: ClassVar[tuple] = ("t", "rho_s", "energy", "W", "W_c", "W_i", "n_p", "tail_s", "tail_p")
    #: written to files beside the arrays, for readers without this package (not read back)
    _derived: ClassVar[tuple] = ("n_s",)

    # The fields every method's result has (``cimqb_traj.solve``): an exact (deterministic)
    # result has no sampling error, so its ``*_err`` are None; ensemble results hold arrays.
    rho_s_err = energy_err = W_err = W_c_err = W_i_err = n_s_err = n_p_err = property(
        lambda self: None, doc="Standard error: None (a deterministic result has no sampling error).")

    @property
    def n_s(self) -> np.ndarray:
        """Mean signal photon number Tr[rho_s a_s^dag a_s] at every output time."""
        return np.einsum("tnn,n->t", self.rho_s, np.arange(self.rho_s.shape[-1])).real

    @property
    def power(self) -> np.ndarray:
        """Average charging power P = W/t (NaN at t = 0)."""
        return average_power(self.t, self.W)

    @property
    def times(self) -> np.ndarray:
        """The output times (QuTiP's name for ``t``)."""
        return self.t

    @property
    def states(self) -> "States":
        """The reduced signal states rho_s(t) (Ns x Ns, the pump traced out; an ensemble result:
        the averaged state) as a list of ``qutip.Qobj``, one per output time.  (No method keeps
        the joint signal (x) pump state.)  Calling it, ``states()``, gives the same list."""
        import qutip

        return States(qutip.Qobj(r, dims=[[r.shape[0]], [r.shape[0]]]) for r in self.rho_s)

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (``cimqb_traj.dataset``: dimensions, units, long
        names, parameters, provenance; complex arrays with a trailing ``re_im`` dimension);
        observables (``expect``) as variables ``expect_<key>`` (a list: keys 0, 1, ...; the
        global attribute ``expect_layout`` says which)."""
        return _with_expect_vars(self)

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
    _derived: ClassVar[tuple] = ()  # n_s is an array of its own here

    def __repr__(self):
        err = "" if self.W_err is None else f" +- {self.W_err[-1]:.2g}"
        return (
            f"TrajectoryResult(method={self.method!r}, ntraj={self.ntraj}, Ns={self.params.Ns}, "
            f"Np={self.params.Np}, F={self.params.F}, t=[{self.t[0]:g}..{self.t[-1]:g}], "
            f"W(t_end)={self.W[-1]:.6g}{err})"
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


class ThresholdResult(dict):
    """A threshold sweep (``threshold.sweep``): the strict-JSON-able dict it always returned
    (``res["n_s"]["exact"]``, ``res["F_th_quantum"]``, ...: members listed there), plus the model
    ``params`` (its F is the grid's last value: F is swept), attribute access to the main
    members, ``to_xarray``, ``save`` and ``load``.  A dict, so the command line can add members
    (e.g. ``res["params"]``) before writing its JSON; ``save`` writes whatever it holds.

    Dataset layout: coordinate ``F``; ``methods`` (the methods run, in order; not ``method``,
    which ``Dataset.sel`` takes as its own keyword) and ``definition`` (the threshold estimates'
    definitions); per-method curves over F as variables ``(methods, F)`` (``n_s``, ``n_s_err``, ``bimodality``, ``bimodality_err``: attribute
    ``methods`` lists the methods that have the curve, the other rows are NaN), the estimates as
    ``F_th_quantum`` / ``F_th_quantum_err`` ``(methods, definition)`` (NaN: none, the reason is in
    ``members``); ``F_th_meanfield`` and ``trunc_tol`` as global attributes (absent: None); every
    other member as strict JSON in the global attribute ``members``; the model parameters and
    the provenance as in every result file; ``definitions`` (JSON) names each method's estimates
    and ``member_order`` the members' order.
    """

    _CURVES = ("n_s", "n_s_err", "bimodality", "bimodality_err")
    _ESTIMATES = ("F_th_quantum", "F_th_quantum_err")
    _SCALARS = ("F_th_meanfield", "trunc_tol")

    def __init__(self, doc=(), params: BatteryParams | None = None):
        super().__init__(doc)
        self.params = params

    @property
    def F(self) -> np.ndarray:
        """The pump amplitudes of the sweep."""
        return np.asarray(self["F"], float)

    @property
    def methods(self) -> list:
        """The methods run, in order."""
        return list(self["n_s"])

    @property
    def n_s(self) -> dict:
        """Steady-state <n_s>(F) per method, as arrays (NaN where the dict holds None)."""
        return {m: _floats_or_nan(v) for m, v in self["n_s"].items()}

    @property
    def n_s_err(self) -> dict:
        """Standard errors of the sampled methods' <n_s>(F) (deterministic methods have none)."""
        return {m: _floats_or_nan(v) for m, v in self.get("n_s_err", {}).items()}

    @property
    def F_th_meanfield(self) -> float | None:
        return self["F_th_meanfield"]

    @property
    def F_th_quantum(self) -> dict:
        """{method: {definition: F or None}} (``threshold.sweep``)."""
        return self["F_th_quantum"]

    def __repr__(self):
        return (f"ThresholdResult(F=[{self['F'][0]:g}..{self['F'][-1]:g}] ({len(self['F'])} pts), "
                f"methods={self.methods}, F_th_meanfield={self['F_th_meanfield']})")

    def to_xarray(self):
        """The sweep as an ``xarray.Dataset`` (class docstring for the layout)."""
        import xarray as xr

        from . import dataset
        from .jsonio import dumps

        methods = self.methods
        defs = list(dict.fromkeys(d for m in methods for d in self["F_th_quantum"].get(m, {})))
        F = self.F
        a = dataset._attrs
        coords = {"F": ("F", F, a(*dataset.QUANTITIES["F"])),
                  "methods": ("methods", np.array(methods, dtype=str), a("1", "method (threshold.METHODS)")),
                  "definition": ("definition", np.array(defs, dtype=str),
                                 a("1", "definition of the quantum threshold estimate (threshold module)"))}
        data = {}
        for key in self._CURVES + self._ESTIMATES:
            if key not in self:
                continue
            curve = key in self._CURVES
            arr = np.full((len(methods), len(F) if curve else len(defs)), np.nan)
            for i, m in enumerate(methods):
                if m in self[key]:
                    row = self[key][m] if curve else [self[key][m].get(d) for d in defs]
                    arr[i] = _floats_or_nan(row)
            units, long = dataset._unit(key)
            if key.endswith("_err"):
                long += ": standard error"
            data[key] = (("methods", "F" if curve else "definition"), arr,
                         a(units, long, methods=" ".join(m for m in methods if m in self[key])))
        attrs = {"kind": type(self).__name__}
        nones = [k for k in self._SCALARS if k in self and self[k] is None]
        attrs.update({k: self[k] for k in self._SCALARS if k in self and self[k] is not None})
        attrs["none_members"] = " ".join(nones)
        skip = {"F", *self._CURVES, *self._ESTIMATES, *self._SCALARS}
        attrs["members"] = dumps({k: v for k, v in self.items() if k not in skip})
        attrs["member_order"] = " ".join(self)
        attrs["definitions"] = json.dumps({m: list(self["F_th_quantum"].get(m, {})) for m in methods})
        if self.params is not None:
            attrs.update(dataset.param_attrs((k, v) for k, v in self.params.to_dict().items() if k != "F"))
        attrs.update(dataset.provenance())
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def save(self, path) -> None:
        """Write a netCDF-4 file (h5netcdf), atomically."""
        from .dataset import write

        write(self.to_xarray(), path)

    @classmethod
    def from_xarray(cls, ds) -> "ThresholdResult":
        """The sweep held by a Dataset of :meth:`to_xarray` (as read back from a file)."""
        from .dataset import _scalar

        a = ds.attrs
        methods = [str(m) for m in ds["methods"].values]
        defs = [str(d) for d in ds["definition"].values]
        members, definitions = json.loads(a["members"]), json.loads(a["definitions"])
        nones = set(str(a.get("none_members", "")).split())
        doc = {"F": [float(f) for f in ds["F"].values]}
        for k in cls._SCALARS:
            if k in nones:
                doc[k] = None
            elif k in a:
                doc[k] = float(_scalar(a[k]))
        for key in cls._CURVES + cls._ESTIMATES:
            if key not in ds.data_vars:
                continue
            has = str(ds[key].attrs["methods"]).split()
            vals = ds[key].values
            doc[key] = {}
            for i, m in enumerate(methods):
                if m in has:
                    row = [None if not np.isfinite(v) else float(v) for v in vals[i]]
                    doc[key][m] = row if key in cls._CURVES else {
                        d: v for d, v in zip(defs, row) if d in definitions[m]}
        doc.update(members)
        order = str(a.get("member_order", "")).split()
        doc = {k: doc[k] for k in order if k in doc} | {k: v for k, v in doc.items() if k not in order}
        params = None
        if "parameter_units" in a:
            from dataclasses import fields as _fields

            none_params = set(str(a.get("none_params", "")).split())
            kw = {f.name: (None if f.name in none_params else _scalar(a[f.name]))
                  for f in _fields(BatteryParams) if f.name in none_params or f.name in a}
            params = BatteryParams(**kw, F=doc["F"][-1])
        return cls(doc, params)

    @classmethod
    def load(cls, path) -> "ThresholdResult":
        """Read a file written by :meth:`save`."""
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return cls.from_xarray(ds.load())


def _floats_or_nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


#: kind (the class name stored in a file) -> result class
CLASSES = {c.__name__: c for c in (ChargeResult, DischargeResult, TrajectoryResult, TrajectoryDischargeResult)}


# --- observables (``expect``) in files -------------------------------------------------------
# ``dataset.to_dataset`` writes an ensemble's ``expect`` dict; a list (e_ops given as a list) is
# written under the keys 0, 1, ... and the deterministic results' means are added here, so
# every result's observables go to the file the same way.  ``expect_layout`` ("list" or "dict";
# absent: no observables were asked for) lets ``load`` rebuild the layout.

def _as_dict(x) -> dict:
    if x is None:
        return {}
    return {str(i): v for i, v in enumerate(x)} if isinstance(x, (list, tuple)) else dict(x)


def _with_expect_vars(res):
    """``dataset.to_dataset`` of a charge result, its observables included (comment above)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from . import dataset

    ensemble = hasattr(res, "records")
    layout = None if res.expect is None else "list" if isinstance(res.expect, (list, tuple)) else "dict"
    if ensemble:
        ds = dataset.to_dataset(replace(res, expect=_as_dict(res.expect), expect_err=_as_dict(res.expect_err)))
    else:
        ds = dataset.to_dataset(res)
        data: dict = {}
        dataset._expect(SimpleNamespace(expect=_as_dict(res.expect), expect_err={}, groups=None), data)
        if data:
            if "re_im" not in ds.coords and any("re_im" in v[0] for v in data.values()):
                ds = ds.assign_coords(re_im=("re_im", np.arange(2), {"units": "1", "long_name":
                                                                      "0: real part, 1: imaginary part"}))
            ds = ds.assign(data)
    if layout is not None:
        ds.attrs["expect_layout"] = layout
        ds.attrs["expect_errors"] = int(res.expect_err is not None)
    return ds


def _expect_back(res, ds):
    """``res`` with ``expect`` / ``expect_err`` in the layout they were saved in (comment above)."""
    from dataclasses import replace

    from .dataset import _values

    from .dataset import _scalar

    layout = ds.attrs.get("expect_layout")
    if layout is None:  # written without this attribute: as ``dataset.from_dataset`` reads it
        return res
    found = {"mean": {}, "err": {}}
    for da in ds.data_vars.values():
        if "e_op" in da.attrs:
            found[da.attrs["e_op_kind"]][da.attrs["e_op"]] = _values(da)

    def shaped(d):
        return [d[str(i)] for i in range(len(d))] if layout == "list" else d

    errors = bool(_scalar(ds.attrs.get("expect_errors", 1)))
    return replace(res, expect=shaped(found["mean"]), expect_err=shaped(found["err"]) if errors else None)


def load(path):
    """Read a result written by ``save``: a netCDF-4 file (``cimqb_traj.dataset``: a charge,
    discharge or ensemble result, or a :class:`ThresholdResult`) or a file of the older HDF5 layout."""
    import h5py
    import xarray as xr

    from . import dataset

    with h5py.File(path, "r") as h5:
        kind = h5.attrs.get("kind")
        if kind == ThresholdResult.__name__:
            return ThresholdResult.load(path)
        if kind not in CLASSES:
            raise ValueError(f"{os.fspath(path)}: not a result file of cimqb_traj (kind {kind!r}; the "
                             "reproduction's files hold panels: read them with xarray.open_datatree)")
        if not dataset.is_dataset_file(h5):
            return CLASSES[kind]._read(h5)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    return _expect_back(dataset.from_dataset(ds), ds)
