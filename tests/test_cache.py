"""The exact-run cache (paper/cache.py): keyed on the request and the solver's code; a stored file
is used only when it is this request's; damaged files are recomputed; an unwritable folder warns
once."""

import dataclasses
import shutil
import warnings

import h5py
import numpy as np
import pytest

from cimqb_traj import exact
from cimqb_traj.params import BatteryParams, LoadParams
from cimqb_traj.paper import cache
from cimqb_traj.results import load
from cimqb_traj.truncation import TruncationWarning, assess

P = BatteryParams(Ns=8, Np=6, F=1.0, gamma_p=6.0)  # tiny: each solve takes milliseconds
T = np.linspace(0, 1, 5)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CIMQB_TRAJ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_WARNED", set())
    monkeypatch.setenv(cache._ENV_WARNED, "")  # restored (removed) after the test


@pytest.fixture
def solves(monkeypatch):
    """Counts the solver calls the cache makes (a hit makes none)."""
    calls = []
    real = exact.charge

    def counting(params, t, **kw):
        calls.append(params)
        return real(params, t, **kw)

    monkeypatch.setattr(exact, "charge", counting)
    return calls


def files():
    return sorted(p.name for p in cache.cache_dir().iterdir())


def test_hit_returns_the_stored_run_and_other_inputs_miss(solves):
    a = cache.cached_charge(P, T)
    b = cache.cached_charge(P, T)
    assert len(solves) == 1 and len(files()) == 1  # the second call read the file
    assert np.array_equal(a.W, b.W) and b.params == P and np.array_equal(b.t, T)
    cache.cached_charge(P.replace(F=1.1), T)  # another parameter
    cache.cached_charge(P, T[:-1])  # another grid
    cache.cached_charge(P, T, rtol=1e-7)  # another option
    assert len(solves) == 4 and len(files()) == 4


def test_discharge_is_keyed_on_load_t0_and_source_state():
    src = cache.cached_charge(P, T)
    d1 = cache.cached_discharge(P, LoadParams(g=0.7), T, t0=1.0, source=src)
    d2 = cache.cached_discharge(P, LoadParams(g=0.7), T, t0=1.0, source=src)
    d3 = cache.cached_discharge(P, LoadParams(g=0.9), T, t0=1.0, source=src)
    d4 = cache.cached_discharge(P, LoadParams(g=0.7), T, t0=0.5, source=src)  # another source state
    assert len(files()) == 4  # charge + three discharges
    assert np.array_equal(d1.rho_a, d2.rho_a) and d2.load == LoadParams(g=0.7) and d2.t0 == 1.0
    assert not np.array_equal(d1.rho_a, d3.rho_a) and not np.array_equal(d1.rho_a, d4.rho_a)


def test_a_change_of_the_solver_code_invalidates(solves, monkeypatch):
    cache.cached_charge(P, T)
    monkeypatch.setattr(cache, "solver_hash", lambda: "0" * 64)  # as after an edit of exact.py
    cache.cached_charge(P, T)
    assert len(solves) == 2 and len(files()) == 2


