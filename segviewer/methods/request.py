"""From a session to a method request, and from a result back to the session.

* :func:`compute_roi` — the box a method works on: the bounding box of the scribbles and
  point prompts grown by a margin in millimetres (per axis, so anisotropic voxels get the
  same physical margin), or the whole volume.
* :func:`build_request` — read-only crops of the image (a view: the image never changes;
  a copy with NaN/±inf voxels filled when it has any, see
  :func:`segviewer.methods.common.finite_image`), and copies of the scribbles and labels
  (small, and the GUI thread may edit them while a worker reads), points converted to
  voxel indices of the crop.
* :func:`apply_result` — writes a result into the label map as ONE undo step, only where
  the result decided (``result.decided``), only inside its ROI and never on NaN/±inf
  image voxels (missing data).

:func:`build_request_from_arrays` is the same on plain arrays (CLI, evaluation).

Box prompts (:class:`BoxPrompt`, two opposite corners in LPS mm) join the scribbles and
points in the ROI and reach the method as :class:`~segviewer.methods.base.VoxelBox` in crop
indices: every voxel whose centre lies between the corners (a box flat along an axis is
the one slice nearest to it: a 2D box on that slice). Lasso prompts (:class:`LassoPrompt`, a
closed curve on one slice) become scribbles: inside = the label on that slice, a band just
outside = background; every scribble method then propagates them in 3D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from segviewer.io.images import check_spacing
from segviewer.methods.base import Method, MethodInputError, MethodRequest, MethodResult, VoxelBox, VoxelPoint
from segviewer.methods.common import finite_image, non_finite_voxels
from segviewer.model.geometry import Box, Geometry, bounding_box, full_box, union_box
from segviewer.model.history import Step
from segviewer.model.points import PointPrompt
from segviewer.tools.polygon import plane_axes, rasterize_polygon
from segviewer.model.session import LABELS, Session

#: Default margin around the scribbles' box, in mm. Wide enough to reach the ends of an
#: organ scribbled on a few slices (3 slices at 25/50/75 % of a 10 cm spleen leave 2.5 cm
#: above and below), small enough to keep the cut interactive.
DEFAULT_MARGIN_MM = 30.0
#: The ROI is never thinner than this along an axis (where the volume allows).
MIN_ROI_VOXELS = 5


def margin_voxels(margin_mm: float, spacing_zyx: Sequence[float]) -> tuple[int, int, int]:
    """A margin in mm as whole voxels per array axis (rounded up)."""
    return tuple(int(math.ceil(max(margin_mm, 0.0) / s - 1e-9)) for s in spacing_zyx)  # type: ignore[return-value]


def spacing_zyx(geometry: Geometry) -> tuple[float, float, float]:
    sx, sy, sz = geometry.spacing
    return (sz, sy, sx)


def point_voxels(points: Sequence[PointPrompt], geometry: Geometry) -> list[tuple[tuple[int, int, int], PointPrompt]]:
    """Each point inside the volume with its voxel in array order (k, j, i)."""
    found = []
    for point in points:
        index = geometry.physical_to_voxel(point.position_mm)
        if index is not None:
            i, j, k = index
            found.append(((k, j, i), point))
    return found


@dataclass(frozen=True)
class BoxPrompt:
    """A box prompt: the object of ``label`` lies inside, everything outside is background.
    ``corner_a`` and ``corner_b`` are two opposite corners in LPS mm (x, y, z)."""

    corner_a: tuple[float, float, float]
    corner_b: tuple[float, float, float]
    label: int = 1


@dataclass(frozen=True)
class LassoPrompt:
    """A closed curve on one slice, its points in LPS mm: ``label`` inside, background just outside."""

    points_mm: tuple[tuple[float, float, float], ...]
    label: int = 1


#: A lasso's background band: from this many voxels outside the curve (a hand-drawn curve
#: is not exact) ...
LASSO_GAP_VOXELS = 1
#: ... to this many further.
LASSO_BAND_VOXELS = 2


def lasso_scribbles(lassos: Sequence[LassoPrompt], geometry: Geometry, scribbles: np.ndarray | None,
                    unannotated: int | None) -> tuple[np.ndarray, int]:
    """The scribbles (a copy; a new array when None) with each lasso drawn in: its inside as
    its label and a band outside it as background, on its slice. A lasso whose points are not
    on one slice of the image, or that misses it, is refused."""
    from scipy import ndimage  # noqa: PLC0415 - only lassos need it

    shape = tuple(int(n) for n in geometry.shape)
    if scribbles is None:
        dtype = np.dtype(np.uint16) if max(int(lasso.label) for lasso in lassos) >= 255 else np.dtype(np.uint8)
        scribbles, unannotated = np.full(shape, np.iinfo(dtype).max, dtype=dtype), int(np.iinfo(dtype).max)
    else:
        scribbles = scribbles.copy()
    for lasso in lassos:
        if int(lasso.label) <= 0 or len(lasso.points_mm) < 3:
            raise MethodInputError("a lasso needs three points or more and a label of 1 or more")
        kji = geometry.physical_to_index(np.asarray(lasso.points_mm, dtype=float))[:, ::-1]
        axis = int(np.argmin(np.ptp(kji, axis=0)))
        if np.ptp(kji[:, axis]) > 0.5 + 1e-6:
            raise MethodInputError("a lasso's points must lie on one slice (they span "
                                   f"{np.ptp(kji[:, axis]):.1f} slices along every axis)")
        index = int(np.rint(kji[:, axis].mean()))
        rows, cols = plane_axes(axis)
        found = rasterize_polygon(kji[:, [rows, cols]], (shape[rows], shape[cols]))
        if found is None or not 0 <= index < shape[axis]:
            raise MethodInputError("a lasso lies outside the image")
        inside = np.zeros((shape[rows], shape[cols]), dtype=bool)
        inside[found[0]] = found[1]
        distance = ndimage.distance_transform_edt(~inside)
        band = (distance > LASSO_GAP_VOXELS) & (distance <= LASSO_GAP_VOXELS + LASSO_BAND_VOXELS)
        plane = scribbles[tuple(index if a == axis else slice(None) for a in range(3))]
        plane[band & (plane == unannotated)] = 0
        plane[inside] = lasso.label
    return scribbles, int(unannotated)


def box_voxels(prompt: BoxPrompt, geometry: Geometry) -> Box | None:
    """The voxels (k, j, i) a box prompt covers on ``geometry``'s grid, clipped to it; None
    when the box misses the image. An axis where both corners fall in one voxel (a flat
    box) keeps that voxel's slice."""
    ijk = geometry.physical_to_index(np.array([prompt.corner_a, prompt.corner_b], dtype=float))
    low, high = ijk.min(axis=0), ijk.max(axis=0)
    start = np.ceil(low - 1e-6).astype(int)
    stop = np.floor(high + 1e-6).astype(int) + 1
    flat = stop <= start  # thinner than a voxel: the slice nearest to its middle
    start[flat] = np.rint((low[flat] + high[flat]) / 2).astype(int)
    stop[flat] = start[flat] + 1
    size = np.asarray(geometry.size)
    start, stop = np.maximum(start, 0), np.minimum(stop, size)
    if np.any(stop <= start):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(start[::-1], stop[::-1]))  # type: ignore[return-value]


