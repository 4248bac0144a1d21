"""GUI responsiveness while a long graph cut and a from-scratch fine-tuning run (pytest-qt under
Xvfb; run by ``benchmarks/bench_methods.py`` in full mode, which reads the JSON it writes).

The real main window shows a 512×512×300 CT-like volume (the chest series tiled along z)
with 3-slice scribbles; the method panel runs a graph cut with 26 neighbours and no
coarse-to-fine on the scribbles' ROI (~20–30 s). A 10 ms QTimer on the GUI thread records
the gaps between its ticks while the job runs: once with the helper process (how the GUI
runs GIL-bound methods) and once with the cut on the worker thread itself (the stall the
helper process avoids). Then the spleen CT with 3-slice scribbles and fine-tuning from
scratch (default steps): its distance prior and graph-cut refinement go to the helper process
(``segviewer.methods.offload``), against the same run with every step on the worker thread.
Output: ``$SEGVIEWER_STALL_OUT`` (JSON, one entry per test).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

pytest.importorskip("pytestqt")


def _measure(qtbot, panel, timeout_s: float) -> dict:
    from benchmarks.common import GuiHeartbeat

    heartbeat = GuiHeartbeat(interval_ms=10)
    heartbeat.start()
    qtbot.wait(200)  # settle
    heartbeat.reset()
    started = time.perf_counter()
    panel.run()
    qtbot.waitUntil(lambda: not panel.busy, timeout=int(timeout_s * 1000))
    job_s = time.perf_counter() - started
    heartbeat.stop()
    gaps, stamps = heartbeat.gaps, heartbeat.stamps
    job = panel.compute.latest
    assert job is not None and job.state == "finished", (job.state, job.error)
    values = np.asarray(gaps[1:] or [0.0])
    worst = np.argsort(values)[::-1][:5]
    return {"max_gap_s": float(values.max()), "p99_gap_s": float(np.percentile(values, 99)),
            "over_50ms": int(np.count_nonzero(values > 0.05)), "ticks": int(values.size), "job_s": job_s,
            "worst_gaps": [[round(float(stamps[i + 1] - values[i] - started), 3), round(float(values[i]), 3)]
                           for i in worst if i + 1 < len(stamps)]}


def _helper_then_in_thread(qtbot, panel) -> dict:
    """The panel's job as the GUI runs it, then with every step on the worker thread itself
    (what the helper process saves us from)."""
    results = {"helper": _measure(qtbot, panel, 600)}
    panel.compute.shutdown()
    panel.compute._isolate = False
    results["in_thread"] = _measure(qtbot, panel, 600)
    panel.compute.shutdown()
    return results


def _write(name: str, results: dict) -> None:
    out = os.environ.get("SEGVIEWER_STALL_OUT")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = results
        path.write_text(json.dumps(data, indent=2))
    print(name, json.dumps(results, indent=2))


def _main_window(qtbot, tmp_path, volume):
    from PySide6.QtCore import QSettings

    from segviewer.model.session import Session
    from segviewer.views.app import create_application
    from segviewer.views.main_window import MainWindow

    create_application()
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), view3d_mode="off")
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    session = Session(volume)
    window.controller.set_session(session)
    qtbot.wait(500)
    return window, session


def _close(window) -> None:
    window.ask_save_changes = lambda text: None
    window._confirm_discard = lambda what: True
    window.close()
    window.deleteLater()


def test_gui_stall_during_a_long_cut(qtbot, qapp, tmp_path):
    from benchmarks.bench_methods import tiled_ct_case
    from segviewer.model.geometry import full_box
    from segviewer.model.image import ImageVolume
    from segviewer.model.session import SCRIBBLES

    case = tiled_ct_case()
    assert case is not None, "the chest CT series is needed"
    image, geometry, scribbles, _ = case
    window, session = _main_window(qtbot, tmp_path, ImageVolume(image, geometry, name="tiled chest CT"))
    session.apply_layer_crop(SCRIBBLES, full_box(image.shape), scribbles, "scribbles",
                             where=scribbles != np.iinfo(scribbles.dtype).max)
    panel = window.docks["segment"].widget()
    panel.select_method("graphcut")
    panel.form.set_value("connectivity", 26)
    panel.form.set_value("multiscale", "off")
    panel.compute.prestart(panel.method)
    qtbot.wait(3000)  # the helper process finishes importing
    _write("graphcut", _helper_then_in_thread(qtbot, panel))
    _close(window)


def test_gui_stall_during_fine_tuning_from_scratch(qtbot, qapp, tmp_path):
    from benchmarks.common import SHARED_DATA
    from segviewer.evaluation.simulate import simulate_scribbles
    from segviewer.io.images import read_image
    from segviewer.model.geometry import full_box
    from segviewer.model.session import SCRIBBLES

    image = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct.nii.gz")
    reference = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct_label.nii.gz").array.astype(np.uint8)
    scribbles = simulate_scribbles(reference, image.geometry, slices=3, seed=0)
    window, session = _main_window(qtbot, tmp_path, image)
    session.apply_layer_crop(SCRIBBLES, full_box(scribbles.shape), scribbles, "scribbles", where=scribbles != 255)
    panel = window.docks["segment"].widget()
    panel.select_method("finetune")
    panel.form.set_value("model", "scratch")
    panel.form.set_value("continue_training", False)
    panel.compute.prestart(panel.method)
    _measure(qtbot, panel, 600)  # the first run imports torch (a one-off stall), not measured
    _write("finetune_scratch", _helper_then_in_thread(qtbot, panel))
    _close(window)
