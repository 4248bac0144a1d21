"""File > Export > Labels as DICOM-SEG / RT structure set and File > Open DICOM-SEG / RT
structures, driven through the real window's actions (file dialogs answered by the test)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PySide6.QtWidgets import QFileDialog

from segviewer.io.dicom_seg import read_dicom_seg
from segviewer.io.rtstruct import read_rtstruct
from segviewer.model.session import LABELS
from tests.app.test_dicom_export import overlapping_fractional_seg
from tests.io.test_dicom_seg import every_dicom_object_is_valid  # noqa: F401 - checks every file written
from viewer_helpers import wait_idle


@pytest.fixture
def mr_window(make_window, shared_data, qtbot):
    window = make_window(shared_data / "dicom" / "mr_hippo_crop", size=(900, 700))
    session = window.controller.session
    values = np.full((4, 12, 10), 3, np.uint8)
    session.apply_layer_crop(LABELS, (slice(10, 14), slice(20, 32), slice(10, 20)), values, "Region growing")
    session.label_table.update(3, name="hippocampus")
    return window


def menu_texts(menu) -> list[str]:
    return [action.text() for action in menu.actions()]


def test_the_file_menu_offers_dicom_objects(mr_window):
    assert "Open DICOM-SEG / RT structures…" in menu_texts(mr_window.menus["file"])
    export = menu_texts(mr_window.menus["export"])
    assert "Labels as DICOM-&SEG…" in export and "Labels as &RT structure set…" in export


@pytest.mark.parametrize("action, reader", [("export_dicom_seg", read_dicom_seg),
                                            ("export_rtstruct", read_rtstruct)])
def test_export_writes_in_the_background_what_was_painted(action, reader, mr_window, qtbot, tmp_path, monkeypatch):
    target = tmp_path / "labels.dcm"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda parent, title, suggestion, kind: (str(target), ""))
    expected = mr_window.controller.session.labels.array.copy()
    getattr(mr_window, f"{action}_action").trigger()
    wait_idle(qtbot, mr_window)
    qtbot.waitUntil(lambda: "Saved the labels as" in mr_window.statusBar().currentMessage(), timeout=20000)
    assert "semi-automatic: region_growing" in mr_window.statusBar().currentMessage()
    read = reader(target, mr_window.controller.session.image)
    assert np.array_equal(read.label_map.array, expected)
    assert read.label_map.table.name_of(3) == "hippocampus"
    assert pydicom.dcmread(target).Modality in ("SEG", "RTSTRUCT")


def test_export_of_an_image_not_read_from_dicom_is_refused_with_the_reason(spleen_window, monkeypatch):
    errors = []
    spleen_window.show_error = lambda title, text: errors.append((title, text))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: pytest.fail("no file should be asked for"))
    spleen_window.export_dicom_seg_action.trigger()
    assert errors and errors[0][0] == "Cannot save a DICOM-SEG" and "was not read from DICOM" in errors[0][1]


def test_opening_a_fractional_seg_shows_labels_outlines_and_heat_map(mr_window, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "other.dcm"
    probabilities = overlapping_fractional_seg(mr_window.controller.session.image, path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(path), ""))
    mr_window.open_dicom_labels_action.trigger()
    qtbot.waitUntil(lambda: "Loaded other.dcm" in mr_window.statusBar().currentMessage(), timeout=20000)
    wait_idle(qtbot, mr_window)
    session = mr_window.controller.session
    assert np.array_equal(session.labels.array == 1, probabilities[..., 0] >= 0.5)
    assert [layer.name for layer in mr_window.controller.overlays.outlines] == ["layer 2: right"]
    assert mr_window.controller.overlays.heatmap is not None
    mr_window.undo_action.trigger()
    assert 1 not in session.labels.present_values()
