"""Paintbrush and eraser: a disc (on the viewed slice) or a sphere, sized in millimetres.

A press-drag-release is one stroke and ONE undo step. Between two mouse events the
stroke places dabs along the straight line, at most half a brush radius apart, so fast
mouse movements leave no gaps. Each dab touches only the small box under the brush: it
slices a cached structuring element, saves the old values of the voxels it is about to
change (for the undo step) and tells the session which box changed.

Mouse: left button paints the active label; right button (or Shift+left) erases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segviewer.model.geometry import Box, union_box
from segviewer.model.history import EditRecorder
from segviewer.model.labels import HIGHEST_LABEL
from segviewer.model.parameters import param
from segviewer.model.session import LABELS
from segviewer.tools.base import SliceEvent, Tool
from segviewer.tools.kernels import ellipsoid_kernel, kernel_box, spacing_kji

#: Paint-over policies (ITK-SNAP's "Draw over": all labels / clear label only / one label).
PAINT_OVER_ALL = "all"
PAINT_OVER_BACKGROUND = "background"
PAINT_OVER_LABEL = "label"
PAINT_OVER_POLICIES = (PAINT_OVER_ALL, PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL)
#: The +/− keys never shrink a brush below this (mm).
SMALLEST_STEPPED_SIZE_MM = 0.5


@dataclass
class PaintOverParameters:
    """Which voxels a label-writing tool may overwrite (brush, polygon, fill)."""

    paint_over: str = param(PAINT_OVER_ALL, "Which voxels may be overwritten: any, only unlabelled ones, "
                            "or only those of one label (locked labels never)", label="Paint over",
                            choices={PAINT_OVER_ALL: "All labels", PAINT_OVER_BACKGROUND: "Background only",
                                     PAINT_OVER_LABEL: "Only inside label…"})
    over_label: int = param(0, "The label painted over when painting only inside one label", label="… label",
                            min=0, max=HIGHEST_LABEL, enabled_when=("paint_over", PAINT_OVER_LABEL))


def brush_size(default: float, help: str = "Brush diameter in millimetres (Slicer's absolute diameter)"):
    """A brush's diameter setting, in mm."""
    return param(default, help, label="Size (mm)", min=0.1, max=200.0, step=0.5)


@dataclass
class BrushShapeParameters:
    """Size and shape of a brush."""

    size_mm: float = brush_size(5.0)
    sphere: bool = param(False, "Paint a 3D sphere; else a disc in the viewed slice",
                         label="3D sphere (else a disc in the slice)")


def writable_mask(region: np.ndarray, policy: str = PAINT_OVER_ALL, over_label: int = 0,
                  locked: list[int] | tuple[int, ...] = ()) -> np.ndarray:
    """Which voxels of a label crop may be overwritten under ``policy``.

    ``background``: only unlabelled voxels; ``label``: only voxels of ``over_label``;
    ``all``: any voxel. Voxels of a locked label are never writable.
    """
    if policy == PAINT_OVER_BACKGROUND:
        mask = region == 0
    elif policy == PAINT_OVER_LABEL:
        mask = region == over_label
    elif policy == PAINT_OVER_ALL:
        mask = np.ones(region.shape, dtype=bool)
    else:
        raise ValueError(f"unknown paint-over policy {policy!r}; use one of {PAINT_OVER_POLICIES}")
    for value in locked:
        if policy == PAINT_OVER_LABEL and value != over_label:
            continue  # already excluded
        mask &= region != value
    return mask


def to_kji(index) -> np.ndarray:
    """A continuous (i, j, k) index as an array-order (k, j, i) vector."""
    return np.asarray(index, dtype=np.float64)[::-1]


class StrokePainter:
    """Writes dabs of one stroke into one layer and records them as ONE undo step.

    Parameters
    ----------
    session : Session
    layer : "labels" or "scribbles"
    value : the value written
    kernel : boolean structuring element (odd shape, centred)
    allowed : ``f(region) -> bool mask`` of writable voxels, or None for all
    description : the undo step's name
    """

    def __init__(self, session, layer: str, value: int, kernel: np.ndarray,
                 allowed=None, description: str = "Paint") -> None:
        self.session = session
        self.layer = layer
        self.value = int(value)
        self.kernel = kernel
        self.allowed = allowed
        self.recorder = EditRecorder(session.history, description, layer)
        self._last: np.ndarray | None = None
        half = np.array(kernel.shape) // 2
        # Dabs at most half a radius apart (and at most one voxel when the brush is tiny);
        # ignore the flat axis of a disc, which has half-extent 0.
        extents = half[half > 0]
        self.step_voxels = max(1.0, 0.5 * float(extents.min())) if extents.size else 1.0
        self.changed_box: Box | None = None

    def dab(self, centre_kji) -> Box | None:
        """Paint one dab centred on the voxel nearest ``centre_kji``; returns the changed box."""
        array = self.session.layer_array(self.layer)
        centre = np.rint(np.asarray(centre_kji, dtype=np.float64)).astype(int)
        placed = kernel_box(centre, self.kernel.shape, array.shape)
        if placed is None:
            return None
        box, local = placed
        region = array[box]
        mask = self.kernel[local] & (region != self.value)
        if self.allowed is not None:
            mask &= self.allowed(region)
        if not mask.any():
            return None
        self.recorder.before_modify(box, mask)
        region[mask] = self.value
        self._grow_changed(box)
        self.session.notify_changed(self.layer, box)
        return box

    def move_to(self, centre_kji) -> None:
        """Continue the stroke to ``centre_kji`` with dabs along the way."""
        target = np.asarray(centre_kji, dtype=np.float64)
        if self._last is None:
            self.dab(target)
            self._last = target
            return
        delta = target - self._last
        distance = float(np.abs(delta).max())
        steps = int(np.ceil(distance / self.step_voxels))
        for n in range(1, steps + 1):
            self.dab(self._last + delta * (n / steps))
        if steps == 0:
            self.dab(target)
        self._last = target

    def _grow_changed(self, box: Box) -> None:
        self.changed_box = union_box(self.changed_box, box)

    def finish(self):
        """Close the stroke: one undo step (None when nothing changed)."""
        step = self.recorder.finish()
        if step is not None:
            if self.layer == LABELS and self.value != 0:
                self.session.label_table.ensure([self.value])
            # Once more for the whole stroke, now that its undo step exists: observers that
            # follow the history (undo menu state) or coalesce work per stroke (3D surfaces,
            # statistics) see the finished edit.
            self.session.notify_changed(self.layer, step.changes[0].box)
        return step

    def cancel(self) -> None:
        box = self.recorder.cancel()
        if box is not None:
            self.session.notify_changed(self.layer, box)


