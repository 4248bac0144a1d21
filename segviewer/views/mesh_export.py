"""File > Export > Export mesh…: the label surfaces as STL, OBJ, PLY or VTP, made on a worker
thread with progress and Cancel by the same code as ``segviewer mesh``
(:mod:`segviewer.surfaces.mesh`): one closed, manifold surface per label in LPS or RAS mm."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from segviewer.errors import SegviewerError
from segviewer.surfaces.mesh import (MESH_SUFFIXES, WORLDS, MeshError, MeshSettings, label_surfaces, mesh_suffix,
                                     write_mesh)
from segviewer.views.job_runner import JobRunner

MESH_FILTER = "Meshes (" + " ".join(f"*{s}" for s in MESH_SUFFIXES) + ")"


def parse_labels(text: str) -> list[int] | None:
    """``"1, 3"`` -> [1, 3]; empty or "all" -> None (every label present)."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    try:
        return [int(item) for item in text.replace(" ", "").split(",") if item]
    except ValueError:
        raise MeshError(f"labels: {text!r} is not a list of label values such as 1,3") from None


class MeshExportDialog(QDialog):
    """Where to write, which labels, smoothing, decimation and world; Export runs in the
    background and the dialog closes when the file is written."""

    def __init__(self, controller, parent: QWidget | None = None, suggestion: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export mesh")
        self.controller = controller
        self.jobs = JobRunner(controller, self)
        self.jobs.finished.connect(self._written)
        self.jobs.failed.connect(self._failed)
        self.jobs.cancelled.connect(lambda: self._set_running(False, "cancelled"))
        form = QFormLayout()
        self.path = QLineEdit(suggestion)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        self.labels = QLineEdit("all")
        self.labels.setToolTip("Label values, e.g. 1,3; all: every label present")
        form.addRow("Labels", self.labels)
        self.smoothing = QSpinBox()
        self.smoothing.setRange(0, 500)
        self.smoothing.setValue(MeshSettings.smoothing_iterations)
        self.smoothing.setToolTip("Windowed-sinc iterations (volume-preserving); 0: the voxel surface")
        form.addRow("Smoothing", self.smoothing)
        self.decimate = QDoubleSpinBox()
        self.decimate.setRange(0.0, 0.95)
        self.decimate.setSingleStep(0.1)
        self.decimate.setToolTip("Fraction of the triangles to remove")
        form.addRow("Decimate", self.decimate)
        self.world = QComboBox()
        self.world.addItems([w.upper() for w in WORLDS])
        self.world.setToolTip("LPS: ITK and DICOM; RAS: Slicer and most CAD tools (stated in the file)")
        form.addRow("Coordinates (mm)", self.world)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self._cancel)
        layout.addWidget(self.buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export mesh", self.path.text(), MESH_FILTER)
        if path:
            self.path.setText(path)

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def export(self) -> None:
        """Start writing the mesh (checked first: a wrong name or label is said at once)."""
        session = self.controller.session
        target = Path(self.path.text().strip())
        try:
            mesh_suffix(target)
            values = parse_labels(self.labels.text())
            settings = MeshSettings(self.smoothing.value(), float(self.decimate.value()), WORLDS[self.world.currentIndex()])
        except SegviewerError as error:
            self._failed(str(error))
            return
        labels, geometry = session.labels.array.copy(), session.geometry  # painting may go on

        def work(progress, cancel):
            surfaces = label_surfaces(labels, geometry, values, settings, progress, cancel)
            cancel.raise_if_cancelled()
            write_mesh(target, surfaces, settings.world)
            return target, surfaces

        self._set_running(True, f"making the surfaces of {'every label' if values is None else values}…")
        self.jobs.run(work, "Export mesh")

    def _set_running(self, running: bool, text: str) -> None:
        self.export_button.setEnabled(not running)
        self.status.setText(html.escape(text))

    def _written(self, result) -> None:
        target, surfaces = result
        self._set_running(False, f"wrote {target.name}: " + ", ".join(
            f"label {s.value} {s.triangle_count} triangles" for s in surfaces))
        self.controller.show_message(f"wrote {target}")
        self.accept()

    def _failed(self, message: str) -> None:
        self._set_running(False, "")
        self.status.setText(f"<span style='color:#c03030'>{html.escape(message)}</span>")

    def _cancel(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
        else:
            self.reject()

    def done(self, result: int) -> None:
        self.jobs.shutdown()
        super().done(result)


def export_mesh_dialog(window) -> None:
    """Open the dialog for the window's case (the file named after the image)."""
    session = window.controller.session
    if session is None:
        return
    folder = Path(window.documents.last_folder())
    name = (session.image.name or "labels").split(".")[0]
    MeshExportDialog(window.controller, window, str(folder / f"{name}.stl")).open()
