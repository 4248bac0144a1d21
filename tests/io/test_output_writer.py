"""The one output writer (``segviewer.io.atomic``): complete or absent, never over an input.

Full disks are simulated without root: the writing process runs with ``RLIMIT_FSIZE``
lowered and ``SIGXFSZ`` ignored, so the kernel fails ``write()`` with ``EFBIG`` exactly as a
full disk fails it with ``ENOSPC`` (ITK's NIfTI and GIPL writers then print
"NWAD: wrote only N of M bytes" and report success).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.io.atomic import (STALE_AFTER_S, OutputGuard, clean_stale_temporaries, data_files_of,
                                 input_guard, write_atomically, write_text_atomically)
from segviewer.io.images import image_to_sitk, read_image, write_sitk_image
from segviewer.io.labels import write_label_map
from segviewer.io.paths import WritePathError
from segviewer.model.geometry import Geometry
from segviewer.model.labels import LabelMap

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every format an image, a label map or a scribble file can be saved as.
FORMATS = (".nii", ".nii.gz", ".nrrd", ".seg.nrrd", ".nhdr", ".mha", ".mhd", ".gipl")


def _geometry() -> Geometry:
    return Geometry((60, 50, 40), (0.8, 0.8, 2.0), (-10.0, 5.0, 3.0), np.eye(3))


def _noise(seed: int) -> np.ndarray:
    """An int16 volume that compresses badly (so every format writes ~240 kB)."""
    return np.random.default_rng(seed).integers(-1000, 1000, _geometry().shape).astype(np.int16)


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` (partials too, hidden or not) by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} | {
        p.name + "/": b"" for p in folder.iterdir() if p.is_dir()}


def run_python(code: str, *, disk_full_at: str | None = None, limit: int = 0,
               timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; from the moment a file whose name contains
    ``disk_full_at`` is created for writing, no file may grow beyond ``limit`` bytes."""
    prelude = textwrap.dedent(f"""
        import os, resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        MARKER = {disk_full_at!r}
        def _fill_disk_when_creating(create, is_creation=lambda *args: True):
            def wrapped(path, *args, **kwargs):
                result = create(path, *args, **kwargs)
                if MARKER is not None and MARKER in os.fspath(path) and is_creation(*args):
                    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
                return result
            return wrapped
        os.open = _fill_disk_when_creating(os.open, lambda flags, *rest: flags & os.O_CREAT)
        os.mkdir = _fill_disk_when_creating(os.mkdir)  # a staging folder for .mhd / .nhdr
    """)
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=environment, cwd=PROJECT_ROOT)


def write_image_code(target: Path, seed: int) -> str:
    return f"""
        import numpy as np
        from segviewer.errors import SegviewerError
        from segviewer.io.images import image_to_sitk, write_sitk_image
        from segviewer.model.geometry import Geometry
        geometry = Geometry((60, 50, 40), (0.8, 0.8, 2.0), (-10.0, 5.0, 3.0), np.eye(3))
        array = np.random.default_rng({seed}).integers(-1000, 1000, geometry.shape).astype(np.int16)
        try:
            write_sitk_image({str(target)!r}, image_to_sitk(array, geometry))
        except SegviewerError as error:
            print("refused:", error)
            sys.exit(2)
        print("written")
    """


# -- full disk, every image format ---------------------------------------------------------------
@pytest.mark.parametrize("suffix", FORMATS)
def test_full_disk_keeps_the_previous_file_of_every_format(tmp_path, suffix):
    target = tmp_path / f"image{suffix}"
    write_sitk_image(target, image_to_sitk(_noise(1), _geometry()))
    before = files_in(tmp_path)

    result = run_python(write_image_code(target, seed=2), disk_full_at="image", limit=20000)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"refused: {target}: could not be written")
    assert files_in(tmp_path) == before  # the old file (and data file) byte for byte; no partials
    np.testing.assert_array_equal(read_image(target).array, _noise(1))