class BrushTool(Tool):
    """Paintbrush (and, with ``erase=True``, the eraser) for the label map."""

    name = "brush"
    title = "Paintbrush"
    help = "Left drag paints the active label; Shift+drag erases. +/− change the size."
    shortcut = "B"  # ITK-SNAP: paintbrush mode
    #: Whether the left button erases (the right button, or Shift, does the other).
    erases = False

    @dataclass
    class Parameters(PaintOverParameters, BrushShapeParameters):
        """Size, shape and paint-over policy of the brush."""

    def __init__(self, *values, erase: bool | None = None, **settings) -> None:
        super().__init__(*values, **settings)
        self.erase = self.erases if erase is None else bool(erase)
        self._painter: StrokePainter | None = None
        self._stroke_axis: int | None = None
        self._stroke_slice = 0.0

    # -- options ------------------------------------------------------------------------
    def kernel(self, session, axis: int) -> np.ndarray:
        return ellipsoid_kernel(self.params.size_mm / 2.0, spacing_kji(session.geometry),
                                None if self.params.sphere else axis)

    def resize(self, delta_mm: float) -> float:
        self.params.size_mm = max(SMALLEST_STEPPED_SIZE_MM, round(float(self.params.size_mm) + delta_mm, 2))
        return self.params.size_mm

    def _erasing(self, event: SliceEvent) -> bool:
        return self.erase != (event.button == "right" or "shift" in event.modifiers)

    def _layer(self) -> str:
        return LABELS

    def _value(self, session, erasing: bool) -> int:
        return 0 if erasing else int(session.active_label)

    def _allowed(self, session, erasing: bool):
        locked = tuple(session.label_table.locked_values())
        policy, over = self.params.paint_over, self.params.over_label
        if erasing and policy == PAINT_OVER_BACKGROUND:
            # "Erase only background" would erase nothing: erase the active label instead.
            policy, over = PAINT_OVER_LABEL, int(session.active_label)
        if policy == PAINT_OVER_ALL and not locked:
            return None
        return lambda region: writable_mask(region, policy, over, locked)

    def _prepare(self, session, erasing: bool) -> None:
        """Widen the label map before painting a value above 255."""
        if not erasing:
            session.labels.widen_if_needed(int(session.active_label))

    def _description(self, erasing: bool) -> str:
        return "Erase" if erasing else "Paint"

    # -- events -------------------------------------------------------------------------
    def press(self, session, event: SliceEvent) -> None:
        if self._painter is not None:  # a lost release: close the previous stroke first
            self._painter.finish()
        erasing = self._erasing(event)
        self._prepare(session, erasing)
        value = self._value(session, erasing)
        self._painter = StrokePainter(session, self._layer(), value,
                                      self.kernel(session, event.axis),
                                      self._allowed(session, erasing),
                                      self._description(erasing))
        self._stroke_axis = None if self.params.sphere else event.axis
        self._stroke_slice = float(round(to_kji(event.index)[event.axis]))
        self._painter.move_to(self._position(event))

    def _position(self, event: SliceEvent) -> np.ndarray:
        kji = to_kji(event.index)
        if self._stroke_axis is not None:  # a 2D stroke stays on the slice it started on
            kji[self._stroke_axis] = self._stroke_slice
        return kji

    def drag(self, session, event: SliceEvent) -> None:
        if self._painter is not None:
            self._painter.move_to(self._position(event))

    def release(self, session, event: SliceEvent) -> None:
        if self._painter is None:
            return
        painter, self._painter = self._painter, None
        painter.finish()

    def cancel(self, session) -> None:
        if self._painter is not None:
            painter, self._painter = self._painter, None
            painter.cancel()

    @property
    def stroke_active(self) -> bool:
        return self._painter is not None


class EraserTool(BrushTool):
    """The eraser: a brush that writes 0 (right button paints instead)."""

    name = "eraser"
    title = "Eraser"
    help = "Left drag erases; Shift+drag paints."
    shortcut = "E"
    erases = True
