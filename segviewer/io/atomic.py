"""The one output writer: every file segviewer writes goes through :func:`write_atomically`.

What it promises (docs/reliability.md lists the tests that hold each promise):

- **Inputs are never touched.** A command (or a GUI session) builds an :class:`OutputGuard`
  from its inputs once and passes it to every write; the guard also covers the data files
  that ``.mhd`` / ``.nhdr`` headers name, and (:meth:`OutputGuard.protect_image`) every
  file an image was read from: a DICOM series' slices too. Nothing is protected behind the
  caller's back: a reader records where a volume came from in the volume itself. A write
  onto a protected path is refused before anything is created.
- **An output is complete or absent.** The content goes to a temporary beside the target
  (``.NAME.XXXXXXXX.partial…``), is flushed to disk (``fsync``) and checked (size, and for
  images that the header re-reads and every declared voxel byte is present: ITK's NIfTI
  and GIPL writers report success on a full disk), and only then renamed over the target;
  the folder is synced after the rename. Any failure leaves the previous file as it was and
  no temporary behind, and raises :class:`WritePathError` with one line for the user.
- **Two-file formats** (``.mhd`` + data, ``.nhdr`` + data) write their data under a new,
  unique name (``NAME.<8 hex>.zraw``) that the new header references; the header's rename
  is the commit point. A reader therefore sees the old header with the old data or the new
  header with the new data, never a mix, and no data file another header references is
  overwritten. Our own previous data file is removed after the commit.
- **Modes**: a replaced file keeps its permission bits; a new file gets the umask's default.
- **Stale temporaries** that a killed writer left (older than :data:`STALE_AFTER_S`) are
  removed when the folder is written to again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator

from segviewer.errors import ImageReadError
from segviewer.io.paths import (IMAGE_SUFFIXES, LABEL_WRITE_SUFFIXES, WritePathError, image_suffix,
                                sidecar_path)
from segviewer.io.rawdata import check_nifti_complete, header_data_files

#: Temporaries older than this (seconds) were left by a killed writer and are removed.
STALE_AFTER_S = 3600.0

#: Formats whose header names a separate data file (written under a unique name).
MULTI_FILE_SUFFIXES = (".mhd", ".nhdr")

#: What native (ITK) writers print on a failed write, which the one-line error already says.
_NATIVE_NOISE = ("NWAD: wrote only", "M_WriteElementsData", "file stream is fail after write")

_TEMPORARY_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.partial(\..*)?$")
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_GIPL_HEADER_BYTES = 256


# -- what must never be overwritten ---------------------------------------------------------
class OutputGuard:
    """The files no output may land on: the inputs of one command or one GUI session.

    ``guard.protect(path, role)`` adds a file (with the data files its ``.mhd`` / ``.nhdr``
    header names); :meth:`check` refuses a target that is one of them (same path after
    resolving links, or the same file through a hard link) or a folder.
    """

    def __init__(self, *paths: str | Path | None, role: str = "an input of this command") -> None:
        self._roles: dict[Path, str] = {}
        self._inodes: dict[tuple[int, int], Path] = {}
        self.protect(*paths, role=role)

    def protect(self, *paths: str | Path | None, role: str = "an input of this command") -> "OutputGuard":
        """Protect ``paths`` (None is skipped); returns the guard for chaining."""
        for path in paths:
            if path is None:
                continue
            path = Path(path)
            for item in (path, *data_files_of(path)):
                self._add(item, role if item == path else f"the data file of {path.name}")
        return self

    def _add(self, path: Path, role: str) -> None:
        try:
            resolved = path.resolve()
        except OSError:  # pragma: no cover - unresolvable: nothing could be overwritten there
            return
        self._roles.setdefault(resolved, role)
        with contextlib.suppress(OSError):
            status = resolved.stat()
            self._inodes.setdefault((status.st_dev, status.st_ino), resolved)

    def role_of(self, target: str | Path) -> str | None:
        """What ``target`` is to this guard ("the scribbles" ...), or None when unprotected."""
        resolved = Path(target).resolve()
        if resolved in self._roles:
            return self._roles[resolved]
        with contextlib.suppress(OSError):
            status = resolved.stat()
            known = self._inodes.get((status.st_dev, status.st_ino))
            if known is not None:
                return self._roles[known]
        return None

    def __contains__(self, target: object) -> bool:
        return isinstance(target, (str, Path)) and self.role_of(target) is not None

    def __iter__(self) -> Iterator[Path]:
        return iter(list(self._roles))

    def merged(self, *others: "OutputGuard | Iterable[str | Path | None] | None") -> "OutputGuard":
        """A new guard protecting this guard's files and ``others``'."""
        combined = OutputGuard()
        for other in (self, *others):
            if isinstance(other, OutputGuard):
                combined._roles.update({k: v for k, v in other._roles.items() if k not in combined._roles})
                combined._inodes.update({k: v for k, v in other._inodes.items() if k not in combined._inodes})
            elif other is not None:
                combined.protect(*other)
        return combined

    def protect_image(self, volume) -> "OutputGuard":
        """Protect the files an :class:`~segviewer.model.image.ImageVolume` was read from (its
        path; for a DICOM series every file of it, ``metadata["source_files"]``) as the
        source image; None is skipped. Returns the guard for chaining."""
        if volume is not None:
            self.protect(volume.path, *volume.metadata.get("source_files", ()), role="the source image")
        return self

    def check(self, target: str | Path, what: str = "the output") -> Path:
        """Refuse ``target`` when it is a folder, a device or pipe, or protected."""
        target = Path(target)
        if target.is_dir():
            raise WritePathError(f"{target}: is a folder; give a file name to save {what} to")
        if target.exists() and not target.is_file():  # the rename would replace /dev/null itself
            raise WritePathError(f"{target}: is not a regular file (a device, pipe or socket); "
                                 f"give a file name to save {what} to")
        role = self.role_of(target)
        if role is not None:
            raise WritePathError(f"{target}: is {role}; refusing to overwrite it with {what}")
        return target


    def check_all(self, outputs: Iterable[tuple[str | Path | None, str]]) -> None:
        """:meth:`check` each ``(target, what)`` of a command (None skipped), and refuse two
        outputs on one file - the second would silently replace the first."""
        seen: dict[Path, str] = {}
        for target, what in outputs:
            if target is None:
                continue
            self.check(target, what)
            key = Path(target).resolve()
            if key in seen:
                raise WritePathError(f"{target}: given for both {seen[key]} and {what}")
            seen[key] = what


def with_sidecar(target: str | Path | None, what: str, kind: str) -> list[tuple[Path, str]]:
    """``(target, what)`` and its JSON sidecar (``kind`` "labels" or "scribbles"), for
    :meth:`OutputGuard.check_all`: the sidecar is an output of the command too."""
    if target is None:
        return []
    return [(Path(target), what), (sidecar_path(target, kind), f"the sidecar of {what}")]


def as_guard(protected: "OutputGuard | Iterable[str | Path | None] | None") -> OutputGuard:
    """``protected`` as a guard: a guard as it is, or a list of paths to protect."""
    if isinstance(protected, OutputGuard):
        return protected
    return OutputGuard(*(protected or ()))


def data_files_of(header: str | Path) -> list[Path]:
    """The data files a ``.mhd`` / ``.nhdr`` (or Analyze ``.hdr``) header names; [] otherwise."""
    header = Path(header)
    suffix = image_suffix(header)
    if suffix == ".hdr":
        return [header.with_suffix(".img")]
    if suffix not in MULTI_FILE_SUFFIXES or not header.is_file():
        return []
    return list(header_data_files(header))


# -- writing ---------------------------------------------------------------------------------
def write_atomically(target: str | Path, write: Callable[[Path], None], *,
                     guard: OutputGuard | Iterable[str | Path | None] | None = None,
                     what: str = "the output", verify: Callable[[Path], None] | None = None) -> Path:
    """Call ``write(path)`` on a temporary with the target's suffix, check it, move it in place.

    ``guard`` lists the files the target must not be; ``verify(path)`` adds a check of the
    temporary to the standard ones (size, images, PNG, JSON, model files). Raises
    :class:`WritePathError` (one line) on any failure, with the previous file intact.
    """
    target = Path(target)
    as_guard(guard).check(target, what)
    with _reporting(target):
        clean_stale_temporaries(target.parent)
        if image_suffix(target) in MULTI_FILE_SUFFIXES:
            _write_multi_file(target, write, verify, guard)
        else:
            _write_single_file(target, write, verify)
        _sync_folder(target.parent)
    return target


def write_text_atomically(target: str | Path, text: str, *,
                          guard: OutputGuard | Iterable[str | Path | None] | None = None,
                          what: str = "the output") -> Path:
    """Write ``text`` (UTF-8) to ``target`` through :func:`write_atomically`."""
    as_guard(guard).check(target, what)  # an input's own message comes first
    refuse_image_name(target, what)
    data = text.encode("utf-8")

    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.write(data)

    def verify(path: Path) -> None:
        _require(path.stat().st_size == len(data), path, f"wrote {path.stat().st_size} of {len(data)} bytes")

    return write_atomically(target, write, guard=guard, what=what, verify=verify)


def refuse_image_name(target: str | Path, what: str) -> None:
    """Refuse to write text under an image file name (``--info out.nii.gz``): the image
    checks would then call the text an incomplete image, and the name misleads later readers."""
    suffix = image_suffix(target)
    if suffix in IMAGE_SUFFIXES:
        raise WritePathError(f"{target}: is an image file name ({suffix}); {what} is text - "
                             "give it a .json name")


@contextlib.contextmanager
def atomic_path(target: str | Path, *, guard: OutputGuard | Iterable[str | Path | None] | None = None,
                what: str = "the output") -> Iterator[Path]:
    """``with atomic_path(t) as p: <write p>`` - the same checks and commit as
    :func:`write_atomically`, for a single-file output."""
    target = Path(target)
    as_guard(guard).check(target, what)
    if image_suffix(target) in MULTI_FILE_SUFFIXES:
        raise WritePathError(f"{target}: a two-file format; use write_atomically")
    with _reporting(target):
        clean_stale_temporaries(target.parent)
        temporary = _new_temporary(target)
    try:
        yield temporary
        with _reporting(target):
            _commit(temporary, target, None)
            _sync_folder(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def atomic_folder(target: str | Path, what: str = "the output") -> Iterator[Path]:
    """``with atomic_folder(d) as p: <fill folder p>`` - a folder output (a downloaded DICOM
    series) that is complete or absent: filled beside ``d`` and renamed into place.

    ``d`` must not exist or be an empty folder; any failure (or an exception raised by the
    caller, e.g. a cancel) removes the partial folder."""
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WritePathError(f"{target}: already exists{'' if target.is_dir() else ' as a file'}; "
                             f"give a new or empty folder for {what}")
    with _reporting(target):
        clean_stale_temporaries(target.parent)
        temporary = _new_temporary(target, folder=True)
    try:
        yield temporary
        with _reporting(target):
            # fsync releases the GIL: syncing the files side by side lets the file system
            # commit them together (a 300-file series: ~0.9 s one by one on this machine)
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(_sync_file, list(temporary.iterdir())))
            _sync_folder(temporary)
            os.replace(temporary, target)  # onto an empty folder too (POSIX rename)
            _sync_folder(target.parent)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def _reporting(target: Path) -> Iterator[None]:
    """Turn a failed write into one line for the user (:class:`WritePathError`)."""
    try:
        yield
    except OSError as error:
        raise WritePathError(f"{target}: could not be written ({describe_os_error(error)})") from None
    except RuntimeError as error:  # ITK and torch writers report I/O failures this way
        raise WritePathError(f"{target}: could not be written ({_last_line(error)})") from None


def write_into_place(target: str | Path, write: Callable[[Path], None], **options) -> list[Path]:
    """Kept for callers of the old API: :func:`write_atomically`, returning the files written."""
    target = write_atomically(target, write, **options)
    return [*data_files_of(target), target]


def _write_single_file(target: Path, write: Callable[[Path], None], verify) -> None:
    temporary = _new_temporary(target)
    try:
        with _native_noise_filtered():
            write(temporary)
        _commit(temporary, target, verify)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _commit(temporary: Path, target: Path, verify) -> None:
    """Sync and check a written temporary, then rename it over ``target``."""
    _sync_file(temporary)
    verify_output(temporary, target)
    if verify is not None:
        verify(temporary)
    _keep_mode(target, temporary)
    os.replace(temporary, target)


def _write_multi_file(target: Path, write: Callable[[Path], None], verify, guard) -> None:
    """Header + data: the data under a new unique name, then the header's rename commits."""
    folder = target.parent
    staging = _new_temporary(target, folder=True)
    try:
        suffix = image_suffix(target)
        stem = target.name[: len(target.name) - len(suffix)]
        while True:
            unique = f"{stem}.{secrets.token_hex(4)}"
            if not any(p.name.startswith(unique + ".") for p in folder.iterdir()):
                break
        header = staging / (unique + suffix)
        with _native_noise_filtered():
            write(header)
        produced = sorted(p for p in staging.iterdir() if p.is_file())
        if header not in produced:
            raise WritePathError(f"{target}: the writer did not create the header")
        for item in produced:
            _sync_file(item)
        verify_output(header, target)
        if verify is not None:
            verify(header)
        previous = [p for p in data_files_of(target) if p.exists()]
        moved: list[Path] = []
        try:
            for item in produced:
                if item != header:
                    _keep_mode(target, item)
                    moved.append(folder / item.name)
                    os.replace(item, moved[-1])  # a new unique name: nothing is overwritten
            _keep_mode(target, header)
            os.replace(header, target)  # the commit point
        except BaseException:
            for item in moved:  # not committed: the new data files belong to nobody
                with contextlib.suppress(OSError):
                    item.unlink()
            raise
        _remove_own_data_files(target, stem, previous, guard)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_own_data_files(target: Path, stem: str, previous: list[Path], guard) -> None:
    """Delete the data file(s) our previous ``target`` used, now that the new header is in
    place, and those a writer killed between its two renames left (older than
    :data:`STALE_AFTER_S`, named by nothing). Only our own names (``STEM.<8 hex>.…``) in the
    target's folder, and never a protected file."""
    keep = as_guard(guard).merged(data_files_of(target))
    own = re.compile(re.escape(stem) + r"\.[0-9a-f]{8}\.(z?raw|raw\.gz)$")
    folder = target.parent
    orphans = [p for p in folder.iterdir() if own.match(p.name)
               and time.time() - p.stat().st_mtime > STALE_AFTER_S]
    for old in (*previous, *orphans):
        if own.match(old.name) and old.parent.resolve() == folder.resolve() and old not in keep:
            with contextlib.suppress(OSError):
                old.unlink()


