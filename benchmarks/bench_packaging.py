"""Packaging figures: the PyInstaller bundle's size and start-up beside the venv's, and its smoke test.

``python -m benchmarks.run --only packaging`` (full mode) uses the bundle named by
``SEGVIEWER_BUNDLE`` (an unpacked folder or a tarball), else the newest
``dist/segviewer-*-linux-*.tar.gz``, else builds one with ``bash packaging/build_bundle.sh``.
It unpacks a tarball, runs the smoke test (``segviewer info`` and ``segviewer screenshot`` of
the demo in a clean environment: no venv, no PYTHONPATH) and reports:

- the unpacked size, beside the venv's (goal ≤ 1.5 GB with the CPU torch);
- start-up to the first painted frame of the demo, median of 7 fresh processes
  alternating with the venv's ``segviewer`` (goal ≤ 1.5× the venv).

Quick mode (CI) reports nothing: building and unpacking take minutes.
``tests/packaging/test_bundle.py`` runs the same smoke test.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import PROJECT_ROOT, Row

AREA = "packaging"
VENV_SEGVIEWER = PROJECT_ROOT / ".venv" / "bin" / "segviewer"
DEMO_IN_BUNDLE = Path("demo") / "spleen_ct.nii.gz"
START_UP_RUNS = 7


def newest_tarball() -> Path | None:
    built = sorted((PROJECT_ROOT / "dist").glob("segviewer-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return built[-1] if built else None


def unpack(tarball: Path, into: Path) -> Path:
    """Unpack a bundle tarball into ``into``; returns the bundle folder (the one with ./segviewer)."""
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into)], check=True)  # as a user unpacks it
    folders = [p.parent for p in into.glob("*/segviewer") if p.is_file()]
    if len(folders) != 1:
        raise RuntimeError(f"{tarball}: expected one folder holding ./segviewer, found {folders}")
    return folders[0]


def clean_environment(**extra: str) -> dict[str, str]:
    """What a user's desktop session gives a program, and nothing of this Python: no venv,
    no PYTHONPATH (as ``env -i PATH=... HOME=... DISPLAY=... XAUTHORITY=...``)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    if os.environ.get("DISPLAY"):
        # The X server's address and its access cookie (xvfb-run makes one, as a desktop does).
        env.update({key: os.environ[key] for key in ("DISPLAY", "XAUTHORITY") if key in os.environ})
    else:  # no X server: Qt and VTK render off screen
        env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def run_clean(command: list[str], timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=clean_environment(**extra), cwd=tempfile.gettempdir())


def picture_spread(png: Path) -> float:
    """The standard deviation of a PNG's pixel values: about 0 for a blank (one-colour) picture."""
    import SimpleITK as sitk

    return float(sitk.GetArrayFromImage(sitk.ReadImage(str(png))).std())


def smoke_test(bundle: Path, out: Path) -> dict[str, float]:
    """``info`` and ``screenshot`` of the demo with the bundle alone; raises when one fails.
    Returns their times (s) and the screenshot's pixel spread."""
    executable = bundle / "segviewer"
    started = time.perf_counter()
    info = run_clean([str(executable), "info", str(bundle / DEMO_IN_BUNDLE)])
    info_seconds = time.perf_counter() - started
    if info.returncode != 0 or "164 x 166 x 26" not in info.stdout:
        raise RuntimeError(f"bundle info failed ({info.returncode}): {info.stderr[-2000:]}")
    png = out / "bundle-screenshot.png"
    started = time.perf_counter()
    shot = run_clean([str(executable), "screenshot", "-o", str(png)], SEGVIEWER_SETTINGS=str(out / "settings.ini"))
    shot_seconds = time.perf_counter() - started
    if shot.returncode != 0 or not png.is_file():
        raise RuntimeError(f"bundle screenshot failed ({shot.returncode}): {shot.stderr[-2000:]}")
    return {"info_s": info_seconds, "screenshot_s": shot_seconds, "pixel_std": picture_spread(png)}


