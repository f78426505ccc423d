"""Self-describing files (issue 13, point 1): results as xarray Datasets, written netCDF-4 and read
back by xarray alone (units, long names, coordinates, provenance), ``load`` of these files and of
the older HDF5 layout, and the JSON ``units`` block of the command line."""

import json
import os
import re
import shlex
import subprocess
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest
import xarray as xr

import cimqb_traj
from cimqb_traj import BatteryParams, LoadParams, exact, load, trajectories
from cimqb_traj.cli import main
from cimqb_traj.dataset import units_block

P = BatteryParams(Ns=5, Np=3, F=1.0, t_off=1.5)  # t_ramp stays None: a parameter that is None
T = np.linspace(0.0, 2.0, 3)
RHO0 = np.diag([0.5, 0.3, 0.1, 0.07, 0.03])


def bitwise(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def complex_of(da) -> np.ndarray:
    """A complex array from its re_im dimension, with xarray alone."""
    out = np.empty(da.isel(re_im=0).shape, complex)
    out.real, out.imag = da.sel(re_im=0).values, da.sel(re_im=1).values
    return out


def assert_self_describing(ds) -> None:
    """Units and a long name on every variable and coordinate, ``t`` a coordinate, no phony
    dimensions, the provenance attributes."""
    for name, v in ds.variables.items():
        assert v.attrs.get("units") not in (None, "", "unknown"), name
        assert v.attrs.get("long_name"), name
    assert "t" in ds.coords and ds["t"].dims == ("t",)
    assert not [d for d in ds.dims if str(d).startswith("phony_dim")], ds.dims
    assert ds.attrs["cimqb_traj_version"] == cimqb_traj.__version__
    assert ds.attrs["Conventions"].startswith("CF-")
    age = datetime.now(timezone.utc) - datetime.fromisoformat(ds.attrs["date_created"])
    assert 0 <= age.total_seconds() < 600  # written by this test, in UTC
    assert ds.attrs["command_line"] and ds.attrs["command_line"] in ds.attrs["history"]
    pkg = os.path.dirname(cimqb_traj.__file__)
    head = subprocess.run(["git", "-C", pkg, "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # run from a git checkout: HEAD when the package first wrote, or (a
        # commit made since, in this working tree) one of its ancestors
        c = ds.attrs["git_commit"]
        assert re.fullmatch(r"[0-9a-f]{40}", c), c
        assert subprocess.run(["git", "-C", pkg, "merge-base", "--is-ancestor", c, "HEAD"]).returncode == 0
        assert int(ds.attrs["git_modified"]) in (0, 1)
    else:
        assert "git_commit" not in ds.attrs


@pytest.mark.parametrize("engine", ["h5netcdf", None])  # None: xarray chooses the engine itself
def test_charge_file_opens_in_xarray_with_units_coordinates_and_provenance(tmp_path, engine):
    r = exact.charge(P, T, trunc_tol=0, progress=False)  # a file test: the guard is not the point
    r.save(tmp_path / "c.h5")
    with xr.open_dataset(tmp_path / "c.h5", engine=engine) as ds:
        assert_self_describing(ds)
        assert ds["rho_s"].dims == ("t", "ket_s", "bra_s", "re_im")
        assert bitwise(ds["t"].values, r.t) and bitwise(complex_of(ds["rho_s"]), r.rho_s)
        for k in ("energy", "W", "W_c", "W_i", "n_p", "tail_s", "tail_p"):
            assert bitwise(ds[k].values, getattr(r, k)), k
        assert ds["W"].attrs["units"] == "hbar*gamma_s" and ds["t"].attrs["units"] == "1/gamma_s"
        assert ds.attrs["kind"] == "ChargeResult" and ds.attrs["method"] == "exact"
        for k, v in P.to_dict().items():  # every parameter a number; None omitted and listed
            assert (k in ds.attrs.get("none_params", "").split()) if v is None else ds.attrs[k] == v, k
        assert "t_ramp" not in ds.attrs and ds.attrs["none_params"] == "t_ramp"
        assert json.loads(ds.attrs["parameter_units"])["F"] == "sqrt(gamma_s)"
        assert json.loads(ds.attrs["truncation"]) == r.truncation
    q = load(tmp_path / "c.h5")
    assert type(q) is type(r) and q.params == r.params and q.options == r.options and q.truncation == r.truncation
    for k in r._arrays:
        assert bitwise(getattr(q, k), getattr(r, k)), k


def test_trajectory_records_are_stacked_arrays_and_errors_say_their_groups(tmp_path):
    ops = {"n_s": np.diag(np.arange(5.0))}
    r = trajectories.charge(P, T, ntraj=6, groups=3, seed=1, records=True, e_ops=ops, trunc_tol=0, progress=False)
    r.save(tmp_path / "j.h5")
    with xr.open_dataset(tmp_path / "j.h5") as ds:
        assert_self_describing(ds)
        assert ds.sizes["trajectory"] == 6 and not any("0000" in str(k) for k in ds.variables)
        assert ds["W_err"].attrs["long_name"].endswith("standard error (jackknife over 3 groups)")
        assert ds["W_bc"].attrs["units"] == ds["W"].attrs["units"]
        assert list(ds["channel"].values) == r.options["channels"] and bitwise(ds["counts"].values, r.counts)
        # the jump records as a CF contiguous ragged array: lengths per trajectory, entries along "jump"
        n = ds[ds["record_jump_times"].attrs["ragged_count"]].values
        assert ds[ds["record_jump_times"].attrs["ragged_count"]].attrs["sample_dimension"] == "jump"
        cut = np.cumsum(n)[:-1]
        for k, (tj, cj) in enumerate(zip(np.split(ds["record_jump_times"].values, cut),
                                         np.split(ds["record_jump_channels"].values, cut))):
            assert bitwise(tj, r.records[k]["jump_times"]) and bitwise(cj, r.records[k]["jump_channels"])
        assert bitwise(complex_of(ds["expect_n_s"]), r.expect["n_s"]) and bitwise(ds["expect_n_s_err"], r.expect_err["n_s"])
        assert int(ds.attrs["ntraj"]) == 6 and int(ds.attrs["interrupted"]) == 0
    q = load(tmp_path / "j.h5")
    assert (q.ntraj, q.seed, q.groups, q.interrupted) == (6, 1, 3, False) and q.options == r.options
    for k in r._arrays:
        assert bitwise(getattr(q, k), getattr(r, k)), k
    assert len(q.records) == 6 and all(bitwise(a[k], b[k]) for a, b in zip(q.records, r.records) for k in b)
    assert bitwise(q.expect["n_s"], r.expect["n_s"]) and bitwise(q.expect_err["n_s"], r.expect_err["n_s"])


def test_homodyne_and_phase_space_records_round_trip(tmp_path):
    from cimqb_traj.phasespace import method
    from cimqb_traj.ensemble import run
    from cimqb_traj.problem import charge_problem

    h = trajectories.charge(P, T, ntraj=4, groups=2, seed=2, method="homodyne", dt=1e-2, records=True,
                            trunc_tol=0, progress=False)
    pp = run(method("positive-p", trunc_tol=0, paths=True), charge_problem(P, T), 8, 0, groups=2, progress=False)
    for name, r, dim in (("h", h, "trajectory"), ("pp", pp, "group")):
        r.save(tmp_path / f"{name}.h5")
        with xr.open_dataset(tmp_path / f"{name}.h5") as ds:
            assert_self_describing(ds)  # every record key has its units
            assert ds.attrs["records"] == dim and ds.sizes[dim] == len(r.records)
            if name == "h":
                assert ds["record_x_theta"].dims == ("trajectory", "t")
                assert bitwise(ds["record_x_theta"].values, np.stack([x["x_theta"] for x in r.records]))
            else:  # the kept samples' complex paths: ragged along kept_sample, then t and re_im
                assert ds["record_alpha_s"].dims == ("kept_sample", "t", "re_im")
                assert bitwise(complex_of(ds["record_alpha_s"]), np.concatenate([x["alpha_s"] for x in r.records]))
        q = load(tmp_path / f"{name}.h5")
        assert [sorted(x) for x in q.records] == [sorted(x) for x in r.records]
        assert all(bitwise(np.asarray(a[k]), np.asarray(b[k])) or (np.asarray(a[k]) == b[k]) for a, b in
                   zip(q.records, r.records) for k in b)
        assert bitwise(q.rho_s, r.rho_s) and q.options == r.options


def test_array_options_become_variables(tmp_path):
    # the moving basis reports untruncated moments per output time in its options (arrays, complex
    # <a_s^2>): variables with units, options again on load
    import dataclasses

    r = exact.charge(P, T, trunc_tol=0, progress=False)
    extra = {"n_s_untruncated": np.array([0.0, 0.5, 0.25]), "a_s2_untruncated": np.array([0, 1 + 2j, -1j])}
    r = dataclasses.replace(r, options={**r.options, **extra})
    r.save(tmp_path / "o.h5")
    with xr.open_dataset(tmp_path / "o.h5") as ds:
        assert_self_describing(ds)
        assert ds["option_a_s2_untruncated"].dims == ("t", "re_im")
        assert "n_s_untruncated" not in json.loads(ds.attrs["options"])
    q = load(tmp_path / "o.h5")
    assert set(q.options) == set(r.options) and all(bitwise(q.options[k], v) for k, v in extra.items())


def test_discharge_file(tmp_path):
    r = trajectories.discharge(P, LoadParams(g=0.8), T, rho_s0=RHO0, ntraj=4, groups=2, seed=3, trunc_tol=0,
                               progress=False)
    r.save(tmp_path / "d.h5")
    with xr.open_dataset(tmp_path / "d.h5") as ds:
        assert_self_describing(ds)
        assert "load was connected" in ds["t"].attrs["long_name"] and ds["rho_a"].dims == ("t", "ket_a", "bra_a", "re_im")
        assert ds.attrs["load_g"] == 0.8 and ds.attrs["t0"] == r.t0 and ds["kappa_a"].attrs["units"] == "1"
        assert bitwise(ds["kappa_a_err"].values, r.kappa_a_err)
    q = load(tmp_path / "d.h5")
    assert q.load == r.load and q.t0 == r.t0 and bitwise(q.rho_a, r.rho_a) and bitwise(q.W_a_err, r.W_a_err)


# --- the HDF5 layout written up to commit 6814dd0, by a copy of its writer ---


def _write_old(res, path) -> None:
    """The older writer (results.py at 6814dd0): a dataset per array, parameters as attributes
    with None as 'none', ensemble attributes, expect groups and one group per record."""
    def attr(v):
        return "none" if v is None else v

    with h5py.File(path, "w") as h5:
        for name in res._arrays:
            h5.create_dataset(name, data=getattr(res, name), compression="gzip")
        h5.attrs["kind"], h5.attrs["method"] = type(res).__name__, res.method
        h5.attrs["options"], h5.attrs["truncation"] = json.dumps(res.options), json.dumps(res.truncation)
        extra = list(res.params.to_dict().items())
        if hasattr(res, "load"):
            extra += [("t0", res.t0)] + [(f"load_{k}", v) for k, v in res.load.to_dict().items()]
        if hasattr(res, "records"):
            extra += [(k, getattr(res, k)) for k in ("ntraj", "seed", "groups", "interrupted")]
            for gname in ("expect", "expect_err"):
                if getattr(res, gname):
                    g = h5.create_group(gname)
                    for k, v in getattr(res, gname).items():
                        g.create_dataset(k, data=v)
            if res.records:
                g = h5.create_group("records")
                for k, rec in enumerate(res.records):
                    gk = g.create_group(f"{k:07d}")
                    for name, v in rec.items():
                        gk.create_dataset(name, data=v)
        for k, v in extra:
            h5.attrs[k] = attr(v)


def test_load_reads_the_older_hdf5_layout(tmp_path):
    c = exact.charge(P, T, trunc_tol=0, progress=False)
    j = trajectories.charge(P, T, ntraj=4, groups=2, seed=1, records=True, e_ops={"n_s": np.diag(np.arange(5.0))},
                            trunc_tol=0, progress=False)
    d = exact.discharge(P, LoadParams(g=0.5), T, t0=1.0, trunc_tol=0)
    for name, r in (("c", c), ("j", j), ("d", d)):
        _write_old(r, tmp_path / f"{name}.h5")
        with h5py.File(tmp_path / f"{name}.h5") as h5:
            assert h5.attrs["t_ramp"] == "none" and "cimqb_traj_format" not in h5.attrs  # the old layout
        q = load(tmp_path / f"{name}.h5")
        assert type(q) is type(r) and q.params == r.params and q.options == r.options, name
        for k in r._arrays:
            assert bitwise(getattr(q, k), getattr(r, k)), (name, k)
    q = load(tmp_path / "j.h5")
    assert (q.ntraj, q.groups, q.interrupted) == (4, 2, False) and bitwise(q.expect["n_s"], j.expect["n_s"])
    assert all(bitwise(a[k], b[k]) for a, b in zip(q.records, j.records) for k in b) and len(q.records) == 4
    e = load(tmp_path / "d.h5")
    assert e.load == d.load and e.t0 == 1.0


def test_load_refuses_a_file_without_a_result(tmp_path):
    xr.Dataset({"x": ("x", np.arange(3.0))}).to_netcdf(tmp_path / "other.h5", engine="h5netcdf")
    with pytest.raises(ValueError, match="not a result file"):
        load(tmp_path / "other.h5")


# --- the command line: files and JSON ---


def test_cli_charge_file_opens_in_xarray_and_json_has_units(tmp_path, capsys):
    argv = ["charge", "--ns", "6", "--np", "3", "--t-end", "2", "--dt-out", "1", "--trunc-tol", "0", "--json",
            "--no-progress", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    units = doc["units"]
    for k in ("t", "W", "W_c", "W_i", "energy", "n_s", "n_p", "F", "kappa", "Ns"):
        assert k in units, k
    assert units["t"] == "1/gamma_s" and units["W"] == "hbar*gamma_s" and units["F"] == "sqrt(gamma_s)"
    with xr.open_dataset(tmp_path / "out" / "charge.h5") as ds:
        assert_self_describing(ds)
        assert ds.attrs["command_line"] == shlex.join(["cimqb-traj", *argv])
        assert ds["W"].values.tolist() == doc["W"] and ds["t"].values.tolist() == doc["t"]
        assert ds["W"].attrs["units"] == units["W"]


@pytest.mark.parametrize("argv,keys", [
    (["discharge", "--ns", "5", "--np", "3", "--t0", "0.5", "--t-end", "0.5", "--dt-out", "0.5", "--trunc-tol", "0"],
     ("t", "kappa_s", "kappa_a", "W_s", "W_a", "g", "t0")),
    (["threshold", "--methods", "mean-field", "--F-steps", "5"], ("F", "n_s", "F_th_meanfield", "F_th_quantum")),
    (["phase-selection", "--method", "mean-field", "--t-end", "2"], ("F", "eps", "p_plus", "t_end")),
])
def test_every_cli_json_has_a_units_block(capsys, argv, keys):
    assert main(argv + ["--json", "--no-progress"]) == 0
    units = json.loads(capsys.readouterr().out)["units"]
    assert all(k in units for k in keys), (set(keys) - set(units))


def test_units_block():
    doc = {"t": [0.0], "W_err": [0.1], "p_plus_ci": [0, 1], "method": "jump", "truncation": {"energy": 1},
           "params": {"kappa": 0.5, "F": 3.0}}
    assert units_block(doc) == {"t": "1/gamma_s", "W_err": "hbar*gamma_s", "p_plus_ci": "1", "kappa": "gamma_s",
                                "F": "sqrt(gamma_s)"}


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"cimqb-traj {cimqb_traj.__version__}"


def test_reproduce_data_file_opens_in_xarray(tmp_path):
    from cimqb_traj.paper import reproduce

    reproduce(["appD"], str(tmp_path), progress=False)
    tree = xr.open_datatree(tmp_path / "appD.h5", engine="h5netcdf")
    assert json.loads(tree.attrs["summary"])["p0"] == 0.9 and tree.attrs["cimqb_traj_version"] == cimqb_traj.__version__
    with xr.open_dataset(tmp_path / "appD.h5", group="TLS decay") as ds:
        for name, v in ds.variables.items():
            assert v.attrs.get("units") not in (None, "unknown") and v.attrs.get("long_name"), name
        assert "x" in ds.coords and ds["W"].dims == ("x",)
