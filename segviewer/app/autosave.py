"""Autosave and crash recovery for the open session, with no Qt.

:class:`AutosaveWorkflow` keeps one :class:`segviewer.io.recovery.Autosaver` on the session of
``host`` (rebind with :meth:`session_changed`); the window's timer calls :meth:`tick`. When an
image is opened that has an autosaved snapshot, it asks ``ask_restore(snapshot)`` ("restore",
"discard" or "later"); ``defer`` runs that question after the window has shown the image
(``QTimer.singleShot(0, ...)`` in the window; at once by default).
"""

from __future__ import annotations

import logging
from typing import Callable

from segviewer.io.recovery import Autosaver, RecoverySnapshot, RecoveryStore

log = logging.getLogger(__name__)

AUTOSAVE_INTERVAL_S = 60.0


class AutosaveWorkflow:
    """Autosave of the session on ``host`` to ``store``, and the offer to restore."""

    def __init__(self, host, store: RecoveryStore, ask_restore: Callable[[RecoverySnapshot], str],
                 show_error: Callable[[str, str], None] = lambda title, text: None,
                 show_message: Callable[[str, int], None] = lambda text, msec: None,
                 interval_s: float = AUTOSAVE_INTERVAL_S,
                 defer: Callable[[Callable[[], None]], None] = lambda call: call()) -> None:
        self.host = host
        self.store = store
        self.ask_restore = ask_restore
        self.show_error = show_error
        self.show_message = show_message
        self.interval_s = float(interval_s)
        self.defer = defer
        self.autosaver: Autosaver | None = None

    def session_changed(self, session) -> None:
        """Autosave the previous image's unsaved work, then watch ``session``."""
        if self.autosaver is not None:
            old = self.autosaver
            self.autosaver = None
            try:
                old.flush()  # the previous image's unsaved work (the user chose to leave it)
            finally:
                old.close()
        if session is None:
            return
        self.autosaver = Autosaver(session, self.store, interval_s=self.interval_s)
        self.defer(lambda: self.offer_restore(session))

    def tick(self, now: float | None = None) -> None:
        """Save when a minute of editing has passed (called by the window's timer)."""
        saver = self.autosaver
        if saver is None:
            return
        saver.tick(now)
        if saver.last_error is not None:
            self.show_message(f"Autosave failed: {saver.last_error}", 5000)

    def flush(self) -> None:
        """Save unsaved work now (when the window closes); never raises."""
        if self.autosaver is not None:
            try:
                snapshot = self.autosaver.flush()
                if snapshot is not None:
                    log.info("autosaved unsaved work to %s", snapshot.folder)
            except Exception:  # never block quitting
                log.exception("autosave at quit failed")

    def shutdown(self) -> None:
        """Flush and stop watching the session."""
        self.flush()
        if self.autosaver is not None:
            self.autosaver.close()
            self.autosaver = None

    def offer_restore(self, session) -> bool:
        """If ``session``'s image has an autosaved snapshot, ask to restore it; True when restored."""
        if session is not self.host.session:
            return False
        snapshot = self.store.snapshot_for(session.image)
        if snapshot is None:
            return False
        answer = self.ask_restore(snapshot)
        if answer == "restore":
            try:
                self.store.restore(session, snapshot)
            except Exception as error:  # a damaged snapshot must not stop the viewer
                self.show_error("Could not restore autosaved work", str(error))
                return False
            self.show_message(f"Restored {snapshot.describe()}", 6000)
            return True
        if answer == "discard":
            self.store.discard(snapshot)
        return False
