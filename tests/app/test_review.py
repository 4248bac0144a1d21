"""Review mode in the application tier, with no display and no Qt: each annotator's mask as an
outline layer, the disagreement map and the agreement table computed on the worker, starting
from the consensus as one undo step, Cancel, and accept / reject written into a campaign."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.campaign import (ACCEPTED, DONE, REJECTED, Campaign, CampaignError, CaseLockedError,
                                    cases_from_source)
from segviewer.app.review import ANNOTATOR_COLOURS, CaseReview, ReviewWorkflow, review_of_campaign_case
from segviewer.app.viewer import Viewer
from segviewer.errors import GeometryMismatchError
from segviewer.evaluation.agreement import agreeing_raters
from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import Session
from tests.app.test_compute_workflow import gui  # noqa: F401  (the test's thread as the GUI thread)

GEOMETRY = Geometry((40, 32, 16), (0.9, 0.9, 2.0), (5.0, 0.0, -3.0))


def annotator_masks(geometry: Geometry = GEOMETRY, count: int = 3) -> list[np.ndarray]:
    """Two labels drawn by ``count`` annotators, each a little larger or smaller than the last."""
    k, j, i = np.ogrid[tuple(slice(0, n) for n in geometry.shape)]
    centre = [n / 2 for n in geometry.shape]
    masks = []
    for number in range(count):
        scale = 0.9 + 0.1 * number
        inside = sum(((axis - c) / (r * scale)) ** 2 for axis, c, r in
                     zip((k, j, i), centre, (5, 10, 14))) <= 1
        mask = inside.astype(np.uint8)
        mask[:, :, geometry.shape[2] // 2:] *= 2
        masks.append(mask)
    return masks


def session_on(geometry: Geometry = GEOMETRY) -> Session:
    image = np.random.default_rng(0).normal(100, 10, geometry.shape).astype(np.int16)
    return Session(ImageVolume(image, geometry))


@pytest.fixture
def workflow(gui):
    viewer = Viewer()
    viewer.set_session(session_on())
    review = ReviewWorkflow(viewer, gui.post, reviewer="rev")
    yield review
    assert review.shutdown(timeout=30.0), "the review worker did not stop"


def write_masks(folder, masks, geometry=GEOMETRY) -> list[tuple[str, object]]:
    pairs = []
    for name, mask in zip(("ann", "ben", "cleo", "dan"), masks):
        path = folder / f"{name}.nii.gz"
        sitk.WriteImage(image_to_sitk(mask, geometry), str(path))
        pairs.append((name, path))
    return pairs


def test_each_annotator_is_an_outline_layer_and_the_agreement_comes_from_the_worker(gui, workflow, tmp_path):
    masks = annotator_masks()
    workflow.open_files(write_masks(tmp_path, masks))
    assert workflow.busy and workflow.review is None  # reading happens on the worker
    gui.pump_until(lambda: workflow.result is not None)
    viewer = workflow.viewer
    assert [layer.name for layer in viewer.outlines] == ["ann", "ben", "cleo"]
    assert [layer.colour for layer in viewer.outlines] == list(ANNOTATOR_COLOURS[:3])
    assert all(np.array_equal(layer.labels, mask) for layer, mask in zip(viewer.outlines, masks))
    # The disagreement map is the heat map: 2 of 3 agree on the rim between the smallest and largest mask.
    assert viewer.heatmap.name == "disagreement" and viewer.heatmap.high == 2.0
    np.testing.assert_array_equal(viewer.heatmap.values, agreeing_raters(masks))
    assert set(np.unique(viewer.heatmap.values)) == {0, 2}
    pairs = [(p.rater_a, p.rater_b, p.label) for p in workflow.result.pairs]
    assert pairs == [("ann", "ben", 1), ("ann", "ben", 2), ("ann", "cleo", 1), ("ann", "cleo", 2),
                     ("ben", "cleo", 1), ("ben", "cleo", 2)]
    assert all(0.6 < p.dice < 1.0 for p in workflow.result.pairs)
    assert not workflow.busy


def test_hiding_an_outline_and_the_disagreement(gui, workflow):
    workflow.show(CaseReview(["ann", "ben"], annotator_masks(count=2), GEOMETRY))
    gui.pump_until(lambda: workflow.result is not None)
    workflow.set_outline_visible("ann", False)
    assert [layer.name for layer in workflow.viewer.outlines] == ["ben"]
    workflow.set_outline_visible("ann", True)
    assert [layer.name for layer in workflow.viewer.outlines] == ["ann", "ben"]
    workflow.show_disagreement(False)
    assert workflow.viewer.heatmap is None
    workflow.close()
    assert workflow.viewer.outlines == [] and workflow.review is None


def test_opening_another_image_closes_the_review(gui, workflow):
    workflow.show(CaseReview(["ann", "ben"], annotator_masks(count=2), GEOMETRY))
    workflow.start_from_consensus("vote")  # still running when the next case opens
    workflow.viewer.set_session(session_on())
    assert workflow.review is None and workflow.viewer.outlines == []
    gui.pump_until(lambda: not workflow.busy)
    assert workflow.last_consensus is None and not workflow.viewer.session.labels.array.any()


def test_starting_from_the_consensus_is_one_undo_step(gui, workflow):
    masks = annotator_masks()
    workflow.show(CaseReview(["ann", "ben", "cleo"], masks, GEOMETRY))
    gui.pump_until(lambda: workflow.result is not None)
    session = workflow.viewer.session
    before = session.labels.array.copy()
    workflow.start_from_consensus("staple")
    gui.pump_until(lambda: workflow.last_consensus is not None)
    estimator = sitk.MultiLabelSTAPLEImageFilter()
    estimator.SetLabelForUndecidedPixels(0)
    expected = sitk.GetArrayFromImage(estimator.Execute([sitk.GetImageFromArray(m) for m in masks]))
    np.testing.assert_array_equal(session.labels.array, expected)
    assert {p.rater for p in workflow.last_consensus.performance} == {"ann", "ben", "cleo"}
    workflow.viewer.undo()
    np.testing.assert_array_equal(session.labels.array, before)
    workflow.viewer.redo()
    np.testing.assert_array_equal(session.labels.array, expected)


def test_cancel_stops_a_long_review_and_keeps_the_labels(gui):
    geometry = Geometry((256, 256, 60), (0.8, 0.8, 1.5), (0.0, 0.0, 0.0))
    viewer = Viewer()
    viewer.set_session(session_on(geometry))
    workflow = ReviewWorkflow(viewer, gui.post)
    ended, progress = [], []
    workflow.events.busy_changed.connect(lambda busy: busy or ended.append(True))
    workflow.events.progress.connect(lambda fraction, text: progress.append(fraction))
    try:
        workflow.show(CaseReview(["a", "b", "c", "d"], annotator_masks(geometry, 4), geometry))
        gui.pump_until(lambda: any(f > 0.05 for f in progress))  # the pairs have begun
        workflow.cancel()
        gui.pump_until(lambda: bool(ended))
        assert workflow.result is None and viewer.heatmap is None
        assert not viewer.session.labels.array.any()
    finally:
        assert workflow.shutdown(timeout=60.0)


def test_figures_that_finish_just_as_cancel_is_pressed_are_not_shown(gui, workflow):
    job = workflow.show(CaseReview(["ann", "ben", "cleo"], annotator_masks(), GEOMETRY))
    deadline = time.monotonic() + 30
    while not job.done and time.monotonic() < deadline:  # finished on the worker, not yet heard
        time.sleep(0.01)
    workflow.cancel()
    gui.pump_until(lambda: not workflow.busy)
    assert workflow.result is None and workflow.viewer.heatmap is None


def test_masks_off_the_open_image_grid_are_refused(workflow, tmp_path):
    other = Geometry(GEOMETRY.size, (1.0, 1.0, 2.0), GEOMETRY.origin)
    with pytest.raises(GeometryMismatchError, match="spacing"):
        workflow.show(CaseReview(["a", "b"], annotator_masks(other, 2), other))
    assert workflow.viewer.outlines == []
    pairs = write_masks(tmp_path, annotator_masks(count=1))
    sitk.WriteImage(image_to_sitk(annotator_masks(other, 1)[0], other), str(tmp_path / "odd.nii.gz"))
    with pytest.raises(GeometryMismatchError, match="odd.nii.gz"):
        CaseReview.from_files([*pairs, ("odd", tmp_path / "odd.nii.gz")])


def campaign_done_by_two(shared_data, tmp_path) -> Campaign:
    """A campaign of two hippocampus cases whose first "ann" and "ben" finished (ann drew the
    expert's mask, ben the same grown by a voxel)."""
    folder = shared_data / "hippocampus"
    if not (folder / "imagesTr").is_dir():
        pytest.skip("hippocampus images not in the shared data folder")
    kind, cases = cases_from_source(folder / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", cases[:2], source={"kind": kind})
    case_id = campaign.case_ids()[0]
    reference = sitk.ReadImage(str(folder / "labelsTr" / f"{case_id}.nii.gz"))
    for radius, name in enumerate(("ann", "ben")):
        path = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(sitk.Cast(sitk.BinaryDilate(reference > 0, [radius] * 3), sitk.sitkUInt8), str(path))
        campaign.import_layer(case_id, name, "labels", path, state=DONE)
    return campaign


def test_accept_and_reject_are_written_into_the_campaign(shared_data, tmp_path):
    campaign = campaign_done_by_two(shared_data, tmp_path)
    case_id = campaign.case_ids()[0]
    campaign.import_layer(case_id, "cleo", "labels", tmp_path / "ann.nii.gz")  # in progress: not reviewed
    review = review_of_campaign_case(campaign, case_id)
    assert review.annotators == ["ann", "ben"] and review.case_id == case_id
    with pytest.raises(CampaignError, match="comment"):
        review.decide(REJECTED, "  ", reviewer="rev")
    assert campaign.record(case_id, "ann").state == DONE
    review.decide(REJECTED, "posterior part too large", reviewer="rev")
    for name in ("ann", "ben"):
        record = campaign.record(case_id, name)
        assert record.state == REJECTED and record.history[-1]["by"] == "rev"
        assert record.history[-1]["comment"] == "posterior part too large"
    review.decide(ACCEPTED, reviewer="rev")
    assert campaign.record(case_id, "ben").state == ACCEPTED
    assert campaign.record(case_id, "cleo").state != ACCEPTED
    # A reviewer who has the case open holds its lock: the decision is written under it.
    held = campaign.lock(case_id, "rev")
    try:
        with pytest.raises(CaseLockedError):
            review.decide(REJECTED, "again", reviewer="rev")
        review_of_campaign_case(campaign, case_id, lock=held).decide(REJECTED, "again", reviewer="rev")
        assert campaign.record(case_id, "ann").state == REJECTED and held.is_held()
    finally:
        held.release()


def test_outline_layers_must_be_on_the_image_grid_and_go_with_the_image():
    viewer = Viewer()
    viewer.set_session(session_on())
    changes = []
    viewer.events.outlines_changed.connect(lambda: changes.append(True))
    with pytest.raises(ValueError, match="not on the image grid"):
        viewer.set_outlines(CaseReview(["a", "b"], annotator_masks(Geometry((8, 8, 8), (1, 1, 1), (0, 0, 0)), 2),
                                       Geometry((8, 8, 8), (1, 1, 1), (0, 0, 0))).outline_layers())
    assert viewer.outlines == [] and changes == []
    viewer.set_outlines(CaseReview(["a", "b"], annotator_masks(count=2), GEOMETRY).outline_layers())
    assert [layer.name for layer in viewer.outlines] == ["a", "b"] and changes == [True]
    viewer.set_session(session_on())
    assert viewer.outlines == []
