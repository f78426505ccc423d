"""Spin stability (issue 14, point 5): phase-switching of one DOPO and of a ferromagnetic pair against
the exact Liouvillian's slowest relaxation rate lambda_1 (``cimqb_traj.network.switching``).

Model: gamma_s = 1, gamma_p = 4, g = kappa / sqrt(gamma_s gamma_p), F = r F_th (mean field
|alpha_s|^2 = (r - 1) / (2 g^2)); pair: J = [[0, 1], [1, 0]], coupling rate eta.

Per case:

* ``gap``: lambda_1 (``liouvillian_gap``, truncation check against (smaller(Ns), smaller(Np))).
* ``homodyne``: shots from the vacuum (one DOPO: ``trajectories.charge(method="homodyne",
  records=True)``, the conditional <x> record; pair: ``network.trajectories.homodyne(records=True)``),
  after a burn-in t_burn: the switching rate k with a dead band b = BAND |alpha_mf| (``switching_rate``),
  the decay rate of the dead-band spin correlation and of <x(t) x(t + tau)> (``telegraph_correlation``),
  fitted over tau in [FIT_LO, 1.5 / (2 k)].  Telegraph: 2 k = lambda_1.
* ``positive-p`` / ``wigner`` (one DOPO): single-spin samples with their paths
  (``phasespace.PositiveP/Wigner(paths=True)``), the same estimators on x = Re(alpha + alpha^+)/2
  (positive-P) or Re alpha (Wigner).
* ``positive-p`` / ``wigner`` (pair): helper A's network samplers keep no per-time samples, only
  sign-conditioned sums (``conditional=True``); so the pair's phase-space rate is the relaxation of
  the mean <x_i>(t) = Re E[alpha_i](t) from the aligned coherent start alpha_i = alpha_mf, fitted
  on ln <x_i> over t in [FIT_LO, 1.5 / lambda_1] (an odd observable: it decays at lambda_1).

Resumable: results go to ``D_switching.json`` next to this file, rewritten atomically after each
(case, method) entry; entries already there are skipped.  Run from the repository root::

    nice -n 10 python validation/network/switching.py                       # every case
    nice -n 10 python validation/network/switching.py --only single_g0.5_r1.5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from cimqb_traj.jsonio import clean
from cimqb_traj.params import BatteryParams
from cimqb_traj.results import atomic_path

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "D_switching.json")
FERRO = np.array([[0.0, 1.0], [1.0, 0.0]])
GAMMA_P = 4.0
BAND = 0.5      # dead band in units of the mean-field amplitude
BAND_SWEEP = (0.25, 0.5, 0.75, 1.0)  # bands (same units) at which the switch count is also reported
FIT_LO = 3.0    # first lag of the fits: the fast modes (rates >= ~0.8 gamma_s) have decayed by e^-2.4
DT_OUT = 0.1

# name: (N, g, r, eta, Ns, Np, T per shot, shots, phase-space samples)
CASES = {
    "single_g0.5_r1.5": (1, 0.5, 1.5, 0.0, 12, 5, 400.0, 16, 200),
    "pair_g0.5_r1.5_eta0.5": (2, 0.5, 1.5, 0.5, 6, 3, 200.0, 6, 4000),
    "single_g0.35_r1.5": (1, 0.35, 1.5, 0.0, 16, 5, 400.0, 8, 200),
}

#: larger truncations for the converged lambda_1 that the (untruncated) phase-space samplers are
#: compared with; the homodyne shots are compared with lambda_1 at their own truncation (``gap``)
REF_CUTS = {"single_g0.5_r1.5": (16, 6), "single_g0.35_r1.5": (18, 7), "pair_g0.5_r1.5_eta0.5": (8, 4)}


def params_of(g, r, Ns, Np):
    p = BatteryParams(kappa=g * math.sqrt(GAMMA_P), gamma_p=GAMMA_P, F=1.0, Ns=Ns, Np=Np)
    return p.replace(F=r * p.threshold)


def alpha_mf(g, r):
    return math.sqrt((r - 1) / (2 * g * g))


def load():
    if os.path.exists(OUT):
        with open(OUT) as fh:
            return json.load(fh)
    return {"cases": {}}


def save(doc):
    with atomic_path(OUT) as tmp, open(tmp, "w") as fh:
        json.dump(clean(doc), fh, indent=1, allow_nan=False)


def stats(x, t, b, t_burn):
    """Switching rate, spin- and x-correlation decay rates of records x (shots, nt[, N])."""
    from cimqb_traj.network.switching import switching_rate, telegraph_correlation

    sw = switching_rate(x, t, band=b, t_min=t_burn)
    k = float(sw.rate.mean())
    hi = min(1.5 / (2 * k), 0.3 * (t[-1] - t_burn)) if k > 0 else 0.3 * (t[-1] - t_burn)
    hi = max(hi, FIT_LO + 4 * DT_OUT)
    out = {"band": b, "t_burn": t_burn, "switches": sw.switches.tolist(), "k": sw.rate.tolist(),
           "k_err": sw.rate_err.tolist(), "k_err_shots": sw.rate_err_shots.tolist(),
           "two_k": (2 * sw.rate).tolist(), "two_k_err": (2 * sw.rate_err).tolist(), "fit": [FIT_LO, hi]}
    sweep = {}
    for f in BAND_SWEEP:  # the count's dependence on the dead band (the correlation decays do not need one)
        s2 = switching_rate(x, t, band=f * b / BAND, t_min=t_burn)
        sweep[f"{f:g}"] = [float(2 * s2.rate.mean()), float(2 * np.sqrt(np.sum(s2.rate_err ** 2)) / s2.rate.size)]
    out["two_k_by_band"] = sweep
    for name, kw in (("spin", {"band": b}), ("x", {"band": 0.0, "signal": "x"})):
        try:
            c = telegraph_correlation(x, t, max_lag=hi, fit=(FIT_LO, hi), t_min=t_burn, **kw)
            out[f"C_{name}_rate"], out[f"C_{name}_rate_err"] = c.rate, c.rate_err
        except ValueError as e:
            out[f"C_{name}_rate"], out[f"C_{name}_error"] = None, str(e)
    return out


def run_gap(case):
    from cimqb_traj.network.switching import liouvillian_gap
    from cimqb_traj.truncation import TruncationError

    N, g, r, eta, Ns, Np, *_ = case
    p = params_of(g, r, Ns, Np)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            res = liouvillian_gap(p, None if N == 1 else FERRO, eta, k=4 if N == 1 else 2)
        except TruncationError as e:  # keep the refused numbers: the report shows the verdict
            res = e.result
    return {"lambda_1": res.rate, "eigenvalues_re": res.eigenvalues.real.tolist(),
            "eigenvalues_im": res.eigenvalues.imag.tolist(), "parity": res.parity.tolist(),
            "lambda_1_coarse": res.rate_coarse, "change": res.change, "Ns": Ns, "Np": Np,
            "Ns_coarse": res.Ns_coarse, "Np_coarse": res.Np_coarse, "method": res.method,
            "verdict": res.truncation["verdict"], "message": res.truncation["message"],
            "warnings": [str(x.message) for x in w]}


def run_gap_ref(name, case):
    """lambda_1 at REF_CUTS[name] (no truncation check: the comparison with ``gap`` is the check)."""
    from cimqb_traj.network.switching import liouvillian_gap

    N, g, r, eta, *_ = case
    Ns, Np = REF_CUTS[name]
    kw = {"k": 2} if N == 1 else {"k": 1, "sector": "odd"}  # the pair at 8/4: the odd sector from a good start
    res = liouvillian_gap(params_of(g, r, Ns, Np), None if N == 1 else FERRO, eta, trunc_tol=0, **kw)
    return {"lambda_1": res.rate, "Ns": Ns, "Np": Np, "method": res.method, "parity": res.parity.tolist(),
            "eigenvalues_re": res.eigenvalues.real.tolist()}


def run_homodyne(case, seed=11):
    N, g, r, eta, Ns, Np, T, shots, _ = case
    p = params_of(g, r, Ns, Np)
    t = np.round(np.arange(0.0, T + DT_OUT / 2, DT_OUT), 10)
    if N == 1:
        from cimqb_traj.trajectories import charge

        res = charge(p, t, method="homodyne", ntraj=shots, seed=seed, records=True, trunc_tol=0,
                     groups=shots, progress=False)
        x = np.stack([rec["x_theta"] for rec in res.records])
        top = {"top_s": float(np.max(res.tail_s)), "top_p": float(np.max(res.tail_p))}
    else:
        from cimqb_traj.network.trajectories import homodyne

        res = homodyne(p, FERRO, eta, t, shots, seed, records=True, groups=shots, trunc_tol=0, progress=False)
        x = res.x
        top = {"top_s": float(np.max(res.top_s)), "top_p": float(np.max(res.top_p))}
    out = stats(x, t, BAND * alpha_mf(g, r), 10.0)
    out.update(shots=shots, T=T, seed=seed, dt=1e-3, **top)
    return out


def run_phasespace_single(case, method, seed=12):
    from cimqb_traj.ensemble import run
    from cimqb_traj.phasespace import method as ps_method
    from cimqb_traj.problem import charge_problem

    N, g, r, eta, Ns, Np, T, _, samples = case
    p = params_of(g, r, 2, 2)  # the samples are untruncated; the Fock estimate is not used
    t = np.round(np.arange(0.0, T + DT_OUT / 2, DT_OUT), 10)
    res = run(ps_method(method, paths=True, trunc_tol=0, max_diverged=1.0), charge_problem(p, t), samples, seed,
              groups=20, progress=False)
    recs = [d for d in res.records if "alpha_s" in d]
    a = np.concatenate([d["alpha_s"] for d in recs])
    x = (0.5 * (a + np.concatenate([d["alpha_s_plus"] for d in recs]))).real if method == "positive-p" else a.real
    diverged = int(sum(d["diverged"] for d in res.records))
    spiking = int(sum(d["spiking"] for d in res.records))
    out = stats(x, t, BAND * alpha_mf(g, r), 10.0)
    out.update(samples=samples, kept=int(x.shape[0]), diverged=diverged, spiking=spiking, seed=seed, T=T,
               signal="Re(alpha + alpha^+)/2" if method == "positive-p" else "Re alpha")
    return out


def run_phasespace_pair(case, method, seed=13):
    from cimqb_traj.network import phasespace as nps

    N, g, r, eta, Ns, Np, T, _, samples = case
    p = params_of(g, r, Ns, Np)
    a0 = alpha_mf(g, r)
    t = np.round(np.arange(0.0, min(T, 60.0) + DT_OUT / 2, DT_OUT * 5), 10)
    f = nps.positive_p if method == "positive-p" else nps.truncated_wigner
    res = f(p, FERRO, eta, t, samples, seed, dt=2e-3, alpha_s0=a0, conditional=True, max_diverged=1.0)
    cnt = res.cond["count"].sum(axis=-1)  # (G, nt, N)
    sa = res.cond["a"].sum(axis=-1).real  # (G, nt, N)
    G = cnt.shape[0]
    mean = sa.sum(axis=0) / cnt.sum(axis=0)  # (nt, N): <x_i>(t) = Re E[alpha_i]
    return {"samples": samples, "diverged": int(res.diverged), "t": t.tolist(),
            "x_mean": mean.mean(axis=1).tolist(), "groups": G, "seed": seed,
            **_fit_decay(t, sa, cnt)}


def _fit_decay(t, sa, cnt, lo=FIT_LO):
    """Decay rate of ln <x>(t) over t in [lo, t_hi] (t_hi: where <x> falls below 0.2 <x>(lo) or the
    grid ends), jackknife over groups."""
    def rate(s, c):
        m = (s.sum(axis=0) / c.sum(axis=0)).mean(axis=1)
        i0 = int(np.searchsorted(t, lo))
        sel = np.arange(i0, t.size)
        stop = np.flatnonzero(m[sel] < 0.2 * m[i0])
        sel = sel[: stop[0]] if stop.size else sel
        if sel.size < 3 or np.any(m[sel] <= 0):
            return math.nan, (None, None)
        return float(-np.polyfit(t[sel], np.log(m[sel]), 1)[0]), (float(t[sel[0]]), float(t[sel[-1]]))

    G = sa.shape[0]
    k, span = rate(sa, cnt)
    loo = np.array([rate(np.delete(sa, i, 0), np.delete(cnt, i, 0))[0] for i in range(G)])
    err = float(math.sqrt((G - 1) / G * np.sum((loo - loo.mean()) ** 2)))
    return {"decay_rate": k, "decay_rate_err": err, "fit": list(span)}


def _pm(v, e, ref):
    if v is None or e is None or not math.isfinite(v):
        return "n/a"
    z = (v - ref) / e if e > 0 else math.inf
    return f"{v:.4f} +- {e:.4f} ({(v - ref) / ref:+.0%}, {z:+.1f} SE)"


def table(doc) -> str:
    """The markdown table of the report: every estimate against lambda_1, relative error and z."""
    rows = ["| case | lambda_1 (exact; trunc. change) | method | 2k (switch count) | C_spin decay | C_x decay "
            "(or <x>(t) decay) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, e in doc["cases"].items():
        g = e.get("gap", {})
        lam = g.get("lambda_1")
        if lam is None:
            continue
        head = f"{lam:.4f} ({g.get('Ns')}/{g.get('Np')} vs {g.get('Ns_coarse')}/{g.get('Np_coarse')}: " \
               f"{g.get('change') or 0:.1%}, {g.get('verdict')})"
        ref = e.get("gap_ref", {})
        for m in ("homodyne", "positive-p", "wigner"):
            x = e.get(m)
            if x is None:
                continue
            if m != "homodyne" and ref.get("lambda_1"):  # untruncated samples: the converged rate
                lam = ref["lambda_1"]
                head = f"{lam:.4f} (reference cut {ref['Ns']}/{ref['Np']})"
            if "error" in x:
                rows.append(f"| {name} | {head} | {m} | {x['error'][:80]} | | |")
                continue
            if "decay_rate" in x:
                rows.append(f"| {name} | {head} | {m} (aligned start) | | | "
                            f"{_pm(x['decay_rate'], x['decay_rate_err'], lam)} |")
                continue
            tk = np.mean(x["two_k"])
            tke = math.sqrt(np.sum(np.square(x["two_k_err"]))) / len(x["two_k_err"])
            rows.append(f"| {name} | {head} | {m} | {_pm(tk, tke, lam)} | "
                        f"{_pm(x.get('C_spin_rate'), x.get('C_spin_rate_err'), lam)} | "
                        f"{_pm(x.get('C_x_rate'), x.get('C_x_rate_err'), lam)} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--stages", default="gap,gap_ref,homodyne,positive-p,wigner")
    ap.add_argument("--table", action="store_true", help="print the markdown table of the stored results")
    a = ap.parse_args(argv)
    doc = load()
    if a.table:
        print(table(doc))
        return
    names = list(CASES) if a.only is None else a.only.split(",")
    for name in names:
        case = CASES[name]
        entry = doc["cases"].setdefault(name, {"N": case[0], "g": case[1], "r": case[2], "eta": case[3],
                                               "gamma_p": GAMMA_P, "alpha_mf": alpha_mf(case[1], case[2])})
        for stage in a.stages.split(","):
            if stage in entry:
                continue
            t0 = time.time()
            try:
                if stage == "gap":
                    entry[stage] = run_gap(case)
                elif stage == "gap_ref":
                    entry[stage] = run_gap_ref(name, case)
                elif stage == "homodyne":
                    entry[stage] = run_homodyne(case)
                elif case[0] == 1:
                    entry[stage] = run_phasespace_single(case, stage)
                else:
                    entry[stage] = run_phasespace_pair(case, stage)
            except Exception as e:  # record the refusal and go on (the report says which)
                entry[stage] = {"error": f"{type(e).__name__}: {e}"}
            entry[stage]["seconds"] = round(time.time() - t0, 1)
            save(doc)
            print(name, stage, json.dumps(clean(entry[stage]))[:300], flush=True, file=sys.stderr)


if __name__ == "__main__":
    main()
