"""Parts of the main window: the 2x2 view grid and the status bar's progress area."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QWidget

VIEW_KEYS = ("axial", "sagittal", "coronal", "3d")
#: Grid positions, as ITK-SNAP lays them out.
GRID_POSITIONS = {"axial": (0, 0), "sagittal": (0, 1), "coronal": (1, 0), "3d": (1, 1)}


class ViewGrid(QWidget):
    """The four views in a 2x2 grid; one view can be maximised."""

    layout_changed = Signal(str)  # "" (2x2) or the maximised view's key

    def __init__(self, views: dict[str, QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = views
        self.maximised = ""
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        for key, (row, column) in GRID_POSITIONS.items():
            grid.addWidget(views[key], row, column)
        for index in range(2):
            grid.setRowStretch(index, 1)
            grid.setColumnStretch(index, 1)
        self.setStyleSheet("ViewGrid { background: #15171b; }")

    def maximise(self, key: str) -> None:
        """Show only ``key`` ("" restores the 2x2 layout)."""
        key = key if key in self.views else ""
        self.maximised = key
        grid = self.layout()
        for name, view in self.views.items():
            grid.removeWidget(view)
        for name, view in self.views.items():
            if not key:
                grid.addWidget(view, *GRID_POSITIONS[name])
                view.show()
            elif name == key:
                grid.addWidget(view, 0, 0, 2, 2)
                view.show()
            else:
                view.hide()
        grid.activate()
        self.layout_changed.emit(key)

    def toggle(self, key: str) -> None:
        self.maximise("" if self.maximised == key else key)


class ProgressArea(QWidget):
    """Status-bar area for background jobs: text plus a bar (busy when the fraction is < 0)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.text = QLabel("")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout.addWidget(self.text)
        layout.addWidget(self.bar)
        self.bar.hide()

    def set_progress(self, fraction: float, text: str = "") -> None:
        self.text.setText(text)
        if fraction < 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(min(max(fraction, 0.0), 1.0) * 1000)))
        self.bar.show()

    def finish(self, text: str = "") -> None:
        self.bar.hide()
        self.text.setText(text)
