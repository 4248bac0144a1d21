"""Application start-up: the QApplication, its look, and :func:`run_gui`.

Start-up stays fast: only Qt, pyqtgraph and VTK are imported here; torch and MONAI are imported
by the methods that need them, when they first run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_STARTED = time.perf_counter()
log = logging.getLogger(__name__)


def dark_palette() -> QPalette:
    """A neutral dark theme, as radiology viewers use (bright UI chrome hurts reading)."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(37, 40, 45),
        QPalette.ColorRole.WindowText: QColor(220, 222, 226),
        QPalette.ColorRole.Base: QColor(26, 28, 32),
        QPalette.ColorRole.AlternateBase: QColor(40, 43, 48),
        QPalette.ColorRole.ToolTipBase: QColor(50, 53, 58),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.Text: QColor(220, 222, 226),
        QPalette.ColorRole.Button: QColor(48, 52, 58),
        QPalette.ColorRole.ButtonText: QColor(220, 222, 226),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(110, 160, 240),
        QPalette.ColorRole.Highlight: QColor(60, 110, 190),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(130, 134, 140),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 124, 130))
    return palette


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), styled; usable headless with QT_QPA_PLATFORM=offscreen."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationName("segviewer")
    app.setOrganizationName("segviewer")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, imageAxisOrder="row-major")
    return app


def settings_from_environment() -> QSettings | None:
    """``SEGVIEWER_SETTINGS=/path/file.ini`` keeps settings in that file (tests, portable use).

    A path that exists but is no regular file (``/dev/null``) means "keep nothing": Qt saves
    by renaming a new file over the old one, which, run as root, would replace the device
    itself, so such settings live in a throw-away folder instead.
    """
    path = os.environ.get("SEGVIEWER_SETTINGS")
    if not path:
        return None
    if os.path.exists(path) and not os.path.isfile(path):
        import tempfile

        path = os.path.join(tempfile.mkdtemp(prefix="segviewer-settings-"), "settings.ini")
    return QSettings(path, QSettings.Format.IniFormat)


def run_gui(args) -> int:
    """Open the main window with ``args.image`` (the demo when None), ``args.labels``,
    ``args.scribbles`` and ``args.points``; returns the exit code."""
    from segviewer.views import files
    from segviewer.views.main_window import MainWindow

    app = create_application()
    window = MainWindow(settings_from_environment())
    image = getattr(args, "image", None)
    labels = getattr(args, "labels", None)
    if image is None:
        image, demo_labels = files.demo_paths()
        labels = labels or demo_labels
        if not Path(image).exists():
            window.show()
            window.show_error("No demo", "The bundled demo image is missing; open an image with File > Open.")
            return app.exec()
    window.show()
    if os.environ.get("SEGVIEWER_STARTUP_PROBE"):
        _probe_first_frame(app, window, quit_after=os.environ["SEGVIEWER_STARTUP_PROBE"] == "quit")
    # Let the window paint first, then read the files on a worker thread.
    QTimer.singleShot(0, lambda: window.load(image, labels, getattr(args, "scribbles", None),
                                             getattr(args, "points", None)))
    return app.exec()


def _probe_first_frame(app, window, quit_after: bool) -> None:
    """Print ``first-frame <seconds since this module was imported>`` when the axial view first
    paints the loaded image (``SEGVIEWER_STARTUP_PROBE=1``; ``=quit`` also exits)."""
    from PySide6.QtCore import QEvent, QObject

    viewport = window.views["axial"].graphics.viewport()

    class PaintProbe(QObject):
        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint and window.controller.session is not None:
                elapsed = time.perf_counter() - _STARTED
                viewport.removeEventFilter(self)
                print(f"first-frame {elapsed:.4f}", flush=True)
                if quit_after:
                    QTimer.singleShot(0, window.close)
            return False

    probe = PaintProbe(window)
    viewport.installEventFilter(probe)
