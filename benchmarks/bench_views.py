"""Viewer figures: slice display, overlay updates after an edit, 3D surface rebuilds, start-up.

Rows
----
- New slice (512×512, label overlay) in one view, event to repainted widget, beside the same
  slice shown with pyqtgraph's own levels/LUT path (``ImageItem.setImage`` on the raw int16
  slice and on the label slice with a lookup table).
- A label change in a 40³ box to updated overlays in all three views (repainted), beside the
  session edit alone (undo record included).
- 3D surfaces of a 256³ label map with 3 labels: our rebuild (bounding boxes, crops, one
  ``vtkSurfaceNets3D`` per label, normals, actor swap) beside the bare ``vtkSurfaceNets3D`` on
  the whole volume with the same three labels; plus an incremental rebuild after a 40³ edit.
- The longest GUI-thread stall while that 256³ rebuild runs in the background.
- Dragging the crosshair in the full main window (full mode only).
- Start-up to the first painted frame of the demo (a fresh process; full mode only).

GUI figures are medians of back-to-back repetitions as a user produces them (scrolling,
painting), without a forced garbage collection before each one; each row also gives the GUI
thread's CPU time, which a busy shared machine inflates much less than wall time.

Quick mode (CI smoke test) uses tiny sizes. Needs a display or runs on Qt's off-screen platform.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np

from benchmarks.common import GuiHeartbeat, Row, first_frame_seconds

AREA = "views"


def _application():
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from segviewer.views.app import create_application

    return create_application()


def _ct_like(shape: tuple[int, int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An int16 CT-like volume (body ellipse, organs, noise) and a label map with 3 organs."""
    nz, ny, nx = shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    body = ((x - nx / 2) / (nx * 0.42)) ** 2 + ((y - ny / 2) / (ny * 0.35)) ** 2 <= 1
    image = np.broadcast_to(np.where(body, 40, -1000), shape).astype(np.int16)
    image += rng.normal(0, 20, size=shape).astype(np.int16)
    labels = np.zeros(shape, np.uint8)
    centres = [(0.5, 0.45, 0.35, 0.16), (0.5, 0.55, 0.65, 0.12), (0.45, 0.35, 0.5, 0.1)]
    for value, (cz, cy, cx, r) in enumerate(centres, start=1):
        blob = ((z - cz * nz) / (r * nz * 1.6)) ** 2 + ((y - cy * ny) / (r * ny)) ** 2 + ((x - cx * nx) / (r * nx)) ** 2 <= 1
        labels[blob] = value
        image[blob] += 20 * value
    return image, labels


def _session(shape, rng):
    from segviewer.model.geometry import Geometry
    from segviewer.model.image import ImageVolume
    from segviewer.model.labels import LabelMap, LabelTable
    from segviewer.model.session import Session

    image, labels = _ct_like(shape, rng)
    geometry = Geometry((shape[2], shape[1], shape[0]), (0.8, 0.8, 2.0), (0.0, 0.0, 0.0))
    table = LabelTable()
    table.ensure([1, 2, 3])
    return Session(ImageVolume(image, geometry, name="bench"), LabelMap(labels, geometry, table))


def _slice_views(app, controller, size=(700, 700)):
    from segviewer.views.slice_view import SliceView

    views = {}
    for key in ("axial", "sagittal", "coronal"):
        view = SliceView(controller, key)
        view.resize(*size)
        view.show()
        views[key] = view
    app.processEvents()
    return views


def _time_gui(function, repeat: int, warmup: int = 3) -> tuple[float, float]:
    """Median wall time and median GUI-thread CPU time of back-to-back calls."""
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.thread_time()
        function()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def _interleaved(ours, peer, repeat: int) -> tuple[float, float, float]:
    """Median times of two functions run alternately (fair on a busy machine), and the
    median of the per-pair ratios."""
    ours()
    peer()
    ours_times, peer_times = [], []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        ours()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        peer()
        peer_times.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(ours_times, peer_times)]
    return statistics.median(ours_times), statistics.median(peer_times), statistics.median(ratios)


