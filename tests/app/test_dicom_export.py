"""Saving the viewer's labels as DICOM-SEG / RT structure set (app tier, no Qt): the write runs in
the background on a snapshot, the segments say how they were made, and an image that was not
read from DICOM is refused with the reason."""

from __future__ import annotations

import numpy as np
import pydicom

from segviewer.app.dicom_export import DICOM_SEG, RTSTRUCT, export_labels
from segviewer.app.documents import DocumentWorkflow, MemorySettings, SessionHolder
from segviewer.io.dicom_seg import read_dicom_seg
from segviewer.io.rtstruct import read_rtstruct
from segviewer.model.session import LABELS
from tests.app.test_file_workflow import UserInterface
from tests.io.test_dicom_seg import every_dicom_object_is_valid  # noqa: F401 - checks every file written


def open_workflow(image, user, deferred=True) -> DocumentWorkflow:
    workflow = DocumentWorkflow(SessionHolder(), MemorySettings(), user.ports(deferred=deferred))
    workflow.load(image, block=True)
    return workflow


def paint(session, description: str, value: int, box) -> np.ndarray:
    values = np.full(tuple(s.stop - s.start for s in box), value, np.uint8)
    session.apply_layer_crop(LABELS, box, values, description)
    return session.labels.array.copy()


def test_labels_saved_as_dicom_seg_in_the_background_name_the_method_applied(shared_data, tmp_path):
    user = UserInterface(save_path=tmp_path / "mr_seg.dcm")
    workflow = open_workflow(shared_data / "dicom" / "mr_brain_t1post", user)
    session = workflow.host.session
    paint(session, "Brush", 1, (slice(4, 8), slice(100, 140), slice(90, 150)))
    expected = paint(session, "Graph cut", 2, (slice(6, 12), slice(150, 200), slice(100, 160)))
    session.label_table.update(2, name="tumour")
    assert export_labels(workflow, DICOM_SEG)
    assert not (tmp_path / "mr_seg.dcm").exists() and len(user.queued) == 1  # written by the worker
    paint(session, "Brush", 3, (slice(0, 2), slice(0, 10), slice(0, 10)))  # after the snapshot
    user.run_queued()
    assert user.errors == [] and "semi-automatic: graphcut" in user.messages[-1]
    read = read_dicom_seg(tmp_path / "mr_seg.dcm", session.image)
    assert np.array_equal(read.label_map.array, expected)
    assert read.label_map.table.name_of(2) == "tumour"
    segment = pydicom.dcmread(tmp_path / "mr_seg.dcm").SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert segment.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == "graphcut"


def test_the_suggested_file_is_beside_the_series_folder_not_in_it(shared_data, tmp_path):
    """A DICOM file saved into the series' folder would be read as part of the series."""
    series = shared_data / "dicom" / "mr_hippo_crop"
    user = UserInterface(save_path=None)
    workflow = open_workflow(series, user)
    paint(workflow.host.session, "Brush", 1, (slice(0, 2), slice(0, 5), slice(0, 5)))
    suggestions = []
    workflow.ports.choose_save_path = lambda title, suggestion, kind: suggestions.append((title, suggestion))
    assert not export_labels(workflow, DICOM_SEG)  # cancelled
    title, suggestion = suggestions[0]
    assert title == "Save labels as DICOM-SEG" and suggestion.parent == series.parent
    assert suggestion.name.endswith("_seg.dcm")


def test_hand_drawn_labels_are_saved_as_a_manual_structure_set(shared_data, tmp_path):
    user = UserInterface(save_path=tmp_path / "rt.dcm")
    workflow = open_workflow(shared_data / "dicom" / "mr_hippo_crop", user, deferred=False)
    expected = paint(workflow.host.session, "Brush", 4, (slice(3, 9), slice(10, 30), slice(5, 25)))
    assert export_labels(workflow, RTSTRUCT)
    ds = pydicom.dcmread(tmp_path / "rt.dcm")
    assert ds.Modality == "RTSTRUCT" and ds.StructureSetROISequence[0].ROIGenerationAlgorithm == "MANUAL"
    assert np.array_equal(read_rtstruct(tmp_path / "rt.dcm", workflow.host.session.image).label_map.array,
                          expected)


def test_an_image_not_read_from_dicom_or_empty_labels_are_refused_without_asking(spleen_paths, shared_data,
                                                                                   tmp_path):
    user = UserInterface(save_path=tmp_path / "x.dcm")
    workflow = open_workflow(spleen_paths[0], user)
    assert not export_labels(workflow, DICOM_SEG)
    assert "was not read from DICOM" in user.errors[-1][1]
    workflow = open_workflow(shared_data / "dicom" / "mr_hippo_crop", user)
    assert not export_labels(workflow, RTSTRUCT)
    assert "empty" in user.errors[-1][1]
    assert not (tmp_path / "x.dcm").exists() and user.queued == []


