"""Campaign exports read back by their real consumers: nnU-Net v2's own dataset integrity check,
MONAI's ``load_decathlon_datalist``; BIDS derivatives checked file by file. Real hippocampus
crops, worked on by annotators whose work is imported into the campaign."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.campaign import ACCEPTED, DONE, IN_PROGRESS, NEEDS_REVIEW, REJECTED, Campaign, cases_from_source
from segviewer.app.campaign.export import export_bids, export_monai, export_nnunet, select_cases
from segviewer.cli import main
from segviewer.io.images import read_geometry
from segviewer.io.scribbles import write_scribbles
from segviewer.model.labels import LabelTable
from segviewer.model.scribbles import Scribbles

CASES = 7


def reference(hippocampus: Path, case_id: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(hippocampus / "labelsTr" / f"{case_id}.nii.gz")))


def scribbles_from(labels: np.ndarray, case_image: Path, target: Path) -> Path:
    """Sparse marks: every 4th voxel of each label and of the background near it."""
    scribbles = Scribbles.empty(read_geometry(case_image))
    keep = np.zeros(labels.shape, bool)
    keep[::4, ::4, ::4] = True
    scribbles.array[keep] = labels[keep]
    write_scribbles(target, scribbles)
    return target


@pytest.fixture(scope="module")
def study(hippocampus, tmp_path_factory) -> Campaign:
    """Seven cases: 0 alice done; 1 alice done + bob accepted (a shifted mask); 2 scribbles only
    (done); 3 alice in progress; 4 alice rejected; 5 and 6 not started."""
    root = tmp_path_factory.mktemp("export")
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    table = LabelTable()
    table.add(1, "anterior")
    table.add(2, "posterior")
    campaign = Campaign.create(root / "study", cases[:CASES], source={"kind": kind}, label_table=table)
    ids = campaign.case_ids()
    masks = root / "masks"
    masks.mkdir()

    def labels_file(case_id: str, shift: int = 0) -> Path:
        path = masks / f"{case_id}_{shift}.nii.gz"
        image = sitk.ReadImage(str(hippocampus / "labelsTr" / f"{case_id}.nii.gz"))
        array = np.roll(sitk.GetArrayFromImage(image), shift, axis=0)
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        sitk.WriteImage(out, str(path))
        return path

    campaign.import_layer(ids[0], "alice", "labels", labels_file(ids[0]), state=DONE)
    campaign.import_layer(ids[1], "alice", "labels", labels_file(ids[1], shift=2), state=DONE)
    campaign.import_layer(ids[1], "bob", "labels", labels_file(ids[1]), state=NEEDS_REVIEW)
    campaign.set_state(ids[1], "bob", ACCEPTED, by="reviewer")
    scribbles = scribbles_from(reference(hippocampus, ids[2]), campaign.case(ids[2]).image,
                               masks / f"{ids[2]}_scribbles.nii.gz")
    campaign.import_layer(ids[2], "cleo", "scribbles", scribbles, state=DONE)
    campaign.import_layer(ids[3], "alice", "labels", labels_file(ids[3]), state=IN_PROGRESS)
    campaign.import_layer(ids[4], "alice", "labels", labels_file(ids[4]), state=DONE)
    campaign.set_state(ids[4], "alice", REJECTED, "posterior part missing", by="reviewer")
    return campaign


def test_the_reviewed_mask_wins_and_every_left_out_case_is_named(study):
    ids = study.case_ids()
    selection = select_cases(study)
    chosen = {c.case.id: c for c in selection.choices}
    assert set(chosen) == {ids[0], ids[1], ids[2]}
    assert chosen[ids[1]].chosen.annotator == "bob"  # accepted beats alice's done
    assert "bob's mask (accepted) over alice's mask (done)" in chosen[ids[1]].describe()
    assert chosen[ids[2]].kind == "scribbles"
    reasons = {o.case: o.reason for o in selection.left_out}
    assert "draft" in reasons[ids[3]] and "rejected (posterior part missing)" in reasons[ids[4]]
    assert reasons[ids[5]] == "nobody has started it"
    with_drafts = {c.case.id for c in select_cases(study, include_drafts=True).choices}
    assert ids[3] in with_drafts


def test_nnunet_export_passes_nnunets_own_integrity_check(study, hippocampus, tmp_path):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity")
    ids = study.case_ids()
    raw = tmp_path / "nnUNet_raw"
    report = export_nnunet(study, raw, 7, "Hippo")
    dataset = raw / "Dataset007_Hippo"
    verify.verify_dataset_integrity(str(dataset), num_processes=1)  # raises on any problem
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["labels"] == {"background": 0, "anterior": 1, "posterior": 2, "ignore": 3}
    assert info["numTraining"] == 3 and info["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (dataset / "labelsTr").iterdir()) == sorted(f"{i}.nii.gz" for i in ids[:3])
    # bob's accepted mask, not alice's shifted one
    exported = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset / "labelsTr" / f"{ids[1]}.nii.gz")))
    assert np.array_equal(exported, reference(hippocampus, ids[1]))
    # scribbles: marked voxels keep their class, the rest is nnU-Net's ignore label
    partial = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset / "labelsTr" / f"{ids[2]}.nii.gz")))
    truth = reference(hippocampus, ids[2])
    assert np.array_equal(partial[::4, ::4, ::4], truth[::4, ::4, ::4])
    assert np.count_nonzero(partial == 3) == partial.size - truth[::4, ::4, ::4].size
    # the image is the campaign's image, byte for byte
    assert (dataset / "imagesTr" / f"{ids[0]}_0000.nii.gz").read_bytes() == study.case(ids[0]).image.read_bytes()
    assert {o.case for o in report.left_out} == set(ids[3:])
    assert info["segviewer_export"]["left_out"] == [{"case": o.case, "reason": o.reason} for o in report.left_out]
    assert sorted(p.name for p in raw.iterdir()) == ["Dataset007_Hippo"]  # nothing else written


def test_nnunet_refuses_a_taken_dataset_id(study, tmp_path, capsys):
    raw = tmp_path / "raw"
    (raw / "Dataset007_Other").mkdir(parents=True)
    code = main(["export", "nnunet", str(study.root), str(raw), "--dataset-id", "7", "--name", "Hippo"])
    assert code == 2
    assert "Dataset007_Other" in capsys.readouterr().err
    assert sorted(p.name for p in raw.iterdir()) == ["Dataset007_Other"]


def test_monai_datalist_read_by_monai_with_folds(study, tmp_path):
    from monai.data import load_decathlon_datalist

    ids = study.case_ids()
    out = tmp_path / "lists" / "datalist.json"
    out.parent.mkdir()
    export_monai(study, out, folds=2, seed=3)
    training = load_decathlon_datalist(str(out), is_segmentation=True, data_list_key="training")
    assert [Path(e["image"]) for e in training] == [study.case(i).image for i in ids[:2]]
    assert Path(training[1]["label"]) == study.existing_layer(ids[1], "bob", "labels")
    assert sorted(e["fold"] for e in training) == [0, 1]
    partial = load_decathlon_datalist(str(out), data_list_key="scribbles")
    assert [e["case"] for e in partial] == [ids[2]] and partial[0]["ignore_index"] == 255
    test = load_decathlon_datalist(str(out), is_segmentation=False, data_list_key="test")
    assert [e["case"] for e in test] == ids[3:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["datalist.json"]


def test_bids_derivative_with_consensus_probabilities(study, hippocampus, tmp_path, capsys):
    ids = study.case_ids()
    out = tmp_path / "derivatives" / "segviewer"
    assert main(["export", "bids", str(study.root), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{ids[2]}: scribbles only" in printed and f"{ids[4]}: alice's work was rejected" in printed
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "segviewer"
    assert (out / "dseg.tsv").read_text().splitlines() == ["index\tname", "0\tbackground", "1\tanterior",
                                                           "2\tposterior"]
    subject = ids[1].replace("_", "")
    anat = out / f"sub-{subject}" / "anat"
    dseg = sitk.ReadImage(str(anat / f"sub-{subject}_dseg.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(dseg), reference(hippocampus, ids[1]))
    probability = sitk.GetArrayFromImage(sitk.ReadImage(str(anat / f"sub-{subject}_label-anterior_probseg.nii.gz")))
    assert set(np.unique(probability)) <= {0.0, 0.5, 1.0} and np.any(probability == 0.5)  # two raters disagree
    assert not list((out / f"sub-{ids[0].replace('_', '')}" / "anat").glob("*probseg*"))  # one rater: none
    assert not (out / f"sub-{ids[2].replace('_', '')}").exists()



def test_a_case_whose_image_moved_away_is_left_out_and_named(hippocampus, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("hippocampus_001", "hippocampus_003"):
        (images / f"{name}.nii.gz").write_bytes((hippocampus / "imagesTr" / f"{name}.nii.gz").read_bytes())
    kind, cases = cases_from_source(images)
    campaign = Campaign.create(tmp_path / "study", cases, source={"kind": kind})
    for case_id in campaign.case_ids():
        campaign.import_layer(case_id, "alice", "labels", hippocampus / "labelsTr" / f"{case_id}.nii.gz", state=DONE)
    (images / "hippocampus_003.nii.gz").unlink()  # moved away after the work was done
    report = export_nnunet(campaign, tmp_path / "raw", 1, "Moved")
    assert [line.split(":")[0] for line in report.exported] == ["hippocampus_001"]
    assert report.left_out[0].case == "hippocampus_003" and "cannot be read" in report.left_out[0].reason


def test_bids_into_a_folder_holding_files_is_refused_and_left_as_it_was(study, tmp_path, capsys):
    out = tmp_path / "derivatives"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["export", "bids", str(study.root), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["derivatives"]
