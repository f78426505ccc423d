"""Invariants every result of every method satisfies (issue 11, point 1 and its "done when").

ONE table of small cases (below / above threshold, thermal, detuned, seeded, pump switch-off,
omega_s = 2, and the issue's Wigner run at Ns = 32 with 64 samples) x every charge method (exact,
jump, homodyne, positive-P, truncated Wigner, mean field through the ensemble runner).  At every
output time of a returned result:

* 0 <= W_i <= W <= E (E = Tr[rho_s H_S], energies above the ground state, which is 0) and
  W_c = W - W_i, each with a rounding slack of 1e-9 max(1, E) only (ergotropy is computed from
  eigenvalues of a Hermitian matrix: its rounding error is ~1e-15 E; the slack is no tolerance
  for a wrong number);
* rho_s Hermitian to rounding (1e-12 of its largest element), unit trace (1e-9: the exact
  solver conserves the trace to its tolerance 1e-8 relative / 1e-10 absolute per step, far
  below), and eigenvalues >= -(their error): for an ensemble result the error of an eigenvalue
  is bounded by the Frobenius norm of the element-wise standard errors ``rho_s_err`` (Weyl:
  |d lambda| <= ||dR||_2 <= ||dR||_F); for the exact solver by its tolerance, 1e-8;
* ``result.truncation`` is there with a verdict in {"ok", "warn", "refused", "disabled"}.

A method may refuse a case (``cimqb_traj.errors.Refused``: too small a truncation, too few
samples): that is an answer, and its message must be one line.  Runs use the default guard
(the user's path); warnings are allowed.  Discharge (exact, jump): 0 <= W_s and
0 <= W_a <= omega_a p_e (a two-level load's ergotropy cannot exceed its excited energy).
"""

import warnings

import numpy as np
import pytest
import qutip

from cimqb_traj import exact
from cimqb_traj import trajectories as tr
from cimqb_traj.errors import Refused
from cimqb_traj.params import BatteryParams, LoadParams
from cimqb_traj.phasespace import method as ps_method
from cimqb_traj.trajectories import charge_problem, run

VERDICTS = {"ok", "warn", "refused", "disabled"}
T = np.array([0.0, 0.5, 1.0])
BASE = BatteryParams(Ns=8, Np=5, kappa=1.0, gamma_p=4.0, F=0.3)  # F_th = 0.5, pump n_p <= 0.6

#: name -> (params, output times)
CASES = {
    "below": (BASE, T),
    "above": (BASE.replace(F=0.75), T),
    "thermal": (BASE.replace(F=0.6, nth_s=0.3, nth_p=0.2), T),
    "detuned": (BASE.replace(F=0.75, delta=0.3), T),  # F_th = 0.583
    "seeded": (BASE.replace(F=0.6, eps=0.3), T),
    "switch-off": (BASE.replace(F=0.75, t_off=0.4), T),
    "omega_s=2": (BASE.replace(F=0.6, omega_s=2.0), T),
    # issue 11: `charge --method wigner --ns 32 --np 5 --F 1 --t-end 1 --dt-out 0.5 --ntraj 64`
    # gave W = 61.5, energy = -0.38 (positive-P: W > energy); paper's kappa and gamma_p
    "issue-ns32": (BatteryParams(Ns=32, Np=5, F=1.0), T),
}


def _charge(name, p, t):
    """Run method ``name`` on a case (small ensembles: invariants hold for any sample)."""
    if name == "exact":
        return exact.charge(p, t, progress=False)
    if name == "jump":
        return tr.charge(p, t, method="jump", ntraj=40, seed=1, groups=4, progress=False)
    if name == "homodyne":
        return tr.charge(p, t, method="homodyne", ntraj=16, seed=1, groups=4, dt=5e-3, theta=0.2,
                         progress=False)
    kw = {"dt": 1e-2} if name != "mean-field" else {}
    ntraj = 2 if name == "mean-field" else (64 if p.Ns == 32 else 400)  # the 64 samples
    groups = 8 if name != "mean-field" else 2
    return run(ps_method(name, **kw), charge_problem(p, t), ntraj, 2, groups=groups, progress=False)


METHODS = ["exact", "jump", "homodyne", "positive-p", "wigner", "mean-field"]


def _one_line(err):
    msg = str(err)
    assert msg and "\n" not in msg.strip(), f"refusal is not one line: {msg!r}"


def _eig_floor(res):
    """How far below zero an eigenvalue of rho_s may lie: its error (module docstring)."""
    err = getattr(res, "rho_s_err", None)
    if err is None:
        return np.full(len(res.t), 1e-8)  # exact: the solver's tolerance
    return np.sqrt(np.sum(np.abs(err) ** 2, axis=(1, 2))) + 1e-12