def first_frame_seconds(executable: Path, settings: Path) -> float | None:
    """Seconds from starting ``executable`` (no arguments: the demo) to its first painted frame,
    which the start-up probe prints before it closes the window; None when it never paints.
    ``settings``: a scratch settings file, so the user's own layout is neither used nor changed."""
    env = clean_environment(SEGVIEWER_STARTUP_PROBE="quit", SEGVIEWER_SETTINGS=str(settings))
    started = time.perf_counter()
    with subprocess.Popen([str(executable)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, cwd=tempfile.gettempdir(), env=env) as process:
        lines = (line for line in process.stdout if line.startswith("first-frame"))
        return None if next(lines, None) is None else time.perf_counter() - started


def median_start_ups(executables: list[Path], runs: int, settings: Path) -> list[float | None]:
    """Median start-up of each executable; runs alternate between them (after one warm-up each)
    so that the load of a shared machine falls on all alike."""
    times: list[list[float]] = [[] for _ in executables]
    for round_ in range(runs + 1):
        for executable, measured in zip(executables, times):
            seconds = first_frame_seconds(executable, settings)
            if seconds is None:
                return [None] * len(executables)
            if round_:  # round 0 warms the file cache
                measured.append(seconds)
    return [statistics.median(measured) for measured in times]


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed: the bundle's links are shortcuts)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def locate_bundle(workdir: Path) -> tuple[Path, float | None]:
    """The unpacked bundle to measure, and the build time when this run had to build it."""
    chosen = os.environ.get("SEGVIEWER_BUNDLE")
    build_seconds = None
    source = Path(chosen) if chosen else newest_tarball()
    if source is None:
        started = time.perf_counter()
        subprocess.run(["bash", str(PROJECT_ROOT / "packaging" / "build_bundle.sh")], check=True,
                       cwd=PROJECT_ROOT)
        build_seconds = time.perf_counter() - started
        source = newest_tarball()
    if source.is_dir():
        return source, build_seconds
    return unpack(source, workdir), build_seconds


def run(quick: bool) -> list[Row]:
    if quick:
        return []
    with tempfile.TemporaryDirectory(prefix="segviewer-bundle-") as scratch:
        workdir = Path(scratch)
        bundle, build_seconds = locate_bundle(workdir)
        smoke = smoke_test(bundle, workdir)
        venv_size = folder_bytes(PROJECT_ROOT / ".venv") if VENV_SEGVIEWER.exists() else None
        settings = workdir / "startup-settings.ini"
        executables = [bundle / "segviewer"] + ([VENV_SEGVIEWER] if VENV_SEGVIEWER.exists() else [])
        bundle_start, venv_start = (median_start_ups(executables, START_UP_RUNS, settings) + [None])[:2]
        rows = [
            Row(AREA, "bundle unpacked size (CPU torch)", folder_bytes(bundle), "B",
                baseline_name="the set-up's .venv", baseline=venv_size, goal="≤ 1.5 GB",
                extra={"bundle": str(bundle.name)}),
            Row(AREA, "bundle smoke test: info + screenshot of the demo, clean environment",
                smoke["info_s"] + smoke["screenshot_s"], "s", goal="passes (picture not blank)",
                extra=smoke),
        ]
        if bundle_start is not None:
            name = f"start-up to first painted frame with the demo, bundle (median of {START_UP_RUNS})"
            rows.append(Row(AREA, name, bundle_start, "s", baseline_name="the venv's segviewer", baseline=venv_start,
                            goal="≤ 1.5× the venv"))
        if build_seconds is not None:
            rows.append(Row(AREA, "bundle build (bash packaging/build_bundle.sh)", build_seconds, "s",
                            goal="report"))
        return rows


if __name__ == "__main__":
    from benchmarks.run import format_table

    print(format_table(run(False)))
