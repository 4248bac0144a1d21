"""Typed settings declared once: the schema that methods AND tools use for their parameters.

A method or a tool declares a ``Parameters`` dataclass whose fields come from :func:`param`
(default, help text, range, choices, step). :func:`parameter_specs` reads them back as
:class:`ParameterSpec` rows, from which the GUI builds its form (``views.parameter_form``)
and the command line its ``--param key=value`` flags (:func:`parse_parameter_assignments`),
so the two never drift apart. This module sits in the lowest layer so that ``tools`` and
``methods`` both import it without importing each other.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from segviewer.errors import SegviewerError


class ParameterError(SegviewerError):
    """A setting that is not valid for its parameter (wrong type, out of range, unknown)."""


@dataclass(frozen=True)
class ParameterSpec:
    """One tunable setting, derived from a parameters dataclass field."""

    name: str
    type: type
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    step: float | None = None
    #: The form's label ("" = the name with spaces).
    label: str = ""
    #: The text shown for each of ``choices`` (None = the choice itself).
    choice_labels: tuple[str, ...] | None = None
    #: ``(other parameter, value)``: this one matters (and is editable) only while the other
    #: has that value, e.g. the brush's "… label" only when painting over one label.
    enabled_when: tuple[str, Any] | None = None

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


def param(default: Any, help: str, *, label: str | None = None, min: float | None = None,
          max: float | None = None, choices: tuple | list | Mapping | None = None,
          step: float | None = None, enabled_when: tuple[str, Any] | None = None):
    """Declare a parameter field with the metadata the GUI and CLI read.

    ``choices`` is a sequence of values, or a mapping ``value -> text shown in the GUI``.
    """
    metadata: dict[str, Any] = {"help": help}
    if label is not None:
        metadata["label"] = label
    if min is not None:
        metadata["min"] = min
    if max is not None:
        metadata["max"] = max
    if choices is not None:
        metadata["choices"] = tuple(choices)
        if isinstance(choices, Mapping):
            metadata["choice_labels"] = tuple(str(text) for text in choices.values())
    if step is not None:
        metadata["step"] = step
    if enabled_when is not None:
        metadata["enabled_when"] = tuple(enabled_when)
    return field(default=default, metadata=metadata)


def parameter_specs(parameters_class: type) -> list[ParameterSpec]:
    """The settings of a parameters dataclass, in declaration order."""
    if not dataclasses.is_dataclass(parameters_class):
        return []
    instance = parameters_class()
    specs = []
    for f in dataclasses.fields(parameters_class):
        meta = dict(f.metadata)
        default = getattr(instance, f.name)
        kind = type(default) if default is not None else meta.get("type", str)
        specs.append(ParameterSpec(f.name, kind, default, meta.get("help", ""), meta.get("min"),
                                   meta.get("max"), meta.get("choices"), meta.get("step"),
                                   meta.get("label", ""), meta.get("choice_labels"),
                                   meta.get("enabled_when")))
    return specs


def is_auto(spec: ParameterSpec) -> bool:
    """True for a float parameter whose default is NaN: "automatic" (e.g. a threshold found
    by Otsu), shown empty in the GUI and as ``auto`` by ``segviewer methods``."""
    return spec.type is float and isinstance(spec.default, float) and math.isnan(spec.default)


def _convert(spec: ParameterSpec, text: str) -> Any:
    if is_auto(spec) and text.strip().lower() in ("", "auto"):
        return math.nan
    try:
        if spec.type is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        value = spec.type(text)
    except ValueError:
        raise ParameterError(f"parameter {spec.name}: {text!r} is not a valid {spec.type.__name__}") from None
    return value


def validate_parameter(spec: ParameterSpec, value: Any) -> Any:
    """``value`` if it suits ``spec``; a :class:`ParameterError` otherwise.

    NaN and infinity pass every range comparison, so they are refused first: NaN is only
    "automatic" for the parameters that default to it, infinity never a setting."""
    if isinstance(value, float) and not math.isfinite(value) and not (math.isnan(value) and is_auto(spec)):
        raise ParameterError(f"parameter {spec.name}: {value} is not a finite number")
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(f"parameter {spec.name}: {value!r} is not one of {list(spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise ParameterError(f"parameter {spec.name}: {value} is below its minimum {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise ParameterError(f"parameter {spec.name}: {value} is above its maximum {spec.maximum}")
    return value


def parse_parameter_assignments(parameters_class: type, assignments: list[str]):
    """Build parameters from CLI ``key=value`` strings; unknown keys are an error."""
    specs = {s.name: s for s in parameter_specs(parameters_class)}
    values = {}
    for assignment in assignments or []:
        if "=" not in assignment:
            raise ParameterError(f"--param expects key=value, got {assignment!r}")
        key, text = assignment.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in specs:
            raise ParameterError(f"unknown parameter {key!r}; known: {', '.join(specs) or 'none'}")
        values[key] = validate_parameter(specs[key], _convert(specs[key], text))
    return parameters_class(**values)
