"""The simulated user: realistic, correct and deterministic scribbles, clicks and corrections."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.evaluation import simulate as S
from segviewer.io.images import read_image


@pytest.fixture(scope="module")
def hippocampus(shared_data):
    return read_image(shared_data / "hippocampus" / "labelsTr" / "hippocampus_001.nii.gz")


@pytest.fixture(scope="module")
def spleen(shared_data):
    return read_image(shared_data / "spleen_ct" / "spleen_ct_label.nii.gz")


def _check_scribbles(scribbles, reference, slices):
    assert scribbles.dtype == np.uint8
    annotated = scribbles != 255
    labels = [int(v) for v in np.unique(reference) if v != 0]
    # every foreground stroke lies inside its structure, every background stroke outside all
    for label in labels:
        assert np.all(reference[scribbles == label] == label)
        slices_with = np.flatnonzero((scribbles == label).any(axis=(1, 2)))
        assert len(slices_with) == slices
    assert np.all(reference[scribbles == 0] == 0)
    assert set(np.unique(scribbles[annotated])) == {0, *labels}
    # strokes, not whole slices: a small part of each structure's section is scribbled
    for label in labels:
        for k in np.flatnonzero((scribbles == label).any(axis=(1, 2))):
            section = reference[k] == label
            assert (scribbles[k] == label).sum() < 0.5 * section.sum()


def test_three_slice_scribbles_on_the_spleen(spleen):
    reference = spleen.array.astype(np.uint8)
    scribbles = S.simulate_scribbles(reference, spleen.geometry)
    _check_scribbles(scribbles, reference, 3)
    # the three slices are spread over the spleen's extent
    present = np.flatnonzero(reference.any(axis=(1, 2)))
    chosen = np.flatnonzero((scribbles == 1).any(axis=(1, 2)))
    assert chosen[0] > present[0] and chosen[-1] < present[-1]
    assert chosen[-1] - chosen[0] >= 0.4 * (present[-1] - present[0])


def test_multilabel_hippocampus_and_determinism(hippocampus):
    reference = hippocampus.array.astype(np.uint8)
    a = S.simulate_scribbles(reference, hippocampus.geometry, slices=3, seed=7)
    b = S.simulate_scribbles(reference, hippocampus.geometry, slices=3, seed=7)
    np.testing.assert_array_equal(a, b)
    _check_scribbles(a, reference, 3)
    one = S.simulate_scribbles(reference, hippocampus.geometry, slices=1)
    _check_scribbles(one, reference, 1)


def test_tiny_and_thin_structures_still_get_a_stroke():
    reference = np.zeros((5, 30, 30), dtype=np.uint8)
    reference[2, 10, 5:25] = 1  # a one-voxel-thick line on one slice
    reference[1:4, 20:22, 20:22] = 2
    scribbles = S.simulate_scribbles(reference, (2.0, 1.0, 1.0), slices=3)
    assert (scribbles == 1).sum() > 0 and np.all(reference[scribbles == 1] == 1)
    assert (scribbles == 2).any() and np.all(reference[scribbles == 2] == 2)
    assert np.all(reference[scribbles == 0] == 0)


def test_wide_labels_use_uint16():
    reference = np.zeros((4, 20, 20), dtype=np.uint16)
    reference[1:3, 5:15, 5:15] = 300
    scribbles = S.simulate_scribbles(reference, None)
    assert scribbles.dtype == np.uint16 and (scribbles == 300).any() and (scribbles == 65535).any()


def test_points_are_inside_and_outside(hippocampus):
    reference = hippocampus.array
    geometry = hippocampus.geometry
    points = S.simulate_points(reference, geometry, positive=2, negative=1, seed=3)
    assert len(points) == 2 * 3
    for point in points:
        i, j, k = geometry.physical_to_voxel(point.position_mm)
        value = reference[k, j, i]
        assert (value == point.label) if point.positive else (value == 0)


def test_corrective_scribble_targets_the_largest_error(hippocampus):
    reference = hippocampus.array.astype(np.uint8)
    prediction = reference.copy()
    prediction[reference == 2] = 0  # a big false negative of label 2
    prediction[0:2, 0:3, 0:3] = 1  # a small false positive
    scribbles = S.empty_scribbles(reference.shape)
    correction = S.corrective_scribble(prediction, reference, scribbles, hippocampus.geometry)
    assert correction.value == 2 and correction.kind == "false_negative"
    assert (scribbles == 2).sum() == correction.stroke_voxels > 0
    assert np.all(reference[scribbles == 2] == 2)
    # with label 2 fixed, the false positive is next: a background stroke
    prediction[reference == 2] = 2
    correction = S.corrective_scribble(prediction, reference, scribbles, hippocampus.geometry)
    assert correction.value == 0 and correction.kind == "false_positive"
    assert np.all(reference[scribbles == 0] == 0)
    assert S.corrective_scribble(reference, reference, scribbles, hippocampus.geometry) is None
    click = S.corrective_click(prediction, reference, hippocampus.geometry)
    assert click is not None and not click.positive and click.label == 1


def test_a_thin_band_of_error_gets_a_brush_wide_stroke(spleen):
    from scipy import ndimage

    reference = spleen.array.astype(np.uint8)
    # the prediction misses a one-voxel rim of the spleen: a thin shell of false negatives
    prediction = ndimage.binary_erosion(reference, structure=np.ones((1, 3, 3))).astype(np.uint8)
    scribbles = S.empty_scribbles(reference.shape)
    correction = S.corrective_scribble(prediction, reference, scribbles, spleen.geometry)
    assert correction.value == 1
    assert correction.stroke_voxels >= 30  # traced along the rim, not a dot
    assert np.all(reference[scribbles == 1] == 1)


def test_medial_path_follows_a_bend():
    # an L-shaped region: the path must turn the corner, not cut across it
    region = np.zeros((40, 40), dtype=bool)
    region[5:35, 5:11] = True
    region[29:35, 5:35] = True
    path = S.medial_path(region)
    assert region[tuple(np.rint(path).astype(int).T)].all()
    ends = path[[0, -1]]
    assert {tuple(np.rint(e).astype(int) // 10) for e in ends} != {(0, 0)}
    assert np.ptp(path[:, 0]) > 20 and np.ptp(path[:, 1]) > 20


# -- drawing styles --------------------------------------------------------------------------------
def _strokes(reference, geometry, name, **kwargs):
    return S.simulate_scribbles(reference, geometry, style=S.STYLES[name], **kwargs)


def test_partial_background_is_an_open_arc(hippocampus):
    """A partial background stroke keeps about its fraction of the ring and does not close
    around the structure: the structure's section reaches the slice's edge without crossing it."""
    reference = hippocampus.array
    full = _strokes(reference, hippocampus.geometry, "default") == 0
    partial = _strokes(reference, hippocampus.geometry, "partial-background") == 0
    assert partial.sum() < 0.6 * full.sum() and partial.sum() > 0.2 * full.sum()
    assert np.all(full[partial])  # the same ring, only part of it
    for k in np.flatnonzero(partial.any(axis=(1, 2))):
        inside, _ = S.ndimage.label(~partial[k])
        structure = inside[reference[k] != 0]
        border = np.unique(np.concatenate([inside[0], inside[-1], inside[:, 0], inside[:, -1]]))
        assert np.isin(structure[structure > 0], border).all()  # not enclosed by the stroke


def test_off_axis_strokes_leave_the_medial_axis_but_not_the_structure(spleen):
    """On a wide structure (the spleen) the stroke runs well beside the medial one; it never
    leaves the structure (on a thin one there is no room beside the axis: it stays on it)."""
    reference = spleen.array
    on_axis = _strokes(reference, spleen.geometry, "default")
    off_axis = _strokes(reference, spleen.geometry, "off-axis")
    for label in (1,):
        assert np.all(reference[off_axis == label] == label)
        on, off = on_axis == label, off_axis == label
        assert (on & off).sum() < 0.6 * off.sum()  # mostly beside the default stroke
        depth = S.ndimage.distance_transform_edt(reference == label)
        assert depth[off].mean() < depth[on].mean()  # nearer the edge than the medial stroke


@pytest.mark.parametrize("name, slices", [("one-slice", 1), ("two-slices", 2)])
def test_slice_count_styles(hippocampus, name, slices):
    _check_scribbles(_strokes(hippocampus.array, hippocampus.geometry, name), hippocampus.array, slices)


def test_random_slices_stay_in_the_middle_80_percent(spleen):
    reference = spleen.array
    present = np.flatnonzero(reference.any(axis=(1, 2)))
    low, high = present[0], present[-1]
    seen = set()
    for seed in range(6):
        scribbles = _strokes(reference, spleen.geometry, "random-slices", seed=seed)
        chosen = np.flatnonzero((scribbles == 1).any(axis=(1, 2)))
        assert len(chosen) == 3
        assert np.all(chosen >= low + 0.1 * (high - low) - 1) and np.all(chosen <= low + 0.9 * (high - low) + 1)
        seen.add(tuple(chosen))
    assert len(seen) > 1  # not the same three slices whatever the seed


def test_thin_and_thick_strokes(hippocampus):
    counts = {name: int((_strokes(hippocampus.array, hippocampus.geometry, name) > 0).sum() -
                        (_strokes(hippocampus.array, hippocampus.geometry, name) == 255).sum())
              for name in ("thin", "default", "thick")}
    assert counts["thin"] < counts["default"] < counts["thick"]


def test_stray_voxels_run_a_little_over_the_edge(hippocampus):
    reference = hippocampus.array
    scribbles = _strokes(reference, hippocampus.geometry, "stray")
    labelled = (scribbles != 255) & (scribbles != 0)
    wrong = labelled & (reference != scribbles)
    strokes = 6 * 1  # two labels × three slices, one section each here
    assert 0 < wrong.sum() <= 3 * strokes * 2
    # each stray voxel touches its own stroke's label (an overshoot, not a random dot)
    for k, j, i in np.argwhere(wrong):
        around = scribbles[k, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2]
        assert (around == scribbles[k, j, i]).sum() > 1


def test_default_style_is_unchanged_by_the_style_stream(hippocampus):
    """The default style reproduces the plain call, so earlier figures stay comparable."""
    plain = S.simulate_scribbles(hippocampus.array, hippocampus.geometry, seed=3)
    assert np.array_equal(plain, _strokes(hippocampus.array, hippocampus.geometry, "default", seed=3))
    with pytest.raises(KeyError, match="unknown style"):
        S.style_named("sloppy")
