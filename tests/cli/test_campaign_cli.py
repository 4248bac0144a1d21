"""``segviewer campaign init / import / status``: what a user types and sees."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.campaign import DONE, Campaign
from segviewer.cli import main


@pytest.fixture
def small_dataset(hippocampus, tmp_path):
    """Three cases in the nnU-Net raw layout (links to the shared files)."""
    root = tmp_path / "Dataset004"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    names = sorted(p.name for p in (hippocampus / "labelsTr").glob("*.nii.gz"))[:3]
    for name in names:
        (root / "imagesTr" / name.replace(".nii.gz", "_0000.nii.gz")).symlink_to(hippocampus / "imagesTr" / name)
        (root / "labelsTr" / name).symlink_to(hippocampus / "labelsTr" / name)
    return root, [n.removesuffix(".nii.gz") for n in names]


def test_init_import_status(small_dataset, tmp_path, capsys):
    dataset, ids = small_dataset
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"labels": [{"value": 1, "name": "anterior"}, {"value": 2, "name": "posterior"}]}))
    assert main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset), "--label-table", str(table)]) == 0
    assert "3 cases from a nnunet source, 3 starting masks imported" in capsys.readouterr().out
    campaign = Campaign.open(tmp_path / "c")
    assert campaign.case_ids() == ids and [e.name for e in campaign.label_table()] == ["anterior", "posterior"]

    # two annotators' earlier work, one with a case less; the masks differ on one case
    for name, count in (("ann", 3), ("ben", 2)):
        folder = tmp_path / name
        folder.mkdir()
        for case_id in ids[:count]:
            shutil.copy(dataset / "labelsTr" / f"{case_id}.nii.gz", folder / f"{case_id}.nii.gz")
        assert main(["campaign", "import", str(tmp_path / "c"), "--labels", str(folder),
                     "--annotator", name, "--state", DONE]) == 0
        assert f"imported labels of {count} cases for {name} as done" in capsys.readouterr().out
    changed = sitk.ReadImage(str(tmp_path / "ben" / f"{ids[0]}.nii.gz"))
    array = sitk.GetArrayFromImage(changed)
    array[array == 2] = 0  # ben left the posterior part out
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(changed)
    sitk.WriteImage(out, str(tmp_path / "ben" / f"{ids[0]}.nii.gz"))
    assert main(["campaign", "import", str(tmp_path / "c"), "--labels", str(tmp_path / "ben"),
                 "--annotator", "ben", "--state", DONE]) == 0
    capsys.readouterr()

    assert main(["campaign", "status", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "3 cases, 3 finished (100 %)" in text and "records per state: done 5" in text
    assert f"agreement {ids[0]}:" in text and f"agreement {ids[1]}:" in text
    assert main(["campaign", "status", str(tmp_path / "c"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["annotators"]["ben"] == {"todo": 1, "in progress": 0, "done": 2, "needs review": 0,
                                         "accepted": 0, "rejected": 0}
    assert [c["id"] for c in data["case_list"]] == ids
    posterior = [p for p in data["agreement"][ids[0]]["pairs"] if p["label"] == 2]
    assert posterior[0]["dice"] == 0.0  # ben has no label 2 there
    assert all(p["dice"] == 1.0 for p in data["agreement"][ids[1]]["pairs"])


def test_init_with_starting_masks_from_another_folder(small_dataset, tmp_path, capsys):
    dataset, ids = small_dataset
    masks = tmp_path / "model_outputs"
    masks.mkdir()
    shutil.copy(dataset / "labelsTr" / f"{ids[1]}.nii.gz", masks / f"{ids[1]}.nii.gz")
    assert main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset / "imagesTr"),
                 "--labels-from", str(masks)]) == 2  # the folder source keeps _0000 in the ids
    assert "no file is named after a case id" in capsys.readouterr().err
    assert main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset), "--labels-from", str(masks)]) == 0
    out = capsys.readouterr()
    assert "1 starting masks imported" in out.out and "2 cases have no starting mask" in out.err
    campaign = Campaign.open(tmp_path / "c")
    assert [case.start_labels is not None for case in campaign.cases] == [False, True, False]


def test_import_scribbles_matched_by_case_id(small_dataset, tmp_path, capsys):
    dataset, ids = small_dataset
    assert main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset)]) == 0
    scribbles = tmp_path / "scribbles"
    scribbles.mkdir()
    assert main(["simulate", str(dataset / "labelsTr" / f"{ids[1]}.nii.gz"), "-o",
                 str(scribbles / f"{ids[1]}_0000.nii.gz")]) == 0
    capsys.readouterr()
    assert main(["campaign", "import", str(tmp_path / "c"), "--scribbles", str(scribbles), "--annotator", "ann"]) == 0
    campaign = Campaign.open(tmp_path / "c")
    record = campaign.record(ids[1], "ann")
    assert record.state == "in progress" and record.layers == ["scribbles"]
    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path(ids[1], "ann", "scribbles"))))
    assert np.array_equal(saved, sitk.GetArrayFromImage(sitk.ReadImage(str(scribbles / f"{ids[1]}_0000.nii.gz"))))


@pytest.mark.parametrize("arguments, message", [
    (["status", "{tmp}"], "not a campaign"),
    (["init", "{tmp}/new", "--from", "{tmp}/nothing"], "no such file or folder"),
    (["import", "{campaign}", "--labels", "{tmp}", "--annotator", "ann"], "no file is named after a case"),
    (["import", "{campaign}", "--labels", "{tmp}", "--state", "rejected"], "needs --comment"),
    (["import", "{campaign}", "--labels", "{tmp}", "--annotator", "../x"], "annotator name"),
    (["init", "{campaign}", "--from", "{dataset}"], "already a campaign"),
    (["init", "{dataset}", "--from", "{dataset}"], "not an empty folder"),
    (["open", "{campaign}", "--case", "nope"], "no case 'nope'"),
])
def test_mistakes_are_one_line(small_dataset, tmp_path, capsys, arguments, message):
    dataset, _ids = small_dataset
    main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset)])
    capsys.readouterr()
    values = {"tmp": str(tmp_path), "campaign": str(tmp_path / "c"), "dataset": str(dataset)}
    assert main(["campaign", *(a.format(**values) for a in arguments)]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error


def test_status_names_who_is_editing_and_import_skips_that_case(small_dataset, tmp_path, capsys):
    dataset, ids = small_dataset
    main(["campaign", "init", str(tmp_path / "c"), "--from", str(dataset)])
    campaign = Campaign.open(tmp_path / "c")
    held = campaign.lock(ids[0], "bob")
    assert main(["campaign", "import", str(tmp_path / "c"), "--labels", str(dataset / "labelsTr"),
                 "--annotator", "ann", "--state", DONE]) == 2
    captured = capsys.readouterr()
    assert "imported labels of 2 cases" in captured.out and f"{ids[0]}: case {ids[0]} is being edited by bob" in captured.err
    assert main(["campaign", "status", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "records per state: todo 1, done 2" in text
    assert f"  {ids[0]}: 0.0 [being edited by bob]" in text
    held.release()
