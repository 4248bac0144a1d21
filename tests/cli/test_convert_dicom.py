"""``segviewer convert LABELS OUT.dcm --reference DICOM_DIR --format dicom-seg|rtstruct`` and
DICOM-SEG / RT Structure Set files as convert's input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from segviewer.cli import main
from segviewer.io.dicom import read_dicom_series
from segviewer.io.dicom_seg import read_dicom_seg
from segviewer.io.labels import read_label_map
from tests.io.test_dicom_seg import dciodvfy_errors, every_dicom_object_is_valid  # noqa: F401


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def ct_folder(shared_data):
    return shared_data / "dicom" / "ct_chest_20slices"


@pytest.fixture(scope="module")
def model_output(shared_data):
    return shared_data / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz"


@pytest.mark.parametrize("kind", ["dicom-seg", "rtstruct"])
def test_convert_writes_a_valid_dicom_object_on_the_series_that_reads_back_exactly(kind, capsys, tmp_path, ct_folder,
                                                                                   model_output):
    out = tmp_path / "labels.dcm"
    code, stdout, stderr = run_cli(capsys, "convert", model_output, out, "--reference", ct_folder, "--format", kind,
                                   "--algorithm-type", "automatic", "--model", "organs.pt")
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out} ({kind}, 31 segments on 20 images")
    assert "axes flipped" in stderr and "no StudyInstanceUID" in stderr  # notes, not errors
    assert dciodvfy_errors(out) == []
    series = read_dicom_series(ct_folder)
    expected, _ = read_label_map(model_output, series.geometry)
    back = tmp_path / "back.nii.gz"
    code, _, stderr = run_cli(capsys, "convert", out, back, "--reference", ct_folder)  # read as labels by itself
    assert code == 0, stderr
    assert np.array_equal(read_label_map(back)[0].array, expected.array)


def test_a_labelmap_seg_from_the_command_line(capsys, tmp_path, ct_folder, model_output):
    out = tmp_path / "labels.dcm"
    code, _, stderr = run_cli(capsys, "convert", model_output, out, "--reference", ct_folder,
                              "--format", "dicom-seg", "--seg-type", "labelmap")
    assert code == 0, stderr
    series = read_dicom_series(ct_folder)
    assert np.array_equal(read_dicom_seg(out, series).label_map.array,
                          read_label_map(model_output, series.geometry)[0].array)


@pytest.mark.parametrize("extra, problem", [
    (["--format", "dicom-seg"], "needs --reference DICOM_DIR"),
    (["--reference", "{ct}"], "a .dcm output is a DICOM object; say which with --format"),
    (["--reference", "{spleen}", "--format", "rtstruct"], "is not a DICOM series"),
    (["--reference", "{ct}", "--format", "dicom-seg", "--algorithm-type", "semiautomatic"], "names its method"),
    (["--reference", "{ct}", "--format", "dicom-seg", "--codes", "{bad_codes}"], "is not valid JSON"),
])
def test_dicom_output_mistakes_are_one_line_and_write_nothing(extra, problem, capsys, tmp_path, ct_folder,
                                                              model_output, spleen_paths):
    bad_codes = tmp_path / "codes.json"
    bad_codes.write_text("{")
    values = {"ct": ct_folder, "spleen": spleen_paths[0], "bad_codes": bad_codes}
    out = tmp_path / "out.dcm"
    code, stdout, stderr = run_cli(capsys, "convert", model_output, out, *(a.format(**values) for a in extra))
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and problem in stderr
    assert not out.exists()


def test_a_dicom_format_needs_a_dcm_name(capsys, tmp_path, ct_folder, model_output):
    code, _, stderr = run_cli(capsys, "convert", model_output, tmp_path / "out.nii.gz", "--reference", ct_folder,
                              "--format", "dicom-seg")
    assert code == 2 and "give the output a .dcm name" in stderr


def test_a_dicom_object_is_never_written_over_an_image_of_its_series(capsys, tmp_path, ct_folder, model_output):
    series = tmp_path / "series"
    shutil.copytree(ct_folder, series)
    victim = sorted(series.iterdir())[0]
    victim = victim.rename(victim.with_suffix(".dcm"))
    before = victim.read_bytes()
    for kind in ("dicom-seg", "rtstruct"):
        code, _, stderr = run_cli(capsys, "convert", model_output, victim, "--reference", series, "--format", kind)
        assert code == 2 and "refusing to overwrite" in stderr
    assert victim.read_bytes() == before


def test_a_seg_with_overlapping_segments_converts_one_layer_at_a_time(capsys, tmp_path, shared_data):
    seg = shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm"
    layers = read_dicom_seg(seg).layers
    for number in (1, 2):
        out = tmp_path / f"layer{number}.nii.gz"
        code, _, stderr = run_cli(capsys, "convert", seg, out, "--layer", number)
        assert code == 0 and f"opened layer {number} of 2" in stderr
        assert np.array_equal(read_label_map(out)[0].array, layers[number - 1].array)
    code, _, stderr = run_cli(capsys, "convert", seg, tmp_path / "x.nii.gz", "--layer", 3)
    assert code == 2 and "there is no layer 3" in stderr


def test_a_fractional_seg_converts_to_labels_and_its_probabilities(capsys, tmp_path, shared_data):
    import highdicom as hd
    import SimpleITK as sitk

    seg = shared_data / "dicom_seg" / "seg_image_ct_true_fractional.dcm"
    labels, soft = tmp_path / "labels.nii.gz", tmp_path / "soft.nii.gz"
    code, _, stderr = run_cli(capsys, "convert", seg, labels, "--probabilities", soft)
    assert code == 0 and "FRACTIONAL" in stderr
    probabilities = sitk.GetArrayFromImage(sitk.ReadImage(str(soft)))
    assert probabilities.dtype == np.float32
    raw = hd.seg.segread(seg).get_volume().array[..., 0]
    assert np.allclose(np.sort(probabilities.reshape(-1)), np.sort(raw.reshape(-1)))
    assert np.array_equal(read_label_map(labels)[0].array > 0, probabilities >= 0.5)
    code, _, stderr = run_cli(capsys, "convert", shared_data / "dicom_seg" / "seg_image_ct_binary_overlap.dcm",
                              tmp_path / "x.nii.gz", "--probabilities", tmp_path / "p.nii.gz")
    assert code == 2 and "not a FRACTIONAL SEG" in stderr
    code, _, stderr = run_cli(capsys, "convert", seg, labels, "--probabilities", labels)
    assert code == 2 and "given for both" in stderr
