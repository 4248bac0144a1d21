"""Argument types shared by the subcommands: numbers, label values and paths checked while
the command line is parsed, so a mistake is refused in one line before any work starts.

Each function is an ``argparse`` ``type=``: it returns the converted value or raises
:class:`argparse.ArgumentTypeError`, which argparse reports as ``argument --x: message``.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable, Iterable

from segviewer.errors import SegviewerError
from segviewer.io.paths import (IMAGE_WRITE_SUFFIXES, LABEL_WRITE_SUFFIXES, check_write_suffix,
                                refuse_special_file)
from segviewer.model.labels import HIGHEST_LABEL, LOWEST_LABEL


def finite_float(text: str) -> float:
    """A number that is not NaN or infinite (``float()`` accepts both)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0 (distances and margins in mm, minutes)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give 0 or more")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above 0")
    return value


def fraction(text: str) -> float:
    """A finite number in 0..1."""
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def int_in(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    """A whole number in ``low..high`` (seeds, counts, radii in voxels, label values)."""

    def check(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text.strip()!r} is not {what} from {low} to {high}")
        return value

    return check


#: A seed of NumPy's random generators (they refuse negative seeds).
seed = int_in(0, 2 ** 32 - 1)


#: One label value.
label_value = int_in(LOWEST_LABEL, HIGHEST_LABEL, "a label value")


#: The largest window side a screenshot may ask for (100000 x 100000 aborted the X connection).
LARGEST_WINDOW_SIDE = 8192


def window_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels, each from 1 to :data:`LARGEST_WINDOW_SIDE`."""
    try:
        width, height = (int(v) for v in text.strip().lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1400x900") from None
    if not (1 <= width <= LARGEST_WINDOW_SIDE and 1 <= height <= LARGEST_WINDOW_SIDE):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be from 1 to {LARGEST_WINDOW_SIDE}")
    return width, height


def label_list(text: str) -> list[int]:
    """Comma-separated label values, e.g. ``1,3``."""
    values = [label_value(item) for item in text.split(",") if item.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} names no label; give values such as 1,3")
    return values


def label_names(text: str) -> str:
    """``1=anterior,2=posterior``: label values, each with an optional name; returned as given."""
    for item in text.split(","):
        if item.strip():
            label_value(item.partition("=")[0])
    return text


def input_path(text: str) -> str:
    """A file or folder to read: a FIFO or device is refused here, before anything opens it
    (reading one blocks forever). Whether it exists is left to the reader's own message."""
    try:
        refuse_special_file(text)
    except SegviewerError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def output_file(text: str) -> str:
    """A file to write: not an existing folder."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file name")
    return text


def output_folder(text: str) -> str:
    """A folder to write into (made when missing): not an existing file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a file; give a folder")
    return text


def file_stem(text: str) -> str:
    """A name for files inside the output folder: no folder part (``../x`` wrote outside it)."""
    if not text.strip() or text.strip(".") == "" or any(s in text for s in {"/", os.sep, os.altsep} - {None}):
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain name; give one without folders, e.g. my_unet")
    return text


def _output_with_suffixes(allowed: Iterable[str], what: str) -> Callable[[str], str]:
    allowed = tuple(allowed)

    def check(text: str) -> str:
        output_file(text)
        try:
            check_write_suffix(text, allowed, what)
        except SegviewerError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return check


#: An image file to write (its format chosen by the suffix, refused here when unsupported).
image_output = _output_with_suffixes(IMAGE_WRITE_SUFFIXES, "an image")
#: A label map or scribble file to write.
label_output = _output_with_suffixes(LABEL_WRITE_SUFFIXES, "a label map")


def device_name(text: str) -> str:
    """Where a network runs: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether the
    device exists is checked when the network is placed on it)."""
    from segviewer.methods.deep.device import check_device_name  # noqa: PLC0415 - torch-free

    try:
        return check_device_name(text)
    except SegviewerError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
