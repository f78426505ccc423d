"""Self-describing data: units, long names, provenance, and results as ``xarray.Dataset``.

Units.  hbar = 1; rates and frequencies in units of the signal decay rate gamma_s, times in
1/gamma_s, energies and ergotropies in hbar*gamma_s (photon numbers when omega_s = gamma_s, as in
the paper's charging figures), the pump amplitude F in sqrt(gamma_s) (the paper's
F_p/sqrt(gamma_s)).  These are the model's own units, not UDUNITS units; ``"1"`` means
dimensionless.  :data:`QUANTITIES` is the one table of units and long names: the files
(:func:`to_dataset`) and the JSON ``units`` block (:func:`units_block`) both read it.

File layout (``cimqb_traj_format`` = 2, netCDF-4 written by h5netcdf, so ``xarray.open_dataset``
and any netCDF-4 or HDF5 reader open it without this package):

* coordinate ``t`` (for a discharge: the time since the load was connected at ``t0``);
* density matrices with dimensions ``(t, ket_s, bra_s)`` (``ket_a, bra_a`` for the load), the
  element <ket|rho|bra> (not ``n_s``/``m_s``: ``n_s`` names the mean photon number);
* complex arrays with a trailing dimension ``re_im`` of size 2 (0: real part, 1: imaginary part):
  netCDF has no complex type, and h5netcdf's complex needs ``invalid_netcdf=True``, which plain
  netCDF readers refuse.  Reassemble with ``x.sel(re_im=0) + 1j * x.sel(re_im=1)``;
  :func:`from_dataset` does;
* ensemble results: standard errors ``<name>_err`` ("standard error (jackknife over G
  groups)"), bias-corrected values ``<name>_bc``, jump counts along ``channel``, observables
  ``expect_<key>`` / ``expect_<key>_err`` (attribute ``e_op``: the key);
* per-trajectory records (per group of samples for the phase-space methods, whose records are
  per group) stacked along ``trajectory`` (``group``): ``record_<key>``.  Records whose length
  differs between trajectories (jump times and channels, the kept samples' paths) are CF
  contiguous ragged arrays: ``record_<key>`` along ``jump`` (``kept_sample``; unknown keys:
  ``record_<key>_obs``) with the lengths ``jump_count`` per trajectory (attribute
  ``sample_dimension``; data variables name theirs in ``ragged_count``).  The global attribute
  ``records`` names the trajectory (group) dimension; a record's ``t`` equal to the output grid
  is not stored again (attribute ``record_t_is_t``);
* attributes: ``kind``, ``method``, every model parameter as a number (a parameter that is None
  is omitted and listed in ``none_params``, a space-separated string, empty if none),
  ``parameter_units`` (JSON), the discharge's ``t0`` and ``load_*``, the ensemble's ``ntraj``,
  ``seed`` (decimal text beyond int64), ``groups``, ``interrupted`` (0/1), ``options`` (JSON; its
  arrays are variables ``option_<key>``) and ``truncation`` (JSON), and the provenance
  (:func:`provenance`).  Numeric global attributes are HDF5 scalars.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np

__all__ = ["QUANTITIES", "RECORDS", "FORMAT", "units_block", "provenance", "command_line", "to_dataset",
           "from_dataset", "write", "read", "write_groups", "is_dataset_file"]

#: Version of the file layout (the module docstring); files without it are the older HDF5 layout.
FORMAT = 2

TIME, RATE, ENERGY, ONE, AMP = "1/gamma_s", "gamma_s", "hbar*gamma_s", "1", "sqrt(gamma_s)"
POWER = "hbar*gamma_s^2"
UNITS_CONVENTION = ("hbar = 1; rates and frequencies in units of gamma_s (the signal decay rate), times in "
                    "1/gamma_s, energies and ergotropies in hbar*gamma_s, the pump amplitude F in sqrt(gamma_s); "
                    "the model's own units, not UDUNITS units; '1': dimensionless")

#: name -> (units, long name) of every quantity written to a file or a JSON document
QUANTITIES = {
    # model and load parameters
    "kappa": (RATE, "nonlinear coupling kappa"),
    "gamma_s": (RATE, "signal decay rate gamma_s"),
    "gamma_p": (RATE, "pump decay rate gamma_p"),
    "F": (AMP, "pump amplitude F = F_p/sqrt(gamma_s)"),
    "delta": (RATE, "signal detuning Delta"),
    "nth_s": (ONE, "thermal occupation of the signal bath"),
    "nth_p": (ONE, "thermal occupation of the pump bath"),
    "Ns": (ONE, "signal Fock dimension"),
    "Np": (ONE, "pump Fock dimension"),
    "omega_s": (RATE, "signal frequency omega_s (battery energy ladder n omega_s)"),
    "t_off": (TIME, "pump switch-off time"),
    "eps": (RATE, "coherent seed eps on the signal, H = i eps (a_s^dag - a_s)"),
    "t_ramp": (TIME, "duration of the linear pump ramp"),
    "g": (RATE, "battery-load coupling g"),
    "gamma_a": (RATE, "load decay rate gamma_a"),
    "omega_a": (RATE, "load frequency omega_a"),
    "t0": (TIME, "charging time: pump off and load connected"),
    # results
    "t": (TIME, "time"),
    "rho_s": (ONE, "reduced signal state <ket|rho_s|bra>"),
    "rho_a": (ONE, "load (two-level) state <ket|rho_a|bra>"),
    "energy": (ENERGY, "battery energy Tr[rho_s H_S], H_S = omega_s a_s^dag a_s"),
    "W": (ENERGY, "ergotropy W"),
    "W_c": (ENERGY, "coherent ergotropy W_c"),
    "W_i": (ENERGY, "incoherent ergotropy W_i"),
    "W_s": (ENERGY, "ergotropy of the battery W_s"),
    "W_a": (ENERGY, "ergotropy of the load W_a"),
    "kappa_s": (ONE, "normalised battery ergotropy kappa_s = W_s/omega_s"),
    "kappa_a": (ONE, "normalised load ergotropy kappa_a = W_a/omega_a"),
    "n_s": (ONE, "mean signal photon number <a_s^dag a_s>"),
    "n_p": (ONE, "mean pump photon number <a_p^dag a_p>"),
    "tail_s": (ONE, "population of the highest signal Fock level kept"),
    "tail_p": (ONE, "population of the highest pump Fock level kept"),
    "counts": (ONE, "mean number of jumps per trajectory"),
    "n_s_untruncated": (ONE, "mean signal photon number of the untruncated trajectories (moving basis)"),
    "n_p_untruncated": (ONE, "mean pump photon number of the untruncated trajectories (moving basis)"),
    "a_s2_untruncated": (ONE, "<a_s^2> of the untruncated trajectories (moving basis)"),
    "power": (POWER, "average charging power W/t"),
    # threshold sweep, phase selection, command-line summaries
    "F_th_meanfield": (AMP, "mean-field pump threshold"),
    "F_th_quantum": (AMP, "quantum threshold estimates"),
    "bimodality": (ONE, "P''(0)/P(0) of the signal quadrature distribution"),
    "p_plus": (ONE, "probability of the spin +1"),
    "p_plus_quadrature": (ONE, "weight of x > 0 in the quadrature distribution"),
    "n_plus": (ONE, "shots with spin +1"),
    "undecided": (ONE, "fraction of undecided shots"),
    "decision_time_median": (TIME, "median decision time"),
    "decision_time": (TIME, "decision time"),
    "decision_times": (TIME, "decision times of the shots"),
    "W_single_shot": (ENERGY, "mean over shots of the conditional state's ergotropy"),
    "W_c_single_shot": (ENERGY, "mean over shots of the conditional state's coherent ergotropy"),
    "W_i_single_shot": (ENERGY, "mean over shots of the conditional state's incoherent ergotropy"),
    "W_ensemble": (ENERGY, "ergotropy of the ensemble state"),
    "x_mf": (ONE, "mean-field steady amplitude sqrt(n_mf)"),
    "frac": (ONE, "decision level, a fraction of x_mf"),
    "t_end": (TIME, "final time"),
    "dt_out": (TIME, "output step"),
    "dt": (TIME, "integration time step"),
    "t_steady": (TIME, "integration time to the steady state"),
    "trunc_tol": (ONE, "truncation guard tolerance, a fraction of max(E, omega_s)"),
    "shots": (ONE, "number of shots"),
    "diverged": (ONE, "number of diverged samples (excluded)"),
    "spiking": (ONE, "number of spiking samples"),
    "n_s_rel_err": (ONE, "relative standard error of <n_s>"),
    "Ns_basis_max": (ONE, "largest signal basis of the moving basis"),
    "Np_basis_max": (ONE, "largest pump basis of the moving basis"),
    "Ns_out": (ONE, "signal Fock dimension of the lab-frame output"),
    "Np_out": (ONE, "pump Fock dimension of the lab-frame output"),
    "max_ratio": (ONE, "largest |step difference| / standard error"),
}
_SUFFIXES = ("_err", "_bc", "_ci", "_end", "_max")

#: record key -> (units, long name, dimensions after the record's own, ragged): the per-trajectory
#: (phase space: per group) records the methods keep.  ragged: the name of the first axis, whose
#: length differs between records (False: the same shape in every record)
RECORDS = {
    "Y": ("1/sqrt(gamma_s)", "cumulative measurement record Y_j(t) (0 at t[0])", ("t", "measured"), False),
    "x_theta": (ONE, "conditional <x_theta>, x_theta = (a_s e^{-i theta} + a_s^dag e^{i theta})/2", ("t",), False),
    "W": (ENERGY, "ergotropy of the conditional signal state", ("t",), False),
    "W_c": (ENERGY, "coherent ergotropy of the conditional signal state", ("t",), False),
    "W_i": (ENERGY, "incoherent ergotropy of the conditional signal state", ("t",), False),
    "beta": (ONE, "displacements (beta_s, beta_p) of the moving basis", ("t", "mode"), False),
    "dims": (ONE, "Fock dimensions (signal, pump) of the moving basis", ("t", "mode"), False),
    "n_s": (ONE, "untruncated <a_s^dag a_s> of the trajectory (moving basis)", ("t",), False),
    "a_s2": (ONE, "untruncated <a_s^2> of the trajectory (moving basis)", ("t",), False),
    "jump_times": (TIME, "times of the jumps", (), "jump"),
    "jump_channels": (ONE, "channel of each jump (index into the options' channels)", (), "jump"),
    "samples": (ONE, "samples in the group", (), False),
    "diverged": (ONE, "diverged samples of the group (excluded)", (), False),
    "spiking": (ONE, "kept samples of the group that spiked", (), False),
    "a_dag_a": (ONE, "sum over the group's kept samples of <a_s^dag a_s> (normal order)", ("t",), False),
    "a2": (ONE, "sum over the group's kept samples of <a_s^2>", ("t",), False),
    "a": (ONE, "sum over the group's kept samples of <a_s>", ("t",), False),
    "n_p": (ONE, "sum over the group's kept samples of <a_p^dag a_p> (normal order)", ("t",), False),
    "a_p": (ONE, "sum over the group's kept samples of <a_p>", ("t",), False),
    "P0": (ONE, "sum over the group's kept samples of the quadrature density P(0), x = (a_s + a_s^dag)/sqrt 2",
           ("t",), False),
    "P2": (ONE, "sum over the group's kept samples of P''(0)", ("t",), False),
    "alpha_s": (ONE, "signal variable alpha_s of each kept sample", ("t",), "kept_sample"),
    "alpha_s_plus": (ONE, "signal variable alpha_s^+ of each kept sample", ("t",), "kept_sample"),
}
#: methods whose records are per group of samples, not per trajectory
_GROUP_RECORDS = ("mean-field", "positive-p", "wigner")
_RE_IM = "re_im"
_FOCK = {"rho_s": ("ket_s", "bra_s"), "rho_a": ("ket_a", "bra_a")}


def _unit(key: str):
    if key in QUANTITIES:
        return QUANTITIES[key]
    for s in _SUFFIXES:
        if key.endswith(s) and key[: -len(s)] in QUANTITIES:
            return QUANTITIES[key[: -len(s)]]
    return None


#: JSON members that hold parameters (their keys get units) rather than quantities
_NESTED = ("params", "battery", "load", "dims", "step_check")


def units_block(doc: dict) -> dict:
    """``{key: unit}`` for every quantity of a JSON document ``doc`` (top-level keys, and the keys
    of its parameter blocks ``params``, ``params.battery``, ``params.load``, ``dims``, ``step_check``)."""
    out = {}
    for key, value in doc.items():
        u = _unit(key)
        if u is not None:
            out[key] = u[0]
        elif key in _NESTED and isinstance(value, dict):
            out.update(units_block(value))
    return out


# ------------------------------------------------------------------------------------------
# provenance
# ------------------------------------------------------------------------------------------

_COMMAND = contextvars.ContextVar("cimqb_traj_command", default=None)


@contextlib.contextmanager
def command_line(argv):
    """Within the block, files record ``argv`` (a list, or a string) as their command line
    (the command-line entry point sets it; otherwise ``sys.argv`` is recorded)."""
    token = _COMMAND.set(argv if isinstance(argv, str) else shlex.join(map(str, argv)))
    try:
        yield
    finally:
        _COMMAND.reset(token)


@functools.lru_cache(maxsize=None)
def _git() -> dict:
    """{"git_commit": HEAD, "git_modified": 0/1 (the package's folder has changes, untracked files
    included)} when this package runs from a git checkout that tracks it, else {} (no git, not a
    checkout, a timeout)."""
    pkg = os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(["git", "-C", pkg, *args], capture_output=True, text=True, timeout=5)

    try:
        head = git("rev-parse", "HEAD")
        tracked = git("ls-files", "--error-unmatch", "--", "__init__.py")  # this checkout holds the package
        if head.returncode or tracked.returncode or not re.fullmatch(r"[0-9a-f]{40,64}", head.stdout.strip()):
            return {}
        status = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": head.stdout.strip(), "git_modified": int(bool(status.returncode or status.stdout.strip()))}


def provenance() -> dict:
    """Global attributes saying what wrote a file: ``Conventions``, ``cimqb_traj_format``,
    ``cimqb_traj_version``, ``git_commit`` and ``git_modified`` (1: the package's files differ from
    that commit; both only from a git checkout), ``date_created`` (UTC, ISO 8601),
    ``command_line`` (shell-quoted), ``history`` (date and command line) and ``units_convention``."""
    from . import __version__

    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cmd = _COMMAND.get() or shlex.join(sys.argv)
    return {"Conventions": "CF-1.10", "cimqb_traj_format": FORMAT, "cimqb_traj_version": __version__, **_git(),
            "date_created": date, "command_line": cmd, "history": f"{date}: {cmd}",
            "units_convention": UNITS_CONVENTION}


# ------------------------------------------------------------------------------------------
# arrays
# ------------------------------------------------------------------------------------------


def _attrs(units: str, long_name: str, **extra) -> dict:
    return {"units": units, "long_name": long_name, **extra}


def _var(value, dims, attrs):
    """(dims, data, attrs) of a variable; complex data gets the trailing ``re_im`` dimension."""
    value = np.asarray(value)
    if np.iscomplexobj(value):
        return (*dims, _RE_IM), np.stack([value.real, value.imag], axis=-1), attrs
    return tuple(dims), value, attrs


def _values(da) -> np.ndarray:
    """The array of a variable, complex again if it has the ``re_im`` dimension (bitwise)."""
    v = da.values
    if da.dims and da.dims[-1] == _RE_IM:
        out = np.empty(v.shape[:-1], complex)
        out.real, out.imag = v[..., 0], v[..., 1]
        return out
    return v


def _name(text: str) -> str:
    return str(text).replace("/", "_")


def _err_long(base: str, groups) -> str:
    return f"{base}: standard error (jackknife over {groups} groups)"


# ------------------------------------------------------------------------------------------
# results -> Dataset
# ------------------------------------------------------------------------------------------


def _quantity_attrs(name: str, res, discharge: bool) -> dict:
    base = name[:-4] if name.endswith("_err") else name[:-3] if name.endswith("_bc") else name
    units, long = QUANTITIES[base]
    if discharge and base == "rho_s":
        long = "battery (signal) state <ket|rho_s|bra>"
    if name.endswith("_err"):
        if base.startswith("rho_"):
            long = f"{long}: standard errors of the real and imaginary parts (jackknife over {res.groups} groups)"
        else:
            long = _err_long(long, res.groups)
    elif name.endswith("_bc"):
        long = f"{long}: jackknife bias-corrected (over {res.groups} groups)"
    elif base == "counts":
        long = f"{long}, per channel (options['channels'])"
    return _attrs(units, long)


def _array_dims(name: str, value: np.ndarray, nt: int) -> tuple:
    base = name.removesuffix("_err")
    if base in _FOCK:
        return ("t", *_FOCK[base])
    if name == "counts":
        return ("channel",)
    if value.shape == (nt,):
        return ("t",)
    raise ValueError(f"{name}: unexpected shape {value.shape} (output grid of {nt} times)")


def _scalar_attr(v):
    """netCDF has no booleans (0/1) and no integers beyond int64 (a seed may be one: decimal text)."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    return str(v) if isinstance(v, int) and not -2**63 <= v < 2**63 else v


