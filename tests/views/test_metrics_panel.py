"""The metrics panel compares the labels with a loaded reference, live, off the GUI thread."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import wait_idle

from segviewer.model.session import LABELS


def _wait_metrics(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.busy and panel.result is not None, timeout=20000)


def test_metrics_panel_against_the_expert_mask(spleen_window, spleen_paths, qtbot):
    window = spleen_window
    panel = window.docks["metrics"].widget()
    assert panel.reference is None and not panel.update_button.isEnabled()
    _, label_path = spleen_paths
    assert panel.load_reference(label_path)
    _wait_metrics(qtbot, panel)
    # the window opened the expert mask as labels: a perfect match
    assert panel.result.merged.dice == 1.0 and panel.result.merged.hd95_mm == 0.0
    assert panel.table.rowCount() == 2 and panel.table.item(0, 0).text() == "1.000"

    # an edit (erase a slab of the spleen) updates the table live, after the debounce
    session = window.controller.session
    box = (slice(10, 14), slice(0, session.labels.array.shape[1]), slice(0, session.labels.array.shape[2]))
    session.apply_layer_crop(LABELS, box, np.zeros_like(session.labels.array[box]), "erase slab")
    panel.result = None
    _wait_metrics(qtbot, panel)
    assert 0.5 < panel.result.merged.dice < 1.0
    assert panel.result.per_label[1].hd95_mm > 0
    assert float(panel.table.item(0, 0).text()) == pytest.approx(panel.result.merged.dice, abs=1e-3)

    panel.copy_json()
    panel.clear_reference()
    assert panel.table.rowCount() == 0 and panel.reference is None
    wait_idle(qtbot, window)


def test_metrics_panel_refuses_a_bad_reference(spleen_window, tmp_path):
    panel = spleen_window.docks["metrics"].widget()
    assert not panel.load_reference(tmp_path / "missing.nii.gz")
    assert "not loaded" in panel.status.text()
    with pytest.raises(ValueError):
        panel.set_reference(np.zeros((2, 2, 2), dtype=np.uint8))
