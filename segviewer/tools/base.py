"""The interface between slice views and interaction tools.

Views translate mouse events into :class:`SliceEvent` (a continuous voxel index and the
slice orientation) and hand them to the active :class:`Tool`; tools change the session
(recording undo steps) and never know about Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    close it on release.
    """

    name = "tool"
    title = "Tool"
    #: Keyboard shortcut following ITK-SNAP/Slicer where one exists.
    shortcut: str | None = None
    #: Whether left-drag on a view belongs to this tool (else it moves the crosshair).
    captures_drag = True

    def press(self, session, event: SliceEvent) -> None:
        pass

    def drag(self, session, event: SliceEvent) -> None:
        pass

    def release(self, session, event: SliceEvent) -> None:
        pass

    def cancel(self, session) -> None:
        """Abandon an unfinished interaction (e.g. Escape during a polygon)."""
