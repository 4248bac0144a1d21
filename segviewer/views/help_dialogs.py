"""Help > Keyboard shortcuts and Help > About: the dialogs and the licence notes."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QMessageBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from segviewer import __version__

LICENCES_HTML = """
<p><b>Bundled demo data</b>: abdominal CT with an expert spleen mask, from the Medical
Segmentation Decathlon (Task09 Spleen, case spleen_2, cropped), licensed
<a href="https://creativecommons.org/licenses/by-sa/4.0/">CC-BY-SA 4.0</a>.
Cite: A. L. Simpson et al., <i>A large annotated medical image dataset for the development and
evaluation of segmentation algorithms</i>, arXiv:1902.09063, 2019.</p>
<p><b>Software</b>: Qt for Python / PySide6 (LGPL-3.0), pyqtgraph (MIT), VTK (BSD-3-Clause),
SimpleITK (Apache-2.0), NumPy and SciPy (BSD-3-Clause), PyTorch (BSD-3-Clause),
MONAI (Apache-2.0), PyMaxflow (GPL-3.0).</p>
"""


def shortcuts_dialog(parent: QWidget, shortcuts: list[tuple[str, str, str]]) -> QDialog:
    """A table of (where, keys, does), grouped by where."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Keyboard and mouse shortcuts")
    table = QTableWidget(len(shortcuts), 3, dialog)
    table.setHorizontalHeaderLabels(["Where", "Keys / mouse", "Does"])
    for row, (group, keys, text) in enumerate(sorted(shortcuts, key=lambda s: s[0])):
        for column, value in enumerate((group, keys, text)):
            table.setItem(row, column, QTableWidgetItem(value))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(640, 520)
    return dialog


def about_box(parent: QWidget) -> None:
    QMessageBox.about(
        parent, "About segviewer",
        f"<h3>segviewer {__version__}</h3><p>Interactive 3D medical image segmentation: linked "
        "slice views, a live 3D view, scribbles, graph cut and U-Net fine-tuning.</p>"
        "<p>Display: radiological convention (patient's right on the screen's left in axial "
        "and coronal views; anterior on the left in sagittal views).</p>" + LICENCES_HTML)
