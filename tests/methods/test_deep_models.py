"""Loading every kind of model, and the clear errors for the ones that do not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segviewer.methods.base import CancelToken, MethodRequest, no_progress
from segviewer.methods.deep.card import ModelCard, ModelError, build_network
from segviewer.methods.deep.inference import UNetMethod, UNetParameters
from segviewer.methods.deep.models import TORCHSCRIPT_CARD, load_model, trust_model
from segviewer.model.geometry import Geometry, full_box

from test_deep_card import small_card

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")


def write_state_dict_model(folder, card: ModelCard | None = None, seed: int = 0):
    card = card or small_card()
    torch.manual_seed(seed)
    network = build_network(card)
    torch.save(network.state_dict(), folder / card.weights)
    card.save(folder / "tiny.json")
    return folder / "tiny.json", network


def request_for(image, params) -> MethodRequest:
    geometry = Geometry(image.shape[::-1], (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    return MethodRequest(image=image, geometry=geometry, roi=full_box(image.shape), params=params)


def test_bundled_model_loads_by_name_and_by_default():
    loaded = load_model("hippocampus_unet", cache=False)
    assert loaded.kind == "state_dict" and loaded.card.name == "hippocampus_unet"
    assert load_model(None).card.name == "hippocampus_unet"
    assert load_model("").card.name == "hippocampus_unet"


def test_card_plus_state_dict(tmp_path):
    card_path, network = write_state_dict_model(tmp_path)
    loaded = load_model(card_path, cache=False)
    assert loaded.kind == "state_dict"
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.network(x), network.eval()(x))
    # the weights file itself, with its card beside it under the same name
    (tmp_path / "tiny.json").rename(tmp_path / "weights.json")
    (tmp_path / "tiny.pt").rename(tmp_path / "weights.pt")
    card = ModelCard.load(tmp_path / "weights.json")
    card.weights = "weights.pt"
    card.save(tmp_path / "weights.json")
    assert load_model(tmp_path / "weights.pt", cache=False).kind == "state_dict"


def test_state_dict_without_card_is_refused(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "lonely.pt")
    with pytest.raises(ModelError, match="needs a model card"):
        load_model(tmp_path / "lonely.pt", cache=False)


def test_torchscript_with_embedded_card_and_with_card_beside(tmp_path):
    card = small_card(spacing=None, normalization={"kind": "none"})
    network = build_network(card).eval()
    scripted = torch.jit.trace(network, torch.randn(1, 1, 16, 16, 16))
    embedded = tmp_path / "embedded.ts"
    torch.jit.save(scripted, str(embedded), _extra_files={TORCHSCRIPT_CARD: json.dumps(card.to_dict())})
    trust_model(embedded)  # TorchScript is code: it runs once trusted (tests/methods/test_model_trust.py)
    loaded = load_model(embedded, cache=False)
    assert loaded.kind == "torchscript" and loaded.card.labels == {1: "a", 2: "b"}
    beside = tmp_path / "beside.pt"
    torch.jit.save(scripted, str(beside))
    trust_model(beside)
    with pytest.raises(ModelError, match="TorchScript model needs a model card"):
        load_model(beside, cache=False)
    card.save(tmp_path / "beside.json")
    assert load_model(beside, cache=False).kind == "torchscript"
    # and it runs through the U-Net method
    image = np.random.default_rng(0).normal(size=(20, 24, 18)).astype(np.float32)
    result = UNetMethod().run(request_for(image, UNetParameters(model=str(embedded))), no_progress, CancelToken())
    assert result.labels.shape == image.shape and result.classes == [0, 1, 2]


def write_bundle(folder, out_channels=2, state=True):
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    metadata = {"name": "tiny_spleen", "version": "0.1",
                "network_data_format": {
                    "inputs": {"image": {"num_channels": 1, "spatial_shape": [16, 16, 16]}},
                    "outputs": {"pred": {"num_channels": out_channels,
                                         "channel_def": {"0": "background", "1": "spleen"}}}}}
    inference = {
        "network_def": {"_target_": "UNet", "spatial_dims": 3, "in_channels": 1, "out_channels": out_channels,
                        "channels": [4, 8], "strides": [2], "num_res_units": 0},
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image"},
            {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
            {"_target_": "Spacingd", "keys": "image", "pixdim": [1.5, 1.5, 2.0]},
            {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -57, "a_max": 164,
             "b_min": 0.0, "b_max": 1.0, "clip": True}]},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [16, 16, 16]},
    }
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata))
    (folder / "configs" / "inference.json").write_text(json.dumps(inference))
    if state:
        from monai.networks.nets import UNet

        torch.manual_seed(0)
        network = UNet(3, 1, out_channels, (4, 8), (2,), num_res_units=0)
        torch.save(network.state_dict(), folder / "models" / "model.pt")
    return folder


def test_monai_bundle_folder(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    trust_model(bundle)
    loaded = load_model(bundle, cache=False)
    card = loaded.card
    assert loaded.kind == "bundle"
    assert card.labels == {1: "spleen"} and card.spacing == [1.5, 1.5, 2.0]
    assert card.normalization["kind"] == "window" and card.normalization["low"] == -57
    assert loaded.orientation == "RAS" and loaded.axis_order == "ijk"
    assert card.network["kwargs"]["out_channels"] == 2
    image = np.random.default_rng(0).normal(0, 50, size=(12, 30, 26)).astype(np.float32)
    result = UNetMethod().run(request_for(image, UNetParameters(model=str(bundle))), no_progress, CancelToken())
    assert result.labels.shape == image.shape and result.probabilities.shape == (2, *image.shape)
    assert np.allclose(result.probabilities.sum(0), 1.0, atol=1e-4)


def test_bundle_without_weights(tmp_path):
    bundle = write_bundle(tmp_path / "bundle", state=False)
    trust_model(bundle)
    with pytest.raises(ModelError, match="without models/model.pt"):
        load_model(bundle, cache=False)


def test_mismatched_channels_and_labels_are_clear_errors(tmp_path):
    # a card that wants two input channels
    bad = small_card(in_channels=2)
    bad.save(tmp_path / "two.json")
    with pytest.raises(ModelError, match="2 input channels"):
        load_model(tmp_path / "two.json", cache=False)
    # a card listing one label for a network with three outputs
    card = small_card(labels={1: "a"})
    card.save(tmp_path / "one.json")
    with pytest.raises(ModelError, match="3 output channels but the card lists 1 labels"):
        load_model(tmp_path / "one.json", cache=False)
    # weights of another network
    _, _ = write_state_dict_model(tmp_path)
    other = small_card()
    other.network["kwargs"]["channels"] = [8, 16]
    other.save(tmp_path / "other.json")
    with pytest.raises(ModelError, match="do not fit the network.*shape mismatch"):
        load_model(tmp_path / "other.json", cache=False)
    # a TorchScript model whose outputs disagree with its card's labels: found at run time
    card = small_card(labels={1: "a", 2: "b", 3: "c"}, spacing=None)
    card.network["kwargs"].pop("out_channels")
    scripted = torch.jit.trace(build_network(small_card()).eval(), torch.randn(1, 1, 16, 16, 16))
    torch.jit.save(scripted, str(tmp_path / "liar.ts"), _extra_files={TORCHSCRIPT_CARD: json.dumps(card.to_dict())})
    trust_model(tmp_path / "liar.ts")
    image = np.zeros((16, 16, 16), np.float32)
    with pytest.raises(ModelError, match="returned 3 channels but its card lists 3 labels"):
        UNetMethod().run(request_for(image, UNetParameters(model=str(tmp_path / "liar.ts"))), no_progress,
                         CancelToken())


def test_missing_model_name():
    with pytest.raises(ModelError, match="no bundled model"):
        load_model("no_such_model", cache=False)
