"""Run files: ``cimqb-traj run study.toml`` sweeps parameters and writes one netCDF dataset.

A run file is TOML (``tomllib``)::

    command = "charge"            # charge (default) or discharge
    method = "exact"              # charge: exact, jump, homodyne, mean-field, positive-p, wigner;
                                  # discharge: exact, jump, homodyne

    [params]                      # BatteryParams fields (the others keep the paper's defaults)
    Ns = 8
    Np = 4

    [load]                        # discharge only: LoadParams fields
    g = 1.0

    [time]                        # the command line's --t-end, --dt-out (and --t0 for discharge)
    t_end = 2.0
    dt_out = 0.5

    [options]                     # the method's options, as on the command line: engine, ntraj,
    trunc_tol = 0.0               # seed, groups, n_jobs, dt, theta, heterodyne, basis, trunc_tol

    [sweep.F]                     # one or two swept quantities, each over a list ...
    values = [2.0, 3.0]
    [sweep.kappa]                 # ... or a range: numpy.linspace(start, stop, num)
    range = {start = 0.3, stop = 0.6, num = 3}

A swept quantity is a model parameter (a ``BatteryParams`` field other than the Fock sizes
``Ns``/``Np``, whose states would not stack; for discharge also a ``LoadParams`` field and
``t0``) or a numeric option (``SWEPT_OPTIONS``).  The whole file is checked before anything runs:
an unknown key, command, method or parameter, an option the method does not take, an empty list,
a bad value at any point, a quantity both fixed and swept, or more than two sweeps raise
:class:`RunFileError` (a ``ValueError``; the command line prints it as one line naming the key,
exit 2).  The points then run one after another through the APIs the commands call, and their
``dataset.to_dataset`` datasets are concatenated along the swept quantities (first sweep
outermost), which become coordinates with units and long names.  Points whose other dimensions or
coordinates differ (e.g. the output sizes a displaced basis chooses per point) are refused, not
padded.  Attributes that differ between points (the truncation verdict, ``interrupted``, ...)
become variables ``point_<name>`` along the sweep dimensions; the file's provenance is the run's,
and ``runfile`` holds the run file's text.  The file is written atomically (``dataset.write``).
"""

from __future__ import annotations

import math
import os
import tomllib

import numpy as np

from .params import BatteryParams, LoadParams

__all__ = ["RunFileError", "Study", "load", "run", "COMMANDS", "OPTIONS", "SWEPT_OPTIONS"]

#: command -> its methods
COMMANDS = {"charge": ("exact", "jump", "homodyne", "mean-field", "positive-p", "wigner"),
            "discharge": ("exact", "jump", "homodyne")}
_SAMPLED = ("jump", "homodyne", "positive-p", "wigner")
#: option -> (type, the methods that take it); the command line's options of the same names
OPTIONS = {
    "engine": (str, ("exact",)), "ntraj": (int, _SAMPLED), "seed": (int, _SAMPLED), "groups": (int, _SAMPLED),
    "n_jobs": (int, _SAMPLED), "dt": (float, ("homodyne", "positive-p", "wigner")), "theta": (float, ("homodyne",)),
    "heterodyne": (bool, ("homodyne",)), "basis": (str, ("homodyne",)), "trunc_tol": (float, COMMANDS["charge"]),
}
#: options that may be swept: (units, long name)
SWEPT_OPTIONS = {"ntraj": ("1", "number of trajectories / samples"), "seed": ("1", "seed"),
                 "dt": ("1/gamma_s", "integration time step"), "theta": ("rad", "homodyne phase of the signal output"),
                 "trunc_tol": ("1", "truncation guard tolerance")}
_TOP = ("command", "method", "params", "load", "time", "options", "sweep")
_TIMES = {"charge": {"t_end": 40.0, "dt_out": 0.1}, "discharge": {"t0": 10.0, "t_end": 10.0, "dt_out": 0.05}}
_FOCK = ("Ns", "Np")
_BATTERY = tuple(BatteryParams.__dataclass_fields__)
_LOAD = tuple(LoadParams.__dataclass_fields__)


class RunFileError(ValueError):
    """A run file that cannot run: the message names the file and the key."""