def _records(res, data: dict, coords: dict, attrs: dict) -> None:
    """Stack ``res.records`` into ``data`` (module docstring)."""
    recs = res.records
    if not recs:
        return
    dim = "group" if res.method in _GROUP_RECORDS else "trajectory"
    attrs["records"] = dim
    coords[dim] = (dim, np.arange(len(recs)), _attrs(ONE, "record number (the trajectories in order)"
                                                     if dim == "trajectory" else "group of samples"))
    keys = list(recs[0])
    if any(list(r) != keys for r in recs):
        raise ValueError("records: every record must have the same keys to be stacked")
    t = np.asarray(res.t)
    ragged_dims = {}  # ragged dimension -> the lengths it was made for
    for key in keys:
        arrays = [np.asarray(r[key]) for r in recs]
        if key == "t" and all(a.shape == t.shape and np.array_equal(a, t) for a in arrays):
            attrs["record_t_is_t"] = 1  # every record's t is the output grid: not stored again
            continue
        units, long, tail, ragged = RECORDS.get(key, ("unknown", f"record {key!r}", None, None))
        name = f"record_{_name(key)}"
        if ragged is None:  # not in the table: ragged when the leading lengths differ
            ragged = len({a.shape for a in arrays}) > 1 and f"{name}_obs"
        if ragged and any(a.ndim == 0 or a.shape[1:] != arrays[0].shape[1:] for a in arrays):
            raise ValueError(f"records[{key!r}]: the shapes differ beyond the first axis")
        if not ragged and any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"records[{key!r}]: the shapes differ between records")
        shape = arrays[0].shape[1:] if ragged else arrays[0].shape
        if tail is None or len(tail) != len(shape):
            tail = tuple("t" if n == len(t) and i == 0 else f"{name}_dim{i}" for i, n in enumerate(shape))
        va = {"record_key": str(key)}
        if ragged:
            lengths = [a.shape[0] for a in arrays]
            if ragged_dims.setdefault(ragged, lengths) != lengths:  # shared only by equal lengths
                ragged = f"{name}_obs"
            count = f"{ragged}_count"
            data[count] = ((dim,), np.array(lengths, dtype=np.int64),
                           _attrs(ONE, f"number of entries along {ragged} per {dim}", sample_dimension=ragged))
            data[name] = _var(np.concatenate(arrays), (ragged, *tail), _attrs(units, long, ragged_count=count, **va))
        else:
            data[name] = _var(np.stack(arrays), (dim, *tail), _attrs(units, long, **va))


