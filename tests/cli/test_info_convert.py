"""``segviewer info`` and ``segviewer convert`` end to end (in-process and one real subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import main
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_info_text_for_a_nifti(capsys, spleen_paths):
    code, out, err = run_cli(capsys, "info", str(spleen_paths[0]))
    assert code == 0 and err == ""
    assert "164 x 166 x 26" in out and "float32" in out and "RAS" in out
    assert "-1019 .. 949" in out


def test_info_json_lists_dicom_series(capsys, shared_data, tmp_path):
    for name in ("mr_hippo_crop", "ct_chest_20slices"):
        for file in (shared_data / "dicom" / name).iterdir():
            shutil.copy(file, tmp_path / f"{name}_{file.name}")
    code, out, _ = run_cli(capsys, "info", str(tmp_path), "--json")
    info = json.loads(out)
    assert code == 0
    assert len(info["series"]) == 2
    assert info["size"] == [512, 512, 20]  # the largest by default
    assert "2 series found" in info["note"]
    code, out, _ = run_cli(capsys, "info", str(tmp_path))
    assert "series found       2" in out and "*[" in out
    small = next(n for n, s in enumerate(info["series"]) if s["size"][0] == 35)
    code, out, _ = run_cli(capsys, "info", str(tmp_path), "--json", "--series", str(small))
    assert json.loads(out)["size"] == [35, 51, 32]


def test_info_on_oblique_series(capsys, shared_data):
    code, out, _ = run_cli(capsys, "info", str(shared_data / "dicom" / "mr_brain_t1post"), "--json")
    info = json.loads(out)
    assert info["oblique"] is True and info["modality"] == "MR"


@pytest.mark.parametrize("argv, problem", [
    (["info", "missing.nii.gz"], "no such file"),
    (["convert", "missing.nii.gz", "out.nii.gz"], "no such file"),
])
def test_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, problem):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("segviewer: error:") and problem in err


def test_convert_image_between_formats(capsys, spleen_paths, tmp_path):
    output = tmp_path / "spleen.nrrd"
    code, out, _ = run_cli(capsys, "convert", str(spleen_paths[0]), str(output))
    assert code == 0 and "wrote" in out
    original, converted = read_image(spleen_paths[0]), read_image(output)
    np.testing.assert_array_equal(converted.array, original.array)
    np.testing.assert_allclose(converted.geometry.affine, original.geometry.affine, atol=1e-4)


def test_convert_dicom_series_to_nifti_checked_by_nibabel(capsys, shared_data, tmp_path):
    folder = shared_data / "dicom" / "mr_brain_t1post"
    output = tmp_path / "brain.nii.gz"
    assert run_cli(capsys, "convert", str(folder), str(output))[0] == 0
    series = read_image(folder)
    written = nib.load(str(output))
    np.testing.assert_allclose(written.affine, series.geometry.ras_affine, atol=1e-4)
    np.testing.assert_array_equal(np.transpose(np.asanyarray(written.dataobj), (2, 1, 0)), series.array)


def test_convert_labels_onto_a_reference(capsys, shared_data, tmp_path):
    mask = shared_data / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz"
    reference = shared_data / "dicom" / "ct_chest_20slices"
    output = tmp_path / "on_series.nii.gz"
    code, out, err = run_cli(capsys, "convert", str(mask), str(output), "--labels", "--reference", str(reference))
    assert code == 0 and "resampled onto the image grid" in err
    series = read_image(reference)
    written = nib.load(str(output))
    np.testing.assert_allclose(written.affine, series.geometry.ras_affine, atol=1e-4)
    expected, _ = read_label_map(mask, series.geometry)
    np.testing.assert_array_equal(np.transpose(np.asanyarray(written.dataobj), (2, 1, 0)), expected.array)
    assert (tmp_path / "on_series.labels.json").is_file()


def test_convert_refuses_bad_labels(capsys, tmp_path, spleen_paths):
    code, _, err = run_cli(capsys, "convert", str(spleen_paths[0]), str(tmp_path / "x.nii.gz"), "--labels")
    assert code != 0 and "negative values" in err  # a CT is not a label map


def test_convert_never_overwrites_its_input(capsys, tmp_path, spleen_paths):
    copy = tmp_path / "image.nii.gz"
    shutil.copy(spleen_paths[0], copy)
    code, _, err = run_cli(capsys, "convert", str(copy), str(copy))
    assert code != 0 and "source image" in err
    assert copy.read_bytes() == spleen_paths[0].read_bytes()


def test_convert_image_onto_a_reference_grid(capsys, tmp_path):
    geometry = dict(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    source = sitk.GetImageFromArray(np.arange(8 * 9 * 10, dtype=np.float32).reshape(8, 9, 10))
    source.SetSpacing(geometry["spacing"])
    reference = sitk.Image(5, 4, 3, sitk.sitkUInt8)
    reference.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(source, str(tmp_path / "source.nrrd"))
    sitk.WriteImage(reference, str(tmp_path / "reference.nrrd"))
    output = tmp_path / "resampled.nii.gz"
    code, _, err = run_cli(capsys, "convert", str(tmp_path / "source.nrrd"), str(output),
                           "--reference", str(tmp_path / "reference.nrrd"))
    assert code == 0 and "linear" in err
    assert read_image(output).geometry.size == (5, 4, 3)


def test_console_script_exit_code(tmp_path):
    """A real process: user mistakes exit non-zero with one line on stderr, no traceback."""
    bad = tmp_path / "bad.nii"
    bad.write_text("not an image\n")
    result = subprocess.run([sys.executable, "-m", "segviewer", "info", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
