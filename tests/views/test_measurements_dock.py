"""The measurements dock on the spleen CT: a ruler dragged in the axial view and one clicked
across slices, a sphere at the crosshair, distance/diameters/thickness on the worker (thickness
as a heat map), undo/redo, CSV export and the case's JSON read back when the image reopens."""

from __future__ import annotations

import csv
import json
import shutil
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from viewer_helpers import click, drag, wait_idle, widget_point

from segviewer.views.measurements_dock import MeasurementsDock

LEFT = Qt.MouseButton.LeftButton


def drawn(item) -> int:
    """Points an overlay line item draws."""
    x, _ = item.getData()
    return 0 if x is None else len(x)


@pytest.fixture
def spleen_copy(spleen_paths, tmp_path):
    image, labels = (shutil.copy(p, tmp_path / p.name) for p in spleen_paths)
    return tmp_path / spleen_paths[0].name, tmp_path / spleen_paths[1].name


@pytest.fixture
def window_and_dock(make_window, spleen_copy, qtbot):
    window = make_window(*spleen_copy)
    dock = MeasurementsDock(window.controller, window.views.values())
    qtbot.addWidget(dock)
    dock.show()
    yield window, dock
    dock.close()


def test_rulers_by_drag_and_across_slices(window_and_dock, qtbot):
    window, dock = window_and_dock
    geometry = window.controller.session.geometry
    view = window.views["axial"]
    k = int(view.slice_index)
    qtbot.mouseClick(dock.ruler_button, LEFT)
    assert window.controller.tool is dock.ruler_tool
    start, end = widget_point(view, (40, 60, k)), widget_point(view, (100, 60, k))
    drag(qtbot, view, start, end)
    qtbot.waitUntil(lambda: len(dock.measurements) == 1, timeout=5000)
    first = list(dock.measurements)[0]
    a, b = (geometry.physical_to_index(p) for p in first.points_mm)
    expected = np.linalg.norm((b - a) * np.asarray(geometry.spacing))
    assert first.value == pytest.approx(expected) and abs(b[0] - a[0]) > 50 and a[2] == pytest.approx(k)
    assert dock.table.rowCount() == 1 and dock.table.item(0, 3).text() == "mm"

    overlay = next(o for o in dock.overlays if o.view is view)
    assert drawn(overlay.solid) == 2 and len(overlay.texts) == 1  # drawn on its slice, with its value
    assert overlay.texts[0].toPlainText() == f"{first.value:.1f} mm"

    click(qtbot, view, (60, 80, k))  # a click, then another on a slice 5 further (5 mm each)
    assert drawn(overlay.placing) == 1  # the first point is shown while placing
    window.controller.set_cursor((60, 80, k + 5))
    qtbot.waitUntil(lambda: view.slice_index == k + 5, timeout=5000)
    click(qtbot, view, (60, 80, k + 5))
    qtbot.waitUntil(lambda: len(dock.measurements) == 2, timeout=5000)
    across = list(dock.measurements)[1]
    assert across.value == pytest.approx(25.0, abs=1.0)  # 5 slices of 5 mm, same in-plane spot
    window.controller.set_cursor((60, 80, k + 2))  # between its ends: drawn dashed, projected
    qtbot.waitUntil(lambda: view.slice_index == k + 2, timeout=5000)
    assert drawn(overlay.dashed) == 2 and drawn(overlay.solid) == 0


