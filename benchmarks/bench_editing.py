"""Editing figures: brush latency, undo record sizes, fill-between-slices accuracy.

Rows
----
- one brush dab (5 mm sphere) on a 512×512×300 volume (0.8×0.8×2.0 mm), from the slice
  event to the model updated (press + release: one undo step recorded), beside a naive
  write that builds the sphere mask over the whole volume (goal ≤ 5 ms). When Qt can start
  offscreen, the same dab is also timed through the viewer's controller with the three slice
  views attached, i.e. up to their label overlays recomputed for the changed box (the
  repaint on screen itself happens later, in the event loop, and is not included);
- one more dab of a running stroke (a drag event);
- undo record of a 3-slice stroke (the 5 mm sphere spans three 2 mm slices) dragged 100 mm
  across the axial plane, beside the 79 MB full copy (goal ≤ 64 KB);
- undo records of clean-ups over a whole-body-sized label filling most of the 512×512×300
  volume (remove small islands; shrink by 1 mm), beside the full copy, with their times;
- fill between slices on the spleen: 5 of the 20 slices that hold spleen given, Dice against
  the expert mask (overall and on the interpolated slices only), and its time.

Quick mode uses a 256×256×100 volume and single runs.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.common import SHARED_DATA, Row, median_seconds

AREA = "editing"
FULL_SHAPE = (300, 512, 512)
QUICK_SHAPE = (100, 256, 256)
SPACING = (0.8, 0.8, 2.0)  # (i, j, k) mm: a 5 mm sphere spans three slices


def _session(shape, with_image: bool = True):
    from segviewer.model.geometry import Geometry
    from segviewer.model.image import ImageVolume
    from segviewer.model.session import Session

    geometry = Geometry(shape[::-1], SPACING, (0.0, 0.0, 0.0))
    image = np.zeros(shape, np.int16)
    return Session(ImageVolume(image, geometry, name="bench"))


def _dab_rows(shape, repeat: int) -> list[Row]:
    from segviewer.tools.base import AXIAL, SliceEvent
    from segviewer.tools.brush import BrushTool

    session = _session(shape)
    tool = BrushTool(size_mm=5.0, sphere=True)
    centre = [shape[2] // 2, shape[1] // 2, shape[0] // 2]
    rng = np.random.default_rng(0)

    def place():
        # a fresh spot each time, so every dab really writes
        offset = rng.integers(-100, 100, size=2)
        return (float(centre[0] + offset[0]), float(centre[1] + offset[1]), float(centre[2]))

    def dab():
        event = SliceEvent(place(), AXIAL)
        tool.press(session, event)
        tool.release(session, event)

    ours = median_seconds(dab, repeat * 5)

    labels = session.labels.array
    spacing_kji = np.array(SPACING[::-1])

    def naive():
        i, j, k = place()
        kk, jj, ii = np.ogrid[:shape[0], :shape[1], :shape[2]]
        mask = (((kk - k) * spacing_kji[0]) ** 2 + ((jj - j) * spacing_kji[1]) ** 2
                + ((ii - i) * spacing_kji[2]) ** 2) <= 2.5 ** 2
        labels[mask] = 1

    baseline = median_seconds(naive, max(3, repeat))
    size = "×".join(str(n) for n in shape[::-1])
    rows = [Row(AREA, f"brush dab, 5 mm sphere, {size}: event → model + undo step", ours * 1e3, "ms",
                "naive full-volume mask write", baseline * 1e3, "≤ 5 ms")]

    # one more dab of a running stroke (a drag event)
    tool.press(session, SliceEvent(tuple(float(v) for v in centre), AXIAL))
    position = [float(v) for v in centre]

    def drag():
        position[0] += 1.0
        if position[0] > shape[2] - 10:
            position[0] = 10.0
        tool.drag(session, SliceEvent(tuple(position), AXIAL))

    drag_seconds = median_seconds(drag, repeat * 5)
    tool.release(session, SliceEvent(tuple(position), AXIAL))
    rows.append(Row(AREA, f"brush drag event (one more dab), {size}", drag_seconds * 1e3, "ms",
                    goal="≤ 5 ms"))
    rows += _dab_with_views(session, tool, place, repeat, size)
    return rows


def _dab_with_views(session, tool, place, repeat: int, size: str) -> list[Row]:
    """The dab through the viewer's controller with three slice views listening."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtWidgets import QApplication

        from segviewer.tools.base import AXIAL, SliceEvent
        from segviewer.views.controller import ViewerController
        from segviewer.views.slice_view import SliceView
    except Exception as error:  # noqa: BLE001 - no Qt here: report model-only
        return [Row(AREA, "brush dab with overlays refreshed", float("nan"), "ms",
                    note=f"Qt not available ({type(error).__name__}); model-only figure above")]
    app = QApplication.instance() or QApplication([])
    controller = ViewerController()
    views = [SliceView(controller, key) for key in ("axial", "sagittal", "coronal")]
    controller.set_session(session)
    controller.set_tool(tool)

    def dab():
        index = place()
        # the cursor at the dab, so every view shows the changed slice and really repaints
        session.set_cursor(tuple(int(round(v)) for v in index))
        app.processEvents()
        event = SliceEvent(index, AXIAL)
        start = time.perf_counter()
        controller.tool_press(event)
        controller.tool_release(event)
        return time.perf_counter() - start

    for _ in range(3):
        dab()
    times = sorted(dab() for _ in range(repeat * 5))
    seconds = times[len(times) // 2]
    for view in views:
        view.deleteLater()
    controller.set_session(None)
    app.processEvents()
    return [Row(AREA, f"brush dab, 5 mm sphere, {size}: event → model + 3 slice overlays updated",
                seconds * 1e3, "ms", goal="≤ 5 ms",
                note="controller + axial/sagittal/coronal SliceView (offscreen); on-screen paint excluded")]


def _stroke_record_row(shape) -> Row:
    from segviewer.tools.base import AXIAL, SliceEvent
    from segviewer.tools.brush import BrushTool

    session = _session(shape)
    tool = BrushTool(size_mm=5.0, sphere=True)
    k = shape[0] // 2
    start = (shape[2] / 2 - 62.5, shape[1] / 2, k)  # 125 voxels × 0.8 mm = 100 mm
    points = [(start[0] + n * 2.5, start[1] + 10 * np.sin(n / 8), k) for n in range(51)]
    tool.press(session, SliceEvent(points[0], AXIAL))
    for p in points[1:]:
        tool.drag(session, SliceEvent(p, AXIAL))
    tool.release(session, SliceEvent(points[-1], AXIAL))
    step = session.history._undo[-1]
    slices = len(set(np.nonzero(session.labels.array.any(axis=(1, 2)))[0]))
    full = session.labels.array.nbytes
    return Row(AREA, f"undo record, {slices}-slice brush stroke (5 mm sphere, 100 mm long)",
               step.nbytes / 1024, "KB", "full label copy", full / 1024, "≤ 64 KB",
               extra={"changed_voxels": int((session.labels.array > 0).sum())})


def _body_label(session, rng):
    """A whole-body-sized ellipsoid (most of the volume) plus scattered small islands."""
    shape = session.labels.array.shape
    kk, jj, ii = np.ogrid[:shape[0], :shape[1], :shape[2]]
    c = [n / 2 for n in shape]
    body = (((kk - c[0]) / (0.48 * shape[0])) ** 2 + ((jj - c[1]) / (0.45 * shape[1])) ** 2
            + ((ii - c[2]) / (0.47 * shape[2])) ** 2) <= 1.0
    labels = session.labels.array
    labels[body] = 1
    for _ in range(400):
        k, j, i = (int(rng.integers(0, n - 3)) for n in shape)
        labels[k:k + 2, j:j + 2, i:i + 2] = 1
    return int(body.sum())


def _cleanup_rows(shape) -> list[Row]:
    from segviewer.tools import cleanup

    rng = np.random.default_rng(1)
    rows = []
    size = "×".join(str(n) for n in shape[::-1])
    for name, operation in (("remove islands < 100 mm³", lambda s: cleanup.remove_small_islands(s, 1, 100.0)),
                            ("shrink by 1 mm", lambda s: cleanup.shrink(s, 1, 1.0))):
        session = _session(shape)
        body_voxels = _body_label(session, rng)
        start = time.perf_counter()
        step = operation(session)
        seconds = time.perf_counter() - start
        full = session.labels.array.nbytes
        rows.append(Row(AREA, f"undo record, clean-up of a whole label ({name}), {size}",
                        step.nbytes / 1e6, "MB", "full label copy", full / 1e6,
                        "report vs 79 MB copy",
                        note=f"label of {body_voxels / 1e6:.1f} M voxels; took {seconds:.2f} s",
                        extra={"seconds": seconds, "changed_voxels": int(sum(
                            c.old_values.size for c in step.changes))}))
    return rows


def _interpolation_rows(repeat: int) -> list[Row]:
    folder = SHARED_DATA / "spleen_ct"
    if not folder.is_dir():
        return []
    from segviewer.io.images import read_image
    from segviewer.model.labels import LabelMap
    from segviewer.model.session import Session
    from segviewer.tools.interpolate import apply_preview, interpolate_between_slices

    image = read_image(folder / "spleen_ct.nii.gz")
    expert = read_image(folder / "spleen_ct_label.nii.gz").array.astype(np.uint8) == 1
    present = np.flatnonzero(expert.any(axis=(1, 2)))
    keys = sorted({int(round(v)) for v in np.linspace(present[0], present[-1], 5)})
    between = [k for k in range(present[0], present[-1] + 1) if k not in keys]

    def dice(a, b):
        return float(2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))

    rows = []
    for align in (True, False):
        sparse = np.zeros(expert.shape, np.uint8)
        sparse[keys] = expert[keys]
        session = Session(image, LabelMap(sparse.copy(), image.geometry))
        seconds = median_seconds(lambda: interpolate_between_slices(session, 1, 0, align_centroids=align),
                                 repeat)
        apply_preview(session, interpolate_between_slices(session, 1, 0, align_centroids=align))
        result = session.labels.array == 1
        method = "centroid-aligned signed distance" if align else "plain signed distance"
        rows.append(Row(AREA, f"fill between slices, spleen, {len(keys)} of {len(present)} slices "
                        f"given ({method}): Dice", dice(result, expert), "Dice",
                        note=f"key slices {keys}; Dice on the {len(between)} interpolated slices "
                             f"{dice(result[between], expert[between]):.3f}; {seconds * 1e3:.0f} ms",
                        extra={"dice_interpolated_only": dice(result[between], expert[between]),
                               "seconds": seconds, "key_slices": keys}))
    return rows


def run(quick: bool) -> list[Row]:
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    repeat = 1 if quick else 9
    rows = _dab_rows(shape, repeat)
    rows.append(_stroke_record_row(shape))
    rows += _cleanup_rows(shape)
    rows += _interpolation_rows(repeat)
    return rows


if __name__ == "__main__":
    import sys

    for row in run("--quick" in sys.argv):
        ratio = f"  ratio {row.ratio:.3g}" if row.ratio is not None else ""
        base = f"  (baseline {row.baseline_name}: {row.baseline:.4g} {row.unit})" if row.baseline is not None else ""
        print(f"{row.name}: {row.value:.4g} {row.unit}{base}{ratio}  goal {row.goal}  {row.note}")
