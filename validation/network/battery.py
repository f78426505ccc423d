"""The network battery study (issue 14, point 4): numbers for validation/network/E_battery.md.

Sections (run one or several; each prints markdown):

* ``single``: eta = 0, one spin: the exact steady state's E, W, W_c, W_i against the two-lobe
  Gaussian model built from the exact state's own Wigner half-plane sums (the approximation alone,
  no sampling), across r = F / F_th, at g = 0.25 and 0.125.
* ``pair``: a ferromagnetic pair (g = 0.5, eta = 0.5, F = 2 F_th): ``exact_work`` against
  ``work_from_conditional`` of the network positive-P and truncated-Wigner samplers.
* ``large``: N = 1000 (random 3-regular, +-1) positive-P: per-spin and total work at t = 30,
  and the cost of the Gaussian build.
* ``ising``: Moebius ladder N = 8 and SK N = 16: per-shot total photon number and the Gaussian work
  of the shots grouped by the Ising energy of their final configuration, with and without a
  coherent seed eps and a pump ramp t_ramp; and a check that the samplers honour eps / t_ramp
  (eta = 0 against the exact single spin).

Run: ``nice -n 10 python validation/network/battery.py [single] [pair] [large] [ising]`` (n_jobs = 1).
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import numpy as np

from cimqb_traj import BatteryParams, exact
from cimqb_traj.errors import Refused
from cimqb_traj.network import battery as bt
from cimqb_traj.network import ising, phasespace
from cimqb_traj.network.sde import linear_threshold

SAMPLERS = {"positive-P": phasespace.positive_p, "Wigner": phasespace.truncated_wigner}


def single():
    print("### eta = 0, one spin: exact steady state vs the two-lobe model from its Wigner half-planes\n")
    print("| g | r = F/F_th | E | W exact / model | W_c exact / model | W_i exact / model | lam | top Fock level |")
    print("|---|---|---|---|---|---|---|---|")
    for kappa, Ns, rs in ((1.0, 40, (0.5, 0.8, 0.95, 1.05, 1.2, 1.5, 2.0, 3.0)), (0.5, 48, (0.8, 1.2, 1.5))):
        p0 = BatteryParams(kappa=kappa, gamma_p=16.0, Ns=Ns, Np=8)
        for r in rs:
            res = exact.steady_state(p0.replace(F=r * p0.threshold), trunc_tol=0)
            m = bt.work_from_conditional(SimpleNamespace(t=np.array([0.0]), cond=bt.wigner_conditional(res.rho_s[0]),
                                                         ordering="symmetric"), jackknife=False)
            print(f"| {kappa / 4:g} | {r:g} | {res.energy[0]:.3f} | {res.W[0]:.3f} / {m.W[0, 0]:.3f} | "
                  f"{res.W_c[0]:.3f} / {m.W_c[0, 0]:.3f} | {res.W_i[0]:.3f} / {m.W_i[0, 0]:.3f} | {m.lam[0, 0]:.2f} | "
                  f"{res.tail_s[0]:.0e} |")
    print()


def pair():
    p = BatteryParams(kappa=2.0, gamma_p=16.0, Ns=8, Np=3)
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = p.replace(F=2 * linear_threshold(p, J, 0.5))
    t = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
    t0 = time.time()
    ex = bt.exact_work(p, J, 0.5, t, trunc_tol=0)
    print(f"### Ferromagnetic pair, g = 0.5, eta = 0.5, F = 2 F_th (Ns = 8, Np = 3; exact {time.time() - t0:.0f} s; "
          f"top levels {ex.truncation['top_level_s']:.1e} / {ex.truncation['top_level_p']:.1e})\n")
    print("Spin 0 (spin 1 equal by symmetry); sampler: 20000 samples, dt = 0.005, seed 1; model +- jackknife error.\n")
    print("| t | quantity | exact | positive-P model | Wigner model |")
    print("|---|---|---|---|---|")
    got = {}
    for name, fn in SAMPLERS.items():
        res = fn(p, J, 0.5, t, 20000, 1, dt=0.005, conditional=True)
        got[name] = bt.work_from_conditional(res, times=t[1:])
    for k, tk in enumerate(t[1:]):
        for q in bt.QUANTITIES:
            cells = [f"{getattr(w, q)[k, 0]:.3f} +- {getattr(w, q + '_err')[k, 0]:.3f}" for w in got.values()]
            print(f"| {tk:g} | {q} | {getattr(ex, q)[k + 1, 0]:.3f} | {cells[0]} | {cells[1]} |")
    print()


def large():
    N = 1000
    J = ising.random_regular(N, 3, seed=0)
    p = BatteryParams(kappa=0.5, gamma_p=16.0)
    p = p.replace(F=1.5 * linear_threshold(p, J, 0.2))
    t = np.array([0.0, 10.0, 20.0, 30.0])
    t0 = time.time()
    res = phasespace.positive_p(p, J, 0.2, t, 1000, 3, dt=0.01, pairs=np.zeros((0, 2), int), conditional=True)
    ts = time.time() - t0
    t0 = time.time()
    w = bt.work_from_conditional(res, times=[30.0])
    tb = time.time() - t0
    print(f"### N = 1000, random 3-regular +-1, g = 0.125, eta = 0.2, F = 1.5 F_th(J), positive-P 1000 samples\n")
    print(f"Sampler {ts:.0f} s; Gaussian build with jackknife ({res.groups} groups) at t = 30: {tb:.0f} s; "
          f"truncation verdict {w.truncation['verdict']} ({w.truncation['message']}); "
          f"projected components {w.truncation['projected']}.\n")
    print("| t | E_total | W_total | W_c_total | W_i_total | P = W/t | per-spin W: min / median / max | lam median |")
    print("|---|---|---|---|---|---|---|---|")
    for k, tk in enumerate(w.t):
        print(f"| {tk:g} | {w.energy_total[k]:.1f} +- {w.energy_total_err[k]:.1f} | {w.W_total[k]:.1f} +- "
              f"{w.W_total_err[k]:.1f} | {w.W_c_total[k]:.1f} +- {w.W_c_total_err[k]:.1f} | {w.W_i_total[k]:.1f} +- "
              f"{w.W_i_total_err[k]:.1f} | {w.power[k]:.2f} | {w.W[k].min():.2f} / {np.median(w.W[k]):.2f} / "
              f"{w.W[k].max():.2f} | {np.median(w.lam[k]):.2f} |")
    print()


def _per_class(J, res):
    """Shots grouped by the Ising energy of their final configuration: fraction, mean total photon
    number (normal order) and the two-lobe Gaussian work of the class's final samples."""
    a, ap = res.final_alpha, res.final_alpha_plus
    ok = np.all(np.isfinite(a), axis=1)
    a, ap = a[ok], ap[ok]
    spins = np.where(a.real >= 0, 1, -1).astype(np.int8)
    E = ising.energy(J, spins)
    n = (ap * a).real - (0.5 if res.ordering == "symmetric" else 0.0)
    rows = []
    for e in np.unique(E):
        sel = E == e
        ns = n[sel].sum(1)
        G = int(min(10, sel.sum()))
        row = [e, sel.mean(), ns.mean(), ns.std(ddof=1) / np.sqrt(sel.sum()) if sel.sum() > 1 else np.nan]
        if sel.sum() >= 40:  # the class's two-lobe work only where it has shots enough
            c = bt.conditional_sums(a[sel][:, None], None if res.ordering == "symmetric" else ap[sel][:, None], groups=G)
            try:
                w = bt.work_from_conditional(SimpleNamespace(t=res.t[-1:], cond=c, ordering=res.ordering))
                row += [w.W_total[0], w.W_total_err[0], w.W_c_total[0], w.W_i_total[0]]
            except Refused as err:  # reported, not hidden: the row says the build was refused
                print(f"<!-- E = {e:g}: {err} -->")
                row += [np.nan] * 4
        else:
            row += [np.nan] * 4
        rows.append(row)
    return rows


