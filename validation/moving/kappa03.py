"""Moving-basis homodyne at kappa = 0.3 (gamma_p 16, F 5 = 1.5 F_th) against the exact solver at a
converged truncation, with the fixed-basis homodyne engine on the same seeds beside it (issue 12,
point 3): <n_s>, W, W_c and the diagonal of rho_s, in units of the jackknife standard error,
against the family-wise critical value of tests/stats.py.

    nice -n 10 python validation/moving/kappa03.py --ntraj 200 --fock-ntraj 100 --groups 20

Convergence: the exact solver runs with its truncation guard (``exact.charge`` at (Ns, Np),
compared by the guard with the same run at (smaller(Ns), smaller(Np)) = Ns - ceil(Ns/8), ...);
its verdict, change per quantity and top-level populations are written out.  The moving basis
writes its lab-frame state on the same (Ns, Np); the fixed-basis engine integrates on it.

Writes validation/moving/kappa03.json (the numbers README.md section 5 quotes), atomically.
The three runs can go in separate processes (``--part exact|moving|fock --cache DIR`` each, then
the command without ``--part`` and with the same ``--cache`` reads them and writes the JSON).
"""
import argparse
import os
import pickle
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from stats import z_crit  # noqa: E402

from cimqb_traj import exact, trajectories  # noqa: E402
from cimqb_traj.jsonio import dumps  # noqa: E402
from cimqb_traj.params import BatteryParams  # noqa: E402
from cimqb_traj.results import atomic_path  # noqa: E402


def params(Ns, Np):
    """kappa 0.3, gamma_p 16, F = 1.5 F_th = 5 (F_th = gamma_s sqrt(gamma_p) / (4 kappa) = 10/3)."""
    p = BatteryParams(kappa=0.3, gamma_p=16.0, Ns=Ns, Np=Np)
    return p.replace(F=1.5 * p.threshold)


def _timed(f):
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


def _diag(rho):
    return np.einsum("tii->ti", rho).real


def table(name, r, ex, n_ex, G):
    """max |x - exact| / se per quantity (t = 0, the vacuum with zero error on both sides, left out);
    the diagonal where the exact p_n(t) >= 1/ntraj (README section 1: smaller populations are carried
    by trajectories rarer than 1/ntraj, their group sums are heavy-tailed) and, for the record, all."""
    d_ex = _diag(ex.rho_s)
    rows = {}
    for q, x, ref, err, sel in (("n_s", r.n_s, n_ex, r.n_s_err, None), ("W", r.W, ex.W, r.W_err, None),
                                ("W_c", r.W_c, ex.W_c, r.W_c_err, None),
                                ("rho_s diagonal (p_n >= 1/ntraj)", _diag(r.rho_s), d_ex, _diag(r.rho_s_err),
                                 d_ex >= 1.0 / r.ntraj),
                                ("rho_s diagonal (all)", _diag(r.rho_s), d_ex, _diag(r.rho_s_err), None)):
        x, ref, err = (np.asarray(v, float) for v in (x, ref, err))
        ok = err > 1e-12
        if sel is not None:
            ok &= sel
        z = np.abs(x - ref)[ok] / err[ok]
        zc = z_crit(int(ok.sum()), G)
        k = int(np.argmax(z))
        at = tuple(np.argwhere(ok)[k].tolist())
        rows[q] = {"max_z": float(z[k]), "z_crit": zc, "compared": int(ok.sum()), "pass": bool(z[k] <= zc),
                   "at": list(at), "value": float(x[at]), "exact": float(ref[at]), "se": float(err[at])}
        print(f"{name:9s} {q:32s} max |x - exact| / se = {z[k]:5.2f} over {int(ok.sum()):4d} (z_crit {zc:.2f}) "
              f"at {list(at)}: {x[at]:.4g} vs {ref[at]:.4g}, se {err[at]:.2g}")
    return rows