def test_a_failed_write_is_one_message_and_leaves_nothing(shared_data, tmp_path):
    series = shared_data / "dicom" / "mr_hippo_crop"
    user = UserInterface(save_path=tmp_path / "missing" / "x.dcm")
    workflow = open_workflow(series, user, deferred=False)
    paint(workflow.host.session, "Brush", 1, (slice(0, 2), slice(0, 5), slice(0, 5)))
    assert export_labels(workflow, DICOM_SEG)
    title, text = user.errors[-1]
    assert title == "Could not save the DICOM-SEG" and "x.dcm" in text and "\n" not in text


# -- opening a DICOM-SEG with what a label map cannot hold ------------------------------------------
def overlapping_fractional_seg(volume, path) -> np.ndarray:
    """A FRACTIONAL SEG (as another producer might write) of two overlapping segments on
    ``volume``'s series; returns its probabilities, shape (k, j, i, 2)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from segviewer.io.dicom_seg import source_series

    probabilities = np.zeros((*volume.geometry.shape, 2), np.float32)
    probabilities[4:10, 10:30, 5:20, 0] = 0.8
    probabilities[6:12, 20:40, 10:25, 1] = 0.6
    probabilities[6:12, 20:40, 10:25, 1][:, :5] = 0.3  # below the threshold: not labelled
    descriptions = [hd.seg.SegmentDescription(n, name, codes.SCT.AnatomicalStructure, codes.SCT.Hippocampus, "MANUAL")
                    for n, name in ((1, "left"), (2, "right"))]
    seg = hd.seg.Segmentation(source_series(volume).datasets, probabilities, "FRACTIONAL", descriptions, hd.UID(), 5,
                              hd.UID(), 1, "other", "other", "1", "1", max_fractional_value=200)
    seg.save_as(path)
    return probabilities


def test_a_fractional_seg_with_overlapping_segments_opens_as_labels_outlines_and_heat_map(shared_data, tmp_path):
    from segviewer.app.dicom_import import open_dicom_labels
    from segviewer.app.viewer import Viewer

    user = UserInterface()
    viewer = Viewer()
    workflow = DocumentWorkflow(viewer, MemorySettings(), user.ports(deferred=True))
    workflow.load(shared_data / "dicom" / "mr_hippo_crop", block=True)
    probabilities = overlapping_fractional_seg(viewer.session.image, tmp_path / "other.dcm")
    assert open_dicom_labels(workflow, tmp_path / "other.dcm")
    assert viewer.session.labels.present_values() == [] and len(user.queued) == 1  # read by the worker
    user.run_queued()
    assert user.errors == []
    labels = viewer.session.labels.array
    assert np.array_equal(labels == 1, probabilities[..., 0] >= 0.5)  # 200ths: 0.8 stays above 0.5
    [outline] = viewer.overlays.outlines
    assert outline.name == "layer 2: right" and np.array_equal(outline.labels == 2, probabilities[..., 1] >= 0.5)
    heat = viewer.overlays.heatmap.values
    assert np.allclose(heat, probabilities.max(axis=-1), atol=1 / 200)
    assert "FRACTIONAL" in user.messages[-1] and "outlines" in user.messages[-1]
    assert viewer.session.layer_dirty(LABELS) and viewer.session.labels_path is None  # Save asks for a file
    viewer.undo()
    assert viewer.session.labels.present_values() == []  # one undo step


def test_opening_a_seg_without_an_image_or_of_another_place_is_one_message(shared_data, tmp_path):
    from segviewer.app.dicom_import import open_dicom_labels

    user = UserInterface()
    workflow = DocumentWorkflow(SessionHolder(), MemorySettings(), user.ports())
    assert not open_dicom_labels(workflow, shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm")
    assert "Open the DICOM series first" in user.errors[-1][1]
    workflow.load(shared_data / "dicom" / "mr_hippo_crop", block=True)
    open_dicom_labels(workflow, shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm")
    title, text = user.errors[-1]
    assert title == "Could not open seg_image_ct_binary_overlap.dcm" and "does not overlap" in text


def test_a_dropped_seg_or_structure_set_is_labels_whatever_its_name(shared_data, tmp_path):
    import shutil

    from segviewer.app.files import guess_kind

    seg = shutil.copy(shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm", tmp_path / "1.2.3.dcm")
    image = next((shared_data / "dicom" / "mr_hippo_crop").iterdir())
    assert guess_kind(seg) == "labels" and guess_kind(image) == "image"
