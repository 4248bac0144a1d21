"""PACS figures: a 512×512×300 CT series from a local Orthanc (DICOMweb) beside the same files
read from disk, in the same run.

Rows
----
- retrieve (WADO-RS into a new folder, complete or absent) and open in the viewer, to the
  first painted frame, beside opening the same files from disk (goal ≤ 2×). Each side starts
  a fresh viewer process (``SEGVIEWER_STARTUP_PROBE=quit``), so both include Python, Qt and
  VTK start-up; ours adds the retrieval before it;
- the retrieval alone beside ``segviewer.io.images.read_image`` on the files on disk (the
  transfer's own cost; reported, no goal).

The series is made with pydicom (uncompressed int16, 150 MB; ``--quick``: 30 slices) in a
temporary folder, stored on an Orthanc started on a free loopback port (Debian packages
``orthanc`` and ``orthanc-dicomweb``), medians of 3 runs (quick: 1), sides alternating.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, first_frame_seconds

AREA = "pacs"


def _painted(seconds: float | None) -> float:
    if seconds is None:
        raise RuntimeError("the viewer never painted the series")
    return seconds


def run(quick: bool) -> list[Row]:
    from segviewer.io.dicomweb import DicomWebServer
    from segviewer.io.images import read_image
    from tests.pacs.orthanc import OrthancServer, orthanc_available
    from tests.pacs.series import synthetic_ct

    reason = orthanc_available()
    if reason:
        return [Row(AREA, "series from a local Orthanc", float("nan"), "s", note=f"skipped: {reason}")]
    slices, repeat = (30, 1) if quick else (300, 3)
    size = f"512×512×{slices}"
    with tempfile.TemporaryDirectory(prefix="segviewer-bench-pacs-") as scratch:
        scratch = Path(scratch)
        files = synthetic_ct(scratch / "disk", slices=slices)
        with OrthancServer(scratch / "orthanc") as orthanc:
            server = DicomWebServer(orthanc.dicomweb_url, timeout_s=120)
            server.store(files)
            [entry] = server.search(patient="SEGVIEWER-BENCH")
            targets = iter(scratch / f"retrieved{n}" for n in range(100))

            def retrieve() -> Path:
                return server.retrieve_series(entry.study_uid, entry.series_uid, next(targets))

            ours, disk, fetch, read = [], [], [], []
            for n in range(repeat):
                folder = scratch / f"retrieved_open{n}"
                ours.append(_painted(first_frame_seconds(
                    [folder], scratch / "settings.ini",
                    before=lambda f=folder: server.retrieve_series(entry.study_uid, entry.series_uid, f))))
                disk.append(_painted(first_frame_seconds([files[0].parent], scratch / "settings.ini")))
                start = time.perf_counter()
                retrieve()
                fetch.append(time.perf_counter() - start)
                start = time.perf_counter()
                read_image(files[0].parent)
                read.append(time.perf_counter() - start)
    median = statistics.median
    megabytes = slices * 512 * 512 * 2 / 1e6  # the pixel data
    return [
        Row(AREA, f"{size} CT from a local Orthanc → first painted frame (new viewer process)", median(ours), "s",
            baseline_name="the same files opened from disk", baseline=median(disk), goal="≤ 2×",
            note="both sides start a viewer process; ours retrieves (WADO-RS, as stored) first"),
        Row(AREA, f"{size} CT retrieval alone (WADO-RS into a new folder, {megabytes:.0f} MB, fsynced)",
            median(fetch), "s", baseline_name="read_image of the files on disk", baseline=median(read),
            goal="report"),
    ]