class _PaintCounter:
    """Counts paint events of some widgets."""

    def __init__(self, app, widgets) -> None:
        from PySide6.QtCore import QEvent, QObject

        counts = {id(w): 0 for w in widgets}
        self._widgets = widgets

        class Filter(QObject):
            def eventFilter(self, watched, event):
                if event.type() == QEvent.Type.Paint and id(watched) in counts:
                    counts[id(watched)] += 1
                return False

        self._filter = Filter()
        self._counts = counts
        for widget in widgets:
            widget.installEventFilter(self._filter)

    def counts(self) -> list[int]:
        return [self._counts[id(w)] for w in self._widgets]


def _slice_rows(app, quick: bool, rng) -> list[Row]:
    import pyqtgraph as pg

    from segviewer.model.session import LABELS
    from segviewer.views.controller import ViewerController

    shape = (12, 64, 64) if quick else (60, 512, 512)
    session = _session(shape, rng)
    controller = ViewerController()
    controller.set_session(session)
    views = _slice_views(app, controller)
    axial = views["axial"]
    repeat = 5 if quick else 41
    slices = iter(np.tile(np.arange(shape[0]), 100))

    def show_next_slice():
        i, j, _ = session.cursor
        controller.set_cursor((i, j, int(next(slices))))
        axial.graphics.viewport().repaint()

    ours, ours_cpu = _time_gui(show_next_slice, repeat)

    # Peer: pyqtgraph's own path (raw int16 slice with levels, labels through a LUT).
    widget = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True, invertY=True)
    widget.setCentralItem(box)
    image_item, label_item = pg.ImageItem(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
    box.addItem(image_item)
    box.addItem(label_item)
    label_item.setOpacity(0.5)
    widget.resize(700, 700)
    widget.show()
    lut = session.label_table.lookup_table(256)
    low, high = controller.window

    def pyqtgraph_slice():
        k = int(next(slices))
        image_item.setImage(session.image.array[k], levels=(low, high), autoLevels=False)
        label_item.setImage(session.labels.array[k], lut=lut, levels=(0, 255), autoLevels=False)
        widget.viewport().repaint()

    image_item.setImage(session.image.array[0], levels=(low, high))
    label_item.setImage(session.labels.array[0], lut=lut, levels=(0, 255))
    box.autoRange()
    for _ in range(5):
        app.processEvents()
    baseline, baseline_cpu = _time_gui(pyqtgraph_slice, repeat)
    widget.close()
    size = f"{shape[2]}×{shape[1]}"
    rows = [Row(AREA, f"new slice {size} with label overlay, one view (to repainted)", ours, "s",
                "pyqtgraph ImageItem levels + LUT path (no orientation, no crosshair)", baseline, "≤ 8 ms",
                note=f"GUI-thread CPU {ours_cpu * 1e3:.2f} ms (peer {baseline_cpu * 1e3:.2f} ms)",
                extra={"cpu_s": ours_cpu, "baseline_cpu_s": baseline_cpu})]

    # Label change in a 40³ box -> all three views updated and repainted.
    edge = min(40, shape[0], shape[1], shape[2])
    k0, j0, i0 = (max(0, n // 2 - edge // 2) for n in shape)
    box_40 = (slice(k0, k0 + edge), slice(j0, j0 + edge), slice(i0, i0 + edge))
    controller.set_cursor((i0 + edge // 2, j0 + edge // 2, k0 + edge // 2))
    app.processEvents()
    values = iter([2, 3] * 1000)

    def edit_only():
        session.apply_layer_crop(LABELS, box_40, np.full((edge,) * 3, next(values), np.uint8), "bench")

    painted = _PaintCounter(app, [view.graphics.viewport() for view in views.values()])

    def edit_and_repaint():
        # As in the application: the edit marks only the changed areas dirty and the event
        # loop paints them; we spin it until every view has painted.
        before = painted.counts()
        edit_only()
        for _ in range(20):
            app.processEvents()
            if all(after > was for after, was in zip(painted.counts(), before)):
                return
        raise RuntimeError("the views did not repaint after the edit")

    for view in views.values():  # the edit alone must not also pay for the views
        controller.labels_changed.disconnect(view._on_labels_changed)
    model_only, model_cpu = _time_gui(edit_only, repeat)
    for view in views.values():
        controller.labels_changed.connect(view._on_labels_changed)
    renders = [v.render_count for v in views.values()]
    total, total_cpu = _time_gui(edit_and_repaint, repeat)
    assert [v.render_count for v in views.values()] == renders  # partial updates only
    rows.append(Row(AREA, f"label change in a {edge}³ box → overlays updated in 3 views (painted)", total, "s",
                    "session edit alone (undo record incl.)", model_only, "≤ 10 ms",
                    note=f"GUI-thread CPU {total_cpu * 1e3:.2f} ms (edit alone {model_cpu * 1e3:.2f} ms)",
                    extra={"cpu_s": total_cpu, "baseline_cpu_s": model_cpu}))
    for view in views.values():
        view.close()
    controller.set_session(None)
    app.processEvents()
    return rows


def _bare_surface_nets(labels: np.ndarray, values, spacing):
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    image = vtkImageData()
    image.SetDimensions(labels.shape[2], labels.shape[1], labels.shape[0])
    image.SetSpacing(*spacing)
    scalars = numpy_to_vtk(labels.reshape(-1), deep=False)
    image.GetPointData().SetScalars(scalars)
    nets = vtkSurfaceNets3D()
    nets.SetInputData(image)
    for index, value in enumerate(values):
        nets.SetValue(index, float(value))
    nets.SetOutputMeshTypeToTriangles()
    nets.Update()
    return nets.GetOutput().GetNumberOfPoints()


def _surface_rows(app, quick: bool, rng) -> list[Row]:
    from segviewer.model.geometry import full_box
    from segviewer.views import background
    from segviewer.views.view3d import Scene3D, rebuild_surfaces

    shape = (32, 32, 32) if quick else (256, 256, 256)
    session = _session(shape, rng)
    labels, geometry = session.labels.array, session.geometry
    spacing = geometry.spacing
    repeat = 3 if quick else 7
    scene = Scene3D()
    scene.set_geometry(geometry)

    candidates = set(session.label_table.values)

    def ours():
        results = rebuild_surfaces(labels, full_box(shape), {}, spacing, candidates=candidates)
        scene.swap_surfaces(results, session.label_table)

    def bare():
        _bare_surface_nets(labels, [1, 2, 3], spacing)

    ours_s, bare_s, ratio = _interleaved(ours, bare, repeat)
    size = "×".join(str(n) for n in shape[::-1])
    rows = [Row(AREA, f"3D surfaces {size}, 3 labels: full rebuild (one pass, split, normals, swap)", ours_s, "s",
                "bare vtkSurfaceNets3D, whole volume, same labels", bare_s, "≤ 1.5×",
                note=f"median of paired ratios {ratio:.2f}", extra={"paired_ratio": ratio})]

    # An edit that grows one label at its edge: only that label is rebuilt, on its own box.
    known = dict(scene.label_boxes)
    edge = min(40, *shape)
    centre = (int(shape[0] * 0.5), int(shape[1] * 0.45), max(edge // 2, int(shape[2] * (0.35 - 0.16))))
    box = tuple(slice(max(0, c - edge // 2), c + edge // 2) for c in centre)
    region = labels[box]
    region[region == 0] = 1

    def incremental():
        results = rebuild_surfaces(labels, box, known, spacing, candidates=candidates)
        scene.swap_surfaces(results, session.label_table)

    touched = sorted(rebuild_surfaces(labels, box, known, spacing, candidates=candidates))
    incremental_s, bare_again, incremental_ratio = _interleaved(incremental, bare, repeat)
    rows.append(Row(AREA, f"3D surfaces {size}: rebuild after a {edge}³ edit of one label", incremental_s, "s",
                    "bare vtkSurfaceNets3D, whole volume", bare_again, "< 1×",
                    note=f"labels rebuilt: {touched}; paired ratio {incremental_ratio:.2f}"))

    # GUI responsiveness while a full rebuild runs on the worker thread (three runs).
    stalls, ticks = [], 0
    for _ in range(1 if quick else 3):
        heartbeat = GuiHeartbeat(interval_ms=5)
        finished = []
        heartbeat.start()
        background.run_in_thread(lambda: rebuild_surfaces(labels, full_box(shape), {}, spacing, candidates=candidates),
                                 lambda results: (scene.swap_surfaces(results, session.label_table),
                                                  finished.append(True)))
        deadline = time.monotonic() + 300
        while not finished and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
        heartbeat.stop()
        background.wait_all()
        stalls.append(max(heartbeat.gaps) if heartbeat.gaps else 0.0)
        ticks += len(heartbeat.gaps)
    rows.append(Row(AREA, f"longest GUI-thread stall during a {size} surface rebuild (median of runs)",
                    statistics.median(stalls), "s", goal="≤ 50 ms",
                    note=f"per run {', '.join(f'{s * 1e3:.0f}' for s in stalls)} ms; 5 ms timer, {ticks} ticks"))
    scene.clear()
    return rows


def _drag_rows(app) -> list[Row]:
    """Dragging the crosshair in the axial view of the full main window on the demo: the time
    from each mouse move to all views repainted (the 3D view renders as often as it can)."""
    import math
    import tempfile

    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    from segviewer.views import files
    from segviewer.views.main_window import MainWindow
    from segviewer.views.screenshot import wait_until_idle

    image, labels = files.demo_paths()
    if not image.exists():
        return []
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(QSettings(f"{folder}/settings.ini", QSettings.Format.IniFormat))
        window._quiet_errors = True
        window.resize(1400, 900)
        window.show()
        window.load(image, labels, block=True)
        wait_until_idle(app, window)
        session = window.controller.session
        view = window.views["axial"]
        viewport = view.graphics.viewport()
        i0, j0, k = session.cursor

        def at(angle: float) -> QPoint:
            point = view.index_to_widget((i0 + 40 * math.cos(angle), j0 + 40 * math.sin(angle), k))
            return QPoint(int(point.x()), int(point.y()))

        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0.0))
        times = []
        for step in range(1, 121):
            start = time.perf_counter()
            QTest.mouseMove(viewport, at(step * 2 * math.pi / 120))
            app.processEvents()
            times.append(time.perf_counter() - start)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0.0))
        renderer = "no 3D" if window.view3d.mode == "off" else window.view3d.mode
        from segviewer.views import view3d as view3d_module

        if view3d_module.OPENGL_RENDERER:
            renderer += f", {view3d_module.OPENGL_RENDERER.split('(')[0].strip()}"
        window.ask_save_changes = lambda text: QMessageBox.StandardButton.Discard
        window.view3d.close_vtk()
        window.close()
        window.deleteLater()
        app.processEvents()
    note = f"120 moves; 3D view: {renderer}"
    return [Row(AREA, "crosshair drag in the main window: mouse move → all views repainted (median)",
                statistics.median(times), "s", goal="≤ 50 ms", note=note),
            Row(AREA, "crosshair drag in the main window: slowest mouse move", max(times), "s",
                goal="≤ 50 ms", note=note)]


def _startup_row() -> Row | None:
    """A fresh process: interpreter start to the first painted frame of the demo."""
    # Settings in a scratch file: never SEGVIEWER_SETTINGS=/dev/null, which Qt's rename-over
    # save would replace with a regular file when run as root.
    with tempfile.TemporaryDirectory(prefix="segviewer-bench-") as scratch:
        return _startup_row_with_settings(os.path.join(scratch, "settings.ini"))


def _startup_row_with_settings(settings: str) -> Row | None:
    times = []
    for _ in range(3):
        elapsed = first_frame_seconds([], settings)
        if elapsed is None:
            return None
        times.append(elapsed)
    return Row(AREA, "start-up to first painted frame with the demo (new process)", statistics.median(times), "s",
               goal="report", note="includes Python, Qt, pyqtgraph and VTK imports and reading the demo")


def run(quick: bool) -> list[Row]:
    rng = np.random.default_rng(7)
    app = _application()
    rows = _slice_rows(app, quick, rng)
    rows += _surface_rows(app, quick, rng)
    if not quick:
        rows += _drag_rows(app)
        startup = _startup_row()
        if startup is not None:
            rows.append(startup)
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    for row in run(arguments.quick):
        ratio = f"  ratio {row.ratio:.2f}" if row.ratio is not None else ""
        baseline = f"  vs {row.baseline_name}: {row.baseline:.4g} {row.unit}" if row.baseline is not None else ""
        print(f"{row.name}: {row.value:.4g} {row.unit}{baseline}{ratio}  goal {row.goal}  {row.note}")