def _seed_ramp_check():
    """eta = 0, N = 2: the samplers' <n_i>(t) with eps and t_ramp against the exact single spin."""
    p = BatteryParams(kappa=1.0, gamma_p=16.0, Ns=24, Np=8, F=1.5 * 1.0, eps=0.1, t_ramp=4.0)
    t = np.array([0.0, 2.0, 4.0, 8.0])
    ref = exact.charge(p, t, trunc_tol=0).n_s
    print("eta = 0 check that the network samplers honour eps and t_ramp (g = 0.25, F = 1.5 F_th, eps = 0.1, "
          "t_ramp = 4; 4000 samples): <n_0>(t) exact vs samplers\n")
    print("| t | exact | positive-P | Wigner |")
    print("|---|---|---|---|")
    out = [fn(p, np.zeros((2, 2)), 0.0, t, 4000, 5, dt=0.005) for fn in SAMPLERS.values()]
    for k, tk in enumerate(t):
        print(f"| {tk:g} | {ref[k]:.3f} | " + " | ".join(f"{r.n[k, 0]:.3f} +- {r.n_err[k, 0]:.3f}" for r in out) + " |")
    print()


def ising_section():
    _seed_ramp_check()
    eta = 0.2
    for name, J in (("mobius:8", ising.mobius(8)), ("sk:16:1", ising.sk(16, 1))):
        E0 = ising.ground_states(J).energy
        p0 = BatteryParams(kappa=0.5, gamma_p=16.0)
        Fth = linear_threshold(p0, J, eta)
        print(f"### {name} (ground energy {E0:g}), g = 0.125, eta = {eta}, F = 1.5 F_th(J) = {1.5 * Fth:.3f}, "
              "t = 0..40, 4000 samples, dt = 0.01\n")
        print("| method | eps | t_ramp | E_Ising | fraction | mean total n +- se | W_total (two-lobe) +- jk | "
              "W_c_total | W_i_total |")
        print("|---|---|---|---|---|---|---|---|---|")
        for mname, fn in SAMPLERS.items():
            for eps, ramp in ((0.0, None), (0.1, None), (0.0, 20.0), (0.1, 20.0)):
                p = p0.replace(F=1.5 * Fth, eps=eps, t_ramp=ramp)
                res = fn(p, J, eta, np.array([0.0, 40.0]), 4000, 11, dt=0.01, keep_final=True)
                for row in _per_class(J, res):
                    e, frac, nm, nse, W, We, Wc, Wi = row
                    print(f"| {mname} | {eps:g} | {ramp or '-'} | {e:g} | {frac:.3f} | {nm:.2f} +- {nse:.2f} | "
                          f"{W:.2f} +- {We:.2f} | {Wc:.2f} | {Wi:.2f} |")
        print()


SECTIONS = {"single": single, "pair": pair, "large": large, "ising": ising_section}

if __name__ == "__main__":
    which = sys.argv[1:] or list(SECTIONS)
    bad = [w for w in which if w not in SECTIONS]
    if bad:
        sys.exit(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    for w in which:
        t0 = time.time()
        SECTIONS[w]()
        print(f"<!-- section {w}: {time.time() - t0:.0f} s -->\n", flush=True)
