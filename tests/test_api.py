"""cimqb_traj.solve: one door for every method, one result family, QuTiP conventions; the
steady state and the threshold sweep as result objects that save, convert and load."""

import numpy as np
import pytest
import qutip
import xarray as xr

from stats import assert_within

import cimqb_traj
from cimqb_traj import BatteryParams, exact, load, solve
from cimqb_traj.results import ChargeResult, ThresholdResult, TrajectoryResult

P = BatteryParams(Ns=5, Np=3, F=1.0)
T = np.array([0.0, 0.25, 0.5])
#: each method at a tiny size; trunc_tol=0: the guard has its own tests, here the door is tested
RUNS = {
    "exact": {},
    "jump": {"ntraj": 16, "options": {"groups": 4}},
    "homodyne": {"ntraj": 8, "options": {"groups": 4, "dt": 0.01}},
    "homodyne-displaced": {"ntraj": 4, "options": {"groups": 2, "dt": 0.005, "basis": "displaced"}},
    "mean-field": {"options": {"alpha_s0": 0.1}},
    "positive-p": {"ntraj": 64, "options": {"groups": 4, "dt": 0.01}},
    "wigner": {"ntraj": 64, "options": {"groups": 4, "dt": 0.01}},
}
FIELDS = ("t", "rho_s", "n_s", "n_p", "energy", "W", "W_c", "W_i")
ERRORS = ("rho_s_err", "n_s_err", "n_p_err", "energy_err", "W_err", "W_c_err", "W_i_err")


def _solve(name, **kw):
    return solve(P, T, name.split("-displaced")[0], trunc_tol=0, **RUNS[name], **kw)


@pytest.mark.parametrize("name", list(RUNS))
def test_every_method_has_the_same_fields(name, tmp_path):
    r = _solve(name, e_ops=[qutip.num(P.Ns)])
    deterministic = name in ("exact", "mean-field")
    assert isinstance(r, ChargeResult if name == "exact" else TrajectoryResult)
    assert r.times is r.t and np.array_equal(r.t, T)
    for f in FIELDS:
        assert getattr(r, f).shape[0] == len(T), f
    assert r.rho_s.shape == (len(T), P.Ns, P.Ns) and isinstance(r.truncation, dict)
    for f in ERRORS:  # deterministic: no sampling error (None); sampled: arrays like the value
        e = getattr(r, f)
        assert (e is None) if deterministic else (e.shape == getattr(r, f.removesuffix("_err")).shape), f
    assert isinstance(r.expect, list) and len(r.expect) == 1 and r.expect[0].shape == T.shape
    assert (r.expect_err is None) if deterministic else (r.expect_err[0].shape == T.shape)
    states = r.states
    assert len(states) == len(T) and all(isinstance(s, qutip.Qobj) for s in states)
    # trace 1 up to rounding; the displaced basis' lab-frame output is the cut of an untruncated
    # state, which misses ~1e-7 of the weight at Ns = 5 (its truncation verdict reports it)
    tol = 1e-6 if name.endswith("displaced") else 1e-12
    assert all(s.dims == [[P.Ns], [P.Ns]] and abs(s.tr() - 1) < tol for s in states)
    ds = r.to_xarray()
    assert {"rho_s", "n_s", "W", "expect_0"} <= set(ds.data_vars) and ds.attrs["expect_layout"] == "list"
    r.save(tmp_path / "r.h5")
    q = load(tmp_path / "r.h5")
    assert type(q) is type(r) and isinstance(q.expect, list) and np.array_equal(q.expect[0], r.expect[0])
    assert (q.expect_err is None) == deterministic and (q.W_err is None) == deterministic
    np.testing.assert_array_equal(q.n_s, r.n_s)


def test_exact_via_solve_is_exact_charge_bitwise():
    p = BatteryParams(Ns=6, Np=5, F=1.0)
    a = solve(p, T, "exact", options={"rtol": 1e-9}, trunc_tol=0.5)
    b = exact.charge(p, T, rtol=1e-9, trunc_tol=0.5)
    for f in ChargeResult._arrays:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.truncation == b.truncation and a.options == b.options


def _coherent(alpha, p):
    return qutip.tensor(qutip.coherent(p.Ns, alpha), qutip.basis(p.Np, 0))


