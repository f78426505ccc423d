"""Argument checks shared by the solvers, with one message format: "<name> must be ..., got <value>"
(a ``ValueError`` naming the parameter; the command line turns it into exit code 2 and one line)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_int", "check_complex"]


def check_int(name: str, v, low: int) -> int:
    """``v`` as an int, refused unless it is an integer (not a bool) >= ``low``."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def check_complex(name: str, v) -> complex:
    """``v`` as a finite complex number."""
    try:
        z = complex(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a complex number, got {v!r}") from None
    if not (math.isfinite(z.real) and math.isfinite(z.imag)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return z