def _options(res, data: dict, nt: int) -> str:
    """The JSON text of ``res.options``; its arrays become variables ``option_<key>``."""
    opts = {}
    for key, v in (res.options or {}).items():
        if not isinstance(v, np.ndarray):
            opts[key] = v
            continue
        units, long = _unit(key) or ("unknown", f"option {key!r}")
        if key.endswith("_err"):
            long = _err_long(long, getattr(res, "groups", "?"))
        name = f"option_{_name(key)}"
        dims = ("t",) if v.shape == (nt,) else tuple(f"{name}_dim{i}" for i in range(v.ndim))
        data[name] = _var(v, dims, _attrs(units, long, option_key=str(key)))
    return json.dumps(opts, default=lambda o: o.item() if isinstance(o, np.generic) else repr(o))


def _expect(res, data: dict) -> None:
    taken = set()
    for kind, d in (("", res.expect), ("_err", res.expect_err)):
        for key, v in (d or {}).items():
            name = f"expect_{_name(key)}{kind}"
            while name in taken or name in data:
                name += "_"
            taken.add(name)
            long = f"mean of the observable e_ops[{key!r}] (in that operator's units)"
            data[name] = _var(v, ("t",), _attrs(ONE, _err_long(long, res.groups) if kind else long,
                                                e_op=str(key), e_op_kind="err" if kind else "mean"))


