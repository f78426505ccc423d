"""The two-mode DOPO against its adiabatically eliminated one-mode model's exact steady state.

    python validation/adiabatic/study.py            # ~4 minutes on 2 cores; writes study.json
    python validation/adiabatic/study.py --quick    # tables A and C only at small M (~1 minute)

A. Fixed one-mode rates (eps2, Gamma2) = (1, 0.5) (twice threshold, <n> ~ 0.9) while gamma_p
   grows (kappa = sqrt(Gamma2 gamma_p), F = 0.707 fixed): the two-mode exact steady state
   (``exact.steady_state``, guard off, at two truncations to show they hold it) against
   ``adiabatic.steady_moments``; the exponent of |relative difference| against gamma_p.
B. Fixed kappa = 1 at twice threshold (PHYSICS.md's statement "about -1 % at gamma_p = 10,
   -0.1 % at 100"): here Gamma2 = 1/gamma_p falls, so <n> grows with gamma_p.
C. Large photon numbers (issue 12's target, <n> ~ 400): positive-P samples of the two-mode
   model (kappa = 0.1, F = 15, gamma_p = 16 and 64 with kappa = 0.2, the same one-mode
   rates), <a_s^dag a_s> and Re <a_s^2> averaged over t = 60..120 (steady: the transient is
   over by t ~ 40), with delete-one-group jackknife errors of that time average.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time

import numpy as np

from cimqb_traj import adiabatic as ad
from cimqb_traj import exact
from cimqb_traj.jsonio import dumps
from cimqb_traj.params import BatteryParams
from cimqb_traj.ensemble import jackknife

HERE = pathlib.Path(__file__).resolve().parent


def _params(eps2, gamma2, gamma_p, **kw):
    kappa = math.sqrt(gamma2 * gamma_p)
    return BatteryParams(kappa=kappa, gamma_p=gamma_p, F=eps2 * math.sqrt(gamma_p) / (2 * kappa), **kw)


def _moments(rho):
    N = rho.shape[0]
    a = np.diag(np.sqrt(np.arange(1, N)), 1)
    return float(np.real(np.trace(rho @ a.T @ a))), float(np.real(np.trace(rho @ a @ a)))


def _exact(p):
    t0 = time.time()
    res = exact.steady_state(p, trunc_tol=0)
    n, m = _moments(res.rho_s[0])
    return {"Ns": p.Ns, "Np": p.Np, "n": n, "a2": m, "n_p": float(res.n_p[0]),
            "top_s": float(res.tail_s[0]), "top_p": float(res.tail_p[0]), "seconds": time.time() - t0}


def table_a(gps=(4, 8, 16, 32, 64, 128, 256, 1024)):
    rows = []
    for gp in gps:
        p = _params(1.0, 0.5, gp)
        n1, m1 = ad.steady_moments(p)
        hi, lo = _exact(p.replace(Ns=24, Np=8)), _exact(p.replace(Ns=20, Np=6))
        rows.append({"gamma_p": gp, "kappa": p.kappa, "F": p.F, "n_1mode": n1, "a2_1mode": m1, "exact": hi,
                     "exact_small": lo, "rel_n": hi["n"] / n1 - 1, "rel_a2": hi["a2"] / m1 - 1,
                     "abs_n_times_gamma_p": (hi["n"] - n1) * gp})
        print(f"A gamma_p={gp:6g}  n1={n1:.8f}  n2={hi['n']:.8f} (20/6: {lo['n']:.8f})  rel_n={rows[-1]['rel_n']:+.3e}"
              f"  rel_a2={rows[-1]['rel_a2']:+.3e}  {hi['seconds']:.1f}s", flush=True)
    g = np.array([r["gamma_p"] for r in rows], float)
    d = np.abs([r["rel_n"] for r in rows])
    local = [float(np.log(d[k + 1] / d[k]) / np.log(g[k + 1] / g[k])) for k in range(len(g) - 1)]
    fit = float(np.polyfit(np.log(g[g >= 16]), np.log(d[g >= 16]), 1)[0])
    print(f"A local exponents {np.round(local, 3).tolist()}  fit (gamma_p >= 16) {fit:.3f}")
    return {"rows": rows, "local_exponents": local, "fit_exponent_gamma_p_ge_16": fit}


def table_b(cases=((10, 50, 8), (30, 90, 8), (100, 130, 8))):
    rows = []
    for gp, Ns, Np in cases:
        p = BatteryParams(kappa=1.0, gamma_p=gp, Ns=Ns, Np=Np)
        p = p.replace(F=2 * p.threshold)
        n1, m1 = ad.steady_moments(p)
        ex = _exact(p)
        rows.append({"gamma_p": gp, "kappa": 1.0, "F": p.F, "n_1mode": n1, "a2_1mode": m1, "exact": ex,
                     "rel_n": ex["n"] / n1 - 1, "rel_a2": ex["a2"] / m1 - 1, "abs_n_times_gamma_p": (ex["n"] - n1) * gp})
        print(f"B gamma_p={gp:4g}  n1={n1:.6f}  n2={ex['n']:.6f}  rel_n={rows[-1]['rel_n']:+.3e}  "
              f"(n2-n1) gamma_p={rows[-1]['abs_n_times_gamma_p']:+.4f}  top {ex['top_s']:.1e}/{ex['top_p']:.1e}"
              f"  {ex['seconds']:.0f}s", flush=True)
    return {"rows": rows}


def _time_average(res, name, sel):
    recs = [r for r in res.records if "samples" in r]
    n = np.array([r["samples"] - r["diverged"] for r in recs], float)
    S = np.array([[np.real(np.asarray(r[name])[sel]).mean()] for r in recs])
    est, err, _ = jackknife(S, n, lambda x: x)
    return float(est[0]), float(err[0])


def table_c(M=8000, cases=((16, 2e-3), (64, 1e-3))):
    from cimqb_traj.phasespace import diverged, method
    from cimqb_traj.trajectories import charge_problem, run

    t = np.linspace(0, 120, 25)
    sel = t >= 60
    rows = []
    for gp, dt in cases:
        p = _params(0.75, 6.25e-4, gp, Ns=4, Np=4)  # kappa = 0.1 at gamma_p = 16: issue 12's target, F = 15
        n1, m1 = ad.steady_moments(p)
        t0 = time.time()
        res = run(method("positive-p", trunc_tol=0, dt=dt, spike_bound=200.0), charge_problem(p, t), M, 2024,
                  progress=False)
        secs = time.time() - t0
        n2, en = _time_average(res, "a_dag_a", sel)
        m2, em = _time_average(res, "a2", sel)
        dv, sp, tot = diverged(res)
        rows.append({"gamma_p": gp, "kappa": p.kappa, "F": p.F, "dt": dt, "M": M, "n_1mode": n1, "a2_1mode": m1,
                     "n_posp": n2, "n_posp_err": en, "a2_posp": m2, "a2_posp_err": em,
                     "z_n": (n2 - n1) / en, "z_a2": (m2 - m1) / em,
                     "diverged": dv, "spiking": sp, "samples": tot, "seconds": secs})
        print(f"C gamma_p={gp:3g} kappa={p.kappa:.2f} F={p.F:g}: n1={n1:.3f} posP {n2:.3f} +- {en:.3f} "
              f"(z {rows[-1]['z_n']:+.2f});  a2 1-mode {m1:.3f} posP {m2:.3f} +- {em:.3f} (z {rows[-1]['z_a2']:+.2f});"
              f"  diverged {dv}, spiking {sp} of {tot};  {secs:.0f}s", flush=True)
    return {"t_average": [60.0, 120.0], "rows": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tables A and C only, C at M = 2000")
    args = ap.parse_args(argv)
    out = {"command": "python validation/adiabatic/study.py" + (" --quick" if args.quick else ""),
           "A_fixed_rates": table_a()}
    if not args.quick:
        out["B_fixed_kappa"] = table_b()
    out["C_positive_p"] = table_c(M=2000 if args.quick else 8000)
    if not args.quick:
        (HERE / "study.json").write_text(dumps(out) + "\n")
    return out


if __name__ == "__main__":
    main()
