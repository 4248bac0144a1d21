"""Batch work on Dask against the ways a user runs many cases without it (issue 17).

On 24 hippocampus cases of the validation split (``resources/splits/hippocampus.json``;
``--quick``: 4), with graph cut (3-slice simulated scribbles) and with the bundled U-Net:

* ``segviewer batch segment … --workers 2`` as the user runs it (cluster start, warm-up and
  shut-down included), against
* a plain loop of the one-case command (``segviewer segment`` once per case, each paying
  Python's start, the imports and, for the U-Net, the model load), and
* a plain loop in one process (one Python process importing once and calling the same
  per-case function, :func:`segviewer.batch.tasks.segment_task`, on every case).

Scheduling overhead: the engine's own cost per case (submission, transfer, the per-case
record, collection) measured with a task that does nothing on a running two-worker cluster,
beside graph cut's own per-case time. Goals on the 2-core machine: overhead ≤ 50 ms/case;
the graph cut batch ≥ 1.7× faster than one process; the U-Net batch ≥ 10× faster than the
loop of commands. Medians of three turns (the loop of commands: one pass of 24 runs). The
batch is timed twice: as the user runs it (cluster start, worker warm-up and shut-down
included) and on a cluster already up (``--scheduler``). Every turn's time, the per-case
median and the load average are in the extras: on a shared machine the load decides much
of each figure.

``python -m benchmarks.run --only batch``
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import PROJECT_ROOT, SHARED_DATA, Row

AREA = "batch"
WORKERS = 2
#: Turns of the batch and one-process runs (medians).
REPEATS = 3
#: A loop in one process: import once, then the batch's very per-case function on each case.
ONE_PROCESS_LOOP = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from segviewer.batch.tasks import SegmentInputs, segment_task
from segviewer.methods.registry import get_method
cases, method, out = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
params = get_method(method).Parameters()
model = getattr(params, "model", None)
for name, image, scribbles in cases:
    segment_task(method, params, SegmentInputs(Path(image), Path(scribbles) if scribbles else None, model=model),
                 out / f"{name}.nii.gz")
print(time.perf_counter() - started)
"""


def noop_task() -> dict:
    """The batch engine's work with nothing to compute (the overhead measurement)."""
    return {}


def prepare_cases(folder: Path, count: int) -> list[tuple[str, str, str]]:
    """``(case, image, scribbles)`` of the first ``count`` validation cases, with 3-slice
    simulated scribbles written to ``folder/scribbles``; the images are linked to ``folder/images``."""
    from segviewer.evaluation.cases import Case, read_case, write_scribble_file
    from segviewer.evaluation.simulate import simulate_scribbles

    split = json.loads((PROJECT_ROOT / "resources" / "splits" / "hippocampus.json").read_text())
    source = SHARED_DATA / "hippocampus"
    (folder / "images").mkdir(parents=True)
    (folder / "scribbles").mkdir()
    cases = []
    for name in split["validation"][:count]:
        image_path, label_path = source / "imagesTr" / f"{name}.nii.gz", source / "labelsTr" / f"{name}.nii.gz"
        (folder / "images" / image_path.name).symlink_to(image_path)
        image, reference = read_case(Case(name, image_path, label_path))
        scribbles = folder / "scribbles" / image_path.name
        write_scribble_file(scribbles, simulate_scribbles(reference, image.geometry, slices=3, seed=0), image.geometry)
        cases.append((name, str(folder / "images" / image_path.name), str(scribbles)))
    return cases


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def command_loop(cases, method: str, out: Path) -> float:
    """``segviewer segment`` once per case."""
    out.mkdir()
    total = 0.0
    for name, image, scribbles in cases:
        extra = ["--scribbles", scribbles] if method == "graphcut" else []
        total += wall([sys.executable, "-m", "segviewer", "segment", image, "--method", method, *extra, "-q",
                       "-o", str(out / f"{name}.nii.gz")])
    return total


def one_process_loop(cases, method: str, out: Path) -> float:
    out.mkdir()
    listed = [(name, image, scribbles if method == "graphcut" else None) for name, image, scribbles in cases]
    return wall([sys.executable, "-c", ONE_PROCESS_LOOP, json.dumps(listed), method, str(out)])


def batch_command(folder: Path, method: str, out: Path) -> tuple[float, list[dict]]:
    """``segviewer batch segment`` with two workers; its wall time and its rows."""
    extra = ["--scribbles-from", str(folder / "scribbles")] if method == "graphcut" else []
    seconds = wall([sys.executable, "-m", "segviewer", "batch", "segment", "--cases", str(folder / "images"),
                    "--method", method, *extra, "--out", str(out), "--workers", str(WORKERS), "-q"])
    return seconds, json.loads((out / "batch_results.json").read_text())


