"""Regenerate ``tests/data/paper_truncation_qutip.json``: the reference of tests/test_regression.py.

The paper's defaults at its truncation (Ns = 32, Np = 9, F = 3, t = 0..40 every 2) solved by
``qutip.mesolve`` (``exact.charge(engine="qutip")``, rtol 1e-8, atol 1e-10, truncation guard off)
-- the trusted baseline engine, independent of the fast engine that the default test run checks
against these numbers.  They are this package's own numbers at a truncation that is NOT converged
(W(40) is several percent below the converged value; see the convergence study), not the paper's:
the test is a regression guard for the fast engine over the whole charging window, which the
default run cannot afford to integrate with qutip (about 4 minutes on 2 cores).

Run from the repository root (about 4 minutes):  python validation/regression_reference.py
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import qutip
import scipy

from cimqb_traj import exact
from cimqb_traj.params import BatteryParams
from cimqb_traj.results import atomic_path

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "paper_truncation_qutip.json")
T = np.round(np.arange(21) * 2.0, 10)  # 0..40, every 2


def main() -> None:
    p = BatteryParams()
    start = time.perf_counter()
    r = exact.charge(p, T, engine="qutip", trunc_tol=0, progress=False)  # guard off
    took = time.perf_counter() - start
    data = {
        "what": "exact.charge(BatteryParams(), t, engine='qutip', guard off): the paper's defaults at "
                "Ns 32 / Np 9, qutip.mesolve (our own solver's numbers, not the paper's)",
        "produced_by": "validation/regression_reference.py",
        "versions": {"qutip": qutip.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "seconds": round(took, 1),
        "params": p.to_dict(),
        "options": r.options,
        "t": r.t.tolist(),
        **{k: np.asarray(getattr(r, k), dtype=float).tolist() for k in ("energy", "W", "W_c", "W_i", "n_p")},
    }
    with atomic_path(OUT) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({took:.0f} s); W(40) = {r.W[-1]:.10g}")


if __name__ == "__main__":
    main()
