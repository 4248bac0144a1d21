"""The PACS dock in a real main window against a real Orthanc: search, open a series
(downloaded on a worker, then loaded), store the labels back as DICOM-SEG; cancel; errors."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from segviewer.io.dicom_seg import read_dicom_seg  # noqa: E402
from segviewer.io.dicomweb import DicomWebServer  # noqa: E402
from segviewer.io.images import read_image  # noqa: E402
from segviewer.views import background  # noqa: E402
from tests.pacs.orthanc import free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "views"))
from viewer_helpers import close_window, wait_idle  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qapp, qtbot, tmp_path):
    from segviewer.views.app import create_application
    from segviewer.views.main_window import MainWindow

    create_application()
    before = set(threading.enumerate())
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window._quiet_errors = True
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    yield window
    close_window(window)
    assert background.wait_all(timeout=20)
    deadline = time.monotonic() + 5
    while [t for t in threading.enumerate() if t not in before and t.is_alive()] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture
def dock(window, qtbot):
    from segviewer.views.pacs_dock import PacsDock

    dock = PacsDock(window.controller, window.open_image, lambda path: window.documents.load_layer("labels", path))
    qtbot.addWidget(dock)
    dock.show()
    return dock


def _search(qtbot, dock, url: str, **filters) -> None:
    dock.server.setEditText(url)
    dock.patient.setText(filters.get("patient", ""))
    dock.modality.setText(filters.get("modality", ""))
    qtbot.mouseClick(dock.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock._busy, timeout=20000)


def test_search_open_a_series_and_store_the_labels_back_as_seg(orthanc, ct_files, window, dock, qtbot, tmp_path):
    DicomWebServer(orthanc.dicomweb_url).store(ct_files)
    _search(qtbot, dock, orthanc.dicomweb_url, patient="SEGVIEWER-CT", modality="CT")
    assert dock.table.rowCount() == 1 and dock.status.text() == "1 series found."
    assert [dock.table.item(0, c).text() for c in range(5)] == ["20221208", "CT", "SEGVIEWER-CT", "CT Body 3.0", "20"]

    qtbot.mouseClick(dock.open_button, Qt.MouseButton.LeftButton)
    assert dock.cancel_button.isEnabled() and not dock.open_button.isEnabled()  # the GUI did not wait
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=30000)
    wait_idle(qtbot, window)
    session = window.controller.session
    assert np.array_equal(session.image.array, read_image(ct_files[0].parent).array)
    assert dock.progress.value() == 1000 and dock.progress.text().endswith("20 of 20 images")

    server = DicomWebServer(orthanc.dicomweb_url)
    segs_before = {e.path for e in server.search(modality="SEG")}
    box = np.s_[8:12, 200:260, 180:300]  # a threshold result applied as one undo step
    before = session.labels.array[box].copy()
    session.labels.array[box] = 1
    session.history.record("Threshold", "labels", box, before, session.labels.array[box].copy())
    qtbot.mouseClick(dock.store_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock._busy, timeout=30000)
    assert dock.status.text().startswith("Stored the labels as DICOM-SEG in study"), dock.status.text()

    [seg] = [e for e in server.search(patient="SEGVIEWER-CT", modality="SEG") if e.path not in segs_before]
    folder = server.retrieve_series(seg.study_uid, seg.series_uid, tmp_path / "seg")
    back = read_dicom_seg(next(folder.iterdir()), reference=session.image)
    assert np.array_equal(back.label_map.array, session.labels.array)
    assert {(i.algorithm_kind.lower(), i.algorithm_name) for i in back.segments} == {("semiautomatic", "threshold")}

    # the SEG opens from the dock onto the open image, as the labels layer
    painted = session.labels.array.copy()
    session.labels.array[:] = 0
    _search(qtbot, dock, orthanc.dicomweb_url, patient="SEGVIEWER-CT", modality="SEG")
    dock.table.selectRow([e.series_uid for e in dock.entries].index(seg.series_uid))
    qtbot.mouseClick(dock.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.session.labels.array.any(), timeout=30000)
    assert np.array_equal(window.controller.session.labels.array, painted)


def test_cancelling_a_download_leaves_nothing_in_the_cache(orthanc, ct_files, dock, qtbot, private_cache, window):
    DicomWebServer(orthanc.dicomweb_url).store(ct_files)
    _search(qtbot, dock, orthanc.dicomweb_url, patient="SEGVIEWER-CT", modality="CT")
    qtbot.mouseClick(dock.open_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dock.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock._busy, timeout=20000)
    assert dock.status.text() == "Cancelled; nothing was downloaded."
    assert window.controller.session is None
    assert not private_cache.exists() or [p.name for p in private_cache.iterdir()] == []


def test_a_seg_series_needs_its_image_open_first(orthanc, ct_files, dock, qtbot):
    from segviewer.model.labels import LabelMap

    server = DicomWebServer(orthanc.dicomweb_url)
    server.store(ct_files)
    volume = read_image(ct_files[0].parent)
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    labels[3:5, 10:50, 10:50] = 1
    server.store_segmentation(LabelMap(labels, volume.geometry), volume)
    _search(qtbot, dock, orthanc.dicomweb_url, patient="SEGVIEWER-CT", modality="SEG")
    qtbot.mouseClick(dock.open_button, Qt.MouseButton.LeftButton)
    assert dock.status.text() == ("A SEG series holds labels: open the image series it segments first, "
                                  "then open this one onto it.")
    assert not dock._busy


def test_a_server_that_is_down_is_one_line_in_the_dock(dock, qtbot):
    _search(qtbot, dock, f"http://127.0.0.1:{free_port()}/dicom-web")
    assert "cannot connect while searching (connection refused)" in dock.status.text()
    assert "\n" not in dock.status.text() and dock.search_button.isEnabled()
    _search(qtbot, dock, "not an address")
    assert "not a DICOMweb address" in dock.status.text()


def test_log_in_keeps_the_credentials_in_the_keyring(orthanc_with_user, file_keyring, dock, qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from segviewer.io.dicomweb import Credentials, load_credentials
    from segviewer.views.pacs_dock import LoginDialog
    from tests.pacs.conftest import PASSWORD, USER

    url = orthanc_with_user.dicomweb_url
    _search(qtbot, dock, url)
    assert "HTTP 401" in dock.status.text()

    def fill() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, LoginDialog) and w.isVisible())
        dialog.user.setText(USER)
        dialog.secret.setText(PASSWORD)
        dialog.accept()

    QTimer.singleShot(100, fill)
    qtbot.mouseClick(dock.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock._busy, timeout=20000)
    assert dock.status.text() == f"Credentials for {url} kept in the keyring."
    assert load_credentials(url) == Credentials("basic", PASSWORD, USER)
    _search(qtbot, dock, url)
    assert dock.status.text() == "No series found."


def test_a_server_saved_in_the_dock_is_listed_by_name_for_the_command_line_too(orthanc, dock, qtbot):
    from segviewer.io.dicomweb import resolve_server, saved_servers

    dock.server.setEditText(orthanc.dicomweb_url + "/")
    dock.save_server("local orthanc")
    assert dock.status.text() == f"Saved local orthanc: {orthanc.dicomweb_url}"
    assert [(s.name, s.url) for s in saved_servers()] == [("local orthanc", orthanc.dicomweb_url)]
    assert dock.server.currentText() == "local orthanc" and dock.url() == orthanc.dicomweb_url
    assert resolve_server("local orthanc") == orthanc.dicomweb_url
    dock.save_server("bad/name")
    assert "give a plain name" in dock.status.text()


def test_file_open_from_pacs_shows_the_dock(window, qtbot):
    from segviewer.views.pacs_dock import PacsDock

    dock = window.docks["pacs"]
    assert isinstance(dock.widget(), PacsDock) and dock.isHidden()
    assert window.open_pacs_action in window.menus["file"].actions()
    window.open_pacs_action.trigger()
    qtbot.waitUntil(dock.isVisible)
    assert dock.widget().server.hasFocus() or not window.isActiveWindow()
