"""Phase-space methods for the charging problem: mean field, positive-P and truncated Wigner.

``MeanField``, ``PositiveP`` and ``Wigner`` are methods for ``cimqb_traj.ensemble.run`` (sample
k uses ``SeedSequence(seed, spawn_key=(k,))``), registered by name in ``METHODS``;
``mean_field`` integrates the classical equations directly; ``moments`` and ``diverged`` read
the per-group records of a run; ``step_check`` compares a run with one at half the step.
"""

from .meanfield import MeanField, MeanFieldResult, bifurcation, mean_field, threshold
from .moments import bimodality, diverged, moments
from .positive_p import PositiveP
from .stepcheck import step_check
from .wigner import Wigner

__all__ = ["mean_field", "MeanFieldResult", "threshold", "bifurcation", "MeanField", "PositiveP",
           "Wigner", "moments", "diverged", "bimodality", "step_check", "METHODS", "method"]

METHODS = {"mean-field": MeanField, "positive-p": PositiveP, "wigner": Wigner}


def method(name: str, **options):
    """The phase-space method registered under ``name`` with its options."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")
    return METHODS[name](**options)
