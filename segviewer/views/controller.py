"""The viewer controller: the model :class:`Session` seen through Qt signals, plus view state.

Every widget (slice views, 3D view, docks added by other modules) talks to one
:class:`ViewerController`. It forwards the session's plain events as Qt signals, owns what is
shown but is not part of the document (window/level, overlay opacity and mode, the preview and
heat-map layers) and routes slice-view mouse events to the active tool.

For dock authors
----------------
- Read the document from ``controller.session`` (None before an image is open); listen to
  ``session_changed`` to rebind.
- Change labels through the session (``session.apply_layer_crop`` or a tool): the session
  records undo and emits ``labels_changed(box)`` which every view follows.
- Show a method result before applying it with :meth:`ViewerController.set_preview`
  (translucent, drawn above the labels); :meth:`apply_preview` writes it as ONE undo step.
- Show a probability or uncertainty map with :meth:`set_heatmap` (whole volume or a crop).
- Report background progress with :meth:`report_progress` / :meth:`finish_progress`; the main
  window shows it in the status bar.

For tool authors
----------------
Slice views send :class:`SliceEvent` s to ``controller.tool``: left press/drag/release when the
tool ``captures_drag`` (else a left click, and left-drag moves the crosshair); a right click
(no drag) as press+release with ``button="right"``: right-drag is window/level. Esc calls the
tool's ``cancel`` while it reports something unfinished (a drag, a truthy ``pending`` property
or a non-empty ``outline``), else returns to Navigate.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal

from segviewer.app.display import looks_like_ct
from segviewer.app.view_state import (DisplaySettings, HeatmapLayer, Overlays, PreviewLayer,
                                      checked_window, default_window, percentile_window, preset_window,
                                      width_level_of, window_from_width_level)
from segviewer.errors import SegviewerError
from segviewer.model.geometry import Box
from segviewer.model.session import Session
from segviewer.tools.base import SliceEvent, Tool

log = logging.getLogger(__name__)


class ViewerController(QObject):
    """Holds the session and the state shared by all views (see the module docstring)."""

    session_changed = Signal(object)  # Session | None
    labels_changed = Signal(object)  # box (array order)
    scribbles_changed = Signal(object)  # box
    points_changed = Signal()
    cursor_changed = Signal(object)  # (i, j, k)
    dirty_changed = Signal(bool)
    label_table_changed = Signal()
    active_label_changed = Signal(int)
    tool_changed = Signal(object)  # Tool | None
    preview_changed = Signal(object)  # box that changed (old or new layer), or None
    heatmap_changed = Signal(object)  # box, or None
    display_changed = Signal()
    window_level_changed = Signal(float, float)  # low, high
    progress_changed = Signal(float, str)  # fraction in [0, 1] (or < 0: busy), text
    progress_finished = Signal(str)  # final message ("" for none)
    message = Signal(str)  # a short status-bar message
    error = Signal(str, str)  # title, text: the main window shows a message box

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.tool: Tool | None = None
        self.display = DisplaySettings()
        self.overlays = Overlays(self.preview_changed.emit, self.heatmap_changed.emit)
        self.window = (0.0, 1.0)  # low, high
        self.is_ct = False
        self._tool_active = False
        #: True while a mouse button is held in a slice view (the 3D view defers slow renders).
        self.dragging = False

    # -- session ------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Show ``session`` (None closes the image). Preview and heat map are dropped."""
        old = self.session
        if old is not None:
            old.labels_changed.disconnect(self._on_labels)
            old.scribbles_changed.disconnect(self._on_scribbles)
            old.points_changed.disconnect(self._on_points)
            old.cursor_changed.disconnect(self._on_cursor)
            old.dirty_changed.disconnect(self._on_dirty)
            old.label_table.changed.disconnect(self._on_table)
        self._cancel_tool()
        self.session = session
        self.overlays.reset()
        if session is not None:
            session.labels_changed.connect(self._on_labels)
            session.scribbles_changed.connect(self._on_scribbles)
            session.points_changed.connect(self._on_points)
            session.cursor_changed.connect(self._on_cursor)
            session.dirty_changed.connect(self._on_dirty)
            session.label_table.changed.connect(self._on_table)
            image = session.image
            self.is_ct = looks_like_ct(image.intensity_range, image.metadata.get("modality"))
            self.window = self.default_window()
        self.session_changed.emit(session)
        if session is not None:
            self.window_level_changed.emit(*self.window)
            self.dirty_changed.emit(session.is_dirty)

    def _on_labels(self, box: Box) -> None:
        self.labels_changed.emit(box)

    def _on_scribbles(self, box: Box) -> None:
        self.scribbles_changed.emit(box)

    def _on_points(self) -> None:
        self.points_changed.emit()

    def _on_cursor(self, index) -> None:
        self.cursor_changed.emit(index)

    def _on_dirty(self, dirty: bool) -> None:
        self.dirty_changed.emit(dirty)

    def _on_table(self) -> None:
        # The label table object can be swapped by replace_labels(); it keeps its identity
        # (replace_all), so one connection is enough.
        self.label_table_changed.emit()

    # -- cursor and labels ----------------------------------------------------------------
    @property
    def cursor(self) -> tuple[int, int, int] | None:
        return None if self.session is None else self.session.cursor

    def set_cursor(self, index) -> None:
        if self.session is not None:
            self.session.set_cursor(tuple(int(round(v)) for v in index))

    @property
    def active_label(self) -> int:
        return 1 if self.session is None else self.session.active_label

    def set_active_label(self, value: int) -> None:
        if self.session is None or value == self.session.active_label:
            return
        self.session.active_label = int(value)
        self.active_label_changed.emit(int(value))

    def replace_label_map(self, label_map, description: str = "Load labels") -> None:
        """Load a label map (one undo step) and rebind the label table signal."""
        self._require_session().replace_labels(label_map, description)

    # -- window / level -------------------------------------------------------------------
    def default_window(self) -> tuple[float, float]:
        """Soft-tissue window for CT, 0.5-99.5 % percentiles otherwise (MR, PET, ...)."""
        if self.session is None:
            return (0.0, 1.0)
        return default_window(self.session.image, self.is_ct)

    def set_window_level(self, low: float, high: float) -> None:
        window = checked_window(low, high)
        if window != self.window:
            self.window = window
            self.window_level_changed.emit(*self.window)

    def set_window_width_level(self, width: float, level: float) -> None:
        self.set_window_level(*window_from_width_level(width, level))

    @property
    def window_width_level(self) -> tuple[float, float]:
        return width_level_of(self.window)

    def apply_preset(self, name: str) -> None:
        """A CT preset by name, or "Auto" for the percentile window."""
        if name == "Auto":
            if self.session is not None:
                self.set_window_level(*percentile_window(self.session.image))
        else:
            self.set_window_level(*preset_window(name))

    # -- display settings -----------------------------------------------------------------
    def update_display(self, **changes) -> None:
        """Change overlay settings (fields of :class:`DisplaySettings`)."""
        self.display.update(**changes)
        self.display_changed.emit()

    # -- preview and heat-map layers (app.view_state.Overlays) ----------------------------------
    @property
    def preview(self) -> PreviewLayer | None:
        return self.overlays.preview

    @property
    def heatmap(self) -> HeatmapLayer | None:
        return self.overlays.heatmap

    def set_preview(self, labels: np.ndarray, box: Box, where: np.ndarray | None = None,
                    description: str = "Apply result") -> None:
        """Show a proposed label crop on ``box``; replaces any previous preview."""
        self.overlays.set_preview(self._require_session(), labels, box, where, description)

    def clear_preview(self) -> None:
        self.overlays.clear_preview()

    def apply_preview(self):
        """Write the preview into the labels as ONE undo step; returns the step (or None)."""
        return self.overlays.apply_preview(self.session)

    def set_heatmap(self, values: np.ndarray, box: Box | None = None, low: float = 0.0,
                    high: float = 1.0, colormap: str = "inferno", name: str = "probability") -> None:
        """Show a scalar map (full volume when ``box`` is None)."""
        self.overlays.set_heatmap(self._require_session(), values, box, low, high, colormap, name)

    def clear_heatmap(self) -> None:
        self.overlays.clear_heatmap()

    # -- progress -------------------------------------------------------------------------
    def report_progress(self, fraction: float, text: str = "") -> None:
        """Show background progress (call on the GUI thread; fraction < 0 = busy)."""
        self.progress_changed.emit(float(fraction), text)

    def finish_progress(self, text: str = "") -> None:
        self.progress_finished.emit(text)

    # -- tools ------------------------------------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        """Make ``tool`` the active tool (None = navigate: left-drag moves the crosshair)."""
        if tool is self.tool:
            return
        self._cancel_tool()
        self.tool = tool
        self.tool_changed.emit(tool)

    @property
    def tool_captures_drag(self) -> bool:
        return self.tool is not None and bool(getattr(self.tool, "captures_drag", True))

    def tool_press(self, event: SliceEvent) -> None:
        if self._call_tool("press", event):
            self._tool_active = True

    def tool_drag(self, event: SliceEvent) -> None:
        if self._tool_active:
            self._call_tool("drag", event)

    def tool_release(self, event: SliceEvent) -> None:
        if self._tool_active:
            self._tool_active = False
            self._call_tool("release", event)

    def _cancel_tool(self) -> None:
        if self.tool is not None and self.session is not None:
            self._tool_active = False
            try:
                self.tool.cancel(self.session)
            except Exception:  # a tool bug must not take the viewer down
                log.exception("tool %s failed to cancel", self.tool.name)

    def cancel_tool(self) -> None:
        """Abandon the active tool's unfinished interaction (the tool stays active)."""
        self._cancel_tool()

    def tool_has_pending(self) -> bool:
        """Whether the active tool is in the middle of something: a drag, or what the tool
        reports through an optional ``pending`` property (or a non-empty ``outline``, as a
        polygon being drawn)."""
        tool = self.tool
        if tool is None:
            return False
        if self._tool_active or bool(getattr(tool, "pending", False)):
            return True
        try:
            return bool(getattr(tool, "outline", None))
        except Exception:  # a property that needs a session, etc.
            return False

    def escape(self) -> None:
        """Esc: cancel the tool's unfinished action; with nothing pending, back to Navigate
        (as Esc deselects an effect in Slicer's Segment Editor)."""
        if self.tool_has_pending():
            self._cancel_tool()
        else:
            self.set_tool(None)

    def _call_tool(self, what: str, event: SliceEvent) -> bool:
        if self.tool is None or self.session is None:
            return False
        try:
            getattr(self.tool, what)(self.session, event)
            return True
        except SegviewerError as error:
            self._tool_active = False
            self.message.emit(str(error))
        except Exception as error:  # never crash the GUI from a tool; say what happened
            self._tool_active = False
            log.exception("tool %s failed on %s", self.tool.name, what)
            self.error.emit("Tool error", f"{self.tool.title}: {type(error).__name__}: {error}")
        return False

    # -- helpers ------------------------------------------------------------------------------
    def _require_session(self) -> Session:
        if self.session is None:
            raise SegviewerError("no image is open")
        return self.session

