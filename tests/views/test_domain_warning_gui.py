"""The method panel says, in red, when an image is outside the model's training domain, and
puts "out of domain and unsure/sure" with the mean entropy beside it; the result still comes."""

from __future__ import annotations

import html

import numpy as np
import pytest
import SimpleITK as sitk
from viewer_helpers import wait_idle

from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry

pytest.importorskip("torch")


def test_unet_on_an_out_of_domain_image_warns_in_the_panel_and_still_previews(make_window, qtbot, tmp_path):
    shape = (16, 28, 28)
    rng = np.random.default_rng(0)
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    inside = ((k - 8) / 6) ** 2 + ((j - 14) / 8) ** 2 + ((i - 14) / 7) ** 2 <= 1
    image = (100 + 60 * inside + rng.normal(0, 10, shape)).astype(np.int16)
    path = tmp_path / "thick_slices.nii.gz"  # 4 mm slices: the bundled model knows 1 mm
    sitk.WriteImage(image_to_sitk(image, Geometry(shape[::-1], (1.0, 1.0, 4.0), (0.0, 0.0, 0.0))), str(path))
    window = make_window(path, None)
    panel = window.docks["segment"].widget()
    panel.select_method("unet")
    panel.whole_volume.setChecked(True)
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy and window.controller.preview is not None, timeout=60000)
    text = html.unescape(panel.info.text())
    assert "<span style='color:#c03030'>outside the model's training domain: this model was trained on 1 mm MR" in text
    assert "spacing 1×1×4 mm is far from the training spacing 1×1×1 mm" in text
    assert "verdict: out of domain and " in text and "mean entropy inside the labels" in text
    assert "domain: {" not in text  # the reasons are said in words, not as a JSON dump
    wait_idle(qtbot, window)
