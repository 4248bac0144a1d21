"""Strict JSON everywhere (issue 11): NaN and ±inf become null, never bare NaN."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segviewer.io.jsonfile import dumps, json_safe


def _strict(text):
    def refuse(constant):
        raise ValueError(constant)
    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null_and_numpy_values_python():
    value = {"mean": np.float32("nan"), "max": float("inf"), "low": -np.inf, "count": np.int64(3),
             "ok": np.bool_(True), "box": (np.int32(1), 2.5), "map": np.array([1.0, np.nan]), 4: "key"}
    assert _strict(dumps(value)) == {"mean": None, "max": None, "low": None, "count": 3, "ok": True,
                                     "box": [1, 2.5], "map": [1.0, None], "4": "key"}
    assert json_safe([float("nan")]) == [None]


def test_anything_else_non_standard_is_refused_not_written():
    class Odd:
        pass

    with pytest.raises(TypeError):
        dumps({"odd": Odd()})
    assert dumps({"odd": Odd()}, default=lambda _: "odd") == '{"odd": "odd"}'
