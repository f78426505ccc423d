"""Profile one moving-basis homodyne trajectory in the target regime (kappa 0.1, gamma_p 16,
F 15 = 1.5 F_th) and report where the time goes.

    python validation/moving/profile_target.py --t-end 5 [--profile]
"""
import argparse
import cProfile
import pstats
import time

import numpy as np

from cimqb_traj.params import BatteryParams
from cimqb_traj.trajectories.moving import Moving, MovingSums, displaced_problem, output_dims

ap = argparse.ArgumentParser()
ap.add_argument("--t-end", type=float, default=5.0)
ap.add_argument("--ntraj", type=int, default=1)
ap.add_argument("--dt", type=float, default=1e-3)
ap.add_argument("--profile", action="store_true")
a = ap.parse_args()

t = np.linspace(0, a.t_end, int(round(a.t_end)) + 1)
p = BatteryParams(kappa=0.1, gamma_p=16.0, F=15.0)
ns, np_ = output_dims(p, t)
p = p.replace(Ns=ns, Np=np_)
pr = displaced_problem(p, t)
m = Moving(dt=a.dt)
m.run_group(pr, [0], 99)  # numba compile / caches
t0 = time.perf_counter()
if a.profile:
    prof = cProfile.Profile()
    prof.enable()
s = m.run_group(pr, np.arange(a.ntraj), 0)
if a.profile:
    prof.disable()
el = time.perf_counter() - t0
print(f"t=0..{a.t_end:g}: {el / a.ntraj:.2f} s per trajectory (lab out {ns} x {np_}, basis max {s.basis_max}, "
      f"reshifts/traj {s.reshifts / a.ntraj:.1f}, resizes/traj {s.resizes / a.ntraj:.1f}, steps/traj {s.steps / a.ntraj:.0f})")
n = np.einsum("tii,i->t", s.rho_s, np.arange(ns)).real / a.ntraj
print("n_s(t) lab:", np.round(n, 2), " untruncated:", np.round(s.n_s_full / a.ntraj, 2))
if a.profile:
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)
