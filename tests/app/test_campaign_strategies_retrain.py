"""Automatic retraining every N finished cases (campaign.json ``retrain_every``): a case marked
done through the navigator retrains the campaign model in a separate process once N more
cases are finished than the newest model saw, and not before."""

from __future__ import annotations

import json

import pytest

from segviewer.app.campaign import DONE, Campaign, CampaignError, cases_from_source
from segviewer.app.campaign.retrain import AutoRetrain, due, retrain_every, trained_cases
from segviewer.app.campaign.strategies import campaign_model
from tests.app.test_campaign import Window, paint
from tests.app.test_campaign_training import TINY


def with_settings(campaign: Campaign, **settings) -> Campaign:
    manifest = json.loads((campaign.root / "campaign.json").read_text())
    manifest.update(settings)
    (campaign.root / "campaign.json").write_text(json.dumps(manifest))
    return Campaign.open(campaign.root)


def test_a_model_is_retrained_every_n_finished_cases(hippocampus, tmp_path):
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = with_settings(Campaign.create(tmp_path / "study", cases[:5], source={"kind": kind}),
                             retrain_every=2, train_options=TINY)
    ids = campaign.case_ids()
    campaign.import_layer(ids[0], "ann", "labels", hippocampus / "labelsTr" / f"{ids[0]}.nii.gz", state=DONE)
    assert retrain_every(campaign) == 2 and not due(campaign)  # one finished case trains nothing
    window = Window(tmp_path / "recovery")
    navigator = window.navigator(campaign, "ann")
    auto = AutoRetrain(navigator)
    try:
        assert navigator.open_case(ids[1])
        paint(window.host.session)
        navigator.set_state(DONE)  # the save finishes the second case: a model is due, trained at once here
        assert auto.retrains == 1 and not auto.running and window.errors == []
        assert campaign_model(campaign) == campaign.root / "models" / "campaign.json"
        assert trained_cases(campaign) == 2 and not due(campaign)
        assert navigator.open_case(ids[2])
        paint(window.host.session)
        navigator.set_state(DONE)  # one more than the model saw: not yet
        assert auto.retrains == 1 and trained_cases(campaign) == 2
        assert navigator.open_case(ids[3])
        paint(window.host.session)
        navigator.set_state(DONE)  # two more: retrained on four
        assert auto.retrains == 2 and trained_cases(campaign) == 4
    finally:
        navigator.close()
    with pytest.raises(CampaignError, match="retrain_every"):
        retrain_every(with_settings(campaign, retrain_every="often"))
