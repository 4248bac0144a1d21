"""Multi-atlas segmentation: real hippocampus crops segmented from other labelled crops, each
fusion rule on arrays where the answer is known, cancel, and the user's mistakes."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import read_image
from segviewer.methods.atlas import AtlasParameters, fuse
from segviewer.methods.base import CancelToken, MethodCancelled, MethodInputError, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.request import build_request_from_arrays

TARGET = "hippocampus_001"
ATLASES = ("hippocampus_003", "hippocampus_004", "hippocampus_006", "hippocampus_007")


@pytest.fixture(scope="module")
def atlas_folder(hippocampus, tmp_path_factory) -> Path:
    """Four labelled crops, NAME beside NAME_label (the target case is not among them)."""
    folder = tmp_path_factory.mktemp("atlases")
    for name in ATLASES:
        shutil.copy(hippocampus / "imagesTr" / f"{name}.nii.gz", folder / f"{name}.nii.gz")
        shutil.copy(hippocampus / "labelsTr" / f"{name}.nii.gz", folder / f"{name}_label.nii.gz")
    return folder


def dice(a: np.ndarray, b: np.ndarray, value: int) -> float:
    return 2 * np.count_nonzero((a == value) & (b == value)) / (np.count_nonzero(a == value) + np.count_nonzero(b == value))


def test_atlases_segment_an_unseen_hippocampus_and_report_each_atlas(hippocampus, atlas_folder, tmp_path):
    out, info = tmp_path / "atlas.nii.gz", tmp_path / "info.json"
    code = main(["segment", str(hippocampus / "imagesTr" / f"{TARGET}.nii.gz"), "--method", "atlas",
                 "--param", f"atlases={atlas_folder}", "--param", "max_atlases=3", "-q", "-o", str(out),
                 "--info", str(info)])
    assert code == 0
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(hippocampus / "labelsTr" / f"{TARGET}.nii.gz")))
    assert dice(result, truth, 1) > 0.7 and dice(result, truth, 2) > 0.6  # affine + demons, 3 atlases
    facts = json.loads(info.read_text())["info"]
    assert facts["atlases_found"] == 4 and facts["atlases_used"] == 3
    unused = [a for a in facts["atlases"] if not a["used"]]
    assert len(unused) == 1 and unused[0]["reliability"] is None
    assert all(0.5 < a["reliability"] <= 1.0 for a in facts["atlases"] if a["used"])
    assert 0.5 < facts["mean_agreement"] <= 1.0


def test_agreement_is_the_probability_and_entropy_the_uncertainty(hippocampus, atlas_folder):
    volume = read_image(hippocampus / "imagesTr" / f"{TARGET}.nii.gz")
    method = get_method("atlas")
    params = AtlasParameters(atlases=str(atlas_folder), deformable="none", fusion="weighted")
    request = build_request_from_arrays(method, volume.array, volume.geometry, params=params)
    result = method.run(request, no_progress, CancelToken())
    assert result.classes == [0, 1, 2] and result.probabilities.shape == (3, *volume.array.shape)
    assert np.allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-5)
    assert np.array_equal(result.labels, np.asarray(result.classes)[np.argmax(result.probabilities, axis=0)])
    entropy = result.info["entropy"]
    assert entropy[result.probabilities.max(axis=0) == 1.0].max() < 1e-3  # full agreement: certain
    assert entropy.max() > 0.5  # the atlases disagree somewhere (the boundary)


def test_vote_breaks_ties_towards_background_and_weights_move_the_vote():
    a, b = np.zeros((1, 1, 4), np.uint8), np.zeros((1, 1, 4), np.uint8)
    a[..., :2], b[..., 1:3] = 1, 2
    voted = fuse([a, b, np.zeros_like(a)], "vote")
    assert voted.labels.ravel().tolist() == [0, 0, 0, 0]  # 1 vs 0 vs 0 ... background by count or tie
    tied = fuse([a, b], "vote")
    assert tied.labels.ravel().tolist() == [0, 1, 0, 0]  # {1,0}: tie -> 0; {1,2}: tie -> 1; {0,2}: tie -> 0
    weighted = fuse([a, b], "weighted", [np.full(a.shape, 0.2, np.float32), np.full(a.shape, 0.8, np.float32)])
    assert weighted.labels.ravel().tolist() == [0, 2, 2, 0]


def test_staple_rates_a_wrong_atlas_lowest(rng):
    truth = np.zeros((12, 12, 12), np.uint8)
    truth[3:9, 3:9, 3:9] = 1
    good = [truth.copy() for _ in range(3)]
    for mask in good:  # each good atlas misses a few random voxels
        mask[tuple(rng.integers(3, 9, size=(3, 6)))] = 0
    wrong = np.roll(truth, 4, axis=0)
    fusion = fuse([*good, wrong], "staple")
    assert dice(fusion.labels, truth, 1) > 0.95
    assert fusion.reliability[3] < min(fusion.reliability[:3]) - 0.2


def test_cancel_stops_the_registrations(hippocampus, atlas_folder):
    volume = read_image(hippocampus / "imagesTr" / f"{TARGET}.nii.gz")
    method = get_method("atlas")
    request = build_request_from_arrays(method, volume.array, volume.geometry,
                                        params=AtlasParameters(atlases=str(atlas_folder), deformable="bspline"))
    cancel = CancelToken()

    def progress(fraction, text="", partial=None):
        if text.startswith("affine"):
            cancel.cancel()  # the first atlas is aligned: stop

    started = time.perf_counter()
    with pytest.raises(MethodCancelled):
        method.run(request, progress, cancel)
    assert time.perf_counter() - started < 30


def test_a_campaign_or_a_folder_without_pairs_is_a_clear_error(hippocampus, tmp_path, capsys):
    (tmp_path / "campaign.json").write_text("{}")
    image = str(hippocampus / "imagesTr" / f"{TARGET}.nii.gz")
    code = main(["segment", image, "--method", "atlas", "--param", f"atlases={tmp_path}", "-o",
                 str(tmp_path / "out.nii.gz")])
    assert code == 2 and "export nnunet" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MethodInputError, match="no image/label pairs"):
        volume = read_image(image)
        method = get_method("atlas")
        method.run(build_request_from_arrays(method, volume.array, volume.geometry,
                                             params=AtlasParameters(atlases=str(empty))), no_progress, CancelToken())
    assert not (tmp_path / "out.nii.gz").exists()


def test_an_exported_campaign_is_an_atlas_folder_and_its_scribble_only_cases_are_skipped(hippocampus, tmp_path):
    from segviewer.app.campaign import DONE, Campaign, cases_from_source
    from segviewer.app.campaign.export import export_nnunet
    from segviewer.io.scribbles import write_scribbles
    from segviewer.model.scribbles import Scribbles

    kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", [c for c in cases if c.id in (TARGET, *ATLASES[:3])],
                               source={"kind": kind})
    for name in ATLASES[:2]:
        campaign.import_layer(name, "alice", "labels", hippocampus / "labelsTr" / f"{name}.nii.gz", state=DONE)
    scribbles = Scribbles.empty(read_image(hippocampus / "imagesTr" / f"{ATLASES[2]}.nii.gz").geometry)
    scribbles.array[10:12, 20:22, 10:12] = 1
    write_scribbles(tmp_path / "s.nii.gz", scribbles)
    campaign.import_layer(ATLASES[2], "bob", "scribbles", tmp_path / "s.nii.gz", state=DONE)
    export_nnunet(campaign, tmp_path / "raw", 2, "Atlases")
    volume = read_image(hippocampus / "imagesTr" / f"{TARGET}.nii.gz")
    method = get_method("atlas")
    params = AtlasParameters(atlases=str(tmp_path / "raw" / "Dataset002_Atlases"), deformable="none")
    result = method.run(build_request_from_arrays(method, volume.array, volume.geometry, params=params),
                        no_progress, CancelToken())
    assert result.info["atlases_found"] == 2 and result.info["scribble_only_skipped"] == 1
    assert result.classes == [0, 1, 2]  # the ignore label (3) never becomes a class
