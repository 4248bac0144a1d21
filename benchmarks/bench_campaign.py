"""Campaign figures: switching case in the main window (save the edited case, open the next,
to its first painted frame) beside a plain open of the same file in the same window, and
``campaign status`` on a 5,000-case campaign beside reading the same record files with bare
``json.load``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmarks.common import PROJECT_ROOT, Row

AREA = "campaign"
SIZE_FULL = (300, 512, 512)  # slices, rows, columns
SIZE_QUICK = (40, 128, 128)
STATUS_CASES_FULL = 5000
STATUS_CASES_QUICK = 300


def _application():
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from segviewer.views.app import create_application

    return create_application()


def _write_volume(folder: Path, shape, cases: int) -> list[Path]:
    """A CT-like int16 volume (uncompressed NIfTI, as a study's images often are) and a link to
    it per case, so each case has its own image path without repeating 150 MB on disk."""
    rng = np.random.default_rng(5)
    nz, ny, nx = shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    body = ((x - nx / 2) / (nx * 0.42)) ** 2 + ((y - ny / 2) / (ny * 0.35)) ** 2 <= 1
    array = np.where(np.broadcast_to(body, shape), 40, -1000).astype(np.int16)
    array += rng.normal(0, 20, size=shape).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 1.5))
    base = folder / "volume.nii"
    sitk.WriteImage(image, str(base), False)
    links = []
    for number in range(cases):
        link = folder / f"case_{number:03d}.nii"
        link.symlink_to(base.name)
        links.append(link)
    return links


class _FirstPaint:
    """Waits for the axial view's next paint of a session other than ``before``."""

    def __init__(self, window) -> None:
        from PySide6.QtCore import QEvent, QObject

        self.window = window
        self.painted = False
        self.before = None
        viewport = window.views["axial"].graphics.viewport()
        probe = self

        class Filter(QObject):
            def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
                session = probe.window.controller.session
                if event.type() == QEvent.Type.Paint and session is not None and session is not probe.before:
                    probe.painted = True
                return False

        self.filter = Filter(window)
        viewport.installEventFilter(self.filter)

    def time(self, app, start_switch) -> float:
        self.before = self.window.controller.session
        self.painted = False
        start = time.perf_counter()
        start_switch()
        deadline = start + 120
        while not self.painted and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)
        if not self.painted:
            raise RuntimeError("the next case was never painted")
        return time.perf_counter() - start


