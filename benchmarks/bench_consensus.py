"""Consensus of three raters' masks (issue 14): segviewer's vote and STAPLE beside SimpleITK's
filters called directly on the same masks in the same run.

Full mode: three 512x512x300 two-label masks (an ellipsoid split in two, each rater's drawn
with its own margin and offset: the disagreements of real raters sit on the boundary).
Ours includes what a user gets: the tie rule, each rater's sensitivity/specificity and the
compacted label values; the peer is the bare filter. Quick mode: 64x64x40.

Not here: the per-label probability maps (binary ``STAPLEImageFilter``, which
``staple_probability`` calls as it is). On these masks it needs ~140 EM iterations over every
voxel: ~55 s for a 256x256x150 volume on one shared core, minutes at 512x512x300.
"""

from __future__ import annotations

import statistics

import numpy as np
import SimpleITK as sitk

from benchmarks.common import Row, RssSampler, median_seconds

AREA = "campaign"


def rater_masks(shape: tuple[int, int, int]) -> list[np.ndarray]:
    """Three raters' masks of one two-label ellipsoid, each a little larger or smaller and shifted."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    masks = []
    for scale, shift in ((1.0, 0), (1.06, 2), (0.95, -2)):
        inside = (((z - shape[0] / 2) / (0.35 * shape[0] * scale)) ** 2
                  + ((y - shape[1] / 2 - shift) / (0.30 * shape[1] * scale)) ** 2
                  + ((x - shape[2] / 2 + shift) / (0.25 * shape[2] * scale)) ** 2) <= 1.0
        mask = inside.astype(np.uint8)
        mask[:, :, shape[2] // 2 + shift:] *= 2  # label 2: the right half
        masks.append(mask)
    return masks


def _sitk_vote(masks):
    voting = sitk.LabelVotingImageFilter()
    voting.SetLabelForUndecidedPixels(0)
    return sitk.GetArrayFromImage(voting.Execute([sitk.GetImageFromArray(m) for m in masks]))


def _sitk_staple(masks):
    estimator = sitk.MultiLabelSTAPLEImageFilter()
    estimator.SetLabelForUndecidedPixels(0)
    return sitk.GetArrayFromImage(estimator.Execute([sitk.GetImageFromArray(m) for m in masks]))


def run(quick: bool) -> list[Row]:
    from segviewer.evaluation.consensus import consensus

    shape = (40, 64, 64) if quick else (300, 512, 512)
    repeat = 1 if quick else 5
    masks = rater_masks(shape)
    size = "x".join(map(str, shape[::-1]))
    extra = {"shape_zyx": list(shape), "raters": len(masks), "labels": 2}
    rows = []
    cases = [
        ("vote", lambda: consensus(masks, "vote"), lambda: _sitk_vote(masks),
         "SimpleITK LabelVotingImageFilter"),
        ("STAPLE", lambda: consensus(masks, "staple"), lambda: _sitk_staple(masks),
         "SimpleITK MultiLabelSTAPLEImageFilter"),
    ]
    for name, ours, peer, peer_name in cases:
        ours_times, peer_times = [], []
        for run_number in range(repeat):  # alternated, each first in turn: a busy moment of
            if run_number % 2:            # the shared machine hits both alike
                peer_times.append(median_seconds(peer, 1, warmup=0))
            with RssSampler() as memory:
                ours_times.append(median_seconds(ours, 1, warmup=0))
            if not run_number % 2:
                peer_times.append(median_seconds(peer, 1, warmup=0))
        rows.append(Row(AREA, f"consensus {name}, 3 masks {size}", statistics.median(ours_times), "s", peer_name,
                        statistics.median(peer_times), "≤ 1.5×",
                        extra={**extra, "peak_extra_bytes": memory.peak_extra, "runs": repeat}))
    for method, peer in (("vote", _sitk_vote), ("staple", _sitk_staple)):
        same = np.array_equal(consensus(masks, method).labels, peer(masks))
        rows.append(Row(AREA, f"consensus {method} equals the peer's labels, {size}", float(same), "bool",
                        note="1 = identical voxel for voxel (no ties in these masks)"))
    return rows
