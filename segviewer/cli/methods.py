"""``segviewer methods [--json]``: the registered methods with their parameters and defaults,
and the built-in methods that could not be loaded, each with the reason."""

from __future__ import annotations

import math

from segviewer.io.jsonfile import dumps
from segviewer.methods.registry import registered_methods, unavailable_methods
from segviewer.model.parameters import parameter_specs

NAME = "methods"
HELP = "list the segmentation methods with their parameters and defaults"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _default_text(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "auto"
    return str(value)


def describe() -> list[dict]:
    methods = []
    for name, cls in sorted(registered_methods().items()):
        specs = parameter_specs(cls.Parameters)
        methods.append({
            "name": name, "title": cls.title, "description": cls.description,
            "needs": sorted(cls.requires), "default_roi": "scribbles/points box" if cls.uses_roi else "whole volume",
            "parameters": [{"name": s.name, "type": s.type.__name__, "default": _default_text(s.default),
                            "help": s.help, "min": s.minimum, "max": s.maximum,
                            "choices": list(s.choices) if s.choices else None} for s in specs],
            "unavailable": None,
        })
    for name, reason in sorted(unavailable_methods().items()):
        methods.append({"name": name, "title": "", "description": "", "needs": [], "default_roi": None,
                        "parameters": [], "unavailable": reason})
    return methods


def run(args) -> int:
    methods = describe()
    if args.json:
        print(dumps(methods, indent=2))
        return 0
    for method in methods:
        if method["unavailable"]:
            print(f"{method['name']}  —  unavailable: {method['unavailable']}")
            print()
            continue
        needs = " or ".join(method["needs"]) if method["needs"] else "nothing"
        print(f"{method['name']}  —  {method['title']}  (needs {needs}; default ROI: {method['default_roi']})")
        print(f"    {method['description']}")
        for p in method["parameters"]:
            extra = ""
            if p["choices"]:
                extra = " {" + ", ".join(map(str, p["choices"])) + "}"
            elif p["min"] is not None or p["max"] is not None:
                extra = f" [{'' if p['min'] is None else p['min']}..{'' if p['max'] is None else p['max']}]"
            print(f"    --param {p['name']}={p['default']}  ({p['type']}{extra}) {p['help']}")
        print()
    return 0