@pytest.mark.parametrize("suffix", (".nii", ".nii.gz", ".gipl"))
def test_completely_full_disk_leaves_no_empty_file(tmp_path, suffix):
    """ITK's NIfTI/GIPL writers report success on a 100 % full disk; before, a 0-byte
    file replaced the target (or appeared where there was none)."""
    target = tmp_path / f"new{suffix}"
    result = run_python(write_image_code(target, seed=3), disk_full_at="new", limit=0)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is the disk full?" in result.stdout or "File too large" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_full_disk_on_the_command_line_is_one_line_and_exit_2(tmp_path, small_nifti_path):
    target = tmp_path / "out.nii"
    target.write_bytes(b"previous good file")
    result = run_python(f"""
        from segviewer.cli import main
        sys.exit(main(["convert", {str(small_nifti_path)!r}, {str(target)!r}]))
    """, disk_full_at="out.nii", limit=4096)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()  # not ITK's "NWAD: wrote only ..." besides
    assert line.startswith(f"segviewer: error: {target}: could not be written") and "disk full" in line
    assert target.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii"]


# -- verification, without a subprocess ----------------------------------------------------------
def test_a_short_nifti_is_never_renamed_over_the_target(tmp_path):
    """What ITK does on a full disk (wrote only N of M bytes, success) is caught before the rename."""
    target = tmp_path / "labels.nii"
    target.write_bytes(b"old")

    def short_write(path: Path) -> None:
        sitk.WriteImage(image_to_sitk(_noise(4), _geometry()), str(path))
        with open(path, "r+b") as handle:
            handle.truncate(10000)

    with pytest.raises(WritePathError, match="incomplete write: it holds 10000 bytes"):
        write_atomically(target, short_write)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("name", ["x.json", "x.png", "x.pt", "x.nii.gz"])
def test_an_empty_or_damaged_side_output_is_refused(tmp_path, name):
    target = tmp_path / name
    with pytest.raises(WritePathError, match="is the disk full"):
        write_atomically(target, lambda path: path.write_bytes(b""))
    with pytest.raises(WritePathError, match="is the disk full"):
        write_atomically(target, lambda path: path.write_bytes(b"{\"trunc"))
    assert list(tmp_path.iterdir()) == []


# -- modes -----------------------------------------------------------------------------------
def test_new_files_get_the_umask_default_and_replaced_files_keep_their_mode(tmp_path):
    old_umask = os.umask(0o022)
    try:
        points = tmp_path / "points.json"
        write_text_atomically(points, "{}\n")
        assert points.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 before
        os.chmod(points, 0o664)
        write_text_atomically(points, "[]\n")
        assert points.stat().st_mode & 0o777 == 0o664 and points.read_text() == "[]\n"
        labels = tmp_path / "labels.mhd"
        write_label_map(labels, LabelMap.empty(_geometry()), _geometry())
        os.chmod(labels, 0o640)
        write_label_map(labels, LabelMap.empty(_geometry()), _geometry())
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        assert modes["labels.mhd"] == 0o640
        assert [m for n, m in modes.items() if n.endswith(".zraw")] == [0o640]
        assert modes["labels.labels.json"] == 0o644
    finally:
        os.umask(old_umask)


# -- two-file formats ------------------------------------------------------------------------
def test_rewriting_an_mhd_never_touches_the_data_file_the_old_header_uses(tmp_path):
    """The new data goes under a new name: the old data file is never overwritten (a reader
    that read the old header gets the old voxels or, once it is removed, an error - never
    the new header's voxels under the old header or the reverse)."""
    target = tmp_path / "labels.mhd"
    first = LabelMap(np.ones(_geometry().shape, np.uint8), _geometry())
    write_label_map(target, first, _geometry(), write_table=False)
    old_header = target.read_bytes()
    (old_data,) = data_files_of(target)
    old_copy = tmp_path / "reader_holds_old_header.mhd"
    old_copy.write_bytes(old_header)  # what a concurrent reader already read
    write_label_map(target, LabelMap(np.full(_geometry().shape, 2, np.uint8), _geometry()),
                    _geometry(), write_table=False)
    (new_data,) = data_files_of(target)
    assert new_data != old_data
    assert np.all(sitk.GetArrayFromImage(sitk.ReadImage(str(target))) == 2)
    # our own previous data file is removed after the commit; nothing else is left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, new_data.name, old_copy.name])
    # a writer killed between its two renames left a data file no header names: removed
    # by the next write once it is old
    orphan = tmp_path / "labels.0badc0de.zraw"
    orphan.write_bytes(b"orphan")
    os.utime(orphan, (0, 0))
    write_label_map(target, first, _geometry(), write_table=False)
    assert not orphan.exists() and len(list(tmp_path.glob("labels.*.zraw"))) == 1


