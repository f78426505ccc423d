"""Direct steady-state solver (cimqb_traj.steady) against qutip and closed forms."""

import importlib.util

import numpy as np
import pytest
import qutip

from cimqb_traj.model import collapse_ops, hamiltonian
from cimqb_traj.params import BatteryParams
from cimqb_traj import steady
from cimqb_traj.steady import liouvillian, liouvillian_residual, steady_state

needs_metis = pytest.mark.skipif(
    importlib.util.find_spec("pymetis") is None, reason="method='multifrontal' needs pymetis"
)
MF = pytest.param("multifrontal", marks=needs_metis)


def _reference(p):
    return qutip.steadystate(hamiltonian(p), collapse_ops(p)).full()


def _qutip_residual(p, rho):
    """||L rho|| with qutip's own Liouvillian (column-stacking convention)."""
    L = qutip.liouvillian(hamiltonian(p), collapse_ops(p))
    dims = hamiltonian(p).dims
    drho = qutip.vector_to_operator(L * qutip.operator_to_vector(qutip.Qobj(rho, dims=dims)))
    return np.linalg.norm(drho.full())


def _signal_state(p, rho):
    return np.einsum("nkmk->nm", rho.reshape(p.Ns, p.Np, p.Ns, p.Np))


def _thermal(N, nth):
    """Truncated thermal distribution p_n ~ x^n, x = nth / (1 + nth)."""
    x = nth / (1 + nth)
    w = x ** np.arange(N)
    return w / w.sum()


def _check_state(p, rho):
    d = p.Ns * p.Np
    assert rho.shape == (d, d)
    assert np.array_equal(rho, rho.conj().T)
    assert abs(np.trace(rho) - 1) < 1e-12
    assert np.linalg.eigvalsh(rho).min() > -1e-9


SMALL = [
    dict(Ns=10, Np=4),
    dict(Ns=10, Np=4, nth_s=0.2, nth_p=0.1, delta=0.3),
    dict(Ns=12, Np=5, F=2.5, kappa=1.0, gamma_p=24.0),
    dict(Ns=8, Np=4, F=-1.5, delta=-0.7, nth_p=0.3),
]


@pytest.mark.parametrize("kw", SMALL)
@pytest.mark.parametrize("method", ["auto", "splu", MF])
def test_agrees_with_qutip(kw, method):
    p = BatteryParams(**kw)
    rho = steady_state(p, method=method)
    _check_state(p, rho)
    assert np.abs(rho - _reference(p)).max() < 1e-8


def test_qutip_method_is_the_reference():
    p = BatteryParams(Ns=6, Np=3)
    assert np.array_equal(steady_state(p, method="qutip"), _reference(p))


def test_liouvillian_matches_qutip():
    p = BatteryParams(Ns=6, Np=3, nth_s=0.3, nth_p=0.2, delta=0.4, F=1.3)
    d = p.Ns * p.Np
    rng = np.random.default_rng(1)
    X = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    ours = (liouvillian(p) @ X.ravel()).reshape(d, d)
    L = qutip.liouvillian(hamiltonian(p), collapse_ops(p)).full()
    ref = (L @ X.ravel(order="F")).reshape(d, d, order="F")
    assert np.abs(ours - ref).max() < 1e-12


@pytest.mark.parametrize("gamma_p", [0.3, 1.0, 16.0])
@pytest.mark.parametrize("method", ["splu", MF])
def test_thermal_closed_form_without_drive(gamma_p, method):
    """F = 0 at equal temperature (omega_p = 2 omega_s): the Gibbs state of n_s + 2 n_p is
    stationary for any kappa and rates, so the signal is thermal with mean n_th,s (truncated)."""
    nth_s = 0.4
    x = nth_s / (1 + nth_s)
    nth_p = x**2 / (1 - x**2)
    p = BatteryParams(
        F=0.0, kappa=0.7, gamma_p=gamma_p, nth_s=nth_s, nth_p=nth_p, delta=0.2, Ns=14, Np=6
    )
    rho = steady_state(p, method=method)
    _check_state(p, rho)
    expected = np.kron(np.diag(_thermal(p.Ns, nth_s)), np.diag(_thermal(p.Np, nth_p)))
    assert np.abs(rho - expected).max() < 1e-10
    assert np.abs(_signal_state(p, rho) - np.diag(_thermal(p.Ns, nth_s))).max() < 1e-10


