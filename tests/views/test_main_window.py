"""Main window: title and unsaved marker, closing with unsaved work, files, drag and drop."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QTableWidget

from segviewer.model.session import LABELS
from segviewer.views import files

from viewer_helpers import wait_idle

pytestmark = pytest.mark.gui


def paint(session, value=2):
    i, j, k = session.cursor
    box = (slice(k, k + 1), slice(j, j + 4), slice(i, i + 4))
    return session.apply_layer_crop(LABELS, box, np.full((1, 4, 4), value, np.uint8), "paint")


def test_title_shows_file_and_unsaved_marker(spleen_window):
    window = spleen_window
    assert "spleen_ct.nii.gz" in window.windowTitle()
    assert "spleen_ct_label.nii.gz" in window.windowTitle()
    assert not window.isWindowModified()
    paint(window.controller.session)
    assert window.isWindowModified()
    assert window.undo_action.isEnabled() and "paint" in window.undo_action.text()
    window.undo_action.trigger()
    assert window.redo_action.isEnabled()


def test_close_with_unsaved_work_asks_first(spleen_window, tmp_path):
    window = spleen_window
    paint(window.controller.session)
    questions = []
    window.ask_save_changes = lambda text: questions.append(text) or QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and questions and "labels" in questions[0]
    # "Save" writes the labels before closing
    target = tmp_path / "saved_labels.nii.gz"
    window.controller.session.labels_path = target
    window.ask_save_changes = lambda text: QMessageBox.StandardButton.Save
    assert window.close()
    saved, _ = files.read_labels(target, window.controller.session.geometry)
    assert np.array_equal(saved.array, window.controller.session.labels.array)


def test_save_labels_round_trip_and_never_over_the_image(spleen_window, tmp_path):
    window = spleen_window
    session = window.controller.session
    paint(session, 3)
    target = tmp_path / "out.nii.gz"
    assert window._save_layer("labels", target)
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("spleen_ct.nii.gz — out.nii.gz")
    read, _ = files.read_labels(target, session.geometry)
    assert np.array_equal(read.array, session.labels.array)
    errors = []
    window.show_error = lambda title, text: errors.append(text)
    assert not window._save_layer("labels", session.image.path)
    assert errors


def test_open_error_is_a_message_not_a_crash(make_window, tmp_path, qtbot):
    window = make_window(load=False)
    errors = []
    window.show_error = lambda title, text: errors.append((title, text))
    bad = tmp_path / "broken.nii.gz"
    bad.write_text("not an image")
    window.load(bad)
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert errors[0][0] == "Could not open the image"
    assert "broken.nii.gz" in errors[0][1]
    assert window.controller.session is None


def drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_drag_and_drop_opens_image_and_labels(make_window, spleen_paths, qtbot):
    window = make_window(load=False)
    drop(window, list(spleen_paths))
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=20000)
    wait_idle(qtbot, window)
    session = window.controller.session
    assert session.image.name == "spleen_ct.nii.gz"
    assert session.labels.present_values() == [1]
    assert str(spleen_paths[0]) in window.recent_files()[0]


def test_dropping_labels_onto_an_open_image_is_one_undo_step(make_window, spleen_paths, qtbot):
    window = make_window(spleen_paths[0])
    session = window.controller.session
    assert session.labels.present_values() == []
    drop(window, [spleen_paths[1]])
    qtbot.waitUntil(lambda: session.labels.present_values() == [1], timeout=20000)
    wait_idle(qtbot, window)
    assert window.view3d.scene is None or 1 in window.view3d.scene.label_actors
    session.undo()
    assert session.labels.present_values() == []


def test_help_lists_shortcuts(spleen_window):
    keys = {(group, keys) for group, keys, _ in spleen_window.shortcuts}
    assert ("Slice views", "Right drag") in keys
    assert any(group == "Edit" for group, _ in keys)


def test_shortcuts_dialog_lists_every_shortcut(spleen_window):
    from segviewer.views.help_dialogs import shortcuts_dialog

    dialog = shortcuts_dialog(spleen_window, spleen_window.shortcuts)
    table = dialog.findChild(QTableWidget)
    assert table.rowCount() == len(spleen_window.shortcuts)
    assert {table.item(row, 1).text() for row in range(table.rowCount())} >= {"F1", "Right drag"}
    dialog.close()


def test_status_bar_progress_area(spleen_window):
    controller = spleen_window.controller
    controller.report_progress(0.25, "Graph cut…")
    assert spleen_window.progress.bar.isVisible()
    assert spleen_window.progress.bar.value() == 250
    controller.finish_progress("done")
    assert not spleen_window.progress.bar.isVisible()
    assert spleen_window.progress.text.text() == "done"


def test_add_dock_lists_it_under_panels(spleen_window):
    from PySide6.QtWidgets import QLabel

    dock = spleen_window.add_dock("example", QLabel("real content"))
    assert spleen_window.docks["example"] is dock
    assert dock.toggleViewAction() in spleen_window.menus["panels"].actions()


def test_recent_files_menu(spleen_window):
    actions = [a for a in spleen_window.recent_menu.actions() if a.text() == "spleen_ct.nii.gz"]
    assert actions


def test_saving_runs_off_the_gui_thread_and_keeps_later_edits_unsaved(spleen_window, tmp_path, qtbot):
    window = spleen_window
    session = window.controller.session
    paint(session, 3)
    target = tmp_path / "async.nii.gz"
    assert window._save_layer("labels", target, block=False)
    paint(session, 4)  # an edit while the file is being written
    qtbot.waitUntil(lambda: session.labels_path == target, timeout=20000)
    assert window.isWindowModified()  # the later edit is not in the file
    saved, _ = files.read_labels(target, session.geometry)
    assert (saved.array == 3).any() and not (saved.array == 4).any()
    assert window._save_layer("labels", target, block=False)
    qtbot.waitUntil(lambda: not window.isWindowModified(), timeout=20000)


def test_a_newer_open_supersedes_an_older_one(make_window, spleen_paths, tmp_path, qtbot):
    window = make_window(load=False)
    errors = []
    window.show_error = lambda title, text: errors.append(text)
    bad = tmp_path / "missing.nii.gz"
    window.load(bad)  # fails later...
    window.load(spleen_paths[0])  # ...but this one was asked for last
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=20000)
    wait_idle(qtbot, window)
    assert window.controller.session.image.name == "spleen_ct.nii.gz"
    assert not errors


def test_the_app_tiers_events_reach_the_window_as_qt_signals(spleen_window, qtbot):
    """Every event of the viewer and of the compute workflow is a Qt signal of the same name;
    a call the worker posts runs on the GUI thread."""
    import threading

    from psygnal import Signal as AppSignal
    from PySide6.QtCore import Signal

    from segviewer.app.compute import ComputeEvents
    from segviewer.app.viewer import ViewerEvents

    window = spleen_window
    controller, compute = window.controller, window.method_panel.compute
    for events, adapter, used in (
            (ViewerEvents, type(controller), {"session_changed", "labels_changed", "scribbles_changed", "points_changed",
                                              "cursor_changed", "dirty_changed", "label_table_changed",
                                              "active_label_changed", "tool_changed", "preview_changed",
                                              "heatmap_changed", "display_changed", "window_level_changed",
                                              "progress_changed", "progress_finished", "message", "error"}),
            (ComputeEvents, type(compute), {"job_event", "result_ready", "partial_ready", "failed", "busy_changed",
                                            "jobs_changed"})):
        names = {name for name, signal in vars(events).items() if isinstance(signal, AppSignal)}
        assert used <= names  # what the widgets connect to
        assert all(isinstance(getattr(adapter, name), Signal) for name in names)
    windows = []
    controller.window_level_changed.connect(lambda low, high: windows.append((low, high)))
    controller.set_window_level(10.0, 50.0)
    assert windows == [(10.0, 50.0)]
    assert window.preset_box.currentText() == "Custom"
    controller.apply_preset("Bone")
    assert window.preset_box.currentText() == "Bone"
    threads = []
    worker = threading.Thread(target=compute._posted.emit, args=(lambda: threads.append(threading.get_ident()),))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    assert threads == [threading.get_ident()]
