"""The main window: 2x2 views, menus, toolbar, status bar, docks; layout and wiring.

The workflows live in the application tier (no Qt) and are wired here with Qt parts: the
viewer's state and tool dispatch in :mod:`segviewer.app.viewer` (``self.controller``, its Qt
adapter), computing in :mod:`segviewer.app.compute` (the method panel's ``compute``), files in
and out, the discard prompt and recent files in :class:`segviewer.app.documents.DocumentWorkflow`
(Qt ports and dialogs: :mod:`segviewer.views.window_files`), autosave in
:mod:`segviewer.app.autosave` (through :mod:`segviewer.views.editing`), the title and status
texts in :mod:`segviewer.app.window_text`. Toolbars, status fields and the recent menu are in
:mod:`segviewer.views.window_parts`, the saved window state in :mod:`segviewer.views.window_state`.

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
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMessageBox, QWidget

from segviewer.app.documents import POINTS, DocumentWorkflow
from segviewer.app.window_text import APP_NAME, undo_state, window_title
from segviewer.model.session import LABELS, SCRIBBLES
from segviewer.views import background, files
from segviewer.views.actions import SESSION_ACTIONS, VIEW_SHORTCUTS, create_actions, create_menus
from segviewer.views.controller import ViewerController
from segviewer.views.help_dialogs import about_box, shortcuts_dialog
from segviewer.views.linked_views import ViewLink
from segviewer.views.slice_view import SliceView
from segviewer.views.view3d import View3D
from segviewer.views.window_parts import (ProgressArea, StatusFields, ViewGrid, ViewToolBar, fill_recent_menu,
                                          grab_with_3d, main_toolbar)
from segviewer.views.window_files import file_ports, wait_cursor
from segviewer.views.window_state import restore_window_state, save_window_state

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """The segviewer main window (see the module docstring for extending it)."""

    session_loaded = Signal()

    def __init__(self, settings: QSettings | None = None, view3d_mode: str | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.controller = ViewerController(self)
        self.documents = DocumentWorkflow(self.controller, self.settings, file_ports(self))
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
        self.view_link = ViewLink(self.controller, [self.views[key] for key in ("axial", "sagittal", "coronal")])
        self.grid.layout_changed.connect(self._on_layout_changed)
        self.setCentralWidget(self.grid)

        create_actions(self)
        create_menus(self)
        self._create_toolbar()
        self._create_status_bar()
        self._create_tools()
        self._create_docks()
        self.shortcuts.extend(VIEW_SHORTCUTS)

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
        self._state_restored = restore_window_state(self)
        self._refresh_recent_menu()
        self._on_session(None)

    # == docks and tools: the extension points ==============================================
    def _create_docks(self) -> None:
        """One line per dock (see the module docstring). Docks exist only for real widgets."""
        from segviewer.views.campaign_dock import CampaignDock
        from segviewer.views.compute import JobList
        from segviewer.views.editing import EditingSupport
        from segviewer.views.label_table import LabelTablePanel
        from segviewer.views.measurements_dock import MeasurementsDock
        from segviewer.views.method_panel import MethodPanel
        from segviewer.views.metrics_panel import MetricsPanel
        from segviewer.views.pacs_dock import PacsDock
        from segviewer.views.review_dock import ReviewDock
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
        self.add_dock("measurements", MeasurementsDock(self.controller, self.views.values(), self.add_tool),
                      title="Measurements")
        self.add_dock("review", ReviewDock(self.controller, window=self), title="Review")
        self.add_dock("pacs", PacsDock(self.controller, self.open_image, lambda path: self.documents.load_layer(
            LABELS, path)), Qt.DockWidgetArea.LeftDockWidgetArea, title="PACS").hide()  # File > Open from PACS
        self.editing = EditingSupport(self, self.label_panel, self.tool_panel)
        self.add_dock("campaign", CampaignDock(self), Qt.DockWidgetArea.LeftDockWidgetArea, title="Campaign").hide()

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

    # == toolbars and status bar (actions and menus: views/actions.py) ==========================
    def _create_toolbar(self) -> None:
        self.tool_bar, self.tool_group = main_toolbar(self)
        self.view_bar = ViewToolBar(self.controller, self.layout_actions, self.outline_action, self)
        self.preset_box, self.opacity_slider = self.view_bar.preset_box, self.view_bar.opacity_slider
        for bar in (self.tool_bar, self.view_bar):
            self.addToolBar(bar)
            self.menus["toolbars"].addAction(bar.toggleViewAction())

    def _create_status_bar(self) -> None:
        self.status_fields = StatusFields(self.statusBar())
        self.progress = ProgressArea()
        self.statusBar().addPermanentWidget(self.progress)

    # == settings and recent files ===============================================================
    def save_settings(self) -> None:
        save_window_state(self)

    def recent_files(self) -> list[str]:
        return self.documents.recent.paths()

    def _refresh_recent_menu(self) -> None:
        fill_recent_menu(self.recent_menu, self.recent_files(), self.open_image, self.documents.recent.clear)

    # == files: the app tier's DocumentWorkflow with Qt ports (views/window_files.py) ============
    def load(self, image: str | Path, labels: str | Path | None = None, scribbles: str | Path | None = None,
             points: str | Path | None = None, block: bool = False) -> None:
        """Open ``image`` (and optional layers): :meth:`DocumentWorkflow.load`."""
        self.documents.load(image, labels, scribbles, points, block=block)

    def open_image(self, path: str | Path) -> None:
        self.documents.open_image(path)

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
        """The whole window as a picture, with the 3D view painted in."""
        return grab_with_3d(self, self.view3d)

    def export_screenshot(self, path: str | Path, guard=None) -> None:
        """Save the window as a picture (complete or absent; never over a file ``guard`` or
        the session protects)."""
        files.write_picture(path, self.grab_with_3d(), guard or files.session_guard(self.controller.session))

    # == edit ==========================================================================================
    def undo(self) -> None:
        self.controller.undo()
        self._update_undo_actions()

    def redo(self) -> None:
        self.controller.redo()
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
        self._update_undo_actions()

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

    def _on_tool_changed(self, tool) -> None:
        if tool is None:
            self.navigate_action.setChecked(True)
            return
        action = self.tools.get(tool.name)
        if action is not None:
            action.setChecked(True)

    # == session, title and status =========================================================================
    def _on_session(self, session) -> None:
        for name in SESSION_ACTIONS:
            getattr(self, f"{name}_action").setEnabled(session is not None)
        self.documents.session_changed()
        self._update_undo_actions()
        self._update_title()
        self._update_status()

    def _update_title(self, *_args) -> None:
        title, modified = window_title(self.controller.session)
        self.setWindowTitle(title)
        self.setWindowModified(modified)

    def _update_status(self, *_args) -> None:
        self.status_fields.show(self.controller.session)

    def status_text(self) -> dict[str, str]:
        """The status bar's fields (voxel, world, value, label) as shown."""
        return self.status_fields.texts()

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
        with wait_cursor():
            self.documents.wait_for_saves()
        background.wait_all(timeout=5.0)
        event.accept()

