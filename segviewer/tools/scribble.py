"""Scribbles: foreground strokes for the active label, background strokes (class 0), and
the scribble eraser (back to "not annotated"). Written to ``session.scribbles``, never to
the label map; one stroke is one undo step on the "scribbles" layer.

Mouse: left button draws the selected class (foreground by default); Ctrl+left (or the
right button, where a view passes it on) the other class; Shift+left erases scribbles.
Works in any of the three orientations: the disc lies in the viewed slice.
"""

from __future__ import annotations

from segviewer.model.session import SCRIBBLES
from segviewer.tools.base import SliceEvent
from segviewer.tools.brush import BrushTool

FOREGROUND = "foreground"
BACKGROUND = "background"


class ScribbleTool(BrushTool):
    """A thin brush on the scribble layer."""

    name = "scribble"
    title = "Scribble"
    shortcut = "S"

    def __init__(self, size_mm: float = 2.0, sphere: bool = False,
                 scribble_class: str = FOREGROUND, erase: bool = False) -> None:
        super().__init__(size_mm=size_mm, sphere=sphere, erase=erase)
        #: "foreground" (the active label) or "background" (class 0) for the left button.
        self.scribble_class = scribble_class
        self._class_for_stroke = scribble_class

    def _layer(self) -> str:
        return SCRIBBLES

    def _erasing(self, event: SliceEvent) -> bool:
        return self.erase != ("shift" in event.modifiers)

    def press(self, session, event: SliceEvent) -> None:
        chosen = self.scribble_class
        if event.button == "right" or "ctrl" in event.modifiers:
            chosen = BACKGROUND if chosen == FOREGROUND else FOREGROUND
        self._class_for_stroke = chosen
        super().press(session, event)

    def _prepare(self, session, erasing: bool) -> None:
        if not erasing and self._class_for_stroke == FOREGROUND:
            session.scribbles.widen_if_needed(int(session.active_label))

    def _value(self, session, erasing: bool) -> int:
        if erasing:
            return session.scribbles.unannotated
        return int(session.active_label) if self._class_for_stroke == FOREGROUND else 0

    def _allowed(self, session, erasing: bool):
        return None  # scribbles draw over scribbles; locks protect the label map only

    def _description(self, erasing: bool) -> str:
        if erasing:
            return "Erase scribbles"
        return "Scribble foreground" if self._class_for_stroke == FOREGROUND else "Scribble background"


class ScribbleEraserTool(ScribbleTool):
    """Erases scribbles (Shift+left draws instead)."""

    name = "scribble_eraser"
    title = "Scribble eraser"
    shortcut = "Shift+S"

    def __init__(self, size_mm: float = 4.0, sphere: bool = False) -> None:
        super().__init__(size_mm=size_mm, sphere=sphere, erase=True)
