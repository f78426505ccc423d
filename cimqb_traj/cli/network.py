"""``cimqb-traj network``: a coherent Ising machine of N coupled DOPOs solving one Ising instance
(``cimqb_traj.network``; issue 14, point 7).

Each shot is one phase-space sample (``--method positive-p``, ``wigner``: its spins are the signs of
Re alpha_i at ``--t-end``; diverged samples are excluded and counted) or one homodyne trajectory
(``--method homodyne``, N <= 3, ``--ns/--np`` its Fock cut: the signs of its conditional <x_i>).  Reported: the brute-force ground energy (N <= 24, else null), the fraction of shots
in a ground state with its 95 % Clopper-Pearson interval, the energy histogram of the shots, and the
time to solution TTS = t_end ln(1 - target) / ln(1 - p) with its interval from the Clopper-Pearson
bounds.  Above N = 24 ``--reference-energy E`` (e.g. a simulated-annealing best) stands in for the
ground energy: ``p_ground`` is then the fraction of shots with energy <= E, and ``ground_energy``
stays null.

The pump is ``--F`` (absolute) or ``--F-ratio r``: F = r F_th(J, eta), F_th the coupled linear
threshold (``network.sde.linear_threshold``), which is F_th of one spin for unfrustrated
instances.  ``--scan-eta`` / ``--scan-F-ratio`` repeat the run (same shots, same seed) at other
couplings / pumps and report p_ground at each (``scan`` in the JSON; ``network_scan.png``).
``--traces K`` plots Re alpha_i(t) of K shots (``network.png``), from a separate run of K samples
on a fine output grid with the same seed (the shots of the main run are read only at t_end, which
keeps its memory at two output times).

Output (``--json``; ``network.json`` with ``--out``): ``N``, ``ground_energy``, ``p_ground``,
``p_ground_ci``, ``energy_hist`` ({``energy``: [...], ``count``: [...]}), ``tts``, ``tts_ci``,
``W_total`` (the spins' summed local ergotropy at t_end: from the phase-space samples'
sign-conditioned sums, ``network.battery.work_from_conditional``, null with its reason where that
model does not hold; from the homodyne shots' reduced states; null with ``--no-work``), a
``units`` block and ``provenance``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from .. import resources
from ..errors import ResourceError
from ..params import BatteryParams
from ..results import atomic_path
from .common import (EPILOG, EXIT_INTERRUPTED, EXIT_OK, UsageError, _dflt, _output_args, _real,
                     _trunc_tol, _trunc_tol_arg, add_param, number_list, unit_help)

METHODS = ("positive-p", "wigner", "homodyne")
#: largest N of --method homodyne (a Fock space per spin)
HOMODYNE_MAX_N = 3
#: most --traces of a phase-space method (one sample per jackknife group: ``_traces``)
MAX_TRACES = 20
_DEFAULTS = {"ntraj": 1000, "seed": 0, "n_jobs": 1, "t_end": 40.0, "target": 0.99, "traces": 0, "dt_out": 0.1}
_DT = {"positive-p": 0.01, "wigner": 0.01, "homodyne": 1e-3}
#: options of --method homodyne only (a Fock space per spin)
_HOMODYNE_ONLY = ("ns", "np", "trunc_tol")
#: what a JSON key of this command is measured in (``dataset.units_block`` adds the model's)
UNITS = {"N": "1", "eta": "gamma_s", "F": "sqrt(gamma_s)", "F_threshold": "sqrt(gamma_s)", "F_ratio": "1",
         "ground_energy": "|J|", "reference_energy": "|J|", "best_energy": "|J|", "mean_energy": "|J|",
         "p_ground": "1", "p_ground_ci": "1", "energy_hist": "energy: |J|, count: 1", "tts": "1/gamma_s",
         "tts_ci": "1/gamma_s", "tts_target": "1", "t_end": "1/gamma_s", "dt": "1/gamma_s", "shots": "1",
         "diverged": "1", "W_total": "hbar*gamma_s", "W_total_err": "hbar*gamma_s",
         "scan": "eta: gamma_s, F_ratio: 1, F: sqrt(gamma_s), p_ground: 1"}


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``network`` on the subparsers ``sub``."""
    p = sub.add_parser("network", help="coherent Ising machine: N coupled DOPOs, ground-state probability, TTS",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i = p.add_argument_group("instance and coupling")
    i.add_argument("--instance", required=True,
                   help="ring:N (ferromagnetic), ring-:N (antiferromagnetic), mobius:N, sk:N:SEED, triangle, "
                        "or an edge-list FILE (one 'i j J_ij' per line, 0-based, '#' comments)")
    i.add_argument("--eta", type=_real, required=True,
                   help="edge dissipation rate per |J_ij|: L_ij = sqrt(eta |J_ij|) (a_i - sgn J_ij a_j) [gamma_s]")
    i.add_argument("--reference-energy", type=_real, default=None,
                   help="N > 24 only: energy a shot must reach to count as solved (e.g. a simulated-annealing best) [|J|]")
    g = p.add_argument_group("model (rates in units of gamma_s; defaults are the paper's; every spin the same)")
    for name in ("kappa", "gamma_s", "gamma_p", "delta", "eps", "t_ramp"):
        add_param(g, name)
    add_param(g, "F", given_only=True, note="absolute; or --F-ratio")
    for name in ("Ns", "Np"):
        add_param(g, name, given_only=True, note="--method homodyne only")
    g.add_argument("--F-ratio", type=_real, default=None,
                   help="pump as a multiple r of the coupled linear threshold F_th(J, eta) [1] (default: none: --F)")
    r = p.add_argument_group("run")
    r.add_argument("--method", default="positive-p", help="positive-p, wigner or homodyne (N <= 3) (default: %(default)s)")
    r.add_argument("--t-end", type=_real, default=_DEFAULTS["t_end"],
                   help=unit_help("t_end", "run length: the spins are read at t_end (t = 0: pump on)", _DEFAULTS["t_end"]))
    r.add_argument("--dt", type=_real, default=None,
                   help=unit_help("dt", "time step", "0.01 (positive-p, wigner), 1e-3 (homodyne)"))
    _trunc_tol_arg(r, "--method homodyne only: ")
    r.add_argument("--ntraj", type=int, default=_DEFAULTS["ntraj"], help=_dflt(_DEFAULTS, "ntraj", "shots (samples)"))
    r.add_argument("--seed", type=int, default=_DEFAULTS["seed"], help=_dflt(_DEFAULTS, "seed", "seed of the shots"))
    r.add_argument("--n-jobs", type=int, default=None, help=_dflt(_DEFAULTS, "n_jobs", "parallel workers"))
    r.add_argument("--no-work", action="store_true",
                   help="skip W_total (positive-p / wigner: its Gaussian-moment build costs one Fock build per "
                        "spin and jackknife group, minutes at N ~ 1000)")
    r.add_argument("--target", type=_real, default=_DEFAULTS["target"],
                   help=_dflt(_DEFAULTS, "target", "success probability of the time to solution [1]"))
    s = p.add_argument_group("scans and plots")
    s.add_argument("--scan-eta", default=None, help="comma-separated couplings eta: p_ground at each [gamma_s]")
    s.add_argument("--scan-F-ratio", default=None,
                   help="comma-separated pumps r: p_ground at F = r F_th(J, eta) at each [1]")
    s.add_argument("--traces", type=int, default=None,
                   help=_dflt(_DEFAULTS, "traces", "with --out: plot Re alpha_i(t) of this many shots (a separate "
                                                   "run of that many samples, same seed)"))
    s.add_argument("--dt-out", type=_real, default=None,
                   help=unit_help("dt_out", "--traces: output step of the plotted paths", _DEFAULTS["dt_out"]))
    _output_args(s, "network.json, network.png (--traces) and network_scan.png (--scan-*)")
    return p


# ------------------------------------------------------------------------------------------
# input


def _nonneg(opt: str, v: float) -> float:
    if not (math.isfinite(v) and v >= 0):
        raise UsageError(f"{opt}: must be a finite number >= 0, got {v:g}")
    return v


def _instance(spec: str):
    from ..network.ising import parse_instance

    try:
        return parse_instance(spec)
    except (ValueError, OSError) as e:
        raise UsageError(f"--instance: {' '.join(str(e).split())}") from None


def _sampler(method: str, N: int):
    """The network sampler of ``method`` (positional arguments params, J, eta, t, samples, seed)."""
    if method == "positive-p":
        from ..network.phasespace import positive_p

        return positive_p
    if method == "wigner":
        from ..network.phasespace import truncated_wigner

        return truncated_wigner
    if N > HOMODYNE_MAX_N:
        raise UsageError(f"--method homodyne: N <= {HOMODYNE_MAX_N} only (a Fock space per spin), the instance "
                         f"has N = {N}; use --method positive-p")
    from ..network.trajectories import homodyne

    return homodyne


def _check(a):
    """Checked inputs (J, params, sampler, scan etas, scan pump ratios); fills the method's defaults into
    ``a`` and refuses what does not apply."""
    if a.method not in METHODS:
        raise UsageError(f"--method: unknown {a.method!r}; choose from {', '.join(METHODS)}")
    a.eta = _nonneg("--eta", a.eta)
    if a.F is not None and a.F_ratio is not None:
        raise UsageError("--F-ratio: give either --F (absolute) or --F-ratio (multiple of the threshold), not both")
    if a.F_ratio is not None:
        _nonneg("--F-ratio", a.F_ratio)
    if a.ntraj < 2:
        raise UsageError(f"--ntraj: needs at least 2 shots, got {a.ntraj}")
    if a.seed < 0:
        raise UsageError(f"--seed: must be >= 0, got {a.seed}")
    if not (math.isfinite(a.t_end) and a.t_end > 0):
        raise UsageError(f"--t-end: must be finite and > 0, got {a.t_end:g}")
    if not (0 < a.target < 1):
        raise UsageError(f"--target: must be in (0, 1), got {a.target:g}")
    if a.traces is not None and not 1 <= a.traces <= MAX_TRACES:
        raise UsageError(f"--traces: needs 1 to {MAX_TRACES} shots, got {a.traces}")
    for dest in _HOMODYNE_ONLY:
        if getattr(a, dest) is not None and a.method != "homodyne":
            raise UsageError(f"--{dest.replace('_', '-')}: applies to --method homodyne only (a Fock space per "
                             f"spin), not {a.method}")
    a.trunc_tol = _trunc_tol(a)
    if a.traces is not None and not a.out:
        raise UsageError("--traces: draws network.png and needs --out")
    if a.dt_out is not None and a.traces is None:
        raise UsageError("--dt-out: applies to --traces only (the shots are read at --t-end)")
    a.traces = a.traces or 0
    a.dt_out = _DEFAULTS["dt_out"] if a.dt_out is None else a.dt_out
    if a.traces:
        resources.check_grid(a.t_end, a.dt_out)
    a.dt = _DT[a.method] if a.dt is None else a.dt
    if not (math.isfinite(a.dt) and 0 < a.dt <= a.t_end):
        raise UsageError(f"--dt: must be finite, > 0 and <= --t-end, got {a.dt:g}")
    J = _instance(a.instance)
    N = J.shape[0]
    from ..network.ising import BRUTE_FORCE_MAX_N

    if a.reference_energy is not None and N <= BRUTE_FORCE_MAX_N:
        raise UsageError(f"--reference-energy: applies to N > {BRUTE_FORCE_MAX_N} only; this instance (N = {N}) "
                         "gets its ground energy by brute force")
    if a.reference_energy is not None and not math.isfinite(a.reference_energy):
        raise UsageError(f"--reference-energy: must be finite, got {a.reference_energy:g}")
    sampler = _sampler(a.method, N)
    a.n_jobs = resources.check_jobs(_DEFAULTS["n_jobs"] if a.n_jobs is None else a.n_jobs)
    scan_eta = number_list(a.scan_eta, "--scan-eta", nonneg=True) if a.scan_eta else []
    scan_r = number_list(a.scan_F_ratio, "--scan-F-ratio", nonneg=True) if a.scan_F_ratio else []
    d = BatteryParams()
    params = BatteryParams(kappa=a.kappa, gamma_s=a.gamma_s, gamma_p=a.gamma_p, delta=a.delta, eps=a.eps,
                           t_ramp=a.t_ramp, F=d.F if a.F is None else a.F, Ns=a.ns or d.Ns, Np=a.np or d.Np)
    _check_memory(N, J, a)
    return J, params, sampler, scan_eta, scan_r


def _check_memory(N: int, J, a) -> None:
    """Refuse a run whose per-group arrays (about 30 complex (samples/20, N) arrays, and the
    dense coupling matrix) would not fit, or whose step count is beyond the budget."""
    import scipy.sparse as sp

    per_group = math.ceil(a.ntraj / 20)
    need = 30 * 16 * per_group * N + (0 if sp.issparse(J) else 8 * N * N)
    avail = resources.MEMORY_FRACTION * resources.available_memory()
    if need > avail:
        raise ResourceError(f"--ntraj: {a.ntraj} shots of N = {N} spins would need about {need / 2**30:.1f} GiB, "
                            f"more than the {avail / 2**30:.1f} GiB available; use fewer shots")
    steps = a.t_end / a.dt
    if steps > resources.MAX_STEPS:
        raise ResourceError(f"--dt: t_end / dt = {steps:.3g} steps, above the budget of {resources.MAX_STEPS:.3g}; "
                            "use a larger --dt or a shorter --t-end")


# ------------------------------------------------------------------------------------------
# the run


def _pump(params, J, eta, ratio):
    """(params with F set, F_th(J, eta)): F = ratio F_th when ``ratio`` is given, else params.F."""
    from ..network.sde import linear_threshold

    F_th = linear_threshold(params, J, eta)
    return (params if ratio is None else params.replace(F=ratio * F_th)), F_th


def _run(sampler, params, J, eta, a, t, samples: int, extra: dict):
    """One sampler call on the output grid ``t`` with ``samples`` shots (``extra``: method keywords)."""
    kw = {"dt": a.dt, **extra}
    if a.n_jobs > 1:
        kw["n_jobs"] = a.n_jobs
    if a.method == "homodyne":
        kw.update(progress=False if a.no_progress else None, trunc_tol=a.trunc_tol)
    else:
        kw["pairs"] = np.zeros((0, 2), np.int64)  # no pair moments: the spins are what this command reads
    return sampler(params, J, eta, t, samples, a.seed, **kw)


def _shots(sampler, params, J, eta, a, conditional: bool = False):
    """One run read at t = 0 and t_end: the result, and the spins of the kept shots (a diverged
    phase-space sample has spin 0 and is dropped)."""
    res = _run(sampler, params, J, eta, a, np.array([0.0, a.t_end]), a.ntraj,
               {"conditional": True} if conditional else {})
    spins = np.asarray(res.spins)
    return res, spins[np.all(spins != 0, axis=1)]


def _stats(spins, J, E0, target: float, t_run: float) -> dict:
    """p_ground (fraction of shots with energy <= E0), its interval, the histogram and the TTS."""
    from ..network import ising

    if len(spins) == 0:
        return {"p_ground": None, "p_ground_ci": None, "energy_hist": {"energy": [], "count": []}, "tts": None,
                "tts_ci": None, "best_energy": None, "mean_energy": None}
    e = ising.energy(J, spins)
    levels, counts = ising.energy_histogram(spins, J)
    out = {"energy_hist": {"energy": [float(x) for x in levels], "count": [int(c) for c in counts]},
           "best_energy": float(e.min()), "mean_energy": float(e.mean())}
    if E0 is None:
        out.update(p_ground=None, p_ground_ci=None, tts=None, tts_ci=None)
        return out
    k = int(np.count_nonzero(e <= E0 + ising.ENERGY_ATOL))
    ci = ising.clopper_pearson(k, len(e))
    p = k / len(e)
    out.update(p_ground=p, p_ground_ci=list(ci), tts=ising.time_to_solution(p, t_run, target),
               tts_ci=list(ising.tts_interval(ci, t_run, target)))
    return out


def _work(res) -> dict:
    """W_total at t_end from the sign-conditioned sums (``network.battery.work_from_conditional``)."""
    from ..network.battery import work_from_conditional

    w = work_from_conditional(res, times=[float(res.t[-1])])
    W = float(np.asarray(w.W_total)[-1])
    if not math.isfinite(W):  # the Gaussian-moment model is unsupported there (near threshold)
        return {"W_total": None, "W_total_err": None, "reason": w.model["reason"]}
    err = None if w.W_total_err is None else float(np.asarray(w.W_total_err)[-1])
    return {"W_total": W, "W_total_err": err, "reason": None}


def _shot_work(res) -> dict:
    """W_total at t_end from homodyne shots: the spins' reduced signal states averaged over the
    shots (``network.trajectories``: ``res.work``, jackknife error)."""
    w = res.work
    return {"W_total": float(w.W_total[-1]), "W_total_err": float(w.W_total_err[-1]), "reason": None}


def _traces(sampler, params, J, eta, a):
    """(t, x (K, len(t), N), label) of ``a.traces`` shots on the grid 0, dt_out, ..., t_end.

    Homodyne: each shot's conditional <x_i>(t) (``records=True``).  Phase space: a separate run
    of K <= 20 samples with the same seed and ``conditional=True``; the sampler cuts K samples into
    K groups of one, so a group's sign-conditioned sum of alpha_i over both signs is that sample's
    alpha_i(t) (NaN where it diverged)."""
    from .common import _grid

    t = _grid(a.t_end, a.dt_out)
    K = a.traces
    if a.method == "homodyne":
        res = _run(sampler, params, J, eta, a, t, max(2, K), {"records": True})
        return t, np.asarray(res.x)[:K], r"conditional $\langle x_i \rangle$"
    res = _run(sampler, params, J, eta, a, t, max(2, K), {"conditional": True})
    count, s = np.asarray(res.cond["count"]), np.asarray(res.cond["a"])
    if s.shape[0] != max(2, K) or np.any(count.sum(-1) > 1):
        raise RuntimeError(f"--traces: expected one sample per group, got {s.shape[0]} groups for {max(2, K)} samples")
    x = np.where(count.sum(-1) == 1, s.sum(-1).real, np.nan)
    return t, x[:K], r"Re $\alpha_i$"


def run(a) -> int:
    """Run ``network`` from the parsed arguments ``a``; returns the exit code."""
    from ..dataset import provenance
    from ..network.ising import BRUTE_FORCE_MAX_N, ground_states

    J, base, sampler, scan_eta, scan_r = _check(a)
    N = J.shape[0]
    E0 = ground_states(J).energy if N <= BRUTE_FORCE_MAX_N else a.reference_energy
    params, F_th = _pump(base, J, a.eta, a.F_ratio)
    if params.F < F_th:
        import warnings

        warnings.warn(f"F = {params.F:.4g} is below the coupled threshold F_th(J, eta) = {F_th:.4g}: the spins are "
                      "read from below-threshold noise; --F-ratio r > 1 pumps above it")
    battery = not a.no_work
    res, spins = _shots(sampler, params, J, a.eta, a, conditional=battery and a.method != "homodyne")
    interrupted = bool(getattr(res, "interrupted", False))
    doc = {"instance": a.instance, "N": N, "method": a.method, "eta": a.eta, "F": params.F, "F_threshold": F_th,
           "F_ratio": params.F / F_th if 0 < F_th < math.inf else None,
           "ground_energy": E0 if N <= BRUTE_FORCE_MAX_N else None,
           "reference_energy": a.reference_energy, "tts_target": a.target, "t_end": a.t_end, "dt": a.dt,
           "ntraj": a.ntraj, "seed": a.seed, "shots": int(len(spins)),
           "diverged": int(getattr(res, "diverged", 0)), "interrupted": interrupted,
           **_stats(spins, J, E0, a.target, a.t_end), "W_total": None, "W_total_err": None,
           "params": {k: v for k, v in params.to_dict().items()
                      if k not in ("nth_s", "nth_p") + (() if a.method == "homodyne" else ("Ns", "Np"))}}
    reasons = {}
    if battery:
        work = _work(res) if a.method != "homodyne" else _shot_work(res)
        why = work.pop("reason")
        if why:
            reasons["W_total"] = reasons["W_total_err"] = why
        doc.update(work)
    else:
        reasons["W_total"] = reasons["W_total_err"] = "--no-work given"
    if getattr(res, "truncation", None):
        doc["truncation"] = res.truncation
    if E0 is None:
        reasons["p_ground"] = reasons["p_ground_ci"] = reasons["tts"] = reasons["tts_ci"] = (
            f"no ground energy: brute force stops at N = {BRUTE_FORCE_MAX_N}; give --reference-energy")
    elif doc["p_ground"] == 0:
        reasons["tts"] = "no shot reached the ground energy (p_ground = 0): infinite time to solution"
    doc["scan"] = None
    if (scan_eta or scan_r) and not interrupted:
        doc["scan"] = _scan(sampler, base, J, E0, a, scan_eta, scan_r)
    if reasons:
        doc["null_reasons"] = reasons
    doc["provenance"] = provenance()
    if a.out and not interrupted:
        from ..plotting import save_figure

        if a.traces:
            save_figure(plot_traces(*_traces(sampler, params, J, a.eta, a), doc), os.path.join(a.out, "network.png"))
        if doc["scan"]:
            save_figure(plot_scan(doc), os.path.join(a.out, "network_scan.png"))
    if a.out:
        with atomic_path(os.path.join(a.out, "network.json")) as tmp, open(tmp, "w") as fh:
            _dump(doc, fh, indent=1)
    if a.json:
        _dump(doc, sys.stdout)
        print()
    else:
        _text(doc)
        if a.out:
            print(f"  wrote {os.path.join(a.out, 'network.json')}")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _units(doc: dict) -> dict:
    return {k: u for k, u in UNITS.items() if k in doc}


def _dump(doc, fh, **kw):
    import json

    from ..dataset import units_block
    from .common import strict

    json.dump(strict({**doc, "units": {**units_block(doc), **_units(doc)}}), fh, allow_nan=False, **kw)


def _scan(sampler, base, J, E0, a, scan_eta, scan_r) -> dict:
    """p_ground at each eta of ``scan_eta`` (pump as given) and each r of ``scan_r`` (F = r F_th at --eta)."""
    out = {}
    for name, values in (("eta", scan_eta), ("F_ratio", scan_r)):
        if not values:
            continue
        rows = {name: values, "F": [], "p_ground": [], "p_ground_ci": []}
        for v in values:
            eta, ratio = (v, a.F_ratio) if name == "eta" else (a.eta, v)
            params, _ = _pump(base, J, eta, ratio)
            _, spins = _shots(sampler, params, J, eta, a)
            st = _stats(spins, J, E0, a.target, a.t_end)
            rows["F"].append(params.F)
            rows["p_ground"].append(st["p_ground"])
            rows["p_ground_ci"].append(st["p_ground_ci"])
        out[name] = rows
    return out


def _text(doc: dict) -> None:
    print(f"network {doc['instance']} (N = {doc['N']}), {doc['method']}, eta = {doc['eta']:g}, F = {doc['F']:.4g} "
          f"(F_th(J, eta) = {doc['F_threshold']:.4g}), {doc['shots']} shots read at t = {doc['t_end']:g}"
          + (f", {doc['diverged']} diverged" if doc["diverged"] else ""))
    E0 = doc["ground_energy"] if doc["ground_energy"] is not None else doc["reference_energy"]
    what = "ground energy" if doc["ground_energy"] is not None else "reference energy"
    print(f"  {what}: {'none (N > 24: give --reference-energy)' if E0 is None else f'{E0:g}'}; "
          f"best shot {doc['best_energy']}, mean {doc['mean_energy']:.4g}")
    if doc["p_ground"] is not None:
        lo, hi = doc["p_ground_ci"]
        print(f"  p_ground = {doc['p_ground']:.4f} [{lo:.4f}, {hi:.4f}] (95 % Clopper-Pearson); "
              f"TTS({doc['tts_target']:g}) = {doc['tts']:.4g} [{doc['tts_ci'][0]:.4g}, {doc['tts_ci'][1]:.4g}]")
    if doc["interrupted"]:
        print("  INTERRUPTED: the numbers are those of the shots that finished")
    if doc["W_total"] is not None:
        err = "" if doc["W_total_err"] is None else f" +- {doc['W_total_err']:.2g}"
        print(f"  W_total(t_end) = {doc['W_total']:.4g}{err} (sum over spins of the local ergotropy)")
    elif "W_total" in doc.get("null_reasons", {}):
        print(f"  W_total: not reported: {doc['null_reasons']['W_total']}")
    for name, rows in (doc["scan"] or {}).items():
        for v, p in zip(rows[name], rows["p_ground"]):
            print(f"  scan {name} = {v:g}: p_ground = {p if p is None else f'{p:.4f}'}")


# ------------------------------------------------------------------------------------------
# plots (belong in cimqb_traj.plotting once the network settles)


def plot_traces(t, x, label, doc):
    """Paths of a few shots (Re alpha_i(t), or a homodyne shot's conditional <x_i>(t)), one panel per
    shot, one line per spin (the first 16 spins)."""
    from ..plotting import T_LABEL, new_figure

    K = x.shape[0]
    fig, axs = new_figure(K, width=3.6, height=3.0)
    for k, ax in enumerate(axs[0]):
        ax.plot(t, x[k][:, :16], lw=0.8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel(T_LABEL)
        ax.set_title(f"shot {k}", fontsize=9)
    axs[0][0].set_ylabel(label)
    fig.suptitle(f"{doc['instance']}: N = {doc['N']}, {doc['method']}, eta = {doc['eta']:g}, F = {doc['F']:.3g}",
                 fontsize=9)
    return fig


def plot_scan(doc):
    """p_ground with its 95 % Clopper-Pearson interval against eta and against F / F_th (the main
    run's point as a star)."""
    from ..plotting import new_figure

    scan = doc["scan"]
    fig, axs = new_figure(len(scan), width=4.0, height=3.2)
    labels = {"eta": r"coupling $\eta$ ($\gamma_s$)", "F_ratio": r"pump $F / F_{th}(J, \eta)$"}
    for ax, (name, rows) in zip(axs[0], scan.items()):
        x = np.asarray(rows[name], float)
        p = np.array([np.nan if v is None else v for v in rows["p_ground"]])
        ci = np.array([[np.nan, np.nan] if c is None else c for c in rows["p_ground_ci"]])
        ax.errorbar(x, p, np.abs(np.stack([p - ci[:, 0], ci[:, 1] - p])), fmt="o-", ms=3, capsize=2,
                    label="scan, 95 % Clopper-Pearson")
        if doc["p_ground"] is not None and doc[name] is not None:  # the main run (its own eta and F)
            lo, hi = doc["p_ground_ci"]
            ax.errorbar([doc[name]], [doc["p_ground"]], [[doc["p_ground"] - lo], [hi - doc["p_ground"]]], fmt="*",
                        ms=8, capsize=2, color="C3", label="main run")
        ax.set_xlabel(labels[name])
        ax.set_ylabel("ground-state probability")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    fig.suptitle(f"{doc['instance']} (N = {doc['N']}), {doc['method']}, {doc['shots']} shots", fontsize=9)
    return fig
