"""Scribbles: foreground strokes for the active label, background strokes (class 0), and
the scribble eraser (back to "not annotated"). Written to ``session.scribbles``, never to
the label map; one stroke is one undo step on the "scribbles" layer.

Mouse: left button draws the selected class (foreground by default); Ctrl+left (or the
right button, where a view passes it on) the other class; Shift+left erases scribbles.
Works in any of the three orientations: the disc lies in the viewed slice.
"""

from __future__ import annotations

from dataclasses import dataclass

from segviewer.model.parameters import param
from segviewer.model.session import SCRIBBLES
from segviewer.tools.base import SliceEvent
from segviewer.tools.brush import BrushShapeParameters, BrushTool, brush_size

FOREGROUND = "foreground"
BACKGROUND = "background"


class ScribbleTool(BrushTool):
    """A thin brush on the scribble layer."""

    name = "scribble"
    title = "Scribble"
    help = "Left drag: selected class; Ctrl+drag: the other class; Shift+drag erases scribbles."
    shortcut = "S"

    @dataclass
    class Parameters(BrushShapeParameters):
        """Size and shape of the scribble brush, and the class the left button draws."""

        size_mm: float = brush_size(2.0, "Scribble brush diameter in millimetres")
        scribble_class: str = param(FOREGROUND, "What the left button draws: the active label, or "
                                    "background (class 0); Ctrl+drag draws the other", label="Class",
                                    choices={FOREGROUND: "Foreground (active label)", BACKGROUND: "Background"})

    def __init__(self, *values, erase: bool | None = None, **settings) -> None:
        super().__init__(*values, erase=erase, **settings)
        self._class_for_stroke = self.params.scribble_class

    def _layer(self) -> str:
        return SCRIBBLES

    def _erasing(self, event: SliceEvent) -> bool:
        return self.erase != ("shift" in event.modifiers)

    def press(self, session, event: SliceEvent) -> None:
        chosen = self.params.scribble_class
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
    help = "Left drag erases scribbles."
    shortcut = "Shift+S"
    erases = True

    @dataclass
    class Parameters(ScribbleTool.Parameters):
        """The scribble brush, wider by default for erasing."""

        size_mm: float = brush_size(4.0, "Scribble eraser diameter in millimetres")
