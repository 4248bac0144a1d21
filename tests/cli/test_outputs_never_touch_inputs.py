"""No command writes over one of its inputs, and every side output is complete or absent.

Each case here used to end with exit 0 and a destroyed input (or a traceback); now it is
one line, ``segviewer: error: …``, exit 2, and every input byte-identical. Full disks are
simulated as in ``tests/io/test_output_writer.py`` (``RLIMIT_FSIZE``, no root needed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import image_to_sitk
from segviewer.methods.deep.models import bundled_model_path
from segviewer.model.geometry import Geometry
from tests.io.test_output_writer import run_python


@pytest.fixture
def case(tmp_path) -> dict[str, Path]:
    """A small image with a bright box, its reference mask, scribbles and a click."""
    shape = (10, 20, 20)
    box = (slice(3, 7), slice(6, 14), slice(6, 14))
    reference = np.zeros(shape, np.uint8)
    reference[box] = 1
    image = (np.random.default_rng(0).normal(100, 8, shape) + 60 * reference).astype(np.int16)
    scribbles = np.full(shape, 255, np.uint8)
    scribbles[5, 8:12, 10] = 1
    scribbles[5, (1, -2), 2:-2] = 0
    geometry = Geometry(shape[::-1], (1.0, 1.0, 1.5), (0.0, 0.0, 0.0))
    paths = {"image": tmp_path / "image.nii.gz", "reference": tmp_path / "reference.nii.gz",
             "scribbles": tmp_path / "scribbles.nii.gz", "points": tmp_path / "points.json"}
    sitk.WriteImage(image_to_sitk(image, geometry), str(paths["image"]))
    sitk.WriteImage(image_to_sitk(reference, geometry), str(paths["reference"]))
    sitk.WriteImage(image_to_sitk(scribbles, geometry), str(paths["scribbles"]))
    paths["points"].write_text(json.dumps({"points": [
        {"position_mm": [10.0, 10.0, 7.5], "label": 1, "positive": True}]}))
    return paths


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def refused(capsys, argv, folder: Path, message: str) -> str:
    """Run ``argv``; assert exit 2, one line naming ``message``, and ``folder`` unchanged."""
    before = checksums(folder)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("segviewer: error: ") and message in err, err
    assert checksums(folder) == before  # inputs untouched, and nothing new written
    return err


# -- side outputs onto inputs --------------------------------------------------------------------
def test_segment_info_onto_the_image_is_refused(case, capsys):
    refused(capsys, ["segment", case["image"], "--method", "threshold", "-o", case["image"].parent / "out.nii.gz",
                     "--info", case["image"], "-q"], case["image"].parent, "is the source image")


def test_segment_info_onto_its_own_label_map_output_is_refused(case, capsys):
    out = case["image"].parent / "out.nii.gz"
    refused(capsys, ["segment", case["image"], "--method", "threshold", "-o", out, "--info", out, "-q"],
            case["image"].parent, "given for both the label map and the method's info")


def test_json_side_outputs_under_an_image_name_are_refused_before_any_output(case, capsys):
    """``--info out.nii.gz`` used to write the label map, then call the JSON an incomplete image."""
    folder = case["image"].parent
    refused(capsys, ["segment", case["image"], "--method", "threshold", "-o", folder / "out.nii.gz",
                     "--info", folder / "info.nii.gz", "-q"], folder, "is an image file name")
    refused(capsys, ["simulate", case["reference"], "-o", folder / "s.nii.gz", "--points", folder / "clicks.nrrd"],
            folder, "is an image file name")


def test_simulate_onto_the_reference_is_refused(case, capsys):
    refused(capsys, ["simulate", case["reference"], "-o", case["reference"]], case["reference"].parent,
            "is the input reference")


def test_simulate_points_onto_the_reference_is_refused(case, capsys):
    refused(capsys, ["simulate", case["reference"], "-o", case["image"].parent / "s.nii.gz",
                     "--points", case["reference"]], case["reference"].parent, "is the input reference")


def test_a_label_maps_sidecar_onto_an_input_or_another_output_is_refused_before_any_output(case, capsys):
    """``-o out.nii.gz`` also writes ``out.labels.json``: as the points it used to be written after
    the label map (exit 2 and a label map without its table left behind); as ``--info`` or
    ``--points`` of the same command one silently replaced the other (exit 0)."""
    folder = case["image"].parent
    points = shutil.copy(case["points"], folder / "out.labels.json")
    refused(capsys, ["segment", case["image"], "--method", "threshold", "--points", points,
                     "-o", folder / "out.nii.gz", "-q"], folder, "is the input points")
    refused(capsys, ["segment", case["image"], "--method", "threshold", "-o", folder / "new.nii.gz",
                     "--info", folder / "new.labels.json", "-q"], folder,
            "given for both the sidecar of the label map and the method's info")
    refused(capsys, ["simulate", case["reference"], "-o", folder / "s.nii.gz", "--points",
                     folder / "s.scribbles.json"], folder, "given for both the sidecar of the scribbles and the clicks")
    refused(capsys, ["finetune", case["image"], "--scribbles", case["scribbles"], "--model", "scratch",
                     "--points", points, "-o", folder / "out.nii.gz"], folder, "is the input points")


def test_bench_results_never_replace_the_split_or_a_case(case, capsys):
    """``bench interactive --json split.json`` ran the benchmark, then replaced the split (exit 0)."""
    folder = case["image"].parent
    split = folder / "split.json"
    split.write_text('{"validation": ["image"]}')
    shutil.copy(case["reference"], folder / "image_label.nii.gz")
    for target, role in ((split, "the input split"), (folder / "image_label.nii.gz", "the input cases")):
        refused(capsys, ["bench", "interactive", "--method", "threshold", "--cases", folder, "--split", split,
                         "--max-interactions", "1", "--quiet", "--json", target], folder, role)


def test_converting_a_label_map_to_another_format_beside_it_shares_its_table(case, capsys):
    """``convert --labels case.nii.gz case.nrrd``: both name their table ``case.labels.json``, the
    input's. It used to write case.nrrd, then refuse the sidecar (exit 2, half an output)."""
    folder = case["reference"].parent
    sidecar = folder / "reference.labels.json"
    sidecar.write_text(json.dumps({"format": "segviewer-label-table", "version": 1,
                                   "labels": [{"value": 1, "name": "box", "colour": [255, 0, 0]}]}))
    before = checksums(folder)
    assert main(["convert", "--labels", str(case["reference"]), str(folder / "reference.nrrd")]) == 0
    assert checksums(folder).items() >= before.items()  # every input byte-identical
    assert (folder / "reference.nrrd").is_file()
    from segviewer.io.labels import read_label_map
    label_map, _ = read_label_map(folder / "reference.nrrd")
    assert label_map.table.name_of(1) == "box"

