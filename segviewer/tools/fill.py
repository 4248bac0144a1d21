"""Flood fill: the connected region around a click whose intensity lies within a tolerance
of the clicked voxel (or, with ``source="labels"``, that has the clicked voxel's label),
in the viewed slice (2D) or in the volume (3D).

The region is grown on a crop around the seed; the crop doubles only while the region
touches its inner faces, so a small fill on a large volume stays fast. The fill respects
the paint-over policy and locks (the region does not grow through voxels it may not
write) and is ONE undo step. Shift+click fills with 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import Box
from segviewer.model.parameters import param
from segviewer.model.session import LABELS
from segviewer.tools.base import SliceEvent, Tool
from segviewer.tools.brush import (PAINT_OVER_ALL, PAINT_OVER_BACKGROUND, PAINT_OVER_LABEL, PaintOverParameters,
                                   writable_mask)

SOURCE_IMAGE = "image"
SOURCE_LABELS = "labels"


def grow_connected(inside_of, seed_kji, shape, axis: int | None = None,
                   full_connectivity: bool = False, start_half_size: int = 32) -> tuple[Box, np.ndarray] | None:
    """The connected component of ``inside_of(box) -> bool crop`` containing the seed.

    ``axis`` limits the search to the slice through the seed normal to that array axis.
    Returns (box, mask of the component within box) or None when the seed is not inside.
    """
    seed = [int(v) for v in seed_kji]
    ndim_structure = ndimage.generate_binary_structure(3, 3 if full_connectivity else 1)
    if axis is not None:  # no connections across slices
        keep = [slice(None)] * 3
        keep[axis] = slice(1, 2)
        flat = np.zeros_like(ndim_structure)
        flat[tuple(keep)] = ndim_structure[tuple(keep)]
        ndim_structure = flat
    half = [start_half_size] * 3
    while True:
        box = []
        for a in range(3):
            if axis is not None and a == axis:
                box.append(slice(seed[a], seed[a] + 1))
            else:
                box.append(slice(max(0, seed[a] - half[a]), min(shape[a], seed[a] + half[a] + 1)))
        box = tuple(box)
        inside = inside_of(box)
        local_seed = tuple(s - b.start for s, b in zip(seed, box))
        if not inside[local_seed]:
            return None
        labelled, _ = ndimage.label(inside, structure=ndim_structure)
        component = labelled == labelled[local_seed]
        grow = False
        for a in range(3):
            if axis is not None and a == axis:
                continue
            at_low = box[a].start > 0 and np.take(component, 0, axis=a).any()
            at_high = box[a].stop < shape[a] and np.take(component, -1, axis=a).any()
            if at_low or at_high:
                half[a] *= 2
                grow = True
        if not grow:
            return box, component


class FloodFillTool(Tool):
    """Bucket fill by intensity tolerance (2D or 3D)."""

    name = "fill"
    title = "Flood fill"
    help = "Click fills the connected region within the tolerance; Shift+click fills with 0."
    shortcut = "F"
    #: A click fills; a drag still moves the crosshair.
    captures_drag = False
    #: Regions connect through faces only (6-neighbourhood), as a user traces them.
    full_connectivity = False

    @dataclass
    class Parameters(PaintOverParameters):
        """What the fill takes in, where it reaches, and what it may overwrite."""

        tolerance: float = param(50.0, "Voxels within this distance of the clicked voxel's intensity "
                                 "(image units, e.g. HU) belong to the region", label="Tolerance (intensity)",
                                 min=0.0, max=1e6, step=5.0)
        three_d: bool = param(False, "Fill through the volume; else only in the viewed slice",
                              label="3D (else the slice)")
        source: str = param(SOURCE_IMAGE, "Grow the region by image intensity, or over the clicked "
                            "voxel's label", label="Region from",
                            choices={SOURCE_IMAGE: "Image intensity", SOURCE_LABELS: "Same label"})

    def press(self, session, event: SliceEvent) -> None:
        i, j, k = event.voxel
        if not session.geometry.contains_index((i, j, k)):
            return
        value = 0 if ("shift" in event.modifiers or event.button == "right") else int(session.active_label)
        params = self.params
        flood_fill(session, (k, j, i), value, tolerance=params.tolerance,
                   axis=None if params.three_d else event.axis, source=params.source,
                   paint_over=params.paint_over, over_label=params.over_label,
                   full_connectivity=self.full_connectivity)


def flood_fill(session, seed_kji, value: int, tolerance: float = 0.0, axis: int | None = None,
               source: str = SOURCE_IMAGE, paint_over: str = PAINT_OVER_ALL, over_label: int = 0,
               full_connectivity: bool = False):
    """Fill the connected region around ``seed_kji`` with ``value``; ONE undo step."""
    image, labels = session.image.array, session.labels.array
    seed = tuple(int(v) for v in seed_kji)
    policy = paint_over
    if value == 0 and policy == PAINT_OVER_BACKGROUND:
        policy, over_label = PAINT_OVER_LABEL, int(session.active_label)
    locked = session.label_table.locked_values()
    if source == SOURCE_IMAGE:
        centre = float(image[seed])
        low, high = centre - tolerance, centre + tolerance

        def inside_of(box):
            crop = image[box]
            return (crop >= low) & (crop <= high) & writable_mask(labels[box], policy, over_label, locked)
    elif source == SOURCE_LABELS:
        seed_label = labels[seed]

        def inside_of(box):
            return (labels[box] == seed_label) & writable_mask(labels[box], policy, over_label, locked)
    else:
        raise ValueError(f"unknown fill source {source!r}")
    found = grow_connected(inside_of, seed, labels.shape, axis, full_connectivity)
    if found is None:
        return None
    box, component = found
    return session.apply_layer_crop(LABELS, box, np.asarray(value, dtype=np.uint16),
                                    "Flood fill" if value else "Flood erase", where=component)
