"""Switching on volume rendering of a 512×512×300 CT: the volume is prepared on a worker (the
GUI thread keeps ticking) and then appears in the 3D view."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segviewer.views.view3d import VOLUME_MAX_VOXELS, prepare_volume

pytestmark = pytest.mark.gui

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks.common.GuiHeartbeat


def test_prepared_volume_is_shrunk_in_place_and_keeps_its_intensities():
    rng = np.random.default_rng(0)
    array = rng.integers(-1000, 1000, size=(300, 300, 300)).astype(np.float64)
    array[:, :, :150] = 500.0  # a half whose mean survives the shrink
    data = prepare_volume(array, (0.7, 0.8, 2.0))
    dims = data.GetDimensions()
    assert np.prod(dims) <= VOLUME_MAX_VOXELS and dims[0] == 150  # factor 2 per axis
    assert data.GetPointData().GetScalars().GetDataTypeAsString() == "float"  # no 64-bit texture
    assert data.GetSpacing() == pytest.approx((1.4, 1.6, 4.0))
    # The first block covers voxels 0 and 1: its centre lies half a voxel in.
    assert data.GetOrigin() == pytest.approx((0.35, 0.4, 1.0))
    assert data.GetScalarComponentAsDouble(0, 0, 0, 0) == pytest.approx(500.0)
    small = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    same = prepare_volume(small, (1.0, 1.0, 1.0))
    assert same.GetDimensions() == (4, 3, 2) and same.GetScalarRange() == (0.0, 23.0)  # the buffer lives


def test_switching_on_volume_rendering_does_not_stall_the_gui(make_window, qtbot):
    from benchmarks.bench_methods import tiled_ct_case
    from benchmarks.common import GuiHeartbeat
    from segviewer.model.image import ImageVolume
    from segviewer.model.session import Session

    case = tiled_ct_case()
    if case is None:
        pytest.skip("the chest CT series is needed")
    image, geometry = case[0], case[1]
    assert image.shape == (300, 512, 512)
    window = make_window(load=False)
    view3d = window.view3d
    if view3d.scene is None:
        pytest.skip("no 3D scene (OpenGL unavailable)")
    window.controller.set_session(Session(ImageVolume(image, geometry, name="tiled chest CT")))
    qtbot.waitUntil(lambda: not view3d.busy, timeout=20000)
    window.layout_actions["3d"].trigger()
    qtbot.wait(300)
    before = view3d.render_image()

    heartbeat = GuiHeartbeat(interval_ms=10)
    heartbeat.start()
    qtbot.wait(100)
    heartbeat.reset()
    started = time.perf_counter()
    with qtbot.waitSignal(view3d.volume_shown, timeout=30000):
        window.volume_action.trigger()
    prepared_s = time.perf_counter() - started
    heartbeat.stop()
    gaps = heartbeat.gaps[1:]
    assert len(gaps) > 3 and max(gaps) < 0.05, (prepared_s, sorted(gaps)[-3:])

    after = view3d.render_image()
    changed = np.abs(np.asarray(after.constBits(), np.uint8).astype(int)
                     - np.asarray(before.constBits(), np.uint8).astype(int)) > 8
    assert changed.mean() > 0.05  # the rendering covers a good part of the pane
    window.volume_action.trigger()
    assert view3d.scene.volume is None
