"""Per-voxel uncertainty (normalised entropy) and where the user should scribble next."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import Box


def entropy_map(probabilities: np.ndarray) -> np.ndarray:
    """Entropy of ``(C, k, j, i)`` probabilities divided by log C: float32 in [0, 1]."""
    p = np.clip(probabilities.astype(np.float32, copy=False), 1e-6, 1.0)
    entropy = -(p * np.log(p)).sum(axis=0)
    return (entropy / np.log(max(2, p.shape[0]))).astype(np.float32)


def suggest_scribble(entropy: np.ndarray, roi: Box | None = None, smoothing: int = 5) -> dict:
    """The most uncertain spot of the crop and the slices that cut through it.

    Returns indices in the full volume (``roi`` offsets added) so the GUI can jump there:
    ``index`` (i, j, k) of the most uncertain spot (entropy averaged over a ``smoothing``
    cube so that one noisy voxel does not win), ``box`` (array-order bounds of the uncertain
    voxels around that peak: entropy above half of it, connected to it, within
    ``2 * smoothing`` voxels of it), ``slices`` (the k, j and i slice through it) and a
    sentence for the panel.
    """
    offset = [s.start for s in roi] if roi is not None else [0, 0, 0]
    if entropy.size == 0 or float(entropy.max()) <= 0:
        return {"index": None, "box": None, "slices": None, "mean_entropy": 0.0,
                "text": "The prediction is certain everywhere in the region."}
    smoothed = ndimage.uniform_filter(entropy.astype(np.float32), size=min(smoothing, *entropy.shape))
    peak = np.unravel_index(int(np.argmax(smoothed)), smoothed.shape)
    # The half-peak region is often one shell along the whole boundary of the object; framing
    # all of it points nowhere. Only its part near the peak is the place to scribble.
    reach = 2 * smoothing
    window = tuple(slice(max(0, int(p) - reach), int(p) + reach + 1) for p in peak)
    local_peak = tuple(int(p) - w.start for p, w in zip(peak, window))
    components, _ = ndimage.label(smoothed[window] >= 0.5 * smoothed[peak])
    objects = ndimage.find_objects((components == components[local_peak]).astype(np.int32))[0]
    box = [[int(w.start + s.start + o), int(w.start + s.stop + o)] for w, s, o in zip(window, objects, offset)]
    k, j, i = (int(p + o) for p, o in zip(peak, offset))
    return {
        "index": [i, j, k],
        "box": box,
        "slices": {"k": k, "j": j, "i": i},
        "peak_entropy": float(smoothed[peak]),
        "mean_entropy": float(entropy.mean()),
        "text": f"Most uncertain around voxel (i={i}, j={j}, k={k}): scribble on slice k={k} "
                f"(region k {box[0][0]}–{box[0][1] - 1}, j {box[1][0]}–{box[1][1] - 1}, "
                f"i {box[2][0]}–{box[2][1] - 1}).",
    }
