"""Mistakes on the command line end in one line and exit 2, never a traceback or a hang
(issue 11, "tracebacks where one line was promised"); a bug ends in one line and exit 3;
a reader that closes the pipe early ends the command quietly."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.cli import EXIT_BROKEN_PIPE, EXIT_INTERNAL_ERROR, main
from segviewer.methods.registry import get_method
from segviewer.model.parameters import ParameterError, parameter_specs, validate_parameter

#: Environment of the real subprocess runs: this checkout's segviewer first.
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def write_small_case(folder: Path) -> dict[str, Path]:
    """A 16 x 16 x 12 float image with a bright box, its label map and a scribble file
    (label 1 inside the box, background in a corner), all NIfTI on the same grid."""
    folder.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(0).normal(100, 10, (12, 16, 16)).astype(np.float32)
    image[4:8, 5:11, 5:11] += 100
    labels = np.zeros(image.shape, np.uint8)
    labels[4:8, 5:11, 5:11] = 1
    scribbles = np.full(image.shape, 255, np.uint8)
    scribbles[6, 7:9, 7:9] = 1
    scribbles[6, 1:3, 1:3] = 0
    paths = {}
    for name, array in (("image", image), ("labels", labels), ("scribbles", scribbles)):
        volume = sitk.GetImageFromArray(array)
        volume.SetSpacing((1.0, 1.0, 2.0))
        volume.SetOrigin((-8.0, -8.0, 0.0))
        paths[name] = folder / f"{name}.nii.gz"
        sitk.WriteImage(volume, str(paths[name]))
    return paths


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    return write_small_case(tmp_path_factory.mktemp("case"))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    """Exit 2 and a single ``segviewer: error: …`` line naming ``words``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segviewer: error: "), err
    for word in words:
        assert word in lines[0]


# -- numbers and label values ---------------------------------------------------------------
@pytest.mark.parametrize("margin", ["nan", "inf", "-inf"])
def test_roi_margin_must_be_a_finite_number(capsys, case, tmp_path, margin):
    out = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "segment", case["image"], "--method", "graphcut", "--scribbles",
                           case["scribbles"], f"--roi-margin={margin}", "-o", out, "-q")
    assert_one_line_error(code, err, "--roi-margin", "finite")
    assert not out.exists()


@pytest.mark.parametrize("label", ["-1", "0", "70000"])
def test_active_label_outside_the_label_range_is_refused(capsys, case, tmp_path, label):
    out = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "segment", case["image"], "--method", "threshold", f"--label={label}",
                           "-o", out, "-q")
    assert_one_line_error(code, err, "--label", "1 to 65534")
    assert not out.exists()


