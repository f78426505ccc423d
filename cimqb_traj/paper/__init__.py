"""Reproduction of the paper's figures and numbers (``cimqb-traj reproduce``)."""

from .figures import PAPER, RESULTS
from .reproduce import ReproductionInterrupted, reproduce

__all__ = ["reproduce", "ReproductionInterrupted", "RESULTS", "PAPER"]