def to_dataset(res):
    """The ``xarray.Dataset`` of a result (``ChargeResult``, ``DischargeResult``,
    ``TrajectoryResult``, ``TrajectoryDischargeResult``; module docstring for the layout)."""
    import xarray as xr

    from .jsonio import dumps
    from .results import DischargeResult

    discharge = isinstance(res, DischargeResult)
    ensemble = hasattr(res, "records")
    t = np.asarray(res.t, dtype=float)
    t_long = "time since the load was connected (at t0)" if discharge else "time"
    coords = {"t": ("t", t, _attrs(TIME, t_long))}
    data = {}
    names = [n for n in type(res)._arrays if n != "t"] + list(getattr(type(res), "_derived", ()))
    for name in names:
        value = getattr(res, name)
        if value is None:
            continue
        value = np.asarray(value)
        data[name] = _var(value, _array_dims(name, value, len(t)), _quantity_attrs(name, res, discharge))
    for base, (ket, bra) in _FOCK.items():
        if base in data:
            n = np.asarray(getattr(res, base)).shape[-1]
            mode = "signal" if ket == "ket_s" else "load"
            coords[ket] = (ket, np.arange(n), _attrs(ONE, f"{mode} Fock number of the ket (row)"))
            coords[bra] = (bra, np.arange(n), _attrs(ONE, f"{mode} Fock number of the bra (column)"))
    if any(_RE_IM in v[0] for v in data.values()):
        coords[_RE_IM] = (_RE_IM, np.arange(2), _attrs(ONE, "0: real part, 1: imaginary part"))
    channels = (res.options or {}).get("channels")
    if "counts" in data and isinstance(channels, list) and len(channels) == data["counts"][1].shape[0]:
        coords["channel"] = ("channel", np.array([str(c) for c in channels]), _attrs(ONE, "output channel"))
    attrs = {"kind": type(res).__name__, "method": res.method, "options": _options(res, data, len(t)),
             "truncation": dumps(res.truncation)}
    items = list(res.params.to_dict().items())
    if discharge:
        items += [("t0", res.t0)] + [(f"load_{k}", v) for k, v in res.load.to_dict().items()]
    attrs.update(param_attrs(items))
    if ensemble:
        for k in ("ntraj", "seed", "groups", "interrupted"):
            attrs[k] = _scalar_attr(getattr(res, k))
        _records(res, data, coords, attrs)
        _expect(res, data)
    attrs.update(provenance())
    return xr.Dataset(data, coords=coords, attrs=attrs)


