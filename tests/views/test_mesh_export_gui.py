"""Export mesh… in the app: the same closed per-label surfaces as ``segviewer mesh``, made in
the background; mistakes are said in the dialog, nothing is written then."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

from segviewer.surfaces.mesh import open_edge_count
from segviewer.views.mesh_export import MeshExportDialog


@pytest.fixture
def dialog(make_window, spleen_paths, qtbot, tmp_path):
    window = make_window(*spleen_paths)
    dialog = MeshExportDialog(window.controller, window, str(tmp_path / "spleen.vtp"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_export_writes_a_closed_ras_mesh_and_closes(dialog, qtbot, tmp_path):
    dialog.world.setCurrentText("RAS")
    dialog.decimate.setValue(0.5)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(tmp_path / "spleen.vtp"))
    reader.Update()
    mesh = reader.GetOutput()
    assert mesh.GetNumberOfCells() > 1000 and open_edge_count(mesh) == 0
    assert mesh.GetFieldData().GetAbstractArray("CoordinateSystem").GetValue(0) == "RAS"


def test_mistakes_are_said_in_the_dialog(dialog, qtbot, tmp_path):
    dialog.labels.setText("1,9")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "label 9 has no voxels" in dialog.status.text(), timeout=30000)
    dialog.path.setText(str(tmp_path / "spleen.nii.gz"))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "cannot save a mesh as" in dialog.status.text() and dialog.isVisible()
    assert not (tmp_path / "spleen.vtp").exists() and not (tmp_path / "spleen.nii.gz").exists()
