"""Evaluation figures: our surface metrics beside MONAI's on the same masks, and the
simulated user's speed.

Rows: HD95 (our cropped surface distance) vs ``monai.metrics.compute_hausdorff_distance``
with the same spacing; 3-slice scribble simulation on the spleen; and, in full mode, the
same HD95 on a 512×512×300 mask pair (the spleen tiled) where cropping matters more.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from benchmarks.common import SHARED_DATA, Row, median_seconds

AREA = "evaluation"


def _spleen() -> tuple[np.ndarray, tuple[float, float, float]] | None:
    path = SHARED_DATA / "spleen_ct" / "spleen_ct_label.nii.gz"
    if not path.exists():
        return None
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    sx, sy, sz = image.GetSpacing()
    return sitk.GetArrayFromImage(image) > 0, (sz, sy, sx)


def _perturb(ref: np.ndarray) -> np.ndarray:
    return np.roll(ndimage.binary_erosion(ref, iterations=1), (1, 3), axis=(0, 2))


def _hd95_rows(name: str, ref: np.ndarray, spacing, repeat: int, baseline_too: bool = True) -> list[Row]:
    from segviewer.evaluation.metrics import hd95

    pred = _perturb(ref)
    ours = median_seconds(lambda: hd95(pred, ref, spacing), repeat)
    baseline = None
    try:
        if not baseline_too:  # quick mode: importing MONAI alone takes seconds
            raise ImportError
        import torch
        from monai.metrics import compute_hausdorff_distance

        p = torch.from_numpy(pred[None, None])
        r = torch.from_numpy(ref[None, None])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            baseline = median_seconds(lambda: compute_hausdorff_distance(p, r, percentile=95, spacing=spacing),
                                      repeat)
    except ImportError:
        pass
    return [Row(AREA, f"HD95 {name}", ours, "s", "MONAI compute_hausdorff_distance", baseline, "≤ 1×",
                extra={"shape": list(ref.shape)})]


def run(quick: bool) -> list[Row]:
    from segviewer.evaluation.simulate import simulate_scribbles

    data = _spleen()
    if data is None:
        return []
    ref, spacing = data
    repeat = 1 if quick else 9
    rows = _hd95_rows("spleen mask (164×166×26)", ref, spacing, repeat, baseline_too=not quick)
    seconds = median_seconds(lambda: simulate_scribbles(ref.astype(np.uint8), spacing, slices=3), repeat)
    rows.append(Row(AREA, "3-slice scribbles, spleen", seconds, "s", goal="interactive (< 0.1 s)"))
    if not quick:
        big = np.zeros((300, 512, 512), dtype=bool)
        for z in range(0, 300 - 26, 26 * 3):
            big[z:z + 26, 100:266, 150:314] |= ref
        rows += _hd95_rows("512×512×300 tiled spleen masks", big, spacing, 3)
    return rows
