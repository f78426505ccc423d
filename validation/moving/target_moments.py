"""Issue 12's target regime, moving-basis homodyne trajectories against positive-P over t: <n_s>,
Re <a_s^2> and <n_p> (normal ordered, untruncated on both sides).

    nice -n 10 python validation/moving/target_moments.py [--ntraj 160] [--samples 4000]

kappa 0.1, gamma_p 16, F 15 = 1.5 F_th, t = 0..40, 41 outputs, from the vacuum.  Trajectories:
``trajectories.charge(..., method="homodyne", basis="displaced")``, 20 groups, one worker; their
moments come from the moving basis itself (``options["n_s_untruncated"]``, ``["a_s2_untruncated"]``,
``["n_p_untruncated"]`` with jackknife errors: <n_s> = |beta_s|^2 + 2 Re(beta_s^* <A>) + <A^dag A>,
<a_s^2> = beta_s^2 + 2 beta_s <A> + <A^2> per trajectory, no lab cut), so the lab-frame output
is left at 2 x 2 and the truncation guard off (the lab state is not used here; the 540 x 122
lab state of the same run is validation/moving/target.py's).  Positive-P: ``phasespace`` as in
target.py (``trunc_tol=0``, its default step), moments from the samples (``phasespace.moments``).
z = (trajectories - positive-P) / sqrt(se^2 + se_PP^2) at every t > 0, family-wise critical value
``tests/stats.py`` z_crit over all compared moments and times, 19 degrees of freedom (20 groups).

Writes validation/moving/target_moments.json (atomically).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))
from stats import z_crit  # noqa: E402

from cimqb_traj import trajectories  # noqa: E402
from cimqb_traj.jsonio import dumps  # noqa: E402
from cimqb_traj.params import BatteryParams  # noqa: E402
from cimqb_traj.phasespace import diverged, method as ps_method, moments  # noqa: E402
from cimqb_traj.results import atomic_path  # noqa: E402
from cimqb_traj.problem import charge_problem  # noqa: E402
from cimqb_traj.ensemble import run  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntraj", type=int, default=160)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=12)
    a = ap.parse_args(argv)

    p = BatteryParams(kappa=0.1, gamma_p=16.0, F=15.0)
    t = np.linspace(0.0, 40.0, 41)
    t0 = time.process_time()
    r = trajectories.charge(p.replace(Ns=2, Np=2), t, method="homodyne", basis="displaced", ntraj=a.ntraj,
                            groups=20, seed=a.seed, trunc_tol=0, progress=False, n_jobs=1)
    cpu_tr = time.process_time() - t0
    o = r.options
    tr = {"n_s": (o["n_s_untruncated"], o["n_s_untruncated_err"]),
          "Re_a_s2": (o["a_s2_untruncated"].real, o["a_s2_untruncated_err"].real),
          "n_p": (o["n_p_untruncated"], o["n_p_untruncated_err"])}
    t0 = time.process_time()
    pp = run(ps_method("positive-p", trunc_tol=0), charge_problem(p, t), a.samples, a.seed, progress=False)
    cpu_pp = time.process_time() - t0
    m = moments(pp)
    ps = {"n_s": (m["a_dag_a"][0].real, m["a_dag_a"][1].real), "Re_a_s2": (m["a2"][0].real, m["a2"][1].real),
          "n_p": (m["n_p"][0].real, m["n_p"][1].real)}
    dv, spk, tot = diverged(pp)
    sel = t > 0
    zc = z_crit(3 * int(sel.sum()), r.groups)
    out = {"command": "python validation/moving/target_moments.py" + "".join(f" {x}" for x in (argv or sys.argv[1:])),
           "params": r.params.to_dict(), "t": t, "ntraj": r.ntraj, "groups": r.groups, "seed": a.seed,
           "samples": a.samples, "cpu_s_trajectories": cpu_tr, "cpu_s_positive_p": cpu_pp,
           "positive_p_diverged_spiking_samples": [dv, spk, tot], "dims": o["dims"],
           "discarded": o["discarded"], "z_crit": zc, "moments": {}}
    worst = {}
    for k in tr:
        x, e = (np.asarray(v, float) for v in tr[k])
        y, f = (np.asarray(v, float) for v in ps[k])
        z = (x - y)[sel] / np.hypot(e, f)[sel]
        i = int(np.argmax(np.abs(z)))
        worst[k] = {"max_abs_z": float(abs(z[i])), "at_t": float(t[sel][i])}
        out["moments"][k] = {"trajectories": x, "trajectories_err": e, "positive_p": y, "positive_p_err": f,
                             "z": np.concatenate([[0.0], z]), **worst[k]}
    out["max_abs_z"] = max(w["max_abs_z"] for w in worst.values())
    for i in range(0, len(t), 4):
        print(f"t={t[i]:4.0f}  " + "   ".join(
            f"{k} {tr[k][0][i]:8.2f} +- {tr[k][1][i]:5.2f} | PP {ps[k][0][i]:8.2f} +- {ps[k][1][i]:5.2f}" for k in tr))
    print({k: w for k, w in worst.items()}, f"z_crit {zc:.2f} ({3 * int(sel.sum())} comparisons)",
          f"CPU: trajectories {cpu_tr:.0f} s, positive-P {cpu_pp:.0f} s; diverged/spiking {dv}/{spk} of {tot}")
    with atomic_path(HERE / "target_moments.json") as tmp:
        pathlib.Path(tmp).write_text(dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
