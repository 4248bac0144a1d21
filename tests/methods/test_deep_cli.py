"""``segviewer train`` (reproducible with a seed) and ``segviewer finetune`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from segviewer.cli import main
from segviewer.io.images import image_to_sitk, read_image
from segviewer.model.geometry import Geometry


def tiny_dataset(folder, cases=4):
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    geometry = Geometry((14, 12, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.diag([-1.0, -1.0, 1.0]))
    names = []
    for n in range(cases):
        k, j, i = np.ogrid[:10, :12, :14]
        label = (((k - 5) / 3.5) ** 2 + ((j - 6) / 4) ** 2 + ((i - 7 - n % 2) / 4) ** 2 <= 1).astype(np.uint8)
        label[label.astype(bool) & (i > 7)] = 2
        image = (100 + 50 * (label > 0) + rng.normal(0, 5, label.shape)).astype(np.float32)
        name = f"tiny_{n:03d}"
        sitk.WriteImage(image_to_sitk(image, geometry), str(folder / "imagesTr" / f"{name}.nii.gz"))
        sitk.WriteImage(image_to_sitk(label, geometry), str(folder / "labelsTr" / f"{name}.nii.gz"))
        names.append(name)
    split = folder / "split.json"
    split.write_text(json.dumps({"dataset": "tiny", "train": names[:3], "validation": names[3:]}))
    return split


def test_train_is_reproducible_and_writes_a_card(tmp_path):
    split = tiny_dataset(tmp_path / "data")
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        code = main(["train", "--data", str(tmp_path / "data"), "--split", str(split), "--out", str(out),
                     "--name", "tiny", "--labels", "1=left,2=right", "--iterations", "4", "--val-every", "2",
                     "--batch-size", "2", "--roi-size", "16", "16", "16", "--channels", "4", "8", "--seed", "7",
                     "--modality", "MR", "--anatomy", "ellipsoids"])
        assert code == 0
        outputs.append(out)
    card = json.loads((outputs[0] / "tiny.json").read_text())
    assert card["labels"] == {"1": "left", "2": "right"} and card["network"]["orientation"] == "RAS"
    assert set(card["validation"]["dice"]) == {"left", "right"}
    assert card["training"]["seed"] == 7 and card["training"]["iterations"] == 4
    domain = card["domain"]  # what the model knows, measured on the training split only
    assert domain["modality"] == "MR" and domain["anatomy"] == "ellipsoids" and domain["cases"] == 3
    assert domain["spacing_min"] == domain["spacing_max"] == [1.0, 1.0, 1.0] and domain["orientation"] == "RAS"
    assert domain["field_of_view_max"] == [14.0, 12.0, 10.0] and len(domain["intensity"]["histogram"]) == 50
    first = torch.load(outputs[0] / "tiny.pt")
    second = torch.load(outputs[1] / "tiny.pt")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_finetune_command_writes_labels_entropy_and_a_reusable_model(tmp_path, hippocampus_dev, capsys):
    case = hippocampus_dev[0]
    image_path = tmp_path / "image.nii.gz"
    scribble_path = tmp_path / "scribbles.nii.gz"
    sitk.WriteImage(image_to_sitk(case.image.array, case.image.geometry), str(image_path))
    sitk.WriteImage(image_to_sitk(case.scribbles, case.image.geometry), str(scribble_path))
    code = main(["finetune", str(image_path), "--scribbles", str(scribble_path), "--model", "hippocampus_unet",
                 "--param", "steps=5", "--save-model", str(tmp_path / "tuned"), "-o", str(tmp_path / "labels.nii.gz"),
                 "--entropy", str(tmp_path / "entropy.nii.gz"), "-q"])
    assert code == 0
    labels = read_image(tmp_path / "labels.nii.gz")
    assert labels.geometry.same_grid(case.image.geometry)
    assert set(np.unique(labels.array)) <= {0, 1, 2}
    entropy = read_image(tmp_path / "entropy.nii.gz").array
    assert entropy.shape == case.reference.shape and 0 <= entropy.min() and entropy.max() <= 1
    assert (tmp_path / "tuned.json").exists() and (tmp_path / "tuned.pt").exists()
    code = main(["segment", str(image_path), "--method", "unet", "--param", f"model={tmp_path / 'tuned.json'}",
                 "-o", str(tmp_path / "again.nii.gz"), "-q"])
    assert code == 0
    again = read_image(tmp_path / "again.nii.gz").array
    assert np.mean(again == labels.array) > 0.95


def test_finetune_command_errors(tmp_path, hippocampus_dev, capsys):
    case = hippocampus_dev[0]
    image_path = tmp_path / "image.nii.gz"
    sitk.WriteImage(image_to_sitk(case.image.array, case.image.geometry), str(image_path))
    assert main(["finetune", str(image_path), "-o", str(tmp_path / "x.nii.gz")]) != 0
    assert "needs --scribbles" in capsys.readouterr().err
    scribble_path = tmp_path / "scribbles.nii.gz"
    sitk.WriteImage(image_to_sitk(case.scribbles, case.image.geometry), str(scribble_path))
    assert main(["finetune", str(image_path), "--scribbles", str(scribble_path), "--model", "nope",
                 "-o", str(tmp_path / "x.nii.gz")]) != 0
    assert "no bundled model" in capsys.readouterr().err