@needs_metis
@pytest.mark.parametrize("gamma_p", [0.5, 16.0])
def test_thermal_closed_form_uncoupled(gamma_p):
    """kappa = 0, F = 0: signal and pump thermalise independently (any n_th,p)."""
    p = BatteryParams(F=0.0, kappa=0.0, gamma_p=gamma_p, nth_s=0.25, nth_p=0.6, Ns=12, Np=5)
    rho = steady_state(p, method="multifrontal")
    expected = np.kron(np.diag(_thermal(p.Ns, 0.25)), np.diag(_thermal(p.Np, 0.6)))
    assert np.abs(rho - expected).max() < 1e-10
    # the large-truncation limit is the untruncated thermal state of mean n_th,s
    n_mean = np.arange(p.Ns) @ np.diag(_signal_state(p, rho)).real
    assert n_mean == pytest.approx(0.25, abs=1e-6)


@needs_metis
def test_vacuum_without_drive_at_zero_temperature():
    p = BatteryParams(F=0.0, Ns=10, Np=4)
    rho = steady_state(p, method="multifrontal")
    expected = np.zeros_like(rho)
    expected[0, 0] = 1
    assert np.abs(rho - expected).max() < 1e-14


@needs_metis
def test_residual_medium_truncation():
    """Above threshold at a truncation where the multifrontal tree has many fronts."""
    p = BatteryParams(Ns=20, Np=6, F=3.0)
    rho = steady_state(p)
    _check_state(p, rho)
    assert steady.last_info["method"] == "multifrontal"
    assert steady.last_info["residual"] < 1e-12
    assert liouvillian_residual(p, rho) < 1e-12
    assert _qutip_residual(p, rho) < 1e-10
    # the signal-parity-odd coherences vanish
    n = np.arange(p.Ns * p.Np) // p.Np
    assert np.all(rho[(n[:, None] - n[None, :]) % 2 == 1] == 0)


@needs_metis
def test_agrees_with_splu_medium():
    p = BatteryParams(Ns=18, Np=6, F=2.2, kappa=0.8, nth_s=0.05, delta=0.1)
    a = steady_state(p, method="multifrontal")
    b = steady_state(p, method="splu")
    assert np.abs(a - b).max() < 1e-10


@needs_metis
def test_failure_is_loud(monkeypatch):
    """A solver that cannot reach the tolerance raises instead of returning a wrong state."""
    p = BatteryParams(Ns=8, Np=3)
    with pytest.raises(RuntimeError, match="residual"):
        steady_state(p, method="multifrontal", tol=1e-300)

    class Bad:
        def __init__(self, A):
            self.fill, self.flops, self.ns, self.t_symbolic = 0, 0.0, 0, 0.0

        def solve(self, b):
            return np.ones_like(b)

    monkeypatch.setattr(steady, "_Multifrontal", Bad)
    with pytest.raises(RuntimeError):
        steady_state(p, method="multifrontal")


def test_bad_arguments():
    p = BatteryParams(Ns=4, Np=2)
    with pytest.raises(ValueError):
        steady_state(p, method="magic")
    with pytest.raises(ValueError):
        steady_state(p, tol=0)


@needs_metis
@pytest.mark.slow
def test_paper_defaults():
    """Ns = 32, Np = 9, F = 3 (~5 s): qutip.steadystate (331 s) gave W = 13.6268."""
    from cimqb_traj.ergotropy import ergotropy

    p = BatteryParams()
    rho = steady_state(p)
    _check_state(p, rho)
    assert steady.last_info["method"] == "multifrontal"
    assert steady.last_info["residual"] < 1e-12
    assert float(ergotropy(_signal_state(p, rho))) == pytest.approx(13.6268, abs=1e-4)
