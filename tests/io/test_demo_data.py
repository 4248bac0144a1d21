"""The bundled demo: present, licensed, readable, and its mask on its grid."""

from __future__ import annotations

import numpy as np
import pytest

from segviewer.errors import SegviewerError
from segviewer.io import demo
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map


def test_demo_image_and_labels_load_together():
    image = read_image(demo.demo_image_path())
    assert image.geometry.size == (164, 166, 26)
    label_map, message = read_label_map(demo.demo_labels_path(), image.geometry)
    assert message == ""
    assert label_map.present_values() == [1]
    assert label_map.table.name_of(1) == "Spleen"
    assert np.count_nonzero(label_map.array) > 1000


def test_demo_carries_its_licence_and_attribution():
    text = (demo.demo_dir() / "ATTRIBUTION.md").read_text()
    for required in ("CC BY-SA 4.0", "creativecommons.org/licenses/by-sa/4.0", "arXiv:1902.09063",
                     "Simpson", "spleen_2", "ivadomed/data-testing"):
        assert required in text


def test_demo_matches_the_shared_original(shared_data):
    original = shared_data / "spleen_ct" / "spleen_ct.nii.gz"
    assert demo.demo_image_path().read_bytes() == original.read_bytes()


def test_demo_dir_override_and_missing(tmp_path, monkeypatch):
    (tmp_path / demo.DEMO_IMAGE).write_bytes(b"")
    monkeypatch.setenv("SEGVIEWER_DEMO_DIR", str(tmp_path))
    assert demo.demo_dir() == tmp_path
    monkeypatch.setattr(demo, "_candidates", lambda: [tmp_path / "nowhere"])
    with pytest.raises(SegviewerError, match="demo image was not found"):
        demo.demo_dir()