def test_finetune_entropy_onto_the_image_is_refused(case, capsys):
    refused(capsys, ["finetune", case["image"], "--scribbles", case["scribbles"], "--model", "scratch",
                     "--entropy", case["image"]], case["image"].parent, "is the source image")


def test_finetune_labels_onto_the_scribbles_are_refused(case, capsys):
    refused(capsys, ["finetune", case["image"], "--scribbles", case["scribbles"], "--model", "scratch",
                     "-o", case["scribbles"]], case["image"].parent, "is the input scribbles")


def test_finetune_entropy_as_png_is_refused_before_anything_is_written(case, capsys):
    before = checksums(case["image"].parent)
    code = main([str(a) for a in ["finetune", case["image"], "--scribbles", case["scribbles"], "--model",
                                  "scratch", "--entropy", case["image"].parent / "x.png"]])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and ".png" in err
    assert checksums(case["image"].parent) == before  # no 0-byte x.png


def test_save_model_over_the_model_it_started_from_is_refused(case, capsys, tmp_path):
    pytest.importorskip("torch")
    bundled = bundled_model_path()
    card = json.loads(bundled.read_text())
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(bundled, models / "mine.json")
    shutil.copy(bundled.parent / card["weights"], models / card["weights"])
    for target in (models / "mine", models / Path(card["weights"]).stem):
        refused(capsys, ["finetune", case["image"], "--scribbles", case["scribbles"], "--model",
                         models / "mine.json", "--save-model", target], models, "is the input model")


def test_screenshot_onto_the_image_or_the_labels_is_refused(case, capsys):
    refused(capsys, ["screenshot", case["image"], "-o", case["image"]], case["image"].parent,
            "is the source image")
    refused(capsys, ["screenshot", case["image"], "--labels", case["reference"], "-o", case["reference"]],
            case["image"].parent, "is the input labels")


def test_json_into_a_folder_that_cannot_be_written_is_one_line(case, capsys, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores permission bits; sysfs refuses new files
        folder = Path("/sys")
        try:
            (folder / "segviewer-probe.json").open("x").close()
        except OSError:
            pass
        else:  # pragma: no cover - a writable /sys: nothing read-only to try
            (folder / "segviewer-probe.json").unlink()
            pytest.skip("no read-only folder available")
    code = main([str(a) for a in ["segment", case["image"], "--method", "threshold", "-q", "-o",
                                  tmp_path / "out.nii.gz", "--info", folder / "info.json"]])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"segviewer: error: {folder / 'info.json'}: could not be written")