@contextlib.contextmanager
def _native_noise_filtered() -> Iterator[None]:
    """Hold back what native code prints on standard error during a write and pass it on
    afterwards, less the lines of :data:`_NATIVE_NOISE`: on a full disk the user gets our
    one line, not ITK's "NWAD: wrote only ..." before it. Nothing is lost: other lines
    (from any thread) are written out when the write ends."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        capture = tempfile.TemporaryFile()
    except (OSError, ValueError, AttributeError):  # no fd 2, or nowhere to hold the text
        yield
        return
    try:
        os.dup2(capture.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        with capture:
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines(keepends=True)
        kept = "".join(line for line in lines if not any(noise in line for noise in _NATIVE_NOISE))
        if kept.strip():
            with contextlib.suppress(OSError):
                os.write(2, kept.encode("utf-8"))


def _new_temporary(target: Path, folder: bool = False) -> Path:
    """A new, empty temporary file (or folder) beside ``target``, named ``.NAME.XXXXXXXX.partial…``.

    Created with mode 0666 (files) / 0777 (folders) so the umask applies, as for any new file.
    """
    suffix = "" if folder else image_suffix(target)
    for _ in range(100):
        path = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial{suffix}"
        try:
            if folder:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target))


def _keep_mode(target: Path, temporary: Path) -> None:
    """Give ``temporary`` the permission bits of the file it replaces (if any)."""
    with contextlib.suppress(FileNotFoundError):
        mode = target.stat().st_mode
        os.chmod(temporary, mode & 0o7777)


def _sync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (the folder's entry), where the platform allows it."""
    try:
        descriptor = os.open(folder if str(folder) else ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def clean_stale_temporaries(folder: str | Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove ``.NAME.XXXXXXXX.partial…`` files and folders older than ``older_than_s``."""
    folder = Path(folder) if str(folder) else Path(".")
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMPORARY_NAME.match(entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue  # perhaps another writer's, still at work
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


# -- checking what was written ---------------------------------------------------------------
def verify_output(path: Path, target: Path) -> None:
    """Check a written temporary before it replaces ``target`` (the format comes from
    ``target``'s name). Raises :class:`WritePathError` when it is empty or incomplete."""
    size = path.stat().st_size
    _require(size > 0, path, "the file is empty")
    suffix = image_suffix(target)
    if suffix in IMAGE_SUFFIXES and suffix != ".dcm":
        _verify_image(path, suffix)
    elif suffix == ".png":
        with open(path, "rb") as handle:
            handle.seek(max(0, size - len(_PNG_END)))
            _require(handle.read() == _PNG_END, path, "the PNG file is incomplete")
    elif suffix in (".pt", ".pth"):
        _require(zipfile.is_zipfile(path), path, "the model file is incomplete")
    elif suffix == ".json":
        try:
            json.loads(path.read_bytes())
        except ValueError:
            _require(False, path, "the JSON file is incomplete")


def _verify_image(path: Path, suffix: str) -> None:
    """The header re-reads, every data file is non-empty, and (NIfTI, GIPL, whose writers
    do not report a short write) every declared voxel byte is there."""
    import SimpleITK as sitk  # noqa: PLC0415 - only image outputs need it

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        _require(False, path, "the written header does not read back")
    for data in data_files_of(path):
        _require(data.is_file() and data.stat().st_size > 0, path, f"its data file {data.name} is empty")
    if suffix in (".nii", ".nii.gz"):
        try:
            check_nifti_complete(path)
        except ImageReadError as error:
            _require(False, path, str(error).split(" - ", 1)[-1])
    elif suffix in (".gipl", ".gipl.gz"):
        voxels = 1
        for extent in reader.GetSize():
            voxels *= extent
        expected = _GIPL_HEADER_BYTES + voxels * reader.GetNumberOfComponents() * _bytes_per_component(reader)
        actual = _gzip_size(path, expected) if suffix == ".gipl.gz" else path.stat().st_size
        _require(actual >= expected, path, f"it holds {actual} of {expected} bytes")


def _bytes_per_component(reader) -> int:
    import SimpleITK as sitk  # noqa: PLC0415

    sizes = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2,
             sitk.sitkUInt32: 4, sitk.sitkInt32: 4, sitk.sitkFloat32: 4, sitk.sitkFloat64: 8,
             sitk.sitkUInt64: 8, sitk.sitkInt64: 8}
    return sizes.get(reader.GetPixelIDValue(), 1)


def _gzip_size(path: Path, expected: int) -> int:
    """Uncompressed size of a gzip file: the trailer when it agrees with ``expected``,
    else counted by decompressing (a truncated stream counts what it holds)."""
    with open(path, "rb") as handle:
        handle.seek(-4, 2)
        if struct.unpack("<I", handle.read(4))[0] == expected % 2**32:
            return expected
    total = 0
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with contextlib.suppress(zlib.error), open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            total += len(decompressor.decompress(chunk))
    return total


def _require(condition: bool, path: Path, detail: str) -> None:
    if not condition:
        # ENOSPC: a short or empty result almost always means a full disk (or a quota).
        raise OSError(errno.ENOSPC, f"incomplete write: {detail}; is the disk full?", str(path))


def describe_os_error(error: OSError) -> str:
    """A short reason for the user ("No space left on device", "Permission denied" ...)."""
    if error.errno == errno.EFBIG:
        return "File too large; the disk or the file size limit is full"
    return error.strerror or str(error)


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1].removeprefix("Reason: ") if lines else type(error).__name__


def input_guard(**inputs: str | Path | Iterable[str | Path | None] | None) -> OutputGuard:
    """The guard of a command's inputs, named by what they are::

        input_guard(image=args.image, scribbles=args.scribbles, points=args.points)

    A value may be one path, None, or a list of paths. The JSON sidecars of label-like
    inputs (``case.labels.json``, ``case.scribbles.json``) are protected with them.
    """
    guard = OutputGuard()
    for kind, value in inputs.items():
        paths = [value] if value is None or isinstance(value, (str, Path)) else list(value)
        for path in paths:
            if path is None:
                continue
            name = kind.replace("_", " ")
            guard.protect(path, role="the source image" if kind == "image" else f"the input {name}")
            if Path(path).is_file() and image_suffix(path) in LABEL_WRITE_SUFFIXES:
                guard.protect(sidecar_path(path, "labels"), sidecar_path(path, "scribbles"),
                              role=f"the sidecar of the input {name}")
    return guard
