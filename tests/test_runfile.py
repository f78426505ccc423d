"""Run files (``cimqb-traj run``): a sweep's dataset against separate API runs; bad files refused
before anything runs, in one line naming the key."""

import numpy as np
import pytest
import xarray as xr

from cimqb_traj import exact, runfile
from cimqb_traj.cli import main
from cimqb_traj.params import BatteryParams

TINY = """
method = "exact"
[params]
Ns = 5
Np = 3
gamma_p = 6.0
[time]
t_end = 1.0
dt_out = 0.5
[options]
trunc_tol = 0.0
"""


def write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_two_swept_parameters_equal_separate_runs(tmp_path, capsys):
    """A 2 x 2 sweep (F as a list, kappa as a range) is one dataset with dimensions F and kappa,
    each point equal to its own exact.charge run (the same deterministic solver: equal to rounding)."""
    path = write(tmp_path, TINY + "[sweep.F]\nvalues = [0.8, 1.4]\n[sweep.kappa]\nrange = {start = 0.5, stop = 0.7, num = 2}\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "out" / "study.nc") as ds:
        assert ds.W.dims[:3] == ("F", "kappa", "t") and ds.sizes["F"] == 2 and ds.sizes["kappa"] == 2
        assert ds.F.attrs["units"] == "sqrt(gamma_s)" and ds.kappa.attrs["units"] == "gamma_s"
        assert ds.attrs["sweep"] == "F kappa" and "git_commit" in ds.attrs and "[sweep.F]" in ds.attrs["runfile"]
        # a swept value is a coordinate, not one attribute nor a per-point variable
        assert not {"F", "kappa"} & set(ds.attrs) and not {"point_F", "point_kappa"} & set(ds.data_vars)
        t = ds.t.values
        assert np.allclose(t, [0.0, 0.5, 1.0])
        for F in (0.8, 1.4):
            for kappa in (0.5, 0.7):
                ref = exact.charge(BatteryParams(Ns=5, Np=3, gamma_p=6.0, F=F, kappa=kappa), t, trunc_tol=0,
                                   progress=False)
                point = ds.sel(F=F, kappa=kappa)
                for name in ("W", "W_c", "energy", "n_p"):
                    # same solver, same inputs: only rounding may differ
                    assert np.allclose(point[name].values, getattr(ref, name), rtol=0, atol=1e-12), (F, kappa, name)
                rho = point.rho_s.sel(re_im=0).values + 1j * point.rho_s.sel(re_im=1).values
                assert np.allclose(rho, ref.rho_s, rtol=0, atol=1e-12)
        assert ds.W.sel(F=1.4, kappa=0.7).values[-1] > ds.W.sel(F=0.8, kappa=0.5).values[-1]  # not one point copied


ONE = "[sweep.F]\nvalues = [1.0]\n"


def study_text(top="", params="", time="", options="", sweep=ONE, method='method = "exact"\n'):
    """A tiny run file with the given extra lines per table."""
    return (f"{method}{top}[params]\nNs = 5\nNp = 3\n{params}[time]\nt_end = 1.0\ndt_out = 0.5\n{time}"
            f"[options]\ntrunc_tol = 0.0\n{options}{sweep}")


BAD = [
    (study_text(top="colour = 1\n"), "colour"),
    (study_text(method='method = "magic"\n'), "method"),
    (study_text(top='command = "threshold"\n'), "command"),
    (study_text(params="kapa = 0.5\n"), "params.kapa"),
    (study_text(params="kappa = true\n"), "params.kappa"),
    (study_text(sweep="[load]\ng = 1.0\n" + ONE), "load"),  # a charge has no load
    (study_text(time="t_stop = 1.0\n"), "time.t_stop"),
    (study_text(options="ntraj = 10\n"), "options.ntraj"),  # exact takes no trajectories
    (study_text(options="speed = 10\n"), "options.speed"),
    (study_text(sweep="[sweep.F]\nvalues = []\n"), "sweep.F.values"),
    (study_text(sweep="[sweep.F]\nvalues = [1.0]\nrange = {start = 1, stop = 2, num = 2}\n"), "sweep.F"),
    (study_text(sweep="[sweep.F]\nrange = {start = 1, stop = 2, num = 0}\n"), "sweep.F.range.num"),
    (study_text(sweep="[sweep.F]\nrange = {start = 1, stop = 2}\n"), "sweep.F.range"),
    (study_text(sweep="[sweep.Ns]\nvalues = [5, 6]\n"), "sweep.Ns"),
    (study_text(sweep="[sweep.gamma]\nvalues = [1.0]\n"), "sweep.gamma"),
    (study_text(sweep="[sweep.g]\nvalues = [1.0]\n"), "sweep.g"),  # a load parameter: discharge only
    (study_text(params="F = 1.0\n"), "sweep.F"),  # fixed and swept
    (study_text(sweep=ONE + "[sweep.kappa]\nvalues = [1.0]\n[sweep.delta]\nvalues = [1.0]\n"), "sweep"),
    (study_text(sweep="[sweep.kappa]\nvalues = [0.5, -1.0]\n"), "params/load/sweep (kappa)"),  # 2nd point
    (study_text(sweep=""), "sweep"),  # nothing swept
    ("method = \n", "not valid TOML"),
]


@pytest.mark.parametrize("text, key", BAD)
def test_bad_run_file_refused_in_one_line(text, key, tmp_path, capsys):
    path = write(tmp_path, text)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"study.toml: {key}" in err, err
    assert not (tmp_path / "out" / "study.nc").exists()


def test_points_of_different_sizes_are_refused(tmp_path):
    """Datasets whose Fock dimensions differ do not stack: refused, naming the dimension."""
    study = runfile.parse("s.toml", TINY + "[sweep.F]\nvalues = [0.8, 1.4]\n")
    t = study.t
    a = exact.charge(BatteryParams(Ns=5, Np=3, F=0.8), t, trunc_tol=0, progress=False)
    b = exact.charge(BatteryParams(Ns=6, Np=3, F=1.4), t, trunc_tol=0, progress=False)
    from cimqb_traj.dataset import to_dataset

    with pytest.raises(runfile.RunFileError, match="ket_s"):
        runfile.combine(study, [to_dataset(a), to_dataset(b)])


def test_example_run_file_is_valid():
    study = runfile.load("validation/runfiles/example.toml")
    assert [n for n, _ in study.sweeps] == ["F", "kappa"] and len(study.points()) == 4
