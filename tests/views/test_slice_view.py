"""Slice views driven with real mouse, wheel and key events on the spleen CT."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from segviewer.model.session import LABELS
from segviewer.tools.base import SliceEvent, Tool

from viewer_helpers import click, drag, wait_idle, wheel, widget_point

pytestmark = pytest.mark.gui

SLICE_VIEWS = ("axial", "sagittal", "coronal")


def crosshair_index(view):
    """The voxel the crosshair of ``view`` marks (its two lines and its slice)."""
    x, y = view.cross_v.value(), view.cross_h.value()
    return tuple(int(round(v)) for v in view.orientation.display_to_index(x, y, view.slice_index))


@pytest.mark.parametrize("key", SLICE_VIEWS)
def test_click_moves_the_cursor_in_all_views(spleen_window, qtbot, key):
    window = spleen_window
    session = window.controller.session
    view = window.views[key]
    start = session.cursor
    target = list(start)
    for axis in range(3):
        if axis != view.orientation.normal_index_axis:
            target[axis] = start[axis] // 2 + 3
    target = tuple(target)
    click(qtbot, view, target)
    assert session.cursor == target
    for other in SLICE_VIEWS:
        other_view = window.views[other]
        assert other_view.slice_index == target[other_view.orientation.normal_index_axis]
        assert crosshair_index(other_view) == target
    assert window.status_text()["voxel"] == f"Voxel ({target[0]}, {target[1]}, {target[2]})"


def test_drag_moves_the_crosshair(spleen_window, qtbot):
    view = spleen_window.views["axial"]
    session = spleen_window.controller.session
    k = session.cursor[2]
    start, end = (20, 30, k), (100, 120, k)
    drag(qtbot, view, widget_point(view, start), widget_point(view, end))
    assert session.cursor == end


def test_wheel_and_keys_step_slices(spleen_window, qtbot):
    window = spleen_window
    view = window.views["axial"]
    session = window.controller.session
    k0 = session.cursor[2]
    wheel(view, 1)
    assert session.cursor[2] == k0 + 1 and view.slice_index == k0 + 1
    assert view.header.info.text() == f"Slice {k0 + 2} / 26"
    wheel(view, -3)
    assert session.cursor[2] == k0 - 2
    view.graphics.setFocus()
    qtbot.keyClick(view.graphics, Qt.Key.Key_PageUp)
    assert session.cursor[2] == k0 + 3
    qtbot.keyClick(view.graphics, Qt.Key.Key_Down)
    assert session.cursor[2] == k0 + 2
    for _ in range(40):
        qtbot.keyClick(view.graphics, Qt.Key.Key_Up)
    assert session.cursor[2] == 25  # clamped at the last slice
    # the other views keep their slices; only their crosshair moved
    assert window.views["coronal"].slice_index == session.cursor[1]


def test_new_slice_shows_new_pixels(spleen_window):
    view = spleen_window.views["axial"]
    before = view.displayed_image().copy()
    view.step_slice(-5)
    assert not np.array_equal(before, view.displayed_image())


def test_ctrl_wheel_zooms_and_home_resets(spleen_window, qtbot):
    view = spleen_window.views["coronal"]
    full = view.view_rect()
    wheel(view, 2, Qt.KeyboardModifier.ControlModifier)
    zoomed = view.view_rect()
    assert zoomed.width() < full.width() * 0.8
    assert spleen_window.controller.session.cursor == spleen_window.controller.session.cursor  # no slice change
    view.graphics.setFocus()
    qtbot.keyClick(view.graphics, Qt.Key.Key_Home)
    assert view.view_rect().width() == pytest.approx(full.width(), rel=0.02)


def test_middle_drag_pans(spleen_window, qtbot):
    view = spleen_window.views["axial"]
    wheel(view, 3, Qt.KeyboardModifier.ControlModifier)
    before = view.view_rect()
    centre = view.graphics.viewport().rect().center()
    drag(qtbot, view, centre, centre + QPoint(60, 0), Qt.MouseButton.MiddleButton)
    after = view.view_rect()
    assert after.center().x() < before.center().x() - 1  # content followed the mouse to the right
    assert after.width() == pytest.approx(before.width())


def test_right_drag_changes_window_level(spleen_window, qtbot):
    window = spleen_window
    controller = window.controller
    view = window.views["axial"]
    width0, level0 = controller.window_width_level
    assert (width0, level0) == pytest.approx((400, 40))  # CT soft tissue by default
    image_before = view.displayed_image().copy()
    centre = view.graphics.viewport().rect().center()
    drag(qtbot, view, centre, centre + QPoint(80, 40), Qt.MouseButton.RightButton)
    width, level = controller.window_width_level
    assert width > width0 * 1.3
    assert level > level0
    for key in SLICE_VIEWS:  # all views share the window
        assert window.views[key].window_label.text() == f"W {width:.0f}  L {level:.0f}"
    assert not np.array_equal(image_before, view.displayed_image())
    assert window.preset_box.currentText() == "Custom"


def test_window_presets_and_auto(spleen_window):
    controller = spleen_window.controller
    controller.apply_preset("Lung")
    assert controller.window_width_level == pytest.approx((1500, -600))
    assert spleen_window.preset_box.currentText() == "Lung"
    controller.apply_preset("Auto")
    low, high = controller.window
    expected = controller.session.image.percentiles(0.5, 99.5)
    assert (low, high) == pytest.approx(expected)


def label_pixels(view) -> int:
    return int((view.displayed_labels()[..., 3] > 0).sum())


def test_overlay_toggles(spleen_window):
    window = spleen_window
    view = window.views["axial"]
    filled = label_pixels(view)
    assert filled > 1000
    window.outline_action.trigger()
    outlined = label_pixels(view)
    assert 0 < outlined < filled / 5
    window.outline_action.trigger()
    assert label_pixels(view) == filled
    window.show_labels_action.trigger()
    assert not view.label_item.isVisible()
    window.show_labels_action.trigger()
    assert view.label_item.isVisible()
    window.opacity_slider.setValue(80)
    assert view.label_item.opacity() == pytest.approx(0.8)
    window.show_crosshair_action.trigger()
    assert not view.cross_v.isVisible()


def test_label_change_updates_only_the_changed_region(spleen_window):
    window = spleen_window
    session = window.controller.session
    views = [window.views[key] for key in SLICE_VIEWS]
    renders = [v.render_count for v in views]
    i, j, k = session.cursor
    box = (slice(k, k + 1), slice(j - 2, j + 3), slice(i - 2, i + 3))
    session.apply_layer_crop(LABELS, box, np.full((1, 5, 5), 3, np.uint8), "paint")
    for view in views:
        rgba = view.displayed_labels()
        x, y, _ = view.orientation.index_to_display(session.cursor)
        row, column = int(round(y / view.orientation.spacing[0])), int(round(x / view.orientation.spacing[1]))
        assert tuple(rgba[row, column, :3]) == session.label_table.colour_of(3)
    assert [v.render_count for v in views] == renders  # no full re-render
    # a change away from the displayed axial slice does not touch that view
    axial = window.views["axial"]
    before = axial.displayed_labels().copy()
    far = (slice(0, 1), slice(0, 4), slice(0, 4)) if k > 2 else (slice(25, 26), slice(0, 4), slice(0, 4))
    session.apply_layer_crop(LABELS, far, np.full((1, 4, 4), 3, np.uint8), "far")
    assert np.array_equal(before, axial.displayed_labels())
    session.undo()
    session.undo()
    assert tuple(axial.displayed_labels()[0, 0]) == tuple(before[0, 0])


def test_preview_and_heatmap_layers(spleen_window):
    controller = spleen_window.controller
    session = controller.session
    view = spleen_window.views["axial"]
    i, j, k = session.cursor
    box = (slice(k - 1, k + 2), slice(j - 10, j + 10), slice(i - 10, i + 10))
    crop = np.zeros((3, 20, 20), np.uint8)
    crop[:, 5:15, 5:15] = 2
    controller.set_preview(crop, box, description="Graph cut")
    assert view.preview_item.isVisible()
    rgba = view.preview_item.image
    assert rgba.shape == (20, 20, 4) and rgba[..., 3].max() == 255
    values = np.linspace(0, 1, 3 * 20 * 20, dtype=np.float32).reshape(3, 20, 20)
    controller.set_heatmap(values, box)
    assert view.heatmap_item.isVisible()
    view.step_slice(5)  # away from the crop: layers hide
    assert not view.preview_item.isVisible() and not view.heatmap_item.isVisible()
    view.step_slice(-5)
    step = controller.apply_preview()
    assert step is not None and step.description == "Graph cut"
    assert session.labels.array[k, j, i] == 2
    assert not view.preview_item.isVisible()
    assert session.history.undo_description == "Graph cut"
    session.undo()
    assert session.labels.array[k, j, i] != 2
    controller.clear_heatmap()
    assert not view.heatmap_item.isVisible()


class RecordingTool(Tool):
    name = "recorder"
    title = "Recorder"

    def __init__(self, captures_drag=True):
        super().__init__()
        self.captures_drag = captures_drag
        self.events = []

    def press(self, session, event):
        self.events.append(("press", event))

    def drag(self, session, event):
        self.events.append(("drag", event))

    def release(self, session, event):
        self.events.append(("release", event))


@pytest.mark.parametrize("key", SLICE_VIEWS)
def test_tool_gets_slice_events_with_voxel_coordinates(spleen_window, qtbot, key):
    window = spleen_window
    tool = RecordingTool()
    window.add_tool(tool)
    window.tools["recorder"].trigger()
    assert window.controller.tool is tool
    view = window.views[key]
    session = window.controller.session
    cursor_before = session.cursor
    a = list(session.cursor)
    b = list(session.cursor)
    plane_axes = [ax for ax in range(3) if ax != view.orientation.normal_index_axis]
    a[plane_axes[0]] -= 10
    b[plane_axes[0]] += 10
    b[plane_axes[1]] += 2
    drag(qtbot, view, widget_point(view, a), widget_point(view, b))
    kinds = [kind for kind, _ in tool.events]
    assert kinds[0] == "press" and kinds[-1] == "release" and "drag" in kinds
    press, release = tool.events[0][1], tool.events[-1][1]
    assert isinstance(press, SliceEvent)
    assert press.axis == view.orientation.normal_array_axis
    assert press.voxel == tuple(a) and release.voxel == tuple(b)
    assert press.index[view.orientation.normal_index_axis] == cursor_before[view.orientation.normal_index_axis]
    assert session.cursor == cursor_before  # a capturing tool does not move the crosshair
    window.navigate_action.trigger()
    assert window.controller.tool is None


def test_non_capturing_tool_gets_clicks_and_drag_moves_the_crosshair(spleen_window, qtbot):
    window = spleen_window
    tool = RecordingTool(captures_drag=False)
    window.add_tool(tool)
    window.tools["recorder"].trigger()
    view = window.views["axial"]
    session = window.controller.session
    k = session.cursor[2]
    click(qtbot, view, (40, 50, k))
    assert [kind for kind, _ in tool.events] == ["press", "release"]
    assert tool.events[0][1].voxel == (40, 50, k)
    drag(qtbot, view, widget_point(view, (40, 50, k)), widget_point(view, (90, 60, k)))
    assert session.cursor == (90, 60, k)
    assert len(tool.events) == 2


def test_failing_tool_reports_instead_of_crashing(spleen_window, qtbot):
    window = spleen_window

    class Broken(Tool):
        name, title = "broken", "Broken"

        def press(self, session, event):
            raise ZeroDivisionError("oops")

    errors = []
    window.controller.error.connect(lambda title, text: errors.append(text))
    window.add_tool(Broken())
    window.tools["broken"].trigger()
    view = window.views["axial"]
    click(qtbot, view, window.controller.session.cursor)
    assert errors and "ZeroDivisionError" in errors[0]


def test_hover_shows_value_and_label(spleen_window, qtbot):
    view = spleen_window.views["axial"]
    session = spleen_window.controller.session
    i, j, k = session.cursor
    qtbot.mouseMove(view.graphics.viewport(), widget_point(view, (i - 5, j - 5, k)))
    qtbot.mouseMove(view.graphics.viewport(), widget_point(view, session.cursor))
    qtbot.waitUntil(lambda: view.readout_label.text().startswith(f"({i}, {j}, {k})"), timeout=3000)
    text = view.readout_label.text()
    assert "Spleen" in text or "Label 1" in text


def test_double_click_maximises_and_restores(spleen_window, qtbot):
    window = spleen_window
    view = window.views["sagittal"]
    qtbot.mouseDClick(view.graphics.viewport(), Qt.MouseButton.LeftButton,
                      pos=view.graphics.viewport().rect().center())
    assert window.grid.maximised == "sagittal"
    assert not window.views["axial"].isVisible() and view.isVisible()
    assert view.width() > window.grid.width() * 0.9
    view.header.maximise_button.click()
    assert window.grid.maximised == ""
    assert all(v.isVisible() for v in window.views.values())


def test_layout_actions_and_persistence(make_window, spleen_paths, settings):
    window = make_window(*spleen_paths)
    window.layout_actions["coronal"].trigger()
    assert window.grid.maximised == "coronal"
    window.save_settings()
    second = make_window(load=False, window_settings=settings)
    assert second.grid.maximised == "coronal"
    assert second.layout_actions["coronal"].isChecked()


def test_right_click_goes_to_the_tool_and_right_drag_stays_window_level(spleen_window, qtbot):
    window = spleen_window
    tool = RecordingTool()
    window.add_tool(tool)
    window.tools["recorder"].trigger()
    view = window.views["axial"]
    session = window.controller.session
    k = session.cursor[2]
    click(qtbot, view, (40, 50, k), button=Qt.MouseButton.RightButton)
    assert [(kind, event.button) for kind, event in tool.events] == [("press", "right"), ("release", "right")]
    assert tool.events[0][1].voxel == (40, 50, k)
    width0, _ = window.controller.window_width_level
    centre = view.graphics.viewport().rect().center()
    drag(qtbot, view, centre, centre + QPoint(60, 0), Qt.MouseButton.RightButton)
    assert window.controller.window_width_level[0] > width0
    assert len(tool.events) == 2


def test_escape_cancels_a_pending_action_then_returns_to_navigate(spleen_window, qtbot):
    window = spleen_window

    class Pending(RecordingTool):
        name = "pending"
        pending = True
        cancelled = 0

        def cancel(self, session):
            self.cancelled += 1
            self.pending = False

    tool = Pending()
    window.add_tool(tool)
    window.tools["pending"].trigger()
    view = window.views["axial"]
    view.graphics.setFocus()
    qtbot.keyClick(view.graphics, Qt.Key.Key_Escape)
    assert tool.cancelled == 1 and window.controller.tool is tool
    qtbot.keyClick(view.graphics, Qt.Key.Key_Escape)
    assert window.controller.tool is None and window.navigate_action.isChecked()


def test_small_touchpad_wheel_deltas_add_up_to_whole_slices(spleen_window):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    view = spleen_window.views["axial"]
    session = spleen_window.controller.session
    k0 = session.cursor[2]
    viewport = view.graphics.viewport()
    centre = viewport.rect().center()
    for _ in range(7):  # 7 x 30 = 210 units: one slice (120), then 90 left over
        event = QWheelEvent(QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 30),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(viewport, event)
    assert session.cursor[2] == k0 + 1
