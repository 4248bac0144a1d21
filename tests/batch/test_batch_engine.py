"""The batch engine on a real two-worker Dask cluster: the one-case command's outputs byte for
byte (graph cut and the U-Net), a worker killed by its pid mid-case, resuming, failing cases,
and the runner job the app submits."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from segviewer.batch.api import (attach_scribbles, campaign_cases, evaluate_jobs, evaluation_pairs, find_cases,
                                 run_batch, segment_jobs, warm_worker)
from segviewer.batch.engine import CaseJob, batch_job
from segviewer.batch.records import RecordStore
from segviewer.cli import main
from segviewer.methods.registry import get_method
from segviewer.model.parameters import parse_parameter_assignments

pytestmark = pytest.mark.timeout(600)


def one_case_commands(cases: Path, out: Path, method: str, *extra: str) -> None:
    """``segviewer segment`` on every case, as a user would run it: OUT/CASE.nii.gz."""
    out.mkdir(exist_ok=True)
    for image in sorted((cases / "images").iterdir()):
        name = image.name.removesuffix(".nii.gz")
        scribbles = ["--scribbles", str(cases / "scribbles" / image.name)] if method == "graphcut" else []
        assert main(["segment", str(image), "--method", method, *scribbles, *extra, "-q",
                     "-o", str(out / image.name)]) == 0


def assert_same_files(expected: Path, actual: Path, names: list[str]) -> None:
    for name in names:
        for suffix in (".nii.gz", ".labels.json"):
            assert (actual / f"{name}{suffix}").read_bytes() == (expected / f"{name}{suffix}").read_bytes(), name


def batch(cases: Path, out: Path, method: str, address: str, *assignments: str, **options):
    instance = get_method(method)
    params = parse_parameter_assignments(instance.Parameters, list(assignments))
    found = attach_scribbles(find_cases(cases / "images"), cases / "scribbles")
    out.mkdir(exist_ok=True)
    jobs = segment_jobs(found, instance, params, out)
    return run_batch(jobs, setup=warm_worker(instance, params), scheduler=address, results=out / "batch_results.csv",
                     dashboard=False, **options), jobs


def names(cases: Path) -> list[str]:
    return sorted(path.name.removesuffix(".nii.gz") for path in (cases / "images").iterdir())


@pytest.fixture(scope="module")
def graphcut_reference(batch_cases, tmp_path_factory):
    out = tmp_path_factory.mktemp("graphcut_commands")
    one_case_commands(batch_cases, out, "graphcut")
    return out


def test_graphcut_batch_writes_the_one_case_commands_files_byte_for_byte(batch_cases, graphcut_reference,
                                                                          cluster_address, tmp_path):
    result, _ = batch(batch_cases, tmp_path, "graphcut", cluster_address)
    assert [row["status"] for row in result.rows] == ["done"] * len(names(batch_cases))
    assert len({row["worker"] for row in result.rows}) >= 1
    assert_same_files(graphcut_reference, tmp_path, names(batch_cases))
    rows = json.loads((tmp_path / "batch_results.json").read_text())
    assert [row["case"] for row in rows] == names(batch_cases)
    assert (tmp_path / "batch_results.csv").read_text().splitlines()[0].startswith("case,status,seconds,error,worker")


def test_unet_batch_writes_the_one_case_commands_files_byte_for_byte(batch_cases, cluster_address, tmp_path):
    one_case_commands(batch_cases, tmp_path / "commands", "unet")
    result, _ = batch(batch_cases, tmp_path / "batch", "unet", cluster_address)
    assert [row["status"] for row in result.rows] == ["done"] * len(names(batch_cases))
    assert {row["info_model"] for row in result.rows} == {"hippocampus_unet"}
    assert_same_files(tmp_path / "commands", tmp_path / "batch", names(batch_cases))


def test_unet_model_is_loaded_once_per_worker_before_the_cases(batch_cases, cluster_address, tmp_path):
    from distributed import Client

    batch(batch_cases, tmp_path, "unet", cluster_address)
    with Client(cluster_address) as client:
        cached = client.run(_cached_models)
    assert len(cached) == 2
    assert all(len(keys) == 1 and keys[0].endswith("hippocampus_unet.json") for keys in cached.values())


def _cached_models() -> list[str]:
    from segviewer.methods.deep import models

    return [key[0] for key in models._CACHE]


def test_rerun_skips_every_case_and_a_changed_parameter_runs_them_again(batch_cases, cluster_address, tmp_path):
    batch(batch_cases, tmp_path, "graphcut", cluster_address)
    written = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.nii.gz")}
    again, _ = batch(batch_cases, tmp_path, "graphcut", cluster_address)
    assert [row["status"] for row in again.rows] == ["skipped"] * len(names(batch_cases))
    assert {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.nii.gz")} == written
    changed, _ = batch(batch_cases, tmp_path, "graphcut", cluster_address, "smoothness=5")
    assert [row["status"] for row in changed.rows] == ["done"] * len(names(batch_cases))
    record = RecordStore(tmp_path).read(names(batch_cases)[0])
    assert record["status"] == "done" and record["request"]["parameters"]["smoothness"] == 5


def test_a_failing_case_is_recorded_and_the_batch_goes_on(batch_cases, cluster_address, tmp_path):
    scribbles = tmp_path / "some_scribbles"
    scribbles.mkdir()
    first, *others = names(batch_cases)
    for name in others:
        (scribbles / f"{name}.nii.gz").symlink_to(batch_cases / "scribbles" / f"{name}.nii.gz")
    method = get_method("graphcut")
    params = method.Parameters()
    cases = attach_scribbles(find_cases(batch_cases / "images"), scribbles)
    out = tmp_path / "out"
    out.mkdir()
    result = run_batch(segment_jobs(cases, method, params, out), scheduler=cluster_address, dashboard=False)
    status = {row["case"]: (row["status"], row["error"]) for row in result.rows}
    assert status[first] == ("failed", "method 'graphcut' needs --scribbles")
    assert all(status[name] == ("done", "") for name in others)
    assert not (out / f"{first}.nii.gz").exists()
    assert RecordStore(out).read(first)["error"] == "method 'graphcut' needs --scribbles"
    again = run_batch(segment_jobs(cases, method, params, out), scheduler=cluster_address, dashboard=False)
    assert {row["case"]: row["status"] for row in again.rows} == {first: "failed", **{n: "skipped" for n in others}}


def gated_segment(gate: str, **arguments) -> dict:
    """A real case that first waits for the test's go-ahead, so that its worker can be killed
    in the middle of it: the pid of each attempt is left in ``gate/started-PID``."""
    from segviewer.batch.tasks import segment_task

    folder = Path(gate)
    (folder / f"started-{os.getpid()}").write_text("")
    deadline = time.monotonic() + 120
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return segment_task(**arguments)


def test_a_worker_killed_mid_case_is_replaced_and_its_case_retried(batch_cases, graphcut_reference,
                                                                     cluster_address, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    method = get_method("graphcut")
    cases = attach_scribbles(find_cases(batch_cases / "images"), batch_cases / "scribbles")
    jobs = segment_jobs(cases, method, method.Parameters(), out)
    gated = jobs[0]
    jobs[0] = CaseJob(gated.case, gated_segment, {"gate": str(gate), **gated.arguments}, gated.request, gated.key,
                      gated.records)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault(
        "result", run_batch(jobs, scheduler=cluster_address, dashboard=False)))
    runner.start()
    deadline = time.monotonic() + 60
    while not list(gate.glob("started-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (started,) = gate.glob("started-*")
    killed = int(started.name.removeprefix("started-"))
    os.kill(killed, signal.SIGKILL)  # the worker process running the gated case, mid-case
    time.sleep(0.5)
    (gate / "go").write_text("")
    runner.join(timeout=300)
    result = outcome["result"]
    assert [row["status"] for row in result.rows] == ["done"] * len(jobs)
    retried = result.rows[0]
    assert not retried["worker"].endswith(f":{killed}")  # finished by another worker process
    assert len(list(gate.glob("started-*"))) == 2  # the killed attempt and the retry
    assert_same_files(graphcut_reference, out, names(batch_cases))
    assert not [path for path in out.iterdir() if ".partial" in path.name]


def test_evaluation_batch_gives_the_evaluate_commands_figures(batch_cases, graphcut_reference, cluster_address,
                                                              tmp_path, capsys):
    pairs = evaluation_pairs(graphcut_reference, batch_cases / "labels")
    assert [case for case, _, _ in pairs] == names(batch_cases)
    result = run_batch(evaluate_jobs(pairs), scheduler=cluster_address, results=tmp_path / "results.csv",
                       dashboard=False)
    case, prediction, reference = pairs[0]
    assert main(["evaluate", str(prediction), str(reference), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    row = result.rows[0]
    assert row["dice"] == pytest.approx(expected["merged"]["dice"])
    assert row["dice_1"] == pytest.approx(expected["labels"]["1"]["dice"])
    assert (tmp_path / "results.json").is_file()


def test_the_apps_runner_job_reports_progress_and_result(batch_cases, cluster_address, tmp_path):
    from functools import partial

    from segviewer.workers.runner import ComputeWorker

    method = get_method("graphcut")
    cases = attach_scribbles(find_cases(batch_cases / "images"), batch_cases / "scribbles")
    events = []
    worker = ComputeWorker(listener=events.append)
    try:
        job = worker.submit(batch_job(partial(run_batch, segment_jobs(cases, method, method.Parameters(), tmp_path),
                                              scheduler=cluster_address, dashboard=False)), title="batch", key="batch")
        assert worker.wait_idle(timeout=300)
    finally:
        worker.shutdown()
    progress = [event for event in events if event.kind == "progress"]
    assert [round(event.fraction, 3) for event in progress][-1] == 1.0
    assert progress[-1].text.startswith(f"{len(cases)}/{len(cases)} cases")
    assert job.state == "finished" and job.result.counts == {"done": len(cases)}


def test_campaign_cases_and_its_unfinished_ones(batch_cases, tmp_path):
    from segviewer.app.campaign.campaign import Campaign
    from segviewer.app.campaign.sources import SourceCase

    images = sorted((batch_cases / "images").iterdir())
    campaign = Campaign.create(tmp_path / "campaign", [SourceCase(p.name.removesuffix(".nii.gz"), p) for p in images])
    first = campaign.cases[0].id
    campaign.set_state(first, "ann", "done")
    assert [case.case for case in find_cases(tmp_path / "campaign")] == [c.id for c in campaign.cases]
    unfinished = campaign_cases(tmp_path / "campaign", unfinished_only=True)
    assert [case.case for case in unfinished] == [c.id for c in campaign.cases[1:]]
    assert unfinished[0].image == campaign.cases[1].image