def _switch_rows(app, quick: bool) -> list[Row]:
    from segviewer.app.campaign import Campaign, cases_from_source
    from segviewer.model.geometry import full_box
    from segviewer.views import background
    from segviewer.views.main_window import MainWindow
    from PySide6.QtCore import QSettings

    shape = SIZE_QUICK if quick else SIZE_FULL
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="segviewer-bench-campaign-") as scratch:
        scratch = Path(scratch)
        (scratch / "images").mkdir()
        images = _write_volume(scratch / "images", shape, 2 * repeat + 1)
        _kind, cases = cases_from_source(scratch / "images")
        cases = [c for c in cases if c.id != "volume"]
        campaign = Campaign.create(scratch / "study", cases)
        os.environ["SEGVIEWER_RECOVERY_DIR"] = str(scratch / "recovery")
        window = MainWindow(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(1200, 800)
        window.show()
        dock = window.docks["campaign"].widget()
        probe = _FirstPaint(window)
        probe.time(app, lambda: dock.open_campaign(campaign, "bench"))

        def settle() -> None:
            deadline = time.perf_counter() + 60
            while (background.running_threads() or window.view3d.busy) and time.perf_counter() < deadline:
                app.processEvents()
                time.sleep(0.005)
            dock.navigator.wait()

        def edit() -> None:
            session = window.controller.session
            nz, ny, nx = session.geometry.shape
            box = (slice(nz // 3, nz // 3 + 10), slice(ny // 4, ny // 2), slice(nx // 4, nx // 2))
            session.apply_layer_crop("labels", box, np.ones([s.stop - s.start for s in box], np.uint8), "Brush")

        ids = campaign.case_ids()
        switch_times, unchanged_times, plain_times = [], [], []
        for round_ in range(repeat):  # each round: an edited case, then two others
            settle()
            edit()
            switch_times.append(probe.time(app, lambda: dock.open_case(ids[2 * round_ + 1])))  # save, open next
            settle()
            unchanged_times.append(probe.time(app, lambda: dock.open_case(ids[2 * round_ + 2])))  # nothing to save
            settle()
            dock.navigator.leave_case()
            plain_times.append(probe.time(app, lambda: window.load(images[0])))  # the peer: a plain open
            settle()
            probe.time(app, lambda: dock.open_case(ids[2 * round_ + 2]))
        saved = [c for c in campaign.case_ids() if campaign.existing_layer(c, "bench", "labels")]
        dock.close_campaign()
        window.close()
        app.processEvents()
        background.wait_all(timeout=60)
    size = "×".join(str(n) for n in reversed(shape))
    plain = statistics.median(plain_times)
    note = (f"{len(saved)} edited cases saved; int16 image read from uncompressed NIfTI; "
            "labels written in the background")
    return [Row(AREA, f"save edited case and open the next, {size}: to first painted frame",
                statistics.median(switch_times), "s", "plain open of the same file in the same window", plain,
                "<= 1 s", note),
            Row(AREA, f"switch to the next case, nothing changed, {size}: to first painted frame",
                statistics.median(unchanged_times), "s", "plain open of the same file in the same window", plain,
                "<= 1 s")]


def _make_status_campaign(folder: Path, cases: int) -> Path:
    """A campaign of ``cases`` cases, one to three annotators' records each (written plainly:
    the setup, not the figure)."""
    from segviewer.app.campaign import DONE, IN_PROGRESS, Campaign, SourceCase
    from segviewer.app.campaign.records import CaseRecord

    image = folder / "tiny.nii.gz"
    sitk.WriteImage(sitk.Image(4, 4, 4, sitk.sitkInt16), str(image))
    campaign = Campaign.create(folder / "study", [SourceCase(f"case_{n:05d}", image, (image,)) for n in range(cases)])
    rng = np.random.default_rng(3)
    for number, case_id in enumerate(campaign.case_ids()):
        for annotator in ("ann", "ben", "cleo")[: int(rng.integers(0, 4))]:
            record = CaseRecord(case_id, annotator, active_seconds=float(rng.uniform(30, 900)),
                                edits=int(rng.integers(1, 60)))
            record.set_state(IN_PROGRESS)
            if number % 3:
                record.set_state(DONE)
            path = campaign.annotator_folder(case_id, annotator) / "record.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(record.to_dict(), indent=1))
    return folder / "study"


def _status_rows(quick: bool) -> list[Row]:
    from segviewer.app.campaign import Campaign, campaign_status
    from segviewer.io.jsonfile import dumps

    count = STATUS_CASES_QUICK if quick else STATUS_CASES_FULL
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="segviewer-bench-status-") as scratch:
        root = _make_status_campaign(Path(scratch), count)

        def ours() -> None:
            dumps(campaign_status(Campaign.open(root)).to_dict())

        def bare() -> None:  # the floor of any reader of per-case record files
            for path in root.glob("cases/*/annotators/*/record.json"):
                with open(path, encoding="utf-8") as handle:
                    json.load(handle)

        ours_times, bare_times = [], []
        for _ in range(repeat):
            for function, times in ((ours, ours_times), (bare, bare_times)):
                start = time.perf_counter()
                function()
                times.append(time.perf_counter() - start)
        records = len(list(root.glob("cases/*/annotators/*/record.json")))
        command = [sys.executable, "-m", "segviewer", "campaign", "status", str(root), "--json"]
        process_times, start_times = [], []
        for _ in range(repeat):
            for arguments, times in ((command, process_times),
                                     ([sys.executable, "-m", "segviewer", "--version"], start_times)):
                start = time.perf_counter()
                subprocess.run(arguments, cwd=PROJECT_ROOT, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
    return [Row(AREA, f"campaign status of {count} cases ({records} records), in process",
                statistics.median(ours_times), "s", "json.load of the same record files",
                statistics.median(bare_times), "<= 1 s"),
            Row(AREA, f"segviewer campaign status --json, {count} cases (new process)",
                statistics.median(process_times), "s", "segviewer --version (new process)",
                statistics.median(start_times), "<= 1 s",
                "includes Python start-up and imports")]


def run(quick: bool) -> list[Row]:
    app = _application()
    return _switch_rows(app, quick) + _status_rows(quick)


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
