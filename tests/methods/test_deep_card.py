"""Model card: round trip, validation, rebuilding the network from an allow-list only."""

from __future__ import annotations

import json

import pytest

from segviewer.methods.deep.card import ModelCard, ModelError, build_network, network_class
from segviewer.methods.deep.models import bundled_model_path


def small_card(**overrides) -> ModelCard:
    data = dict(
        name="tiny", labels={1: "a", 2: "b"},
        network={"class": "monai.networks.nets.UNet",
                 "kwargs": {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [4, 8],
                            "strides": [2], "num_res_units": 0}},
        spacing=[1.0, 1.0, 2.0], normalization={"kind": "window", "low": -100, "high": 200},
        roi_size=[16, 16, 16], weights="tiny.pt",
    )
    data.update(overrides)
    return ModelCard(**data)


def test_round_trip_through_json(tmp_path):
    card = small_card(training={"seed": 3}, validation={"dice": {"a": 0.9}})
    path = card.save(tmp_path / "tiny.json")
    data = json.loads(path.read_text())
    assert data["format"] == "segviewer-model-card" and data["out_channels"] == 3
    assert data["labels"] == {"1": "a", "2": "b"}
    again = ModelCard.load(path)
    assert again.to_dict() == card.to_dict()
    assert again.labels == {1: "a", 2: "b"} and again.class_values == [0, 1, 2]
    assert again.spacing == [1.0, 1.0, 2.0]


def test_bundled_card_is_complete():
    card = ModelCard.load(bundled_model_path())
    assert card.labels == {1: "anterior", 2: "posterior"}
    assert card.in_channels == 1 and card.out_channels == 3
    assert card.spacing == [1.0, 1.0, 1.0] and card.normalization == {"kind": "zscore"}
    assert card.validation["mean_dice"] >= 0.88
    for key in ("data", "split", "seconds", "hardware", "seed", "command"):
        assert key in card.training
    assert "resources/splits/hippocampus.json" in card.training["split"]
    assert "/tmp" not in json.dumps(card.to_dict())


@pytest.mark.parametrize("change, message", [
    ({"labels": {}}, "no labels"),
    ({"network": {"kwargs": {}}}, "no 'class'"),
    ({"normalization": {"kind": "histogram"}}, "unknown normalization"),
    ({"normalization": {"kind": "window"}}, "needs low and high"),
    ({"spacing": [1.0, 0.0, 1.0]}, "spacing"),
    ({"roi_size": [16, 16]}, "roi_size"),
])
def test_invalid_cards_are_refused(change, message):
    with pytest.raises(ModelError, match=message):
        small_card(**change)


def test_out_channels_must_match_labels(tmp_path):
    data = small_card().to_dict()
    data["out_channels"] = 5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="out_channels 5"):
        ModelCard.load(path)


def test_not_a_card(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="JSON object"):
        ModelCard.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a JSON model card"):
        ModelCard.load(tmp_path / "y.json")
    with pytest.raises(ModelError, match="no such model card"):
        ModelCard.load(tmp_path / "missing.json")


def test_network_classes_come_from_an_allow_list_only():
    assert network_class({"class": "monai.networks.nets.UNet"}).__name__ == "UNet"
    with pytest.raises(ModelError, match="not from an allowed module"):
        network_class({"class": "os.system"})
    with pytest.raises(ModelError, match="does not exist"):
        network_class({"class": "monai.networks.nets.NoSuchNet"})


def test_build_network_from_card():
    network = build_network(small_card())
    assert sum(p.numel() for p in network.parameters()) > 0
    with pytest.raises(ModelError, match="cannot build"):
        build_network(small_card(network={"class": "monai.networks.nets.UNet", "kwargs": {"bogus": 1}}))
