"""View state of the application tier with no display: overlay settings, the preview layer,
and window/level (CT presets, the percentile window of MR-like images, constant images)."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.app.display import CT_PRESETS, looks_like_ct
from segviewer.app.view_state import (MIN_WINDOW_WIDTH, DisplaySettings, PreviewLayer, checked_window,
                                      default_window, preset_window, width_level_of,
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
