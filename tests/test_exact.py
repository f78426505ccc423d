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
    a = exact.charge(params, T)
    b = exact.charge(params, T, engine="qutip")
    assert np.abs(a.W - b.W).max() <= 1e-6
    assert np.abs(a.W_c - b.W_c).max() <= 1e-6
    assert np.abs(a.rho_s - b.rho_s).max() <= 1e-7


def test_fast_engine_without_parity_structure():
    # a coherent seed on the signal breaks parity: the kernel must then use every element
    p = SMALL
    rho0 = qutip.tensor(qutip.coherent_dm(p.Ns, 0.5), qutip.fock_dm(p.Np, 0))
    a = exact.charge(p, T, rho0=rho0)
    b = exact.charge(p, T, rho0=rho0, engine="qutip")
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


@pytest.mark.filterwarnings("ignore::cimqb_traj.exact.TruncationWarning")  # Np = 6: same truncation in both
@pytest.mark.parametrize("params", [SEEDED, SEEDED.replace(delta=0.3, nth_s=0.1)])
def test_fast_engine_with_seed_agrees_with_mesolve(params):
    # ramp + seed; delta = 0 runs the real layout, delta != 0 the complex one.  Both engines
    # integrate at exact.RTOL = 1e-8, ATOL = 1e-10, so 1e-6 leaves a wide margin (measured ~1e-9)
    t = np.linspace(0, 2, 5)
    a = exact.charge(params, t)
    b = exact.charge(params, t, engine="qutip")
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
    r = exact.charge(SMALL, T, engine="qutip")
    n = np.arange(SMALL.Ns)
    odd = (n[:, None] - n[None, :]) % 2 == 1
    assert np.abs(r.rho_s[:, odd]).max() < 1e-12
    assert r.W[-1] > 0.01  # and the check is not vacuous
    P = model.signal_parity(SMALL)
    assert (P * model.hamiltonian(SMALL) - model.hamiltonian(SMALL) * P).norm() < 1e-12


def test_trace_and_hermiticity():
    r = exact.charge(SMALL.replace(nth_s=0.2), T)
    assert np.allclose(np.trace(r.rho_s, axis1=1, axis2=2), 1, atol=1e-9)
    assert np.allclose(r.rho_s, np.swapaxes(r.rho_s, 1, 2).conj(), atol=1e-14)


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


def test_discharge_from_charged_battery():
    p = BatteryParams(Ns=12, Np=8, F=1.5, gamma_p=6.0, kappa=0.7)
    load = LoadParams(g=1.0)
    t = np.linspace(0, 4, 41)
    r = exact.discharge(p, load, t, t0=3.0)
    charged = exact.charge(p, [0.0, 3.0])
    assert np.allclose(r.rho_s[0], charged.rho_s[-1])
    assert r.kappa_s[0] == pytest.approx(charged.W[-1], rel=1e-9)  # kappa_s = W_s/omega_s = W in photons
    # joint parity (-1)^n sigma_z is conserved by the JC coupling and rho_s has no odd
    # coherences, so the load never acquires a coherence: kappa_a = max(2 p_e - 1, 0)
    assert np.abs(r.rho_a[:, 0, 1]).max() < 1e-12
    assert r.rho_a[:, 1, 1].real.max() > 0.05
    assert np.allclose(r.kappa_a, np.maximum(2 * r.rho_a[:, 1, 1].real - 1, 0), atol=1e-9)


def test_result_round_trip(tmp_path):
    r = exact.charge(SMALL.replace(t_off=3.0), T)
    r.save(tmp_path / "c.h5")
    back = exact.ChargeResult  # noqa: F841
    from cimqb_traj import load

    q = load(tmp_path / "c.h5")
    assert q.params == r.params and np.array_equal(q.W, r.W) and q.options == r.options
    import h5py

    with h5py.File(tmp_path / "c.h5") as h5:  # readable without this package
        assert h5.attrs["kappa"] == SMALL.kappa and h5["W_c"].shape == T.shape
    d = exact.discharge(SMALL, LoadParams(g=0.5), np.linspace(0, 1, 5), t0=1.0)
    d.save(tmp_path / "d.h5")
    e = load(tmp_path / "d.h5")
    assert e.load == d.load and np.array_equal(e.kappa_a, d.kappa_a)
