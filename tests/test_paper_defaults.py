"""Opt-in (``-m slow``): the paper's defaults against qutip.mesolve (about 4 minutes on 2 cores)."""

import numpy as np
import pytest

from cimqb_traj import exact
from cimqb_traj.params import BatteryParams


@pytest.mark.slow
def test_fig3_charging_curve_matches_mesolve():
    t = np.linspace(0, 40, 401)
    a = exact.charge(BatteryParams(), t)
    b = exact.charge(BatteryParams(), t, engine="qutip")
    for k in ("W", "W_c", "W_i"):
        assert np.abs(getattr(a, k) - getattr(b, k)).max() <= 1e-4, k