def test_label_lists_must_hold_label_values(capsys, case, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", case["labels"], case["labels"], "--labels", "a,b")
    assert_one_line_error(code, err, "--labels", "'a'")
    out = tmp_path / "s.nii.gz"
    code, _, err = run_cli(capsys, "simulate", case["labels"], "--labels", "a", "-o", out)
    assert_one_line_error(code, err, "--labels")
    assert not out.exists()
    code, out_text, _ = run_cli(capsys, "evaluate", case["labels"], case["labels"], "--labels", "1", "--json")
    assert code == 0 and list(json.loads(out_text)["labels"]) == ["1"]


@pytest.mark.parametrize("argv, option", [
    (["--seed", "-1"], "--seed"),  # NumPy refuses negative seeds (was a ValueError traceback)
    (["--brush-radius", "100000"], "--brush-radius"),  # was a 596 GiB allocation
    (["--background-distance", "nan"], "--background-distance"),
])
def test_simulate_numbers_are_checked_before_any_work(capsys, case, tmp_path, argv, option):
    out = tmp_path / "s.nii.gz"
    code, _, err = run_cli(capsys, "simulate", case["labels"], "-o", out, *argv)
    assert_one_line_error(code, err, option)
    assert not out.exists()


def test_simulate_with_nothing_to_scribble_says_so(capsys, case, tmp_path):
    out = tmp_path / "s.nii.gz"
    code, text, err = run_cli(capsys, "simulate", case["labels"], "--labels", "5", "--no-background", "-o", out)
    assert code == 0
    assert "( voxels)" not in text and "empty: no structure to scribble" in text
    assert "holds no label 5" in err


# -- method parameters ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_method_parameters_are_refused_at_once(capsys, case, tmp_path, value):
    out = tmp_path / "out.nii.gz"
    started = time.perf_counter()
    code, _, err = run_cli(capsys, "segment", case["image"], "--method", "graphcut", "--scribbles",
                           case["scribbles"], "--param", f"smoothness={value}", "-o", out, "-q")
    assert_one_line_error(code, err, "smoothness", "finite")
    assert time.perf_counter() - started < 10  # NaN used to pass the range check and run for minutes
    assert not out.exists()


def test_automatic_parameters_still_take_nan_and_auto(capsys, case, tmp_path):
    """Threshold bounds default to NaN = automatic (Otsu); ``auto`` is what ``segviewer
    methods`` prints for them, so it is accepted too. The GUI validates the same way."""
    for value in ("auto", "nan", ""):
        code, _, err = run_cli(capsys, "segment", case["image"], "--method", "threshold", "--param",
                               f"lower={value}", "-o", tmp_path / "out.nii.gz", "-q")
        assert code == 0, err
    code, _, err = run_cli(capsys, "segment", case["image"], "--method", "threshold", "--param",
                           "upper=inf", "-o", tmp_path / "out2.nii.gz", "-q")
    assert_one_line_error(code, err, "upper")
    specs = {s.name: s for s in parameter_specs(get_method("graphcut").Parameters)}
    with pytest.raises(ParameterError):
        validate_parameter(specs["smoothness"], float("nan"))


# -- paths ----------------------------------------------------------------------------------
def test_info_output_pointing_at_a_folder_is_refused_before_work(capsys, case, tmp_path):
    out = tmp_path / "out.nii.gz"
    code, _, err = run_cli(capsys, "segment", case["image"], "--method", "threshold", "--info", tmp_path,
                           "-o", out, "-q")
    assert_one_line_error(code, err, "--info", "is a folder")
    assert not out.exists()  # refused before the segmentation was written


def test_finetune_entropy_with_an_unsupported_suffix_is_refused_before_work(capsys, case, tmp_path):
    entropy = tmp_path / "x.png"
    started = time.perf_counter()
    code, _, err = run_cli(capsys, "finetune", case["image"], "--scribbles", case["scribbles"],
                           "--model", "scratch", "--param", "steps=2", "--entropy", entropy, "-q")
    assert_one_line_error(code, err, "--entropy", ".png")
    assert time.perf_counter() - started < 10
    assert not entropy.exists()  # it used to be left as a 0-byte file


@pytest.mark.parametrize("size", ["100000x100000", "0x0", "-1x100", "1400"])
def test_screenshot_size_is_checked_before_any_window(capsys, case, tmp_path, size):
    """100000x100000 aborted the X connection (exit 134); 0x0 and -1x100 gave a picture of
    another size without a word."""
    code, _, err = run_cli(capsys, "screenshot", case["image"], "-o", tmp_path / "shot.png", f"--size={size}")
    assert_one_line_error(code, err, "--size")
    assert not (tmp_path / "shot.png").exists()


def test_train_split_that_is_not_json_is_one_line(capsys, case, tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("not json\n")
    out = tmp_path / "model"
    code, _, err = run_cli(capsys, "train", "--data", tmp_path, "--split", split, "--out", out)
    assert_one_line_error(code, err, "split.txt", "JSON")
    assert not out.exists()  # no empty output folder either


@pytest.mark.parametrize("argv, words", [
    (["--lr", "-1"], ["--lr"]),  # was exit 3: torch's "Invalid learning rate"
    (["--roi-size", "100000", "100000", "100000"], ["--roi-size"]),  # exit 3: MemoryError
    (["--roi-size", "9", "9", "9"], ["--roi-size", "multiple of 8"]),  # exit 3: tensor sizes must match
    (["--channels", "2", "2", "2", "2", "2", "--roi-size", "16", "16", "16"], ["at least 32"]),  # instance norm
    (["--channels", "0"], ["--channels"]),  # exit 3: MONAI's ValueError
    (["--channels", "16"], ["at least two levels"]),
    (["--device", "bogus"], ["--device"]),  # exit 3: torch's RuntimeError
    (["--labels", "x=y"], ["--labels"]),  # exit 3: int('x')
    (["--name", "../../escaped"], ["--name", "plain name"]),  # wrote ../../escaped.pt outside --out
])
def test_train_arguments_are_checked_before_any_work(capsys, tmp_path, argv, words):
    split = tmp_path / "split.json"
    split.write_text('{"train": ["a"], "validation": ["b"]}')
    out = tmp_path / "deep" / "er" / "model"
    code, _, err = run_cli(capsys, "train", "--data", tmp_path, "--split", split, "--out", out, *argv)
    assert_one_line_error(code, err, *words)
    assert not out.exists() and not (tmp_path / "escaped.pt").exists()


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--slices", "-3"), ("--max-interactions", "0"),
                                           ("--limit", "-1")])