def _cached(cache, part, key, f):
    """f() timed, or its pickled (result, wall, CPU) from ``cache`` when run before with the same key."""
    path = os.path.join(cache, f"{part}.pkl") if cache else None
    if path and os.path.exists(path):
        with open(path, "rb") as fh:
            got = pickle.load(fh)
        if got[0] == key:
            return got[1]
    out = _timed(f)
    if path:
        os.makedirs(cache, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            pickle.dump((key, out), fh)
    return out


def compare(ntraj, fock_ntraj, groups, Ns, Np, dt_out=4.0, t_end=40.0, seed=1, dt=1e-3, part=None, cache=None):
    p = params(Ns, Np)
    t = np.arange(0.0, t_end + 1e-9, dt_out)
    kw = dict(method="homodyne", groups=groups, n_jobs=1, seed=seed, progress=False, dt=dt)
    key = (Ns, Np, tuple(t), groups, seed, dt)
    # guarded: runs (Ns, Np) and the smaller cut
    runs = {"exact": (key, lambda: exact.charge(p, t, progress=False)),
            "moving": (key + (ntraj,), lambda: trajectories.charge(p, t, basis="displaced", ntraj=ntraj, **kw)),
            # the fixed basis on the same (converged) cut; its guard is the exact run (trunc_tol=0)
            "fock": (key + (fock_ntraj,), lambda: trajectories.charge(p, t, basis="fock", ntraj=fock_ntraj,
                                                                         trunc_tol=0, **kw))}
    if part is not None:
        _cached(cache, part, *runs[part])
        return None
    ex, w_ex, c_ex = _cached(cache, "exact", *runs["exact"])
    n_ex = np.einsum("tii,i->t", ex.rho_s, np.arange(p.Ns)).real
    print(f"exact {Ns} x {Np} (+ guard run): {w_ex:.0f} s wall, {c_ex:.0f} s CPU; {ex.truncation['message']}")
    mv, w_mv, c_mv = _cached(cache, "moving", *runs["moving"])
    print(f"moving basis: {ntraj} trajectories {w_mv:.0f} s wall, {c_mv:.0f} s CPU; dims {mv.options['dims']}")
    fx, w_fx, c_fx = _cached(cache, "fock", *runs["fock"])
    print(f"fixed basis {Ns} x {Np}: {fock_ntraj} trajectories {w_fx:.0f} s wall, {c_fx:.0f} s CPU")
    out = {"params": p.to_dict(), "t": t.tolist(), "seed": seed, "dt": dt, "groups": groups,
           "exact": {"Ns": Ns, "Np": Np, "truncation": ex.truncation, "seconds_wall": w_ex, "seconds_cpu": c_ex,
                     "top_level_s_max": float(ex.tail_s.max()), "top_level_p_max": float(ex.tail_p.max()),
                     "n_s": n_ex.tolist(), "W": ex.W.tolist(), "W_c": ex.W_c.tolist()},
           "moving": {"ntraj": mv.ntraj, "seconds_wall": w_mv, "seconds_cpu": c_mv, "dims": mv.options["dims"],
                      "reshifts_per_traj": mv.options["reshifts_per_traj"], "truncation": mv.truncation["verdict"],
                      "comparison": table("moving", mv, ex, n_ex, mv.groups)},
           "fock": {"ntraj": fx.ntraj, "seconds_wall": w_fx, "seconds_cpu": c_fx, "Ns": Ns, "Np": Np,
                    "comparison": table("fixed", fx, ex, n_ex, fx.groups)}}
    for name, r in (("moving", mv), ("fock", fx)):
        out[name]["series"] = {q: np.asarray(getattr(r, q), float).tolist()
                               for q in ("n_s", "n_s_err", "W", "W_err", "W_c", "W_c_err")}
    for k in range(len(t)):
        print(f"t={t[k]:4.0f}: n_s {mv.n_s[k]:6.2f} +- {mv.n_s_err[k]:.2f} (fixed {fx.n_s[k]:6.2f} +- "
              f"{fx.n_s_err[k]:.2f}, exact {n_ex[k]:6.2f}); W {mv.W[k]:6.2f} +- {mv.W_err[k]:.2f} (fixed "
              f"{fx.W[k]:6.2f} +- {fx.W_err[k]:.2f}, exact {ex.W[k]:6.2f}); W_c {mv.W_c[k]:6.2f} +- "
              f"{mv.W_c_err[k]:.2f} (fixed {fx.W_c[k]:6.2f} +- {fx.W_c_err[k]:.2f}, exact {ex.W_c[k]:6.2f})")
    out["seconds_cpu_total"] = c_ex + c_mv + c_fx
    print(f"CPU total {out['seconds_cpu_total']:.0f} s")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ntraj", type=int, default=200)
    ap.add_argument("--fock-ntraj", type=int, default=100)
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--ns", type=int, default=96)
    ap.add_argument("--np", type=int, default=22)
    ap.add_argument("--dt-out", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--part", choices=("exact", "moving", "fock"), help="run one part into --cache and stop")
    ap.add_argument("--cache", help="folder for the parts' results (pickles), reused when present")
    a = ap.parse_args()
    if a.part and not a.cache:
        ap.error("--part needs --cache (where the part's result goes)")
    out = compare(a.ntraj, a.fock_ntraj, a.groups, a.ns, a.np, a.dt_out, seed=a.seed, part=a.part, cache=a.cache)
    if out is None:
        sys.exit(0)
    with atomic_path(os.path.join(HERE, "kappa03.json")) as tmp:
        with open(tmp, "w") as fh:
            fh.write(dumps(out, indent=1))
