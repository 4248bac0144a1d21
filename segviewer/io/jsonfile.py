"""Strict JSON for everything segviewer prints or writes.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which no other JSON parser
accepts (``jq``, JavaScript, Go). Every JSON writer goes through :func:`dumps`: non-finite
floats become ``null`` and NumPy scalars Python ones, and ``allow_nan=False`` guarantees
nothing non-standard slips through.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """Replace NaN and ±inf by None and NumPy scalars/arrays by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(value)`` that can only produce standard JSON."""
    return json.dumps(json_safe(value), allow_nan=False, **options)