def test_bench_numbers_are_checked_before_any_work(capsys, case, option, value):
    """--seed -1 was exit 3 (NumPy's ValueError); --slices -3 and --max-interactions 0 exit 1, no word."""
    code, _, err = run_cli(capsys, "bench", "interactive", "--method", "graphcut", "--cases", case["image"].parent,
                           option, value, "--quiet")
    assert_one_line_error(code, err, option)


def test_train_never_writes_its_model_over_the_split_or_the_data(capsys, tmp_path):
    """``--out . --name split`` trained, then wrote the model card over split.json with exit 0."""
    for case_id in ("a", "b"):
        paths = write_small_case(tmp_path / case_id)
        for kind, sub in (("image", "imagesTr"), ("labels", "labelsTr")):
            (tmp_path / sub).mkdir(exist_ok=True)
            paths[kind].rename(tmp_path / sub / f"{case_id}.nii.gz")
    split = tmp_path / "split.json"
    split.write_text('{"train": ["a"], "validation": ["b"]}')
    (tmp_path / "dataset.json").write_text("{}")
    for name, role in (("split", "the input split"), ("dataset", "the input data")):
        code, _, err = run_cli(capsys, "train", "--data", tmp_path, "--split", split, "--out", tmp_path,
                               "--name", name, "--iterations", "1", "--roi-size", "8", "8", "8",
                               "--channels", "4", "8", "--val-every", "1")
        assert_one_line_error(code, err, role)
    assert split.read_text() == '{"train": ["a"], "validation": ["b"]}'
    assert (tmp_path / "dataset.json").read_text() == "{}"


def test_train_output_folder_that_is_a_file_is_refused(capsys, tmp_path):
    """It was exit 3: FileExistsError."""
    split = tmp_path / "split.json"
    split.write_text('{"train": ["a"], "validation": ["b"]}')
    code, _, err = run_cli(capsys, "train", "--data", tmp_path, "--split", split, "--out", split)
    assert_one_line_error(code, err, "--out", "is a file")


def make_fifo(folder: Path, name: str) -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("argv", [
    ["info", "{fifo}"],
    ["stats", "{image}", "{fifo}"],
    ["segment", "{image}", "--method", "graphcut", "--scribbles", "{fifo}", "-o", "{out}"],
    ["segment", "{image}", "--method", "graphcut", "--scribbles", "{scribbles}", "--points", "{fifo}",
     "-o", "{out}"],
])
def test_a_fifo_as_input_is_refused_not_waited_on(case, tmp_path, argv):
    """A real process: the old code blocked forever opening the pipe."""
    fifo = make_fifo(tmp_path, "pipe.nii.gz")
    names = {"fifo": fifo, "out": tmp_path / "out.nii.gz", **case}
    result = subprocess.run([sys.executable, "-m", "segviewer", *(a.format(**names) for a in argv)],
                            capture_output=True, text=True, timeout=60, env=SUBPROCESS_ENV)
    assert_one_line_error(result.returncode, result.stderr, "not a regular file")


