"""Undo/redo that stays small on large volumes.

Each step stores, per edited layer, the bounding box of the change plus only the changed
voxels: their positions (packed bits of the box, or flat indices when fewer bytes) and
their old and new values. Replay is basic slicing on the box. The history is capped by
bytes; the oldest steps are dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from psygnal import Signal

from segviewer.model.geometry import Box, bounding_box, union_box

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


@dataclass
class LayerChange:
    """The changed voxels of one layer within ``box``."""

    layer: str
    box: Box
    box_shape: tuple[int, ...]
    packed_mask: np.ndarray | None  # np.packbits of the changed mask, or None
    flat_index: np.ndarray | None  # sorted flat indices into the box, or None
    old_values: np.ndarray
    new_values: np.ndarray  # one element when every changed voxel got the same value

    @classmethod
    def from_crops(cls, layer: str, box: Box, before: np.ndarray, after: np.ndarray) -> "LayerChange | None":
        changed = before != after
        inner = bounding_box(changed)
        if inner is None:
            return None
        # Shrink to the tight box of what really changed.
        box = tuple(slice(outer.start + s.start, outer.start + s.stop) for outer, s in zip(box, inner))
        changed, before, after = changed[inner], before[inner], after[inner]
        flat = np.flatnonzero(changed)
        old_values = before.reshape(-1)[flat]
        new_values = after.reshape(-1)[flat]
        if np.all(new_values == new_values[0]):
            new_values = new_values[:1].copy()
        index_dtype = np.uint32 if changed.size < 2**32 else np.uint64
        if flat.size * np.dtype(index_dtype).itemsize < (changed.size + 7) // 8:
            return cls(layer, box, changed.shape, None, flat.astype(index_dtype), old_values, new_values)
        return cls(layer, box, changed.shape, np.packbits(changed.reshape(-1)), None, old_values, new_values)

    @property
    def nbytes(self) -> int:
        index = self.packed_mask if self.packed_mask is not None else self.flat_index
        return int(index.nbytes + self.old_values.nbytes + self.new_values.nbytes)

    def _flat_positions(self) -> np.ndarray:
        if self.flat_index is not None:
            return self.flat_index.astype(np.intp)
        count = int(np.prod(self.box_shape))
        return np.flatnonzero(np.unpackbits(self.packed_mask, count=count))

    def _write(self, array: np.ndarray, values: np.ndarray) -> None:
        region = array[self.box]  # a view: basic slicing
        flat = self._flat_positions()
        if region.flags.c_contiguous:
            region.reshape(-1)[flat] = values
        else:
            index = np.unravel_index(flat, self.box_shape)
            region[index] = values

    def undo(self, array: np.ndarray) -> None:
        self._write(array, self.old_values)

    def redo(self, array: np.ndarray) -> None:
        self._write(array, self.new_values)


@dataclass
class PointsChange:
    """The point prompts before and after an edit. A case holds a few dozen points at most,
    so both lists are kept whole; replay writes them into the live point set."""

    before: tuple
    after: tuple
    layer: str = "points"
    box: Box | None = None  # points have no voxel box

    @property
    def nbytes(self) -> int:
        return 64 * (len(self.before) + len(self.after))  # a few floats per point

    def undo(self, points) -> None:
        points.replace_all(self.before)

    def redo(self, points) -> None:
        points.replace_all(self.after)


@dataclass
class Step:
    """One user action: a stroke, an operation, or an applied method result."""

    description: str
    changes: list[LayerChange | PointsChange] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.changes)


class History:
    """Undo/redo stacks of :class:`Step`, capped at ``budget_bytes``.

    ``resolve_layer(name)`` returns the live array of a layer ("labels", "scribbles") or the
    live point set ("points");
    it is looked up at replay time so a layer may be widened (uint8 -> uint16) meanwhile.
    ``changed`` is emitted with ``{layer: box}`` after undo or redo (box None for points).
    """

    changed = Signal(dict)

    def __init__(self, resolve_layer: Callable[[str], np.ndarray],
                 budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._resolve = resolve_layer
        self.budget_bytes = int(budget_bytes)
        self._undo: list[Step] = []
        self._redo: list[Step] = []

    # -- recording ----------------------------------------------------------------
    def push(self, step: Step) -> None:
        """Add a finished step (dropped when nothing changed)."""
        if not step.changes:
            return
        self._undo.append(step)
        self._redo.clear()
        self._enforce_budget()

    def record(self, description: str, layer: str, box: Box,
               before: np.ndarray, after: np.ndarray) -> Step | None:
        """Record one layer's change from its crops before and after; returns the step."""
        change = LayerChange.from_crops(layer, box, before, after)
        if change is None:
            return None
        step = Step(description, [change])
        self.push(step)
        return step

    def _enforce_budget(self) -> None:
        # Oldest first. The newest step is always kept, even when it alone exceeds the
        # budget, so the last action can always be undone.
        while len(self._undo) > 1 and self.memory_bytes > self.budget_bytes:
            self._undo.pop(0)

    def _redo_bytes(self) -> int:
        return sum(s.nbytes for s in self._redo)

    # -- replay -------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_descriptions(self) -> list[str]:
        """What each step that can be undone did, oldest first (how the labels were made)."""
        return [step.description for step in self._undo]

    @property
    def undo_description(self) -> str | None:
        return self._undo[-1].description if self._undo else None

    @property
    def redo_description(self) -> str | None:
        return self._redo[-1].description if self._redo else None

    def undo(self) -> Step | None:
        if not self._undo:
            return None
        step = self._undo.pop()
        for change in reversed(step.changes):
            change.undo(self._resolve(change.layer))
        self._redo.append(step)
        self.changed.emit(_boxes_of(step))
        return step

    def redo(self) -> Step | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        for change in step.changes:
            change.redo(self._resolve(change.layer))
        self._undo.append(step)
        self.changed.emit(_boxes_of(step))
        return step

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def memory_bytes(self) -> int:
        return sum(s.nbytes for s in self._undo) + self._redo_bytes()

    def __len__(self) -> int:
        return len(self._undo)


