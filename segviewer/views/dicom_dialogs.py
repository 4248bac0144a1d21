"""File menu dialogs for DICOM objects: open a DICOM-SEG / RT structure set onto the image.

The work is the app tier's (:mod:`segviewer.app.dicom_import`, :mod:`segviewer.app.dicom_export`):
this module only asks for the file. Saving (File > Export > Labels as DICOM-SEG… / RT
structure set…) needs no Qt of its own: the app tier asks through the window's file ports.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from segviewer.app.dicom_import import open_dicom_labels

DICOM_LABELS_FILTER = "DICOM-SEG or RT structure set (*.dcm);;All files (*)"


def open_dicom_labels_dialog(window) -> None:
    """Ask for a DICOM-SEG or RT structure set and open it onto the image (in the background;
    the action is enabled only while an image is open)."""
    path, _ = QFileDialog.getOpenFileName(window, "Open DICOM-SEG / RT structure set",
                                          window.documents.last_folder(), DICOM_LABELS_FILTER)
    if path:
        open_dicom_labels(window.documents, path)
