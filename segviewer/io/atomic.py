"""Atomic writes: write to a temporary file beside the target, then rename over it.

A crash or a full disk in the middle of a save leaves the previous file intact: the new
content only replaces it by ``os.replace``, which is atomic on one file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    The temporary name keeps the target's suffixes so format-sniffing writers
    (SimpleITK picks NIfTI/NRRD by extension) write the right format. A failure leaves
    ``target`` untouched and removes the temporary file.
    """
    target = Path(target)
    suffix = "".join(target.suffixes)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial" + suffix,
                                             dir=target.parent)
    os.close(descriptor)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        if temporary_path.exists():
            temporary_path.unlink()


def write_atomically(target: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and move the result over ``target``."""
    with atomic_path(target) as temporary:
        write(temporary)


def write_text_atomically(target: str | Path, text: str) -> None:
    write_atomically(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_into_place(target: str | Path, write: Callable[[Path], None]) -> list[Path]:
    """Call ``write(path)`` where ``path`` has the target's exact name inside a temporary
    folder beside the target, then move every file it produced into the target's folder.

    For formats that write more than one file (``.mhd`` + ``.raw``, ``.nhdr`` + data,
    ``.hdr`` + ``.img``) and record the data file's *name* in the header: the names stay
    right because they are final from the start. Companion files are moved first and the
    target last, each with an atomic ``os.replace``. Returns the paths written.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=folder))
    try:
        write(staging / target.name)
        produced = sorted(p for p in staging.iterdir() if p.is_file())
        if staging / target.name not in produced:
            raise OSError(f"the writer did not create {target.name}")
        companions = [p for p in produced if p.name != target.name]
        written = []
        for item in (*companions, staging / target.name):
            destination = folder / item.name
            os.replace(item, destination)
            written.append(destination)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
