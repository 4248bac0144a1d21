"""U-Net inference: real cases, exactness on the image grid, tiles, progress and cancel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, MethodCancelled, MethodRequest, no_progress
from segviewer.methods.deep.card import ModelCard
from segviewer.methods.deep.inference import UNetMethod, UNetParameters, sliding_window_logits
from segviewer.methods.deep.models import TORCHSCRIPT_CARD, load_model, trust_model
from segviewer.methods.deep.preprocess import normalize
from segviewer.model.geometry import Geometry, full_box

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_unet(image, geometry, params=None, progress=no_progress, cancel=None):
    request = MethodRequest(image=image, geometry=geometry, roi=full_box(image.shape),
                            params=params or UNetParameters())
    return UNetMethod().run(request, progress, cancel or CancelToken())


def test_bundled_model_on_two_validation_cases(hippocampus_dev):
    for case in hippocampus_dev[:2]:
        result = run_unet(case.image.array, case.image.geometry)
        assert result.labels.shape == case.reference.shape and result.labels.dtype == np.uint8
        scores = [dice(result.labels, case.reference, label=v) for v in (1, 2)]
        assert min(scores) > 0.8, (case.name, scores)
        assert np.allclose(result.probabilities.sum(0), 1.0, atol=1e-4)
        assert result.info["entropy"].shape == case.reference.shape
        suggestion = result.info["suggestion"]
        assert set(suggestion) >= {"index", "box", "slices", "text"}


class Threshold(torch.nn.Module):
    """logits: background 0, label 1 = 4 x input (label 1 where the input is positive)."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 4 * x], dim=1)


class RampAlongI(torch.nn.Module):
    """label 1 where the last array axis (i) is past the middle of the window."""

    def forward(self, x):
        width = x.shape[-1]
        ramp = torch.linspace(-1.0, 1.0, width).view(1, 1, 1, 1, width).expand_as(x)
        return torch.cat([torch.zeros_like(x), 10 * ramp], dim=1)


def scripted_model(tmp_path, module, name, **card_fields):
    card = ModelCard(name=name, labels={1: "one"}, network={"class": "monai.networks.nets.UNet", "kwargs": {},
                                                             "orientation": card_fields.pop("orientation", None)},
                     **card_fields)
    path = tmp_path / f"{name}.ts"
    torch.jit.save(torch.jit.script(module), str(path), _extra_files={TORCHSCRIPT_CARD: json.dumps(card.to_dict())})
    trust_model(path)  # TorchScript is code: it runs only once trusted
    return str(path)


def oblique_geometry(shape_kji, spacing, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return Geometry(shape_kji[::-1], spacing, (10.0, -20.0, 5.0), q)


def test_output_lands_exactly_on_an_oblique_anisotropic_grid(tmp_path):
    geometry = oblique_geometry((14, 30, 26), (0.8, 1.3, 2.5))
    k, j, i = np.meshgrid(*[np.arange(n) for n in geometry.shape], indexing="ij")
    physical = geometry.index_to_physical(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(*geometry.shape, 3)
    centre = geometry.index_to_physical(np.array(geometry.size) / 2 - 0.5)
    distance = np.linalg.norm(physical - centre, axis=-1)
    image = (9.0 - distance).astype(np.float32)  # positive inside a 9 mm sphere
    model = scripted_model(tmp_path, Threshold(), "threshold", spacing=[1.0, 1.0, 1.0], orientation="RAS",
                           normalization={"kind": "none"}, roi_size=[24, 24, 24])
    result = run_unet(image, geometry, UNetParameters(model=model))
    assert result.labels.shape == geometry.shape
    assert result.probabilities.shape == (2, *geometry.shape)
    truth = distance < 9.0
    agreement = float(np.mean((result.labels == 1) == truth))
    assert agreement > 0.98, agreement
    # away from the boundary (resampling there is linear interpolation) it is exact
    sure = np.abs(distance - 9.0) > 2.0
    assert np.array_equal((result.labels == 1)[sure], truth[sure])


@pytest.mark.parametrize("direction, right_is_high_i", [(np.diag([-1.0, -1.0, 1.0]), True), (np.eye(3), False)])
def test_card_orientation_is_applied_and_undone(tmp_path, direction, right_is_high_i):
    geometry = Geometry((20, 12, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction)
    image = np.zeros(geometry.shape, np.float32)
    model = scripted_model(tmp_path, RampAlongI(), "ramp", orientation="RAS", normalization={"kind": "none"},
                           roi_size=[32, 32, 32])
    labels = run_unet(image, geometry, UNetParameters(model=model)).labels
    # label 1 = towards the patient's right; i points right when direction[0, 0] is -1 (LPS)
    high_i = labels[:, :, 15:].mean()
    low_i = labels[:, :, :5].mean()
    assert (high_i > 0.99 and low_i < 0.01) if right_is_high_i else (low_i > 0.99 and high_i < 0.01)


def test_tiles_match_monai_sliding_window_inference():
    from monai.inferers import sliding_window_inference

    loaded = load_model()
    rng = np.random.default_rng(0)
    x = normalize(rng.normal(size=(50, 70, 45)).astype(np.float32), {"kind": "zscore"})
    ours = sliding_window_logits(loaded.network, x, loaded.card.roi_size, 3, overlap=0.5)
    with torch.no_grad():
        theirs = sliding_window_inference(torch.as_tensor(x)[None, None], loaded.card.roi_size, 1, loaded.network,
                                          overlap=0.5, mode="gaussian")[0].numpy()
    assert np.allclose(ours, theirs, atol=1e-5)


def test_progress_per_tile_and_cancel(hippocampus_dev):
    case = hippocampus_dev[0]
    image = np.tile(case.image.array, (2, 2, 1))  # larger than one ROI: several tiles
    geometry = Geometry(image.shape[::-1], case.image.geometry.spacing, case.image.geometry.origin,
                        case.image.geometry.direction)
    partials = []

    def progress(fraction, text="", partial=None):
        if partial is not None:
            partials.append(partial)

    result = run_unet(image, geometry, progress=progress)
    assert len(partials) >= 2
    for partial in partials:
        box = partial.roi
        assert all(0 <= s.start < s.stop <= n for s, n in zip(box, image.shape))
        assert partial.labels.shape == tuple(s.stop - s.start for s in box)
    # the last partial's labels agree with the final result in its box
    last = partials[-1]
    assert np.mean(last.labels == result.labels[last.roi]) > 0.99

    cancel = CancelToken()
    seen = []

    def cancelling(fraction, text="", partial=None):
        if partial is not None:
            seen.append(partial)
            cancel.cancel()

    with pytest.raises(MethodCancelled):
        run_unet(image, geometry, progress=cancelling, cancel=cancel)
    assert len(seen) == 1
