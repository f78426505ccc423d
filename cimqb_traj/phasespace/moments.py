"""Normally ordered moments of a phase-space run, from the per-group records.

``PositiveP`` and ``Wigner`` store, for each group, the sums over its kept samples of
<a_s^dag a_s>, <a_s^2>, <a_s>, <a_p^dag a_p>, <a_p> (normal order, untruncated) and of the
signal quadrature density at x = 0 and its curvature (``_sde.MOMENTS``).  ``moments``
averages them and gives delete-one-group jackknife standard errors (real and imaginary parts
separately), the same errors the runner reports for every other quantity.
"""

from __future__ import annotations

import numpy as np

from ..ensemble import jackknife
from ._sde import MOMENTS

__all__ = ["moments", "diverged", "bimodality"]


def _groups(result):
    recs = [r for r in result.records if "samples" in r and "diverged" in r]
    if not recs:
        raise ValueError("result has no phase-space records (run PositiveP or Wigner through ensemble.run)")
    return recs


def moments(result) -> dict:
    """name -> (mean, standard error) over the output times, for names ``a_dag_a``, ``a2``,
    ``a``, ``n_p``, ``a_p``; complex means, errors err(Re) + i err(Im)."""
    recs = _groups(result)
    n = np.array([r["samples"] - r["diverged"] for r in recs], dtype=float)
    out = {}
    for name in MOMENTS:
        S = np.stack([np.asarray(r[name]) for r in recs])
        m, er, _ = jackknife(S.real, n, lambda x: x)
        mi, ei, _ = jackknife(S.imag, n, lambda x: x)
        out[name] = (m + 1j * mi, er + 1j * ei)
    return out


def diverged(result) -> tuple:
    """(diverged, spiking, samples) summed over the groups of a phase-space run."""
    recs = _groups(result)
    return (sum(int(r["diverged"]) for r in recs), sum(int(r["spiking"]) for r in recs),
            sum(int(r["samples"]) for r in recs))


def bimodality(result):
    """P''(0) / P(0) of the signal quadrature distribution over the output times, with its
    jackknife standard error (> 0: a dip at x = 0, the two spin phases have separated; the
    definition of ``threshold.bimodality``).  Positive-P and mean field: exact estimators;
    truncated Wigner: of P smoothed by a narrow Gaussian (``_sde._KDE_SIGMA``)."""
    recs = _groups(result)
    n = np.array([r["samples"] - r["diverged"] for r in recs], dtype=float)
    S = np.stack([np.stack([np.asarray(r["P2"]).real, np.asarray(r["P0"]).real]) for r in recs])

    def ratio(m):  # P(0) = 0: no sample near x = 0 at all, a dip deeper than resolved: +inf
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(m[:, 1] > 0, m[:, 0] / np.where(m[:, 1] > 0, m[:, 1], 1.0), np.inf)

    b, err, _ = jackknife(S, n, ratio)
    return b, np.where(np.isfinite(b), err, np.nan)