def test_ket_and_its_density_matrix_give_the_same_exact_result():
    p = BatteryParams(Ns=6, Np=3, F=1.0)
    psi = _coherent(0.6 * np.exp(0.7j), p)  # complex amplitudes: a transposed state would differ
    a = solve(p, T, state0=psi, trunc_tol=0)
    for other in (qutip.ket2dm(psi), psi.full(), psi.full().ravel()):
        b = solve(p, T, state0=other, trunc_tol=0)
        # 1e-13: qutip's ket2dm and np.outer round the complex products |psi><psi| differently
        # (last bit), which the solver carries along
        np.testing.assert_allclose(a.rho_s, b.rho_s, rtol=0, atol=1e-13)
    assert a.n_s[0] > 0.3  # it did start from the coherent state, not the vacuum


def test_coherent_state_decays_as_the_closed_form():
    """kappa = 0, F = 0, zero temperature: d<n_s>/dt = -gamma_s <n_s> (exactly, also with the
    truncated a_s), so <n_s>(t) = |alpha|^2 exp(-gamma_s t)."""
    p = BatteryParams(Ns=10, Np=2, kappa=0.0, F=0.0)
    alpha, t = 0.8, np.linspace(0.0, 2.0, 5)
    truth = abs(alpha) ** 2 * np.exp(-p.gamma_s * t)
    # 1e-6: the coherent state cut at Ns = 10 misses ~1e-9 of its weight; the solver's rtol 1e-8
    ex = solve(p, t, state0=_coherent(alpha, p))
    np.testing.assert_allclose(ex.n_s, truth, rtol=0, atol=1e-6)
    jp = solve(p, t, "jump", state0=_coherent(alpha, p), ntraj=400, seed=3)
    assert np.all(jp.n_s_err[1:] > 0)
    # floor 1e-6: the deterministic cut of the initial state (above); the rest is statistics
    assert_within(jp.n_s, truth, jp.n_s_err, "jump <n_s> vs |alpha|^2 e^{-t}", groups=jp.groups, floor=1e-6)


@pytest.mark.parametrize("method,kw", [("exact", {}), ("jump", {"ntraj": 24, "options": {"groups": 4}})])
def test_e_ops_list_dict_and_callables_give_the_result_s_own_numbers(method, kw):
    n, one = qutip.num(P.Ns), qutip.qeye(P.Ns)
    f = lambda t, rho: qutip.expect(n, rho)  # noqa: E731
    r = solve(P, T, method, e_ops=[one, n, f], trunc_tol=0, **kw)
    d = solve(P, T, method, e_ops={"n": n, "f": f}, trunc_tol=0, **kw)
    single = solve(P, T, method, e_ops=f, trunc_tol=0, **kw)
    np.testing.assert_allclose(r.expect[0].real, 1.0, atol=1e-12)  # rounding of a trace
    for x in (r.expect[1], r.expect[2], d.expect["n"], d.expect["f"], single.expect[0]):
        np.testing.assert_allclose(x.real, r.n_s, rtol=0, atol=1e-12)  # the same sum, another order
    assert list(d.expect) == ["n", "f"]
    if method == "jump":
        np.testing.assert_allclose(r.expect_err[1], r.n_s_err, rtol=1e-12)
        assert np.all(np.isnan(r.expect_err[2]))  # a callable of the averaged state: no jackknife
        pump = solve(P, T, method, e_ops=[qutip.num(P.Np)], trunc_tol=0, **kw)
        np.testing.assert_allclose(pump.expect[0].real, pump.n_p, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw,match", [
    ({"options": {"bogus": 1}}, "'bogus'"),
    ({"options": {"dt": 0.1}}, r"options\['dt'\] does not apply to method 'exact'"),
    ({"options": {"theta": 0.1}}, r"options\['theta'\] does not apply"),
    ({"options": [("rtol", 1e-6)]}, "options must be a mapping"),
    ({"ntraj": 10}, "ntraj does not apply"),
    ({"seed": 1}, "seed does not apply"),
    ({"e_ops": [qutip.num(P.Np)]}, r"e_ops\[0\]: a pump operator"),
    ({"e_ops": {"j": qutip.tensor(qutip.num(P.Ns), qutip.qeye(P.Np))}}, r"e_ops\['j'\]: a joint"),
    ({"e_ops": [np.eye(4)]}, r"e_ops\[0\] must be 5x5"),
    ({"state0": qutip.tensor(qutip.basis(P.Np, 0), qutip.basis(P.Ns, 1))}, "state0: a Qobj on signal"),
    ({"state0": np.ones(P.Ns * P.Np)}, "state0: a ket must be a finite unit vector"),
], ids=lambda x: str(x)[:30])
def test_exact_refuses_what_does_not_apply(kw, match):
    with pytest.raises(ValueError, match=match):
        solve(P, T, "exact", **kw)