class Study:
    """A checked run file: ``command``, ``method``, ``options``, ``time`` (t_end, dt_out[, t0]), the
    fixed ``params`` / ``load`` and ``sweeps`` ([(name, values)], outermost first); ``points()``
    lists every point's (indices, BatteryParams, LoadParams or None, t0, options)."""

    def __init__(self, path: str, text: str, doc: dict):
        self.path, self.text = path, text
        self.command, self.method = doc["command"], doc["method"]
        self.params, self.load, self.time = doc["params"], doc["load"], doc["time"]
        self.options, self.sweeps = doc["options"], doc["sweeps"]

    @property
    def t(self) -> np.ndarray:
        from .cli import _grid

        return _grid(self.time["t_end"], self.time["dt_out"])

    def points(self) -> list:
        shape = [len(v) for _, v in self.sweeps]
        out = []
        for idx in np.ndindex(*shape):
            val = {name: values[i] for (name, values), i in zip(self.sweeps, idx)}
            p = BatteryParams(**self.params, **{k: v for k, v in val.items() if k in _BATTERY})
            load = (LoadParams(**self.load, **{k: v for k, v in val.items() if k in _LOAD})
                    if self.command == "discharge" else None)
            t0 = val.get("t0", self.time.get("t0"))
            opts = {**self.options, **{k: v for k, v in val.items() if k in OPTIONS}}
            out.append((idx, p, load, t0, opts))
        return out


def _fail(path: str, key: str, msg: str):
    raise RunFileError(f"{os.path.basename(path)}: {key}: {msg}")


def _table(path, doc, key) -> dict:
    v = doc.get(key, {})
    if not isinstance(v, dict):
        _fail(path, key, f"must be a table ([{key}]), got {type(v).__name__}")
    return v


