"""One ``keep_scribbled_components`` (methods/common.py) serves the graph cut (26-connected
parts) and fine-tuning (6-connected parts); each caller keeps its connectivity."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.methods import graphcut
from segviewer.methods.base import CancelToken, MethodRequest, VoxelPoint, no_progress
from segviewer.methods.common import keep_scribbled_components
from segviewer.methods.deep import finetune
from segviewer.model.geometry import Geometry, full_box

NONE = -1


def corner_touching_parts():
    """Label 1 in two cubes that touch at one corner only; a seed in the first cube."""
    labels = np.zeros((6, 6, 6), np.uint8)
    labels[0:2, 0:2, 0:2] = 1
    labels[2:4, 2:4, 2:4] = 1
    seeds = np.full(labels.shape, NONE, np.int32)
    seeds[0, 0, 0] = 1
    return labels, seeds


def test_corner_neighbours_are_one_part_with_26_and_two_with_6():
    labels, seeds = corner_touching_parts()
    before = labels.copy()
    assert keep_scribbled_components(labels, seeds, 26) is labels  # one part holding a seed: unchanged
    kept = keep_scribbled_components(labels, seeds, 6)
    assert kept[0:2, 0:2, 0:2].all() and not kept[2:4, 2:4, 2:4].any()
    assert np.array_equal(labels, before)  # the caller's array is never changed in place


def test_parts_without_a_seed_go_to_the_background_value():
    labels = np.zeros((4, 10, 10), np.int16)
    labels[:, 0:3, 0:3] = 2
    labels[:, 6:9, 6:9] = 2
    labels[:, 0:3, 6:9] = 3  # a value with no seed anywhere is left whole
    labels[labels == 0] = 7  # the background channel of a graph cut may be any index
    seeds = np.full(labels.shape, NONE, np.int16)
    seeds[1, 1, 1] = 2
    kept = keep_scribbled_components(labels, seeds, 6, background=7)
    assert (kept[:, 0:3, 0:3] == 2).all() and (kept[:, 6:9, 6:9] == 7).all() and (kept[:, 0:3, 6:9] == 3).all()


def test_a_value_whose_seeds_lie_outside_it_loses_every_part():
    labels, _ = corner_touching_parts()
    seeds = np.full(labels.shape, NONE, np.int32)
    seeds[5, 5, 5] = 1  # the user marked 1 where the result says background
    assert not keep_scribbled_components(labels, seeds, 26).any()


def test_an_unknown_connectivity_is_refused():
    labels, seeds = corner_touching_parts()
    with pytest.raises(ValueError, match="6, 18 or 26"):
        keep_scribbled_components(labels, seeds, 8)


def two_cubes_touching_at_a_corner():
    """A bright cube scribbled as label 1 and a look-alike cube touching it at one corner only;
    background scribbled on three faces: image, scribbles."""
    image = np.random.default_rng(0).normal(0, 5, (10, 10, 10)).astype(np.float32)
    image[1:5, 1:5, 1:5] += 100.0
    image[5:9, 5:9, 5:9] += 100.0
    scribbles = np.full(image.shape, 255, np.uint8)
    scribbles[2:4, 2:4, 2:4] = 1
    scribbles[0], scribbles[:, 0], scribbles[9] = 0, 0, 0
    return image, scribbles


FAR_CUBE = (slice(5, 9), slice(5, 9), slice(5, 9))


def test_the_graph_cut_keeps_a_corner_connected_part():
    """The graph cut's parts are 26-connected: the look-alike cube stays with the scribbled one.
    Background is scribbled far off (on the far faces of a larger volume), so the look-alike
    cube lies within the label strokes' reach and only the clean-up's connectivity decides."""
    image, _ = two_cubes_touching_at_a_corner()
    image = np.pad(image, ((0, 6),) * 3, constant_values=0.0)
    scribbles = np.full(image.shape, 255, np.uint8)
    scribbles[2:4, 2:4, 2:4] = 1
    scribbles[-1], scribbles[:, -1], scribbles[:, :, -1] = 0, 0, 0
    labels, _ = graphcut.graph_cut(image, scribbles, (1.0, 1.0, 1.0))
    assert (labels[1:5, 1:5, 1:5] == 1).all() and (labels[FAR_CUBE] == 1).all()


def test_fine_tuning_drops_a_corner_connected_part():
    """Fine-tuning's parts are 6-connected: where its evidence claims the look-alike cube, the
    label is dropped there (26-connected parts would have kept it)."""
    image, scribbles = two_cubes_touching_at_a_corner()
    request = MethodRequest(image=image, geometry=Geometry((10, 10, 10), (1, 1, 1), (0, 0, 0)),
                            roi=full_box(image.shape), scribbles=scribbles, unannotated=255, label_values=[1],
                            params=finetune.FinetuneParameters(model="scratch", steps=10, refine="none"))
    result = finetune.FinetuneMethod().run(request, no_progress, CancelToken())
    claimed = result.probabilities.argmax(0).astype(np.uint8)
    assert claimed[FAR_CUBE].any()
    seeds = finetune.marked_values(request, claimed.shape)
    assert keep_scribbled_components(claimed, seeds, 26)[FAR_CUBE].any()
    assert not result.labels[FAR_CUBE].any() and (result.labels[2:4, 2:4, 2:4] == 1).all()


def test_fine_tuning_seeds_are_scribbles_and_positive_clicks():
    scribbles = np.full((3, 4, 4), 255, np.uint8)
    scribbles[0, 0, 0] = 1
    scribbles[0, 0, 1] = 0
    request = type("Request", (), {"scribbles": scribbles, "unannotated": 255,
                                   "points": [VoxelPoint((1, 1, 1), 2, True), VoxelPoint((2, 2, 2), 1, False)]})
    seeds = finetune.marked_values(request, scribbles.shape)
    assert seeds[0, 0, 0] == 1 and seeds[0, 0, 1] == 0 and seeds[1, 1, 1] == 2
    assert seeds[2, 2, 2] == NONE and (seeds == NONE).sum() == seeds.size - 3
