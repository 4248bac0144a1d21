"""The viewer of the application tier with no display: the session's edits are relayed, another
image unhooks the old one, undo says what it undid, a stroke is one press-drag-release, a
failing tool becomes a message, and Esc cancels before it leaves the tool."""

from __future__ import annotations

import numpy as np

from segviewer.app.viewer import Viewer
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import LABELS, Session
from segviewer.tools.base import SliceEvent
from segviewer.tools.brush import BrushTool


def make_session(shape=(6, 12, 10)) -> Session:
    geometry = Geometry(shape[::-1], (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return Session(ImageVolume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), geometry))


def record(viewer: Viewer) -> list[tuple[str, tuple]]:
    heard: list[tuple[str, tuple]] = []
    viewer.events.connect(lambda info: heard.append((info.signal.name, info.args)))
    return heard


def test_the_open_session_is_relayed_and_a_closed_one_is_not():
    viewer, first, second = Viewer(), make_session(), make_session()
    viewer.set_session(first)
    heard = record(viewer)
    box = (slice(1, 2), slice(3, 5), slice(2, 4))
    first.apply_layer_crop(LABELS, box, np.ones((1, 2, 2), np.uint8), "paint")
    assert ("labels_changed", (box,)) in heard
    viewer.set_session(second)
    heard.clear()
    first.apply_layer_crop(LABELS, box, np.full((1, 2, 2), 2, np.uint8), "paint")
    first.set_cursor((0, 0, 0))
    assert heard == []  # the old session is no longer heard
    second.set_cursor((1, 2, 3))
    assert heard == [("cursor_changed", ((1, 2, 3),))]
    assert viewer.cursor == (1, 2, 3)


def test_undo_and_redo_say_what_they_did():
    viewer = Viewer()
    messages = []
    viewer.events.message.connect(messages.append)
    assert viewer.undo() is None and messages == []  # no image, nothing to say
    viewer.set_session(make_session())
    viewer.session.apply_layer_crop(LABELS, (slice(0, 1), slice(0, 1), slice(0, 1)),
                                    np.ones((1, 1, 1), np.uint8), "Brush")
    assert viewer.undo().description == "Brush" and viewer.redo().description == "Brush"
    assert messages == ["Undo: Brush", "Redo: Brush"]
    assert viewer.redo() is None and len(messages) == 2


def test_a_brush_stroke_is_one_undo_step_and_the_viewer_knows_it_is_drawing():
    viewer = Viewer()
    viewer.set_session(make_session())
    viewer.set_tool(BrushTool())
    viewer.tool_press(SliceEvent((2.0, 2.0, 1.0), 0, "left"))
    assert viewer.tool_active and viewer.tool_has_pending()
    viewer.tool_drag(SliceEvent((6.0, 8.0, 1.0), 0, "left"))
    viewer.tool_release(SliceEvent((6.0, 8.0, 1.0), 0, "left"))
    assert not viewer.tool_active
    painted = viewer.session.labels.array[1].copy()
    assert painted[2, 2] == 1 and painted[8, 6] == 1
    viewer.undo()
    assert not viewer.session.labels.array.any()


class BrokenTool(BrushTool):
    name, title = "broken", "Broken"

    def press(self, session, event) -> None:
        raise RuntimeError("bug")


def test_a_failing_tool_becomes_a_message_and_escape_leaves_it():
    viewer = Viewer()
    viewer.set_session(make_session())
    errors, tools = [], []
    viewer.events.error.connect(lambda title, text: errors.append((title, text)))
    viewer.events.tool_changed.connect(tools.append)
    tool = BrokenTool()
    viewer.set_tool(tool)
    viewer.tool_press(SliceEvent((1.0, 1.0, 1.0), 0, "left"))
    assert errors == [("Tool error", "Broken: RuntimeError: bug")] and not viewer.tool_active
    viewer.escape()  # nothing pending: back to Navigate
    assert viewer.tool is None and tools == [tool, None]


def test_window_level_and_display_changes_are_announced():
    viewer = Viewer()
    heard = record(viewer)
    viewer.set_session(make_session())
    low, high = viewer.window
    assert ("window_level_changed", (low, high)) in heard
    viewer.set_window_width_level(10.0, 20.0)
    assert viewer.window == (15.0, 25.0) and heard[-1] == ("window_level_changed", (15.0, 25.0))
    viewer.update_display(label_opacity=0.25)
    assert viewer.display.label_opacity == 0.25 and heard[-1] == ("display_changed", ())