def annotated_box(scribbles: np.ndarray, unannotated: int) -> Box | None:
    """The tightest box around the scribbled voxels (None when there are none).

    Fast on big volumes (it runs on the GUI thread): a per-slice reduction finds the
    scribbled slices without a full-size temporary, then only those slices are examined.
    """
    flat = scribbles.reshape(scribbles.shape[0], -1)
    if unannotated == np.iinfo(scribbles.dtype).max:
        per_slice = flat.min(axis=1) < unannotated
    else:
        per_slice = (flat != unannotated).any(axis=1)
    slices = np.flatnonzero(per_slice)
    if slices.size == 0:
        return None
    inner = bounding_box(scribbles[slices] != unannotated)
    return (slice(int(slices[0]), int(slices[-1]) + 1), inner[1], inner[2])


def prompt_box(scribbles: np.ndarray | None, unannotated: int, point_kji: Sequence[tuple[int, int, int]],
               boxes: Sequence[Box] = ()) -> Box | None:
    """The tightest box around the scribbled voxels, the points and the box prompts, or None
    when there are none."""
    box = annotated_box(scribbles, unannotated) if scribbles is not None else None
    for k, j, i in point_kji:
        box = union_box(box, (slice(k, k + 1), slice(j, j + 1), slice(i, i + 1)))
    for prompt in boxes:
        box = union_box(box, prompt)
    return box


