"""The method list is built in code, each entry guarded: one broken method is reported as
unavailable and cannot take the others down (as Slicer's list of effects)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.methods import registry
from segviewer.methods.base import Method, MethodInputError, TrainableMethod
from segviewer.methods.graphcut import GraphCutMethod

BUILTINS = {"threshold", "region_growing", "watershed", "graphcut", "unet", "finetune", "atlas"}


@pytest.fixture
def one_broken_builtin(monkeypatch):
    """The built-in list with one more method whose module fails to import."""
    monkeypatch.setitem(registry.BUILTIN_METHODS, "broken", "segviewer.methods.missing_module:BrokenMethod")
    registry._builtins.cache_clear()
    yield
    monkeypatch.undo()
    registry._builtins.cache_clear()


def test_the_builtin_list_names_every_method_by_its_own_name():
    methods = registry.builtin_methods()
    assert set(methods) == BUILTINS
    assert all(issubclass(cls, Method) and cls.name == name for name, cls in methods.items())
    assert registry.unavailable_methods() == {}


def test_a_broken_method_is_reported_and_the_others_load(caplog, tmp_path, monkeypatch):
    (tmp_path / "crashes_on_import.py").write_text("raise RuntimeError('a bug at import time')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="segviewer.methods.registry"):
        methods, unavailable = registry.load_methods({
            "missing": "segviewer.methods.missing_module:BrokenMethod",
            "graphcut": "segviewer.methods.graphcut:GraphCutMethod",
            "bug": "crashes_on_import:Method",
            "no_class": "segviewer.methods.graphcut:NoSuchMethod",
            "not_a_method": "segviewer.methods.graphcut:GraphCutParameters",
            "watershed": "segviewer.methods.graphcut:GraphCutMethod",  # a class named otherwise
        })
    assert methods == {"graphcut": GraphCutMethod}
    assert unavailable["missing"] == "ModuleNotFoundError: No module named 'segviewer.methods.missing_module'"
    assert unavailable["bug"] == "RuntimeError: a bug at import time"
    assert unavailable["no_class"].startswith("AttributeError")
    assert unavailable["not_a_method"].startswith("TypeError") and unavailable["watershed"].startswith("TypeError")
    assert sum("is unavailable" in r.getMessage() for r in caplog.records) == 5


def test_segviewer_methods_lists_the_broken_method_as_unavailable(one_broken_builtin, capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    assert "broken  —  unavailable: ModuleNotFoundError: No module named 'segviewer.methods.missing_module'" in text
    assert "graphcut  —  Graph cut" in text
    assert main(["methods", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["broken"]["unavailable"].startswith("ModuleNotFoundError")
    assert listed["graphcut"]["unavailable"] is None and listed["graphcut"]["parameters"]


def test_segment_with_an_unavailable_method_is_a_one_line_error(one_broken_builtin, tmp_path, capsys):
    image = tmp_path / "image.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16)), str(image))
    out = tmp_path / "out.nii.gz"
    assert main(["segment", str(image), "--method", "broken", "-o", str(out), "-q"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == ("segviewer: error: method 'broken' is unavailable: "
                     "ModuleNotFoundError: No module named 'segviewer.methods.missing_module'")
    assert not out.exists()


def test_get_method_names_the_unknown_and_the_available():
    with pytest.raises(MethodInputError, match="unknown method 'nope'; available: atlas, finetune, graphcut"):
        registry.get_method("nope")
    assert isinstance(registry.get_method("graphcut"), GraphCutMethod)


def test_register_adds_a_method_and_refuses_a_taken_name(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", {})

    class Extra(Method):
        name = "extra"

    class Impostor(Method):
        name = "graphcut"

    assert registry.register(Extra) is Extra
    assert registry.registered_methods()["extra"] is Extra
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor)


def test_only_fine_tuning_declares_the_trainable_capability():
    trainable = {name for name, cls in registry.builtin_methods().items() if issubclass(cls, TrainableMethod)}
    assert trainable == {"finetune"}
