"""Graph cut: exactness of the solvers, behaviour on synthetic data, quality on real data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from segviewer.evaluation.metrics import dice
from segviewer.methods.base import CancelToken, MethodCancelled, MethodInputError, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.graphcut import (
    GraphCutParameters,
    edge_weights,
    graph_cut,
    grid_pairs,
    potts_energy,
    solve_band,
    solve_grid,
    solve_potts,
)
from segviewer.methods.request import apply_result_to_array, build_request_from_arrays


def brute_force(costs, first, second, weights):
    classes, count = costs.shape
    best, best_labels = np.inf, None
    for labels in itertools.product(range(classes), repeat=count):
        labels = np.asarray(labels)
        energy = potts_energy(costs, first, second, weights, labels)
        if energy < best:
            best, best_labels = energy, labels
    return best, best_labels


def random_problem(rng, classes, shape=(1, 2, 4)):
    costs = rng.uniform(0, 3, size=(classes,) + shape)
    x = rng.uniform(0, 1, size=shape).astype(np.float32)
    edges, _ = edge_weights(x, (1.0, 1.0, 1.0), 6, smoothness=1.5)
    first, second, weights = grid_pairs(shape, edges)
    return costs, edges, first, second, weights


def test_two_labels_is_exact(rng):
    for _ in range(10):
        costs, edges, first, second, weights = random_problem(rng, 2)
        best, _ = brute_force(costs.reshape(2, -1), first, second, weights)
        labels, _ = solve_grid(costs, edges)
        assert potts_energy(costs.reshape(2, -1), first, second, weights, labels.ravel()) == pytest.approx(best)
        sparse, _ = solve_potts(costs.reshape(2, -1), first, second, weights)
        assert potts_energy(costs.reshape(2, -1), first, second, weights, sparse) == pytest.approx(best)


def test_alpha_expansion_is_within_the_potts_bound(rng):
    for _ in range(6):
        costs, edges, first, second, weights = random_problem(rng, 3)
        flat = costs.reshape(3, -1)
        best, _ = brute_force(flat, first, second, weights)
        labels, _ = solve_grid(costs, edges)
        energy = potts_energy(flat, first, second, weights, labels.ravel())
        assert best - 1e-9 <= energy <= 2 * best + 1e-9
        # never worse than the labels it starts from
        assert energy <= potts_energy(flat, first, second, weights, np.argmin(flat, axis=0)) + 1e-9


def test_band_solve_with_everything_in_the_band_is_the_full_solve(rng):
    costs, edges, first, second, weights = random_problem(rng, 2, shape=(2, 3, 4))
    full, _ = solve_grid(costs, edges)
    start = np.zeros(costs.shape[1:], dtype=np.int64)
    banded = solve_band(costs.reshape(2, -1).copy(), edges, start, np.ones(start.shape, dtype=bool))
    assert np.array_equal(full, banded)


def test_band_solve_respects_fixed_neighbours():
    # 1 x 1 x 3 chain: ends fixed to 1, the middle voxel slightly prefers 0 but its two
    # strong edges to fixed label-1 neighbours pull it to 1.
    x = np.zeros((1, 1, 3), dtype=np.float32)
    edges, _ = edge_weights(x, (1.0, 1.0, 1.0), 6, smoothness=5.0)
    band = np.array([[[False, True, False]]])
    labels = np.ones((1, 1, 3), dtype=np.int64)
    out = solve_band(np.array([[0.0], [1.0]]), edges, labels, band)
    assert out[0, 0, 1] == 1


def test_blob_is_found(blob):
    image, scribbles, truth, spacing = blob
    labels, info = graph_cut(image, scribbles, spacing)
    assert dice(labels == 1, truth) > 0.95
    assert info["classes"] == [0, 1]
    # scribbles are hard constraints
    assert np.all(labels[scribbles == 1] == 1) and np.all(labels[scribbles == 0] == 0)


def test_multiscale_matches_the_full_solve(blob):
    image, scribbles, truth, spacing = blob
    full, _ = graph_cut(image, scribbles, spacing, GraphCutParameters(multiscale="off"))
    coarse, info = graph_cut(image, scribbles, spacing, GraphCutParameters(multiscale="on"))
    assert "coarse-to-fine" in info["solver"]
    assert dice(coarse == 1, full == 1) > 0.98


@pytest.mark.parametrize("connectivity", [18, 26])
def test_other_neighbourhoods(blob, connectivity):
    image, scribbles, truth, spacing = blob
    labels, _ = graph_cut(image, scribbles, spacing, GraphCutParameters(connectivity=connectivity))
    assert dice(labels == 1, truth) > 0.93


def test_one_class_needs_the_roi_border(blob):
    image, scribbles, truth, spacing = blob
    only_label = np.where(scribbles == 1, 1, 255).astype(np.uint8)
    with pytest.raises(MethodInputError, match="two classes"):
        graph_cut(image, only_label, spacing)
    labels, info = graph_cut(image, only_label, spacing, border_background=True)
    assert "border" in info["background"]
    assert dice(labels == 1, truth) > 0.9


def test_cancel_stops_it(blob):
    image, scribbles, _, spacing = blob
    token = CancelToken()
    token.cancel()
    with pytest.raises(MethodCancelled):
        graph_cut(image, scribbles, spacing, cancel=token)


def test_points_add_seeds(blob):
    from segviewer.model.geometry import Geometry
    from segviewer.model.points import PointPrompt

    image, scribbles, truth, spacing = blob
    geometry = Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0))
    background_only = np.where(scribbles == 0, 0, 255).astype(np.uint8)
    centre = geometry.index_to_physical((20, 20, 12))
    method = get_method("graphcut")
    request = build_request_from_arrays(method, image, geometry, scribbles=background_only,
                                        points=[PointPrompt(tuple(centre), 1, True)], whole_volume=True)
    result = method.run(request, no_progress, CancelToken())
    assert dice(result.labels == 1, truth) > 0.9


# -- real data ------------------------------------------------------------------------------------
def run_default(case, whole_volume=None):
    method = get_method("graphcut")
    request = build_request_from_arrays(method, case.image.array, case.image.geometry, scribbles=case.scribbles,
                                        whole_volume=whole_volume)
    result = method.run(request, no_progress, CancelToken())
    return apply_result_to_array(np.zeros(case.reference.shape, dtype=np.uint8), result), result


def test_spleen_dice_with_defaults(spleen_case):
    labels, result = run_default(spleen_case)
    assert dice(labels == 1, spleen_case.reference == 1) >= 0.95
    whole, _ = run_default(spleen_case, whole_volume=True)
    assert dice(whole == 1, spleen_case.reference == 1) >= 0.95


def test_hippocampus_dev_cases_with_defaults(hippocampus_dev):
    scores = {1: [], 2: [], "merged": []}
    for case in hippocampus_dev:
        labels, _ = run_default(case)
        for value in (1, 2):
            scores[value].append(dice(labels == value, case.reference == value))
        scores["merged"].append(dice(labels > 0, case.reference > 0))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    assert len(hippocampus_dev) == 20
    assert means[1] >= 0.75 and means[2] >= 0.75 and means["merged"] >= 0.75, means


def test_two_labels_without_background_and_multi_label_coarse_to_fine(blob):
    image, scribbles, truth, spacing = blob
    two = scribbles.copy()
    two[two == 0] = 2  # the "background" strokes are now a second label
    labels, info = graph_cut(image, two, spacing)
    assert info["classes"] == [1, 2]
    assert dice(labels == 1, truth) > 0.9
    three = scribbles.copy()
    three[12, 2, 2:-2] = 2  # one outside stroke becomes label 2, the other stays background
    full, _ = graph_cut(image, three, spacing, GraphCutParameters(multiscale="off"))
    coarse, info = graph_cut(image, three, spacing, GraphCutParameters(multiscale="on"))
    assert "alpha-expansion" in info["solver"] and "coarse-to-fine" in info["solver"]
    assert dice(coarse == 1, full == 1) > 0.97
    assert np.all(coarse[three == 2] == 2)
