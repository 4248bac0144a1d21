"""Editing in the real window (pytest-qt): mouse strokes land at the right voxels in every
orientation, Ctrl+Z undoes them, the label table, tool options and statistics docks work,
clean-ups and fill-between-slices are one undo step, and unsaved work is autosaved and
offered back."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from viewer_helpers import click, drag, wait_idle, widget_point

SLICE_VIEWS = ("axial", "sagittal", "coronal")


def choose(window, name):
    window.tools[name].trigger()
    tool = window.controller.tool
    assert tool is not None and tool.name == name
    return tool


def stroke_points(view, session, offset=12):
    """Two voxels on the displayed slice, ``offset`` voxels apart in the plane."""
    a = list(session.cursor)
    b = list(session.cursor)
    axes = [ax for ax in range(3) if ax != view.orientation.normal_index_axis]
    a[axes[0]] -= offset
    b[axes[0]] += offset
    b[axes[1]] += 3
    return tuple(a), tuple(b)


def focus_view(qtbot, window, view):
    """Keyboard focus in a slice view of the active window (window shortcuts need both)."""
    window.activateWindow()
    qtbot.waitActive(window)
    view.graphics.setFocus()
    qtbot.waitUntil(lambda: view.graphics.hasFocus(), timeout=3000)


def wait_until_statistics(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.busy, timeout=20000)


@pytest.mark.parametrize("key", SLICE_VIEWS)
def test_mouse_stroke_paints_the_right_voxels_and_ctrl_z_undoes_it(spleen_window, qtbot, key):
    window = spleen_window
    session = window.controller.session
    before = session.labels.array.copy()
    window.label_panel.add_label("Lesion")  # value 2, active
    assert session.active_label == 2
    brush = choose(window, "brush")
    brush.params.size_mm = 0.5  # one voxel wide: the stroke is exactly the voxels under the path
    view = window.views[key]
    a, b = stroke_points(view, session)
    drag(qtbot, view, widget_point(view, a), widget_point(view, b), steps=3)
    painted = np.argwhere(session.labels.array == 2)[:, ::-1]  # (i, j, k)
    assert len(painted) > 0
    normal = view.orientation.normal_index_axis
    assert set(painted[:, normal]) == {session.cursor[normal]}, "the stroke stays on the viewed slice"
    assert tuple(a) in map(tuple, painted) and tuple(b) in map(tuple, painted)
    # gap-free: the painted voxels form one connected line from a to b (8-connected in plane)
    from scipy import ndimage
    plane = np.take(session.labels.array == 2, session.cursor[normal], axis=2 - normal)
    _, parts = ndimage.label(plane, structure=np.ones((3, 3)))
    assert parts == 1
    assert len(session.history) >= 1 and session.history.undo_description == "Paint"
    focus_view(qtbot, window, view)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(session.labels.array, before)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (session.labels.array == 2).sum() == len(painted)


def test_scribbles_and_points_with_the_mouse(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    view = window.views["axial"]
    choose(window, "scribble")
    a, b = stroke_points(view, session)
    drag(qtbot, view, widget_point(view, a), widget_point(view, b))
    assert (session.scribbles.array == 1).sum() > 0
    a2, b2 = stroke_points(view, session, offset=6)
    a2 = (a2[0], a2[1] + 20, a2[2])
    b2 = (b2[0], b2[1] + 20, b2[2])
    drag(qtbot, view, widget_point(view, a2), widget_point(view, b2),
         modifier=Qt.KeyboardModifier.ControlModifier)
    assert (session.scribbles.array == 0).sum() > 0, "Ctrl+drag scribbles background"
    assert session.labels.array.max() == 1, "scribbles never touch the labels"
    choose(window, "points")
    click(qtbot, view, session.cursor)
    click(qtbot, view, a, modifier=Qt.KeyboardModifier.ShiftModifier)
    assert [p.positive for p in session.points] == [True, False]
    click(qtbot, view, a, modifier=Qt.KeyboardModifier.ControlModifier)
    assert len(session.points) == 1


def test_polygon_clicks_and_enter_fill_the_slice(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    window.label_panel.add_label()
    view = window.views["axial"]
    tool = choose(window, "polygon")
    i, j, k = session.cursor
    corners = [(i - 6, j - 6, k), (i + 6, j - 6, k), (i + 6, j + 6, k), (i - 6, j + 6, k)]
    for corner in corners:
        click(qtbot, view, corner)
    assert len(tool.outline) == 4 and window.editing.close_polygon_action.isEnabled()
    focus_view(qtbot, window, view)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Return)
    assert (session.labels.array[k, j - 6:j + 7, i - 6:i + 7] == 2).all()
    assert not window.editing.close_polygon_action.isEnabled()


def test_label_table_dock(spleen_window, qtbot, tmp_path):
    window = spleen_window
    panel = window.label_panel
    session = window.controller.session
    assert panel.table.rowCount() == len(session.label_table)
    value = panel.add_label("Tumour", (10, 200, 30))
    assert panel.table.rowCount() == 2 and session.active_label == value == 2
    panel.rename(2, "Lesion")
    panel.recolour(2, (1, 2, 3))
    panel.set_visible(2, False)
    entry = session.label_table[2]
    assert (entry.name, entry.colour, entry.visible) == ("Lesion", (1, 2, 3), False)
    # editing the name cell renames the label
    panel.table.item(panel.row_of(2), 2).setText("Metastasis")
    assert session.label_table[2].name == "Metastasis"
    # number keys and , . pick the active label
    view = window.views["axial"]
    focus_view(qtbot, window, view)
    qtbot.keyClick(view.graphics, Qt.Key.Key_1)
    assert session.active_label == 1
    qtbot.keyClick(view.graphics, Qt.Key.Key_Period)
    assert session.active_label == 2
    # locked labels are protected from the brush
    panel.set_locked(1, True)
    spleen_before = (session.labels.array == 1).sum()
    choose(window, "brush").params.size_mm = 30.0
    i, j, k = np.argwhere(session.labels.array == 1)[0][::-1]
    session.set_cursor((int(i), int(j), int(k)))
    QApplication.processEvents()
    click(qtbot, view, (int(i), int(j), int(k)))
    assert (session.labels.array == 1).sum() == spleen_before
    assert (session.labels.array == 2).sum() > 0
    # export / import in ITK-SNAP format and JSON
    for name in ("table.label", "table.json"):
        assert panel.export_table(tmp_path / name)
        session.label_table.update(2, name="changed")
        assert panel.import_table(tmp_path / name)
        assert session.label_table[2].name == "Metastasis"
    # remove: its voxels are cleared in one undo step; a locked label is refused
    panel.set_locked(1, True)  # (ITK-SNAP files carry no lock flag)
    assert not panel.remove_label(1)
    assert panel.remove_label(2)
    assert 2 not in session.label_table and not (session.labels.array == 2).any()
    session.undo()
    assert (session.labels.array == 2).any()


def test_tool_options_dock_edits_the_tool(spleen_window, qtbot):
    window = spleen_window
    panel = window.tool_panel
    brush = choose(window, "brush")
    size = panel.option_widget("size_mm")
    size.setValue(7.5)
    assert brush.params.size_mm == 7.5
    panel.option_widget("sphere").setChecked(True)
    assert brush.params.sphere
    policy = panel.option_widget("paint_over")
    assert policy.currentText() == "All labels"  # the declared choice texts, not the values
    over_label = panel.option_widget("over_label")
    assert not over_label.isEnabled()  # "… label" matters only when painting inside one label
    policy.setCurrentIndex(policy.findData("label"))
    assert over_label.isEnabled() and brush.params.paint_over == "label"
    policy.setCurrentIndex(policy.findData("background"))
    assert brush.params.paint_over == "background" and not over_label.isEnabled()
    assert panel.hint.text() == brush.help
    view = window.views["axial"]
    focus_view(qtbot, window, view)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Plus)
    assert brush.params.size_mm == 8.5 and size.value() == 8.5
    qtbot.keyClick(view.graphics, Qt.Key.Key_Minus)
    assert brush.params.size_mm == 7.5
    fill = choose(window, "fill")
    panel.option_widget("tolerance").setValue(80)
    assert fill.params.tolerance == 80
    # a tool without a size ignores +/-, and shows only its own settings
    assert panel.option_widget("size_mm") is None and panel.option_widget("three_d") is not None
    before = fill.params
    focus_view(qtbot, window, view)
    qtbot.keyClick(view.graphics, Qt.Key.Key_Plus)
    assert fill.params == before
    # the options a tool had keep their values when the user comes back to it
    choose(window, "brush")
    assert panel.option_widget("size_mm").value() == 7.5 and panel.option_widget("sphere").isChecked()
    scribble = choose(window, "scribble")
    assert panel.option_widget("paint_over") is None  # scribbles draw over scribbles: no policy
    panel.option_widget("scribble_class").setCurrentIndex(1)
    assert scribble.params.scribble_class == "background"


def test_statistics_dock_follows_edits(spleen_window, qtbot):
    window = spleen_window
    panel = window.statistics_panel
    session = window.controller.session
    wait_until_statistics(qtbot, panel)
    assert [r.value for r in panel.rows] == [1]
    assert panel.rows[0].voxel_count == int((session.labels.array == 1).sum())
    window.label_panel.add_label()
    choose(window, "brush").params.size_mm = 5.0
    view = window.views["axial"]
    a, b = stroke_points(view, session)
    drag(qtbot, view, widget_point(view, a), widget_point(view, b))
    qtbot.waitUntil(lambda: [r.value for r in panel.rows] == [1, 2], timeout=20000)
    assert panel.rows[1].voxel_count == int((session.labels.array == 2).sum())
    assert "Volume mL" in panel.as_text()


def test_cleanup_on_a_worker_is_one_undo_step(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    panel = window.tool_panel
    before = session.labels.array.copy()
    session.labels.array[0, 0:3, 0:3] = 1  # a stray island of the spleen label
    session.notify_changed("labels", None)
    steps = len(session.history)
    with qtbot.waitSignal(panel.operation_finished, timeout=20000):
        panel.run_operation("largest")
    np.testing.assert_array_equal(session.labels.array, before)
    assert len(session.history) == steps + 1
    session.undo()
    assert session.labels.array[0, 0:3, 0:3].all()
    with qtbot.waitSignal(panel.operation_finished, timeout=20000):
        panel.run_operation("split")
    assert 2 in session.label_table and session.label_table.name_of(2).endswith(" 2")


def test_fill_between_slices_preview_then_ctrl_return(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    expert = session.labels.array.copy()
    present = np.flatnonzero(expert.any(axis=(1, 2)))
    keys = [present[0], present[len(present) // 2], present[-1]]
    sparse = np.zeros_like(expert)
    sparse[keys] = expert[keys]
    session.labels.array[:] = sparse
    session.notify_changed("labels", None)
    assert window.tool_panel.preview_interpolation()
    assert window.controller.preview is not None
    assert (session.labels.array == sparse).all(), "a preview changes nothing"
    window.apply_preview_action.trigger()
    result = session.labels.array == 1
    dice = 2 * (result & (expert == 1)).sum() / (result.sum() + (expert == 1).sum())
    assert dice > 0.75  # three key slices only (5 give 0.94: tests/tools)
    session.undo()
    assert (session.labels.array == sparse).all()


def test_autosave_and_restore_after_a_crash(make_window, spleen_paths, qtbot, settings):
    image, labels = spleen_paths
    window = make_window(image, labels)
    session = window.controller.session
    session.labels.array[5, 10:20, 10:20] = 1
    session.notify_changed("labels", None)
    session.scribbles.array[5, 30, 30:40] = 0
    session.notify_changed("scribbles", None)
    edited_labels = session.labels.array.copy()
    edited_scribbles = session.scribbles.array.copy()
    saver = window.editing.autosaver
    saver.tick(now=saver._last_save + 61)  # a minute of editing later
    saver.wait()
    assert saver.last_error is None and window.editing.store.snapshot_for(session.image) is not None
    # "crash": a new window on the same image and settings finds the snapshot and restores it
    second = make_window(image, labels, load=False, window_settings=settings)
    answers = []
    second.editing.ask_restore = lambda snapshot: answers.append(snapshot) or "restore"
    second.load(image, labels, block=True)
    wait_idle(qtbot, second)
    qtbot.waitUntil(lambda: bool(answers), timeout=5000)
    restored = second.controller.session
    np.testing.assert_array_equal(restored.labels.array, edited_labels)
    np.testing.assert_array_equal(restored.scribbles.array, edited_scribbles)
    assert restored.is_dirty
    # saving the labels and scribbles leaves nothing to recover
    restored.mark_saved("labels")
    restored.mark_saved("scribbles")
    restored.mark_saved("points")
    assert second.editing.store.snapshot_for(restored.image) is None


def test_quitting_with_unsaved_work_autosaves_it(make_window, spleen_paths, qtbot):
    image, labels = spleen_paths
    window = make_window(image, labels)
    session = window.controller.session
    session.labels.array[3, 5:8, 5:8] = 1
    session.notify_changed("labels", None)
    store = window.editing.store
    from viewer_helpers import close_window

    close_window(window)
    snapshot = store.snapshot_for(session.image)
    assert snapshot is not None and store.load_labels(snapshot).array[3, 5:8, 5:8].all()