def _number(path, key, v, kind=float):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        _fail(path, key, f"must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if not math.isfinite(v):
        _fail(path, key, f"must be finite, got {v!r}")
    return v


def _sweep_values(path, name, spec) -> list:
    key = f"sweep.{name}"
    if not isinstance(spec, dict):
        _fail(path, key, "must be a table with values = [...] or range = {start, stop, num}")
    extra = set(spec) - {"values", "range"}
    if extra:
        _fail(path, f"{key}.{sorted(extra)[0]}", "unknown key (values or range)")
    if len(spec) != 1:
        _fail(path, key, "give exactly one of values = [...] or range = {start, stop, num}")
    if "values" in spec:
        vals = spec["values"]
        if not isinstance(vals, list):
            _fail(path, f"{key}.values", f"must be a list, got {vals!r}")
        if not vals:
            _fail(path, f"{key}.values", "empty list: give at least one value")
        kind = int if name in ("ntraj", "seed") else float
        vals = [_number(path, f"{key}.values", v, kind) for v in vals]
    else:
        rng = spec["range"]
        if not isinstance(rng, dict) or set(rng) != {"start", "stop", "num"}:
            _fail(path, f"{key}.range", f"must be {{start, stop, num}}, got {rng!r}")
        num = _number(path, f"{key}.range.num", rng["num"], int)
        if num < 1:
            _fail(path, f"{key}.range.num", f"must be >= 1, got {num}")
        vals = np.linspace(_number(path, f"{key}.range.start", rng["start"]),
                           _number(path, f"{key}.range.stop", rng["stop"]), num).tolist()
        if name in ("ntraj", "seed"):
            _fail(path, f"{key}.range", "an integer option takes values = [...]")
    if len(set(vals)) != len(vals):
        _fail(path, key, f"repeated values {vals}")
    return vals


def parse(path: str, text: str) -> Study:
    """Check the run file text completely (module docstring); raises :class:`RunFileError`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RunFileError(f"{os.path.basename(path)}: not valid TOML ({e})") from None
    for k in doc:
        if k not in _TOP:
            _fail(path, k, f"unknown key; a run file has {', '.join(_TOP)}")
    command = doc.get("command", "charge")
    if command not in COMMANDS:
        _fail(path, "command", f"unknown {command!r}; choose from {', '.join(COMMANDS)}")
    method = doc.get("method", "exact")
    if method not in COMMANDS[command]:
        _fail(path, "method", f"unknown for {command}: {method!r}; choose from {', '.join(COMMANDS[command])}")
    params, load, time_, options = (_table(path, doc, k) for k in ("params", "load", "time", "options"))
    sweep = _table(path, doc, "sweep")
    if load and command != "discharge":
        _fail(path, "load", "applies to command = \"discharge\" only")
    for k, v in params.items():
        if k not in _BATTERY:
            _fail(path, f"params.{k}", f"not a parameter; BatteryParams has {', '.join(_BATTERY)}")
        _number(path, f"params.{k}", v, int if k in _FOCK else float)
    for k, v in load.items():
        if k not in _LOAD:
            _fail(path, f"load.{k}", f"not a parameter; LoadParams has {', '.join(_LOAD)}")
        _number(path, f"load.{k}", v)
    times = dict(_TIMES[command])
    for k, v in time_.items():
        if k not in times:
            _fail(path, f"time.{k}", f"unknown key; {command} has {', '.join(times)}")
        times[k] = _number(path, f"time.{k}", v)
    for k, v in options.items():
        if k not in OPTIONS:
            _fail(path, f"options.{k}", f"unknown option; choose from {', '.join(OPTIONS)}")
        kind, methods = OPTIONS[k]
        if method not in methods or (k == "basis" and command == "discharge"):
            _fail(path, f"options.{k}", f"does not apply to method {method!r} of {command}")
        if kind in (int, float):
            _number(path, f"options.{k}", v, kind)
        elif not isinstance(v, kind):
            _fail(path, f"options.{k}", f"must be a {kind.__name__}, got {v!r}")
    if not sweep:
        _fail(path, "sweep", "no swept quantity: give [sweep.<name>] with values or range")
    if len(sweep) > 2:
        _fail(path, "sweep", f"at most two swept quantities, got {len(sweep)}: {', '.join(sweep)}")
    sweeps = []
    for name, spec in sweep.items():
        key = f"sweep.{name}"
        if name in _FOCK:
            _fail(path, key, "the Fock size would differ between points (the states do not stack); "
                             "run one file per truncation")
        swept_load = command == "discharge" and (name in _LOAD or name == "t0")
        if name not in _BATTERY and not swept_load and name not in SWEPT_OPTIONS:
            _fail(path, key, f"not a parameter of {command} nor a swept option ({', '.join(SWEPT_OPTIONS)})")
        if name in SWEPT_OPTIONS and method not in OPTIONS[name][1]:
            _fail(path, key, f"option does not apply to method {method!r}")
        fixed = "time" if name == "t0" else "options" if name in OPTIONS else "load" if name in _LOAD and \
            command == "discharge" else "params"
        if name in {"time": time_, "options": options, "load": load, "params": params}[fixed]:
            _fail(path, key, f"also fixed in [{fixed}]; give it in one place")
        sweeps.append((name, _sweep_values(path, name, spec)))
    study = Study(path, text, {"command": command, "method": method, "params": params, "load": load,
                               "time": times, "options": options, "sweeps": sweeps})
    _check_points(study)
    return study


def _check_points(study: Study) -> None:
    """Every point's parameters and resources, before anything runs."""
    from . import resources
    from .truncation import check_tol

    try:
        t = study.t
    except ValueError as e:
        _fail(study.path, "time", str(e))
    for idx, p, load, t0, opts in _points_checked(study):
        where = ", ".join(f"{n}={v[i]:g}" for (n, v), i in zip(study.sweeps, idx))
        try:
            check_tol(opts.get("trunc_tol", 0.0))
            kw = {k: opts[k] for k in ("ntraj", "groups", "n_jobs", "dt") if k in opts}
            if study.method in _SAMPLED:
                kw.setdefault("ntraj", 1000)
            if study.command == "charge":
                if opts.get("basis", "fock") == "fock":
                    resources.check_charge(p, t, study.method, engine=opts.get("engine", "fast"), **kw)
            else:
                if not math.isfinite(t0) or t0 < 0:
                    raise ValueError(f"t0 must be finite and >= 0, got {t0}")
                resources.check_discharge(p, load, t, t0, study.method, **kw)
        except ValueError as e:
            _fail(study.path, f"point {where}", " ".join(str(e).split()))


def _points_checked(study: Study) -> list:
    try:
        return study.points()
    except (TypeError, ValueError) as e:  # BatteryParams / LoadParams name the field
        names = " ".join(n for n, _ in study.sweeps)
        _fail(study.path, f"params/load/sweep ({names})", " ".join(str(e).split()))


def load(path: str) -> Study:
    """Read and check the run file at ``path`` (:func:`parse`)."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode()
    except OSError as e:
        raise RunFileError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse(path, text)


def _run_point(study: Study, p, load, t0, opts, progress):
    """One point through the API the command line calls for this command and method."""
    from .truncation import TRUNC_TOL

    t, m = study.t, study.method
    tol = opts.get("trunc_tol", TRUNC_TOL)
    traj = {k: opts[k] for k in ("ntraj", "seed", "groups", "n_jobs", "theta", "heterodyne", "basis", "dt")
            if k in opts}
    if study.command == "discharge":
        if m == "exact":
            from .exact import discharge

            return discharge(p, load, t, t0=t0, progress=progress, trunc_tol=tol)
        from .trajectories import discharge

        return discharge(p, load, t, t0=t0, method=m, trunc_tol=tol, progress=progress, **traj)
    if m == "exact":
        from .exact import charge

        return charge(p, t, engine=opts.get("engine", "fast"), progress=progress, trunc_tol=tol)
    if m in ("jump", "homodyne"):
        from .trajectories import charge

        return charge(p, t, method=m, trunc_tol=tol, progress=progress, **traj)
    from .phasespace import method
    from .ensemble import run as ensemble
    from .problem import charge_problem

    meth = method(m, trunc_tol=tol, **({"dt": opts["dt"]} if "dt" in opts else {}))
    if m == "mean-field":
        return ensemble(meth, charge_problem(p, t), 1, 0, groups=1, progress=progress)
    return ensemble(meth, charge_problem(p, t), opts.get("ntraj", 1000), opts.get("seed", 0),
                    groups=opts.get("groups", 20), n_jobs=opts.get("n_jobs", 1), progress=progress)


def _swept_attr_names(study: Study) -> set:
    out = set()
    for name, _ in study.sweeps:
        out |= {name, f"load_{name}"} if study.command == "discharge" and name in _LOAD else {name}
    return out


_PROVENANCE = ("date_created", "history", "command_line", "git_commit", "git_modified", "cimqb_traj_version")


def combine(study: Study, datasets: list):
    """One dataset from the points' datasets (``points()`` order), the sweeps as dimensions."""
    from .dataset import QUANTITIES, provenance

    first = datasets[0]
    for ds, (idx, *_rest) in zip(datasets[1:], study.points()[1:]):
        where = ", ".join(f"{n}={v[i]:g}" for (n, v), i in zip(study.sweeps, idx))
        if dict(ds.sizes) != dict(first.sizes):
            diff = sorted(k for k in set(ds.sizes) | set(first.sizes) if ds.sizes.get(k) != first.sizes.get(k))
            raise RunFileError(f"{os.path.basename(study.path)}: point {where}: its dimensions {', '.join(diff)} "
                               f"differ from the first point's ({ {k: first.sizes.get(k) for k in diff} } vs "
                               f"{ {k: ds.sizes.get(k) for k in diff} }); they do not stack: fix the sizes "
                               f"(e.g. --ns/--np for a displaced basis) or run one file per size")
        for c in first.coords:
            if not np.array_equal(ds[c].values, first[c].values):
                raise RunFileError(f"{os.path.basename(study.path)}: point {where}: coordinate {c} differs "
                                   f"from the first point's; they do not stack")
    drop = _swept_attr_names(study) | set(_PROVENANCE)
    keys = [k for k in first.attrs if k not in drop]
    varying = [k for k in keys if any(not _same(ds.attrs.get(k), first.attrs.get(k)) for ds in datasets)]
    shape = tuple(len(v) for _, v in study.sweeps)
    dims = tuple(n for n, _ in study.sweeps)
    arr = np.empty(shape, dtype=object)
    for (idx, *_rest), ds in zip(study.points(), datasets):
        arr[idx] = ds
    out = _concat(arr, study.sweeps)
    for k in varying:
        vals = np.array([ds.attrs.get(k) for ds in datasets]).reshape(shape)
        vals = vals.astype(str) if vals.dtype.kind == "O" else vals
        out[f"point_{k}"] = (dims, vals, {"long_name": f"per-point attribute {k} (differs between the points)",
                                          **({"units": "1"} if vals.dtype.kind in "fiub" else {})})
    units = {**QUANTITIES, **SWEPT_OPTIONS}
    for name, _ in study.sweeps:
        u, long_name = units[name]
        out[name].attrs.update(units=u, long_name=long_name + " (swept)")
    out.attrs = {k: first.attrs[k] for k in keys if k not in varying}
    out.attrs.update(provenance(), sweep=" ".join(dims), runfile=study.text,
                     runfile_name=os.path.basename(study.path), command=study.command)
    return out


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b)) if a is not None and b is not None else a is b


