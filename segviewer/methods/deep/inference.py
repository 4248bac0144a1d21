"""U-Net inference: the model card's preprocessing, sliding windows stitched on the CPU,
probabilities back onto the request's grid exactly, progress and a live overlay per tile.

The tile loop follows ``monai.inferers.sliding_window_inference`` (same padding, scan
interval, Gaussian importance map and normalisation, so the numbers agree with it) but is
written out here so that each finished tile can be reported with its current labels (the
GUI overlay fills in tile by tile) and cancellation is checked between tiles. The network
runs on the chosen device (CUDA with float16 autocast, Apple MPS, or CPU); the accumulators
live in CPU memory so GPU memory does not grow with the volume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from segviewer.methods.base import (
    CancelToken, Method, MethodRequest, MethodResult, Progress, no_progress,
)
from segviewer.methods.deep.card import ModelError
from segviewer.methods.deep.device import autocast, choose_device, device_choices
from segviewer.methods.deep.grid import ModelGridMapping
from segviewer.methods.deep.preprocess import normalize
from segviewer.model.geometry import Box
from segviewer.model.parameters import param

#: Device names the method panel and ``--param device=`` offer (``cuda:N`` per visible GPU).
DEVICES = device_choices()
#: Live overlays at most this often (the last tile is always sent).
PARTIAL_INTERVAL_S = 0.25


def _scan_interval(image_size, roi_size, overlap: float) -> list[int]:
    # as monai.inferers.utils._get_scan_interval
    intervals = []
    for n, r in zip(image_size, roi_size):
        if r == n:
            intervals.append(int(r))
        else:
            interval = int(r * (1 - overlap))
            intervals.append(interval if interval > 0 else 1)
    return intervals


TileCallback = Callable[[int, int, Box, "object", "object"], None]


def sliding_window_logits(network, image: np.ndarray, roi_size, out_channels: int, *, overlap: float = 0.5,
                          mode: str = "gaussian", batch_size: int = 1, device: str = "cpu",
                          mixed_precision: bool = True, on_tile: TileCallback | None = None,
                          cancel: CancelToken | None = None) -> np.ndarray:
    """Stitched logits ``(C, *image.shape)`` of a network over a 3D float32 array.

    ``on_tile(done, total, box, accumulated, weights)`` is called after each batch of tiles
    with the box (array order, unpadded coordinates, clipped) just written and the running
    accumulators (CPU tensors, padded coordinates offset by ``padding``).
    """
    import torch
    import torch.nn.functional as F
    from monai.data.utils import compute_importance_map, dense_patch_slices

    roi = [int(r) for r in roi_size]
    size = list(image.shape)
    pad = []
    for n, r in zip(size, roi):
        diff = max(r - n, 0)
        pad.append((diff // 2, diff - diff // 2))
    tensor = torch.as_tensor(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    if any(p != (0, 0) for p in pad):
        flat = [v for p in reversed(pad) for v in p]
        tensor = F.pad(tensor, flat, mode="constant", value=0.0)
    padded = list(tensor.shape[2:])
    slices = dense_patch_slices(padded, roi, _scan_interval(padded, roi, overlap))
    importance = compute_importance_map(roi, mode=mode, sigma_scale=0.125, device="cpu").to(torch.float32)
    importance = torch.clamp(importance, min=max(float(importance.min()), 1e-3))
    output = torch.zeros((out_channels, *padded), dtype=torch.float32)
    weights = torch.zeros((1, *padded), dtype=torch.float32)
    total = len(slices)
    with torch.inference_mode():
        for first in range(0, total, batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            batch_slices = slices[first:first + batch_size]
            windows = torch.cat([tensor[(0, slice(None), *s)][None] for s in batch_slices]).to(device)
            with autocast(device, mixed_precision):
                logits = network(windows)
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
            if logits.shape[1] != out_channels:
                raise ModelError(f"the network returned {logits.shape[1]} channels but its card lists "
                                 f"{out_channels - 1} labels + background = {out_channels}")
            if tuple(logits.shape[2:]) != tuple(roi):
                raise ModelError(f"the network returned a {tuple(logits.shape[2:])} patch for a {tuple(roi)} "
                                 "input; check the card's roi_size")
            logits = logits.float().cpu()
            low = [min(s[d].start for s in batch_slices) for d in range(3)]
            high = [max(s[d].stop for s in batch_slices) for d in range(3)]
            for n, s in enumerate(batch_slices):
                output[(slice(None), *s)] += logits[n] * importance
                weights[(slice(None), *s)] += importance
            if on_tile is not None:
                box = tuple(slice(max(lo - p[0], 0), min(hi - p[0], n))
                            for lo, hi, p, n in zip(low, high, pad, size))
                on_tile(min(first + batch_size, total), total, box, output, weights)
    output /= weights
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pad, size))
    return output[(slice(None), *crop)].numpy()


@dataclass
class UNetParameters:
    model: str = param("hippocampus_unet", "model: a bundled model name, a model card (.json), a state dict "
                       "(.pt with a .json card beside it), a TorchScript file or a MONAI bundle folder")
    overlap: float = param(0.5, "overlap of neighbouring sliding windows", min=0.0, max=0.9, step=0.05)
    batch_size: int = param(1, "windows per forward pass", min=1, max=64)
    device: str = param("auto", "where the network runs (auto: CUDA, else MPS, else CPU)", choices=DEVICES)
    mixed_precision: bool = param(True, "float16 autocast on CUDA")
    probabilities: bool = param(True, "return per-class probabilities and the entropy map")


@dataclass
class Prediction:
    probabilities: np.ndarray | None  # (C, k, j, i) on the request grid
    labels: np.ndarray
    class_values: list[int]
    tiles: int
    seconds: float


def predict(loaded, image: np.ndarray, geometry, *, roi: Box, overlap: float = 0.5, batch_size: int = 1,
            device: str = "cpu", mixed_precision: bool = True, progress: Progress = no_progress,
            cancel: CancelToken | None = None, progress_range: tuple[float, float] = (0.0, 1.0),
            network=None, want_probabilities: bool = True) -> Prediction:
    """Run a loaded model on a request crop; probabilities come back on the crop's grid."""
    import torch

    start = time.perf_counter()
    card = loaded.card
    network = network if network is not None else loaded.network
    mapping = ModelGridMapping.plan(geometry, card.spacing, loaded.orientation)
    x = normalize(mapping.to_model(image), card.normalization)
    ijk = loaded.axis_order == "ijk"
    if ijk:
        x = np.ascontiguousarray(x.transpose(2, 1, 0))
    class_values = card.class_values
    lookup = np.asarray(class_values, dtype=np.uint16 if max(class_values) > 255 else np.uint8)
    lo, hi = progress_range
    last = [0.0]
    pending: list = [None]

    def on_tile(done, total, box, output, weights):
        pending[0] = box if pending[0] is None else tuple(
            slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(pending[0], box))
        now = time.perf_counter()
        if done < total and now - last[0] < PARTIAL_INTERVAL_S:
            return
        last[0] = now
        box, pending[0] = pending[0], None
        # current labels in the box from the running accumulators (padding offset applied)
        pad = [(o - n) // 2 for o, n in zip(output.shape[1:], x.shape)]
        padded_box = tuple(slice(s.start + p, s.stop + p) for s, p in zip(box, pad))
        # the weights are positive per voxel: they do not change which channel is largest
        # (NumPy's argmax over the channel axis is ~10x faster than torch's on a strided view)
        labels = lookup[output[(slice(None), *padded_box)].numpy().argmax(0)]
        if ijk:
            labels = labels.transpose(2, 1, 0)
            box = tuple(reversed(box))
        image_box, image_labels, decided = mapping.box_labels_to_image(box, np.ascontiguousarray(labels))
        full_box = tuple(slice(r.start + b.start, r.start + b.stop) for r, b in zip(roi, image_box))
        partial = MethodResult(roi=full_box, labels=image_labels, decided=decided, classes=class_values,
                               info={"partial": True, "tile": done, "tiles": total})
        progress(lo + (hi - lo) * 0.95 * done / total, f"tile {done}/{total}", partial=partial)
        tiles[0] = total

    tiles = [0]
    logits = sliding_window_logits(network, x, card.roi_size, card.out_channels, overlap=overlap,
                                   mode="gaussian", batch_size=batch_size, device=device,
                                   mixed_precision=mixed_precision, on_tile=on_tile, cancel=cancel)
    if ijk:
        logits = logits.transpose(0, 3, 2, 1)
    if not want_probabilities and not mapping.resampled:
        # labels only on the same grid: the largest logit, no softmax needed
        labels = lookup[mapping.reorientation.invert(logits.argmax(0))]
        return Prediction(None, np.ascontiguousarray(labels), class_values, tiles[0], time.perf_counter() - start)
    probabilities = torch.softmax(torch.from_numpy(np.ascontiguousarray(logits)), dim=0).numpy()
    probabilities = mapping.channels_to_image(probabilities)
    labels = lookup[probabilities.argmax(0)]
    return Prediction(probabilities.astype(np.float32, copy=False), labels, class_values, tiles[0],
                      time.perf_counter() - start)


class UNetMethod(Method):
    name = "unet"
    title = "U-Net"
    description = ("Segment with a trained U-Net (the bundled hippocampus model or your own): sliding-window "
                   "inference, the overlay fills in tile by tile.")
    Parameters = UNetParameters
    requires = frozenset()
    uses_roi = False

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        from segviewer.methods.deep.domain import check_request, domain_info
        from segviewer.methods.deep.models import load_model
        from segviewer.methods.deep.uncertainty import entropy_map, suggest_scribble

        params = request.params if request.params is not None else UNetParameters()
        device = choose_device(params.device)
        progress(0.0, "loading model")
        loaded = load_model(params.model, device)
        cancel.raise_if_cancelled()
        domain = check_request(loaded.card, request)  # before inference: warn, never refuse
        if domain is not None and not domain.in_domain:
            progress(0.0, domain.text())
        prediction = predict(loaded, request.image, request.geometry, roi=request.roi, overlap=params.overlap,
                             batch_size=params.batch_size, device=device, mixed_precision=params.mixed_precision,
                             progress=progress, cancel=cancel, want_probabilities=params.probabilities)
        info = {
            "model": loaded.card.name, "model_kind": loaded.kind, "device": device,
            "label_names": dict(loaded.card.labels), "tiles": prediction.tiles,
            "seconds": round(prediction.seconds, 3),
        }
        probabilities = None
        if params.probabilities:
            probabilities = prediction.probabilities
            entropy = entropy_map(probabilities)
            info["entropy"] = entropy
            info["suggestion"] = suggest_scribble(entropy, request.roi)
        info.update(domain_info(domain, prediction.labels, info.get("entropy")))
        progress(1.0, "done")
        return MethodResult(roi=request.roi, labels=prediction.labels, probabilities=probabilities,
                            classes=prediction.class_values, info=info)
