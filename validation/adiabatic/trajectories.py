"""The two-mode DOPO approaching its adiabatic anchor, seen with moving-basis homodyne trajectories.

    nice -n 10 python validation/adiabatic/trajectories.py --family tens       # ~6 CPU minutes
    nice -n 10 python validation/adiabatic/trajectories.py --family hundreds   # ~4 CPU minutes

Each run merges its family into validation/adiabatic/trajectories.json (written atomically).

Families of fixed one-mode rates (eps2 = 2 kappa F / sqrt(gamma_p), Gamma2 = kappa^2 / gamma_p), so
that the anchor ``adiabatic.steady_moments`` is the same at every gamma_p while gamma_p / gamma_s
grows (kappa = sqrt(Gamma2 gamma_p), F = eps2 / (2 sqrt(Gamma2))):

* ``tens``: eps2 = 1 (twice threshold), Gamma2 = 0.04 (<n> = 12.21), gamma_p = 2, 4, 8, 16; the exact
  two-mode steady state (``exact.steady_state`` at a converged cut) is the cross-check;
* ``hundreds``: issue 12's target rates eps2 = 0.75, Gamma2 = 6.25e-4 (<n> = 399.50), gamma_p = 16
  (kappa 0.1, F 15) and 64 (kappa 0.2); no exact two-mode state exists there (D ~ 56000).

Trajectories: ``trajectories.charge(p, t, method="homodyne", basis="displaced", records=True)``
from the vacuum; each trajectory's untruncated <n_s> and Re <a_s^2> (its records, normal
ordered) are averaged over t >= burn-in at output steps of 0.25; the estimate is the mean of the
per-trajectory time averages, its standard error their standard deviation / sqrt(ntraj)
(independent trajectories; t-distributed with ntraj - 1 degrees of freedom).  The lab-frame
output is 2 x 2 (unused; the moments come from the moving basis, no lab cut), the truncation
guard is off (``trunc_tol=0``): the basis rule's own bounds hold (``discarded`` is reported).

Step: dt = 0.016 / gamma_p (the target's dt = 1e-3 at gamma_p = 16): the pump relaxes at
gamma_p / 2 and its channel sqrt(gamma_p) b drives the noise, so the scheme's error per unit time
and its noise bound (dt sum_k ||c_k||_1 ||c_k||_inf) scale with gamma_p dt; the cost per unit time
grows like gamma_p.

Burn-in: the one-mode mean field da/dt = eps2 a^* - a/2 - Gamma2 |a|^2 a leaves the vacuum at the
rate eps2 - 1/2 and relaxes to its steady state at 2 (eps2 - 1/2): tens: 0.5 and 1, burn-in 30;
hundreds: 0.25 and 0.5, burn-in 60 (the 1000-trajectory target run's ensemble <n_s> is 1.1 below
the anchor at t = 40 and halves every ~4 time units: ~0.03 at t = 60).  Checked in the output:
the difference between the first and second half of the averaging window, with its error.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

from cimqb_traj import adiabatic as ad
from cimqb_traj import exact, trajectories
from cimqb_traj.jsonio import dumps
from cimqb_traj.params import BatteryParams
from cimqb_traj.results import atomic_path

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))
from stats import z_crit  # noqa: E402

OUT = HERE / "trajectories.json"
DT_OUT = 0.25
FAMILIES = {
    # eps2, Gamma2, burn-in, [(gamma_p, ntraj, averaging length, exact cut (Ns, Np) or None)]
    "tens": (1.0, 0.04, 30.0, [(2, 12, 150.0, (34, 16)), (4, 12, 150.0, (36, 12)), (8, 12, 150.0, (36, 10)),
                               (16, 12, 150.0, (36, 8))]),
    "hundreds": (0.75, 6.25e-4, 60.0, [(16, 12, 140.0, None), (64, 6, 90.0, None)]),
}


def params(eps2, gamma2, gamma_p, **kw) -> BatteryParams:
    kappa = math.sqrt(gamma2 * gamma_p)
    return BatteryParams(kappa=kappa, gamma_p=gamma_p, F=eps2 * math.sqrt(gamma_p) / (2 * kappa), **kw)


def exact_moments(p) -> dict:
    t0 = time.process_time()
    r = exact.steady_state(p, trunc_tol=0)
    rho = r.rho_s[0]
    a = np.diag(np.sqrt(np.arange(1, rho.shape[0])), 1)
    return {"Ns": p.Ns, "Np": p.Np, "n": float(np.trace(rho @ a.T @ a).real), "a2": float(np.trace(rho @ a @ a).real),
            "top_s": float(r.tail_s[0]), "top_p": float(r.tail_p[0]), "cpu_s": time.process_time() - t0}


def _mean_se(x):
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def trajectory_moments(p, ntraj, burn, length, dt, seed) -> dict:
    t = np.arange(0.0, burn + length + 1e-9, DT_OUT)
    t0 = time.process_time()
    r = trajectories.charge(p.replace(Ns=2, Np=2), t, method="homodyne", basis="displaced", ntraj=ntraj,
                            groups=ntraj, seed=seed, dt=dt, records=True, trunc_tol=0, progress=False, n_jobs=1)
    cpu = time.process_time() - t0
    sel = t >= burn
    half = t >= burn + length / 2
    out = {"ntraj": ntraj, "burn_in": burn, "length": length, "dt": dt, "dt_out": DT_OUT, "seed": seed, "cpu_s": cpu,
           "dims": r.options["dims"], "discarded": r.options["discarded"],
           "reshifts_per_traj": r.options["reshifts_per_traj"]}
    for name, key in (("n", "n_s"), ("a2", "a_s2")):
        y = np.array([np.real(q[key]) for q in r.records])  # (ntraj, nt), normal ordered
        per = y[:, sel].mean(axis=1)
        out[name], out[name + "_se"] = _mean_se(per)
        out[name + "_per_traj"] = per.tolist()
        # burn-in check: second half minus first half of each trajectory's window
        out[name + "_half_diff"] = _mean_se(y[:, half].mean(axis=1) - y[:, sel & ~half].mean(axis=1))
        out[name + "_sd_instant"] = float(y[:, sel].std())
    return out


def run_family(name, quick=False, only=None) -> dict:
    eps2, gamma2, burn, cases = FAMILIES[name]
    rows = []
    for k, (gp, ntraj, length, cut) in enumerate(cases):
        if only is not None and gp not in only:
            continue
        if quick:
            ntraj, length = 4, length / 10
        p = params(eps2, gamma2, gp)
        n1, m1 = ad.steady_moments(p)
        dt = 0.016 / gp
        tr = trajectory_moments(p, ntraj, burn, length, dt, seed=100 + k)
        row = {"gamma_p": gp, "kappa": p.kappa, "F": p.F, "eps2": eps2, "Gamma2": gamma2, "n_1mode": n1,
               "a2_1mode": m1, "traj": tr, "z_n_vs_1mode": (tr["n"] - n1) / tr["n_se"],
               "z_a2_vs_1mode": (tr["a2"] - m1) / tr["a2_se"]}
        line = (f"{name} gamma_p={gp:3g} kappa={p.kappa:.4f} F={p.F:.4f} dt={dt:.2e}: n 1-mode {n1:.4f}, traj "
                f"{tr['n']:.4f} +- {tr['n_se']:.4f} (z {row['z_n_vs_1mode']:+.2f}); a2 1-mode {m1:.4f}, traj "
                f"{tr['a2']:.4f} +- {tr['a2_se']:.4f} (z {row['z_a2_vs_1mode']:+.2f}); half diff n "
                f"{tr['n_half_diff'][0]:+.3f} +- {tr['n_half_diff'][1]:.3f}; basis {tr['dims']['Ns_basis_max']} x "
                f"{tr['dims']['Np_basis_max']}; {tr['cpu_s']:.0f} CPU s")
        if cut is not None and not quick:
            ex = exact_moments(p.replace(Ns=cut[0], Np=cut[1]))
            row["exact"] = ex
            row["n2_minus_n1_times_gamma_p"] = (ex["n"] - n1) * gp
            row["z_n_vs_exact"] = (tr["n"] - ex["n"]) / tr["n_se"]
            row["z_a2_vs_exact"] = (tr["a2"] - ex["a2"]) / tr["a2_se"]
            row["exact_deviation_in_se"] = (ex["n"] - n1) / tr["n_se"]
            line += (f"\n    exact 2-mode {cut[0]}/{cut[1]}: n {ex['n']:.4f} ((n2-n1) gamma_p {row['n2_minus_n1_times_gamma_p']:+.3f},"
                     f" {row['exact_deviation_in_se']:+.1f} traj SE), a2 {ex['a2']:.4f}; traj vs exact z_n "
                     f"{row['z_n_vs_exact']:+.2f}, z_a2 {row['z_a2_vs_exact']:+.2f}; top {ex['top_s']:.0e}/"
                     f"{ex['top_p']:.0e}; {ex['cpu_s']:.0f} CPU s")
        print(line, flush=True)
        rows.append(row)
    return {"rows": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=sorted(FAMILIES), required=True)
    ap.add_argument("--gamma-p", type=float, nargs="+", help="only these cases (merged into the JSON)")
    ap.add_argument("--quick", action="store_true", help="4 short trajectories per case, no exact, no JSON")
    a = ap.parse_args(argv)
    fam = run_family(a.family, a.quick, a.gamma_p)
    if a.quick:
        return fam
    import fcntl
    import tempfile

    # cases run as parallel processes (--gamma-p) merge into the JSON one at a time
    lock = open(pathlib.Path(tempfile.gettempdir()) / "cimqb_adiabatic_trajectories.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    old = {r["gamma_p"]: r for r in data.get(a.family, {}).get("rows", [])} if a.gamma_p else {}
    old.update({r["gamma_p"]: r for r in fam["rows"]})
    rows = [old[g] for g in sorted(old)]
    m = sum(2 * (1 + ("exact" in r)) for r in rows)
    fam = {"rows": rows, "z_crit": z_crit(m, min(r["traj"]["ntraj"] for r in rows)), "comparisons": m}
    print(f"family-wise z_crit over {fam['comparisons']} comparisons: {fam['z_crit']:.2f}")
    data[a.family] = {"command": f"python validation/adiabatic/trajectories.py --family {a.family} (cases run one "
                                 "process each, --gamma-p G)" if a.gamma_p else
                                 f"python validation/adiabatic/trajectories.py --family {a.family}", **fam}
    with atomic_path(OUT) as tmp:
        pathlib.Path(tmp).write_text(dumps(data, indent=1) + "\n")
    lock.close()
    return fam


if __name__ == "__main__":
    main()
