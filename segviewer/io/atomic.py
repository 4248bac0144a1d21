"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
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
