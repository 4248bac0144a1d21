"""The model's events (psygnal): every listener hears the changed box, a listener that goes
away is dropped with it (weak reference), and loading labels announces the table once."""

from __future__ import annotations

import gc

import numpy as np

from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelMap, LabelTable
from segviewer.model.session import LABELS, Session


def make_session() -> Session:
    geometry = Geometry((8, 6, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return Session(ImageVolume(np.zeros(geometry.shape, np.int16), geometry))


class Listener:
    def __init__(self) -> None:
        self.heard = []

    def on_labels(self, box) -> None:
        self.heard.append(box)


def test_a_listener_hears_the_box_and_is_dropped_when_it_goes_away():
    session = make_session()
    listener = Listener()
    session.events.labels_changed.connect(listener.on_labels)
    box = (slice(1, 2), slice(2, 4), slice(3, 6))
    session.apply_layer_crop(LABELS, box, np.ones((1, 2, 3), np.uint8), "paint")
    assert listener.heard == [box]
    del listener
    gc.collect()
    assert len(session.events.labels_changed) == 0  # held weakly: gone with its owner
    session.apply_layer_crop(LABELS, box, np.full((1, 2, 3), 2, np.uint8), "paint again")  # no error


def test_the_whole_group_reaches_one_listener_and_undo_announces_its_box():
    session = make_session()
    heard = []
    session.events.connect(lambda info: heard.append((info.signal.name, info.args)))
    box = (slice(0, 1), slice(0, 1), slice(0, 2))
    session.apply_layer_crop(LABELS, box, np.ones((1, 1, 2), np.uint8), "paint")
    session.set_cursor((1, 1, 1))
    session.undo()
    names = [name for name, _ in heard]
    assert names == ["dirty_changed", "labels_changed", "cursor_changed", "labels_changed"]
    assert heard[-1][1] == (box,)


def test_loading_labels_announces_the_table_once_with_the_loaded_names():
    session = make_session()
    seen = []
    session.events.label_table_changed.connect(lambda: seen.append([e.name for e in session.label_table]))
    array = np.zeros(session.geometry.shape, np.uint8)
    array[0, 0, :2] = (3, 4)
    table = LabelTable()
    table.add(3, "liver")
    table.add(4, "spleen")
    session.replace_labels(LabelMap(array, session.geometry, table))
    assert seen == [["liver", "spleen"]]


def test_an_owner_drops_all_its_connections_at_once_and_others_keep_theirs(tmp_path):
    from segviewer.io.recovery import Autosaver, RecoveryStore
    from segviewer.model.signals import Connections

    session = make_session()
    other = Listener()
    session.events.labels_changed.connect(other.on_labels)
    owner, connections = Listener(), Connections()
    connections.connect(session.events.labels_changed, owner.on_labels)
    connections.connect(session.events.scribbles_changed, owner.on_labels)
    assert len(connections) == 2
    connections.disconnect_all()
    box = (slice(0, 1), slice(0, 1), slice(0, 1))
    session.apply_layer_crop(LABELS, box, np.ones((1, 1, 1), np.uint8), "paint")
    assert owner.heard == [] and other.heard == [box]
    assert len(connections) == 0

    # the autosave's close drops every listener it added, and only those
    listeners = {name: len(getattr(session.events, name)) for name in
                 ("labels_changed", "scribbles_changed", "points_changed", "dirty_changed")}
    autosave = Autosaver(session, RecoveryStore(tmp_path), background=False)
    assert all(len(getattr(session.events, name)) == count + 1 for name, count in listeners.items())
    autosave.close()
    assert {name: len(getattr(session.events, name)) for name in listeners} == listeners
