"""File access for the GUI: the Qt-free adapters of :mod:`segviewer.app.files` plus the
picture writer (screenshots), which needs Qt's image codecs.
"""

from __future__ import annotations

from pathlib import Path

from segviewer.app.files import (IMAGE_FILTER, LABEL_FILTER, POINTS_FILTER, demo_paths, guess_kind,
                                 open_image, read_labels, read_points, read_scribbles, session_guard,
                                 write_labels, write_points, write_scribbles)
from segviewer.errors import SegviewerError
from segviewer.io.atomic import OutputGuard, as_guard, write_atomically
from segviewer.io.paths import WritePathError

__all__ = ["IMAGE_FILTER", "LABEL_FILTER", "POINTS_FILTER", "demo_paths", "guess_kind", "open_image",
           "check_picture_suffix", "read_labels", "read_points", "read_scribbles", "session_guard",
           "write_labels", "write_picture", "write_points", "write_scribbles"]


def check_picture_suffix(path: str | Path) -> None:
    """Refuse a picture name whose suffix Qt cannot write (before anything is drawn)."""
    from PySide6.QtGui import QImageWriter

    suffix = Path(path).suffix.lower().lstrip(".")
    writable = sorted(bytes(f).decode() for f in QImageWriter.supportedImageFormats())
    if suffix not in writable:
        kind = f"as '.{suffix}'" if suffix else "without a suffix"
        raise WritePathError(f"{path}: cannot save a picture {kind}; use .png or .jpg")


def write_picture(path: str | Path, pixmap, guard: OutputGuard | None = None) -> None:
    """Save a QPixmap/QImage (the format from the suffix: .png, .jpg ...) through the one writer."""
    guard = as_guard(guard)
    guard.check(path, "the picture")  # first: "it is your image" says more than "not a picture format"
    check_picture_suffix(path)

    def write(temporary: Path) -> None:
        if not pixmap.save(str(temporary)):  # Qt gives no reason; the format is known to work
            raise SegviewerError(f"{path}: could not be written (the picture writer failed; "
                                 "is the disk full?)")

    write_atomically(path, write, guard=guard, what="the picture")