# ------------------------------------------------------------------------------------------
# Dataset -> result
# ------------------------------------------------------------------------------------------


def param_attrs(items) -> dict:
    """Parameters ``(name, value)`` as netCDF attributes: numbers as they are, a None omitted and
    named in ``none_params`` (netCDF has no null), their units in ``parameter_units`` (JSON)."""
    out, units, nones = {}, {}, []
    for k, v in items:
        units[k] = QUANTITIES[k.removeprefix("load_")][0]
        if v is None:
            nones.append(k)
        else:
            out[k] = v
    out["none_params"] = " ".join(nones)
    out["parameter_units"] = json.dumps(units)
    return out


def _scalar(v):
    if isinstance(v, (str, bytes)):
        return v
    return np.asarray(v).reshape(-1)[0].item()


def _unstack(ds) -> list:
    dim = ds.attrs.get("records")
    if not dim:
        return []
    recs = [{} for _ in range(ds.sizes[dim])]
    for name, da in ds.data_vars.items():
        key = da.attrs.get("record_key")
        if key is None:
            continue
        v = _values(da)
        if "ragged_count" in da.attrs:
            counts = ds[da.attrs["ragged_count"]].values
            parts = np.split(v, np.cumsum(counts)[:-1])
        else:
            parts = list(v)
        for r, p in zip(recs, parts):
            r[key] = p
    if int(_scalar(ds.attrs.get("record_t_is_t", 0))):
        t = ds["t"].values
        for r in recs:
            r["t"] = t.copy()
    return recs


