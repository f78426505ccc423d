"""Phase-space methods: mean field, positive-P and truncated Wigner sampling of the charging
problem.  ``PositiveP`` and ``Wigner`` are methods for ``trajectories.ensemble.run`` (sample k
uses ``SeedSequence(seed, spawn_key=(k,))``); ``mean_field`` integrates the classical equations.
"""

from .meanfield import MeanFieldResult, bifurcation, mean_field, threshold
from .moments import diverged, moments
from .positive_p import PositiveP
from .wigner import Wigner

__all__ = ["mean_field", "MeanFieldResult", "threshold", "bifurcation", "PositiveP", "Wigner",
           "moments", "diverged"]
