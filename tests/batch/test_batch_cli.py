"""``segviewer batch`` as a user runs it: the embedded LocalCluster (two workers), the results
files and summary, a re-run that skips, the evaluation of the outputs, and mistakes refused
in one line before any case runs."""

from __future__ import annotations

import csv
import json

import pytest

from segviewer.cli import main

pytestmark = pytest.mark.timeout(600)


def test_batch_segment_then_rerun_then_evaluate_on_the_embedded_cluster(batch_cases, tmp_path, capsys):
    out = tmp_path / "out"
    command = ["batch", "segment", "--cases", str(batch_cases / "images"), "--method", "graphcut",
               "--scribbles-from", str(batch_cases / "scribbles"), "--out", str(out), "--workers", "2"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "batch segment: 3 cases on 2 workers; Dask dashboard: http://" in captured.err
    assert "3/3 cases" in captured.err  # the progress line's last state
    assert "3 cases on 2 workers in " in captured.out and ": 3 done" in captured.out
    with open(out / "batch_results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["done"] * 3
    assert all((out / f"{row['case']}.nii.gz").is_file() for row in rows)

    assert main(command + ["-q"]) == 0
    assert ": 3 skipped" in capsys.readouterr().out

    results = tmp_path / "evaluation.csv"
    assert main(["batch", "evaluate", "--pred", str(out), "--ref", str(batch_cases / "labels"), "--out", str(results),
                 "--workers", "2", "-q"]) == 0
    summary = capsys.readouterr().out
    assert "dice: median" in summary
    evaluated = json.loads(results.with_suffix(".json").read_text())
    assert [row["case"] for row in evaluated] == [row["case"] for row in rows]
    assert all(0.5 < row["dice"] <= 1.0 for row in evaluated)


def test_output_folder_holding_the_inputs_is_refused_before_anything_runs(batch_cases, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for image in (batch_cases / "images").iterdir():
        (images / image.name).symlink_to(image)
    code = main(["batch", "segment", "--cases", str(images), "--method", "threshold", "--out", str(images)])
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("segviewer: error: ") and error.count("\n") == 1
    assert "is the source image; refusing to overwrite it" in error
    assert sorted(p.name for p in images.iterdir()) == sorted(p.name for p in (batch_cases / "images").iterdir())


@pytest.mark.parametrize("arguments, message", [
    (["segment", "--method", "nosuch"], "unknown method 'nosuch'"),
    (["segment", "--method", "graphcut", "--param", "smoothness=-1"], "smoothness"),
    (["segment", "--method", "graphcut", "--device", "cuda"], "method 'graphcut' runs no network"),
    (["infer", "--model", "nosuch_model"], "model 'nosuch_model': no bundled model of that name"),
    (["segment", "--method", "graphcut", "--annotator", "ann"], "--annotator and --unfinished are for a campaign"),
    (["finetune"], "batch finetune needs --scribbles-from DIR"),
])
def test_mistakes_are_one_line_errors(batch_cases, tmp_path, capsys, arguments, message):
    command, *options = arguments
    code = main(["batch", command, "--cases", str(batch_cases / "images"), "--out", str(tmp_path / "o"), *options])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and message in error, error
    assert not (tmp_path / "o").exists()


def test_unreachable_scheduler_is_one_line(batch_cases, tmp_path, capsys):
    code = main(["batch", "segment", "--cases", str(batch_cases / "images"), "--method", "threshold",
                 "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("segviewer: error: could not reach the Dask scheduler at tcp://127.0.0.1:9")


def test_batch_infer_on_the_embedded_cluster_writes_the_one_case_commands_files(batch_cases, tmp_path, capsys):
    """The default cluster (workers forked from a server that imported torch once) gives the
    one-case command's files, byte for byte."""
    from test_batch_engine import assert_same_files, names, one_case_commands

    one_case_commands(batch_cases, tmp_path / "commands", "unet")
    assert main(["batch", "infer", "--cases", str(batch_cases / "images"), "--out", str(tmp_path / "batch"),
                 "--workers", "2", "-q"]) == 0
    assert ": 3 done" in capsys.readouterr().out
    assert_same_files(tmp_path / "commands", tmp_path / "batch", names(batch_cases))
