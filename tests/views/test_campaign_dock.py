"""The campaign dock driven like a user would: shortcuts, buttons, the filter and the list,
on a real main window with a campaign of three hippocampus cases."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import Qt

from segviewer.app.campaign import DONE, TODO, Campaign, cases_from_source
from segviewer.model.geometry import full_box
from segviewer.views.campaign_dock import UNFINISHED
from viewer_helpers import wait_idle

CTRL_ALT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


@pytest.fixture
def campaign(hippocampus, tmp_path):
    _kind, cases = cases_from_source(hippocampus / "imagesTr")
    return Campaign.create(tmp_path / "study", cases[:3])


@pytest.fixture
def dock(make_window, campaign, qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    window = make_window(load=False)
    window.ask_save_changes = lambda text: pytest.fail(f"asked: {text}")  # a campaign never asks
    dock = window.docks["campaign"].widget()
    dock.open_campaign(campaign, "ann")
    first = campaign.case_ids()[0]
    qtbot.waitUntil(lambda: dock.navigator.current == first and window.controller.session is not None,
                    timeout=20000)
    wait_idle(qtbot, window)
    yield dock
    dock.close_campaign()


def press(qtbot, window, key):
    """A window shortcut, typed in a slice view of the active window (shortcuts need both)."""
    window.activateWindow()
    qtbot.waitActive(window)
    view = window.views["axial"].graphics
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=3000)
    qtbot.keyClick(view, key, CTRL_ALT)


def open_and_wait(qtbot, dock, action, case_id):
    action()
    qtbot.waitUntil(lambda: dock.navigator.current == case_id, timeout=20000)
    wait_idle(qtbot, dock.window)
    dock.navigator.wait()  # the previous case's save


def paint(session, value=1):
    array = session.labels.array.copy()
    array[5:9, 10:20, 10:20] = value
    session.apply_layer_crop("labels", full_box(session.geometry.shape), array, "Brush")


def test_shortcuts_switch_case_saving_and_keeping_the_view(dock, campaign, qtbot):
    window = dock.window
    first, second, third = campaign.case_ids()
    assert dock.model.rowCount() == 3 and dock.progress.value() == 0
    brush = window.tools["brush"]
    brush.trigger()
    window.controller.set_window_level(10.0, 200.0)
    paint(window.controller.session)
    open_and_wait(qtbot, dock, lambda: press(qtbot, window, Qt.Key.Key_Right), second)
    saved = campaign.layer_path(first, "ann", "labels")
    assert np.count_nonzero(sitk.GetArrayFromImage(sitk.ReadImage(str(saved)))) == 4 * 10 * 10
    assert tuple(window.controller.window) == (10.0, 200.0)  # the chosen window/level carried over
    assert brush.isChecked() and window.controller.tool is not None  # the tool too
    assert dock.table.selectionModel().selectedRows()[0].data() == "2"
    open_and_wait(qtbot, dock, lambda: press(qtbot, window, Qt.Key.Key_Left), first)
    assert np.count_nonzero(window.controller.session.labels.array) == 400  # own labels again


def test_done_goes_to_the_next_unfinished_and_fills_the_progress_bar(dock, campaign, qtbot):
    first, second, third = campaign.case_ids()
    paint(dock.window.controller.session)
    open_and_wait(qtbot, dock, lambda: qtbot.mouseClick(_button(dock, "done"), Qt.MouseButton.LeftButton), second)
    assert campaign.record(first, "ann").state == DONE
    qtbot.waitUntil(lambda: dock.progress.value() == 1)
    assert [row.state for row in dock.model.rows] == [DONE, TODO, TODO]
    dock.state_filter.setCurrentText(UNFINISHED)
    assert dock.proxy.rowCount() == 2 and dock.navigator.order == [second, third]
    open_and_wait(qtbot, dock, lambda: press(qtbot, dock.window, Qt.Key.Key_N), third)
    dock.search.setText("nothing-like-this")
    assert dock.proxy.rowCount() == 0


def double_click(qtbot, widget, position):
    """A user's double click: QTest's alone sends no first click, which item views need."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=position)
    qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=position)


def _button(dock, name):
    from PySide6.QtWidgets import QToolButton

    return next(b for b in dock.findChildren(QToolButton) if b.defaultAction() is dock.actions_by_name[name])


def test_double_click_opens_and_a_locked_case_asks(dock, campaign, qtbot, tmp_path):
    first, second, third = campaign.case_ids()
    other = campaign.lock(third, "bob")  # bob is in the third case
    asked = []
    dock.ask_break_lock = lambda case_id, info: asked.append(info.annotator) or False
    dock.navigator.ask_break_lock = dock.ask_break_lock
    index = dock.proxy.index(2, 1)
    rect = dock.table.visualRect(index)
    double_click(qtbot, dock.table.viewport(), rect.center())
    assert asked == ["bob"] and dock.navigator.current == first
    other.release()
    double_click(qtbot, dock.table.viewport(), rect.center())
    qtbot.waitUntil(lambda: dock.navigator.current == third, timeout=20000)
    wait_idle(qtbot, dock.window)


def test_closing_the_window_saves_the_case(dock, campaign, qtbot):
    first = campaign.case_ids()[0]
    paint(dock.window.controller.session, 2)
    dock.window.close()
    record = campaign.record(first, "ann")
    assert record is not None and record.edits == 1 and campaign.lock_info(first) is None


def test_file_menu_opens_a_campaign(make_window, campaign, qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    monkeypatch.setenv("SEGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    window = make_window(load=False)
    holder = window.docks["campaign"]
    assert not holder.isVisible()  # hidden until a campaign is open
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(campaign.root))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("dora", True))
    window.open_campaign_action.trigger()
    dock = holder.widget()
    qtbot.waitUntil(lambda: dock.navigator is not None and dock.navigator.current == campaign.case_ids()[0],
                    timeout=20000)
    wait_idle(qtbot, window)
    assert holder.isVisible() and window.settings.value("campaign/annotator") == "dora"
    assert campaign.lock_info(campaign.case_ids()[0]).annotator == "dora"
    dock.close_campaign()
    assert campaign.lock_info(campaign.case_ids()[0]) is None
