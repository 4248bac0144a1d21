"""The method panel's deep-learning outputs on a small synthetic image: the live loss curve,
the entropy heat map (cleared with the preview), the suggestion's "Go there", Save model… /
Reset with ONE fine-tuning instance per panel, Cancel that stops and keeps the prediction, and
the model picker; plus ``segviewer segment --model``."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtWidgets import QFileDialog, QMessageBox, QToolButton
from viewer_helpers import wait_idle

from segviewer.io.images import image_to_sitk
from segviewer.methods.base import MethodCancelled, MethodResult
from segviewer.methods.deep.finetune import FinetuneMethod
from segviewer.model.geometry import Geometry, full_box
from segviewer.model.session import SCRIBBLES

pytest.importorskip("torch")

SHAPE = (16, 28, 28)


def blob_image(path):
    rng = np.random.default_rng(0)
    k, j, i = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    inside = ((k - 8) / 6) ** 2 + ((j - 14) / 8) ** 2 + ((i - 14) / 7) ** 2 <= 1
    image = (100 + 60 * inside + rng.normal(0, 10, SHAPE)).astype(np.int16)
    geometry = Geometry(SHAPE[::-1], (1.0, 1.0, 1.5), (0.0, 0.0, 0.0))
    sitk.WriteImage(image_to_sitk(image, geometry), str(path))
    return path


def blob_scribbles():
    scribbles = np.full(SHAPE, 255, np.uint8)
    scribbles[8, 10:18, 14] = 1
    scribbles[8, 2, 3:-3] = 0
    scribbles[8, -3, 3:-3] = 0
    return scribbles


@pytest.fixture
def deep_window(make_window, tmp_path):
    window = make_window(blob_image(tmp_path / "blob.nii.gz"), None)
    session = window.controller.session
    values = blob_scribbles()
    session.apply_layer_crop(SCRIBBLES, full_box(SHAPE), values, "scribble", where=values != 255)
    panel = window.docks["segment"].widget()
    panel.whole_volume.setChecked(True)
    return window, panel


def finetune_form(panel, steps, refresh_every):
    panel.select_method("finetune")
    panel.form.set_value("model", "scratch")
    panel.form.set_value("steps", steps)
    panel.form.set_value("refresh_every", refresh_every)


def test_finetune_live_outputs_go_there_save_reset(deep_window, qtbot, tmp_path, monkeypatch):
    window, panel = deep_window
    controller = window.controller
    finetune_form(panel, steps=6, refresh_every=2)
    assert panel.deep.loss_plot.isHidden() and not panel.deep.model_row.isHidden()
    partials = []
    panel.compute.partial_ready.connect(lambda job, result: partials.append(result))
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy and controller.preview is not None, timeout=60000)
    assert partials and all(p.info.get("partial") for p in partials)  # refreshed live
    assert panel.deep.loss_points() == 6 and panel.deep.loss_plot.isVisible()
    heatmap = controller.heatmap
    assert heatmap is not None and heatmap.name == "uncertainty" and heatmap.values.shape == SHAPE
    assert 0.0 <= float(heatmap.values.min()) and float(heatmap.values.max()) <= 1.0
    assert heatmap.high == max(0.1, float(heatmap.values.max()))  # coloured up to its peak
    # the entropy map is drawn, not dumped into the text; its mean inside the labels is reported
    assert "array" not in panel.info.text() and "steps: 6" in panel.info.text()
    assert "mean entropy inside the labels" in panel.info.text()

    # where to scribble next, and Go there
    assert panel.deep.suggestion.text().startswith("Most uncertain") and panel.deep.go_button.isEnabled()
    controller.set_cursor((0, 0, 0))
    panel.deep.go_button.click()
    assert controller.cursor == tuple(panel.compute.last_result.info["suggestion"]["index"])  # the peak
    assert controller.cursor != (0, 0, 0)

    # continue: the same instance goes on training
    method = panel.method
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy and panel.deep.loss_points() == 12, timeout=60000)
    assert panel.method is method and method.state.steps_done == 12

    # Save model… writes the network and its card; an error is a message box, not a traceback
    target = tmp_path / "tuned.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    panel.deep.save_button.click()
    assert not warnings and target.exists() and (tmp_path / "tuned.pt").exists()
    panel.deep.reset_button.click()
    assert method.state is None and panel.deep.loss_plot.isHidden()
    panel.deep.save_button.click()
    assert warnings == ["nothing to save: fine-tune first"]

    # Apply drops the preview, and the uncertainty with it
    panel.apply()
    assert controller.preview is None and controller.heatmap is None
    assert controller.session.labels.array.any()
    wait_idle(qtbot, window)


class FakeDeep(FinetuneMethod):
    """Trains until cancelled, refreshing a prediction every step, and stops the way
    fine-tuning does: a last partial marked ``cancelled``, then MethodCancelled."""

    def result(self, request, steps, **extra):
        labels = np.zeros([s.stop - s.start for s in request.roi], np.uint8)
        labels[4:10, 8:20, 8:20] = 1
        entropy = np.full(labels.shape, 0.25, np.float32)
        info = {"loss_curve": [1.0 / (n + 1) for n in range(steps)], "entropy": entropy, **extra}
        return MethodResult(roi=request.roi, labels=labels, classes=[0, 1], info=info)

    def run(self, request, progress, cancel):
        steps = 0
        while not cancel.cancelled:
            steps += 1
            progress(0.5, f"step {steps}", partial=self.result(request, steps, partial=True))
            time.sleep(0.02)
        progress(1.0, f"stopped after {steps} steps", partial=self.result(request, steps, cancelled=True))
        raise MethodCancelled()


def test_cancel_stops_and_keeps_the_last_prediction(deep_window, qtbot, monkeypatch):
    window, panel = deep_window
    controller = window.controller
    fake = FakeDeep()
    panel.select_method("finetune")
    settings = panel.current_settings()
    settings.method = fake
    monkeypatch.setattr(panel, "current_settings", lambda: settings)
    panel.run()
    qtbot.waitUntil(lambda: controller.preview is not None and panel.deep.loss_points() > 0, timeout=20000)
    assert controller.heatmap is not None and controller.heatmap.name == "uncertainty"
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.busy, timeout=20000)
    qtbot.wait(50)
    assert controller.preview is not None  # the last prediction stays: it can still be applied
    assert panel.compute.last_result.info["cancelled"] is True
    assert controller.heatmap is not None
    assert panel.apply_button.isEnabled()
    panel.cancel()  # nothing runs now: Cancel drops the preview, and the uncertainty with it
    assert controller.preview is None and controller.heatmap is None
    wait_idle(qtbot, window)


def test_cancel_drops_the_preview_of_a_method_that_does_not_stop_with_one(deep_window, qtbot, monkeypatch):
    window, panel = deep_window
    controller = window.controller

    class Tiles(FakeDeep):
        def run(self, request, progress, cancel):
            while True:  # tile partials, and a plain cancel (as the U-Net's inference)
                progress(0.5, "tile", partial=self.result(request, 0, partial=True))
                cancel.raise_if_cancelled()
                time.sleep(0.02)

    settings = panel.current_settings()
    settings.method = Tiles()
    monkeypatch.setattr(panel, "current_settings", lambda: settings)
    panel.run()
    qtbot.waitUntil(lambda: controller.preview is not None, timeout=20000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.busy, timeout=20000)
    qtbot.wait(50)
    assert controller.preview is None
    wait_idle(qtbot, window)


def test_model_parameter_has_a_file_picker(deep_window, monkeypatch, tmp_path):
    _, panel = deep_window
    for name in ("finetune", "unet"):
        panel.select_method(name)
        card = tmp_path / f"{name}_model.json"
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(card), ""))
        panel.form.findChild(QToolButton, "model_picker").click()
        assert panel.form.value("model") == str(card)
        assert panel.form.parameters().model == str(card)
    panel.select_method("graphcut")
    assert panel.form.findChild(QToolButton, "model_picker") is None
