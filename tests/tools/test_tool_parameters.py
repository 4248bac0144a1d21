"""Tools own their settings the way methods do: a ``Parameters`` dataclass of ``param`` fields
(the tool options dock is generated from it, the same schema as the methods'), a help line,
and declared hooks (outline, finish, resize) that do nothing on tools without the capability."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segviewer.model.parameters import ParameterError, parameter_specs, parse_parameter_assignments
from segviewer.tools.base import AXIAL, SliceEvent, Tool
from segviewer.tools.brush import PAINT_OVER_LABEL, SMALLEST_STEPPED_SIZE_MM, BrushTool, EraserTool
from segviewer.tools.fill import FloodFillTool
from segviewer.tools.points import PointTool
from segviewer.tools.polygon import PolygonTool
from segviewer.tools.scribble import BACKGROUND, ScribbleEraserTool, ScribbleTool

TOOLS = (BrushTool, EraserTool, ScribbleTool, ScribbleEraserTool, PointTool, PolygonTool, FloodFillTool)


@pytest.mark.parametrize("tool_class", TOOLS, ids=lambda t: t.name)
def test_every_tool_declares_documented_settings_and_help(tool_class):
    tool = tool_class()
    assert tool.help, "the options dock shows this line above the settings"
    assert dataclasses.is_dataclass(tool.params) and isinstance(tool.params, tool_class.Parameters)
    specs = parameter_specs(tool_class.Parameters)
    assert specs, "every built-in tool has at least one setting"
    for spec in specs:
        assert spec.help and spec.title, spec.name
        if spec.choices is not None:
            assert spec.default in spec.choices
            assert spec.choice_labels is not None and len(spec.choice_labels) == len(spec.choices)
        if spec.enabled_when is not None:
            assert spec.enabled_when[0] in {s.name for s in specs}


def test_each_tool_shows_only_settings_it_uses():
    names = {t.name: [s.name for s in parameter_specs(t.Parameters)] for t in TOOLS}
    assert names["brush"] == names["eraser"] == ["size_mm", "sphere", "paint_over", "over_label"]
    assert names["scribble"] == names["scribble_eraser"] == ["size_mm", "sphere", "scribble_class"]
    assert names["points"] == ["pick_radius_mm", "remove"]
    assert names["polygon"] == ["paint_over", "over_label"]
    assert names["fill"] == ["paint_over", "over_label", "tolerance", "three_d", "source"]
    assert (BrushTool().params.size_mm, ScribbleTool().params.size_mm, ScribbleEraserTool().params.size_mm) == \
        (5.0, 2.0, 4.0)


def test_settings_are_validated_against_the_declared_schema():
    params = parse_parameter_assignments(BrushTool.Parameters, ["size_mm=7.5", "paint_over=label", "over_label=3"])
    assert params == BrushTool.Parameters(size_mm=7.5, paint_over=PAINT_OVER_LABEL, over_label=3)
    for bad in ("size_mm=500", "size_mm=nan", "paint_over=nowhere", "over_label=70000", "colour=red"):
        with pytest.raises(ParameterError):
            parse_parameter_assignments(BrushTool.Parameters, [bad])


def test_positional_and_keyword_settings_fill_params(session):
    brush = BrushTool(3.0, True, PAINT_OVER_LABEL, over_label=2)
    assert brush.params == BrushTool.Parameters(3.0, True, PAINT_OVER_LABEL, 2) and not brush.erase
    assert EraserTool().erase and ScribbleEraserTool().erase
    scribble = ScribbleTool(scribble_class=BACKGROUND)
    session.active_label = 1
    scribble.press(session, SliceEvent((5, 5, 5), AXIAL))
    scribble.release(session, SliceEvent((5, 5, 5), AXIAL))
    assert session.scribbles.array[5, 5, 5] == 0, "the left button drew the chosen class: background"


def test_resize_changes_the_size_of_brushes_only():
    brush = BrushTool(size_mm=1.2)
    assert brush.resize(+1.0) == pytest.approx(2.2) and brush.params.size_mm == pytest.approx(2.2)
    assert brush.resize(-5.0) == SMALLEST_STEPPED_SIZE_MM
    for tool in (PointTool(), PolygonTool(), FloodFillTool(), Tool()):
        before = dataclasses.asdict(tool.params)
        assert tool.resize(1.0) is None
        assert dataclasses.asdict(tool.params) == before


def test_outline_and_finish_are_declared_on_every_tool(session):
    for tool in (BrushTool(), PointTool(), FloodFillTool()):
        assert tool.outline == [] and tool.finish(session) is None
    polygon = PolygonTool()
    seen = []
    polygon.outline_changed.connect(lambda: seen.append(len(polygon.outline)))
    for vertex in ((5, 5, 5), (20, 5, 5), (20, 20, 5)):
        polygon.press(session, SliceEvent(vertex, AXIAL))
        polygon.release(session, SliceEvent(vertex, AXIAL))
    assert seen == [1, 2, 3]
    before = session.labels.array.copy()
    assert polygon.finish(session) is not None, "Enter closed and filled the triangle"
    assert polygon.outline == [] and seen[-1] == 0
    assert np.count_nonzero(session.labels.array != before) > 0
