"""Classical methods and the compute engine: interactive speed, overhead, memory, GUI stalls.

Rows (medians, ours beside the peer measured in the same run):

* scribbles → preview on the spleen CT (graph cut with its defaults, 3-slice scribbles):
  request + method in-process, and end to end through the worker and its helper process;
  goal ≤ 0.3 s.
* the same on a 512×512×300 CT-like volume (the ct_chest_20slices series tiled along z),
  scribbles spanning ~100×100×40 voxels: goal ≤ 1 s, peak extra memory reported.
* our graph cut solver vs raw PyMaxflow on the same grid and energy (≤ 1.2×), and our
  default (coarse-to-fine) beside the raw single full-grid solve of the same energy.
* watershed on the scribbles' ROI vs SimpleITK's MorphologicalWatershedFromMarkers on the
  whole 256³ volume (float gradient, the plain way): the ratio.
* GUI responsiveness: the longest gap of a 10 ms QTimer on the GUI thread while a ~20–30 s
  graph cut runs (26 neighbours, no coarse-to-fine, on the 512×512×300 volume), with the
  helper process (ours) and in-thread (the stall the helper avoids); the same for fine-tuning
  from scratch on the spleen CT, whose GIL-holding steps go to the helper. Run by pytest-qt under
  Xvfb in a subprocess (``benchmarks/gui_stall.py``); full mode only.

``python -m benchmarks.run --only methods`` (add ``--quick`` for the CI smoke version).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import PROJECT_ROOT, SHARED_DATA, Row, RssSampler, median_seconds, peak_traced_bytes

AREA = "methods"


# -- data ----------------------------------------------------------------------------------------
def spleen_case():
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image
    from segviewer.io.labels import read_label_map

    folder = SHARED_DATA / "spleen_ct"
    if not (folder / "spleen_ct.nii.gz").exists():
        return None
    image = read_image(folder / "spleen_ct.nii.gz")
    reference = read_label_map(folder / "spleen_ct_label.nii.gz", image.geometry).label_map.array
    return image.array, image.geometry, simulate_scribbles(reference, image.geometry, slices=3), reference


@functools.lru_cache(maxsize=2)
def tiled_ct_case(depth: int = 300, slices=(130, 150, 170), structure: int = 1):
    """The chest CT series tiled along z to ``depth`` slices, with 3-slice scribbles of one
    organ of its (model) label map on ``slices``: the scribbles span ~140×107×41 voxels."""
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image
    from segviewer.io.labels import read_label_map
    from segviewer.model.geometry import Geometry

    series = SHARED_DATA / "dicom" / "ct_chest_20slices"
    labels_path = SHARED_DATA / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz"
    if not series.exists() or not labels_path.exists():
        return None
    volume = read_image(series)
    labels = read_label_map(labels_path, volume.geometry).label_map.array
    reps = -(-depth // volume.array.shape[0])
    image = np.tile(volume.array, (reps, 1, 1))[:depth]
    tiled_labels = np.tile(labels, (reps, 1, 1))[:depth]
    g = volume.geometry
    geometry = Geometry((g.size[0], g.size[1], depth), g.spacing, g.origin, g.direction)
    target = np.zeros(tiled_labels.shape, dtype=np.uint8)
    for z in slices:
        target[z] = tiled_labels[z] == structure
    scribbles = simulate_scribbles(target, geometry, slices=len(slices))
    return image, geometry, scribbles, tiled_labels == structure


# -- helpers ---------------------------------------------------------------------------------------
def _run_method(name, image, geometry, scribbles, params=None, **kw):
    from segviewer.methods.base import CancelToken, no_progress
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import build_request_from_arrays

    method = get_method(name)
    request = build_request_from_arrays(method, image, geometry, scribbles=scribbles, params=params, **kw)
    return method.run(request, no_progress, CancelToken())


def _cpu_and_wall(function, repeat):
    walls, cpus = [], []
    function()
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def _dice(a, b) -> float:
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


# -- rows -----------------------------------------------------------------------------------------------
def preview_rows(quick: bool) -> list[Row]:
    case = spleen_case()
    if case is None:
        return []
    image, geometry, scribbles, reference = case
    repeat = 3 if quick else 9
    holder = {}

    def once():
        holder["result"] = _run_method("graphcut", image, geometry, scribbles)

    wall, cpu = _cpu_and_wall(once, repeat)
    result = holder["result"]
    labels = np.zeros(reference.shape, dtype=bool)
    labels[result.roi] = result.labels == 1
    rows = [Row(AREA, "graph cut: scribbles → preview, spleen CT (in-process)", wall, "s", goal="≤ 0.3 s",
                extra={"cpu_s": round(cpu, 3), "roi_voxels": int(result.labels.size),
                       "solver": result.info.get("solver"), "dice": round(_dice(labels, reference == 1), 4)})]
    if not quick:
        rows.append(worker_row(image, geometry, scribbles, repeat))
    return rows


def worker_row(image, geometry, scribbles, repeat) -> Row:
    """Scribbles → preview as the GUI does it: request on the calling thread, the graph cut
    on the worker, PyMaxflow in the warm helper process, the result back."""
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import build_request_from_arrays
    from segviewer.workers.runner import ComputeWorker

    method = get_method("graphcut")
    worker = ComputeWorker(isolate_gil_bound=True)
    try:
        worker.prestart_process()
        times = []
        for n in range(repeat + 1):
            started = time.perf_counter()
            request = build_request_from_arrays(method, image, geometry, scribbles=scribbles)
            job = worker.submit_method(method, request)
            worker.wait_idle(120)
            if job.state != "finished":
                raise RuntimeError(job.error or job.state)
            if n:  # the first run waits for the helper to finish importing
                times.append(time.perf_counter() - started)
    finally:
        worker.shutdown()
    return Row(AREA, "graph cut: scribbles → preview, spleen CT (worker + helper process)",
               float(np.median(times)), "s", goal="≤ 0.3 s")


def large_volume_rows(quick: bool) -> list[Row]:
    case = tiled_ct_case(depth=60, slices=(20, 30, 40)) if quick else tiled_ct_case()
    if case is None:
        return []
    image, geometry, scribbles, organ = case
    repeat = 1 if quick else 5
    holder = {}

    def once():
        holder["result"] = _run_method("graphcut", image, geometry, scribbles)

    wall, cpu = _cpu_and_wall(once, repeat)
    with RssSampler() as rss:
        _, traced = peak_traced_bytes(once)
    result = holder["result"]
    box = [int(s.stop - s.start) for s in result.roi]
    spanned = np.argwhere(scribbles != np.iinfo(scribbles.dtype).max)
    span = (spanned.max(axis=0) - spanned.min(axis=0) + 1).tolist()
    inside = organ[result.roi]
    name = (f"graph cut: scribbles → preview, {image.shape[2]}×{image.shape[1]}×{image.shape[0]} tiled CT")
    return [Row(AREA, name, wall, "s", goal="≤ 1 s" if not quick else None,
                extra={"cpu_s": round(cpu, 3), "peak_bytes": int(max(rss.peak_extra, traced)),
                       "rss_peak_extra_bytes": int(rss.peak_extra), "traced_peak_bytes": int(traced),
                       "scribble_span_kji": span, "roi_kji": box, "roi_voxels": int(np.prod(box)),
                       "solver": result.info.get("solver"),
                       "dice_vs_model_labels": round(_dice(result.labels == 1, inside), 4)})]


def solver_rows(quick: bool) -> list[Row]:
    """Our solver vs raw PyMaxflow on the same grid and the same energy (spleen ROI, full
    resolution), and our default pipeline beside the raw full-grid solve."""
    import maxflow

    from segviewer.methods import graphcut as G
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import build_request_from_arrays

    case = spleen_case()
    if case is None:
        return []
    image, geometry, scribbles, _ = case
    request = build_request_from_arrays(get_method("graphcut"), image, geometry, scribbles=scribbles)
    params = G.GraphCutParameters()
    x, _, _ = G.normalise(request.image)
    classes = [0, 1]
    table = G.cost_table(x, request.scribbles, classes, params.bins)
    masks = np.stack([request.scribbles == c for c in classes])
    costs = G.data_costs(x, table).astype(np.float64)
    prior, _ = G.distance_prior(masks, request.spacing_zyx, 2.0 * min(request.spacing_zyx))
    costs += params.spatial_prior * prior
    hard = np.where(masks.sum(axis=0) == 1, np.argmax(masks, axis=0), -1)
    G.apply_hard(costs, hard)
    edges, _ = G.edge_weights(x, request.spacing_zyx, params.connectivity, params.smoothness)

    def raw():
        graph = maxflow.Graph[float](costs[0].size, costs[0].size * len(edges))
        nodes = graph.add_grid_nodes(costs[0].shape)
        for offset, weights in edges:
            structure = np.zeros((3, 3, 3))
            structure[offset[0] + 1, offset[1] + 1, offset[2] + 1] = 1
            graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
        delta = costs[1] - costs[0]
        graph.add_grid_tedges(nodes, np.maximum(delta, 0), np.maximum(-delta, 0))
        graph.maxflow()
        return graph.get_grid_segments(nodes)

    def ours():
        return G.solve_grid(costs, edges)[0]

    repeat = 3 if quick else 11
    assert np.array_equal(raw(), ours() == 1)
    # interleave the two so a noisy neighbour on the machine hits both alike
    raw_times, our_times = [], []
    for _ in range(repeat):
        raw_times.append(median_seconds(raw, 1, warmup=0))
        our_times.append(median_seconds(ours, 1, warmup=0))
    rows = [Row(AREA, "graph cut solver, spleen ROI full grid (6-conn)", float(np.median(our_times)), "s",
                "raw PyMaxflow, same grid and energy", float(np.median(raw_times)), "≤ 1.2×",
                extra={"voxels": int(costs[0].size)})]
    full = median_seconds(lambda: _run_method("graphcut", image, geometry, scribbles), repeat)
    rows.append(Row(AREA, "graph cut, whole method (defaults: energy + coarse-to-fine + clean-up)", full, "s",
                    "raw PyMaxflow full-grid solve of the same energy (energy not counted)",
                    float(np.median(raw_times)), "informative"))
    return rows


def watershed_rows(quick: bool) -> list[Row]:
    """Watershed on the scribbles' ROI vs SimpleITK on the whole 256³ volume."""
    import SimpleITK as sitk

    from segviewer.model.geometry import Geometry

    if quick:  # a small crop around the organ, full resolution
        case = tiled_ct_case(depth=48, slices=(14, 24, 34))
        crop = (slice(0, 48), slice(225, 395), slice(275, 415))
        step = 1
    else:  # 256 slices, every other row and column: 256³
        case = tiled_ct_case(depth=256, slices=(110, 130, 150))
        crop = (slice(0, 256), slice(0, 512, 2), slice(0, 512, 2))
        step = 2
    if case is None:
        return []
    image, geometry, scribbles, _ = case
    image, scribbles = np.ascontiguousarray(image[crop]), np.ascontiguousarray(scribbles[crop])
    sx, sy, sz = geometry.spacing
    origin = geometry.index_to_physical((crop[2].start, crop[1].start, crop[0].start))
    geometry = Geometry(image.shape[::-1], (sx * step, sy * step, sz), tuple(origin), geometry.direction)
    holder = {}

    def ours():
        holder["result"] = _run_method("watershed", image, geometry, scribbles)

    ours_seconds = median_seconds(ours, 1 if quick else 3, warmup=0 if quick else 1)
    unannotated = np.iinfo(scribbles.dtype).max
    markers = np.zeros(image.shape, dtype=np.uint32)
    annotated = scribbles != unannotated
    markers[annotated] = scribbles[annotated].astype(np.uint32) + 1

    def baseline():
        itk = sitk.GetImageFromArray(image.astype(np.float32))
        itk.SetSpacing(geometry.spacing)
        gradient = sitk.GradientMagnitudeRecursiveGaussian(itk, 1.0)
        marker_image = sitk.GetImageFromArray(markers)
        marker_image.CopyInformation(gradient)
        holder["baseline"] = sitk.MorphologicalWatershedFromMarkers(gradient, marker_image, markWatershedLine=False,
                                                                    fullyConnected=False)

    base_seconds = median_seconds(baseline, 1, warmup=0)
    result = holder["result"]
    full = sitk.GetArrayFromImage(holder["baseline"]).astype(np.int64) - 1
    agree = _dice(full[result.roi] == 1, result.labels == 1)
    shape = "×".join(str(n) for n in image.shape[::-1])
    return [Row(AREA, f"watershed from scribbles, ROI of a {shape} volume", ours_seconds, "s",
                f"SimpleITK MorphologicalWatershedFromMarkers, whole {shape}", base_seconds, "report the ratio",
                extra={"roi_voxels": int(result.labels.size), "volume_voxels": int(image.size),
                       "dice_ours_vs_whole_volume_in_roi": round(agree, 4)})]


