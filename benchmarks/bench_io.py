"""I/O figures: loading an image with segviewer beside ``SimpleITK.ReadImage`` alone on the
same file in the same run, and the memory a load costs as a multiple of the voxel array.

Rows
----
- load time of the spleen CT (164×166×26 float32, .nii.gz) and, in full mode, of a
  512×512×300 int16 CT built once by tiling the real DICOM series ct_chest_20slices
  (512×512×20) 15 times along z, saved as .nii.gz and as .nrrd (goal ≤ 1.2× ReadImage);
  timings alternate ours / baseline and report medians;
- peak resident memory while loading, and resident memory after loading (the volume held,
  everything else freed), as multiples of the array's bytes (goals ≤ 2.5× and ≤ 1.5×),
  beside ReadImage's own peak. Each memory figure is taken in a fresh Python process, so
  earlier loads cannot hide or inflate it;
- full mode: the DICOM series itself beside ``ImageSeriesReader`` (series discovery included
  on both sides).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import PROJECT_ROOT, SHARED_DATA, Row, RssSampler

AREA = "io"
BIG_FOLDER = Path(tempfile.gettempdir()) / "segviewer-bench-io"
BIG_SHAPE = (300, 512, 512)


# -- the test volumes ------------------------------------------------------------------------
def build_big_volume(suffix: str) -> Path | None:
    """512×512×300 int16: ct_chest_20slices tiled 15× along z (every other copy mirrored in
    z so the tiles join smoothly). Built once per machine into a temp folder."""
    import SimpleITK as sitk

    path = BIG_FOLDER / f"ct_chest_tiled_512x512x300{suffix}"
    if path.exists():
        return path
    folder = SHARED_DATA / "dicom" / "ct_chest_20slices"
    if not folder.is_dir():
        return None
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    series = reader.Execute()
    slab = sitk.GetArrayFromImage(series)
    tiled = np.concatenate([slab if n % 2 == 0 else slab[::-1] for n in range(15)], axis=0)
    assert tiled.shape == BIG_SHAPE
    image = sitk.GetImageFromArray(tiled)
    image.SetSpacing(series.GetSpacing())
    image.SetOrigin(series.GetOrigin())
    image.SetDirection(series.GetDirection())
    BIG_FOLDER.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(".partial-" + path.name)
    sitk.WriteImage(image, str(partial), True)
    partial.replace(path)
    return path


# -- timing ----------------------------------------------------------------------------------
def _load_ours(path: Path):
    from segviewer.io.images import read_image

    return read_image(path)


def _load_sitk(path: Path):
    import SimpleITK as sitk

    return sitk.ReadImage(str(path))


def _load_series_ours(folder: Path):
    from segviewer.io.images import read_image

    return read_image(folder)


def _load_series_sitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    uid = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))[0]
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
    return reader.Execute()


def alternating_medians(ours, baseline, repeat: int) -> tuple[float, float]:
    """Median seconds of ``ours()`` and ``baseline()``, run alternately (which goes first
    swaps every round) after one warm-up each, so the page cache, ITK's readers and the
    machine's load treat both alike."""
    ours()
    baseline()
    times_ours, times_baseline = [], []
    for round_number in range(max(1, repeat)):
        pair = [(ours, times_ours), (baseline, times_baseline)]
        for function, times in (pair if round_number % 2 == 0 else pair[::-1]):
            gc.collect()
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
            del result
    return statistics.median(times_ours), statistics.median(times_baseline)


# -- memory (in a fresh process) -------------------------------------------------------------------
def memory_probe(path: str, mode: str) -> dict:
    """Run in a fresh process: load ``path`` (``mode`` = "ours" or "sitk") and report the
    resident-memory peak while loading and the resident memory after, beyond the start."""
    import SimpleITK as sitk

    from segviewer.io.images import read_header, read_image

    header = read_header(path)
    nbytes = header.nbytes
    # Warm-up: ITK's reader factories and code pages, on a tiny image, not on this file.
    tiny = Path(tempfile.mkdtemp()) / ("tiny" + ("".join(Path(path).suffixes)))
    sitk.WriteImage(sitk.Image(4, 4, 4, header.pixel_id), str(tiny))
    read_image(tiny)
    sitk.ReadImage(str(tiny))
    gc.collect()
    with RssSampler(interval=0.001) as sampler:
        loaded = read_image(path) if mode == "ours" else sitk.ReadImage(path)
        gc.collect()
    after = RssSampler.current() - sampler.start_rss
    del loaded
    return {"array_bytes": nbytes, "peak_extra": sampler.peak_extra, "after_extra": after}


def _probe_in_subprocess(path: Path, mode: str) -> dict:
    code = ("import json, sys; from benchmarks.bench_io import memory_probe; "
            f"print(json.dumps(memory_probe({str(path)!r}, {mode!r})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=600, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _memory_rows(name: str, path: Path) -> list[Row]:
    ours = _probe_in_subprocess(path, "ours")
    baseline = _probe_in_subprocess(path, "sitk")
    size = ours["array_bytes"]
    extra = {"array_bytes": size, "peak_bytes": ours["peak_extra"], "after_bytes": ours["after_extra"],
             "sitk_peak_bytes": baseline["peak_extra"], "sitk_after_bytes": baseline["after_extra"]}
    return [
        Row(AREA, f"peak memory while loading, {name}", ours["peak_extra"] / size, "× array",
            "SimpleITK.ReadImage", baseline["peak_extra"] / size, "≤ 2.5× array", extra=extra),
        Row(AREA, f"memory after loading, {name}", ours["after_extra"] / size, "× array",
            "SimpleITK.ReadImage", baseline["after_extra"] / size, "≤ 1.5× array", extra=extra),
    ]


def _time_row(name: str, path: Path, repeat: int, series: bool = False) -> Row:
    if series:
        ours, baseline = alternating_medians(lambda: _load_series_ours(path), lambda: _load_series_sitk(path), repeat)
        baseline_name = "SimpleITK ImageSeriesReader"
    else:
        ours, baseline = alternating_medians(lambda: _load_ours(path), lambda: _load_sitk(path), repeat)
        baseline_name = "SimpleITK.ReadImage"
    return Row(AREA, f"load {name}", ours, "s", baseline_name, baseline, "≤ 1.2×",
               extra={"path": path.name, "repeat": repeat})


def run(quick: bool) -> list[Row]:
    spleen = SHARED_DATA / "spleen_ct" / "spleen_ct.nii.gz"
    if not spleen.exists():
        return []
    rows = [_time_row("spleen CT 164×166×26 float32 (.nii.gz)", spleen, 15 if quick else 31)]
    rows += _memory_rows("spleen CT", spleen)
    if quick:
        return rows
    for suffix in (".nii.gz", ".nrrd"):
        big = build_big_volume(suffix)
        if big is None:
            continue
        label = f"CT 512×512×300 int16 ({suffix})"
        rows.append(_time_row(label, big, 9))
        rows += _memory_rows(label, big)
    series = SHARED_DATA / "dicom" / "ct_chest_20slices"
    if series.is_dir():
        rows.append(_time_row("DICOM series 512×512×20 (20 files)", series, 9, series=True))
    return rows


if __name__ == "__main__":  # python -m benchmarks.bench_io [--quick]
    for row in run("--quick" in sys.argv):
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "-"
        print(f"{row.name:55s} {row.value:10.4g} {row.unit:8s} baseline {row.baseline!s:>10.6s}  "
              f"ratio {ratio:>7s}  goal {row.goal}")