def check_charge_invariants(res, what):
    E, W, Wc, Wi = (np.asarray(x, float) for x in (res.energy, res.W, res.W_c, res.W_i))
    slack = 1e-9 * np.maximum(1.0, np.abs(E))
    for k in range(len(res.t)):
        at = f"{what} t={res.t[k]:g}: E={E[k]:.6g} W={W[k]:.6g} W_i={Wi[k]:.6g} W_c={Wc[k]:.6g}"
        assert -slack[k] <= Wi[k], at
        assert Wi[k] <= W[k] + slack[k], at
        assert W[k] <= E[k] + slack[k], at
        assert abs(Wc[k] - (W[k] - Wi[k])) <= slack[k], at
    rho = np.asarray(res.rho_s)
    scale = max(1.0, float(np.abs(rho).max()))
    assert np.abs(rho - np.conj(np.swapaxes(rho, 1, 2))).max() <= 1e-12 * scale, f"{what}: rho_s not Hermitian"
    tr_ = np.trace(rho, axis1=1, axis2=2)
    assert np.abs(tr_ - 1).max() <= 1e-9, f"{what}: trace {tr_}"
    lam = np.linalg.eigvalsh(0.5 * (rho + np.conj(np.swapaxes(rho, 1, 2))))
    floor = _eig_floor(res)
    bad = lam.min(axis=1) < -floor
    assert not bad.any(), f"{what}: eigenvalue {lam.min(axis=1)[bad]} below -(error) {-floor[bad]}"
    check_truncation_field(res, what)


def check_truncation_field(res, what):
    trunc = getattr(res, "truncation", None)
    assert isinstance(trunc, dict) and trunc, f"{what}: no truncation verdict ({trunc!r})"
    assert trunc.get("verdict") in VERDICTS, f"{what}: verdict {trunc.get('verdict')!r}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_charge_invariants(case, method):
    p, t = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a "warn" verdict is an answer; it is checked below
        try:
            res = _charge(method, p, t)
        except Refused as err:
            _one_line(err)
            return
    check_charge_invariants(res, f"{method} on {case}")


# --- discharge: exact and jump ----------------------------------------------------------------

_BAT = BatteryParams(Ns=6, Np=3, nth_s=0.2)
_MIXED = 0.6 * qutip.coherent_dm(6, 1.0).full() + 0.4 * qutip.thermal_dm(6, 0.5).full()
_FOCK1 = qutip.fock_dm(6, 1).full()  # one photon: the resonant load is inverted at g t = pi/2
DISCHARGE_CASES = {
    "resonant": (_BAT, LoadParams(g=1.0, gamma_a=0.3, omega_s=1.0, omega_a=1.0), _MIXED),
    "detuned-load": (_BAT, LoadParams(g=0.8, gamma_a=0.1, omega_s=1.0, omega_a=1.4), _MIXED),
    "paper-omegas": (_BAT.replace(nth_s=0.0), LoadParams(g=1.5, gamma_a=0.1), _MIXED),
    "inverted-load": (_BAT.replace(nth_s=0.0), LoadParams(g=3.0, gamma_a=0.1), _FOCK1),
}


def _discharge(method, p, load, t, rho0):
    if method == "exact":
        return exact.discharge(p, load, t, rho_s0=rho0, progress=False)
    return tr.discharge(p, load, t, rho_s0=rho0, method="jump", ntraj=40, seed=3, groups=4, progress=False)


@pytest.mark.parametrize("method", ["exact", "jump"])
@pytest.mark.parametrize("case", list(DISCHARGE_CASES))
def test_discharge_invariants(case, method):
    p, load, rho0 = DISCHARGE_CASES[case]
    t = np.array([0.0, 0.5, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = _discharge(method, p, load, t, rho0)
        except Refused as err:
            _one_line(err)
            return
    what = f"{method} discharge {case}"
    Ws, Wa = np.asarray(res.W_s, float), np.asarray(res.W_a, float)
    p_e = np.asarray(res.rho_a)[:, 1, 1].real  # load basis (g, e), ladder (0, omega_a)
    slack = 1e-9 * np.maximum(1.0, load.omega_a)
    assert np.all(Ws >= -1e-9 * np.maximum(1.0, Ws)), f"{what}: W_s {Ws}"
    assert np.all(Wa >= -slack), f"{what}: W_a {Wa}"
    assert np.all(Wa <= load.omega_a * p_e + slack), f"{what}: W_a {Wa} > omega_a p_e {load.omega_a * p_e}"
    assert np.all(p_e[1:] > 0) and p_e[0] == 0  # the comparison is not between zeros (load starts in g)
    if case == "inverted-load":  # the bound is tested where W_a is large: g t = 1.5 at t = 0.5
        assert Wa.max() > 0.3 * load.omega_a, f"{what}: W_a {Wa}"  # exact ~0.6, 40 jump shots ~0.5
    check_truncation_field(res, what)
