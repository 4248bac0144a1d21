"""Next-case strategies (app/campaign/strategies.py): in order, seeded random, and most uncertain
first by the campaign model's mean entropy, computed for the unfinished cases and cached per
case and model; the navigator's "next unfinished" follows the chosen one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.campaign import DONE, Campaign, cases_from_source
from segviewer.app.campaign.prelabel import CampaignPrelabel, model_defaults
from segviewer.app.campaign.strategies import (IN_ORDER, RANDOM, UNCERTAIN, UncertaintyCache, campaign_model,
                                               case_uncertainty, model_hash, ordered, score_cases)
from segviewer.app.compute import ComputeWorkflow
from segviewer.app.scheduling import ManualTimer
from segviewer.app.viewer import Viewer
from segviewer.cli import main
from segviewer.errors import SegviewerError
from segviewer.evaluation.simulate import simulate_scribbles
from segviewer.methods.base import CancelToken, no_progress
from segviewer.methods.deep.models import resolve_model_path
from segviewer.methods.registry import get_method
from segviewer.methods.request import build_request_from_arrays
from segviewer.model.geometry import full_box
from segviewer.model.labels import LabelTable
from tests.app.test_campaign import Window
from tests.app.test_campaign_training import TINY
from tests.app.test_compute_workflow import GuiThread, finished

FINISHED = 3


@pytest.fixture(scope="module")
def trained(hippocampus, tmp_path_factory) -> Campaign:
    """Seven hippocampus cases, three done with their reference masks, and a tiny campaign model."""
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    table = LabelTable()
    table.add(1, "anterior")
    table.add(2, "posterior")
    campaign = Campaign.create(tmp_path_factory.mktemp("strategies") / "study", cases[:7], source={"kind": kind},
                               label_table=table)
    for case_id in campaign.case_ids()[:FINISHED]:
        campaign.import_layer(case_id, "alice", "labels", hippocampus / "labelsTr" / f"{case_id}.nii.gz", state=DONE)
    assert main(["train", "--campaign", str(campaign.root), "--name", "loop", *TINY]) == 0
    return campaign


def test_orders_in_order_seeded_random_and_most_uncertain_first():
    ids = [f"case_{n:02d}" for n in range(12)]
    assert ordered(ids, IN_ORDER) == ids
    shuffled = ordered(ids, RANDOM, seed=4)
    assert sorted(shuffled) == ids and shuffled != ids
    assert ordered(ids, RANDOM, seed=4) == shuffled  # the same seed, the same order for everyone
    assert ordered(ids, RANDOM, seed=5) != shuffled
    scores = {"case_03": 0.2, "case_07": 0.9, "case_01": 0.5}
    assert ordered(ids, UNCERTAIN, scores=scores)[:4] == ["case_07", "case_01", "case_03", "case_00"]
    with pytest.raises(SegviewerError, match="unknown case order"):
        ordered(ids, "alphabetical")


def test_uncertain_scores_unfinished_cases_once_per_model_and_next_follows(trained, tmp_path):
    campaign = trained
    ids = campaign.case_ids()
    card = campaign_model(campaign)
    assert card == campaign.root / "models" / "loop.json"
    window = Window(tmp_path / "recovery")
    navigator = window.navigator(campaign, "alice")
    navigator.set_strategy(UNCERTAIN)  # headless: the scoring runs at once
    unfinished = ids[FINISHED:]
    assert set(navigator.uncertainty) == set(unfinished)  # finished cases are not scored
    assert all(0.0 < value < 1.0 for value in navigator.uncertainty.values())
    most = max(unfinished, key=navigator.uncertainty.get)
    assert navigator.next_unfinished() == most
    assert navigator.strategy_order()[: len(unfinished)] == sorted(unfinished, key=navigator.uncertainty.get,
                                                                   reverse=True)
    # the figures are the model's mean entropy over the case, cached per case and model hash
    cache = UncertaintyCache(campaign, card)
    stored = json.loads(cache.path.read_text())
    assert stored["model_hash"] == model_hash(card) and set(stored["cases"]) == set(unfinished)
    assert case_uncertainty(campaign, most, card) == pytest.approx(navigator.uncertainty[most], abs=1e-6)
    cache.store(most, 0.0)  # a cached figure is read, not recomputed
    assert score_cases(campaign, [most], card) == {most: 0.0}
    assert window.errors == []


def test_random_order_is_seeded_and_uncertain_needs_a_model(trained, hippocampus, tmp_path, capsys):
    window = Window(tmp_path / "recovery")
    navigator = window.navigator(trained, "alice")
    navigator.set_strategy(RANDOM, seed=11)
    unfinished = trained.case_ids()[FINISHED:]
    expected = [c for c in ordered(trained.case_ids(), RANDOM, seed=11) if c in unfinished][0]
    assert navigator.next_unfinished() == expected
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    bare = Campaign.create(tmp_path / "bare", cases[:2], source={"kind": kind})
    with pytest.raises(SegviewerError, match="needs a campaign model"):
        window.navigator(bare, "alice").set_strategy(UNCERTAIN)
    assert main(["campaign", "open", str(bare.root), "--order", "uncertain"]) == 2
    assert "needs a campaign model" in capsys.readouterr().err


# == the campaign model pre-labels the next case ======================================================
def test_opening_a_case_previews_the_campaign_model_and_finetune_starts_from_it(trained, hippocampus, tmp_path):
    campaign = trained
    ids = campaign.case_ids()
    card = campaign_model(campaign)
    window = Window(tmp_path / "recovery")
    navigator = window.navigator(campaign, "bob")
    gui = GuiThread()
    viewer = Viewer()
    compute = ComputeWorkflow(viewer, gui.post, ManualTimer, isolate_gil_bound=False)
    # the window shows the case's session before the navigator says it is open
    navigator.events.case_opened.connect(lambda case_id: viewer.set_session(window.host.session))
    prelabel = CampaignPrelabel(navigator, compute)
    try:
        assert navigator.open_case(ids[FINISHED])
        job = compute.latest
        assert job is not None  # queued on the worker as the case opened
        gui.pump_until(finished(compute))
        assert job.state == "finished" and window.errors == []
        session = viewer.session
        preview = viewer.preview
        assert preview is not None and not session.labels.array.any()  # a preview to accept, not an edit
        # it is the campaign model's own prediction of the whole case (the U-Net method on its card)
        method = get_method("unet")
        expected = method.run(build_request_from_arrays(method, session.image.array, session.geometry,
                                                        params=method.Parameters(model=str(card), device="cpu"),
                                                        whole_volume=True), no_progress, CancelToken()).labels
        assert expected.any() and preview.box == full_box(session.geometry.shape)
        assert np.array_equal(preview.labels, expected)
        assert compute.apply() is not None  # accepted as the starting mask, one undo step
        assert np.array_equal(session.labels.array, expected)
        assert viewer.undo() is not None and not session.labels.array.any()
        # a case with the annotator's own mask opens as it was: no prediction over it
        campaign.import_layer(ids[FINISHED + 1], "bob", "labels",
                              hippocampus / "labelsTr" / f"{ids[FINISHED + 1]}.nii.gz", state=DONE)
        assert prelabel.case_opened(ids[FINISHED + 1]) is None
    finally:
        navigator.close()
        assert compute.shutdown(timeout=30.0)
    # the fine-tuning starts from the campaign model, not the bundled one
    defaults = model_defaults(campaign)
    assert defaults == {"unet": {"model": str(card)}, "finetune": {"model": str(card)}}
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(hippocampus / "labelsTr" / f"{ids[FINISHED]}.nii.gz")))
    scribbles = simulate_scribbles(reference, session.geometry, slices=2, seed=1)
    finetune = get_method("finetune")
    params = finetune.Parameters(**defaults["finetune"], steps=2, device="cpu")
    request = build_request_from_arrays(finetune, session.image.array, session.geometry, scribbles=scribbles,
                                        params=params, label_values=[1, 2])
    finetune.run(request, no_progress, CancelToken())
    assert finetune.state.source_kind == "pretrained" and finetune.state.source[0] == resolve_model_path(str(card))
    assert finetune.state.card.name == json.loads(card.read_text())["name"]