def gui_rows(quick: bool) -> list[Row]:
    """The GUI-thread stall while a long cut runs, measured by pytest-qt under Xvfb."""
    if quick:
        return []
    script = Path(__file__).with_name("gui_stall.py")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stall.json"
        env = dict(os.environ, SEGVIEWER_STALL_OUT=str(out), PYTHONPATH=str(PROJECT_ROOT))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                   "--timeout=900", str(script)]
        if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
            command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1200x24"] + command
        completed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        if not out.exists():
            raise RuntimeError("GUI stall check failed:\n" + completed.stdout[-3000:] + completed.stderr[-3000:])
        data = json.loads(out.read_text())
    rows = []
    for key, figure, baseline_text in (
            ("graphcut", "GUI thread: longest stall during a long graph cut (helper process)",
             "same job on the worker thread (PyMaxflow holds the GIL)"),
            ("finetune_scratch", "GUI thread: longest stall during fine-tuning from scratch, spleen CT "
             "(GIL-holding steps in the helper)", "same run with every step on the worker thread")):
        ours, baseline = data[key]["helper"], data[key].get("in_thread")
        rows.append(Row(AREA, figure, ours["max_gap_s"], "s", baseline_text,
                        baseline["max_gap_s"] if baseline else None, "≤ 50 ms",
                        extra={"job_s": ours["job_s"], "gaps_over_50ms": ours["over_50ms"],
                               "p99_gap_s": ours["p99_gap_s"], "ticks": ours["ticks"],
                               "baseline_job_s": baseline["job_s"] if baseline else None}))
    return rows


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    for part in (preview_rows, large_volume_rows, solver_rows, watershed_rows, gui_rows):
        rows += part(quick)
    return rows


if __name__ == "__main__":  # pragma: no cover - convenience
    from benchmarks.run import main as run_main

    raise SystemExit(run_main(["--only", "methods"] + sys.argv[1:]))
