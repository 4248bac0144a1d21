"""The main window: 2x2 views, menus, toolbar, status bar, docks; layout and wiring.

The workflows live in the application tier (no Qt) and are wired here with Qt parts: files
in and out, the discard prompt and recent files in :class:`segviewer.app.documents.DocumentWorkflow`
(:meth:`MainWindow._file_ports`), autosave in :mod:`segviewer.app.autosave` (through
:mod:`segviewer.views.editing`), the title and status texts in :mod:`segviewer.app.window_text`.

Adding to the window (other modules)
------------------------------------
- A dock: write a widget taking the controller, then add ONE line to
  :meth:`MainWindow._create_docks`, e.g. ``self.add_dock("labels", LabelTablePanel(self.controller))``.
  Create a dock only when its widget really works: no empty shells.
- A tool: add ONE line to :meth:`MainWindow._create_tools`, e.g.
  ``self.add_tool(BrushTool())``. It appears in the Tools menu and toolbar (checkable, with
  its ``shortcut``) and becomes ``controller.tool`` when chosen; "Navigate" (Esc twice, or
  the toolbar arrow) returns to crosshair mode.
- Menu entries: ``self.menus[name]`` for "file", "edit", "view", "tools", "segment", "help"
  and "export" (a File submenu).
- Shortcuts listed under Help > Keyboard shortcuts: :meth:`MainWindow.register_shortcut`.
- Background progress: ``controller.report_progress(fraction, text)`` / ``finish_progress``.
- A dock whose widget has a ``busy`` property (True while it computes) is waited for by
  ``segviewer screenshot`` so the picture shows its results.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QRectF, QSettings, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow,
                               QMessageBox, QSlider, QToolBar, QWidget)

from segviewer.app.display import CT_PRESETS
from segviewer.app.documents import CANCEL, DISCARD, POINTS, SAVE, DocumentWorkflow, FilePorts
from segviewer.app.window_text import APP_NAME, STATUS_FIELDS, status_fields, undo_state, window_title
from segviewer.errors import SegviewerError
from segviewer.model.session import LABELS, SCRIBBLES
from segviewer.views import background, files
from segviewer.views.actions import create_actions, create_menus
from segviewer.views.controller import ViewerController
from segviewer.views.help_dialogs import about_box, shortcuts_dialog
from segviewer.views.slice_view import SliceView
from segviewer.views.view3d import View3D
from segviewer.views.window_parts import ProgressArea, ViewGrid

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """The segviewer main window (see the module docstring for extending it)."""

    session_loaded = Signal()

    def __init__(self, settings: QSettings | None = None, view3d_mode: str | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.controller = ViewerController(self)
        self.documents = DocumentWorkflow(self.controller, self.settings, self._file_ports())
        self.documents.recent.on_change = self._refresh_recent_menu
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.menus: dict[str, object] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.tools: dict[str, QAction] = {}
        self.shortcuts: list[tuple[str, str, str]] = []
        self._state_restored = False

        self.views: dict[str, QWidget] = {key: SliceView(self.controller, key)
                                          for key in ("axial", "sagittal", "coronal")}
        self.views["3d"] = View3D(self.controller, mode=view3d_mode)
        self.view3d: View3D = self.views["3d"]  # type: ignore[assignment]
        for view in self.views.values():
            view.maximise_requested.connect(self.toggle_maximise)
        self.grid = ViewGrid(self.views)
        self.grid.layout_changed.connect(self._on_layout_changed)
        self.setCentralWidget(self.grid)

        create_actions(self)
        create_menus(self)
        self._create_toolbar()
        self._create_status_bar()
        self._create_tools()
        self._create_docks()
        self._register_view_shortcuts()

        c = self.controller
        c.cursor_changed.connect(self._update_status)
        c.labels_changed.connect(self._on_labels_edited)
        c.scribbles_changed.connect(self._on_scribbles_edited)
        c.points_changed.connect(self._on_points_edited)
        c.dirty_changed.connect(self._update_title)
        c.session_changed.connect(self._on_session)
        c.progress_changed.connect(self.progress.set_progress)
        c.progress_finished.connect(self.progress.finish)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        c.error.connect(self.show_error)
        c.tool_changed.connect(self._on_tool_changed)
        c.window_level_changed.connect(self._on_window_changed)
        self._restore_settings()
        self._on_session(None)

    # == docks and tools: the extension points ==============================================
    def _create_docks(self) -> None:
        """One line per dock (see the module docstring). Docks exist only for real widgets."""
        from segviewer.views.compute import JobList
        from segviewer.views.editing import EditingSupport
        from segviewer.views.label_table import LabelTablePanel
        from segviewer.views.method_panel import MethodPanel
        from segviewer.views.metrics_panel import MetricsPanel
        from segviewer.views.statistics_panel import StatisticsPanel
        from segviewer.views.tool_panel import ToolPanel

        self.label_panel = LabelTablePanel(self.controller)
        self.tool_panel = ToolPanel(self.controller)
        self.statistics_panel = StatisticsPanel(self.controller)
        self.add_dock("labels", self.label_panel, title="Labels")
        self.add_dock("tool_options", self.tool_panel, title="Tool options")
        self.add_dock("statistics", self.statistics_panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                      title="Statistics")
        for panel in (self.label_panel, self.tool_panel):
            panel.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.add_dock("metrics", MetricsPanel(self.controller), title="Metrics")
        self.method_panel = MethodPanel(self.controller)  # methods on the compute worker
        self.method_panel.compute.watch_window(self)  # its thread stops when the window closes
        self.add_dock("segment", self.method_panel, title="Segment")
        self.add_dock("jobs", JobList(self.method_panel.compute), Qt.DockWidgetArea.BottomDockWidgetArea,
                      title="Jobs")
        self.editing = EditingSupport(self, self.label_panel, self.tool_panel)

    def _create_tools(self) -> None:
        """One line per tool: ``self.add_tool(SomeTool())`` (see the module docstring)."""
        from segviewer.tools.brush import BrushTool, EraserTool
        from segviewer.tools.fill import FloodFillTool
        from segviewer.tools.points import PointTool
        from segviewer.tools.polygon import PolygonTool
        from segviewer.tools.scribble import ScribbleEraserTool, ScribbleTool

        for tool in (BrushTool(), EraserTool(), ScribbleTool(), ScribbleEraserTool(), PointTool(),
                     PolygonTool(), FloodFillTool()):
            self.add_tool(tool)

    def add_dock(self, name: str, widget: QWidget, area=Qt.DockWidgetArea.RightDockWidgetArea,
                 title: str | None = None) -> QDockWidget:
        """Put ``widget`` in a dock named ``name`` (restored with the window state) and list
        it under View > Panels."""
        dock = QDockWidget(title or name.replace("_", " ").title(), self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        self.menus["panels"].addAction(dock.toggleViewAction())
        if self._state_restored:
            self.restoreDockWidget(dock)
        return dock

    def add_tool(self, tool) -> QAction:
        """Offer ``tool`` (a :class:`segviewer.tools.base.Tool`) in the Tools menu and toolbar."""
        action = QAction(tool.title, self)
        action.setCheckable(True)
        action.setData(tool)
        if tool.shortcut:
            action.setShortcut(QKeySequence(tool.shortcut))
            self.register_shortcut(tool.shortcut, tool.title, "Tools")
        action.triggered.connect(lambda checked, t=tool: self.controller.set_tool(t if checked else None))
        self.tool_group.addAction(action)
        self.menus["tools"].addAction(action)
        self.tool_bar.addAction(action)
        self.tools[tool.name] = action
        return action

    def register_shortcut(self, keys: str, description: str, group: str = "General") -> None:
        self.shortcuts.append((group, keys, description))

    # == toolbar (actions and menus: views/actions.py) ========================================
    def _create_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("toolbar_main")
        bar.setIconSize(QSize(18, 18))
        style = self.style()
        from PySide6.QtWidgets import QStyle

        self.open_image_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.save_labels_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton))
        self.undo_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_ArrowBack))
        self.redo_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_ArrowForward))
        bar.addAction(self.open_image_action)
        bar.addAction(self.save_labels_action)
        bar.addSeparator()
        bar.addAction(self.undo_action)
        bar.addAction(self.redo_action)
        bar.addSeparator()
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_group.addAction(self.navigate_action)
        self.navigate_action.setChecked(True)
        bar.addAction(self.navigate_action)
        self.tool_bar = bar
        self.addToolBar(bar)

        view_bar = QToolBar("View", self)
        view_bar.setObjectName("toolbar_view")
        for key, text in (("", "2×2"), ("axial", "Ax"), ("sagittal", "Sag"), ("coronal", "Cor"), ("3d", "3D")):
            action = self.layout_actions[key]
            action.setIconText(text)
            view_bar.addAction(action)
        view_bar.addSeparator()
        view_bar.addWidget(QLabel(" Window "))
        self.preset_box = QComboBox()
        self.preset_box.addItem("Custom")
        self.preset_box.addItem("Auto")
        for name in CT_PRESETS:
            self.preset_box.addItem(name)
        self.preset_box.setToolTip("Window/level preset (right-drag in a view adjusts it)")
        self.preset_box.activated.connect(self._on_preset_chosen)
        view_bar.addWidget(self.preset_box)
        view_bar.addWidget(QLabel("  Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(self.controller.display.label_opacity * 100))
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Label opacity ([ and ])")
        self.opacity_slider.valueChanged.connect(
            lambda value: self.controller.update_display(label_opacity=value / 100.0))
        view_bar.addWidget(self.opacity_slider)
        view_bar.addAction(self.outline_action)
        self.addToolBar(view_bar)
        self.view_bar = view_bar
        self.menus["toolbars"].addAction(bar.toggleViewAction())
        self.menus["toolbars"].addAction(view_bar.toggleViewAction())

    def _create_status_bar(self) -> None:
        status = self.statusBar()
        self.status_labels = {}
        for key, width in zip(STATUS_FIELDS, (150, 230, 110, 170)):
            label = QLabel("")
            label.setMinimumWidth(width)
            label.setObjectName(f"status_{key}")
            status.addPermanentWidget(label)
            self.status_labels[key] = label
        self.progress = ProgressArea()
        status.addPermanentWidget(self.progress)

    def _register_view_shortcuts(self) -> None:
        for keys, text in (("Left click / drag", "Move the crosshair (Navigate) or use the active tool"),
                           ("Right drag", "Window (horizontal) / level (vertical), in every mode"),
                           ("Right click", "The tool's alternative action (erase, negative point, "
                                           "close polygon); in Navigate mode the view menu"),
                           ("Ctrl+wheel, Ctrl+right drag", "Zoom"), ("Middle drag", "Pan"),
                           ("Wheel, Up/Down", "Next / previous slice"),
                           ("Shift+wheel, PageUp/PageDown", "Five slices"),
                           ("Home", "Reset zoom and pan of the view under the mouse"),
                           ("Double-click", "Maximise / restore a view"),
                           ("Esc", "Cancel the tool's unfinished action; with none, Navigate mode")):
            self.register_shortcut(keys, text, "Slice views")
        for keys, text in (("Left drag", "Rotate"), ("Middle drag / Shift+left drag", "Pan"),
                           ("Wheel / right drag", "Zoom"),
                           ("Double-click a surface", "Move the crosshair there")):
            self.register_shortcut(keys, text, "3D view")

    # == settings ================================================================================
    def _restore_settings(self) -> None:
        settings = self.settings
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            screen = QApplication.primaryScreen()
            if screen is not None:
                available = screen.availableGeometry()
                self.resize(min(1400, available.width()), min(900, available.height()))
        state = settings.value("window/state")
        self._state_restored = False
        if isinstance(state, QByteArray):
            self.restoreState(state)
            self._state_restored = True
        else:
            self._default_dock_sizes()
        self.grid.maximise(str(settings.value("layout/maximised", "") or ""))
        opacity = float(settings.value("display/label_opacity", 0.5))
        outline = str(settings.value("display/outline", "false")).lower() == "true"
        self.opacity_slider.setValue(int(round(opacity * 100)))
        self.outline_action.setChecked(outline)
        self.controller.update_display(label_opacity=opacity, outline=outline)
        self._refresh_recent_menu()

    def _default_dock_sizes(self) -> None:
        """First start: the views keep most of the window. Panels that are used together share
        a tab group (labels stay on their own on the right; tool options and the method panel
        are tabs; statistics, metrics and jobs are tabs along the bottom)."""
        bottom_area, right_area = Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        groups = ((bottom_area, ("statistics", "metrics", "jobs")), (right_area, ("tool_options", "segment")))
        for area, names in groups:
            members = [self.docks[name] for name in names if name in self.docks]
            for dock in members:
                if self.dockWidgetArea(dock) != area:
                    self.addDockWidget(area, dock)
            for other in members[1:]:
                self.tabifyDockWidget(members[0], other)
            if members:
                members[0].raise_()
        by_area: dict = {}
        for dock in self.docks.values():
            by_area.setdefault(self.dockWidgetArea(dock), []).append(dock)
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        for area, docks in by_area.items():
            if area in (Qt.DockWidgetArea.LeftDockWidgetArea, right_area):
                self.resizeDocks(docks, [360] * len(docks), horizontal)
            else:
                self.resizeDocks(docks, [170] * len(docks), vertical)

    def save_settings(self) -> None:
        settings = self.settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("layout/maximised", self.grid.maximised)
        settings.setValue("display/label_opacity", self.controller.display.label_opacity)
        settings.setValue("display/outline", "true" if self.controller.display.outline else "false")
        settings.sync()

    def recent_files(self) -> list[str]:
        return self.documents.recent.paths()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self.recent_files()
        for path in entries:
            self.recent_menu.addAction(Path(path).name, lambda _=False, p=path: self.open_image(p)).setToolTip(path)
        if entries:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.documents.recent.clear)
        self.recent_menu.setEnabled(bool(entries))

    def _last_folder(self) -> str:
        return self.documents.last_folder()

    # == files: the app tier's DocumentWorkflow with Qt ports =====================================
    def _file_ports(self) -> FilePorts:
        """Qt versions of what the file workflow asks of the window. Each looks the window's
        method up when called, so tests can answer ``ask_save_changes`` and ``show_error``."""
        answers = {QMessageBox.StandardButton.Save: SAVE, QMessageBox.StandardButton.Discard: DISCARD}

        def choose_save_path(title: str, suggestion: Path, file_filter: str) -> Path | None:
            path, _ = QFileDialog.getSaveFileName(self, title, str(suggestion), file_filter)
            return Path(path) if path else None

        return FilePorts(
            ask_save_changes=lambda text: answers.get(self.ask_save_changes(text), CANCEL),
            choose_save_path=choose_save_path,
            show_error=lambda title, text: self.show_error(title, text),
            show_message=lambda text, msec: self.statusBar().showMessage(text, msec),
            set_progress=lambda fraction, text: self.progress.set_progress(fraction, text),
            finish_progress=lambda text: self.progress.finish(text),
            run_in_background=lambda function, done, failed, name: background.run_in_thread(
                function, done, failed, name=name),
            busy=self._wait_cursor,
            session_loaded=lambda session: self.session_loaded.emit(),
            paths_changed=self._update_title)

    @contextmanager
    def _wait_cursor(self):
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            yield
        finally:
            QApplication.restoreOverrideCursor()

    def load(self, image: str | Path, labels: str | Path | None = None, scribbles: str | Path | None = None,
             points: str | Path | None = None, block: bool = False) -> None:
        """Open ``image`` (and optional layers): :meth:`DocumentWorkflow.load`."""
        self.documents.load(image, labels, scribbles, points, block=block)

    def open_image(self, path: str | Path) -> None:
        self.documents.open_image(path)

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self._last_folder(), files.IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_dicom_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM folder", self._last_folder())
        if path:
            self.open_image(path)

    def _open_layer_dialog(self, kind: str, title: str, file_filter: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_folder(), file_filter)
        if path:
            self.documents.load_layer(kind, path)

    def save_labels(self) -> bool:
        return self.documents.save_labels()

    def _save_layer(self, kind: str, path: Path, block: bool = True) -> bool:
        """Write one layer to ``path``: :meth:`DocumentWorkflow.save_layer`."""
        return self.documents.save_layer(kind, path, block=block)

    def ask_save_changes(self, text: str):
        """Save / Discard / Cancel (a separate method so tests can answer it)."""
        return QMessageBox.question(
            self, "Unsaved changes", text,
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)

    # == screenshots ==================================================================================
    def grab_with_3d(self) -> QPixmap:
        """The whole window as a picture, with the 3D view's pixels painted in (``grab()``
        cannot see an OpenGL surface)."""
        pixmap = self.grab()
        view3d = self.view3d
        if view3d.isVisible() and view3d.mode in ("interactive", "offscreen"):
            pane = view3d.stack.currentWidget()
            image = view3d.render_image(pane.size())
            if image is not None:
                painter = QPainter(pixmap)
                target = pane.mapTo(self, pane.rect().topLeft())
                painter.drawImage(QRectF(QPointF(target), QSizeF(pane.size())), image)
                painter.end()
        return pixmap

    def export_screenshot(self, path: str | Path, guard=None) -> None:
        """Save the window as a picture (complete or absent; never over a file ``guard`` or
        the session protects)."""
        files.write_picture(path, self.grab_with_3d(), guard or files.session_guard(self.controller.session))

    def export_screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export screenshot", str(Path(self._last_folder()) / "segviewer.png"),
                                              "PNG images (*.png)")
        if path:
            try:
                self.export_screenshot(path)
            except SegviewerError as error:
                self.show_error("Screenshot", str(error))

    # == edit ==========================================================================================
    def undo(self) -> None:
        session = self.controller.session
        if session is not None:
            step = session.undo()
            if step is not None:
                self.statusBar().showMessage(f"Undo: {step.description}", 3000)
        self._update_undo_actions()

    def redo(self) -> None:
        session = self.controller.session
        if session is not None:
            step = session.redo()
            if step is not None:
                self.statusBar().showMessage(f"Redo: {step.description}", 3000)
        self._update_undo_actions()

    def _update_undo_actions(self) -> None:
        state = undo_state(self.controller.session)
        self.undo_action.setEnabled(state.can_undo)
        self.redo_action.setEnabled(state.can_redo)
        self.undo_action.setText(state.undo_text)
        self.redo_action.setText(state.redo_text)

    def _on_labels_edited(self, _box) -> None:
        self.documents.note_edit(LABELS)
        self._update_undo_actions()
        self._update_status()

    def _on_scribbles_edited(self, _box) -> None:
        self.documents.note_edit(SCRIBBLES)
        self._update_undo_actions()

    def _on_points_edited(self) -> None:
        self.documents.note_edit(POINTS)

    # == view state ======================================================================================
    def toggle_maximise(self, key: str) -> None:
        self.grid.toggle(key)

    def _on_layout_changed(self, key: str) -> None:
        self.layout_actions[key].setChecked(True)
        if key in ("", "3d"):
            self.view3d.request_render()

    def reset_views(self) -> None:
        for key in ("axial", "sagittal", "coronal"):
            self.views[key].reset_view()
        self.view3d.reset_camera()

    def _toggle_outline(self, on: bool) -> None:
        self.controller.update_display(outline=bool(on))

    def _step_opacity(self, delta: float) -> None:
        self.opacity_slider.setValue(self.opacity_slider.value() + int(round(delta * 100)))

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_box.itemText(index)
        if name != "Custom":
            self.controller.apply_preset(name)

    def _on_window_changed(self, low: float, high: float) -> None:
        width, level = self.controller.window_width_level
        match = "Custom"
        for name, (w, l) in CT_PRESETS.items():
            if abs(w - width) < 1e-3 and abs(l - level) < 1e-3:
                match = name
        self.preset_box.setCurrentText(match)

    def _on_tool_changed(self, tool) -> None:
        if tool is None:
            self.navigate_action.setChecked(True)
            return
        action = self.tools.get(tool.name)
        if action is not None:
            action.setChecked(True)

    # == session, title and status =========================================================================
    def _on_session(self, session) -> None:
        has = session is not None
        for action in (self.open_labels_action, self.save_labels_action, self.save_labels_as_action,
                       self.open_scribbles_action, self.save_scribbles_action, self.open_points_action,
                       self.save_points_action, self.screenshot_action):
            action.setEnabled(has)
        self.documents.session_changed()
        self._update_undo_actions()
        self._update_title()
        self._update_status()

    def _update_title(self, *_args) -> None:
        title, modified = window_title(self.controller.session)
        self.setWindowTitle(title)
        self.setWindowModified(modified)

    def _update_status(self, *_args) -> None:
        for key, text in status_fields(self.controller.session).items():
            self.status_labels[key].setText(text)

    def status_text(self) -> dict[str, str]:
        """The status bar's fields (voxel, world, value, label) as shown."""
        return {key: label.text() for key, label in self.status_labels.items()}

    # == dialogs ===============================================================================================
    def show_error(self, title: str, text: str) -> None:
        """A message box (never a traceback); also logged."""
        log.warning("%s: %s", title, text)
        self.statusBar().showMessage(f"{title}: {text}", 8000)
        if QApplication.platformName() == "offscreen" or getattr(self, "_quiet_errors", False):
            return
        QMessageBox.warning(self, title, text)

    def show_shortcuts(self) -> None:
        shortcuts_dialog(self, self.shortcuts).exec()

    def show_about(self) -> None:
        about_box(self)

    # == drag and drop, closing ==========================================================================
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def open_paths(self, paths: list[Path]) -> None:
        """Open dropped files: :meth:`DocumentWorkflow.open_paths`."""
        self.documents.open_paths(paths)

    def keyPressEvent(self, event) -> None:
        # Esc that no widget took (focus in a panel): the same as Esc in a slice view.
        if event.key() == Qt.Key.Key_Escape:
            self.controller.escape()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event) -> None:
        if not self.documents.confirm_discard("quit"):
            event.ignore()
            return
        self.editing.shutdown()  # autosave whatever is still unsaved
        self.save_settings()
        self.view3d.close_vtk()
        # A save still being written must finish: quitting would lose it.
        with self._wait_cursor():
            self.documents.wait_for_saves()
        background.wait_all(timeout=5.0)
        event.accept()

