"""The app asks once before it runs a model that carries code (issue 11, critical).

A TorchScript model picked in the method panel fails on the worker as untrusted; the panel
then shows the real trust dialog with the file's path and SHA-256. "Trust and run" records
the digest and runs again; "Don't run" leaves it unloaded, says so, and automatic reruns do
not ask again (the next Run click does). ``tests/conftest.py`` points the trust store at a
fresh folder per test.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton
from viewer_helpers import wait_idle

from segviewer.io.images import image_to_sitk
from segviewer.io.trust import is_trusted, trusted_models
from segviewer.model.geometry import Geometry

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHAPE = (12, 20, 20)


class Positive(torch.nn.Module):
    """Label 1 where the input is positive."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 4 * x], dim=1)


@pytest.fixture
def torchscript_model(tmp_path):
    from segviewer.methods.deep.card import ModelCard
    from segviewer.methods.deep.models import TORCHSCRIPT_CARD

    card = ModelCard(name="positive", labels={1: "one"}, network={"class": "monai.networks.nets.UNet", "kwargs": {}},
                     spacing=None, normalization={"kind": "none"}, roi_size=[16, 16, 16])
    path = tmp_path / "positive.ts"
    torch.jit.save(torch.jit.script(Positive()), str(path), _extra_files={TORCHSCRIPT_CARD: json.dumps(card.to_dict())})
    return path


@pytest.fixture
def unet_window(make_window, tmp_path, torchscript_model):
    image = np.where(np.arange(SHAPE[2]) < SHAPE[2] // 2, -1.0, 1.0).astype(np.float32) * np.ones(SHAPE, np.float32)
    path = tmp_path / "image.nii.gz"
    sitk.WriteImage(image_to_sitk(image, Geometry(SHAPE[::-1], (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))), str(path))
    window = make_window(path, None)
    panel = window.docks["segment"].widget()
    panel.select_method("unet")
    panel.form.set_value("model", str(torchscript_model))
    return window, panel


def open_trust_dialog(qtbot, panel) -> QDialog:
    panel.run()
    qtbot.waitUntil(lambda: panel.trust_dialog is not None and panel.trust_dialog.isVisible(), timeout=30000)
    dialog = panel.findChild(QDialog, "trust_model_dialog")
    assert dialog is panel.trust_dialog
    return dialog


def test_trust_dialog_shows_the_digest_and_trust_runs_the_model(unet_window, qtbot, torchscript_model):
    window, panel = unet_window
    controller = window.controller
    digest = hashlib.sha256(torchscript_model.read_bytes()).hexdigest()
    dialog = open_trust_dialog(qtbot, panel)
    assert dialog.findChild(QLabel, "trust_model_digest").text() == digest
    assert any(str(torchscript_model) in label.text() for label in dialog.findChildren(QLabel))
    assert controller.preview is None and not is_trusted(digest)  # nothing ran before the answer
    qtbot.mouseClick(dialog.findChild(QPushButton, "trust_model"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy and controller.preview is not None, timeout=30000)
    assert is_trusted(digest) and panel.trust_dialog is None
    assert "positive" in panel.info.text()
    # remembered: the next run does not ask
    controller.clear_preview()
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy and controller.preview is not None, timeout=30000)
    assert panel.trust_dialog is None
    wait_idle(qtbot, window)


def test_refusing_leaves_the_model_unloaded_and_auto_runs_do_not_ask_again(unet_window, qtbot):
    window, panel = unet_window
    controller = window.controller
    dialog = open_trust_dialog(qtbot, panel)
    qtbot.mouseClick(dialog.findChild(QPushButton, "refuse_model"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.trust_dialog is None, timeout=5000)
    assert "model not trusted, not loaded" in panel.info.text()
    assert controller.preview is None and trusted_models() == {}
    panel.compute.run(panel.current_settings())  # what auto-update does after a stroke
    qtbot.waitUntil(lambda: not panel.busy, timeout=30000)
    qtbot.wait(100)  # a dialog would open on the next turn of the event loop
    assert panel.trust_dialog is None and controller.preview is None
    assert "Trust and run" in panel.info.text()  # the failure says how to trust
    # an explicit Run asks again
    dialog = open_trust_dialog(qtbot, panel)
    qtbot.mouseClick(dialog.findChild(QPushButton, "refuse_model"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.trust_dialog is None, timeout=5000)
    wait_idle(qtbot, window)
