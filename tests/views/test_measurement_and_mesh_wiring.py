"""The main window offers the measurements dock, the ruler and angle tools (Tools menu and
toolbar, M for the ruler) and File > Export > Export mesh…, each doing its real work."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from segviewer.views.mesh_export import MeshExportDialog


@pytest.fixture
def window(make_window, spleen_paths):
    return make_window(*spleen_paths)


def test_measurements_dock_and_tools_are_in_the_window(window):
    dock = window.docks["measurements"].widget()
    assert "Measurements" in [a.text() for a in window.menus["panels"].actions()]
    assert window.tools["ruler"].shortcut().toString() == "M" and "angle" in window.tools
    assert ("Tools", "M", "Ruler") in window.shortcuts
    window.tools["angle"].trigger()
    assert window.controller.tool is dock.angle_tool
    assert len(dock.overlays) == 3  # drawn in the three slice views


def test_export_mesh_is_in_the_export_menu_and_opens_its_dialog(window, qtbot):
    export_menu = window.menus["export"]
    assert window.export_mesh_action in export_menu.actions()
    window.export_mesh_action.trigger()
    qtbot.waitUntil(lambda: any(isinstance(w, MeshExportDialog) and w.isVisible()
                                for w in QApplication.topLevelWidgets()), timeout=5000)
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MeshExportDialog))
    assert dialog.path.text().endswith("spleen_ct.stl")
    dialog.reject()
