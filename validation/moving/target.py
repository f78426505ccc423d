"""The target regime of issue 12 with a handful of moving-basis trajectories: kappa 0.1, gamma_p 16,
F 15 = 1.5 F_th, t = 0..40, 41 outputs.  <n_s> against positive-P (2000 samples, untruncated
normal-ordered moment) and the mean field; basis sizes, time per trajectory, peak memory, and what
a dense density matrix would need.

    python validation/moving/target.py --ntraj 8 [--n-jobs 2]

Writes validation/moving/target.json.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from stats import z_crit  # noqa: E402

from cimqb_traj import trajectories  # noqa: E402
from cimqb_traj.params import BatteryParams  # noqa: E402
from cimqb_traj.phasespace import method as ps_method, moments  # noqa: E402
from cimqb_traj.problem import charge_problem  # noqa: E402
from cimqb_traj.ensemble import run  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ntraj", type=int, default=8)
ap.add_argument("--n-jobs", type=int, default=1)
ap.add_argument("--samples", type=int, default=2000)
a = ap.parse_args()

p = BatteryParams(kappa=0.1, gamma_p=16.0, F=15.0)  # Ns, Np left at the defaults: the run chooses its lab sizes
t = np.linspace(0.0, 40.0, 41)
t0 = time.perf_counter()
r = trajectories.charge(p, t, method="homodyne", basis="displaced", ntraj=a.ntraj, groups=min(a.ntraj, 20),
                        n_jobs=a.n_jobs, seed=0, progress=False)
t_tr = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (ru_maxrss in KiB on Linux)
rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
# positive-P: untruncated dynamics; its Fock estimates (Ns, Np) do not enter <n_s> (normal order, from
# the samples), so a small lab grid keeps charge_problem's operators small
t0 = time.perf_counter()
pp = run(ps_method("positive-p", trunc_tol=0), charge_problem(p, t), a.samples, 1, progress=False)
t_pp = time.perf_counter() - t0
n_pp, n_pp_e = (np.real(x) for x in moments(pp)["a_dag_a"])
# mean field: from the vacuum it stays on the unstable trivial state, so it starts from a seed
# amplitude 0.5 (the vacuum's quadrature spread; as moving.output_dims)
from scipy.integrate import solve_ivp  # noqa: E402

from cimqb_traj.model import mean_field_rhs  # noqa: E402


def _rhs(tt, y):
    ds, dp = mean_field_rhs(p, tt, y[0] + 1j * y[1], y[2] + 1j * y[3])
    return [ds.real, ds.imag, dp.real, dp.imag]


sol = solve_ivp(_rhs, (0.0, 40.0), [0.5, 0, 0, 0], t_eval=t, rtol=1e-9, atol=1e-11, method="LSODA")
n_mf = sol.y[0] ** 2 + sol.y[1] ** 2
se = np.hypot(r.n_s_err, n_pp_e)
ok = se > 0
z = np.abs(r.n_s - n_pp)[ok] / se[ok]
# G - 1 degrees of freedom of the smaller ensemble: the trajectories' groups
zc = z_crit(int(ok.sum()), r.groups)
d = r.options["dims"]
Ns_d, Np_d = 560, 100
out = {"params": r.params.to_dict(), "ntraj": r.ntraj, "n_jobs": a.n_jobs, "seconds": t_tr,
       "seconds_per_trajectory_per_job": t_tr * a.n_jobs / r.ntraj, "dims": d,
       "reshifts_per_traj": r.options["reshifts_per_traj"], "resizes_per_traj": r.options["resizes_per_traj"],
       "peak_rss_GiB_main": rss, "peak_rss_GiB_workers": rss_children, "truncation": r.truncation["verdict"],
       "truncation_error": r.truncation["error"],
       "n_s_40": [float(r.n_s[-1]), float(r.n_s_err[-1])], "n_s_untruncated_40": float(r.options["n_s_untruncated"][-1]),
       "positive_p_n_s_40": [float(n_pp[-1]), float(n_pp_e[-1])], "positive_p_samples": a.samples,
       "positive_p_seconds": t_pp, "mean_field_n_s_40": float(n_mf[-1]),
       "W_40": [float(r.W[-1]), float(r.W_err[-1])], "W_c_40": [float(r.W_c[-1]), float(r.W_c_err[-1])],
       "W_i_40": [float(r.W_i[-1]), float(r.W_i_err[-1])],
       "n_s_vs_positive_p": {"max_z": float(z.max()), "z_crit": zc, "compared": int(ok.sum())},
       "dense_rho_entries": float((Ns_d * Np_d) ** 2), "dense_rho_GiB": (Ns_d * Np_d) ** 2 * 16 / 2**30}
out["table"] = {"t": t.tolist(), "n_s": r.n_s.tolist(), "n_s_err": r.n_s_err.tolist(), "positive_p": n_pp.tolist(),
                "positive_p_err": n_pp_e.tolist(), "mean_field_seeded": n_mf.tolist()}
for i in range(0, len(t), 4):
    print(f"t={t[i]:4.0f}  n_s {r.n_s[i]:8.2f} +- {r.n_s_err[i]:6.2f}   positive-P {n_pp[i]:8.2f} +- {n_pp_e[i]:5.2f}"
          f"   mean field (seed 0.5) {n_mf[i]:8.2f}")
print(json.dumps({k: v for k, v in out.items() if k not in ("table", "params")}, indent=1))
with open(os.path.join(HERE, "target.json"), "w") as fh:
    json.dump(out, fh, indent=1)
