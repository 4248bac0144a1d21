"""``segviewer desktop-install`` / ``desktop-uninstall`` into a private XDG data folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from segviewer.cli import main
from segviewer.cli.desktop import LINUX_FILES, desktop_entry, refresh_caches

#: Every suffix the issue asks the file manager to offer segviewer for.
SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".seg.nrrd", ".mha", ".mhd", ".gipl")
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def entry_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def validate(desktop_file: Path) -> None:
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(desktop_file)], capture_output=True, text=True)
        assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout


def test_install_puts_launcher_icons_and_file_types_in_xdg_data_home(data_home, capsys):
    assert main(["desktop-install", "--user"]) == 0
    assert str(data_home) in capsys.readouterr().out
    desktop = data_home / "applications" / "segviewer.desktop"
    values = entry_values(desktop.read_text())
    command = Path(values["TryExec"])
    # The launcher runs a command that exists: this very segviewer, by absolute path.
    assert command.is_absolute() and command.is_file() and os.access(command, os.X_OK)
    assert values["Exec"] == f"{command} %f" and values["Icon"] == "segviewer"
    validate(desktop)
    for size in ICON_SIZES:
        assert (data_home / f"icons/hicolor/{size}x{size}/apps/segviewer.png").stat().st_size > 0
    assert (data_home / "icons/hicolor/scalable/apps/segviewer.svg").is_file()
    assert (data_home / "mime/packages/segviewer.xml").is_file()
    if shutil.which("update-mime-database"):  # the file types are in the refreshed database
        globs = (data_home / "mime" / "globs2").read_text()
        assert "image/x-nifti-gz:*.nii.gz" in globs and "image/x-nrrd-segmentation:*.seg.nrrd" in globs


def test_every_medical_suffix_has_a_type_the_launcher_entry_opens():
    namespace = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    types = ET.parse(LINUX_FILES / "segviewer-mime.xml").getroot().findall("m:mime-type", namespace)
    by_glob = {glob.get("pattern"): t.get("type") for t in types for glob in t.findall("m:glob", namespace)}
    opened = entry_values((LINUX_FILES / "segviewer.desktop").read_text())["MimeType"].split(";")
    for suffix in SUFFIXES:
        assert by_glob.get("*" + suffix) in opened, suffix


def test_uninstall_removes_exactly_what_install_added_into_an_empty_folder(data_home, capsys):
    assert main(["desktop-install", "--user"]) == 0
    assert main(["desktop-install", "--user"]) == 0  # a re-install changes nothing
    assert main(["desktop-uninstall", "--user"]) == 0
    assert "removed 11 files" in capsys.readouterr().out
    assert snapshot(data_home) == {}
    assert main(["desktop-uninstall", "--user"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_uninstall_leaves_what_was_there_before(data_home):
    applications = data_home / "applications"
    applications.mkdir()
    (applications / "other.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=other\nExec=true\nMimeType=text/plain;\n")
    other_icon = data_home / "icons/hicolor/48x48/apps/other.png"
    other_icon.parent.mkdir(parents=True)
    other_icon.write_bytes(b"not really a png")
    refresh_caches(data_home)  # as on a real desktop: the caches of what is there exist already
    before = snapshot(data_home)
    assert main(["desktop-install", "--user"]) == 0
    assert snapshot(data_home) != before
    assert main(["desktop-uninstall", "--user"]) == 0
    assert snapshot(data_home) == before


def test_a_data_folder_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    assert main(["desktop-install", "--user"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segviewer: error: cannot write the desktop files") and err.count("\n") == 1
    assert blocker.read_text() == "a file where the data folder should be"


def test_a_launcher_path_with_spaces_is_quoted(tmp_path):
    text = desktop_entry(Path("/opt/my apps/segviewer"))
    assert entry_values(text)["Exec"] == '"/opt/my apps/segviewer" %f'
    desktop = tmp_path / "segviewer.desktop"
    desktop.write_text(text)
    validate(desktop)


def test_a_failed_install_leaves_nothing_behind(data_home, capsys):
    (data_home / "icons").write_text("a file where the icon folder should be")
    before = snapshot(data_home)
    assert main(["desktop-install", "--user"]) == 2
    assert capsys.readouterr().err.startswith("segviewer: error: cannot write the desktop files")
    assert snapshot(data_home) == before
