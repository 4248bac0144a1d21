"""The app's saves use the same guard as the command line: the image and the files of the
other layers of the session are never overwritten, and a picture is complete or absent."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.errors import SegviewerError
from segviewer.io.images import image_to_sitk
from segviewer.model.geometry import Geometry

from viewer_helpers import wait_idle


@pytest.fixture
def loaded_window(make_window, tmp_path, qtbot):
    """A window showing a small image with scribbles loaded from a file."""
    geometry = Geometry((16, 16, 8), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    image = np.random.default_rng(2).normal(0, 1, geometry.shape).astype(np.float32)
    scribbles = np.full(geometry.shape, 255, np.uint8)
    scribbles[4, 3:9, 5] = 1
    paths = tmp_path / "image.nii.gz", tmp_path / "strokes.nii.gz"
    sitk.WriteImage(image_to_sitk(image, geometry), str(paths[0]))
    sitk.WriteImage(image_to_sitk(scribbles, geometry), str(paths[1]))
    window = make_window(load=False, size=(640, 480))
    window.load(paths[0], None, paths[1], None, block=True)
    wait_idle(qtbot, window)
    return window, paths


def test_saving_labels_onto_the_loaded_scribbles_file_is_refused(loaded_window):
    window, (image, strokes) = loaded_window
    before = strokes.read_bytes()
    errors = []
    window.show_error = lambda title, text: errors.append(text)
    assert not window._save_layer("labels", strokes)
    assert errors and "is the input scribbles" in errors[0]
    assert strokes.read_bytes() == before
    assert window._save_layer("scribbles", strokes)  # the scribbles themselves may go back there


def test_exporting_a_screenshot_onto_the_image_is_refused(loaded_window):
    window, (image, strokes) = loaded_window
    before = image.read_bytes(), strokes.read_bytes()
    for target in (image, strokes):
        with pytest.raises(SegviewerError, match="refusing to overwrite"):
            window.export_screenshot(target)
    with pytest.raises(SegviewerError, match="cannot save a picture as '.gz'"):
        window.export_screenshot(image.with_name("other.nii.gz"))
    with pytest.raises(SegviewerError, match="cannot save a picture without a suffix"):
        window.export_screenshot(image.with_name("picture"))
    assert (image.read_bytes(), strokes.read_bytes()) == before
    assert not [p for p in image.parent.iterdir() if "other" in p.name or ".partial" in p.name]


def test_exporting_the_label_table_onto_a_layer_file_is_refused(loaded_window):
    window, (image, strokes) = loaded_window
    before = image.read_bytes(), strokes.read_bytes()
    for target in (image, strokes):  # a .nii.gz picked by mistake in the export dialog
        assert not window.label_panel.export_table(target)
    assert (image.read_bytes(), strokes.read_bytes()) == before
    assert window.label_panel.export_table(image.with_name("table.label"))
