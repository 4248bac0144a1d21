"""What ITK's readers do not check, read from the files themselves.

* NRRD, MetaImage and GIPL headers may declare far more voxels than the file holds; ITK
  allocates the whole declared volume before it notices (a 1 kB file declaring 1000³ costs
  1 GB). :func:`check_data_present` compares the declaration with the bytes on disk first.
* ITK's NIfTI reader (nifti1_io) replaces NaN and ±inf voxels by 0 and a voxel size
  (``pixdim``) of 0 by 1 mm, without a word. :func:`read_nifti_floats` reads float voxels
  as they are (so non-finite ones are reported and treated as missing data, as for every
  other format) and :func:`nifti_bad_pixdim_axes` says which voxel sizes were invented.
* ITK pads a truncated NIfTI with zeros without a word: :func:`check_nifti_complete`
  compares the bytes on disk with what the header declares (for reading, and for checking
  what the writer wrote).
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from segviewer.errors import ImageReadError
from segviewer.io.paths import image_suffix

#: The most deflate (gzip, zlib) can compress: 1032 bytes out per byte in.
DEFLATE_MAX_RATIO = 1032

#: Bytes of a text header read at most (headers are a few hundred bytes).
_HEADER_BYTES = 1 << 16

#: Voxels rescaled per step (bounds the temporary memory).
_SCAN_VOXELS = 1 << 22


@dataclass(frozen=True)
class DataSource:
    """Where a file's voxels are stored, and the fewest bytes one value takes there."""

    files: tuple[Path, ...]
    bytes_per_value: float


def data_source(path: str | Path, itemsize: int) -> DataSource | None:
    """The file(s) holding the voxels of an NRRD, MetaImage or GIPL file, or None when
    unknown (another format, a pattern of data files, bzip2)."""
    path = Path(path)
    suffix = image_suffix(path)
    if suffix in (".gipl", ".gipl.gz"):
        return DataSource((path,), itemsize / DEFLATE_MAX_RATIO if suffix == ".gipl.gz" else itemsize)
    header = _read_text_header(path)
    if header is None:
        return None
    fields, files = header
    if files is None:
        return None
    if suffix in (".mha", ".mhd"):
        compressed = fields.get("compresseddata", "false").lower() == "true"
        return DataSource(files, itemsize / DEFLATE_MAX_RATIO if compressed else itemsize)
    encoding = fields.get("encoding", "raw").lower()
    per_value = {"raw": itemsize, "gzip": itemsize / DEFLATE_MAX_RATIO, "gz": itemsize / DEFLATE_MAX_RATIO,
                 "hex": 2 * itemsize, "ascii": 1, "text": 1, "txt": 1}.get(encoding)
    return None if per_value is None else DataSource(files, per_value)  # None: bzip2, no bound here


def check_data_present(path: str | Path, values: int, itemsize: int) -> None:
    """Raise :class:`ImageReadError` when the file(s) cannot hold ``values`` voxel values of
    ``itemsize`` bytes, before anything is allocated."""
    source = data_source(path, itemsize)
    if source is None:
        return
    try:
        available = sum(file.stat().st_size for file in source.files)
    except OSError:
        return  # a missing data file: ITK's own message names it
    needed = values * source.bytes_per_value
    if needed <= available:
        return
    declared = values * itemsize
    if source.bytes_per_value >= itemsize:
        raise ImageReadError(f"{path}: is truncated - it holds {available} bytes of the {declared} "
                             "its header declares")
    raise ImageReadError(f"{path}: its header declares {declared} bytes of voxels, more than its "
                         f"{available} compressed bytes can hold; the file is truncated or damaged")


def _text_header(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(_HEADER_BYTES).decode("latin-1")
    except OSError:
        return ""


def _read_text_header(path: Path) -> tuple[dict[str, str], tuple[Path, ...] | None] | None:
    """The fields of an NRRD (``.nrrd``, ``.nhdr``) or MetaImage (``.mha``, ``.mhd``) header,
    keys in lower case, and the files that hold its voxels: the header file itself when
    they are attached (NRRD without ``data file``, MetaImage ``LOCAL``), the named file, or
    the files of a ``LIST``; None for a printf pattern of names (numbered files).
    None for another format or an unreadable header."""
    suffix = image_suffix(path)
    if suffix in (".nrrd", ".seg.nrrd", ".nhdr"):
        separator, data_keys = ":", ("data file", "datafile")
        text = _text_header(path)
        if not text.startswith("NRRD"):
            return None
        lines = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0].splitlines()[1:]  # up to the blank line
    elif suffix in (".mha", ".mhd"):
        separator, data_keys = "=", ("elementdatafile",)
        lines = _text_header(path).splitlines()
    else:
        return None
    fields: dict[str, str] = {}
    for number, line in enumerate(lines):
        if line.startswith("#") or ":=" in line or separator not in line:
            continue  # comments, NRRD key/value pairs
        key, value = (part.strip() for part in line.split(separator, 1))
        fields[key.lower()] = value
        if key.lower() in data_keys:  # the last field: data file names may follow
            return fields, _data_files(path, value, lines[number + 1:])
    return fields, (path,)  # no data file named: the voxels follow the header


