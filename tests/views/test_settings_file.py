"""SEGVIEWER_SETTINGS pointing at something that is not a regular file keeps nothing and
replaces nothing (Qt saves settings by renaming a new file over the old path)."""

import os
import stat

from segviewer.views.app import settings_from_environment


def test_settings_pointed_at_a_pipe_leave_the_pipe_alone(qapp, tmp_path, monkeypatch):
    pipe = tmp_path / "not-a-file"
    os.mkfifo(pipe)
    monkeypatch.setenv("SEGVIEWER_SETTINGS", str(pipe))
    settings = settings_from_environment()
    settings.setValue("recent/files", ["a.nii.gz"])
    settings.sync()
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_settings_in_a_file_are_kept(qapp, tmp_path, monkeypatch):
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("SEGVIEWER_SETTINGS", str(path))
    settings = settings_from_environment()
    settings.setValue("recent/files", ["a.nii.gz"])
    settings.sync()
    assert "a.nii.gz" in path.read_text()