def test_converting_an_mhd_whose_data_file_is_out_zraw_to_out_mhd(tmp_path, capsys):
    """The issue's case: src.mhd's data file is named out.zraw; writing out.mhd used to
    write out.zraw too - over the source's voxels."""
    from segviewer.cli import main

    src = tmp_path / "src.mhd"
    sitk.WriteImage(image_to_sitk(_noise(5), _geometry()), str(tmp_path / "out.mhd"), True)
    (tmp_path / "out.mhd").rename(src)  # src.mhd now names out.zraw
    assert [p.name for p in data_files_of(src)] == ["out.zraw"]
    data_before = (tmp_path / "out.zraw").read_bytes()

    assert main(["convert", str(src), str(tmp_path / "out.mhd")]) == 0
    assert (tmp_path / "out.zraw").read_bytes() == data_before
    np.testing.assert_array_equal(read_image(tmp_path / "out.mhd").array, _noise(5))
    np.testing.assert_array_equal(read_image(src).array, _noise(5))


def test_the_data_file_of_an_input_header_is_protected(tmp_path):
    header = tmp_path / "input.nhdr"
    sitk.WriteImage(image_to_sitk(_noise(6), _geometry()), str(header), True)
    (data,) = data_files_of(header)
    before = data.read_bytes()
    guard = input_guard(image=header)
    with pytest.raises(WritePathError, match=f"is the data file of {header.name}"):
        write_text_atomically(data, "{}", guard=guard)
    assert data.read_bytes() == before


def test_a_header_listing_its_data_files_protects_and_counts_each(tmp_path):
    """One reading of a detached header names its data files for the guard and for the
    truncation check: a LIST of slice files, a printf pattern (not nameable), LOCAL."""
    from segviewer.errors import ImageReadError
    from segviewer.io.rawdata import check_data_present

    for name in ("s0.raw", "s1.raw"):
        (tmp_path / name).write_bytes(bytes(2 * 3 * 4))  # one 2x3 slice of int32 each
    header = tmp_path / "listed.mhd"
    header.write_text("ObjectType = Image\nNDims = 3\nDimSize = 2 3 2\nElementType = MET_INT\n"
                      "ElementDataFile = LIST\ns0.raw\ns1.raw\n")
    assert [p.name for p in data_files_of(header)] == ["s0.raw", "s1.raw"]
    with pytest.raises(WritePathError, match="is the data file of listed.mhd"):
        input_guard(image=header).check(tmp_path / "s1.raw")
    check_data_present(header, 2 * 3 * 2, 4)  # both slices are there
    with pytest.raises(ImageReadError, match="truncated"):
        check_data_present(header, 2 * 3 * 3, 4)  # a third slice is declared but missing
    pattern = tmp_path / "pattern.nhdr"
    pattern.write_text("NRRD0004\ntype: int\ndimension: 3\nsizes: 2 3 2\nencoding: raw\n"
                       "data file: s%d.raw 0 1 1\n")
    assert data_files_of(pattern) == []
    local = tmp_path / "local.mhd"
    local.write_text("NDims = 3\nElementDataFile = LOCAL\n")
    assert data_files_of(local) == []