def test_region_structures_undo_export_and_reopen(window_and_dock, qtbot, spleen_copy, tmp_path, make_window):
    window, dock = window_and_dock
    session = window.controller.session
    window.controller.set_cursor((90, 80, 12))
    dock.radius.setValue(8.0)
    qtbot.mouseClick(dock.sphere_button, LEFT)
    region = list(dock.measurements)[-1]
    assert region.kind == "region" and region.details["voxel_count"] > 50
    axial = next(o for o in dock.overlays if o.view is window.views["axial"])
    xs, ys = axial.solid.getData()
    assert len(xs) == 96  # its outline on the crosshair's slice: a circle of 8 mm
    centre_x, centre_y, _ = axial._display((90, 80, 12))
    assert np.hypot(xs - centre_x, ys - centre_y) == pytest.approx(np.full(96, 8.0))
    dock.label_a.setValue(1)
    qtbot.mouseClick(dock.diameters_button, LEFT)
    qtbot.waitUntil(lambda: len(dock.measurements) == 2, timeout=20000)
    qtbot.mouseClick(dock.thickness_button, LEFT)
    assert dock.busy and dock.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: len(dock.measurements) == 3, timeout=60000)
    thickness = list(dock.measurements)[-1]
    assert thickness.kind == "thickness" and thickness.value > 5
    assert not [t for t in threading.enumerate() if t.name.startswith("segviewer-thickness")]  # none left
    heatmap = window.controller.heatmap
    assert heatmap is not None and heatmap.name == "thickness"
    assert np.all(heatmap.values[session.labels.array == 1] > 0)
    dock.label_b.setValue(7)  # no such label: said in one line, nothing added
    qtbot.mouseClick(dock.distance_button, LEFT)
    qtbot.waitUntil(lambda: not dock.busy, timeout=20000)
    assert "label 7 has no voxels" in dock.note.text() and len(dock.measurements) == 3

    dock.table.selectRow(0)
    qtbot.mouseClick(dock.remove_button, LEFT)
    assert [m.kind for m in dock.measurements] == ["diameters", "thickness"]
    qtbot.mouseClick(dock.undo_button, LEFT)
    assert [m.kind for m in dock.measurements] == ["region", "diameters", "thickness"]
    qtbot.mouseClick(dock.redo_button, LEFT)
    qtbot.mouseClick(dock.undo_button, LEFT)

    dock.export_csv(tmp_path / "table.csv")
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert [r["kind"] for r in rows] == ["region", "diameters", "thickness"]
    qtbot.mouseClick(dock.save_button, LEFT)
    saved = spleen_copy[0].with_name("spleen_ct.measurements.json")
    assert json.loads(saved.read_text())["coordinates"] == "LPS mm"

    again = MeasurementsDock(make_window(*spleen_copy).controller)  # the case reopened
    qtbot.addWidget(again)
    assert [m.kind for m in again.measurements] == ["region", "diameters", "thickness"]
    again.close()
    wait_idle(qtbot, window)


def test_thickness_is_painted_on_the_3d_surface_with_a_colour_bar(window_and_dock, qtbot):
    window, dock = window_and_dock
    view3d = window.views["3d"]
    if dock.thickness_3d is None:
        pytest.skip(f"no 3D view here ({view3d.unavailable_reason})")
    qtbot.waitUntil(lambda: 1 in view3d.scene.label_actors and not view3d.busy, timeout=30000)
    dock.label_a.setValue(1)
    qtbot.mouseClick(dock.thickness_button, LEFT)
    qtbot.waitUntil(lambda: len(dock.measurements) == 1, timeout=60000)
    mapper = view3d.scene.label_actors[1].GetMapper()
    values = mapper.GetInput().GetPointData().GetScalars()
    high = float(window.controller.heatmap.values.max())
    assert mapper.GetScalarVisibility() and mapper.GetScalarRange() == pytest.approx((0.0, high))
    low, top = values.GetRange()
    assert 0 < low < top <= high  # every vertex took a thickness of the label
    assert dock.thickness_3d.bar is not None and dock.thickness_3d.bar.GetTitle() == "thickness (mm)"
    session = window.controller.session
    box = (slice(10, 11), slice(0, 2), slice(0, 2))
    session.apply_layer_crop("labels", box, np.full((1, 2, 2), 1, np.uint8), "edit")
    assert dock.thickness_3d.bar is None and not mapper.GetScalarVisibility()  # the map no longer fits
