"""Strict JSON: numpy values become Python numbers, non-finite numbers become null.

``json.dumps`` writes NaN and Infinity by default, which strict parsers (JavaScript, jq, many
others) reject.  ``clean`` replaces them by None and lists where it did, so a writer can say why
in a reason field; ``dumps`` refuses anything non-finite that slipped through (allow_nan=False).
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["clean", "dumps"]


def clean(obj, nulls: list | None = None, path: str = ""):
    """A copy of ``obj`` (dicts, lists, tuples, numpy arrays and scalars) with plain Python types
    and every non-finite float replaced by None; the JSON paths of the replaced values are
    appended to ``nulls`` (e.g. ``"W[3]"``)."""
    if isinstance(obj, dict):
        return {str(k): clean(v, nulls, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [clean(v, nulls, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, complex):
        obj = {"re": obj.real, "im": obj.imag}
        return clean(obj, nulls, path)
    if isinstance(obj, float) and not math.isfinite(obj):
        if nulls is not None:
            nulls.append(path)
        return None
    return obj


def dumps(obj, **kw) -> str:
    """Strict JSON text of ``obj`` (see ``clean``)."""
    return json.dumps(clean(obj), allow_nan=False, **kw)
