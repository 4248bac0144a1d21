"""The review dock driven with real clicks and keys on a real MRI and three annotators: outline
layers in the slice view, the disagreement map, the agreement table, the consensus as the labels
(one undo step) and accept / reject with a comment; the heavy work stays off the GUI thread."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import Qt
from scipy import ndimage

from segviewer.app.campaign import REJECTED
from segviewer.io.images import read_image
from segviewer.model.session import Session
from segviewer.views.controller import ViewerController
from segviewer.views.review_dock import ReviewDock
from segviewer.views.slice_view import SliceView
from tests.app.test_review import campaign_done_by_two

pytestmark = pytest.mark.gui


@pytest.fixture
def case(shared_data, tmp_path):
    """A hippocampus MRI and three annotators' masks: the expert's, one grown, one shrunk."""
    folder = shared_data / "hippocampus"
    image_path = sorted((folder / "imagesTr").glob("*.nii.gz"))[0]
    reference = sitk.ReadImage(str(folder / "labelsTr" / image_path.name))
    truth = sitk.GetArrayFromImage(reference).astype(np.uint8)
    masks = {"ann": truth, "ben": ndimage.grey_dilation(truth, size=(3, 3, 3)),
             "cleo": ndimage.grey_erosion(truth, size=(1, 3, 3))}
    paths = []
    for name, mask in masks.items():
        image = sitk.GetImageFromArray(mask)
        image.CopyInformation(reference)
        paths.append(tmp_path / f"{name}.nii.gz")
        sitk.WriteImage(image, str(paths[-1]))
    return image_path, paths, masks


@pytest.fixture
def review(qtbot, case):
    image_path, paths, masks = case
    controller = ViewerController()
    controller.set_session(Session(read_image(image_path)))
    view = SliceView(controller, "axial")
    dock = ReviewDock(controller, reviewer="rev")
    for widget in (view, dock):
        qtbot.addWidget(widget)
        widget.resize(500, 500)
        widget.show()
    yield controller, view, dock, paths, masks
    assert dock.workflow.shutdown(timeout=30.0)


def idle(qtbot, dock) -> None:
    qtbot.waitUntil(lambda: not dock.busy, timeout=30000)


def test_open_shows_outlines_disagreement_and_agreement(qtbot, review):
    controller, view, dock, paths, masks = review
    assert dock.open_masks(paths)
    assert dock.busy and dock.cancel_button.isEnabled()  # the masks are read on the worker
    idle(qtbot, dock)
    assert [dock.annotators.item(r).text() for r in range(dock.annotators.count())] == ["ann", "ben", "cleo"]
    # Each annotator's outlines are drawn in the slice view in the annotator's colour.
    k = int(np.argmax(masks["ben"].sum(axis=(1, 2))))
    controller.set_cursor((0, 0, k))
    drawn = [item for item in view.outline_items if item.isVisible()]
    assert len(drawn) == 3
    for item, layer in zip(drawn, controller.outlines):
        pixels = item.image.reshape(-1, 4)
        assert (pixels[:, 3] == 255).any() and {tuple(p[:3]) for p in pixels[pixels[:, 3] == 255]} == {layer.colour}
    assert view.heatmap_item.isVisible() and controller.heatmap.name == "disagreement"
    # Pairwise Dice / HD95 for 3 pairs x 2 labels, with the label table's names.
    assert dock.agreement_table.rowCount() == 6
    first = [dock.agreement_table.item(0, c).text() for c in range(5)]
    assert first[1:3] == ["ann", "ben"] and 0.3 < float(first[3]) < 1.0 and float(first[4]) > 0
    assert dock.kappa.text().startswith("Fleiss' kappa 0.")

    # Space on a selected annotator hides its outline layer; the disagreement box hides the map.
    dock.annotators.setCurrentRow(1)
    dock.annotators.setFocus()
    qtbot.keyClick(dock.annotators, Qt.Key.Key_Space)
    assert [layer.name for layer in controller.outlines] == ["ann", "cleo"]
    assert sum(item.isVisible() for item in view.outline_items) == 2
    qtbot.mouseClick(dock.disagreement, Qt.MouseButton.LeftButton)
    assert controller.heatmap is None and not view.heatmap_item.isVisible()


def test_consensus_becomes_the_labels_without_blocking_the_gui(qtbot, review):
    controller, view, dock, paths, masks = review
    dock.open_masks(paths)
    idle(qtbot, dock)
    dock.method.setCurrentIndex(dock.method.findData("vote"))
    started = time.perf_counter()
    qtbot.mouseClick(dock.consensus_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - started < 0.2  # the click only queues the work
    idle(qtbot, dock)
    voting = sitk.LabelVotingImageFilter()
    voting.SetLabelForUndecidedPixels(0)
    expected = sitk.GetArrayFromImage(voting.Execute([sitk.GetImageFromArray(m) for m in masks.values()]))
    np.testing.assert_array_equal(controller.session.labels.array, expected)
    assert dock.performance_table.rowCount() == 6
    assert dock.performance_table.item(0, 0).text() == "ann"
    assert "consensus" in dock.status.text()
    controller.undo()
    assert not controller.session.labels.array.any()


def test_reject_needs_a_comment_and_accept_records(qtbot, review):
    controller, view, dock, paths, masks = review
    dock.open_masks(paths)
    idle(qtbot, dock)
    qtbot.mouseClick(dock.reject_button, Qt.MouseButton.LeftButton)
    assert "needs a comment" in dock.status.text() and dock.workflow.review.decisions == {}
    qtbot.keyClicks(dock.comment, "posterior label too thick")
    qtbot.mouseClick(dock.reject_button, Qt.MouseButton.LeftButton)
    assert dock.workflow.review.decisions["ben"] == ("rejected", "posterior label too thick")
    assert dock.status.text() == "rejected: posterior label too thick" and dock.comment.text() == ""
    qtbot.mouseClick(dock.accept_button, Qt.MouseButton.LeftButton)
    assert dock.workflow.review.decisions["cleo"] == ("accepted", "")
    qtbot.mouseClick(dock.close_button, Qt.MouseButton.LeftButton)
    assert controller.outlines == [] and dock.annotators.count() == 0
    assert not any(item.isVisible() for item in view.outline_items)


def test_masks_on_another_grid_are_refused_in_the_dock(qtbot, review, tmp_path):
    controller, view, dock, paths, masks = review
    odd = sitk.GetImageFromArray(masks["ann"])
    odd.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(odd, str(tmp_path / "odd.nii.gz"))
    dock.open_masks([paths[0], tmp_path / "odd.nii.gz"])
    idle(qtbot, dock)
    assert "is not on the grid of" in dock.status.text() and controller.outlines == []
    assert dock.open_masks([paths[0]])  # queued; the worker says why
    idle(qtbot, dock)
    assert "at least two masks" in dock.status.text()


def test_review_of_the_open_campaign_case_writes_the_decision(qtbot, shared_data, tmp_path):
    campaign = campaign_done_by_two(shared_data, tmp_path)
    case = campaign.cases[0]
    controller = ViewerController()
    controller.set_session(Session(read_image(case.image)))
    lock = campaign.lock(case.id, "rev")  # the reviewer has the case open
    dock = ReviewDock(controller, reviewer="someone", campaign_case=lambda: (campaign, case.id, "rev", lock))
    qtbot.addWidget(dock)
    dock.show()
    try:
        qtbot.mouseClick(dock.campaign_button, Qt.MouseButton.LeftButton)
        idle(qtbot, dock)
        assert [dock.annotators.item(r).text() for r in range(2)] == ["ann", "ben"]
        assert case.id in dock.status.text() and dock.agreement_table.rowCount() == 1
        qtbot.keyClicks(dock.comment, "too large")
        qtbot.mouseClick(dock.reject_button, Qt.MouseButton.LeftButton)
        for name in ("ann", "ben"):
            record = campaign.record(case.id, name)
            assert record.state == REJECTED and record.history[-1]["by"] == "rev"
        assert lock.is_held()
    finally:
        lock.release()
        assert dock.workflow.shutdown(timeout=30.0)


def test_the_main_window_offers_review_in_a_dock_and_the_segment_menu(spleen_window, spleen_paths, qtbot, tmp_path):
    window = spleen_window
    dock = window.docks["review"].widget()
    assert window.review_masks_action in window.menus["segment"].actions()
    assert window.review_masks_action.isEnabled()  # an image is open
    _, label_path = spleen_paths
    expert = sitk.Cast(sitk.ReadImage(str(label_path)) > 0, sitk.sitkUInt8)
    sitk.WriteImage(sitk.BinaryDilate(expert, [2, 2, 0]), str(tmp_path / "grown.nii.gz"))
    assert dock.open_masks([label_path, tmp_path / "grown.nii.gz"], ["expert", "grown"])
    idle(qtbot, dock)
    assert [layer.name for layer in window.controller.outlines] == ["expert", "grown"]
    assert sum(item.isVisible() for item in window.views["axial"].outline_items) == 2
    assert dock.agreement_table.rowCount() == 1 and 0.5 < float(dock.agreement_table.item(0, 3).text()) < 1.0


def test_review_of_the_case_open_in_the_campaign_dock(make_window, shared_data, tmp_path, qtbot):
    campaign = campaign_done_by_two(shared_data, tmp_path)
    case = campaign.cases[0]
    window = make_window(load=False)
    navigator = window.docks["campaign"].widget().open_campaign(campaign, "rev", case.id)
    qtbot.waitUntil(lambda: window.controller.session is not None and navigator.current == case.id, timeout=30000)
    review = window.docks["review"].widget()
    qtbot.mouseClick(review.campaign_button, Qt.MouseButton.LeftButton)
    idle(qtbot, review)
    assert [review.annotators.item(r).text() for r in range(review.annotators.count())] == ["ann", "ben"]
    qtbot.keyClicks(review.comment, "anterior part missing")
    qtbot.mouseClick(review.reject_button, Qt.MouseButton.LeftButton)
    assert review.status.text() == "rejected: anterior part missing"
    for name in ("ann", "ben"):
        record = campaign.record(case.id, name)
        assert record.state == REJECTED and record.history[-1]["by"] == "rev"
    assert navigator.lock.is_held()  # written under the reviewer's own lock, which stays
