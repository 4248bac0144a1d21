"""The method panel on a real window: generated form, run → translucent preview → apply as
one undo step, cancel, auto-update after a stroke, the threshold histogram, and a GUI that
keeps responding while a long cut runs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from viewer_helpers import wait_idle

from segviewer.evaluation.simulate import simulate_scribbles
from segviewer.model.geometry import full_box
from segviewer.model.parameters import parameter_specs
from segviewer.model.session import SCRIBBLES


@pytest.fixture
def spleen_plain(make_window, spleen_paths):
    image, _ = spleen_paths
    if not image.exists():
        pytest.skip(f"spleen CT not found at {image}")
    return make_window(image, None)


def reference(spleen_paths):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(spleen_paths[1])))


def scribble(session, values, description="scribble"):
    """Draw scribbles the way the scribble tool records them (one undo step, events)."""
    mask = values != 255
    session.apply_layer_crop(SCRIBBLES, full_box(values.shape), values, description, where=mask)


def wait_result(qtbot, panel, timeout=60000):
    qtbot.waitUntil(lambda: not panel.busy and panel.controller.preview is not None, timeout=timeout)


def test_form_is_generated_from_the_parameters(spleen_plain):
    panel = spleen_plain.docks["segment"].widget()
    names = [panel.method_combo.itemData(i) for i in range(panel.method_combo.count())]
    assert names[:4] == ["graphcut", "watershed", "region_growing", "threshold"]
    for name in ("graphcut", "threshold", "region_growing", "watershed"):
        panel.select_method(name)
        specs = parameter_specs(panel.methods[name].Parameters)
        assert [s.name for s in panel.form.specs] == [s.name for s in specs]
        assert panel.form.parameters() == panel.methods[name].Parameters()  # the defaults
    panel.select_method("graphcut")
    panel.form.editors["smoothness"].setValue(3.5)
    panel.form.editors["connectivity"].setCurrentIndex(1)
    params = panel.form.parameters()
    assert params.smoothness == 3.5 and params.connectivity == 18
    assert not panel.whole_volume.isChecked()
    panel.select_method("threshold")
    assert panel.whole_volume.isChecked()  # threshold works on the whole volume by default


def test_run_preview_apply_undo_cancel(spleen_plain, spleen_paths, qtbot):
    window = spleen_plain
    panel = window.docks["segment"].widget()
    session = window.controller.session
    ref = reference(spleen_paths)
    assert not panel.apply_button.isEnabled()
    scribble(session, simulate_scribbles(ref, session.geometry, slices=3))
    panel.select_method("graphcut")
    panel.run()
    wait_result(qtbot, panel)
    preview = window.controller.preview
    assert preview is not None and preview.shown_mask.any()
    assert "solver" in panel.info.text()
    assert not session.labels.array.any()  # a preview changes nothing yet
    assert panel.apply_button.isEnabled()
    panel.apply()
    labels = session.labels.array
    inter = np.count_nonzero((labels == 1) & (ref == 1))
    assert 2 * inter / (np.count_nonzero(labels == 1) + np.count_nonzero(ref == 1)) > 0.95
    assert window.controller.preview is None
    session.undo()  # ONE step takes the whole result back
    assert not session.labels.array.any()
    session.redo()
    assert session.labels.array.any()

    panel.run()
    wait_result(qtbot, panel)
    panel.cancel()
    assert window.controller.preview is None
    wait_idle(qtbot, window)


def test_auto_update_after_a_stroke(spleen_plain, spleen_paths, qtbot):
    window = spleen_plain
    panel = window.docks["segment"].widget()
    session = window.controller.session
    panel.select_method("watershed")
    panel.auto_update.setChecked(True)
    scribble(session, simulate_scribbles(reference(spleen_paths), session.geometry, slices=3))
    wait_result(qtbot, panel)
    first = panel.compute.latest
    # another stroke: the method reruns on its own, the newer result replaces the preview
    extra = np.full(session.geometry.shape, 255, dtype=np.uint8)
    extra[12, 20:25, 20:25] = 0
    scribble(session, extra)
    qtbot.waitUntil(lambda: panel.compute.latest is not first and not panel.busy, timeout=30000)
    assert panel.compute.latest.state == "finished"
    assert window.controller.preview is not None
    panel.auto_update.setChecked(False)
    wait_idle(qtbot, window)


def test_threshold_histogram_sets_the_manual_range(spleen_plain, qtbot):
    window = spleen_plain
    panel = window.docks["segment"].widget()
    panel.select_method("threshold")
    assert panel.histogram.isVisible()
    panel.form.set_value("method", "manual")
    panel._refresh_histogram()
    panel.histogram.region.setRegion((100.0, 300.0))
    panel.histogram._on_region()
    params = panel.form.parameters()
    assert params.lower == pytest.approx(100.0) and params.upper == pytest.approx(300.0)
    panel.run()
    wait_result(qtbot, panel)
    image = window.controller.session.image.array
    preview = window.controller.preview
    assert np.array_equal(preview.labels == 1, (image >= 100) & (image <= 300))
    assert "lower" in panel.info.text()
    panel.form.set_value("method", "otsu")
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy and len(panel.histogram.lines) == 1, timeout=30000)
    wait_idle(qtbot, window)


def test_errors_are_messages(spleen_plain, qtbot):
    panel = spleen_plain.docks["segment"].widget()
    panel.select_method("graphcut")
    panel.run()  # no scribbles yet
    assert "needs scribbles" in panel.info.text() or "needs scribbles" in spleen_plain.statusBar().currentMessage()


def test_gui_keeps_responding_during_a_long_cut(spleen_plain, spleen_paths, qtbot):
    """A graph cut on the whole volume with a fine neighbourhood and no coarse-to-fine takes a
    while; the GUI thread's timer keeps firing (PyMaxflow runs in the helper process)."""
    window = spleen_plain
    panel = window.docks["segment"].widget()
    session = window.controller.session
    scribble(session, simulate_scribbles(reference(spleen_paths), session.geometry, slices=3))
    panel.select_method("graphcut")
    panel.form.set_value("multiscale", "off")
    panel.form.set_value("connectivity", 26)
    panel.whole_volume.setChecked(True)
    gaps, last = [], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    timer.start()
    panel.run()
    wait_result(qtbot, panel, timeout=120000)
    timer.stop()
    assert len(gaps) > 10
    # generous (shared CI machines); the benchmark reports the real figure
    assert max(gaps[2:]) < 0.5, max(gaps)
    wait_idle(qtbot, window)