def _data_files(header: Path, value: str, following: list[str]) -> tuple[Path, ...] | None:
    """The files a header's data file field names (see :func:`_read_text_header`)."""
    if value.upper() == "LOCAL":
        return (header,)
    if value.upper().startswith("LIST"):
        names = [line.strip() for line in following if line.strip()]
    elif " " in value or "%" in value:
        return None  # "name%03d.raw first last step": names only the numbers give
    else:
        names = [value]
    return tuple(p if p.is_absolute() else header.parent / p for p in map(Path, names))


def header_data_files(header: str | Path) -> tuple[Path, ...]:
    """The data files a detached header (``.mhd``, ``.nhdr``) keeps its voxels in; () when
    they are attached, not nameable (a printf pattern) or the file is not such a header."""
    header = Path(header)
    found = _read_text_header(header)
    files = found[1] if found is not None else None
    return () if files is None or files == (header,) else files


# -- NIfTI ---------------------------------------------------------------------------------
class Nifti1Fields(NamedTuple):
    """The fields of a NIfTI-1 header that segviewer reads itself (one parse for them all)."""

    endian: str
    dims: tuple[int, ...]
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]
    vox_offset: float
    slope: float
    intercept: float


def nifti1_fields(head: bytes) -> Nifti1Fields | None:
    """The fields of a NIfTI-1 header (either byte order), or None when ``head`` is not one."""
    if len(head) < 348:
        return None
    for endian in "<>":
        if struct.unpack(endian + "i", head[:4])[0] == 348:
            datatype, bitpix = struct.unpack(endian + "2h", head[70:74])
            offset, slope, intercept = struct.unpack(endian + "3f", head[108:120])
            return Nifti1Fields(endian, struct.unpack(endian + "8h", head[40:56]), datatype, bitpix,
                                struct.unpack(endian + "8f", head[76:108]), offset, slope, intercept)
    return None


def nifti_bad_pixdim_axes(head: bytes) -> list[str]:
    """The axes ("i", "j", "k") whose NIfTI-1 voxel size is 0, negative or not a number;
    ITK reads those as 1 mm."""
    fields = nifti1_fields(head)
    if fields is None:
        return []
    dims, pixdim = fields.dims, fields.pixdim
    return [axis for n, axis in enumerate("ijk", start=1)
            if n <= max(dims[0], 0) and not (np.isfinite(pixdim[n]) and pixdim[n] > 0)]


def read_nifti_floats(path: str | Path, head: bytes) -> np.ndarray | None:
    """The voxels of a float NIfTI-1 file as ``array[k, j, i]`` (the first volume of a 4D
    file), NaN and ±inf kept and ``scl_slope``/``scl_inter`` applied as ITK applies them
    (in double precision); None for other NIfTI files (integer voxels cannot be NaN).

    One pass over the file, read straight into the array: it replaces ITK's pixel read,
    which costs the same but turns NaN and ±inf into 0.
    """
    fields = nifti1_fields(head)
    if fields is None or head[344:348] != b"n+1\0" or image_suffix(path) not in (".nii", ".nii.gz"):
        return None  # not a single-file NIfTI-1 (an .hdr/.img pair keeps its voxels apart)
    endian, dims, datatype, offset, slope, intercept = (fields.endian, fields.dims, fields.datatype,
                                                        fields.vox_offset, fields.slope, fields.intercept)
    stored = {16: "f4", 64: "f8"}.get(datatype)
    if stored is None or not 2 <= dims[0] <= 4 or any(d <= 0 for d in dims[1:dims[0] + 1]):
        return None
    shape = tuple(int(d) for d in (dims[3] if dims[0] >= 3 else 1, dims[2], dims[1]))
    voxels = np.empty(shape, dtype=np.dtype(stored))
    opener = gzip.open if image_suffix(path) == ".nii.gz" else open
    try:
        with opener(path, "rb") as handle:
            handle.seek(max(int(offset), 352))
            count = handle.readinto(memoryview(voxels).cast("B"))
    except (OSError, EOFError, zlib.error) as error:
        raise ImageReadError(f"{path}: could not be read; the file may be truncated or damaged ({error})") from None
    if count < voxels.nbytes:
        raise ImageReadError(f"{path}: is truncated - it holds {count} voxel bytes of the {voxels.nbytes} "
                             "its header declares")
    if np.dtype(endian + stored) != voxels.dtype:
        voxels.byteswap(inplace=True)
    if np.isfinite(slope) and slope != 0 and (slope != 1 or (np.isfinite(intercept) and intercept != 0)):
        flat = voxels.reshape(-1)
        for start in range(0, flat.size, _SCAN_VOXELS):  # in double, in blocks: no big temporary
            block = flat[start:start + _SCAN_VOXELS]
            block[...] = block.astype(np.float64) * slope + intercept
    return voxels


