"""The interface between slice views and interaction tools.

Views translate mouse events into :class:`SliceEvent` (a continuous voxel index and the
slice orientation) and hand them to the active :class:`Tool`; tools change the session
(recording undo steps) and never know about Qt.

A tool owns its settings the way a method does: a ``Parameters`` dataclass of
:func:`~segviewer.model.parameters.param` fields (the tool options dock is generated from
it) held in ``tool.params``, and a one-line ``help``. What only some tools can do (an
unfinished outline, a size the +/− keys change, Enter to finish) is declared here as
no-op hooks, so views call them on any tool instead of asking what it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import Signal

#: Array axis normal to each slice orientation (arrays are indexed [k, j, i]).
AXIAL, CORONAL, SAGITTAL = 0, 1, 2
ORIENTATION_NAMES = {AXIAL: "axial", CORONAL: "coronal", SAGITTAL: "sagittal"}


@dataclass(frozen=True)
class SliceEvent:
    """A mouse event on a slice view, in voxel coordinates.

    Attributes
    ----------
    index : (i, j, k)
        Continuous voxel index under the mouse (voxel centres are integers).
    axis : int
        Array axis normal to the viewed slice: 0 = axial (k), 1 = coronal (j), 2 = sagittal (i).
    button : str
        "left", "right" or "middle".
    modifiers : frozenset
        Any of "shift", "ctrl", "alt".
    """

    index: tuple[float, float, float]
    axis: int
    button: str = "left"
    modifiers: frozenset = field(default_factory=frozenset)

    @property
    def voxel(self) -> tuple[int, int, int]:
        """Nearest voxel index (i, j, k)."""
        return tuple(int(round(v)) for v in self.index)  # type: ignore[return-value]


class Tool:
    """Base class of interaction tools; subclasses override what they need.

    A whole press-drag-release is ONE undo step: tools open an edit on press and
    close it on release. ``Tool(**settings)`` (or positional values in the order of the
    ``Parameters`` fields) sets ``tool.params``; a subclass with its own ``__init__`` calls
    ``super().__init__(...)`` so that the options dock finds them.
    """

    name = "tool"
    title = "Tool"
    #: How to use the tool, in one or two lines (shown above its options).
    help = ""
    #: Keyboard shortcut following ITK-SNAP/Slicer where one exists.
    shortcut: str | None = None
    #: Whether left-drag on a view belongs to this tool (else it moves the crosshair).
    captures_drag = True
    #: True while the tool holds an unfinished action besides a drag or an outline (Esc cancels it).
    pending = False

    @dataclass
    class Parameters:
        """The tool's settings (none by default)."""

    #: Emitted with no arguments when :attr:`outline` changes (views redraw it).
    outline_changed = Signal()

    def __init__(self, *values, **settings) -> None:
        #: The current settings, an instance of :attr:`Parameters` (the options dock edits it).
        self.params = self.Parameters(*values, **settings)

    @property
    def outline(self) -> list[tuple[float, float, float]]:
        """Vertices, as continuous (i, j, k) indices, of an outline being drawn and not yet
        filled (a polygon); empty for tools that draw none."""
        return []

    def finish(self, session):
        """Complete an unfinished interaction (Enter closes a polygon); returns its undo step,
        or None. Most tools finish on release and have nothing left to do."""
        return None

    def resize(self, delta_mm: float) -> float | None:
        """Grow (or, negative, shrink) the tool by ``delta_mm`` (the +/− keys); returns the
        new size in mm, or None for a tool without a size."""
        return None

    def press(self, session, event: SliceEvent) -> None:
        pass

    def drag(self, session, event: SliceEvent) -> None:
        pass

    def release(self, session, event: SliceEvent) -> None:
        pass

    def cancel(self, session) -> None:
        """Abandon an unfinished interaction (e.g. Escape during a polygon)."""
