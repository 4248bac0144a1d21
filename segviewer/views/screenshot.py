"""Render the whole main window (slice views and 3D view) to a PNG, with no interaction.

Used by ``segviewer screenshot`` and the tests. Under X (or Xvfb) the real window is drawn and
the 3D view's OpenGL pixels are read back and painted in. With no display at all, Qt runs on
its off-screen platform and the 3D scene is rendered by an off-screen VTK window (EGL).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from segviewer.errors import SegviewerError

#: The longest we wait for the 3D surfaces before taking the picture anyway.
SURFACE_TIMEOUT_S = 120.0


def _prepare_platform() -> str | None:
    """Choose the off-screen Qt platform when there is no display; returns the 3D mode."""
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen" and not os.environ.get("SEGVIEWER_3D"):
        return "offscreen"
    return None


def wait_until_idle(app, window, timeout: float = SURFACE_TIMEOUT_S, others_since=None,
                    others_timeout: float = 15.0) -> None:
    """Process events until the 3D surfaces are built and no worker thread is left.

    ``others_since`` (threads alive before the window was made): also wait, up to
    ``others_timeout`` seconds, for threads started since then by panels (statistics, ...),
    so their results show in the picture; a long-lived worker only costs that delay.
    """
    import threading

    from segviewer.views import background

    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if not window.view3d.busy and not background.running_threads():
            others = [] if others_since is None else [
                t for t in threading.enumerate() if t not in others_since and t.is_alive()]
            # Panels may say they are still working (a ``busy`` property, e.g. statistics).
            panels = [dock for dock in window.docks.values() if getattr(dock.widget(), "busy", False)]
            if (not others and not panels) or time.monotonic() - start > others_timeout:
                break
        time.sleep(0.005)
    for _ in range(5):  # let the last layout, paint and render requests run
        app.processEvents()
        time.sleep(0.01)


@dataclass
class Screenshot:
    """A saved screenshot and where each visible view lies in it (x, y, width, height)."""

    path: Path
    panes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    view3d_mode: str = ""


def take_screenshot(image: str | Path | None, output: str | Path, labels: str | Path | None = None,
                    scribbles: str | Path | None = None, points: str | Path | None = None,
                    slice_mm: tuple[float, float, float] | None = None,
                    size: tuple[int, int] = (1400, 900), layout: str = "",
                    outline: bool = False) -> Screenshot:
    """Open ``image`` (the demo when None) in a main window of ``size`` and save it to ``output``.

    ``slice_mm`` puts the cursor (and so the three slices) at an LPS point in mm; ``layout``
    maximises one view ("axial", "sagittal", "coronal", "3d"; "" = 2x2). ``output`` is
    refused (before anything is drawn) when it is one of the inputs; it is written complete
    or not at all.
    """
    from segviewer.io.atomic import input_guard

    guard = input_guard(image=image, labels=labels, scribbles=scribbles, points=points)
    guard.check(output, "the screenshot")
    mode = _prepare_platform()
    from PySide6.QtCore import QSettings

    from segviewer.views import files

    files.check_picture_suffix(output)
    from segviewer.views.app import create_application
    from segviewer.views.main_window import MainWindow

    if image is None:
        image, demo_labels = files.demo_paths()
        labels = labels or demo_labels
    app = create_application()
    import threading

    threads_before = set(threading.enumerate())
    with tempfile.TemporaryDirectory() as folder:
        # A throw-away settings file: a screenshot must not depend on, or change, the user's.
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, view3d_mode=mode)
        window._quiet_errors = True
        try:
            window.resize(*size)
            window.show()
            window.load(image, labels, scribbles, points, block=True)
            session = window.controller.session
            guard.protect_image(session.image)  # a DICOM series: every slice file
            if slice_mm is not None:
                voxel = session.geometry.physical_to_voxel(slice_mm)
                if voxel is None:
                    raise SegviewerError(f"--slice-mm {tuple(slice_mm)} lies outside the image")
                window.controller.set_cursor(voxel)
            window.controller.update_display(outline=outline)
            window.grid.maximise(layout)
            wait_until_idle(app, window, others_since=threads_before)
            window.export_screenshot(output, guard)
            ratio = window.devicePixelRatioF()
            panes = {}
            for key, view in window.views.items():
                if view.isVisible():
                    corner = view.mapTo(window, view.rect().topLeft())
                    panes[key] = (int(corner.x() * ratio), int(corner.y() * ratio),
                                  int(view.width() * ratio), int(view.height() * ratio))
            result = Screenshot(Path(output), panes, window.view3d.mode)
        finally:
            from segviewer.views import background

            background.wait_all(timeout=SURFACE_TIMEOUT_S)
            app.processEvents()
            window.view3d.close_vtk()
            window.hide()
            window.controller.set_session(None)
            window.deleteLater()
            app.processEvents()
    return result


def qimage_to_array(image) -> "np.ndarray":
    """RGB ``uint8`` array (rows, columns, 3) of a QImage (for checks on screenshots)."""
    import numpy as np
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.bytesPerLine() * height)
    return buffer.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()
