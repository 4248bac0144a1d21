"""Deep methods: our U-Net inference beside a plain MONAI call, and fine-tuning speed.

Rows
- U-Net inference on one volume: ``UNetMethod.run`` (normalisation, tiles stitched on the
  CPU with progress and cancel checks, softmax, labels, entropy and suggestion) beside a
  plain ``monai.inferers.sliding_window_inference`` call with the same network, ROI,
  overlap and Gaussian weighting on the same (already normalised) volume. Goal ≤ 1.15×.
- Fine-tuning from scratch on the spleen CT ROI (3-slice scribbles, the default ROI the GUI
  uses): seconds from the request to the first refreshed prediction — cold (a new image)
  and warm (a new scribble added, training continues) — goal ≤ 3 s; iterations per second.
- The same for the bundled hippocampus U-Net on a dev case.
- On CUDA only (labelled GPU): inference on a 512×512×300 CT-like volume, fine-tune it/s.
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks.common import PROJECT_ROOT, SHARED_DATA, Row, median_seconds

AREA = "deep"


def _hippocampus_case(index: int = 0):
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image

    split = json.loads((PROJECT_ROOT / "resources" / "splits" / "hippocampus.json").read_text())
    case = split["validation"][index]
    image = read_image(SHARED_DATA / "hippocampus" / "imagesTr" / f"{case}.nii.gz")
    ref = read_image(SHARED_DATA / "hippocampus" / "labelsTr" / f"{case}.nii.gz").array
    return image, ref, simulate_scribbles(ref, image.geometry, slices=3, seed=0)


def _inference_rows(quick: bool) -> list[Row]:
    import torch
    from monai.inferers import sliding_window_inference

    from segviewer.methods.base import CancelToken, MethodRequest, no_progress
    from segviewer.methods.deep.inference import UNetMethod, UNetParameters
    from segviewer.methods.deep.models import load_model
    from segviewer.methods.deep.preprocess import normalize
    from segviewer.model.geometry import Geometry, full_box

    image, _, _ = _hippocampus_case()
    reps = (1, 1, 1) if quick else (2, 3, 3)  # a whole-head-sized crop: many tiles
    array = np.tile(image.array, reps)
    geometry = Geometry(array.shape[::-1], image.geometry.spacing, image.geometry.origin, image.geometry.direction)
    loaded = load_model()
    roi = loaded.card.roi_size
    repeat = 1 if quick else 7
    method = UNetMethod()

    def ours(probabilities=True):
        request = MethodRequest(image=array, geometry=geometry, roi=full_box(array.shape),
                                params=UNetParameters(probabilities=probabilities, device="cpu"))
        return method.run(request, no_progress, CancelToken())

    x = torch.as_tensor(normalize(array, loaded.card.normalization))[None, None]

    def plain():
        with torch.no_grad():
            return sliding_window_inference(x, roi, 1, loaded.network, overlap=0.5, mode="gaussian")

    # interleaved (plain, ours, ours labels-only) rounds: a shared, noisy machine slows all alike
    timings: dict[str, list[float]] = {"plain": [], "full": [], "labels": []}
    plain(), ours()  # warm-up
    for _ in range(repeat):
        for key, function in (("plain", plain), ("full", ours), ("labels", lambda: ours(False))):
            started = time.perf_counter()
            function()
            timings[key].append(time.perf_counter() - started)
    baseline, full, labels_only = (float(np.median(timings[k])) for k in ("plain", "full", "labels"))
    shape = "×".join(str(n) for n in array.shape)
    return [
        Row(AREA, f"U-Net inference, {shape} (all outputs)", full, "s", "plain MONAI sliding_window_inference",
            baseline, "≤ 1.15×", note="ours adds normalisation, softmax, labels, entropy, suggestion",
            extra={"roi": roi, "threads": torch.get_num_threads()}),
        Row(AREA, f"U-Net inference, {shape} (labels only)", labels_only, "s",
            "plain MONAI sliding_window_inference", baseline, "≤ 1.15×"),
    ]


def _first_refresh(method, request) -> tuple[float, float, dict]:
    """(seconds to the first live preview, total seconds, result info)."""
    from segviewer.methods.base import CancelToken

    started = time.perf_counter()
    first = []

    def progress(fraction, text="", partial=None):
        if partial is not None and not first:
            first.append(time.perf_counter() - started)

    result = method.run(request, progress, CancelToken())
    total = time.perf_counter() - started
    return (first[0] if first else total), total, result.info


def _finetune_rows(quick: bool) -> list[Row]:
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image
    from segviewer.methods.deep.finetune import FinetuneMethod, FinetuneParameters
    from segviewer.methods.request import build_request_from_arrays

    rows = []
    steps = 10 if quick else 30
    # spleen CT from scratch, on the default ROI (scribbles + 30 mm)
    image = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct.nii.gz")
    ref = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct_label.nii.gz").array.astype(np.uint8)
    scribbles = simulate_scribbles(ref, image.geometry, slices=3, seed=0)
    method = FinetuneMethod()
    params = FinetuneParameters(model="scratch", steps=steps, refresh_every=5, device="cpu")
    request = build_request_from_arrays(method, image.array, image.geometry, scribbles=scribbles, unannotated=255,
                                        params=params, label_values=[1])
    cold, total, info = _first_refresh(method, request)
    roi = "×".join(str(s.stop - s.start) for s in request.roi)
    rows.append(Row(AREA, f"fine-tune from scratch, spleen ROI {roi}: first preview (cold)", cold, "s",
                    goal="≤ 3 s", extra={"steps": steps, "refresh_every": 5}))
    # a new scribble inside the region (a background stroke on a scribbled slice, where the
    # spleen is not): the ROI stays, training continues from its state
    more = scribbles.copy()
    k = int(np.flatnonzero((scribbles == 1).any((1, 2)))[1])
    stroke = np.zeros(ref.shape[1:], bool)
    stroke[10:13, 10:80] = True
    more[k][stroke & (ref[k] == 0)] = 0
    request = build_request_from_arrays(method, image.array, image.geometry, scribbles=more, unannotated=255,
                                        params=params, label_values=[1])
    steps_before = method.state.steps_done
    warm, total, info = _first_refresh(method, request)
    assert info["steps"] > steps_before + 0, "the second run should have continued"
    rows.append(Row(AREA, "fine-tune from scratch, spleen ROI: new scribble to first preview (warm)", warm, "s",
                    goal="≤ 3 s"))
    rows.append(Row(AREA, "fine-tune from scratch, spleen ROI: iterations/s (incl. previews and result)",
                    steps / total, "it/s", extra={"continued_from_step": steps_before}))
    # bundled hippocampus U-Net on a dev case
    image, ref, scribbles = _hippocampus_case()
    method = FinetuneMethod()
    params = FinetuneParameters(steps=steps, refresh_every=5, device="cpu")
    request = build_request_from_arrays(method, image.array, image.geometry, scribbles=scribbles, unannotated=255,
                                        params=params, label_values=[1, 2])
    cold, total, info = _first_refresh(method, request)
    rows.append(Row(AREA, "fine-tune hippocampus U-Net: first preview (cold)", cold, "s", goal="≤ 3 s"))
    rows.append(Row(AREA, "fine-tune hippocampus U-Net: iterations/s (incl. previews)", steps / total, "it/s"))
    return rows


def _gpu_rows(quick: bool) -> list[Row]:
    import torch

    if not torch.cuda.is_available() or quick:
        return []
    from segviewer.methods.base import CancelToken, MethodRequest, no_progress
    from segviewer.methods.deep.inference import UNetMethod, UNetParameters
    from segviewer.model.geometry import Geometry, full_box

    rng = np.random.default_rng(0)
    volume = rng.normal(0, 100, size=(300, 512, 512)).astype(np.int16)
    geometry = Geometry((512, 512, 300), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    request = MethodRequest(image=volume, geometry=geometry, roi=full_box(volume.shape),
                            params=UNetParameters(device="cuda", batch_size=32, probabilities=False))
    seconds = median_seconds(lambda: UNetMethod().run(request, no_progress, CancelToken()), 1)
    return [Row(AREA, "GPU: U-Net inference 512×512×300 (labels, fp16 autocast)", seconds, "s",
                note=torch.cuda.get_device_name(0))]


def run(quick: bool) -> list[Row]:
    if not (SHARED_DATA / "hippocampus").is_dir():
        return []
    rows = _inference_rows(quick)
    if (SHARED_DATA / "spleen_ct").is_dir():
        rows += _finetune_rows(quick)
    rows += _gpu_rows(quick)
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        ratio = f" ratio {row.ratio:.2f}" if row.ratio else ""
        print(f"{row.name}: {row.value:.3f} {row.unit} (baseline {row.baseline}){ratio} goal {row.goal}")
