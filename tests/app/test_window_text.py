"""The main window's texts about the session, computed with no display: title with the unsaved
marker, status-bar fields at the cursor, Undo / Redo entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segviewer import __version__
from segviewer.app.window_text import STATUS_FIELDS, status_fields, undo_state, window_title
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.session import LABELS, Session


def make_session() -> Session:
    array = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    geometry = Geometry((5, 4, 3), (0.5, 0.5, 2.0), (10.0, -20.0, 30.0))
    return Session(ImageVolume(array, geometry, name="ct.nii.gz"))


def test_no_image_shows_the_program_and_empty_fields():
    assert window_title(None) == (f"segviewer {__version__}", False)
    assert status_fields(None) == dict.fromkeys(STATUS_FIELDS, "")
    state = undo_state(None)
    assert not state.can_undo and not state.can_redo and state.undo_text == "&Undo"


def test_title_names_the_image_and_labels_file_and_marks_unsaved_work():
    session = make_session()
    assert window_title(session) == ("ct.nii.gz[*] — segviewer", False)
    session.labels_path = Path("/data/ct_labels.nii.gz")
    session.apply_layer_crop(LABELS, (slice(0, 1), slice(0, 1), slice(0, 1)), np.ones((1, 1, 1), np.uint8),
                             "paint")
    assert window_title(session) == ("ct.nii.gz — ct_labels.nii.gz[*] — segviewer", True)


def test_status_fields_at_the_cursor():
    session = make_session()
    session.set_cursor((2, 1, 1))
    session.apply_layer_crop(LABELS, (slice(1, 2), slice(1, 2), slice(2, 3)), np.ones((1, 1, 1), np.uint8),
                             "paint")
    fields = status_fields(session)
    assert fields["voxel"] == "Voxel (2, 1, 1)"
    assert fields["world"] == "LPS (11.0, -19.5, 32.0) mm"
    assert fields["value"] == "Value 27"  # array[1, 1, 2] = 20 + 5 + 2
    assert fields["label"].startswith("Label 1: ")


def test_undo_and_redo_entries_name_the_step():
    session = make_session()
    session.apply_layer_crop(LABELS, (slice(0, 1), slice(0, 1), slice(0, 1)), np.ones((1, 1, 1), np.uint8),
                             "paint")
    state = undo_state(session)
    assert state.can_undo and state.undo_text == "&Undo paint" and not state.can_redo
    session.undo()
    state = undo_state(session)
    assert not state.can_undo and state.can_redo and state.redo_text == "&Redo paint"
