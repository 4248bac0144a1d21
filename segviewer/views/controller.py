"""The viewer seen through Qt: :class:`ViewerController` is the app tier's
:class:`segviewer.app.viewer.Viewer` (session, cursor, active label, display settings, preview
and heat-map layers, tool dispatch, progress) with each of its events re-emitted as a Qt signal
of the same name, so widgets connect Qt slots (queued across threads, dropped with the widget).

The state and the rules live in :mod:`segviewer.app.viewer` (read its docstring for dock and
tool authors); nothing but the signals is added here.
"""

from __future__ import annotations

from psygnal import EmissionInfo
from PySide6.QtCore import QObject, Signal

from segviewer.app.viewer import Viewer


class ViewerController(Viewer, QObject):
    """A :class:`Viewer` whose events are also Qt signals (see the module docstring)."""

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
    outlines_changed = Signal()
    display_changed = Signal()
    window_level_changed = Signal(float, float)  # low, high
    progress_changed = Signal(float, str)  # fraction in [0, 1] (or < 0: busy), text
    progress_finished = Signal(str)  # final message ("" for none)
    message = Signal(str)  # a short status-bar message
    error = Signal(str, str)  # title, text: the main window shows a message box

    def __init__(self, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)
        Viewer.__init__(self)
        self.events.connect(self._relay)

    def _relay(self, info: EmissionInfo) -> None:
        getattr(self, info.signal.name).emit(*info.args)