def _concat(arr, sweeps):
    import pandas as pd
    import xarray as xr

    (name, values), rest = sweeps[0], sweeps[1:]
    parts = [_concat(arr[i], rest) if rest else arr[i] for i in range(len(values))]
    return xr.concat(parts, dim=pd.Index(values, name=name), join="exact", combine_attrs="override",
                     coords="minimal", compat="override")


def run(study: Study, out_dir: str | None = None, *, progress: bool | None = None) -> tuple:
    """Run every point of ``study`` and write ``<out_dir>/<run file name>.nc`` (default folder: the
    run file's).  Returns (path, dataset).  A point that was interrupted stops the run with
    ``KeyboardInterrupt`` and nothing is written (the file needs every point)."""
    from .dataset import to_dataset, write

    datasets = []
    for idx, p, load, t0, opts in study.points():
        res = _run_point(study, p, load, t0, opts, progress)
        if getattr(res, "interrupted", False):
            raise KeyboardInterrupt("interrupted; a run file's dataset needs every point, nothing was written")
        datasets.append(to_dataset(res))
    ds = combine(study, datasets)
    folder = out_dir if out_dir is not None else (os.path.dirname(os.path.abspath(study.path)))
    path = os.path.join(folder, os.path.splitext(os.path.basename(study.path))[0] + ".nc")
    write(ds, path)
    return path, ds
