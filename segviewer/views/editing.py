"""Editing support for the main window: shortcuts, autosave and crash recovery.

:class:`EditingSupport` is created once by the main window. It

- adds the editing shortcuts (ITK-SNAP / Slicer habits where they exist): 1–9 pick a label,
  "," / "." the previous / next label, "+" / "−" change the brush size, Enter closes a
  polygon, Ctrl+I previews fill-between-slices;
- autosaves labels, scribbles and points to the recovery folder every minute of editing
  (:class:`segviewer.io.recovery.Autosaver`, written on a background thread) and at quit;
- when an image is opened that has an autosaved snapshot (a crash, or a quit without
  saving), offers to restore it (:meth:`ask_restore` — tests replace it).

The recovery folder is ``$SEGVIEWER_RECOVERY_DIR`` when set, else the settings key
``recovery/folder``, else — when the window runs on a settings *file* of its own (a
portable profile, or a test) — ``recovery/`` beside that file, else
``~/.local/state/segviewer/recovery``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from segviewer.app.autosave import AUTOSAVE_INTERVAL_S, AutosaveWorkflow
from segviewer.io.recovery import RECOVERY_ENV, RecoveryStore, default_recovery_root

#: How often the autosave timer looks for unsaved edits (the save itself waits a minute).
TICK_MS = 5000
BRUSH_STEP_MM = 1.0


def recovery_root_for(settings: QSettings) -> Path:
    """Where this window's recovery snapshots live (see the module docstring)."""
    if os.environ.get(RECOVERY_ENV):
        return default_recovery_root()
    configured = settings.value("recovery/folder")
    if configured:
        return Path(str(configured))
    if settings.format() == QSettings.Format.IniFormat and settings.fileName():
        return Path(settings.fileName()).parent / "recovery"
    return default_recovery_root()


class EditingSupport(QObject):
    """Shortcuts, autosave and recovery for a :class:`MainWindow` (see the module docstring)."""

    def __init__(self, window, label_panel=None, tool_panel=None,
                 interval_s: float = AUTOSAVE_INTERVAL_S) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.label_panel = label_panel
        self.tool_panel = tool_panel
        # ask_restore is looked up at each call, so tests can answer it
        self.autosave = AutosaveWorkflow(
            self.controller, RecoveryStore(recovery_root_for(window.settings)),
            ask_restore=lambda snapshot: self.ask_restore(snapshot),
            show_error=lambda title, text: window.show_error(title, text),
            show_message=lambda text, msec: window.statusBar().showMessage(text, msec),
            interval_s=interval_s, defer=lambda call: QTimer.singleShot(0, call))
        self.actions: list[QAction] = []
        self._install_shortcuts()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.controller.session_changed.connect(self.autosave.session_changed)
        self.autosave.session_changed(self.controller.session)

    # == shortcuts ========================================================================
    def _add(self, text: str, keys: list[str], slot, description: str, group: str = "Editing") -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        self.window.addAction(action)
        self.actions.append(action)
        self.window.register_shortcut(" / ".join(keys), description, group)
        return action

    def _install_shortcuts(self) -> None:
        if self.label_panel is not None:
            for action, keys, description in self.label_panel.actions_for(self.window):
                self.window.addAction(action)
                self.actions.append(action)
                self.window.register_shortcut(keys, description, "Labels")
        self._add("Larger brush", ["+", "="], lambda: self.step_brush(+1), "Brush / scribble size + 1 mm")
        self._add("Smaller brush", ["-"], lambda: self.step_brush(-1), "Brush / scribble size − 1 mm")
        self.close_polygon_action = self._add("Close polygon", ["Return", "Enter"], self.finish_tool,
                                              "Close and fill the polygon being drawn")
        # Only while an outline is being drawn, so Enter keeps its meaning everywhere else.
        self.close_polygon_action.setEnabled(False)
        self._outline_tool = None
        self.controller.tool_changed.connect(self._on_tool)
        self._add("Fill between slices", ["Ctrl+I"], self.preview_interpolation,
                  "Preview fill between slices of the active label (Ctrl+Return applies)")
        for keys, text in (("Shift+drag (brush)", "Erase with the brush"),
                           ("Ctrl+drag (scribble)", "Scribble the other class (background)"),
                           ("Shift+drag (scribble)", "Erase scribbles"),
                           ("Shift+click (points)", "Negative point"),
                           ("Ctrl+click (points)", "Remove the nearest point"),
                           ("Shift (polygon, fill)", "Cut / fill with 0 instead of the active label")):
            self.window.register_shortcut(keys, text, "Tools")

    def _on_tool(self, tool) -> None:
        if self._outline_tool is not None:
            self._outline_tool.outline_changed.disconnect(self._update_close_action)
        self._outline_tool = tool
        if tool is not None:  # every tool declares the signal; most never emit it
            tool.outline_changed.connect(self._update_close_action)
        self._update_close_action()

    def _update_close_action(self) -> None:
        tool = self._outline_tool
        self.close_polygon_action.setEnabled(tool is not None and len(tool.outline) >= 3)

    def step_brush(self, direction: int) -> None:
        tool = self.controller.tool
        size = None if tool is None else tool.resize(direction * BRUSH_STEP_MM)
        if size is None:  # no tool, or one without a size
            return
        if self.tool_panel is not None:
            self.tool_panel.refresh_options()
        self.window.statusBar().showMessage(f"{tool.title} size {size:g} mm", 2000)

    def finish_tool(self) -> None:
        tool = self.controller.tool
        session = self.controller.session
        if tool is not None and session is not None:
            tool.finish(session)

    def preview_interpolation(self) -> None:
        if self.tool_panel is not None:
            self.tool_panel.preview_interpolation()

    # == autosave and recovery: the app tier's AutosaveWorkflow, with a Qt timer and dialog ======
    @property
    def autosaver(self):
        return self.autosave.autosaver

    @property
    def store(self) -> RecoveryStore:
        return self.autosave.store

    def tick(self) -> None:
        self.autosave.tick()

    def flush(self) -> None:
        """Save unsaved work now (the window calls this when it closes)."""
        self.autosave.flush()

    def shutdown(self) -> None:
        self.timer.stop()
        self.autosave.shutdown()

    def offer_restore(self, session) -> bool:
        """If ``session``'s image has an autosaved snapshot, ask to restore it."""
        return self.autosave.offer_restore(session)

    def ask_restore(self, snapshot) -> str:
        """"restore", "discard" or "later" (tests replace this)."""
        if QApplication.platformName() == "offscreen":
            return "later"
        box = QMessageBox(self.window)
        box.setWindowTitle("Recover unsaved work")
        box.setText("segviewer found work on this image that was not saved:\n"
                    f"{snapshot.describe()}.\n\nRestore it?")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"
