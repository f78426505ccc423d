"""Quantum-trajectory (Monte Carlo wavefunction) unravelings of the charging master equation."""

from .jump import JumpResult, run_jump

__all__ = ["JumpResult", "run_jump"]
