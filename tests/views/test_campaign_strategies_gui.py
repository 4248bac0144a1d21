"""The campaign model in the real window: the Campaign dock opened with the uncertainty order
ranks the unfinished cases in the background, the opened case shows the model's prediction
as the Segment panel's preview, Apply makes it the case's mask, and the fine-tuning's model
field starts at the campaign model."""

from __future__ import annotations

import numpy as np

from segviewer.app.campaign import DONE, Campaign, cases_from_source
from segviewer.app.campaign.strategies import UNCERTAIN, campaign_model
from segviewer.cli import main
from tests.app.test_campaign_training import TINY
from viewer_helpers import wait_idle


def test_uncertain_order_and_the_campaign_models_preview_in_the_window(make_window, hippocampus, qtbot,
                                                                       monkeypatch, tmp_path):
    monkeypatch.setenv("SEGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    _kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", cases[:4])
    ids = campaign.case_ids()
    for case_id in ids[:2]:
        campaign.import_layer(case_id, "ann", "labels", hippocampus / "labelsTr" / f"{case_id}.nii.gz", state=DONE)
    assert main(["train", "--campaign", str(campaign.root), "--name", "loop", *TINY]) == 0
    card = campaign_model(campaign)
    window = make_window(load=False)
    dock = window.docks["campaign"].widget()
    panel = window.method_panel
    dock.open_campaign(campaign, "ann", order=UNCERTAIN)
    qtbot.waitUntil(lambda: dock.navigator.current in ids[2:] and window.controller.session is not None,
                    timeout=20000)
    qtbot.waitUntil(lambda: set(dock.navigator.uncertainty) == set(ids[2:]), timeout=60000)  # in the background
    qtbot.waitUntil(lambda: panel.compute.viewer.preview is not None and not panel.compute.busy, timeout=60000)
    session = window.controller.session
    assert not session.labels.array.any()  # a preview to accept or correct
    proposed = panel.compute.viewer.preview.shown_mask.copy()
    assert proposed.any()
    panel.apply()
    assert np.array_equal(session.labels.array > 0, proposed)
    panel.select_method("finetune")
    assert panel.form.value("model") == str(card)
    wait_idle(qtbot, window)
    dock.close_campaign()
