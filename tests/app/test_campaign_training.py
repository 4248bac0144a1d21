"""``segviewer train --campaign``: a model from a campaign's finished hippocampus cases, saved
into the campaign with the record of what trained it; then used by the U-Net method."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from segviewer.app.campaign import DONE, IN_PROGRESS, Campaign, cases_from_source
from segviewer.app.campaign.training import campaign_split
from segviewer.cli import main
from segviewer.io.images import read_geometry
from segviewer.io.scribbles import write_scribbles
from segviewer.model.labels import LabelTable
from segviewer.model.scribbles import Scribbles

TINY = ["--iterations", "4", "--val-every", "2", "--batch-size", "2", "--roi-size", "16", "16", "16",
        "--channels", "4", "8", "--seed", "3"]


def test_train_from_a_campaign_saves_the_model_and_who_trained_it(hippocampus, tmp_path, capsys):
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    table = LabelTable()
    table.add(1, "anterior")
    table.add(2, "posterior")
    campaign = Campaign.create(tmp_path / "study", cases[:7], source={"kind": kind}, label_table=table)
    ids = campaign.case_ids()
    for number, case_id in enumerate(ids[:5]):
        campaign.import_layer(case_id, ("alice", "bob")[number % 2], "labels",
                              hippocampus / "labelsTr" / f"{case_id}.nii.gz", state=DONE)
    scribbles = Scribbles.empty(read_geometry(campaign.case(ids[5]).image))
    scribbles.array[10:12, 20:22, 10:12] = 1
    write_scribbles(tmp_path / "s.nii.gz", scribbles)
    campaign.import_layer(ids[5], "cleo", "scribbles", tmp_path / "s.nii.gz", state=DONE)
    campaign.import_layer(ids[6], "alice", "labels", hippocampus / "labelsTr" / f"{ids[6]}.nii.gz",
                          state=IN_PROGRESS)

    assert main(["train", "--campaign", str(campaign.root), "--name", "hippo", *TINY]) == 0
    models = campaign.root / "models"
    card = json.loads((models / "hippo.json").read_text())
    assert set(card["validation"]["dice"]) == {"anterior", "posterior"}
    record = json.loads((models / "hippo.campaign.json").read_text())
    held_out = campaign_split(ids[:5], seed=3)
    # the scribble-only case trains (its unmarked voxels out of the loss); only full masks validate
    assert record["split"] == {"train": sorted(held_out["train"] + [ids[5]]), "validation": held_out["validation"]}
    assert len(record["split"]["validation"]) == 1 and len(record["split"]["train"]) == 5
    assert record["annotators"][ids[0]] == "alice's mask (done)" and record["annotators"][ids[1]] == "bob's mask (done)"
    assert record["annotators"][ids[5]] == "cleo's scribbles (done)"
    assert "ignore label 3" in card["training"]["loss"]
    reasons = {o["case"]: o["reason"] for o in record["left_out"]}
    assert set(reasons) == {ids[6]} and "draft" in reasons[ids[6]]
    assert record["validation"]["mean_dice"] == card["validation"]["mean_dice"]
    # the campaign model is a model the U-Net method runs
    out = tmp_path / "prediction.nii.gz"
    assert main(["segment", str(campaign.case(ids[6]).image), "--method", "unet", "--model",
                 str(models / "hippo.json"), "-q", "-o", str(out)]) == 0
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out))).shape == sitk.GetArrayFromImage(
        sitk.ReadImage(str(campaign.case(ids[6]).image))).shape
    assert not np.any([p.name.startswith("segviewer-train-") for p in models.iterdir()])


def test_train_campaign_with_too_few_cases_or_mixed_with_data_is_one_line(hippocampus, tmp_path, capsys):
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", cases[:2], source={"kind": kind})
    campaign.import_layer(campaign.case_ids()[0], "alice", "labels",
                          hippocampus / "labelsTr" / f"{campaign.case_ids()[0]}.nii.gz", state=DONE)
    assert main(["train", "--campaign", str(campaign.root), *TINY]) == 2
    assert "two finished full masks at least" in capsys.readouterr().err
    assert main(["train", "--campaign", str(campaign.root), "--data", str(tmp_path), *TINY]) == 2
    assert "leave out --data" in capsys.readouterr().err
    assert not (campaign.root / "models").exists()
