"""The viewer's state and dispatch with no Qt: the open session, cursor, active label, display
settings, window/level, the preview and heat-map layers, the active tool and progress.

Every widget talks to one :class:`Viewer` (in the window, through its Qt adapter
:class:`segviewer.views.controller.ViewerController`, which re-emits :class:`ViewerEvents` as Qt
signals of the same names). Headless code and tests use a :class:`Viewer` directly.

For dock authors
----------------
- Read the document from ``viewer.session`` (None before an image is open); listen to
  ``session_changed`` to rebind.
- Change labels through the session (``session.apply_layer_crop`` or a tool): the session
  records undo and emits ``labels_changed(box)``, which the viewer relays to every view.
- Show a method result before applying it with :meth:`Viewer.set_preview` (translucent, drawn
  above the labels); :meth:`Viewer.apply_preview` writes it as ONE undo step.
- Show a probability or uncertainty map with :meth:`Viewer.set_heatmap` (whole volume or a crop).
- Draw other label maps (each annotator's mask in review) as coloured outlines with
  :meth:`Viewer.set_outlines`.
- Report background progress with :meth:`Viewer.report_progress` / :meth:`Viewer.finish_progress`.

For tool authors
----------------
Slice views send :class:`~segviewer.tools.base.SliceEvent` s to the active tool: left
press/drag/release when the tool ``captures_drag`` (else a left click, and left-drag moves the
crosshair); a right click (no drag) as press+release with ``button="right"``: right-drag is
window/level. Esc calls the tool's ``cancel`` while it reports something unfinished (a drag, a
truthy ``pending`` property or a non-empty ``outline``), else returns to Navigate.
"""

from __future__ import annotations

import logging

import numpy as np
from psygnal import EmissionInfo, Signal, SignalGroup

from segviewer.app.display import looks_like_ct
from segviewer.app.view_state import (DisplaySettings, HeatmapLayer, OutlineLayer, Overlays, PreviewLayer,
                                      checked_window, default_window, percentile_window, preset_window,
                                      width_level_of, window_from_width_level)
from segviewer.errors import SegviewerError
from segviewer.model.geometry import Box
from segviewer.model.history import Step
from segviewer.model.session import Session
from segviewer.tools.base import SliceEvent, Tool

log = logging.getLogger(__name__)


class ViewerEvents(SignalGroup):
    """What the viewer announces: the session's own events (relayed under the same names) and
    the view state's."""

    session_changed = Signal(object)  # Session | None
    labels_changed = Signal(object)  # box (array order)
    scribbles_changed = Signal(object)  # box
    points_changed = Signal()
    cursor_changed = Signal(tuple)  # (i, j, k)
    dirty_changed = Signal(bool)
    label_table_changed = Signal()
    active_label_changed = Signal(int)
    tool_changed = Signal(object)  # Tool | None
    preview_changed = Signal(object)  # box that changed (old or new layer), or None
    heatmap_changed = Signal(object)  # box, or None
    outlines_changed = Signal()
    display_changed = Signal()
    window_level_changed = Signal(float, float)  # low, high
    progress_changed = Signal(float, str)  # fraction in [0, 1] (or < 0: busy), text
    progress_finished = Signal(str)  # final message ("" for none)
    message = Signal(str)  # a short status-bar message
    error = Signal(str, str)  # title, text: the window shows a message box