def test_solver_hash_covers_the_solver_source_files(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    import cimqb_traj

    src = cimqb_traj.__file__.rsplit("/", 1)[0]
    for name in cache.SOLVER_FILES:
        shutil.copy(f"{src}/{name}", pkg / name)
    monkeypatch.setattr(cache.importlib.resources, "files", lambda _: pkg)
    same = cache.solver_hash.__wrapped__()
    assert same == cache.solver_hash()  # a copy of the same files: the same code
    for name in ("exact.py", "_lindblad_kernel.py", "steady.py"):
        original = (pkg / name).read_bytes()
        (pkg / name).write_bytes(original.replace(b"1e-8", b"1e-9", 1) + b"\n")
        assert cache.solver_hash.__wrapped__() != same, name
        (pkg / name).write_bytes(original)


def _forge(path, res, req):
    """A file at ``path`` that holds ``res`` and claims the request ``req``."""
    res.save(path)
    with h5py.File(path, "a") as h5:
        h5.attrs["cache_request"] = req


def test_a_file_with_the_right_name_but_other_inputs_is_not_returned(solves):
    a = cache.cached_charge(P, T)
    (name,) = files()
    path = cache.cache_dir() / name
    other = exact.charge(P.replace(F=1.2), T, progress=False)
    solves.clear()
    for req in (cache.request("charge", P.replace(F=1.2), T), cache.request("charge", P, T)):
        # a foreign file under our name, then one whose stored request is forged to be ours
        _forge(path, other, req)
        r = cache.cached_charge(P, T)
        assert r.params == P and np.array_equal(r.W, a.W)
        assert load(path).params == P  # and it was replaced by the right run
    shifted = dataclasses.replace(a, t=T + 0.25)  # the right parameters on another grid
    _forge(path, shifted, cache.request("charge", P, T))
    assert np.array_equal(cache.cached_charge(P, T).t, T)
    # the right parameters and grid, made with other options (e.g. copied from another cache)
    _forge(path, a, cache.request("charge", P, T, rtol=1e-3))
    cache.cached_charge(P, T)
    assert len(solves) == 4


def test_garbage_file_is_recomputed_and_replaced_atomically(solves):
    cache.cached_charge(P, T)
    (name,) = files()
    path = cache.cache_dir() / name
    for junk in (b"garbage", b"\x89HDF\r\n\x1a\n" + bytes(100), b""):  # text, a cut HDF5 header, empty
        path.write_bytes(junk)
        r = cache.cached_charge(P, T)
        assert r.params == P and load(path).params == P
    assert len(solves) == 4 and files() == [name]  # no temporary file left beside it


def test_unwritable_cache_warns_once_and_computes(monkeypatch, tmp_path):
    import cimqb_traj.results as results

    def denied(*a, **k):  # what mkstemp raises in a read-only folder (root ignores chmod)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(results.tempfile, "mkstemp", denied)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = cache.cached_charge(P, T)
        b = cache.cached_charge(P.replace(F=1.1), T)
    msgs = [str(x.message) for x in w if issubclass(x.category, cache.CacheWarning)]
    assert len(msgs) == 1 and "not writable" in msgs[0] and "\n" not in msgs[0]
    assert a.params == P and b.params == P.replace(F=1.1) and files() == []
    ref = exact.charge(P, T, progress=False)
    assert np.allclose(a.W, ref.W, rtol=0, atol=1e-12)  # the same solver, the same numbers


def test_cache_folder_that_cannot_be_created_warns_once(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("CIMQB_TRAJ_CACHE", str(blocker / "cache"))  # below a file: mkdir fails, even as root
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for F in (1.0, 1.1, 1.2):
            assert cache.cached_charge(P.replace(F=F), T).params.F == F
    assert sum(issubclass(x.category, cache.CacheWarning) for x in w) == 1


def test_usable_probes_up_front_and_worker_processes_stay_quiet(monkeypatch, tmp_path):
    assert cache.usable() and files() == []  # writable: the probe leaves nothing behind
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("CIMQB_TRAJ_CACHE", str(blocker / "cache"))
    with pytest.warns(cache.CacheWarning, match="not writable"):
        assert not cache.usable()
    monkeypatch.setattr(cache, "_WARNED", set())  # as in a worker process, which inherits the environment
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.cached_charge(P, T).params == P


def test_a_cached_run_warns_like_a_fresh_one(monkeypatch):
    verdict = assess(1e-2, "test: a stored verdict", 0.05, 1.0, {"W": 0.05})
    assert verdict["verdict"] == "warn"
    real = exact.charge

    def warned(params, t, **kw):
        res = dataclasses.replace(real(params, t, **kw), truncation=verdict)
        warnings.warn(verdict["message"], TruncationWarning)
        return res

    monkeypatch.setattr(exact, "charge", warned)
    for _ in range(2):  # computed, then read from the file
        with pytest.warns(TruncationWarning, match="may be off"):
            r = cache.cached_charge(P, T)
    assert r.truncation == verdict