def compute_roi(shape: Sequence[int], spacing: Sequence[float], scribbles: np.ndarray | None, unannotated: int,
                point_kji: Sequence[tuple[int, int, int]] = (), margin_mm: float = DEFAULT_MARGIN_MM,
                whole_volume: bool = False, boxes: Sequence[Box] = ()) -> Box:
    """The scribble/point/box-prompt box grown by ``margin_mm`` (clipped to the volume), or
    the whole volume when asked or when there is nothing to box."""
    if whole_volume:
        return full_box(shape)
    box = prompt_box(scribbles, unannotated, point_kji, boxes)
    if box is None:
        return full_box(shape)
    grow = margin_voxels(margin_mm, spacing)
    roi = []
    for s, g, n in zip(box, grow, shape):
        start, stop = max(0, s.start - g), min(int(n), s.stop + g)
        missing = MIN_ROI_VOXELS - (stop - start)
        if missing > 0:  # filters (recursive Gaussians) need a few voxels along every axis
            start = max(0, start - (missing + 1) // 2)
            stop = min(int(n), start + MIN_ROI_VOXELS)
            start = max(0, stop - MIN_ROI_VOXELS)
        roi.append(slice(start, stop))
    return tuple(roi)  # type: ignore[return-value]


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.setflags(write=False)
    return view


def build_request_from_arrays(method: Method, image: np.ndarray, geometry: Geometry, *,
                              scribbles: np.ndarray | None = None, unannotated: int | None = None,
                              points: Sequence[PointPrompt] = (), labels: np.ndarray | None = None,
                              params: Any = None, active_label: int = 1, label_values: Sequence[int] = (),
                              margin_mm: float = DEFAULT_MARGIN_MM, whole_volume: bool | None = None,
                              modality: str = "", boxes: Sequence[BoxPrompt] = (),
                              lassos: Sequence[LassoPrompt] = ()) -> MethodRequest:
    """A request cropped to the ROI from whole-volume arrays (array order k, j, i).

    ``whole_volume=None`` takes the method's own default (``uses_roi``). The image crop is
    a read-only view; scribbles and labels crops are read-only copies. ``boxes`` are refused
    for a method without ``takes_boxes`` and when one misses the image.
    """
    if image.ndim != 3:
        raise MethodInputError(f"methods work on 3D volumes, got an array of shape {image.shape}")
    if scribbles is not None and scribbles.shape != image.shape:
        raise MethodInputError(f"the scribbles ({scribbles.shape}) are not on the image grid ({image.shape})")
    if labels is not None and labels.shape != image.shape:
        raise MethodInputError(f"the labels ({labels.shape}) are not on the image grid ({image.shape})")
    if lassos:
        scribbles, unannotated = lasso_scribbles(lassos, geometry, scribbles, unannotated)
    if unannotated is None:
        unannotated = int(np.iinfo(scribbles.dtype).max) if scribbles is not None else 255
    if whole_volume is None:
        whole_volume = not method.uses_roi
    check_spacing(geometry, "the image")  # absurd voxel sizes overflow margins and distances
    box_kji = located_boxes(method, boxes, geometry)
    located = point_voxels(points, geometry)
    if points and not located and not box_kji and (scribbles is None or annotated_box(scribbles, unannotated) is None):
        raise MethodInputError(_outside_message(points, geometry))
    roi = compute_roi(image.shape, spacing_zyx(geometry), scribbles, unannotated, [p for p, _ in located],
                      margin_mm, whole_volume, [box for box, _ in box_kji])
    origin = np.array([s.start for s in roi])
    image_crop, missing = finite_image(image[roi])
    crop_points = []
    for (k, j, i), point in located:
        local = np.array([k, j, i]) - origin
        if np.all(local >= 0) and np.all(local < [s.stop - s.start for s in roi]):
            if missing is not None and missing[tuple(local)]:
                continue  # a prompt on missing data says nothing about intensities
            crop_points.append(VoxelPoint(tuple(int(v) for v in local), int(point.label), bool(point.positive)))
    scribbles_crop = None
    if scribbles is not None:
        scribbles_crop = scribbles[roi].copy()
        if missing is not None:
            scribbles_crop[missing] = unannotated  # strokes over missing data teach nothing
    params = method.default_parameters() if params is None else params
    return MethodRequest(
        image=_read_only(image_crop),
        geometry=geometry.cropped(roi),
        roi=roi,
        params=params,
        scribbles=_read_only(scribbles_crop) if scribbles_crop is not None else None,
        unannotated=int(unannotated),
        points=crop_points,
        labels=_read_only(labels[roi].copy()) if labels is not None else None,
        active_label=int(active_label),
        label_values=[int(v) for v in label_values],
        volume_shape=tuple(int(n) for n in image.shape),
        modality=str(modality or ""),
        boxes=[VoxelBox(tuple(slice(max(s.start - r.start, 0), min(s.stop, r.stop) - r.start)  # type: ignore[misc]
                              for s, r in zip(box, roi)), label) for box, label in box_kji],
    )


def located_boxes(method: Method, boxes: Sequence[BoxPrompt], geometry: Geometry) -> list[tuple[Box, int]]:
    """Each box prompt's voxels and label; a clear refusal for a method that takes no
    boxes, a box that misses the image or a box of background."""
    if boxes and not method.takes_boxes:
        raise MethodInputError(f"{method.title or method.name} takes no box prompt (see: segviewer methods)")
    located = []
    for prompt in boxes:
        if int(prompt.label) <= 0:
            raise MethodInputError("a box prompt is for a label (1 or more): outside it is background already")
        box = box_voxels(prompt, geometry)
        if box is None:
            corners = " and ".join("(" + ", ".join(f"{v:.1f}" for v in c) + ")" for c in (prompt.corner_a,
                                                                                         prompt.corner_b))
            raise MethodInputError(f"the box with corners {corners} mm lies outside the image")
        located.append((box, int(prompt.label)))
    return located


def _outside_message(points: Sequence[PointPrompt], geometry: Geometry) -> str:
    low, high = geometry.physical_bounds()
    first = ", ".join(f"{v:.1f}" for v in points[0].position_mm)
    span = " x ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(low, high))
    return (f"every point prompt lies outside the image ({len(points)} point(s); the first at "
            f"({first}) mm, the image spans {span} mm, LPS): were they placed on another image?")


def build_request(session: Session, method: Method, params: Any = None, *, margin_mm: float = DEFAULT_MARGIN_MM,
                  whole_volume: bool | None = None) -> MethodRequest:
    """A request from the session's image, scribbles, points and labels (GUI thread only)."""
    scribbles = session.scribbles
    has_scribbles = annotated_box(scribbles.array, scribbles.unannotated) is not None
    if "scribbles" in method.requires and "points" not in method.requires and not has_scribbles:
        raise MethodInputError(f"{method.title or method.name} needs scribbles: draw strokes of a label and of "
                               "background (label 0) first")
    if {"scribbles", "points"} <= set(method.requires) and not has_scribbles and not len(session.points):
        raise MethodInputError(f"{method.title or method.name} needs a point or a scribble of a label first")
    return build_request_from_arrays(
        method, session.image.array, session.geometry,
        scribbles=scribbles.array if has_scribbles else None, unannotated=scribbles.unannotated,
        points=list(session.points), labels=session.labels.array, params=params,
        active_label=session.active_label, label_values=session.label_table.values,
        margin_mm=margin_mm, whole_volume=whole_volume, modality=session.image.metadata.get("modality", ""))


def result_in_volume(result: MethodResult, shape: Sequence[int]) -> None:
    """Check that a result fits the volume it is applied to (clear message, nothing written)."""
    roi = result.roi
    if len(roi) != 3 or any(s.start < 0 or s.stop > n for s, n in zip(roi, shape)):
        raise MethodInputError(f"the result's region {roi} lies outside the volume {tuple(shape)}")
    expected = tuple(s.stop - s.start for s in roi)
    if tuple(result.labels.shape) != expected:
        raise MethodInputError(f"the result's labels ({result.labels.shape}) do not fit its region {expected}")
    if result.decided is not None and tuple(result.decided.shape) != expected:
        raise MethodInputError(f"the result's decided mask ({result.decided.shape}) does not fit its region")


def apply_result(session: Session, result: MethodResult, description: str = "Apply method result") -> Step | None:
    """Write ``result`` into the session's labels as ONE undo step (GUI thread only).

    Only voxels in ``result.roi`` where ``result.decided`` is True change (all of the ROI
    when it is None); locked labels keep their voxels. Returns the step (None when
    nothing changed)."""
    result_in_volume(result, session.geometry.shape)
    return session.apply_layer_crop(LABELS, result.roi, np.asarray(result.labels), description,
                                    where=_writable(result, session.image.array))


def apply_result_to_array(labels: np.ndarray, result: MethodResult, image: np.ndarray | None = None) -> np.ndarray:
    """The same on a plain label array (CLI): returns the written array (widened if needed).
    With the ``image``, its NaN/±inf voxels are left alone, as :func:`apply_result` does."""
    result_in_volume(result, labels.shape)
    values = np.asarray(result.labels)
    if values.size and int(values.max()) > np.iinfo(labels.dtype).max:
        labels = labels.astype(np.uint16)
    region = labels[result.roi]
    where = _writable(result, image)
    if where is None:
        region[...] = values
    else:
        region[where] = values[where]
    return labels


def _writable(result: MethodResult, image: np.ndarray | None) -> np.ndarray | None:
    """Voxels of the ROI the result may write: those it decided, except missing image data
    (NaN/±inf voxels are never labelled, whatever a method made of their filled value)."""
    invalid = non_finite_voxels(image[result.roi]) if image is not None else None
    if invalid is None:
        return result.decided
    return ~invalid if result.decided is None else result.decided & ~invalid