class Viewer:
    """Holds the session and the state shared by all views (see the module docstring)."""

    def __init__(self) -> None:
        self.events = ViewerEvents()
        self.session: Session | None = None
        self.tool: Tool | None = None
        self.display = DisplaySettings()
        self.overlays = Overlays(self.events.preview_changed.emit, self.events.heatmap_changed.emit,
                                 self.events.outlines_changed.emit)
        self.window = (0.0, 1.0)  # low, high
        self.is_ct = False
        #: True between a tool's press and its release (a stroke in progress).
        self.tool_active = False
        #: True while a mouse button is held in a slice view (the 3D view defers slow renders).
        self.dragging = False

    # -- session ------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Show ``session`` (None closes the image). Preview and heat map are dropped."""
        if self.session is not None:
            self.session.events.disconnect(self._relay_session)
        self._cancel_tool()
        self.session = session
        self.overlays.reset()
        if session is not None:
            session.events.connect(self._relay_session)
            image = session.image
            self.is_ct = looks_like_ct(image.intensity_range, image.metadata.get("modality"))
            self.window = self.default_window()
        self.events.session_changed.emit(session)
        if session is not None:
            self.events.window_level_changed.emit(*self.window)
            self.events.dirty_changed.emit(session.is_dirty)

    def _relay_session(self, info: EmissionInfo) -> None:
        getattr(self.events, info.signal.name).emit(*info.args)

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
        self.events.active_label_changed.emit(int(value))

    def replace_label_map(self, label_map, description: str = "Load labels") -> None:
        """Load a label map (one undo step)."""
        self._require_session().replace_labels(label_map, description)

    # -- undo -----------------------------------------------------------------------------
    def undo(self) -> Step | None:
        """Undo the last step (says which in the status bar); None when there is none."""
        return self._replay("Undo", None if self.session is None else self.session.undo)

    def redo(self) -> Step | None:
        return self._replay("Redo", None if self.session is None else self.session.redo)

    def _replay(self, what: str, replay) -> Step | None:
        step = replay() if replay is not None else None
        if step is not None:
            self.events.message.emit(f"{what}: {step.description}")
        return step

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
            self.events.window_level_changed.emit(*self.window)

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
        self.events.display_changed.emit()

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

    def apply_preview(self) -> Step | None:
        """Write the preview into the labels as ONE undo step; returns the step (or None)."""
        return self.overlays.apply_preview(self.session)

    def set_heatmap(self, values: np.ndarray, box: Box | None = None, low: float = 0.0,
                    high: float = 1.0, colormap: str = "inferno", name: str = "probability") -> None:
        """Show a scalar map (full volume when ``box`` is None)."""
        self.overlays.set_heatmap(self._require_session(), values, box, low, high, colormap, name)

    def clear_heatmap(self) -> None:
        self.overlays.clear_heatmap()

    @property
    def outlines(self) -> list[OutlineLayer]:
        return self.overlays.outlines

    def set_outlines(self, layers: list[OutlineLayer]) -> None:
        """Draw label maps as coloured outlines above the labels (review: one per annotator)."""
        self.overlays.set_outlines(self._require_session(), layers)

    def clear_outlines(self) -> None:
        self.overlays.clear_outlines()

    # -- progress and messages ---------------------------------------------------------------
    def report_progress(self, fraction: float, text: str = "") -> None:
        """Show background progress (call on the GUI thread; fraction < 0 = busy)."""
        self.events.progress_changed.emit(float(fraction), text)

    def finish_progress(self, text: str = "") -> None:
        self.events.progress_finished.emit(text)

    def show_message(self, text: str) -> None:
        """A short status-bar message."""
        self.events.message.emit(text)

    # -- tools ------------------------------------------------------------------------------
    def set_tool(self, tool: Tool | None) -> None:
        """Make ``tool`` the active tool (None = navigate: left-drag moves the crosshair)."""
        if tool is self.tool:
            return
        self._cancel_tool()
        self.tool = tool
        self.events.tool_changed.emit(tool)

    @property
    def tool_captures_drag(self) -> bool:
        return self.tool is not None and bool(self.tool.captures_drag)

    def tool_press(self, event: SliceEvent) -> None:
        if self._call_tool("press", event):
            self.tool_active = True

    def tool_drag(self, event: SliceEvent) -> None:
        if self.tool_active:
            self._call_tool("drag", event)

    def tool_release(self, event: SliceEvent) -> None:
        if self.tool_active:
            self.tool_active = False
            self._call_tool("release", event)

    def _cancel_tool(self) -> None:
        if self.tool is not None and self.session is not None:
            self.tool_active = False
            try:
                self.tool.cancel(self.session)
            except Exception:  # a tool bug must not take the viewer down
                log.exception("tool %s failed to cancel", self.tool.name)

    def cancel_tool(self) -> None:
        """Abandon the active tool's unfinished interaction (the tool stays active)."""
        self._cancel_tool()

    def tool_has_pending(self) -> bool:
        """Whether the active tool is in the middle of something: a drag, its ``pending`` flag
        or a non-empty ``outline`` (a polygon being drawn)."""
        tool = self.tool
        return tool is not None and (self.tool_active or bool(tool.pending) or bool(tool.outline))

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
            self.tool_active = False
            self.events.message.emit(str(error))
        except Exception as error:  # never crash the GUI from a tool; say what happened
            self.tool_active = False
            log.exception("tool %s failed on %s", self.tool.name, what)
            self.events.error.emit("Tool error", f"{self.tool.title}: {type(error).__name__}: {error}")
        return False

    # -- helpers ------------------------------------------------------------------------------
    def _require_session(self) -> Session:
        if self.session is None:
            raise SegviewerError("no image is open")
        return self.session
