"""Undo/redo replay: any sequence of edits undone restores the exact arrays, redone
reproduces them, and the byte budget drops the oldest steps without corrupting replay."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segviewer.model.history import EditRecorder, History, LayerChange

SHAPE = (6, 9, 11)


class Layers:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.arrays = {"labels": rng.integers(0, 3, SHAPE).astype(np.uint8),
                       "scribbles": np.full(SHAPE, 255, np.uint8)}

    def resolve(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def snapshot(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.arrays.items()}


def _equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


edit = st.tuples(
    st.sampled_from(["labels", "scribbles"]),
    st.tuples(*[st.integers(0, n - 1) for n in SHAPE]),
    st.tuples(*[st.integers(1, n) for n in SHAPE]),
    st.integers(0, 4),
    st.booleans(),  # sparse (random voxels) or a solid box
    st.integers(0, 2**16),
)


def _apply(history: History, layers: Layers, item) -> None:
    layer, start, extent, value, sparse, seed = item
    box = tuple(slice(s, min(n, s + e)) for s, e, n in zip(start, extent, SHAPE))
    array = layers.resolve(layer)
    before = array[box].copy()
    after = before.copy()
    if sparse:
        mask = np.random.default_rng(seed).random(after.shape) < 0.3
        after[mask] = value
    else:
        after[...] = value
    array[box] = after
    history.record("edit", layer, box, before, after)


@settings(max_examples=60, deadline=None)
@given(st.lists(edit, min_size=1, max_size=25))
def test_undo_all_restores_and_redo_all_reproduces(edits):
    layers = Layers()
    history = History(layers.resolve)
    original = layers.snapshot()
    for item in edits:
        _apply(history, layers, item)
    final = layers.snapshot()
    while history.undo():
        pass
    assert _equal(layers.snapshot(), original)
    while history.redo():
        pass
    assert _equal(layers.snapshot(), final)


@settings(max_examples=40, deadline=None)
@given(st.lists(edit, min_size=2, max_size=20), st.data())
def test_every_intermediate_state_is_reachable(edits, data):
    layers = Layers(1)
    history = History(layers.resolve)
    states = [layers.snapshot()]
    for item in edits:
        _apply(history, layers, item)
        if history.undo_description is not None and not _equal(layers.snapshot(), states[-1]):
            states.append(layers.snapshot())
    position = len(states) - 1
    for _ in range(data.draw(st.integers(1, 30))):
        if data.draw(st.booleans()):
            if history.undo():
                position -= 1
        elif history.redo():
            position += 1
        assert _equal(layers.snapshot(), states[position])


@settings(max_examples=40, deadline=None)
@given(st.lists(edit, min_size=3, max_size=25), st.integers(50, 2000))
def test_budget_drops_oldest_steps_and_replay_stays_consistent(edits, budget):
    layers = Layers(2)
    history = History(layers.resolve, budget_bytes=budget)
    states = [layers.snapshot()]
    for item in edits:
        _apply(history, layers, item)
        states.append(layers.snapshot())
    # Unchanged edits record no step: keep only states that a step produced.
    distinct = [states[0]] + [s for prev, s in zip(states, states[1:]) if not _equal(prev, s)]
    kept = len(history)
    assert kept >= 1 or len(distinct) == 1
    if kept > 1:
        assert history.memory_bytes <= budget
    for _ in range(kept):
        assert history.undo() is not None
    # What remains after undoing every kept step is the state before the oldest kept step.
    assert _equal(layers.snapshot(), distinct[len(distinct) - 1 - kept])
    assert history.undo() is None
    for _ in range(kept):
        history.redo()
    assert _equal(layers.snapshot(), distinct[-1])


def test_new_edit_clears_redo():
    layers = Layers()
    history = History(layers.resolve)
    _apply(history, layers, ("labels", (0, 0, 0), (2, 2, 2), 4, False, 0))
    history.undo()
    assert history.can_redo
    _apply(history, layers, ("labels", (1, 1, 1), (2, 2, 2), 3, False, 0))
    assert not history.can_redo


def test_one_value_painted_in_a_large_box_is_stored_compactly():
    before = np.zeros((64, 64, 64), np.uint8)
    after = before.copy()
    after[10:50, 10:50, 10:50] = 1
    change = LayerChange.from_crops("labels", tuple(slice(0, 64) for _ in range(3)), before, after)
    assert change.new_values.size == 1  # one value for the whole change
    assert change.box == (slice(10, 50),) * 3  # shrunk to what changed
    assert change.nbytes < 40 ** 3 / 8 + 40 ** 3 + 64  # packed bits + old values


def test_edit_recorder_groups_overlapping_dabs_into_one_step():
    layers = Layers(3)
    history = History(layers.resolve)
    original = layers.snapshot()
    recorder = EditRecorder(history, "stroke", "labels")
    array = layers.resolve("labels")
    for start in range(0, 8, 2):
        box = (slice(1, 4), slice(start, start + 3), slice(start, start + 4))
        recorder.before_modify(box)
        array[box] = 7
    step = recorder.finish()
    assert step is not None and len(history) == 1
    history.undo()
    assert _equal(layers.snapshot(), original)


def test_replay_after_the_layer_was_widened():
    """The layer array is looked up at replay time, so a uint8 -> uint16 switch is fine."""
    layers = Layers()
    history = History(layers.resolve)
    _apply(history, layers, ("labels", (0, 0, 0), (3, 3, 3), 2, False, 0))
    before_widen = layers.snapshot()["labels"]
    layers.arrays["labels"] = layers.arrays["labels"].astype(np.uint16)
    layers.arrays["labels"][5, 8, 10] = 300
    history.undo()
    history.redo()
    np.testing.assert_array_equal(layers.arrays["labels"][:3, :3, :3], before_widen[:3, :3, :3])
    assert layers.arrays["labels"][5, 8, 10] == 300
