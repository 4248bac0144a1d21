"""Fine-tuning from scribbles: keeps a right model right, rescues a wrong one, live, cancel,
continue, save, from scratch, clicks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, MethodCancelled, MethodRequest, VoxelPoint, no_progress
from segviewer.methods.deep.card import ModelError
from segviewer.methods.deep.finetune import FinetuneMethod, FinetuneParameters, distance_prior, intensity_evidence
from segviewer.methods.deep.inference import UNetMethod, UNetParameters
from segviewer.methods.deep.models import load_model
from segviewer.model.geometry import Geometry, full_box


def request(case_image, geometry, scribbles, points=(), **params) -> MethodRequest:
    return MethodRequest(image=case_image, geometry=geometry, roi=full_box(case_image.shape),
                         params=FinetuneParameters(**params), scribbles=scribbles, unannotated=255,
                         points=list(points), label_values=[1, 2])


def mean_dice(labels, reference, values=(1, 2)):
    return float(np.mean([dice(labels, reference, label=v) for v in values]))


def corrupt(image, seed=0):
    """Contrast inverted and a strong smooth bias field (as benchmarks/eval_finetune.py)."""
    rng = np.random.default_rng(seed)
    data = image.astype(np.float32)
    inverted = float(data.max()) + float(data.min()) - data
    field = ndimage.zoom(rng.normal(size=(3, 3, 3)), [n / 3 for n in data.shape], order=3)
    field = field[: data.shape[0], : data.shape[1], : data.shape[2]]
    field = (field - field.min()) / (field.max() - field.min()) * 2 - 1
    return (inverted * np.exp(np.log(2.5) * field)).astype(np.float32)


def test_fine_tuning_keeps_a_right_model_right(hippocampus_dev):
    case = hippocampus_dev[0]
    alone = UNetMethod().run(MethodRequest(image=case.image.array, geometry=case.image.geometry,
                                           roi=full_box(case.reference.shape), params=UNetParameters()),
                             no_progress, CancelToken())
    result = FinetuneMethod().run(request(case.image.array, case.image.geometry, case.scribbles, steps=15),
                                  no_progress, CancelToken())
    before, after = mean_dice(alone.labels, case.reference), mean_dice(result.labels, case.reference)
    assert after >= before - 0.01, (before, after)
    assert result.info["agreement"] > 0.9 and result.info["polarity"] == 1.0
    assert len(result.info["loss_curve"]) == 15
    assert result.info["entropy"].shape == case.reference.shape
    assert result.info["suggestion"]["slices"] is not None


def test_fine_tuning_rescues_inverted_contrast_with_bias_field(hippocampus_dev):
    case = hippocampus_dev[1]
    image = corrupt(case.image.array, seed=1)
    alone = UNetMethod().run(MethodRequest(image=image, geometry=case.image.geometry,
                                           roi=full_box(image.shape), params=UNetParameters()),
                             no_progress, CancelToken())
    result = FinetuneMethod().run(request(image, case.image.geometry, case.scribbles, steps=30),
                                  no_progress, CancelToken())
    assert mean_dice(alone.labels, case.reference) < 0.5
    assert mean_dice(result.labels, case.reference) >= 0.75
    assert result.info["polarity"] == -1.0


def test_live_previews_cancel_and_continue(hippocampus_dev):
    case = hippocampus_dev[0]
    method = FinetuneMethod()
    cancel = CancelToken()
    previews = []

    def progress(fraction, text="", partial=None):
        if partial is not None:
            previews.append(partial)
            if len(previews) == 2:
                cancel.cancel()

    with pytest.raises(MethodCancelled):
        method.run(request(case.image.array, case.image.geometry, case.scribbles, steps=50, refresh_every=2),
                   progress, cancel)
    # the preview carried the prediction and the loss curve; the stop kept the state
    assert previews[0].labels.shape == case.reference.shape
    assert len(previews[0].info["loss_curve"]) == 2
    stopped_at = method.state.steps_done
    assert 4 <= stopped_at < 50
    assert previews[-1].info.get("cancelled") is True
    result = method.run(request(case.image.array, case.image.geometry, case.scribbles, steps=3),
                        no_progress, CancelToken())
    assert result.info["steps"] == stopped_at + 3
    assert len(result.info["loss_curve"]) == stopped_at + 3
    # continue_training=False starts again from the model
    again = method.run(request(case.image.array, case.image.geometry, case.scribbles, steps=2,
                               continue_training=False), no_progress, CancelToken())
    assert again.info["steps"] == 2


def test_save_the_tuned_model_and_use_it(hippocampus_dev, tmp_path):
    case = hippocampus_dev[0]
    method = FinetuneMethod()
    tuned = method.run(request(case.image.array, case.image.geometry, case.scribbles, steps=5),
                       no_progress, CancelToken())
    card = method.save_model(tmp_path / "mine")
    assert (tmp_path / "mine.pt").exists() and (tmp_path / "mine.json").exists()
    assert card.history[-1]["steps"] == 5 and card.name == "hippocampus_unet_tuned"
    loaded = load_model(tmp_path / "mine.json", cache=False)
    assert loaded.card.network["class"].endswith("AdaptedNetwork")
    again = UNetMethod().run(MethodRequest(image=case.image.array, geometry=case.image.geometry,
                                           roi=full_box(case.reference.shape),
                                           params=UNetParameters(model=str(tmp_path / "mine.json"))),
                             no_progress, CancelToken())
    # the saved copy drops the image-specific bias field only
    assert np.mean(again.labels == tuned.labels) > 0.97
    # and it can be fine-tuned again
    more = FinetuneMethod().run(request(case.image.array, case.image.geometry, case.scribbles, steps=2,
                                        model=str(tmp_path / "mine.json")), no_progress, CancelToken())
    assert more.labels.shape == case.reference.shape


def test_scribbles_of_a_label_the_model_does_not_know(hippocampus_dev):
    case = hippocampus_dev[0]
    scribbles = case.scribbles.copy()
    scribbles[scribbles == 2] = 3
    with pytest.raises(ModelError, match=r"label\(s\) \[3\].*model=scratch"):
        FinetuneMethod().run(request(case.image.array, case.image.geometry, scribbles, steps=1),
                             no_progress, CancelToken())


def test_from_scratch_on_a_blob(blob):
    image, scribbles, inside, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    method = FinetuneMethod()
    req = MethodRequest(image=image, geometry=geometry, roi=full_box(image.shape),
                        params=FinetuneParameters(model="scratch", steps=60), scribbles=scribbles,
                        unannotated=255, label_values=[1])
    result = method.run(req, no_progress, CancelToken())
    assert result.info["start"] == "scratch" and result.classes == [0, 1]
    assert dice(result.labels, inside.astype(np.uint8), label=1) > 0.85


def test_intensity_evidence_reads_the_strokes_intensities(blob):
    image, scribbles, inside, _ = blob
    target = np.where(scribbles == 255, -1, scribbles).astype(np.int64)
    evidence = intensity_evidence(image, target, 2)
    says_label = evidence[1] > evidence[0]
    assert says_label[inside].mean() > 0.9 and (~says_label[~inside]).mean() > 0.9


def test_from_scratch_pools_network_and_intensity_model(blob):
    """intensity_model = 1: the probabilities are the intensity model plus the distance prior,
    whatever the network learnt; 0: the network's own evidence shows."""
    image, scribbles, _, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    target = np.where(scribbles == 255, -1, scribbles).astype(np.int64)
    logits = intensity_evidence(image, target, 2) + distance_prior(target, 2, spacing, 1.5)
    expected = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
    for weight, same in ((1.0, True), (0.0, False)):
        req = MethodRequest(image=image, geometry=geometry, roi=full_box(image.shape), scribbles=scribbles,
                            params=FinetuneParameters(model="scratch", steps=3, intensity_model=weight,
                                                      spatial_prior=1.5), unannotated=255, label_values=[1])
        result = FinetuneMethod().run(req, no_progress, CancelToken())
        assert np.allclose(result.probabilities, expected, atol=1e-4) == same


