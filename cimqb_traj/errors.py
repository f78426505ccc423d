"""Refusals: inputs that cannot support an answer.  The message says what would.

The command line turns every ``Refused`` into one line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = ["Refused", "SamplesError", "ResourceError"]


class Refused(RuntimeError):
    """The inputs cannot support the requested number; the message says what would."""


class SamplesError(Refused):
    """Too few samples (trajectories, phase-space samples) for the requested estimate."""


class ResourceError(Refused, ValueError):
    """An input would exceed this machine's memory, CPU count or a step budget (or overflows)."""
