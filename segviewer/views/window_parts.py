"""Parts of the main window: the 2x2 view grid, the toolbars, the status bar's fields and
progress area, the recent-files menu and the window picture with the 3D view painted in."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QPainter, QPixmap
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QMenu, QProgressBar, QSlider,
                               QStatusBar, QStyle, QToolBar, QWidget)

from segviewer.app.display import CT_PRESETS
from segviewer.app.view_state import preset_name
from segviewer.app.window_text import STATUS_FIELDS, status_fields

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


# == toolbars ========================================================================================
#: The view toolbar's layout buttons: (layout key, button text).
LAYOUT_BUTTONS = (("", "2×2"), ("axial", "Ax"), ("sagittal", "Sag"), ("coronal", "Cor"), ("3d", "3D"))


def main_toolbar(window) -> tuple[QToolBar, QActionGroup]:
    """Open, save, undo, redo and the tools (an exclusive group that starts on Navigate)."""
    bar = QToolBar("Main", window)
    bar.setObjectName("toolbar_main")
    bar.setIconSize(QSize(18, 18))
    style = window.style()
    for action, icon in ((window.open_image_action, QStyle.StandardPixmap.SP_DialogOpenButton),
                         (window.save_labels_action, QStyle.StandardPixmap.SP_DialogSaveButton),
                         (window.undo_action, QStyle.StandardPixmap.SP_ArrowBack),
                         (window.redo_action, QStyle.StandardPixmap.SP_ArrowForward)):
        action.setIcon(style.standardIcon(icon))
    bar.addAction(window.open_image_action)
    bar.addAction(window.save_labels_action)
    bar.addSeparator()
    bar.addAction(window.undo_action)
    bar.addAction(window.redo_action)
    bar.addSeparator()
    tools = QActionGroup(window)
    tools.setExclusive(True)
    tools.addAction(window.navigate_action)
    window.navigate_action.setChecked(True)
    bar.addAction(window.navigate_action)
    return bar, tools


class ViewToolBar(QToolBar):
    """View layouts, the window/level preset and the label opacity, bound to the viewer."""

    def __init__(self, controller, layout_actions: dict[str, QAction], outline_action: QAction,
                 parent: QWidget | None = None) -> None:
        super().__init__("View", parent)
        self.controller = controller
        self.setObjectName("toolbar_view")
        for key, text in LAYOUT_BUTTONS:
            layout_actions[key].setIconText(text)
            self.addAction(layout_actions[key])
        self.addSeparator()
        self.addWidget(QLabel(" Window "))
        self.preset_box = QComboBox()
        self.preset_box.addItems(["Custom", "Auto", *CT_PRESETS])
        self.preset_box.setToolTip("Window/level preset (right-drag in a view adjusts it)")
        self.preset_box.activated.connect(self._on_preset_chosen)
        self.addWidget(self.preset_box)
        self.addWidget(QLabel("  Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(controller.display.label_opacity * 100))
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Label opacity ([ and ])")
        self.opacity_slider.valueChanged.connect(
            lambda value: controller.update_display(label_opacity=value / 100.0))
        self.addWidget(self.opacity_slider)
        self.addAction(outline_action)
        controller.window_level_changed.connect(
            lambda low, high: self.preset_box.setCurrentText(preset_name((low, high))))

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_box.itemText(index)
        if name != "Custom":
            self.controller.apply_preset(name)

    def step_opacity(self, delta: float) -> None:
        """Label opacity up or down by ``delta`` (the [ and ] keys)."""
        self.opacity_slider.setValue(self.opacity_slider.value() + int(round(delta * 100)))


# == status bar and recent files ========================================================================
class StatusFields:
    """The status bar's fields (voxel, world, value, label), texts from :mod:`segviewer.app.window_text`."""

    WIDTHS = (150, 230, 110, 170)

    def __init__(self, status_bar: QStatusBar) -> None:
        self.labels: dict[str, QLabel] = {}
        for key, width in zip(STATUS_FIELDS, self.WIDTHS):
            label = QLabel("")
            label.setMinimumWidth(width)
            label.setObjectName(f"status_{key}")
            status_bar.addPermanentWidget(label)
            self.labels[key] = label

    def show(self, session) -> None:
        for key, text in status_fields(session).items():
            self.labels[key].setText(text)

    def texts(self) -> dict[str, str]:
        return {key: label.text() for key, label in self.labels.items()}


def fill_recent_menu(menu: QMenu, paths: list[str], open_path: Callable[[str], None],
                     clear: Callable[[], None]) -> None:
    """File > Recent: one entry per path (its name; the full path as the tip), then "Clear list"."""
    menu.clear()
    for path in paths:
        menu.addAction(Path(path).name, lambda _=False, p=path: open_path(p)).setToolTip(path)
    if paths:
        menu.addSeparator()
        menu.addAction("Clear list", clear)
    menu.setEnabled(bool(paths))


# == pictures ================================================================================
def grab_with_3d(window: QWidget, view3d) -> QPixmap:
    """``window`` as a picture, with the 3D view's pixels painted in (``grab()`` cannot see an
    OpenGL surface)."""
    pixmap = window.grab()
    if view3d.isVisible() and view3d.mode in ("interactive", "offscreen"):
        pane = view3d.stack.currentWidget()
        image = view3d.render_image(pane.size())
        if image is not None:
            painter = QPainter(pixmap)
            target = pane.mapTo(window, pane.rect().topLeft())
            painter.drawImage(QRectF(QPointF(target), QSizeF(pane.size())), image)
            painter.end()
    return pixmap
