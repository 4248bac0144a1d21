"""Linked zoom and pan (View > Link zoom and pan), driven with real wheel and drag events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from segviewer.views.linked_views import mm_per_pixel, view_centre_index

from viewer_helpers import drag, wheel

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SLICE_VIEWS = ("axial", "sagittal", "coronal")


def test_zoom_and_pan_follow_in_the_other_views_only_when_linked(spleen_window, qtbot):
    window = spleen_window
    axial, sagittal, coronal = (window.views[key] for key in SLICE_VIEWS)
    before = {key: mm_per_pixel(window.views[key]) for key in SLICE_VIEWS}
    wheel(axial, 2, CTRL)  # not linked: only the axial view zooms
    assert mm_per_pixel(axial) < before["axial"] * 0.8
    assert mm_per_pixel(sagittal) == pytest.approx(before["sagittal"])

    window.link_views_action.trigger()
    assert window.controller.display.link_views
    for view in (sagittal, coronal):  # switching on aligns the others to the axial view
        assert mm_per_pixel(view) == pytest.approx(mm_per_pixel(axial), rel=1e-3)

    wheel(sagittal, 3, CTRL)
    scale = mm_per_pixel(sagittal)
    assert scale < before["sagittal"] * 0.5
    for view in (axial, coronal):
        assert mm_per_pixel(view) == pytest.approx(scale, rel=1e-3)

    centre = axial.graphics.viewport().rect().center()
    drag(qtbot, axial, centre, centre + QPoint(60, 40), Qt.MouseButton.MiddleButton)
    lead = view_centre_index(axial)
    # The sagittal view shares j (rows and columns of the axial view: i and j), the coronal view i.
    assert view_centre_index(sagittal)[1] == pytest.approx(lead[1], abs=0.05)
    assert view_centre_index(coronal)[0] == pytest.approx(lead[0], abs=0.05)
    for view in (sagittal, coronal):
        assert mm_per_pixel(view) == pytest.approx(mm_per_pixel(axial), rel=1e-3)

    window.link_views_action.trigger()  # off again: the others stay where they are
    coronal_scale = mm_per_pixel(coronal)
    wheel(axial, -2, CTRL)
    assert mm_per_pixel(coronal) == pytest.approx(coronal_scale)


def test_link_is_saved_with_the_display_options(make_window, spleen_paths, settings):
    window = make_window(*spleen_paths)
    window.link_views_action.trigger()
    window.save_settings()
    second = make_window(load=False, window_settings=settings)
    assert second.link_views_action.isChecked() and second.controller.display.link_views