def read_nifti_head(path: Path) -> bytes | None:
    """The first 544 bytes of a ``.nii`` / ``.nii.gz`` (enough for NIfTI-1 and -2 headers)."""
    try:
        with open(path, "rb") as handle:
            if image_suffix(path) != ".nii.gz":
                return handle.read(544)
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            head = b""
            while len(head) < 544 and not decompressor.eof:
                chunk = handle.read(4096)
                if not chunk:
                    break
                head += decompressor.decompress(chunk, 544 - len(head))
                while decompressor.unconsumed_tail and len(head) < 544:
                    head += decompressor.decompress(decompressor.unconsumed_tail, 544 - len(head))
            return head
    except (OSError, zlib.error):
        return None


def check_nifti_complete(path: str | Path) -> None:
    """Raise :class:`ImageReadError` when a ``.nii``/``.nii.gz`` holds fewer bytes than its
    header declares. ITK pads a truncated NIfTI with zeros without a word, so we look.

    ``.nii``: the file size. ``.nii.gz``: the gzip trailer's uncompressed size; only when it
    disagrees (multi-member gzip, or a truncated file) is the stream decompressed to count.
    """
    path = Path(path)
    suffix = image_suffix(path)
    if suffix not in (".nii", ".nii.gz"):
        return
    compressed = suffix == ".nii.gz"
    head = read_nifti_head(path)
    if head is None:
        raise ImageReadError(f"{path}: could not be read; the file may be truncated or damaged")
    try:
        expected = nifti_expected_bytes(head)
    except ValueError as error:
        raise ImageReadError(f"{path}: has a damaged NIfTI header ({error})") from None
    if expected is None:
        return
    if not compressed:
        actual = path.stat().st_size
    else:
        with open(path, "rb") as handle:
            handle.seek(-4, 2)
            trailer = struct.unpack("<I", handle.read(4))[0]
        if trailer == expected % 2**32:
            return
        actual = _gunzipped_size(path)
    if actual < expected:
        raise ImageReadError(f"{path}: is truncated - it holds {actual} bytes of the {expected} "
                             "its header declares")


def nifti_expected_bytes(head: bytes) -> int | None:
    """Header + voxel bytes a NIfTI-1/2 header declares, or None when it is not one.

    Raises ValueError for a negative or non-numeric data offset."""
    fields = nifti1_fields(head)
    if fields is not None:
        dims, bitpix, offset, header_bytes = fields.dims, fields.bitpix, fields.vox_offset, 352
    else:
        endian = next((e for e in "<>" if len(head) >= 540 and struct.unpack(e + "i", head[:4])[0] == 540), None)
        if endian is None:
            return None
        bitpix = struct.unpack(endian + "h", head[14:16])[0]
        dims = struct.unpack(endian + "8q", head[16:80])
        offset = struct.unpack(endian + "q", head[168:176])[0]
        header_bytes = 544
    if not math.isfinite(offset) or offset < 0:
        raise ValueError(f"the data offset vox_offset is {offset}")
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0 or any(d < 0 for d in dims[1:ndim + 1]):
        return None
    voxels = int(np.prod([max(int(d), 1) for d in dims[1:ndim + 1]], dtype=np.int64))
    return max(int(offset), header_bytes) + voxels * bitpix // 8


def _gunzipped_size(path: Path) -> int:
    """Uncompressed size of a (possibly multi-member) gzip file; stops at a truncation."""
    total = 0
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                while chunk:
                    total += len(decompressor.decompress(chunk))
                    if decompressor.eof:
                        chunk = decompressor.unused_data
                        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    else:
                        chunk = b""
    except zlib.error:
        pass  # damaged: count what came out before
    return total