def test_sampled_methods_refuse_what_they_cannot_take():
    mixed = (qutip.ket2dm(_coherent(0.0, P)) + qutip.ket2dm(qutip.tensor(qutip.basis(P.Ns, 1),
                                                                         qutip.basis(P.Np, 0)))) / 2
    with pytest.raises(ValueError, match="ntraj: method 'jump'"):
        solve(P, T, "jump")
    with pytest.raises(ValueError, match="state0: method 'jump'.*mixed"):
        solve(P, T, "jump", ntraj=4, state0=mixed)
    with pytest.raises(ValueError, match="state0: the displaced basis"):
        solve(P, T, "homodyne", ntraj=4, state0=_coherent(0.1, P), options={"basis": "displaced"})
    with pytest.raises(ValueError, match=r"options\['n_max'\] applies to basis='displaced' only"):
        solve(P, T, "homodyne", ntraj=4, options={"n_max": 50})
    fock1 = qutip.tensor(qutip.basis(P.Ns, 1), qutip.basis(P.Np, 0))
    with pytest.raises(ValueError, match="state0: .*product of coherent states"):
        solve(P, T, "positive-p", ntraj=4, state0=fock1)
    with pytest.raises(ValueError, match="ntraj does not apply to method 'mean-field'"):
        solve(P, T, "mean-field", ntraj=4)
    with pytest.raises(ValueError, match="method must be one of"):
        solve(P, T, "montecarlo")


def test_threshold_sweep_is_a_result_that_round_trips(tmp_path):
    F = np.linspace(1.0, 3.0, 5)
    r = cimqb_traj.threshold_sweep(BatteryParams(), F, ("mean-field", "positive-p"), progress=False,
                                   samples=40, t_steady=1.0, dt=0.05, seed=1)
    assert isinstance(r, ThresholdResult) and r["n_s"]["mean-field"] == list(r.n_s["mean-field"])
    r["params"] = {"kappa": 0.5}  # what the command line adds before writing its JSON
    r.save(tmp_path / "th.h5")
    q = load(tmp_path / "th.h5")
    assert isinstance(q, ThresholdResult) and dict(q) == dict(r) and list(q) == list(r) and q.params == r.params
    with xr.open_dataset(tmp_path / "th.h5") as ds:  # readable without this package
        assert ds["n_s"].dims == ("methods", "F") and list(ds["methods"].values) == ["mean-field", "positive-p"]
        np.testing.assert_array_equal(ds["F"].values, F)
        assert ds["F"].attrs["units"] == "sqrt(gamma_s)" and ds["n_s"].attrs["units"] == "1"
        np.testing.assert_array_equal(ds["n_s_err"].sel(methods="positive-p").values, r["n_s_err"]["positive-p"])
        assert ds.attrs["kind"] == "ThresholdResult" and ds.attrs["F_th_meanfield"] == r["F_th_meanfield"]


def test_steady_state_saves_and_loads(tmp_path):
    s = cimqb_traj.steady_state(BatteryParams(Ns=6, Np=3, F=1.0), trunc_tol=0)
    s.save(tmp_path / "s.h5")
    q = load(tmp_path / "s.h5")
    assert np.array_equal(q.t, [np.inf]) and np.array_equal(q.rho_s, s.rho_s) and np.array_equal(q.n_s, s.n_s)
    with xr.open_dataset(tmp_path / "s.h5") as ds:
        np.testing.assert_array_equal(ds["n_s"].values, s.n_s)
