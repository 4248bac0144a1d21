"""Autosave and crash recovery of labels, scribbles and points."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segviewer.io import recovery
from segviewer.io.recovery import Autosaver, RecoveryStore, default_recovery_root
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.points import PointPrompt
from segviewer.model.session import Session


def new_session(path="/data/case1.nii.gz"):
    direction = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    geometry = Geometry((20, 16, 8), (0.8, 0.8, 2.5), (5.0, -3.0, 10.0), direction)
    image = ImageVolume(np.zeros(geometry.shape, np.int16), geometry, name="case1.nii.gz", path=path)
    return Session(image)


def edit(session):
    session.labels.array[2, 3:6, 4:9] = 2
    session.label_table.add(2, "Liver", (10, 20, 30))
    session.notify_changed("labels", None)
    session.scribbles.array[4, 1, 1:5] = 0
    session.scribbles.array[4, 2, 1:5] = 2
    session.notify_changed("scribbles", None)
    session.add_point(PointPrompt((1.0, 2.0, 3.0), 2, False))


def test_default_root_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(recovery.RECOVERY_ENV, str(tmp_path / "r"))
    assert default_recovery_root() == tmp_path / "r"
    monkeypatch.delenv(recovery.RECOVERY_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_recovery_root() == tmp_path / "state" / "segviewer" / "recovery"


def test_save_list_restore_round_trip(tmp_path):
    store = RecoveryStore(tmp_path)
    session = new_session()
    edit(session)
    snapshot = store.save(session)
    assert snapshot.has_labels and snapshot.has_scribbles and snapshot.has_points
    assert "case1.nii.gz" in snapshot.describe()

    fresh = new_session()
    found = store.list_for_image(fresh.image)
    assert len(found) == 1 and store.list_all()[0].folder == found[0].folder
    store.restore(fresh, found[0])
    np.testing.assert_array_equal(fresh.labels.array, session.labels.array)
    np.testing.assert_array_equal(fresh.scribbles.array, session.scribbles.array)
    assert [p.to_dict() for p in fresh.points] == [p.to_dict() for p in session.points]
    assert fresh.label_table.name_of(2) == "Liver" and fresh.label_table.colour_of(2) == (10, 20, 30)
    assert fresh.is_dirty  # restored work is unsaved work
    fresh.undo()  # the restore is undoable, layer by layer: the points first
    assert len(fresh.points) == 0
    fresh.undo()
    assert fresh.scribbles.is_empty()


def test_another_image_or_grid_finds_nothing(tmp_path):
    store = RecoveryStore(tmp_path)
    session = new_session()
    edit(session)
    store.save(session)
    assert store.list_for_image(new_session("/data/other.nii.gz").image) == []


def test_generations_replace_each_other_and_a_torn_save_keeps_the_last(tmp_path, monkeypatch):
    store = RecoveryStore(tmp_path)
    session = new_session()
    edit(session)
    first = store.save(session)
    session.labels.array[5] = 1
    second = store.save(session)
    names = sorted(p.name for p in second.folder.iterdir())
    assert all("-2." in n for n in names if n != "manifest.json"), names
    assert first.folder == second.folder

    # A crash while writing the third generation: the manifest still names the second.
    session.labels.array[6] = 1

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(recovery, "write_text_atomically", crash)
    with pytest.raises(OSError):
        store.save(session)
    monkeypatch.undo()
    snapshot = store.snapshot_for(session.image)
    assert json.loads((snapshot.folder / "manifest.json").read_text())["generation"] == 2
    labels = store.load_labels(snapshot)
    assert labels.array[5].all() and not labels.array[6].any()
    assert not any(".partial" in p.name for p in snapshot.folder.iterdir())


def test_autosaver_saves_once_per_interval_while_editing(tmp_path):
    store = RecoveryStore(tmp_path)
    session = new_session()
    saver = Autosaver(session, store, interval_s=60.0, background=True)
    try:
        assert not saver.tick(now=1e9)  # nothing edited yet
        edit(session)
        assert saver.pending
        start = saver._last_save
        assert not saver.tick(now=start + 30)  # less than a minute of editing
        assert saver.tick(now=start + 61)
        saver.wait()
        assert saver.last_error is None
        assert store.snapshot_for(session.image) is not None
        assert not saver.tick(now=start + 200)  # nothing new since
    finally:
        saver.close()


def test_flush_at_quit_and_discard_after_saving(tmp_path):
    store = RecoveryStore(tmp_path)
    session = new_session()
    saver = Autosaver(session, store, interval_s=60.0)
    edit(session)
    assert saver.flush() is not None
    assert store.snapshot_for(session.image) is not None
    # the user saves every layer: nothing is left to recover
    for layer in ("labels", "scribbles", "points"):
        session.mark_saved(layer)
    assert store.snapshot_for(session.image) is None
    assert saver.flush() is None
    saver.close()


def test_failed_write_is_reported_and_retried(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    session = new_session()
    saver = Autosaver(session, RecoveryStore(blocker / "sub"), interval_s=0.0, background=False)
    edit(session)
    saver.tick()
    assert saver.last_error is not None and saver.pending
    saver.close()
