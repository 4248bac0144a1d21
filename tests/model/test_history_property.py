"""Property test of undo/redo: random sequences of paint, erase, scribble, fill, clean-up,
undo and redo leave the label map and the scribbles equal to a reference replay made of
plain snapshots, and the history stays within its byte budget (the newest step is always
kept, even when it alone is over budget, so the last action can always be undone)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import Session
from segviewer.tools import cleanup
from segviewer.tools.base import SliceEvent
from segviewer.tools.brush import PAINT_OVER_POLICIES, BrushTool, EraserTool
from segviewer.tools.fill import SOURCE_IMAGE, SOURCE_LABELS, flood_fill
from segviewer.tools.interpolate import apply_preview, interpolate_between_slices
from segviewer.tools.polygon import fill_polygon
from segviewer.tools.scribble import ScribbleTool

SIZE = (14, 11, 6)  # (i, j, k)
SHAPE = SIZE[::-1]
SPACING = (1.0, 1.5, 2.5)

index = st.tuples(st.floats(0, SIZE[0] - 1), st.floats(0, SIZE[1] - 1), st.floats(0, SIZE[2] - 1))
voxel = st.tuples(st.integers(0, SHAPE[0] - 1), st.integers(0, SHAPE[1] - 1), st.integers(0, SHAPE[2] - 1))
label = st.integers(1, 2)

stroke = st.tuples(st.just("stroke"), st.sampled_from(["brush", "eraser", "scribble", "scribble_bg",
                                                       "scribble_erase"]),
                   st.lists(index, min_size=1, max_size=4), st.integers(0, 2),
                   st.floats(0.5, 6.0), st.booleans(), st.sampled_from(PAINT_OVER_POLICIES), label)
fill = st.tuples(st.just("fill"), voxel, label, st.sampled_from([SOURCE_IMAGE, SOURCE_LABELS]),
                 st.sampled_from([None, 0, 1, 2]), st.integers(0, 60))
clean = st.tuples(st.just("clean"), st.sampled_from(["largest", "small", "grow", "shrink", "holes",
                                                      "smooth", "clear", "split", "union", "interp",
                                                      "polygon"]), label, st.floats(0.5, 4.0),
                  st.integers(0, 2), label)
lock = st.tuples(st.just("lock"), label, st.booleans())
undo = st.tuples(st.just("undo"))
redo = st.tuples(st.just("redo"))
paint = st.tuples(st.just("stroke"), st.just("brush"), st.lists(index, min_size=1, max_size=4),
                  st.integers(0, 2), st.floats(1.5, 8.0), st.booleans(), st.just("all"), label)
# Painting and undo/redo are drawn most often, so that clean-ups find labels to work on and
# long runs of steps meet the budget.
operation = st.one_of(paint, paint, stroke, fill, clean, clean, lock, undo, undo, redo)


def make_session(budget: int) -> Session:
    geometry = Geometry(SIZE, SPACING, (0.0, 0.0, 0.0))
    k, j, i = np.indices(geometry.shape)
    image = ((i * 7 + j * 13 + k * 29) % 90).astype(np.int16)
    return Session(ImageVolume(image, geometry, name="property"), history_budget_bytes=budget)


def run_stroke(session, op):
    _, kind, points, axis, size, sphere, policy, value = op
    session.active_label = value
    if kind == "brush":
        tool = BrushTool(size, sphere, policy, over_label=value % 3)
    elif kind == "eraser":
        tool = EraserTool(size, sphere, policy, over_label=value % 3)
    else:
        tool = ScribbleTool(size, sphere, "background" if kind == "scribble_bg" else "foreground",
                            erase=kind == "scribble_erase")
    tool.press(session, SliceEvent(points[0], axis))
    for p in points[1:]:
        tool.drag(session, SliceEvent(p, axis))
    tool.release(session, SliceEvent(points[-1], axis))


def run_clean(session, op):
    _, kind, value, amount, axis, other = op
    if kind == "largest":
        cleanup.keep_largest_island(session, value)
    elif kind == "small":
        cleanup.remove_small_islands(session, value, amount * 10)
    elif kind == "grow":
        cleanup.grow(session, value, amount)
    elif kind == "shrink":
        cleanup.shrink(session, value, amount)
    elif kind == "holes":
        cleanup.fill_holes(session, value, axis=None if axis == 2 else axis)
    elif kind == "smooth":
        cleanup.smooth(session, value, amount, cleanup.SMOOTHING_METHODS[axis])
    elif kind == "clear":
        cleanup.clear_label(session, value)
    elif kind == "split":
        cleanup.split_islands(session, value)
    elif kind == "union":
        cleanup.logical_operation(session, value, "union", other)
    elif kind == "interp":
        preview = interpolate_between_slices(session, value, axis=axis)
        if preview is not None:
            apply_preview(session, preview)
    elif kind == "polygon":
        vertices = np.array([[0, 0], [amount * 2, 1], [1, amount * 3]])
        fill_polygon(session, axis, 1, vertices, value)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(paint, min_size=1, max_size=4), st.lists(operation, min_size=3, max_size=40),
       st.sampled_from([150, 600, 2500, 10**9]))
def test_random_edits_undo_redo_match_snapshots(first_paint, operations, budget):
    session = make_session(budget)
    operations = first_paint + operations

    def state():
        return session.labels.array.copy(), session.scribbles.array.copy()

    def equal(a, b):
        return (a[0].shape == b[0].shape and np.array_equal(a[0], b[0])
                and a[1].dtype == b[1].dtype and np.array_equal(a[1], b[1]))

    current = state()
    undo_states: list = []  # reference: the state before each step, oldest first
    redo_states: list = []
    for op in operations:
        kind = op[0]
        if kind == "lock":
            if op[1] in session.label_table:
                session.label_table.update(op[1], locked=op[2])
            continue
        if kind == "undo":
            step = session.undo()
            if step is None:
                # nothing to undo: the reference ran out too, or the budget dropped older steps
                assert not session.history.can_undo
            else:
                redo_states.append(current)
                current = undo_states.pop()
        elif kind == "redo":
            step = session.redo()
            if step is None:
                assert not redo_states
            else:
                undo_states.append(current)
                current = redo_states.pop()
        else:
            before = current
            if kind == "stroke":
                run_stroke(session, op)
            elif kind == "fill":
                _, seed, value, source, axis, tolerance = op
                flood_fill(session, seed, value if tolerance % 3 else 0, tolerance, axis, source)
            else:
                run_clean(session, op)
            after = state()
            if not equal(after, before):
                assert session.history.can_undo, "the newest step is always kept"
                undo_states.append(before)
                redo_states.clear()
                current = after
            else:
                # layer widening (uint8 -> uint16) without a value change is not a step
                current = after
        assert equal(state(), current), f"after {op}"
        history = session.history
        assert len(history) <= len(undo_states)
        steps = len(history._undo) + len(history._redo)
        assert history.memory_bytes <= budget or steps == 1, (history.memory_bytes, budget, steps)

    # Undo everything the history still holds: each step lands on its reference snapshot.
    while session.history.can_undo:
        session.undo()
        current = undo_states.pop()
        assert equal(state(), current)
