"""View state of the application tier with no display: overlay settings, the preview layer,
and window/level (CT presets, the percentile window of MR-like images, constant images)."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.app.display import CT_PRESETS, looks_like_ct
from segviewer.app.view_state import (MIN_WINDOW_WIDTH, DisplaySettings, Overlays, PreviewLayer,
                                      checked_window, default_window, preset_name, preset_window, width_level_of,
                                      window_from_width_level)
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume


def volume(array) -> ImageVolume:
    array = np.asarray(array)
    shape = array.shape
    return ImageVolume(array, Geometry((shape[2], shape[1], shape[0]), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))


def test_display_settings_change_by_name_and_refuse_unknown_names():
    settings = DisplaySettings()
    settings.update(label_opacity=0.8, outline=True)
    assert settings.label_opacity == 0.8 and settings.outline
    with pytest.raises(AttributeError, match="label_opactiy"):
        settings.update(label_opactiy=0.2, show_points=False)
    assert settings.show_points  # nothing changed by a refused update


def test_preview_shows_its_labels_only_where_the_result_decided():
    labels = np.array([[[0, 1, 2, 2]]], np.uint8)
    assert PreviewLayer(labels, ()).shown_mask.tolist() == [[[False, True, True, True]]]
    where = np.array([[[True, True, False, True]]])
    assert PreviewLayer(labels, (), where).shown_mask.tolist() == [[[False, True, False, True]]]


@pytest.mark.parametrize("name", sorted(CT_PRESETS))
def test_ct_presets_round_trip_through_width_and_level(name):
    low, high = preset_window(name)
    assert width_level_of((low, high)) == pytest.approx(CT_PRESETS[name])
    assert window_from_width_level(*CT_PRESETS[name]) == pytest.approx((low, high))
    assert preset_name((low, high)) == name  # the toolbar shows the preset's name
    assert preset_name((low, high + 1.0)) == "Custom"


def test_ct_opens_in_the_soft_tissue_window_and_mr_in_its_percentiles():
    rng = np.random.default_rng(1)
    ct = volume(rng.integers(-1000, 1500, (4, 30, 30)).astype(np.int16))
    assert looks_like_ct(ct.intensity_range)
    assert default_window(ct, is_ct=True) == (-160.0, 240.0)
    mr = volume(rng.integers(0, 1000, (4, 30, 30)).astype(np.int16))
    low, high = default_window(mr, is_ct=False)
    assert 0 <= low < 20 and 980 < high <= 1000


def test_a_constant_image_gets_a_usable_window():
    low, high = default_window(volume(np.full((2, 3, 3), 7.0, np.float32)), is_ct=False)
    assert (low, high) == (7.0, 8.0)


def test_a_window_is_never_empty_or_inverted():
    assert checked_window(10, 5) == (10.0, 10.0 + MIN_WINDOW_WIDTH)
    assert window_from_width_level(0.0, 40.0) == pytest.approx((40.0 - MIN_WINDOW_WIDTH / 2,
                                                                40.0 + MIN_WINDOW_WIDTH / 2))


def make_session():
    from segviewer.model.session import Session

    return Session(volume(np.zeros((4, 6, 8), np.int16)))


def test_a_preview_applies_as_one_undo_step_only_where_it_decided():
    session = make_session()
    changed = []
    overlays = Overlays(preview_changed=changed.append)
    box = (slice(1, 2), slice(0, 2), slice(2, 5))
    labels = np.full((1, 2, 3), 3, np.uint8)
    where = np.ones((1, 2, 3), bool)
    where[0, 0, 0] = False
    overlays.set_preview(session, labels, box, where, "Graph cut")
    assert changed == [box] and 3 in session.label_table  # the label exists before it is applied
    step = overlays.apply_preview(session)
    assert step is not None and overlays.preview is None and changed[-1] == box
    assert session.labels.array[box].sum() == 3 * 5  # five of the six voxels
    session.undo()
    assert not session.labels.array.any()


def test_a_new_preview_redraws_the_old_and_new_boxes_and_cancel_drops_it():
    session = make_session()
    changed = []
    overlays = Overlays(preview_changed=changed.append)
    overlays.set_preview(session, np.ones((1, 1, 1), np.uint8), (slice(0, 1), slice(0, 1), slice(0, 1)))
    overlays.set_preview(session, np.ones((1, 1, 1), np.uint8), (slice(2, 3), slice(3, 4), slice(4, 5)))
    assert changed[-1] == (slice(0, 3), slice(0, 4), slice(0, 5))
    overlays.clear_preview()
    assert overlays.preview is None and overlays.apply_preview(session) is None
    assert not session.labels.array.any() and not session.is_dirty


def test_layers_of_the_wrong_shape_are_refused():
    session = make_session()
    overlays = Overlays()
    with pytest.raises(ValueError, match="does not match box"):
        overlays.set_preview(session, np.ones((2, 2, 2), np.uint8), (slice(0, 1), slice(0, 1), slice(0, 1)))
    with pytest.raises(ValueError, match="heat map"):
        overlays.set_heatmap(session, np.ones((2, 2, 2), np.float32))


def test_a_heat_map_covers_the_volume_by_default():
    session = make_session()
    changed = []
    overlays = Overlays(heatmap_changed=changed.append)
    overlays.set_heatmap(session, np.zeros((4, 6, 8), np.float32), low=0.2)
    assert overlays.heatmap.box == (slice(0, 4), slice(0, 6), slice(0, 8)) and overlays.heatmap.low == 0.2
    overlays.clear_heatmap()
    assert overlays.heatmap is None and len(changed) == 2
