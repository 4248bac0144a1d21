"""The session: one image with its labels, scribbles, points, cursor and undo history.

Only the GUI thread (or a CLI command) changes a session. Every change goes through a
method here or through a tool that records its change in ``history``; observers (views,
autosave, statistics) hear about it through ``session.events`` (a psygnal
:class:`SessionEvents` group: a bound method is held by a weak reference, so a listener that
goes away is disconnected with it), the layer events carrying the changed box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from psygnal import Signal, SignalGroup

from segviewer.model.geometry import Box, full_box
from segviewer.model.history import DEFAULT_BUDGET_BYTES, History, LayerChange, PointsChange, Step
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles

LABELS = "labels"
SCRIBBLES = "scribbles"
POINTS = "points"


class SessionEvents(SignalGroup):
    """What a session announces. ``session.events.connect(listener)`` hears all of them (one
    ``EmissionInfo`` per emission), as the viewer does to relay them."""

    labels_changed = Signal(object)  # box (array order) that changed
    scribbles_changed = Signal(object)  # box
    points_changed = Signal()
    cursor_changed = Signal(tuple)  # (i, j, k)
    dirty_changed = Signal(bool)
    label_table_changed = Signal()  # a row added, renamed, recoloured, locked ...


class Session:
    """Everything the user is working on for one image."""

    def __init__(self, image: ImageVolume, labels: LabelMap | None = None,
                 scribbles: Scribbles | None = None, points: PointSet | None = None,
                 history_budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.image = image
        self.labels = labels or LabelMap.empty(image.geometry)
        self.scribbles = scribbles or Scribbles.empty(image.geometry)
        self.points = points or PointSet()
        for layer, grid in ((LABELS, self.labels.geometry), (SCRIBBLES, self.scribbles.geometry)):
            if not grid.same_grid(image.geometry):
                raise ValueError(f"{layer} are not on the image grid")
        self.history = History(self._history_target, history_budget_bytes)
        self.history.changed.connect(self._on_history_replay)
        #: Files the layers were loaded from / saved to (for "Save" without a dialog).
        self.labels_path: Path | None = None
        self.scribbles_path: Path | None = None
        self.points_path: Path | None = None
        self.active_label = 1
        #: The linked cursor, as a voxel index (i, j, k).
        self.cursor = tuple(n // 2 for n in image.geometry.size)

        self.events = SessionEvents()
        # the table keeps its identity when labels are replaced (replace_all), so this holds
        self.labels.table.changed.connect(self.events.label_table_changed.emit)
        self._dirty = {LABELS: False, SCRIBBLES: False, POINTS: False}
        if not len(self.labels.table):
            self.labels.table.add(1, "Label 1")

    # -- layers --------------------------------------------------------------------------
    @property
    def geometry(self):
        return self.image.geometry

    @property
    def label_table(self) -> LabelTable:
        return self.labels.table

    def layer_array(self, layer: str) -> np.ndarray:
        if layer == LABELS:
            return self.labels.array
        if layer == SCRIBBLES:
            return self.scribbles.array
        raise KeyError(layer)

    def _history_target(self, layer: str):
        """What an undo step of ``layer`` is replayed into: the point set or a layer array."""
        return self.points if layer == POINTS else self.layer_array(layer)

    def notify_changed(self, layer: str, box: Box | None) -> None:
        """Tell observers that ``layer`` changed within ``box`` (None = everywhere)."""
        box = box or full_box(self.geometry.shape)
        self._set_dirty(layer, True)
        events = self.events
        (events.labels_changed if layer == LABELS else events.scribbles_changed).emit(box)

    def _on_history_replay(self, boxes: dict[str, Box]) -> None:
        for layer, box in boxes.items():
            if layer == POINTS:
                self._set_dirty(POINTS, True)
                self.events.points_changed.emit()
            else:
                self.notify_changed(layer, box)

    # -- dirty state -------------------------------------------------------------------
    @property
    def is_dirty(self) -> bool:
        return any(self._dirty.values())

    def layer_dirty(self, layer: str) -> bool:
        return self._dirty[layer]

    def _set_dirty(self, layer: str, value: bool) -> None:
        was = self.is_dirty
        self._dirty[layer] = value
        if was != self.is_dirty:
            self.events.dirty_changed.emit(self.is_dirty)

    def mark_saved(self, layer: str) -> None:
        self._set_dirty(layer, False)

    # -- whole-layer replacement and results ---------------------------------------------
    def replace_labels(self, label_map: LabelMap, description: str = "Load labels") -> None:
        """Swap in a loaded label map as one undoable step."""
        if not label_map.geometry.same_grid(self.geometry):
            raise ValueError("the label map is not on the image grid")
        label_map.table.ensure(label_map.present_values())
        if label_map.array.dtype != self.labels.array.dtype:
            self.labels.array = self.labels.array.astype(np.promote_types(
                label_map.array.dtype, self.labels.array.dtype))
        # the crop adds default rows for new values; the loaded rows replace them right after:
        # listeners hear of the table once, never of the default names in between
        with self.label_table.changed.blocked():
            self.apply_layer_crop(LABELS, full_box(self.geometry.shape), label_map.array, description)
        self.labels.table.replace_all(list(label_map.table))

    def apply_layer_crop(self, layer: str, box: Box, new_values: np.ndarray,
                         description: str, where: np.ndarray | None = None) -> Step | None:
        """Write ``new_values`` into ``layer`` at ``box`` as ONE undo step.

        ``where`` (a boolean crop) limits the write to some voxels. Locked labels are
        protected for the label layer: their voxels keep their value.
        """
        new_values = np.asarray(new_values)
        top = int(new_values.max(initial=0))
        if layer == LABELS:
            self.labels.widen_if_needed(top)
        elif layer == SCRIBBLES:
            # A value equal to the old sentinel means "not annotated" only when it is
            # the current dtype's maximum; a label >= 255 needs uint16 scribbles.
            values = _distinct_values(new_values) if new_values.ndim else [top]
            real = [int(v) for v in values if int(v) != self.scribbles.unannotated]
            if real:
                self.scribbles.widen_if_needed(max(real))
        array = self.layer_array(layer)
        region = array[box]
        before = region.copy()
        after = before.copy()
        mask = np.ones(before.shape, dtype=bool) if where is None else where.astype(bool)
        if layer == LABELS:
            locked = self.label_table.locked_values()
            if locked:
                mask &= ~np.isin(before, locked)
        after[mask] = new_values[mask] if np.ndim(new_values) else new_values
        change = LayerChange.from_crops(layer, box, before, after)
        if change is None:
            return None
        region[...] = after
        step = Step(description, [change])
        self.history.push(step)
        if layer == LABELS:
            self.label_table.ensure(_distinct_values(new_values[mask]) if np.ndim(new_values)
                                    else [int(new_values)])
        self.notify_changed(layer, change.box)
        return step

    # -- points -------------------------------------------------------------------------
    # Every point edit is one undo step holding the points before and after it.
    def add_point(self, point: PointPrompt) -> int:
        before = tuple(self.points)
        index = self.points.add(point)
        self._set_dirty(POINTS, True)
        self._record_points("Add point" if point.positive else "Add negative point", before)
        return index

    def remove_point(self, index: int) -> PointPrompt:
        before = tuple(self.points)
        point = self.points.remove_at(index)
        self._set_dirty(POINTS, True)
        self._record_points("Remove point", before)
        return point

    def replace_points(self, points: PointSet, description: str = "Load points") -> None:
        """Swap in loaded points as one undoable step (the set keeps its identity)."""
        before = tuple(self.points)
        self.points.replace_all(points)
        self._record_points(description, before)

    def _record_points(self, description: str, before: tuple) -> None:
        after = tuple(self.points)
        if after != before:
            self.history.push(Step(description, [PointsChange(before, after)]))
        self.events.points_changed.emit()

    # -- cursor --------------------------------------------------------------------------
    def set_cursor(self, index: tuple[int, int, int]) -> None:
        clipped = tuple(int(min(max(v, 0), n - 1)) for v, n in zip(index, self.geometry.size))
        if clipped != self.cursor:
            self.cursor = clipped
            self.events.cursor_changed.emit(clipped)

    # -- undo ----------------------------------------------------------------------------
    def undo(self) -> Step | None:
        return self.history.undo()

    def redo(self) -> Step | None:
        return self.history.redo()


def _distinct_values(values: np.ndarray) -> list[int]:
    """The distinct values of an integer array (bincount: far faster than np.unique for
    the uint8/uint16 label and scribble arrays)."""
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return []
    if flat.dtype.kind == "u" and flat.dtype.itemsize <= 2:
        return [int(v) for v in np.flatnonzero(np.bincount(flat))]
    return [int(v) for v in np.unique(flat)]
