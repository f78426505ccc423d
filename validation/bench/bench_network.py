"""Benchmark of the network positive-P sampler (issue 14, point 6): numba kernel against the
previous numpy implementation, dense SK cost against N and samples, where the time goes, the
N = 1000 random 3-regular target, and the step-size convergence check.

    python validation/bench/bench_network.py anchor     # numba vs numpy, same process, ratio
    python validation/bench/bench_network.py dense      # SK: seconds per sample-step vs N, samples
    python validation/bench/bench_network.py profile    # RNG / coupling product / drift + noise
    python validation/bench/bench_network.py target --n-jobs 2 [--samples 10000] [--dt 0.025]
    python validation/bench/bench_network.py converge [--samples 2000] [--dt 0.025]

Model: paper defaults (kappa 0.5, gamma_p 16, g = 0.125), eta = ETA, F = F_RATIO x the linear
threshold of the instance (``sde.linear_threshold``), vacuum start, t = 0..40.  Numbers and
commands: validation/network/A_speed.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp

from cimqb_traj.network import _kernels, ising, sde
from cimqb_traj.network import phasespace as ps
from cimqb_traj.params import BatteryParams
from cimqb_traj.phasespace._sde import plan, pump

ETA = 0.2
F_RATIO = 1.5
T_END = 40.0


def eta_of(J):
    """ETA on sparse instances; ETA / N on dense SK ones, so that eta x the Laplacian's spectrum
    (~N for SK) and the threshold shift stay O(ETA)."""
    return ETA if sp.issparse(J) else ETA / J.shape[0]


def setup(J):
    p = BatteryParams()
    return p.replace(F=F_RATIO * sde.linear_threshold(p, J, eta_of(J)))


def edges(J):
    return np.array(sp.triu(sp.csr_matrix(J), 1).nonzero()).T


# ------------------------------------------------------------------------------------------------
# the anchor: the previous numpy implementation (vectorised stochastic Heun over (samples, N)
# arrays, Gaussian increments, coupling as L @ x), moments only, one group


def numpy_positive_p(p, J, eta, t, samples, seed, dt):
    L = sde.signed_laplacian(J)
    apply = (lambda x: (L @ x.T).T) if sp.issparse(L) else (lambda x: x @ L)
    ts, h, oidx = plan(p, np.asarray(t, float), dt)
    sF = pump(p, ts, h)
    rng = np.random.default_rng(seed)
    B, N = samples, L.shape[0]
    a, ap, b, bp = (np.zeros((B, N), complex) for _ in range(4))
    n = np.zeros((len(t), N))
    k = 0.5 * eta

    def drift(a, ap, b, bp, f):
        return ((-0.5 * p.gamma_s) * a + p.kappa * ap * b - k * apply(a),
                (-0.5 * p.gamma_s) * ap + p.kappa * a * bp - k * apply(ap),
                -0.5 * p.gamma_p * b - 0.5 * p.kappa * a**2 + f, -0.5 * p.gamma_p * bp - 0.5 * p.kappa * ap**2 + f)

    for s, hs in enumerate(h):
        w = rng.standard_normal((2, B, N)) * math.sqrt(hs)
        d1 = drift(a, ap, b, bp, sF[s])
        g1, g1p = np.sqrt(p.kappa * b), np.sqrt(p.kappa * bp)
        pa, pap = a + d1[0] * hs + g1 * w[0], ap + d1[1] * hs + g1p * w[1]
        pb, pbp = b + d1[2] * hs, bp + d1[3] * hs
        d2 = drift(pa, pap, pb, pbp, sF[s])
        a = a + 0.5 * (d1[0] + d2[0]) * hs + 0.5 * (g1 + np.sqrt(p.kappa * pb)) * w[0]
        ap = ap + 0.5 * (d1[1] + d2[1]) * hs + 0.5 * (g1p + np.sqrt(p.kappa * pbp)) * w[1]
        b = b + 0.5 * (d1[2] + d2[2]) * hs
        bp = bp + 0.5 * (d1[3] + d2[3]) * hs
        if oidx[s] >= 0:
            n[oidx[s]] = (ap * a).real.mean(axis=0)
    return n


def timed(f, *a, **kw):
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = f(*a, **kw)
    return out, time.perf_counter() - t0, time.process_time() - c0


def header(what):
    load = os.getloadavg()
    print(f"# bench_network {what} {time.strftime('%Y-%m-%dT%H:%M:%S')}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other jobs share the machine); Python "
          f"{platform.python_version()}, numpy {np.__version__}")


def warm():
    J = ising.ring(4)
    ps.positive_p(setup(J), J, ETA, [0.0, 0.1], 2, 0, 0.05)


def cmd_anchor(args):
    header("anchor")
    warm()
    for name, J in (("regular:1000:1", ising.random_regular(1000, 3, 1)), ("sk:200:1", ising.sk(200, 1))):
        p = setup(J)
        t = np.linspace(0, 2.0, 3)
        S = args.samples or 200
        steps = 2.0 / args.dt
        r, w1, c1 = timed(ps.positive_p, p, J, eta_of(J), t, S, 1, args.dt, pairs=edges(J)[:10])
        n0, w0, c0 = timed(numpy_positive_p, p, J, eta_of(J), t, S, 1, args.dt)
        N = J.shape[0]
        print(f"{name}: {S} samples, t = 0..2, dt = {args.dt}: numba {w1:.2f} s wall ({c1:.2f} s CPU, "
              f"{c1 / (S * N * steps) * 1e9:.1f} ns per spin-step); numpy {w0:.2f} s wall ({c0:.2f} s CPU, "
              f"{c0 / (S * N * steps) * 1e9:.1f} ns); ratio numpy/numba CPU {c0 / c1:.1f}x")
        # the two agree in law (independent noises): mean n over spins at t = 2
        print(f"   mean n(t=2): numba {r.n[-1].mean():.4f}  numpy {n0[-1].mean():.4f}")


def cmd_dense(args):
    header("dense")
    warm()
    t = [0.0, 1.0]
    for N in (100, 200, 500, 1000):
        J = ising.sk(N, 1)
        p = setup(J)
        for S in (20, 100):
            steps = 1.0 / args.dt
            _, w1, c1 = timed(ps.positive_p, p, J, eta_of(J), t, S, 1, args.dt, pairs=np.zeros((0, 2), int))
            _, w0, c0 = timed(numpy_positive_p, p, J, eta_of(J), t, S, 1, args.dt)
            print(f"SK N={N:5d} samples={S:4d}: numba CSR {c1 / (S * steps) * 1e3:8.3f} ms CPU per sample-step "
                  f"({c1 / (S * steps * N * N) * 1e9:.2f} ns per coupling entry); numpy matrix product "
                  f"{c0 / (S * steps) * 1e3:8.3f} ms ({c0 / (S * steps * N * N) * 1e9:.2f} ns per entry)")


def _kernel_time(J, eta, B, m, dt, repeat=3):
    """CPU seconds (best of ``repeat``) of the generator's words and of the rest of
    positive_p_block, B samples x m steps (the words timed apart with the same generator)."""
    p = setup(J)
    N = J.shape[0]
    Lk = sp.csr_matrix(0.5 * eta * sp.csr_matrix(sde.signed_laplacian(J)))
    Lk.eliminate_zeros()
    best_rng, best_all = math.inf, math.inf
    for _ in range(repeat):
        rs = np.array([np.random.SFC64(k).state["state"]["state"] for k in range(B)], np.uint64)
        best_rng = min(best_rng, timed(_kernels.sfc64_words, rs[:1].copy(), B * m * N)[2])
        a = np.full((B, N), 0.5 + 0j)
        ap, b, bp = a.copy(), np.full((B, N), 1.0 + 0j), np.full((B, N), 1.0 + 0j)
        z = np.zeros((1, 1, 2), complex)
        args = (a, ap, b, bp, np.ones(B, bool), rs, np.full(m, dt), np.full(m, 4 * p.F), -np.ones(m, np.int64),
                False, Lk.indptr.astype(np.int64), Lk.indices.astype(np.int64), Lk.data, 1.0, 16.0, 0.0, 0.5, 0j,
                1e6, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((1, N)), np.zeros((1, 0)), False,
                np.zeros((1, 1, 2)), z, z.copy(), z.copy())
        best_all = min(best_all, timed(_kernels.positive_p_block, *args)[2])
    return best_rng, best_all - best_rng  # the kernel's time without its draws


def cmd_profile(args):
    header("profile")
    warm()
    for name, J, B, m in (("regular:1000:1", ising.random_regular(1000, 3, 1), 100, 200),
                          ("sk:1000:1", ising.sk(1000, 1), 10, 20), ("sk:100:1", ising.sk(100, 1), 100, 200)):
        N = J.shape[0]
        rng_c, full = _kernel_time(J, eta_of(J), B, m, args.dt)
        _, bare = _kernel_time(J, 0.0, B, m, args.dt)  # eta = 0: no coupling entries at all
        tot = rng_c + full
        u = B * m * N
        print(f"{name}: {B} samples x {m} steps; per spin-step CPU {tot / u * 1e9:.1f} ns: RNG {rng_c / u * 1e9:.1f} ns "
              f"({rng_c / tot:.0%}), coupling products {(full - bare) / u * 1e9:.1f} ns ({(full - bare) / tot:.0%}), "
              f"drift + noise + Heun {bare / u * 1e9:.1f} ns ({bare / tot:.0%})")


def _energy(J, spins):
    ok = np.all(spins != 0, axis=1)
    return ising.energy(J, spins[ok]) / J.shape[0], ok


def cmd_target(args):
    header(f"target n_jobs={args.n_jobs}")
    warm()
    J = ising.random_regular(1000, 3, 1)
    p = setup(J)
    S = args.samples or 10_000
    t = np.linspace(0, T_END, 41)
    r, w, c = timed(ps.positive_p, p, J, ETA, t, S, args.seed, args.dt, pairs=edges(J), n_jobs=args.n_jobs,
                     backend=args.backend)
    e, ok = _energy(J, r.spins)
    print(f"regular:1000:1, eta {ETA}, F {p.F:.4f} ({F_RATIO} x linear threshold), {S} samples, t = 0..{T_END}, "
          f"dt {args.dt} ({r.options['steps']} steps), n_jobs {args.n_jobs} ({args.backend}): {w:.1f} s wall, {c:.1f} s "
          f"CPU ({c / (S * 1000 * r.options['steps']) * 1e9:.1f} ns per spin-step); diverged {r.diverged}")
    print(f"   n(t=40) mean over spins {r.n[-1].mean():.4f} +- {np.sqrt((r.n_err[-1] ** 2).mean() / r.n.shape[1]):.4f}"
          f" (rough); Ising energy per spin of the read-out {e.mean():.4f} +- {e.std() / np.sqrt(e.size):.4f}")


def cmd_converge(args):
    header("converge")
    warm()
    J = ising.random_regular(1000, 3, 1)
    p = setup(J)
    S = args.samples or 2000
    t = np.linspace(0, T_END, 9)
    res = {}
    for dt in (args.dt, args.dt / 2):
        r, w, c = timed(ps.positive_p, p, J, ETA, t, S, 7, dt, pairs=np.zeros((0, 2), int), n_jobs=args.n_jobs,
                        backend=args.backend)
        e, ok = _energy(J, r.spins)
        res[dt] = (r, e)
        print(f"dt {dt}: {w:.0f} s wall, {c:.0f} s CPU; mean over spins of n(t) {np.round(r.n.mean(axis=1), 4).tolist()}; "
              f"diverged {r.diverged}; Ising energy per spin {e.mean():.5f} +- {e.std() / np.sqrt(e.size):.5f}")
    (r1, e1), (r2, e2) = res.values()
    d = r1.n - r2.n
    err = np.hypot(r1.n_err, r2.n_err)
    z = d[1:] / err[1:]
    print(f"n(dt) - n(dt/2), mean over spins, per time: {np.round(d.mean(axis=1), 4).tolist()} (a single spin's "
          f"error ~{np.round(err.mean(axis=1), 3).tolist()}); per-spin z-scores at t > 0: mean {z.mean():.3f}, "
          f"std {z.std():.3f} (no step bias: mean ~ 0 within ~1/sqrt(N) for weakly correlated spins, std ~ 1)")
    de = e1.mean() - e2.mean()
    print(f"energy per spin, dt - dt/2: {de:.5f} +- {np.hypot(e1.std() / np.sqrt(e1.size), e2.std() / np.sqrt(e2.size)):.5f}")
    # small instance with a brute-force ground state: p_ground at dt and dt/2
    J16 = ising.random_regular(16, 3, 2)
    gs = ising.ground_states(J16)
    p16 = setup(J16)
    for dt in (args.dt, args.dt / 2):
        r = ps.positive_p(p16, J16, ETA, [0.0, T_END], 4000, 8, dt, n_jobs=args.n_jobs, backend=args.backend)
        pg = ising.p_ground(r.spins, J16, gs.energy)
        print(f"regular:16:2 (E0 {gs.energy:g}), 4000 samples, dt {dt}: p_ground {pg.p:.4f} CI {pg.ci}; "
              f"mean n(t=40) {r.n[-1].mean():.4f} +- {r.n_err[-1].mean():.4f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("anchor", "dense", "profile", "target", "converge"))
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--dt", type=float, default=0.025)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--backend", default="threading", help="joblib backend (threading: CPU time is measurable "
                    "in this process; the kernels release the GIL)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    {"anchor": cmd_anchor, "dense": cmd_dense, "profile": cmd_profile, "target": cmd_target,
     "converge": cmd_converge}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
