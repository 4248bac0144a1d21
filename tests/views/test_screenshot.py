"""Screenshots: the whole window with the 3D view, from the GUI and from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from segviewer.model.session import LABELS
from segviewer.views.screenshot import qimage_to_array

from viewer_helpers import pane_pixels, wait_idle, widget_point

pytestmark = pytest.mark.gui


def assert_not_blank(pixels: np.ndarray, what: str) -> None:
    assert pixels.size, what
    assert pixels.std() > 12, f"{what} looks blank (std {pixels.std():.1f})"
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 40, f"{what} has only {len(colours)} colours"


def reddish(pixel) -> bool:
    r, g, b = (int(v) for v in pixel)
    return r > g + 50 and r > b + 50


def greenish(pixel) -> bool:
    r, g, b = (int(v) for v in pixel)
    return g > r + 50 and g > b + 50


def test_window_screenshot_shows_four_panes_and_label_colours(spleen_window, qtbot):
    window = spleen_window
    session = window.controller.session
    # A second label (green) painted around the cursor: it must show in every pane.
    i, j, k = session.cursor
    i2, j2 = i + 25, j - 25
    box = (slice(k - 3, k + 4), slice(j2 - 6, j2 + 7), slice(i2 - 6, i2 + 7))
    session.apply_layer_crop(LABELS, box, np.full((7, 13, 13), 2, np.uint8), "paint")
    wait_idle(qtbot, window)
    window.controller.update_display(label_opacity=0.8, show_crosshair=False)
    pixmap = window.grab_with_3d()
    for key, view in window.views.items():
        pane = view.stack.currentWidget() if key == "3d" else view.graphics
        assert_not_blank(pane_pixels(pixmap, pane, window), key)
    for key in ("axial", "sagittal", "coronal"):
        view = window.views[key]
        for index, check, name in (((i, j, k), reddish, "spleen"), ((i2, j2, k), greenish, "label 2"),
                                   ((2, 2, k), None, "outside the labels")):
            view.controller.set_cursor(index)
            image = qimage_to_array(window.grab().toImage())
            point = view.graphics.viewport().mapTo(window, widget_point(view, index))
            pixel = image[point.y(), point.x()]
            if check is None:
                assert not reddish(pixel) and not greenish(pixel), (key, name, pixel)
            else:
                assert check(pixel), (key, name, pixel)
    if window.view3d.scene is not None:
        pane = pane_pixels(window.grab_with_3d(), window.view3d.stack.currentWidget(), window)
        flat = pane.reshape(-1, 3).astype(int)
        red = (flat[:, 0] > flat[:, 1] + 50) & (flat[:, 0] > flat[:, 2] + 50)
        green = (flat[:, 1] > flat[:, 0] + 50) & (flat[:, 1] > flat[:, 2] + 50)
        assert red.mean() > 0.02, "spleen surface missing in 3D"
        assert green.sum() > 30, "label 2 surface missing in 3D"


def test_screenshot_command(tmp_path, spleen_paths, app, capsys):
    from segviewer.cli import main

    out = tmp_path / "shot.png"
    image, labels = spleen_paths
    assert main(["screenshot", str(image), "--labels", str(labels), "--slice-mm", "330", "330", "60",
                 "--size", "1000x700", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    picture = qimage_to_array(QImage(str(out)))
    # the requested size, or larger when the docks need more room
    assert picture.shape[0] >= 700 and picture.shape[1] >= 1000


def test_screenshot_panes_are_not_blank(tmp_path, spleen_paths, app):
    from segviewer.views.screenshot import take_screenshot

    image, labels = spleen_paths
    shot = take_screenshot(image, tmp_path / "shot.png", labels, size=(1100, 750))
    picture = qimage_to_array(QImage(str(shot.path)))
    assert sorted(shot.panes) == ["3d", "axial", "coronal", "sagittal"]
    for key, (x, y, width, height) in shot.panes.items():
        pane = picture[y + 24: y + height, x: x + width]  # below the view's title bar
        assert_not_blank(pane, key)
        if key == "3d" and shot.view3d_mode != "off":
            flat = pane.reshape(-1, 3).astype(int)
            red = (flat[:, 0] > flat[:, 1] + 50) & (flat[:, 0] > flat[:, 2] + 50)
            assert red.mean() > 0.03, "spleen surface missing from the 3D pane"


def test_screenshot_command_outside_the_image_is_a_clear_error(tmp_path, spleen_paths, app, capsys):
    from segviewer.cli import main

    code = main(["screenshot", str(spleen_paths[0]), "--slice-mm", "0", "0", "-999", "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert "outside the image" in capsys.readouterr().err


def test_screenshot_without_a_display(tmp_path, spleen_paths):
    """No X server at all: Qt off-screen, the 3D scene rendered by an off-screen VTK window."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "headless.png"
    image, labels = spleen_paths
    result = subprocess.run([sys.executable, "-m", "segviewer", "screenshot", str(image), "--labels", str(labels),
                             "--layout", "3d", "--size", "800x600", "-o", str(out)],
                            env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    picture = qimage_to_array(QImage(str(out)))
    body = picture[80:-40].reshape(-1, 3).astype(int)
    red = (body[:, 0] > body[:, 1] + 50) & (body[:, 0] > body[:, 2] + 50)
    assert red.mean() > 0.02, "the spleen surface is missing from the off-screen 3D picture"
