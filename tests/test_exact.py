"""The exact solver against qutip.mesolve, symmetries, closed forms and the mean-field threshold."""

import numpy as np
import pytest
import qutip
from scipy.integrate import solve_ivp

from cimqb_traj import exact, model
from cimqb_traj._lindblad_kernel import coefficients, lindblad_rhs
from cimqb_traj.ergotropy import ergotropy_parts
from cimqb_traj.params import BatteryParams, LoadParams

SMALL = BatteryParams(Ns=10, Np=7, F=1.2, kappa=0.7, gamma_p=6.0)
T = np.linspace(0, 6, 25)


def random_state(d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = X @ X.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("parity", [False, True])
def test_kernel_equals_liouvillian(parity):
    p = BatteryParams(Ns=7, Np=4, F=1.1, kappa=0.6, delta=0.4, nth_s=0.3, nth_p=0.2)
    rho = random_state(28, 0)
    if parity:  # keep only the signal-parity blocks, where the kernel may skip the rest
        n = np.repeat(np.arange(7), 4)
        rho = rho * ((n[:, None] - n[None, :]) % 2 == 0)
    L = qutip.liouvillian(model.hamiltonian(p), model.collapse_ops(p))
    ref = qutip.vector_to_operator(L * qutip.operator_to_vector(qutip.Qobj(rho, dims=[[7, 4], [7, 4]]))).full()
    out = lindblad_rhs(rho.reshape(7, 4, 7, 4), np.empty((7, 4, 7, 4), complex), coefficients(p, p.F), parity)
    assert np.abs(out.reshape(28, 28) - ref).max() < 1e-13
    assert np.array_equal(out.reshape(28, 28), out.reshape(28, 28).conj().T)  # exactly Hermitian


@pytest.mark.parametrize("params", [
    SMALL,
    SMALL.replace(t_off=2.5),
    SMALL.replace(delta=0.3, nth_s=0.1, nth_p=0.05),
])
def test_fast_engine_agrees_with_mesolve(params):
    # the same truncation on both sides: a fixed-truncation cross-check, guard off (trunc_tol = 0)
    a = exact.charge(params, T, trunc_tol=0)
    b = exact.charge(params, T, engine="qutip", trunc_tol=0)
    assert np.abs(a.W - b.W).max() <= 1e-6
    assert np.abs(a.W_c - b.W_c).max() <= 1e-6
    assert np.abs(a.rho_s - b.rho_s).max() <= 1e-7


def test_fast_engine_without_parity_structure():
    # a coherent seed on the signal breaks parity: the kernel must then use every element
    p = SMALL
    rho0 = qutip.tensor(qutip.coherent_dm(p.Ns, 0.5), qutip.fock_dm(p.Np, 0))
    a = exact.charge(p, T, rho0=rho0, trunc_tol=0)
    b = exact.charge(p, T, rho0=rho0, engine="qutip", trunc_tol=0)
    assert np.abs(a.rho_s - b.rho_s).max() <= 1e-7
    assert abs(a.rho_s[5, 0, 1]) > 1e-3  # odd coherences present


SEEDED = BatteryParams(Ns=10, Np=6, kappa=0.5, gamma_p=4.0, F=1.3, eps=0.15, t_ramp=1.0)


@pytest.mark.parametrize("delta", [0.0, 0.4])
def test_kernel_equals_liouvillian_with_seed(delta):
    # the seed eps (a_s^dag - a_s) in the layout without parity blocks; real layout at delta = 0
    p = BatteryParams(Ns=7, Np=4, F=1.1, kappa=0.6, delta=delta, nth_s=0.3, nth_p=0.2, eps=0.37)
    rho = random_state(28, 1)
    if delta == 0.0:
        rho = rho.real  # real, symmetric, positive: the real layout
    L = qutip.liouvillian(model.hamiltonian(p), model.collapse_ops(p))
    ref = qutip.vector_to_operator(L * qutip.operator_to_vector(qutip.Qobj(rho, dims=[[7, 4], [7, 4]]))).full()
    if delta == 0.0:
        assert np.abs(ref.imag).max() == 0.0  # the generator maps real matrices to real ones
    for parity in (False, True):  # parity_only is ignored with a seed
        out = lindblad_rhs(rho.reshape(7, 4, 7, 4), np.empty((7, 4, 7, 4), complex), coefficients(p, p.F), parity)
        assert np.abs(out.reshape(28, 28) - ref).max() < 1e-13


@pytest.mark.parametrize("params", [SEEDED, SEEDED.replace(delta=0.3, nth_s=0.1)])
def test_fast_engine_with_seed_agrees_with_mesolve(params):
    # ramp + seed; delta = 0 runs the real layout, delta != 0 the complex one.  Both engines
    # integrate at exact.RTOL = 1e-8, ATOL = 1e-10, so 1e-6 leaves a wide margin (measured ~1e-9)
    t = np.linspace(0, 2, 5)
    a = exact.charge(params, t, trunc_tol=0)  # same truncation in both: guard off
    b = exact.charge(params, t, engine="qutip", trunc_tol=0)
    assert a.options["engine"] == "fast" and b.options["engine"] == "qutip"
    assert np.abs(a.rho_s - b.rho_s).max() <= 1e-6
    assert abs(a.rho_s[-1, 0, 1]) > 1e-2  # the seed's odd coherences are there
    if params.delta == 0.0:
        assert np.abs(b.rho_s.imag).max() < 1e-10  # real generator, real state: the real layout is exact


def test_seed_without_coupling_is_a_coherent_state():
    # kappa = 0: alpha_s(t) = (2 eps / gamma_s)(1 - exp(-gamma_s t / 2)) (solver rtol 1e-8)
    p = BatteryParams(Ns=12, Np=6, kappa=0.0, gamma_p=4.0, F=0.8, eps=0.4, gamma_s=1.5)
    t = np.linspace(0, 3, 7)
    r = exact.charge(p, t, trunc_tol=None)
    assert r.options["engine"] == "fast"
    a = np.diag(np.sqrt(np.arange(1, p.Ns)), 1)
    alpha = 2 * p.eps / p.gamma_s * (1 - np.exp(-p.gamma_s * t / 2))
    assert np.allclose(np.einsum("tij,ji->t", r.rho_s, a), alpha, atol=1e-6)


def test_signal_parity_is_conserved_from_vacuum():
    # mesolve knows nothing about parity: odd coherences of rho_s must stay zero by symmetry
    r = exact.charge(SMALL, T, engine="qutip", trunc_tol=0)
    n = np.arange(SMALL.Ns)
    odd = (n[:, None] - n[None, :]) % 2 == 1
    assert np.abs(r.rho_s[:, odd]).max() < 1e-12
    assert r.W[-1] > 0.01  # and the check is not vacuous
    P = model.signal_parity(SMALL)
    assert (P * model.hamiltonian(SMALL) - model.hamiltonian(SMALL) * P).norm() < 1e-12


def _hermitian_defect(x):
    """max |x - x^dag| over a stack of matrices: absolute (np.allclose's default rtol = 1e-5 would
    let a relative non-Hermiticity of 1e-5 pass)."""
    return float(np.abs(x - np.swapaxes(x, -1, -2).conj()).max())


def _assert_states(rho, tol=1e-12):
    assert _hermitian_defect(rho) <= tol, _hermitian_defect(rho)
    assert np.abs(np.trace(rho, axis1=-2, axis2=-1) - 1).max() <= 1e-9
    assert np.linalg.eigvalsh(rho).min() >= -1e-9


def test_trace_and_hermiticity():
    # the fast engine stores one triangle, so its rho_s is Hermitian by construction: the qutip
    # engine, which integrates every element, is the check that can fail; both must be states
    for engine in ("fast", "qutip"):
        r = exact.charge(SMALL.replace(nth_s=0.2), T, engine=engine, trunc_tol=0)
        _assert_states(r.rho_s, tol=1e-14 if engine == "fast" else 1e-9)  # qutip: ~ its atol
        assert r.W[-1] > 0.01
    # the check itself rejects a non-Hermitian matrix and a non-state
    bad = r.rho_s.copy()
    bad[-1, 0, 2] += 1e-6
    with pytest.raises(AssertionError):
        _assert_states(bad, tol=1e-9)
    with pytest.raises(AssertionError):
        _assert_states(np.diag([1.1, -0.1]).astype(complex))


@pytest.mark.parametrize("bad, what", [
    (lambda r: r + np.triu(np.full_like(r, 1e-6), 1), "Hermitian"),  # non-Hermitian
    (lambda r: 2 * r, "unit trace"),
    (lambda r: r + np.diag([0.3, -0.3] + [0.0] * (len(r) - 2)), "positive"),
    (lambda r: r * np.nan, "finite"),
])
def test_initial_state_must_be_a_density_matrix(bad, what):
    p = BatteryParams(Ns=4, Np=2)
    rho = qutip.tensor(qutip.coherent_dm(4, 0.5), qutip.fock_dm(2, 0)).full()
    with pytest.raises(ValueError, match=f"rho0 must .*{what}"):
        exact.charge(p, [0.0, 1.0], rho0=bad(rho), trunc_tol=0)
    with pytest.raises(ValueError, match=f"rho_s0 must .*{what}"):
        exact.discharge(p, LoadParams(), [0.0, 1.0], rho_s0=bad(qutip.coherent_dm(4, 0.5).full()))


def test_energies_scale_with_omega_s():
    # omega_s only sets the battery ladder n omega_s (interaction picture): the same state, and
    # energy, W, W_c, W_i exactly twice those at omega_s = 1; the guard's relative error is the same
    p = BatteryParams(Ns=12, Np=8, F=1.0, kappa=0.7, gamma_p=6.0)
    a = exact.charge(p, T)
    b = exact.charge(p.replace(omega_s=2.0), T)
    assert np.abs(a.rho_s - b.rho_s).max() == 0.0
    for q in ("energy", "W", "W_c", "W_i"):
        assert np.allclose(getattr(b, q), 2 * getattr(a, q), rtol=1e-12, atol=0), q
    assert a.W[-1] > 0.1
    assert b.truncation["error"] == pytest.approx(a.truncation["error"], rel=1e-9)


def test_thermal_bath_without_pump_relaxes_to_thermal_state():
    # kappa = 0: with a coupling the thermal pump would drive the signal parametrically
    p = BatteryParams(Ns=14, Np=5, F=0.0, kappa=0.0, nth_s=0.4, nth_p=0.1, gamma_p=3.0)
    rho0 = qutip.tensor(qutip.coherent_dm(14, 0.8), qutip.fock_dm(5, 1))
    r = exact.charge(p, [0.0, 60.0], rho0=rho0, trunc_tol=None)
    thermal = qutip.thermal_dm(14, 0.4).full()
    # coherences decay as <a> ~ e^{-gamma_s t/2} (e^-30 ~ 1e-13), populations faster; the truncated bath's stationary state is the
    # truncated Gibbs state, exactly what thermal_dm returns
    assert np.abs(r.rho_s[-1] - thermal).max() < 1e-8
    assert abs(r.W[-1]) < 1e-8
    assert r.W[0] > 0.5


def test_truncation_too_small_is_refused():
    with pytest.raises(exact.TruncationError, match="Np"):
        exact.charge(BatteryParams(Ns=12, Np=3, F=3.0), np.linspace(0, 2, 5))


def test_bad_times_are_refused():
    for bad in ([0, 1, 1], [0, 2, 1], [0, np.nan], [-1, 0]):
        with pytest.raises(ValueError, match="t "):
            exact.charge(SMALL, bad)
    with pytest.raises(ValueError, match="engine"):
        exact.charge(SMALL, T, engine="nope")


# ---- mean field and threshold ----

@pytest.mark.parametrize("kappa,gamma_p,delta", [(0.5, 16, 0.0), (1.0, 32, 0.0), (0.3, 9, 0.4), (0.8, 4, -1.0)])
def test_threshold_is_where_the_linearised_mean_field_turns_unstable(kappa, gamma_p, delta):
    p = BatteryParams(kappa=kappa, gamma_p=gamma_p, delta=delta)

    def growth(F):
        q = p.replace(F=F)
        return np.linalg.eigvals(model.mean_field_jacobian(q, 0j, 2 * F / np.sqrt(gamma_p) + 0j)).real.max()

    assert growth(0.98 * p.threshold) < 0 < growth(1.02 * p.threshold)
    assert abs(growth(p.threshold)) < 1e-6


@pytest.mark.parametrize("F", [1.0, 3.0, 4.0])
def test_mean_field_steady_state_by_integration(F):
    p = BatteryParams(F=F)

    def f(t, y):
        ds, dp = model.mean_field_rhs(p, t, y[0] + 1j * y[1], y[2] + 1j * y[3])
        return [ds.real, ds.imag, dp.real, dp.imag]

    sol = solve_ivp(f, (0, 200), [1e-3, 0, 0, 0], rtol=1e-10, atol=1e-12)
    a_s, a_p = model.mean_field_steady_state(p)
    assert abs(sol.y[0, -1]) == pytest.approx(abs(a_s), abs=1e-6)
    assert sol.y[2, -1] == pytest.approx(a_p.real, abs=1e-6)


# ---- discharge ----

def test_discharge_without_coupling_is_amplitude_damping():
    load = LoadParams(g=0.0, omega_s=7.0, omega_a=7.0)
    rho_s0 = qutip.coherent_dm(20, 1.5).full()
    t = np.linspace(0, 3, 13)
    r = exact.discharge(BatteryParams(Ns=20), load, t, rho_s0=rho_s0)
    # a coherent state stays pure and coherent with alpha e^{-t/2}: W_s = omega_s |alpha|^2 e^{-t}
    assert np.allclose(r.W_s, 7.0 * 2.25 * np.exp(-t), atol=1e-6)
    assert np.allclose(r.W_a, 0, atol=1e-12)


def test_discharge_vacuum_rabi_oscillation():
    # |1>|g> with no loss: the load population is sin^2(g t); its reduced state is diagonal,
    # so kappa_a = max(2 sin^2(g t) - 1, 0) (Appendix D, c = 0)
    load = LoadParams(g=0.8, gamma_a=0.0, omega_s=50.0, omega_a=50.0)
    t = np.linspace(0, 4, 41)
    r = exact.discharge(BatteryParams(Ns=6, gamma_s=0.0), load, t, rho_s0=qutip.fock_dm(6, 1))
    assert np.allclose(r.rho_a[:, 1, 1].real, np.sin(0.8 * t) ** 2, atol=1e-7)
    assert np.allclose(r.kappa_a, np.maximum(2 * np.sin(0.8 * t) ** 2 - 1, 0), atol=1e-6)


def test_detuned_discharge_rabi_oscillation():
    # |1>|g> without loss, load detuned by delta_a = omega_a - omega_s: in {|1,g>, |0,e>} the
    # generator is [[0, g], [g, delta]], so p_e = (4 g^2 / Omega^2) sin^2(Omega t / 2),
    # Omega = sqrt(delta^2 + 4 g^2).  2e-6: mesolve at rtol 1e-8 over ~1.3 periods, measured 5e-7
    g, delta = 0.8, 1.25
    load = LoadParams(g=g, gamma_a=0.0, omega_s=50.0, omega_a=50.0 + delta)
    t = np.linspace(0, 4, 41)
    r = exact.discharge(BatteryParams(Ns=6, gamma_s=0.0), load, t, rho_s0=qutip.fock_dm(6, 1))
    Om = np.hypot(delta, 2 * g)
    assert np.allclose(r.rho_a[:, 1, 1].real, (2 * g / Om) ** 2 * np.sin(Om * t / 2) ** 2, atol=2e-6)
    assert r.rho_a[:, 1, 1].real.max() < 0.7  # detuning caps the transfer (resonant: 1)
    # the verdict: the same state on 5 levels discharges identically (no cut at nth_s = 0), up to
    # the integrator (rtol 1e-8 on W ~ omega = 50, relative to 50: ~1e-7 measured)
    assert r.truncation["verdict"] == "ok" and r.truncation["error"] < 1e-6


def test_thermal_discharge_without_coupling():
    # g = 0: the load stays in |g>, the signal under thermal amplitude damping has
    # <n>(t) = n0 e^{-gamma_s t} + n_th (1 - e^{-gamma_s t}) and <a>(t) = alpha e^{-gamma_s t/2},
    # both exact in the truncation as long as the tail stays empty (Ns 30 for <n> <= 2.3: < 1e-10)
    p = BatteryParams(Ns=30, nth_s=0.4, gamma_s=1.3)
    load = LoadParams(g=0.0, omega_s=1.0, omega_a=3.0)
    t = np.linspace(0, 3, 7)
    r = exact.discharge(p, load, t, rho_s0=qutip.coherent_dm(30, 1.5).full())
    n = np.einsum("tnn,n->t", r.rho_s, np.arange(30)).real
    assert np.allclose(n, 2.25 * np.exp(-1.3 * t) + 0.4 * (1 - np.exp(-1.3 * t)), atol=1e-6)
    a = np.diag(np.sqrt(np.arange(1, 30)), 1)
    assert np.allclose(np.einsum("tij,ji->t", r.rho_s, a), 1.5 * np.exp(-0.65 * t), atol=1e-6)
    assert np.abs(r.rho_a[:, 1, 1]).max() < 1e-12 and np.all(r.W_a == 0)
    assert r.truncation["verdict"] == "ok"


def test_discharge_from_charged_battery():
    p = BatteryParams(Ns=12, Np=8, F=1.5, gamma_p=6.0, kappa=0.7)
    load = LoadParams(g=1.0)
    t = np.linspace(0, 4, 41)
    r = exact.discharge(p, load, t, t0=3.0, trunc_tol=0)  # consistency at one truncation
    charged = exact.charge(p, [0.0, 3.0], trunc_tol=0)
    assert np.allclose(r.rho_s[0], charged.rho_s[-1])
    assert r.kappa_s[0] == pytest.approx(charged.W[-1], rel=1e-9)  # kappa_s = W_s/omega_s = W in photons
    # joint parity (-1)^n sigma_z is conserved by the JC coupling and rho_s has no odd
    # coherences, so the load never acquires a coherence: kappa_a = max(2 p_e - 1, 0)
    assert np.abs(r.rho_a[:, 0, 1]).max() < 1e-12
    assert r.rho_a[:, 1, 1].real.max() > 0.05
    assert np.allclose(r.kappa_a, np.maximum(2 * r.rho_a[:, 1, 1].real - 1, 0), atol=1e-9)


def test_result_round_trip(tmp_path):
    r = exact.charge(SMALL.replace(t_off=3.0), T, trunc_tol=0)
    r.save(tmp_path / "c.h5")
    back = exact.ChargeResult  # noqa: F841
    from cimqb_traj import load

    q = load(tmp_path / "c.h5")
    assert q.params == r.params and np.array_equal(q.W, r.W) and q.options == r.options
    import h5py

    with h5py.File(tmp_path / "c.h5") as h5:  # readable without this package
        assert h5.attrs["kappa"] == SMALL.kappa and h5["W_c"].shape == T.shape
    d = exact.discharge(SMALL, LoadParams(g=0.5), np.linspace(0, 1, 5), t0=1.0, trunc_tol=0)
    d.save(tmp_path / "d.h5")
    e = load(tmp_path / "d.h5")
    assert e.load == d.load and np.array_equal(e.kappa_a, d.kappa_a)