def running_cluster_batch(folder: Path, method: str, out: Path) -> float:
    """The batch's own time on a two-worker cluster already started and warmed (what
    ``--scheduler`` gives a user whose cluster is up): throughput without the start-up."""
    import dask
    from distributed import LocalCluster

    from segviewer.batch.api import attach_scribbles, find_cases, run_batch, segment_jobs, warm_worker
    from segviewer.batch.cluster import worker_environment
    from segviewer.methods.registry import get_method

    instance = get_method(method)
    params = instance.Parameters()
    cases = find_cases(folder / "images")
    if method == "graphcut":
        cases = attach_scribbles(cases, folder / "scribbles")
    out.mkdir()
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment()}), \
            LocalCluster(n_workers=WORKERS, threads_per_worker=1, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster:
        setup = warm_worker(instance, params, torch_threads=1)
        run_batch(segment_jobs(cases[:WORKERS], instance, params, out / "warm-up"), setup=setup,
                  scheduler=cluster.scheduler_address, dashboard=False)
        started = time.perf_counter()
        run_batch(segment_jobs(cases, instance, params, out), scheduler=cluster.scheduler_address, dashboard=False)
        return time.perf_counter() - started


def scheduling_overhead(count: int, out: Path) -> float:
    """Seconds of engine per case: trivial jobs on a running two-worker cluster, their wall
    time times the workers, per case."""
    from distributed import LocalCluster

    from segviewer.batch.api import run_batch
    from segviewer.batch.engine import CaseJob
    from segviewer.batch.records import request_key

    out.mkdir()
    jobs = [CaseJob(f"case_{n:03d}", noop_task, {}, {"n": n}, request_key({"n": n}), records=out) for n in range(count)]
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        run_batch(jobs[:WORKERS], scheduler=cluster.scheduler_address, dashboard=False, rerun=True)  # warm
        result = run_batch(jobs, scheduler=cluster.scheduler_address, dashboard=False, rerun=True)
    return result.seconds * WORKERS / count


def run(quick: bool = False) -> list[Row]:
    if not (SHARED_DATA / "hippocampus" / "imagesTr").is_dir():
        return []
    count = 4 if quick else 24
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        cases = prepare_cases(folder, count)
        for method, title in (("graphcut", "graph cut"), ("unet", "U-Net")):
            # the short runs take turns, REPEATS times, and give medians (the load of a shared
            # machine comes and goes); the loop of commands is 24 runs in itself
            batch_times, loop_times, running_times = [], [], []
            for turn in range(1 if quick else REPEATS):
                seconds, batch_rows = batch_command(folder, method, folder / f"{method}_batch_{turn}")
                batch_times.append(seconds)
                loop_times.append(one_process_loop(cases, method, folder / f"{method}_loop_{turn}"))
                running_times.append(running_cluster_batch(folder, method, folder / f"{method}_running_{turn}"))
            batch_s, loop_s, running_s = map(statistics.median, (batch_times, loop_times, running_times))
            commands_s = command_loop(cases, method, folder / f"{method}_commands")
            per_case = statistics.median(row["seconds"] for row in batch_rows)
            extra = {"cases": count, "workers": WORKERS, "batch_case_median_s": round(per_case, 3),
                     "commands_s": round(commands_s, 1), "one_process_s": round(loop_s, 1),
                     "running_cluster_s": [round(t, 2) for t in running_times],
                     "end_to_end_s": [round(t, 2) for t in batch_times], "one_process_runs_s": [round(t, 2) for t in loop_times],
                     # the machine is shared: how busy it was (2 cores: above 2 means waiting)
                     "load_average_1min": round(os.getloadavg()[0], 1)}
            rows.append(Row(AREA, f"{title}: segviewer batch of {count} cases, {WORKERS} workers (start-up included) "
                            "vs one-process loop", batch_s, "s", "plain loop in one process", loop_s,
                            goal="≥ 1.7× faster (ratio ≤ 0.59)" if method == "graphcut" else None,
                            note=f"{loop_s / batch_s:.2f}× faster", extra=extra))
            rows.append(Row(AREA, f"{title}: batch of {count} cases on a running {WORKERS}-worker cluster vs "
                            "one-process loop", running_s, "s", "plain loop in one process", loop_s,
                            goal="≥ 1.7× faster (ratio ≤ 0.59)" if method == "graphcut" else None,
                            note=f"{loop_s / running_s:.2f}× faster; cluster start-up excluded", extra=extra))
            rows.append(Row(AREA, f"{title}: batch of {count} cases, {WORKERS} workers vs loop of commands",
                            batch_s, "s", "segviewer segment per case", commands_s,
                            goal="≥ 10× faster (ratio ≤ 0.1)" if method == "unet" else None,
                            note=f"{commands_s / batch_s:.2f}× faster", extra=extra))
            if method == "graphcut":
                graphcut_case_s = per_case
        overhead = scheduling_overhead(count * 4, folder / "overhead")
        rows.append(Row(AREA, "scheduling overhead per case (no-op task, records written)", overhead * 1e3, "ms",
                        "graph cut's own time per case", graphcut_case_s * 1e3, goal="≤ 50 ms",
                        extra={"cases": count * 4, "workers": WORKERS}))
    return rows