def _boxes_of(step: Step) -> dict[str, Box]:
    boxes: dict[str, Box | None] = {}
    for change in step.changes:
        boxes[change.layer] = union_box(boxes.get(change.layer), change.box)
    return boxes  # type: ignore[return-value]


class EditRecorder:
    """Collects the old values of a multi-part edit (a drag of many dabs) into ONE step.

    Call :meth:`before_modify` with each box just before writing to it; :meth:`finish`
    rebuilds the original crop of the union box and records only the changed voxels.
    Passing ``where`` (a boolean mask of the box: the voxels about to be written) keeps
    only those old values, so overlapping dabs of a long stroke cost little memory.
    """

    def __init__(self, history: History, description: str, layer: str) -> None:
        self.history = history
        self.description = description
        self.layer = layer
        # (box, old crop) or (box, packed where-mask, old values under it)
        self._saved: list[tuple] = []
        self._union: Box | None = None

    def before_modify(self, box: Box, where: np.ndarray | None = None) -> None:
        array = self.history._resolve(self.layer)
        region = array[box]
        if where is None:
            self._saved.append((box, region.copy()))
        else:
            where = np.asarray(where, dtype=bool)
            if not where.any():
                return
            self._saved.append((box, np.packbits(where.reshape(-1)), region[where]))
        self._union = union_box(self._union, box)

    @property
    def touched_box(self) -> Box | None:
        return self._union

    @property
    def saved_bytes(self) -> int:
        """Memory held for the unfinished edit."""
        return sum(sum(a.nbytes for a in entry[1:]) for entry in self._saved)

    def _original(self) -> np.ndarray:
        array = self.history._resolve(self.layer)
        after = array[self._union]
        before = after.copy()
        offset = [s.start for s in self._union]
        # Replay saved crops newest-first so the earliest (true original) values win.
        for entry in reversed(self._saved):
            box = entry[0]
            local = tuple(slice(s.start - o, s.stop - o) for s, o in zip(box, offset))
            if len(entry) == 2:
                before[local] = entry[1]
            else:
                shape = tuple(s.stop - s.start for s in box)
                count = int(np.prod(shape))
                where = np.unpackbits(entry[1], count=count).reshape(shape).astype(bool)
                before[local][where] = entry[2]
        return before

    def finish(self) -> Step | None:
        if self._union is None:
            return None
        before = self._original()
        after = self.history._resolve(self.layer)[self._union]
        self._saved.clear()
        step = self.history.record(self.description, self.layer, self._union, before, after)
        self._union = None
        return step

    def cancel(self) -> Box | None:
        """Put back the original values (an abandoned stroke); returns the box restored."""
        if self._union is None:
            return None
        box = self._union
        self.history._resolve(self.layer)[box] = self._original()
        self._saved.clear()
        self._union = None
        return box