def from_dataset(ds):
    """The result held by a Dataset of :func:`to_dataset` (as read back from a file)."""
    from dataclasses import fields

    from .params import BatteryParams, LoadParams
    from .results import CLASSES

    a = ds.attrs
    cls = CLASSES[str(a["kind"])]
    nones = set(str(a.get("none_params", "")).split())

    def params(kind, prefix=""):
        kw = {}
        for f in fields(kind):
            k = prefix + f.name
            if k in nones:
                kw[f.name] = None
            elif k in a:
                kw[f.name] = _scalar(a[k])
        return kind(**kw)

    kw = {"params": params(BatteryParams), "t": ds["t"].values, "method": str(a["method"]),
          "options": json.loads(a["options"]), "truncation": json.loads(a["truncation"])}
    for name in cls._arrays:
        if name != "t" and name in ds.data_vars:
            kw[name] = _values(ds[name])
    for da in ds.data_vars.values():
        if "option_key" in da.attrs:
            kw["options"][da.attrs["option_key"]] = _values(da)
    if "t0" in a:
        kw["load"], kw["t0"] = params(LoadParams, "load_"), float(_scalar(a["t0"]))
    if "ntraj" in a:
        kw.update(ntraj=int(_scalar(a["ntraj"])), seed=int(_scalar(a["seed"])), groups=int(_scalar(a["groups"])),
                  interrupted=bool(_scalar(a["interrupted"])), records=_unstack(ds), expect={}, expect_err={})
        for da in ds.data_vars.values():
            if "e_op" in da.attrs:
                kw["expect_err" if da.attrs["e_op_kind"] == "err" else "expect"][da.attrs["e_op"]] = _values(da)
    return cls(**kw)


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------