# -- the guard ---------------------------------------------------------------------------------
def test_the_guard_sees_through_links_and_refuses_folders(tmp_path):
    source = tmp_path / "scribbles.nii.gz"
    source.write_bytes(b"scribbles")
    (tmp_path / "link.nii.gz").symlink_to(source)
    os.link(source, tmp_path / "hard.nii.gz")
    guard = input_guard(scribbles=source)
    for target in ("link.nii.gz", "hard.nii.gz", "scribbles.nii.gz", "scribbles.scribbles.json"):
        with pytest.raises(WritePathError, match="the input scribbles|sidecar of the input scribbles"):
            write_text_atomically(tmp_path / target, "x", guard=guard)
    with pytest.raises(WritePathError, match="is a folder"):
        write_text_atomically(tmp_path, "x", guard=guard)
    assert source.read_bytes() == b"scribbles"
    assert OutputGuard().merged(guard).role_of(source) == "the input scribbles"


def test_two_outputs_of_one_command_may_not_be_one_file(tmp_path):
    with pytest.raises(WritePathError, match="given for both the label map and the method's info"):
        OutputGuard().check_all([(tmp_path / "a.nii.gz", "the label map"),
                                 (tmp_path / "a.nii.gz", "the method's info")])


# -- stale temporaries and kill -9 -----------------------------------------------------------
def test_stale_temporaries_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    stale_file = tmp_path / ".labels.nii.gz.abcd1234.partial.nii.gz"
    stale_folder = tmp_path / ".labels.mhd.0123abcd.partial"
    fresh = tmp_path / ".other.nii.gz.feedbeef.partial.nii.gz"  # another writer, still at work
    stale_file.write_bytes(b"half")
    stale_folder.mkdir()
    (stale_folder / "labels.0123abcd.zraw").write_bytes(b"half")
    fresh.write_bytes(b"busy")
    old = time.time() - STALE_AFTER_S - 60
    for path in (stale_file, stale_folder):
        os.utime(path, (old, old))
    write_text_atomically(tmp_path / "points.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "points.json"]
    assert clean_stale_temporaries(tmp_path, older_than_s=0) == [fresh]


def test_kill_9_in_the_middle_of_a_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "big.nii"
    target.write_bytes(b"the previous good file")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np
        from segviewer.io.atomic import write_atomically
        data = np.random.default_rng(0).integers(0, 255, 1 << 20, dtype=np.uint8).tobytes()
        def slow_write(path):
            with open(path, "wb") as handle:
                for _ in range(10000):  # ~10 GB: killed long before the end
                    handle.write(data)
                    handle.flush()
        write_atomically({str(target)!r}, slow_write)
    """)], env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        deadline = time.monotonic() + 60
        partial = []
        while time.monotonic() < deadline and not partial:
            partial = [p for p in tmp_path.iterdir() if ".partial" in p.name and p.stat().st_size > 4 << 20]
            time.sleep(0.02)
        assert partial, "the writer never started"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert target.read_bytes() == b"the previous good file"
    for path in partial:  # as if an hour had passed: the next write cleans up
        os.utime(path, (0, 0))
    write_text_atomically(tmp_path / "next.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.nii", "next.json"]


@pytest.fixture
def small_nifti_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "small.nii.gz"
    sitk.WriteImage(image_to_sitk(_noise(7), _geometry()), str(path), True)
    return path


def test_the_file_and_then_its_folder_are_synced_to_disk(tmp_path, monkeypatch):
    """``fsync`` of the written file before the rename and of the folder after it, so a
    power cut cannot leave the new name pointing at data still in the page cache."""
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(Path(os.readlink(f"/proc/self/fd/{descriptor}")))
        return real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    target = tmp_path / "labels.mhd"
    write_label_map(target, LabelMap.empty(_geometry()), _geometry(), write_table=False)
    assert [p.suffix for p in synced[:2]] == [".mhd", ".zraw"]  # in the staging folder, before the renames
    assert synced[-1] == tmp_path and len(synced) == 3


def test_a_device_or_pipe_is_never_replaced_by_a_file(tmp_path):
    """Renaming over ``/dev/null`` (as root) or a FIFO would replace it with a regular file."""
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    with pytest.raises(WritePathError, match="is not a regular file"):
        write_text_atomically(pipe, "{}\n")
    assert stat.S_ISFIFO(pipe.stat().st_mode) and sorted(tmp_path.iterdir()) == [pipe]
