"""One statistical threshold for every stochastic comparison in the tests.

A jackknife standard error over G groups makes (estimate - truth) / err t-distributed with
G - 1 degrees of freedom (not normal: with G = 20 the 4-sigma normal tail 6.3e-5 is 1.1e-3 for
t_19).  A test that compares M numbers at once must hold its *family-wise* false-alarm rate:
by Bonferroni, each comparison gets rate / M.  ``z_crit(M, G)`` is that critical value, never
below 4 (the project's 4-sigma convention for a single comparison); ``assert_within`` applies it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

#: Family-wise false-alarm rate of one test: a fixed seed fails by chance with at most this probability.
FAMILY_RATE = 1e-3


def z_crit(m: int = 1, groups: int | None = None, rate: float = FAMILY_RATE) -> float:
    """Two-sided critical value for ``m`` comparisons at family-wise ``rate``: of Student's t
    with groups - 1 degrees of freedom (jackknife errors over ``groups`` groups), or of the normal
    law (``groups`` None: errors from many independent samples); at least 4."""
    q = 0.5 * rate / max(int(m), 1)
    z = norm.isf(q) if groups is None else student_t.isf(q, int(groups) - 1)
    return max(4.0, float(z))


def assert_within(x, ref, err, what: str, *, groups: int | None = None, floor: float = 0.0,
                  rate: float = FAMILY_RATE) -> None:
    """|x - ref| <= z err + floor element-wise, z = z_crit(x.size, groups, rate); ``floor`` covers
    a stated deterministic error (e.g. a solver tolerance), never statistics."""
    x, ref, err = np.asarray(x), np.asarray(ref), np.asarray(err)
    x, ref, err = np.broadcast_arrays(x, ref, err)
    z = z_crit(x.size, groups, rate)
    bad = np.abs(x - ref) > z * err + floor
    assert not bad.any(), (f"{what}: |diff| {np.abs(x - ref)[bad][:5]} > {z:.2f} * err {err[bad][:5]} + {floor} "
                           f"({bad.sum()} of {x.size})")