def test_from_scratch_self_training_keeps_progress_moving_forward(blob):
    """The strokes stage and the self-training stage share one progress bar and one loss curve."""
    image, scribbles, inside, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    reported = []
    req = MethodRequest(image=image, geometry=geometry, roi=full_box(image.shape), scribbles=scribbles,
                        params=FinetuneParameters(model="scratch", steps=30, refresh_every=5), unannotated=255,
                        label_values=[1])
    result = FinetuneMethod().run(req, lambda fraction, text="", partial=None: reported.append(fraction),
                                  CancelToken())
    assert len(result.info["loss_curve"]) == 30 and result.info["steps"] == 30
    assert reported == sorted(reported) and reported[-1] == 1.0 and len(reported) >= 6
    assert dice(result.labels, inside.astype(np.uint8), label=1) > 0.85


def test_from_scratch_needs_background():
    image = np.zeros((8, 8, 8), np.float32)
    scribbles = np.full(image.shape, 255, np.uint8)
    scribbles[4, 4, 2:6] = 1
    req = MethodRequest(image=image, geometry=Geometry((8, 8, 8), (1, 1, 1), (0, 0, 0)), roi=full_box(image.shape),
                        params=FinetuneParameters(model="scratch"), scribbles=scribbles, unannotated=255)
    from segviewer.methods.base import MethodInputError

    with pytest.raises(MethodInputError, match="background"):
        FinetuneMethod().run(req, no_progress, CancelToken())


def test_clicks_enter_as_bags(hippocampus_dev):
    case = hippocampus_dev[0]
    depth = ndimage.distance_transform_edt(case.reference == 1)
    k, j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    points = [VoxelPoint((int(k), int(j), int(i)), 1, True), VoxelPoint((0, 0, 0), 1, False)]
    result = FinetuneMethod().run(request(case.image.array, case.image.geometry, case.scribbles, points, steps=3),
                                  no_progress, CancelToken())
    assert result.labels[k, j, i] == 1
    assert len(result.info["loss_curve"]) == 3
