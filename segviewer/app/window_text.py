"""The texts the main window shows about the session, with no Qt: its title, the status-bar
fields at the cursor and the Undo / Redo menu entries."""

from __future__ import annotations

from dataclasses import dataclass

from segviewer import __version__

APP_NAME = "segviewer"
#: The status bar's fields, left to right.
STATUS_FIELDS = ("voxel", "world", "value", "label")


def window_title(session) -> tuple[str, bool]:
    """(title, modified): the image and labels file names; ``[*]`` is where Qt puts the
    unsaved-changes marker when ``modified``."""
    if session is None:
        return f"{APP_NAME} {__version__}", False
    name = session.image.name
    if session.labels_path is not None:
        name += f" — {session.labels_path.name}"
    return f"{name}[*] — {APP_NAME}", session.is_dirty


def status_fields(session) -> dict[str, str]:
    """The status bar at the cursor: voxel index, LPS position, image value, label and its name
    (all empty with no image)."""
    if session is None:
        return dict.fromkeys(STATUS_FIELDS, "")
    i, j, k = session.cursor
    x, y, z = session.geometry.index_to_physical((i, j, k))
    value = session.image.value_at((i, j, k))
    label = session.labels.value_at((i, j, k))
    return {"voxel": f"Voxel ({i}, {j}, {k})", "world": f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm",
            "value": f"Value {value:g}", "label": f"Label {label}: {session.label_table.name_of(label)}"}


@dataclass(frozen=True)
class UndoState:
    """What the Undo and Redo entries say and whether they can be used."""

    can_undo: bool
    undo_text: str
    can_redo: bool
    redo_text: str


def undo_state(session) -> UndoState:
    history = session.history if session is not None else None  # (a History is falsy when empty)
    can_undo = history is not None and history.can_undo
    can_redo = history is not None and history.can_redo
    return UndoState(can_undo, f"&Undo {history.undo_description}" if can_undo else "&Undo",
                     can_redo, f"&Redo {history.redo_description}" if can_redo else "&Redo")
