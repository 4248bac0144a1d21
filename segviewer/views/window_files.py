"""The main window's file dialogs and the Qt ports of the app tier's file workflow
(:class:`segviewer.app.documents.DocumentWorkflow`): what to open, where to save, Save / Discard /
Cancel, a wait cursor, work in a background thread."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from segviewer.app.documents import CANCEL, DISCARD, SAVE, FilePorts
from segviewer.errors import SegviewerError
from segviewer.views import background, files


@contextmanager
def wait_cursor():
    """The busy cursor while the block runs (a short wait the user is told about)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


def file_ports(window) -> FilePorts:
    """Qt versions of what the file workflow asks of ``window``. Each looks the window's method
    up when called, so tests can answer ``ask_save_changes`` and ``show_error``."""
    answers = {QMessageBox.StandardButton.Save: SAVE, QMessageBox.StandardButton.Discard: DISCARD}

    def choose_save_path(title: str, suggestion: Path, file_filter: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(window, title, str(suggestion), file_filter)
        return Path(path) if path else None

    return FilePorts(
        ask_save_changes=lambda text: answers.get(window.ask_save_changes(text), CANCEL),
        choose_save_path=choose_save_path,
        show_error=lambda title, text: window.show_error(title, text),
        show_message=lambda text, msec: window.statusBar().showMessage(text, msec),
        set_progress=lambda fraction, text: window.progress.set_progress(fraction, text),
        finish_progress=lambda text: window.progress.finish(text),
        run_in_background=lambda function, done, failed, name: background.run_in_thread(
            function, done, failed, name=name),
        busy=wait_cursor,
        session_loaded=lambda session: window.session_loaded.emit(),
        paths_changed=lambda: window._update_title())


def open_image_dialog(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open image", window.documents.last_folder(), files.IMAGE_FILTER)
    if path:
        window.open_image(path)


def open_dicom_dialog(window) -> None:
    path = QFileDialog.getExistingDirectory(window, "Open DICOM folder", window.documents.last_folder())
    if path:
        window.open_image(path)


def open_layer_dialog(window, kind: str, title: str, file_filter: str) -> None:
    """Labels, scribbles or points onto the open image."""
    path, _ = QFileDialog.getOpenFileName(window, title, window.documents.last_folder(), file_filter)
    if path:
        window.documents.load_layer(kind, path)


def export_screenshot_dialog(window) -> None:
    suggestion = str(Path(window.documents.last_folder()) / "segviewer.png")
    path, _ = QFileDialog.getSaveFileName(window, "Export screenshot", suggestion, "PNG images (*.png)")
    if path:
        try:
            window.export_screenshot(path)
        except SegviewerError as error:
            window.show_error("Screenshot", str(error))
