"""The single list of methods, built in code. The GUI method panel and the CLI both read it.

Each built-in method is one line of :data:`BUILTIN_METHODS`: its name and where its class
lives. The list is built by importing each under a guard, the way Slicer builds its list of
Segment Editor effects: a method whose module fails to import (a missing or broken optional
dependency, a bug at import time) is logged and listed as unavailable with the reason, and
the other methods work on. Nothing registers itself as a side effect of being imported, so
:mod:`segviewer.methods.base` knows nothing of the methods (no import cycle).

Methods that are not built in (a test's, a plug-in's) are added with :func:`register`.
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import Mapping

from segviewer.methods.base import Method, MethodInputError

log = logging.getLogger(__name__)

#: Every built-in method: its name -> where its class lives, as ``module:Class`` (the syntax
#: of Python entry points), in the order the GUI lists them.
BUILTIN_METHODS: dict[str, str] = {
    "threshold": "segviewer.methods.threshold:ThresholdMethod",
    "region_growing": "segviewer.methods.region_growing:RegionGrowingMethod",
    "watershed": "segviewer.methods.watershed:WatershedMethod",
    "graphcut": "segviewer.methods.graphcut:GraphCutMethod",
    "unet": "segviewer.methods.deep.inference:UNetMethod",
    "finetune": "segviewer.methods.deep.finetune:FinetuneMethod",
    "atlas": "segviewer.methods.atlas:AtlasMethod",
}


def load_method_class(location: str) -> type[Method]:
    """Import ``module:Class`` and return the class (any import error propagates)."""
    module_name, _, class_name = location.partition(":")
    method_class = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise TypeError(f"{location} is not a Method class")
    return method_class


def load_methods(locations: Mapping[str, str]) -> tuple[dict[str, type[Method]], dict[str, str]]:
    """Load every ``name -> module:Class`` under a guard: ``(name -> class, name -> why it is
    unavailable)``.

    An entry whose module fails to import, or whose class is missing, not a method or named
    otherwise, is unavailable (logged as a warning) and leaves the others alone.
    """
    methods: dict[str, type[Method]] = {}
    unavailable: dict[str, str] = {}
    for name, location in locations.items():
        try:
            method_class = load_method_class(location)
            if method_class.name != name:
                raise TypeError(f"{location} is named {method_class.name!r}, not {name!r}")
        except Exception as error:  # noqa: BLE001 - whatever breaks one method must not break the list
            reason = f"{type(error).__name__}: {error}"
            log.warning("method %r is unavailable: %s", name, reason)
            unavailable[name] = reason
            continue
        methods[name] = method_class
    return methods, unavailable


@functools.cache
def _builtins() -> tuple[dict[str, type[Method]], dict[str, str]]:
    # once per process: a failed import is reported once, not on every lookup
    return load_methods(BUILTIN_METHODS)


def builtin_methods() -> dict[str, type[Method]]:
    """Every built-in method that imports, by name."""
    return dict(_builtins()[0])


def unavailable_methods() -> dict[str, str]:
    """The built-in methods that failed to import: name -> the reason."""
    return dict(_builtins()[1])


_REGISTERED: dict[str, type[Method]] = {}


def register(method_class: type[Method]) -> type[Method]:
    """Add a method that is not built in (usable as a decorator)."""
    if not method_class.name:
        raise ValueError(f"{method_class.__name__} has no name")
    known = {**builtin_methods(), **_REGISTERED}
    if method_class.name in known and known[method_class.name] is not method_class:
        raise ValueError(f"a method named {method_class.name!r} is already registered")
    _REGISTERED[method_class.name] = method_class
    return method_class


def registered_methods() -> dict[str, type[Method]]:
    """Every usable method by name: the built-ins that import, then the registered ones."""
    return {**builtin_methods(), **_REGISTERED}


def get_method(name: str) -> Method:
    """A fresh instance of the method ``name``; a one-line :class:`MethodInputError` when
    there is no such method or it could not be imported."""
    methods = registered_methods()
    if name in methods:
        return methods[name]()
    broken = unavailable_methods()
    if name in broken:
        raise MethodInputError(f"method {name!r} is unavailable: {broken[name]}")
    raise MethodInputError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}")
