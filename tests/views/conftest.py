"""Fixtures for the viewer tests: a real main window on the spleen CT, torn down cleanly.

Every test here fails when it leaves a thread running (``no_thread_left``), and the VTK
window is finalised explicitly in teardown (an unfinalised interactor crashes Xvfb runs at
exit).
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")
PySide6 = pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings  # noqa: E402

from segviewer.views import background  # noqa: E402
from viewer_helpers import close_window, wait_idle  # noqa: E402


@pytest.fixture(autouse=True)
def no_thread_left():
    """Fail a test that leaves a thread running (workers must finish or be joined)."""
    before = set(threading.enumerate())
    yield
    background.wait_all(timeout=20)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left:
            return
        time.sleep(0.02)
    pytest.fail(f"threads left running: {[t.name for t in left]}")


@pytest.fixture
def app(qapp):
    from segviewer.views.app import create_application

    return create_application()


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(app, qtbot, settings):
    """``make_window(image=None, labels=None, **options)``: a shown main window (the spleen CT
    and its expert mask by default), 1200 x 800, fully loaded."""
    from segviewer.views.main_window import MainWindow

    windows = []

    def make(image=None, labels=None, size=(1200, 800), view3d_mode=None, load=True, window_settings=None):
        window = MainWindow(window_settings or settings, view3d_mode=view3d_mode)
        window._quiet_errors = True
        windows.append(window)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        if load:
            window.load(image, labels, block=True)
            wait_idle(qtbot, window)
        return window

    yield make
    for window in windows:
        close_window(window)
    background.wait_all(timeout=20)


@pytest.fixture
def spleen_window(make_window, spleen_paths):
    image, labels = spleen_paths
    if not image.exists():
        pytest.skip(f"spleen CT not found at {image}")
    return make_window(image, labels)