def _encoding(ds) -> dict:
    """No fill values (NaN stays NaN, integers are not masked); gzip for arrays of some size."""
    enc = {}
    for name, v in ds.variables.items():
        e = {"_FillValue": None}
        if v.dtype.kind in "fiu" and v.size >= 64:
            e.update(zlib=True, complevel=4)
        enc[name] = e
    return enc


def _scalar_attrs(path) -> None:
    """Numeric global attributes as HDF5 scalars, as the older layout had them (h5netcdf writes
    them as 1-element arrays, which ``int(h5.attrs["ntraj"])`` refuses under numpy >= 2.4);
    netCDF-4 readers read a scalar attribute as one of length 1."""
    import h5py

    with h5py.File(path, "r+") as h5:
        for k, v in list(h5.attrs.items()):
            if isinstance(v, np.ndarray) and v.shape == (1,) and v.dtype.kind in "fiu":
                h5.attrs[k] = v[0]


def write(ds, path) -> None:
    """Write ``ds`` as netCDF-4 (h5netcdf) to ``path``, atomically (``results.atomic_path``)."""
    from .results import atomic_path

    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=_encoding(ds))
        _scalar_attrs(tmp)


def write_groups(path, attrs: dict, groups: dict) -> None:
    """One netCDF-4 file, atomically: root attributes ``attrs`` (the provenance added) and one
    group per ``{name: Dataset}`` (names with '/' get '_')."""
    import xarray as xr

    from .results import atomic_path

    with atomic_path(path) as tmp:
        xr.Dataset(attrs={**attrs, **provenance()}).to_netcdf(tmp, engine="h5netcdf")
        for name, ds in groups.items():
            ds.to_netcdf(tmp, mode="a", group=_name(name), engine="h5netcdf", encoding=_encoding(ds))
        _scalar_attrs(tmp)


def is_dataset_file(h5) -> bool:
    """Whether an open ``h5py.File`` has this module's layout (else the older HDF5 one)."""
    return "cimqb_traj_format" in h5.attrs


def read(path):
    """The result in a file of :func:`write` (``results.load`` dispatches here)."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return from_dataset(ds.load())