def test_readers_refuse_a_fifo_for_the_gui_too(case, tmp_path):
    """The loaders the GUI calls refuse a pipe before opening it (no argparse in between)."""
    fifo = make_fifo(tmp_path, "pipe.nii.gz")
    script = (
        "import sys\n"
        "from segviewer.errors import SegviewerError\n"
        "from segviewer.io.images import read_geometry, read_image\n"
        "from segviewer.io.labels import read_label_map\n"
        "from segviewer.io.scribbles import read_scribbles\n"
        "for read in (read_image, read_geometry, read_label_map, read_scribbles):\n"
        "    try:\n"
        "        read(sys.argv[1])\n"
        "    except SegviewerError as error:\n"
        "        print(error)\n")
    result = subprocess.run([sys.executable, "-c", script, str(fifo)], capture_output=True, text=True,
                            timeout=60, env=SUBPROCESS_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not a regular file") == 4


# -- the last resorts in main() ------------------------------------------------------------
def test_parse_errors_are_one_line(capsys):
    code, _, err = run_cli(capsys, "segment", "image.nii.gz")
    assert_one_line_error(code, err, "--method", "segviewer segment --help")


def test_a_bug_is_one_line_with_exit_3(capsys, monkeypatch):
    """An unexpected exception (here injected: every known one is fixed at its root) ends in
    one line and exit 3; SEGVIEWER_DEBUG=1 shows the traceback."""
    def broken(args):
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr("segviewer.cli.methods.run", broken)
    monkeypatch.delenv("SEGVIEWER_DEBUG", raising=False)
    code, _, err = run_cli(capsys, "methods")
    assert code == EXIT_INTERNAL_ERROR
    assert err == ("segviewer: internal error: RuntimeError: something unexpected "
                   "(run with SEGVIEWER_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("SEGVIEWER_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["methods"])


def test_a_reader_closing_the_pipe_ends_the_command_quietly(case):
    """``segviewer stats … --json | head``: the reader is gone before the output comes."""
    process = subprocess.Popen([sys.executable, "-m", "segviewer", "stats", str(case["image"]),
                                str(case["labels"]), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SUBPROCESS_ENV)
    process.stdout.close()  # long before the child has imported anything
    _, err = process.communicate(timeout=60)
    assert err.decode() == ""
    assert process.returncode == EXIT_BROKEN_PIPE


def test_standard_output_on_a_full_disk_or_closed_is_not_a_bug(case):
    """``segviewer methods > /dev/full`` (a full disk under ``> file``) was exit 3, "internal
    error: OSError"; ``segviewer info IMG >&-`` was exit 3 on an AttributeError."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full (a device whose writes fail with ENOSPC) on this system")
    with open("/dev/full", "w") as full_device:  # stdout only: no segviewer output is named here
        full = subprocess.run([sys.executable, "-m", "segviewer", "stats", str(case["image"]), str(case["labels"]),
                               "--json"], stdout=full_device, stderr=subprocess.PIPE, env=SUBPROCESS_ENV, timeout=60)
    assert full.returncode == 2
    assert full.stderr.decode() == "segviewer: error: could not write to standard output (No space left on device)\n"
    closed = subprocess.run([sys.executable, "-m", "segviewer", "info", str(case["image"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=SUBPROCESS_ENV, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert (closed.returncode, closed.stderr.decode()) == (0, "")  # prints nothing, as >&- asked


def _close_stderr():
    os.close(2)


def _stderr_on_a_read_only_file():
    """What a pyenv shim leaves on a stream that ``2>&-`` closed: the shim script, read-only."""
    os.dup2(os.open(sys.executable, os.O_RDONLY), 2)


@pytest.mark.parametrize("closing", [_close_stderr, _stderr_on_a_read_only_file])
def test_a_closed_stderr_drops_notes_and_progress_but_not_the_command(case, tmp_path, closing):
    """``segviewer segment … 2>&-`` failed with exit 1 and no output (progress could not be
    written), or printed progress and notes into standard output (print's fallback for a
    missing sys.stderr), which corrupted ``stats --json 2>&- > out.json``."""
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "segviewer", *map(str, argv)], stdout=subprocess.PIPE,
                              env=SUBPROCESS_ENV, timeout=120, preexec_fn=closing)

    segmented = run("segment", case["image"], "--method", "graphcut", "--scribbles", case["scribbles"],
                    "-o", tmp_path / "out.nii.gz")
    assert segmented.returncode == 0 and (tmp_path / "out.nii.gz").is_file()
    assert segmented.stdout.decode().startswith("wrote ")  # no progress lines
    stats = run("stats", case["image"], case["labels"], "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["statistics"]
    assert run("info", tmp_path / "missing.nii.gz").returncode == 2


def test_nifti_with_a_nan_data_offset_is_one_line(tmp_path, capsys):
    """Found by the fuzz test: vox_offset = NaN crashed the completeness check."""
    path = tmp_path / "nan_offset.nii"
    sitk.WriteImage(sitk.Image([2, 2, 2], sitk.sitkUInt8), str(path))
    data = bytearray(path.read_bytes())
    struct.pack_into("<f", data, 108, float("nan"))
    path.write_bytes(bytes(data))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "vox_offset" in err and "Traceback" not in err


def test_image_of_zero_voxels_is_refused(tmp_path, capsys):
    """Found by the fuzz test: DimSize 0 reached the statistics and ITK's Otsu."""
    path = tmp_path / "empty.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 0 4 4\nElementType = MET_SHORT\n"
                    "ElementSpacing = 1 1 1\nElementDataFile = LOCAL\n")
    assert main(["info", str(path)]) == 2
    assert "holds no voxels" in capsys.readouterr().err
    out = tmp_path / "labels.nii.gz"
    assert main(["segment", str(path), "--method", "threshold", "-o", str(out)]) == 2
    assert "holds no voxels" in capsys.readouterr().err and not out.exists()
