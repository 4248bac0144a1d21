"""3D view: surfaces in physical space, rebuilt off the GUI thread only for changed labels."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.model.geometry import Geometry, full_box
from segviewer.model.session import LABELS
from segviewer.views.view3d import rebuild_surfaces, world_matrix

from viewer_helpers import click, wait_idle


def surface_points_mm(polydata, geometry):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    points = vtk_to_numpy(polydata.GetPoints().GetData()).astype(float)
    used = np.unique(vtk_to_numpy(polydata.GetPolys().GetConnectivityArray()))
    points = points[used]  # the pass's points are shared between labels
    matrix = world_matrix(geometry)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def two_cubes(geometry):
    labels = np.zeros(geometry.shape, np.uint8)
    labels[2:8, 3:9, 4:10] = 1  # k, j, i
    labels[10:14, 12:16, 12:18] = 2
    return labels


OBLIQUE = Geometry((24, 20, 16), (0.7, 0.9, 2.5), (-30.0, 12.0, 100.0),
                   np.array([[0.94, -0.34, 0.0], [0.34, 0.94, 0.0], [0.0, 0.0, 1.0]]))


def test_surfaces_lie_where_the_labels_are_in_physical_space():
    labels = two_cubes(OBLIQUE)
    results = rebuild_surfaces(labels, full_box(OBLIQUE.shape), {}, OBLIQUE.spacing, smoothing=False)
    assert sorted(results) == [1, 2]
    for value, (polydata, box) in results.items():
        exact = [(int(a.min()), int(a.max()) + 1) for a in np.nonzero(labels == value)]
        for part, (start, stop) in zip(box, exact):  # contains the label, with a small margin
            assert start - 3 <= part.start <= start and stop <= part.stop <= stop + 3
        points = surface_points_mm(polydata, OBLIQUE)
        voxels = np.argwhere(labels == value)[:, ::-1]  # (i, j, k)
        centre = OBLIQUE.index_to_physical(voxels.mean(axis=0))
        assert np.allclose(points.mean(axis=0), centre, atol=0.6)
        # every vertex within half a voxel of the label's physical extent
        index = OBLIQUE.physical_to_index(points)
        assert np.all(index.min(axis=0) >= voxels.min(axis=0) - 0.51 - 1e-6)
        assert np.all(index.max(axis=0) <= voxels.max(axis=0) + 0.51 + 1e-6)


def test_only_labels_touched_by_an_edit_are_rebuilt():
    labels = two_cubes(OBLIQUE)
    first = rebuild_surfaces(labels, full_box(OBLIQUE.shape), {}, OBLIQUE.spacing)
    known = {value: box for value, (_, box) in first.items()}
    edit = (slice(11, 12), slice(13, 14), slice(13, 14))
    labels[edit] = 0
    again = rebuild_surfaces(labels, edit, known, OBLIQUE.spacing)
    assert sorted(again) == [2]
    labels[labels == 1] = 0
    gone = rebuild_surfaces(labels, known[1], known, OBLIQUE.spacing)
    assert gone[1] == (None, None)
    assert all(polydata is not None for value, (polydata, _) in gone.items() if value != 1)
    assert rebuild_surfaces(labels, (slice(0, 1), slice(0, 1), slice(0, 1)), {2: known[2]}, OBLIQUE.spacing) == {}


def test_one_pass_splits_labels_that_touch():
    """Two labels sharing a face each get a closed surface from the single pass."""
    geometry = Geometry((12, 12, 12), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    labels = np.zeros(geometry.shape, np.uint8)
    labels[3:9, 3:9, 2:6] = 1
    labels[3:9, 3:9, 6:10] = 2
    results = rebuild_surfaces(labels, full_box(geometry.shape), {}, geometry.spacing, smoothing=False)
    for value, x_range in ((1, (1.5, 5.5)), (2, (5.5, 9.5))):
        polydata, _ = results[value]
        from vtkmodules.util.numpy_support import vtk_to_numpy

        points = vtk_to_numpy(polydata.GetPoints().GetData())
        cells = vtk_to_numpy(polydata.GetPolys().GetConnectivityArray())
        used = points[np.unique(cells)]
        assert used[:, 0].min() == pytest.approx(x_range[0]) and used[:, 0].max() == pytest.approx(x_range[1])
        normals = vtk_to_numpy(polydata.GetPointData().GetNormals())
        assert np.allclose(np.linalg.norm(normals[np.unique(cells)], axis=1), 1.0, atol=1e-4)




def wait_for_build(qtbot, view3d, count):
    qtbot.waitUntil(lambda: view3d.build_count >= count and not view3d.busy, timeout=20000)


@pytest.mark.gui
def test_edit_rebuilds_only_the_new_label_and_swaps_on_the_gui_thread(spleen_window, qtbot):
    window = spleen_window
    view3d = window.view3d
    if view3d.scene is None:
        pytest.skip("no 3D scene (OpenGL unavailable)")
    session = window.controller.session
    spleen_input = view3d.scene.label_actors[1].GetMapper().GetInput()
    builds = view3d.build_count
    i, j, k = session.cursor
    for step in range(3):  # three quick edits, debounced into one build
        box = (slice(k, k + 2), slice(5 + step, 15 + step), slice(5, 15))
        session.apply_layer_crop(LABELS, box, np.full((2, 10, 10), 2, np.uint8), "paint")
    wait_for_build(qtbot, view3d, builds + 1)
    assert view3d.build_count == builds + 1
    assert 2 in view3d.scene.label_actors
    assert view3d.scene.label_actors[1].GetMapper().GetInput() is spleen_input  # untouched
    colour = tuple(round(c * 255) for c in view3d.scene.label_actors[2].GetProperty().GetColor())
    assert colour == session.label_table.colour_of(2)
    session.label_table.update(2, visible=False)
    assert not view3d.scene.label_actors[2].GetVisibility()
    session.undo(), session.undo(), session.undo()
    wait_for_build(qtbot, view3d, builds + 2)
    assert 2 not in view3d.scene.label_actors


@pytest.mark.gui
def test_slice_planes_follow_the_cursor(spleen_window, qtbot):
    window = spleen_window
    view3d = window.view3d
    if view3d.scene is None:
        pytest.skip("no 3D scene (OpenGL unavailable)")
    session = window.controller.session
    window.views["axial"].step_slice(4)
    bounds = view3d.scene.plane_actors["axial"].GetMapper().GetInput().GetBounds()
    z = session.geometry.index_to_physical(session.cursor)[2]
    assert bounds[4] == pytest.approx(z) and bounds[5] == pytest.approx(z)


@pytest.mark.gui
def test_without_opengl_the_app_still_works(make_window, spleen_paths, qtbot, monkeypatch):
    monkeypatch.setenv("SEGVIEWER_NO_GL", "1")
    window = make_window(*spleen_paths)
    assert window.view3d.mode == "off"
    assert "3D view unavailable" in window.view3d.message.text()
    assert window.view3d.message.isVisible()
    view = window.views["axial"]
    target = (30, 40, window.controller.session.cursor[2])
    click(qtbot, view, target)
    assert window.controller.session.cursor == target
    window.view3d.smoothing_changed = None  # options are harmless without a scene
    window.smoothing_action.trigger()
    window.volume_action.trigger()
    window.layout_actions["3d"].trigger()
    wait_idle(qtbot, window)


@pytest.mark.gui
def test_volume_rendering_and_smoothing_toggles(spleen_window, qtbot):
    window = spleen_window
    view3d = window.view3d
    if view3d.scene is None:
        pytest.skip("no 3D scene (OpenGL unavailable)")
    with qtbot.waitSignal(view3d.volume_shown, timeout=20000):  # prepared on a worker
        window.volume_action.trigger()
    assert view3d.scene.volume is not None
    view3d.render()
    window.volume_action.trigger()
    assert view3d.scene.volume is None
    builds = view3d.build_count
    window.smoothing_action.trigger()  # off: rebuild every surface
    wait_for_build(qtbot, view3d, builds + 1)
    assert not view3d.smoothing and 1 in view3d.scene.label_actors


@pytest.mark.gui
def test_picking_a_surface_in_3d_moves_the_cursor(spleen_window, qtbot):
    window = spleen_window
    view3d = window.view3d
    if view3d.scene is None or view3d.render_window is None:
        pytest.skip("no interactive 3D view (OpenGL unavailable)")
    session = window.controller.session
    view3d.render()
    width, height = view3d.render_window.GetSize()
    # the spleen fills the middle of the anterior view; scan a few pixels near the centre
    hits = [view3d.pick(width // 2 + dx, height // 2 + dy) for dx in (-20, 0, 20) for dy in (-20, 0, 20)]
    hits = [h for h in hits if h is not None]
    assert hits, "no surface under the centre of the 3D view"
    i, j, k = session.cursor
    assert session.cursor == hits[-1]
    # the picked voxel is on the spleen's anterior boundary: labelled, or right next to it
    near = session.labels.array[max(k - 1, 0):k + 2, max(j - 2, 0):j + 3, max(i - 2, 0):i + 3]
    assert (near == 1).any()
    assert view3d.pick(2, 2) is None  # background corner: nothing there


@pytest.mark.gui
def test_slow_opengl_renders_are_throttled(spleen_window):
    import time as _time

    from segviewer.views import view3d as view3d_module

    view3d = spleen_window.view3d
    if view3d.scene is None:
        pytest.skip("no 3D scene (OpenGL unavailable)")
    view3d._render_timer.stop()
    view3d._last_render_seconds, view3d._last_render_end = 0.1, _time.perf_counter()
    view3d.request_render()
    assert 150 <= view3d._render_timer.interval() <= 200  # at most ~1/3 of the time rendering
    view3d._render_timer.stop()
    spleen_window.controller.dragging = True  # a drag in a slice view: wait for a pause
    view3d.request_render()
    assert view3d._render_timer.interval() == view3d_module.DRAG_PAUSE_MS
    spleen_window.controller.dragging = False
    view3d._render_timer.stop()
    view3d._last_render_seconds = 0.002  # a real GPU: render at once
    view3d.request_render()
    assert view3d._render_timer.interval() == 0


@pytest.mark.gui
def test_under_an_x_display_the_3d_view_is_interactive(spleen_window):
    """The 3D tests above skip without OpenGL; under Xvfb (CI) OpenGL must be there, so a
    lost GL context (e.g. a Qt platform leaking from another test) fails here, loudly."""
    import os

    from PySide6.QtWidgets import QApplication

    if not os.environ.get("DISPLAY") or os.environ.get("SEGVIEWER_NO_GL"):
        pytest.skip("no X display: the 3D view is expected to be off")
    assert QApplication.platformName() == "xcb"
    assert spleen_window.view3d.scene is not None, spleen_window.view3d.unavailable_reason
