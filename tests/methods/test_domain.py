"""A model that knows its limits: the card's training domain, the check before inference and
fine-tuning (a warning with its reason, never a refusal), and the entropy beside it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import image_to_sitk, read_image
from segviewer.methods.base import CancelToken, no_progress
from segviewer.methods.deep.card import ModelCard
from segviewer.methods.deep.domain import TrainingDomain, check_domain, domain_info, verdict
from segviewer.methods.registry import get_method
from segviewer.methods.request import build_request_from_arrays

PROJECT = Path(__file__).resolve().parents[2]
BUNDLED_CARD = PROJECT / "resources" / "models" / "hippocampus_unet.json"


@pytest.fixture(scope="module")
def domain() -> TrainingDomain:
    return TrainingDomain.from_dict(ModelCard.load(BUNDLED_CARD).domain)


def test_the_bundled_card_states_its_training_domain(domain):
    assert domain.modality == "MR" and domain.orientation == "RAS" and domain.cases == 189
    assert domain.spacing_min == domain.spacing_max == [1.0, 1.0, 1.0]
    assert all(0 < low <= high < 80 for low, high in zip(domain.field_of_view_min, domain.field_of_view_max))
    intensity = domain.intensity
    assert sum(intensity["histogram"]) == pytest.approx(1, abs=1e-3)
    assert abs(intensity["mean"]) < 0.05 and intensity["sd"] == pytest.approx(1, abs=0.05)  # z-scored
    assert 0 < intensity["largest_training_distance"] < intensity["distance_limit"] < 0.5
    assert domain.describe() == "1 mm MR crops around the hippocampus (field of view up to 43×59×47 mm)"


def test_held_out_hippocampus_crops_are_inside_and_other_scans_are_outside_with_reasons(shared_data, domain):
    split = json.loads((PROJECT / "resources" / "splits" / "hippocampus.json").read_text())
    for case in split["validation"][:10]:  # never seen in training
        image = read_image(shared_data / "hippocampus" / "imagesTr" / f"{case}.nii.gz")
        assert check_domain(domain, image.array, image.geometry, "MR").in_domain, case
    crop = read_image(shared_data / "dicom" / "mr_hippo_crop")
    assert check_domain(domain, crop.array, crop.geometry, crop.metadata["modality"]).in_domain

    ct = read_image(shared_data / "dicom" / "ct_chest_20slices")
    check = check_domain(domain, ct.array, ct.geometry, ct.metadata["modality"])
    assert not check.in_domain
    text = check.text()
    assert text.startswith("outside the model's training domain: this model was trained on 1 mm MR crops "
                           "around the hippocampus")
    assert "this is a 0.977×0.977×2 mm CT" in text
    assert "modality CT is not the training modality MR" in text
    assert "field of view 500×500×40 mm is far larger" in text
    assert "intensity histogram after normalisation is unlike" in text

    brain = read_image(shared_data / "dicom" / "mr_brain_t1post")  # MR, but 6.5 mm slices of a whole head
    reasons = check_domain(domain, brain.array, brain.geometry, "MR").reasons
    assert any(r.startswith("spacing 0.688×0.688×6.5 mm is far from the training spacing 1×1×1 mm") for r in reasons)
    assert not any("modality" in r for r in reasons)


def test_verdict_puts_domain_and_uncertainty_on_one_line(domain):
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    entropy = np.where(labels > 0, 0.6, 0.0).astype(np.float32)  # unsure inside, sure outside
    outside = check_domain(domain, np.random.default_rng(0).normal(size=(40, 40, 40)).astype(np.float32) ** 3,
                           _geometry(5.0))
    info = domain_info(outside, labels, entropy)
    assert info["verdict"] == "out of domain and unsure (mean entropy inside the labels 0.60)"
    assert info["warnings"] == [outside.text()] and info["mean_entropy_in_labels"] == pytest.approx(0.6)
    assert verdict(None, None) == "no training domain on the card and no label predicted"


def _geometry(slice_mm: float):
    from segviewer.model.geometry import Geometry

    return Geometry((40, 40, 40), (1.0, 1.0, slice_mm), (0.0, 0.0, 0.0))


def test_unet_warns_on_the_command_line_runs_anyway_and_reports_its_entropy(shared_data, tmp_path, capsys):
    spleen = read_image(shared_data / "spleen_ct" / "spleen_ct.nii.gz")
    crop = np.ascontiguousarray(spleen.array[8:16, 60:100, 60:100])  # a small CT block: quick to run
    path = tmp_path / "ct_block.nii.gz"
    sitk.WriteImage(image_to_sitk(crop, spleen.geometry.cropped((slice(8, 16), slice(60, 100), slice(60, 100)))),
                    str(path))
    output = tmp_path / "labels.nii.gz"
    assert main(["segment", str(path), "--method", "unet", "-o", str(output)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("segviewer: warning:")]
    assert len(warnings) == 1
    assert "outside the model's training domain: this model was trained on 1 mm MR crops" in warnings[0]
    assert "spacing 0.795×0.795×5 mm is far from the training spacing 1×1×1 mm" in warnings[0]
    assert output.exists()  # warned, not refused
    info = json.loads(captured.out.splitlines()[-1])
    assert info["verdict"].startswith("out of domain and ")
    assert info["domain"]["in_domain"] is False


def test_unet_and_finetune_report_in_domain_with_their_entropy(hippocampus_dev):
    case = hippocampus_dev[0]
    for name, extra in (("unet", {}), ("finetune", {"scribbles": case.scribbles})):
        method = get_method(name)
        params = method.default_parameters()
        if name == "finetune":
            params = dataclasses.replace(params, steps=2)
        request = build_request_from_arrays(method, case.image.array, case.image.geometry, params=params,
                                            modality="MR", **extra)
        result = method.run(request, no_progress, CancelToken())
        info = result.info
        assert info["domain"]["in_domain"] is True and "warnings" not in info, name
        inside = info["entropy"][result.labels > 0]
        assert info["mean_entropy_in_labels"] == pytest.approx(float(inside.mean()), abs=1e-4)
        assert info["verdict"].startswith("in domain and "), name


def test_a_partial_domain_still_checks_and_a_malformed_one_is_one_line():
    from segviewer.methods.deep.card import ModelError

    partial = TrainingDomain(modality="CT")  # only a modality is known
    assert partial.describe() == "CT"
    check = check_domain(partial, np.zeros((4, 4, 4), np.float32), _geometry(1.0), "MR")
    assert check.reasons == ["modality MR is not the training modality CT"]
    with pytest.raises(ModelError, match="training domain is malformed: spacing_min"):
        TrainingDomain.from_dict({"spacing_min": ["a", 1, 1]})
    with pytest.raises(ModelError, match="50 bins"):
        TrainingDomain.from_dict({"intensity": {"histogram": [1.0, 0.0]}})