# -- side outputs on a full disk -------------------------------------------------------------------
def cli_on_full_disk(argv, marker: str, limit: int = 16):
    """Run the command line in a subprocess whose disk fills when ``marker`` is created."""
    return run_python(f"""
        from segviewer.cli import main
        sys.exit(main({[str(a) for a in argv]!r}))
    """, disk_full_at=marker, limit=limit)


def assert_failed_cleanly(result, target: Path, before: dict[str, str]) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"segviewer: error: {target}: could not be written")
    after = checksums(target.parent)
    assert {name: after.get(name) for name in before} == before  # the previous files, byte for byte
    assert not [name for name in os.listdir(target.parent) if ".partial" in name]


def test_segment_info_on_a_full_disk(case):
    info = case["image"].parent / "info.json"
    info.write_text('{"previous": true}\n')
    before = checksums(case["image"].parent)
    result = cli_on_full_disk(["segment", case["image"], "--method", "threshold", "-q", "-o",
                               case["image"].parent / "out.nii.gz", "--info", info], "info.json")
    assert_failed_cleanly(result, info, before)


def test_simulated_points_on_a_full_disk(case):
    clicks = case["image"].parent / "clicks.json"
    clicks.write_text('{"previous": true}\n')
    before = checksums(case["image"].parent)
    result = cli_on_full_disk(["simulate", case["reference"], "-o", case["image"].parent / "s.nii.gz",
                               "--points", clicks], "clicks.json")
    assert_failed_cleanly(result, clicks, before)


def test_label_table_sidecar_on_a_full_disk(case):
    sidecar = case["image"].parent / "converted.labels.json"
    sidecar.write_text('{"previous": true}\n')
    before = checksums(case["image"].parent)
    result = cli_on_full_disk(["convert", "--labels", case["reference"], case["image"].parent / "converted.nii.gz"],
                              "converted.labels.json")
    assert_failed_cleanly(result, sidecar, before)


def test_entropy_and_model_on_a_full_disk(case):
    pytest.importorskip("torch")
    folder = case["image"].parent
    entropy, weights = folder / "entropy.nii.gz", folder / "tuned.pt"
    entropy.write_bytes(b"previous entropy")
    weights.write_bytes(b"previous model")
    before = checksums(folder)
    tune = ["finetune", case["image"], "--scribbles", case["scribbles"], "--model", "scratch", "--param",
            "steps=2", "--param", "refine=none", "-q"]
    assert_failed_cleanly(cli_on_full_disk(tune + ["--entropy", entropy], "entropy.nii", 1000), entropy, before)
    assert_failed_cleanly(cli_on_full_disk(tune + ["--save-model", folder / "tuned"], "tuned.pt", 1000),
                          weights, before)
    assert not (folder / "tuned.json").exists()  # no card naming weights that are not there


@pytest.mark.gui
def test_screenshot_on_a_full_disk(case):
    shot = case["image"].parent / "shot.png"
    shot.write_bytes(b"previous picture")
    before = checksums(case["image"].parent)
    result = cli_on_full_disk(["screenshot", case["image"], "--layout", "axial", "--size", "320x240",
                               "-o", shot], "shot.png", 1000)
    assert_failed_cleanly(result, shot, before)


def test_the_apps_save_model_never_replaces_the_model_tuning_started_from(case, tmp_path):
    """The GUI's "Save model…" passes no guard: the tuning state itself knows its source."""
    pytest.importorskip("torch")
    from segviewer.io.images import read_image
    from segviewer.io.paths import WritePathError
    from segviewer.io.scribbles import read_scribbles
    from segviewer.methods.base import CancelToken
    from segviewer.model.parameters import parse_parameter_assignments
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import build_request_from_arrays

    bundled = bundled_model_path()
    weights = json.loads(bundled.read_text())["weights"]
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(bundled, models / "mine.json")
    shutil.copy(bundled.parent / weights, models / weights)
    before = checksums(models)
    method = get_method("finetune")
    image = read_image(case["image"])
    scribbles, _ = read_scribbles(case["scribbles"], image.geometry)
    params = parse_parameter_assignments(method.Parameters, [f"model={models / 'mine.json'}", "steps=1"])
    request = build_request_from_arrays(method, image.array, image.geometry, scribbles=scribbles.array,
                                        unannotated=scribbles.unannotated, params=params, whole_volume=True)
    method.run(request, lambda *args, **kwargs: None, CancelToken())
    with pytest.raises(WritePathError, match="the model fine-tuning started from"):
        method.save_model(models / "mine")
    assert checksums(models) == before
    method.save_model(models / "tuned")  # anywhere else is fine
    assert {"tuned.pt", "tuned.json"} <= set(os.listdir(models))
