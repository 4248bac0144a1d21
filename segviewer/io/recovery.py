"""Crash recovery: autosave of labels, scribbles and points, and restoring them.

One folder per image under the recovery root (``$SEGVIEWER_RECOVERY_DIR``, else
``$XDG_STATE_HOME/segviewer/recovery``, else ``~/.local/state/segviewer/recovery``). A save
writes generation-numbered files (``labels-<n>.nii.gz``, ``scribbles-<n>.nii.gz``,
``points-<n>.json``, ``table-<n>.json``) each atomically, then replaces ``manifest.json``
atomically; only then are older generations deleted. A crash at any moment therefore
leaves either the previous complete snapshot or the new one, never a mix.

:meth:`RecoveryStore.capture` copies what is to be saved (GUI thread, a memory copy);
:meth:`RecoveryStore.write` writes a capture (any thread). :class:`Autosaver` drives both:
it listens to a session's change events and saves at most once per interval while the
user edits, and :meth:`Autosaver.flush` saves at quit. When every layer has been saved
by the user the snapshot is discarded, so a clean quit offers nothing at the next start.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segviewer.io.atomic import write_atomically, write_text_atomically
from segviewer.io.sitk_images import image_to_sitk
from segviewer.io.label_table import table_from_json, table_to_json
from segviewer.model.geometry import Geometry, full_box
from segviewer.model.labels import LabelMap, LabelTable
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.signals import Connections

RECOVERY_ENV = "SEGVIEWER_RECOVERY_DIR"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def default_recovery_root() -> Path:
    """Where snapshots live (see the module docstring for the order of precedence)."""
    override = os.environ.get(RECOVERY_ENV)
    if override:
        return Path(override)
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state) if state else Path.home() / ".local" / "state"
    return base / "segviewer" / "recovery"


def image_key(image) -> str:
    """A stable folder name for an image: its resolved path (or name) and its grid."""
    source = str(Path(image.path).resolve()) if getattr(image, "path", None) else str(image.name)
    text = json.dumps({"source": source, "geometry": image.geometry.to_dict()}, sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Capture:
    """A frozen copy of what a snapshot holds (made on the GUI thread)."""

    key: str
    image_path: str | None
    image_name: str
    geometry: Geometry
    labels: np.ndarray | None
    scribbles: np.ndarray | None
    points: list[dict] | None
    table: dict
    created: float = field(default_factory=time.time)


@dataclass
class RecoverySnapshot:
    """A complete snapshot on disk, as described by its manifest."""

    folder: Path
    image_path: str | None
    image_name: str
    geometry: Geometry
    saved_at: float
    files: dict

    @property
    def has_labels(self) -> bool:
        return "labels" in self.files

    @property
    def has_scribbles(self) -> bool:
        return "scribbles" in self.files

    @property
    def has_points(self) -> bool:
        return "points" in self.files

    def describe(self) -> str:
        parts = [name for name in ("labels", "scribbles", "points") if name in self.files]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        return f"{self.image_name}: {', '.join(parts) or 'nothing'} autosaved {when}"


class RecoveryStore:
    """Snapshots on disk, one folder per image."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_recovery_root()
        self._lock = threading.Lock()

    def folder_for(self, image) -> Path:
        return self.root / image_key(image)

    # -- saving ---------------------------------------------------------------------------
    def capture(self, session, labels: bool = True, scribbles: bool = True,
                points: bool = True) -> Capture:
        """Copy the session's layers (call on the thread that owns the session)."""
        image = session.image
        return Capture(
            key=image_key(image),
            image_path=str(Path(image.path).resolve()) if image.path else None,
            image_name=image.name, geometry=session.geometry,
            labels=session.labels.array.copy() if labels else None,
            scribbles=(session.scribbles.array.copy()
                       if scribbles and not session.scribbles.is_empty() else None),
            points=session.points.to_list() if points and len(session.points) else None,
            table=table_to_json(session.label_table))

    def write(self, capture: Capture) -> RecoverySnapshot:
        """Write a capture as the folder's newest complete snapshot (thread-safe)."""
        with self._lock:
            folder = self.root / capture.key
            folder.mkdir(parents=True, exist_ok=True)
            previous = self._read_manifest(folder)
            generation = int(previous.get("generation", 0)) + 1 if previous else 1
            files: dict[str, str] = {}
            if capture.labels is not None:
                files["labels"] = self._write_volume(folder, f"labels-{generation}.nii.gz",
                                                     capture.labels, capture.geometry)
            if capture.scribbles is not None:
                files["scribbles"] = self._write_volume(folder, f"scribbles-{generation}.nii.gz",
                                                        capture.scribbles, capture.geometry)
            if capture.points is not None:
                name = f"points-{generation}.json"
                write_text_atomically(folder / name, json.dumps({"points": capture.points}, indent=1))
                files["points"] = name
            name = f"table-{generation}.json"
            write_text_atomically(folder / name, json.dumps(capture.table, indent=1))
            files["table"] = name
            manifest = {
                "format": FORMAT_VERSION, "generation": generation,
                "image_path": capture.image_path, "image_name": capture.image_name,
                "geometry": capture.geometry.to_dict(), "saved_at": capture.created,
                "pid": os.getpid(), "files": files,
            }
            write_text_atomically(folder / MANIFEST, json.dumps(manifest, indent=1))
            keep = set(files.values()) | {MANIFEST}
            for stale in folder.iterdir():
                if stale.name not in keep and not stale.name.startswith("."):
                    stale.unlink(missing_ok=True)
            return self._snapshot(folder, manifest)

    def save(self, session) -> RecoverySnapshot:
        return self.write(self.capture(session))

    @staticmethod
    def _write_volume(folder: Path, name: str, array: np.ndarray, geometry: Geometry) -> str:
        image = image_to_sitk(array, geometry)
        write_atomically(folder / name,
                         lambda path: sitk.WriteImage(image, str(path), True, 1))
        return name

    # -- finding ---------------------------------------------------------------------------
    @staticmethod
    def _read_manifest(folder: Path) -> dict | None:
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and "files" in manifest else None

    @staticmethod
    def _snapshot(folder: Path, manifest: dict) -> RecoverySnapshot:
        return RecoverySnapshot(folder, manifest.get("image_path"), manifest.get("image_name", ""),
                                Geometry.from_dict(manifest["geometry"]),
                                float(manifest.get("saved_at", 0.0)), dict(manifest["files"]))

    def snapshot_for(self, image) -> RecoverySnapshot | None:
        """The snapshot of ``image`` (same file and grid), if a complete one exists."""
        folder = self.folder_for(image)
        manifest = self._read_manifest(folder)
        if manifest is None:
            return None
        snapshot = self._snapshot(folder, manifest)
        if not snapshot.geometry.same_grid(image.geometry):
            return None
        if not all((folder / name).is_file() for name in snapshot.files.values()):
            return None
        return snapshot

    def list_for_image(self, image) -> list[RecoverySnapshot]:
        snapshot = self.snapshot_for(image)
        return [snapshot] if snapshot is not None else []

    def list_all(self) -> list[RecoverySnapshot]:
        """Every complete snapshot, newest first (for a "recover…" menu)."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            manifest = self._read_manifest(folder) if folder.is_dir() else None
            if manifest is not None:
                found.append(self._snapshot(folder, manifest))
        return sorted(found, key=lambda s: s.saved_at, reverse=True)

    # -- restoring ----------------------------------------------------------------------------
    def load_labels(self, snapshot: RecoverySnapshot) -> LabelMap | None:
        if not snapshot.has_labels:
            return None
        array = self._read_volume(snapshot, "labels")
        table = self.load_table(snapshot)
        return LabelMap(array, snapshot.geometry, table)

    def load_table(self, snapshot: RecoverySnapshot) -> LabelTable:
        name = snapshot.files.get("table")
        if not name:
            return LabelTable()
        path = snapshot.folder / name
        return table_from_json(json.loads(path.read_text(encoding="utf-8")), str(path))

    def load_scribbles(self, snapshot: RecoverySnapshot) -> np.ndarray | None:
        return self._read_volume(snapshot, "scribbles") if snapshot.has_scribbles else None

    def load_points(self, snapshot: RecoverySnapshot) -> PointSet | None:
        if not snapshot.has_points:
            return None
        data = json.loads((snapshot.folder / snapshot.files["points"]).read_text(encoding="utf-8"))
        return PointSet([PointPrompt.from_dict(p) for p in data["points"]])

    @staticmethod
    def _read_volume(snapshot: RecoverySnapshot, layer: str) -> np.ndarray:
        array = sitk.GetArrayFromImage(sitk.ReadImage(str(snapshot.folder / snapshot.files[layer])))
        if tuple(array.shape) != snapshot.geometry.shape:
            raise ValueError(f"recovered {layer} do not match the snapshot's grid")
        return array

    def restore(self, session, snapshot: RecoverySnapshot) -> None:
        """Load a snapshot into ``session``: labels and scribbles as undoable steps."""
        if not snapshot.geometry.same_grid(session.geometry):
            raise ValueError("the recovery snapshot is not on this image's grid")
        label_map = self.load_labels(snapshot)
        if label_map is not None:
            session.replace_labels(label_map, "Restore autosaved labels")
        scribbles = self.load_scribbles(snapshot)
        if scribbles is not None:
            if scribbles.dtype == np.uint16 and session.scribbles.array.dtype == np.uint8:
                session.scribbles.widen_if_needed(np.iinfo(np.uint8).max)
            elif scribbles.dtype == np.uint8 and session.scribbles.array.dtype == np.uint16:
                wide = scribbles.astype(np.uint16)
                wide[scribbles == np.iinfo(np.uint8).max] = np.iinfo(np.uint16).max
                scribbles = wide
            session.apply_layer_crop("scribbles", full_box(session.geometry.shape), scribbles,
                                     "Restore autosaved scribbles")
        points = self.load_points(snapshot)
        if points is not None:
            session.replace_points(points, "Restore autosaved points")
            session._set_dirty("points", True)

    def discard(self, snapshot_or_image) -> None:
        """Delete a snapshot (or the snapshot of an image)."""
        folder = (snapshot_or_image.folder if isinstance(snapshot_or_image, RecoverySnapshot)
                  else self.folder_for(snapshot_or_image))
        with self._lock:
            if not folder.is_dir():
                return
            (folder / MANIFEST).unlink(missing_ok=True)  # first: the snapshot is gone at once
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass


class Autosaver:
    """Saves a session's unsaved work to a :class:`RecoveryStore` while the user edits.

    Call :meth:`tick` from a timer (e.g. every few seconds; it saves only when something
    changed and ``interval_s`` passed since the last save) and :meth:`flush` at quit.
    Writing happens in a background thread; the copy is made on the caller's thread.
    """

    def __init__(self, session, store: RecoveryStore | None = None, interval_s: float = 60.0,
                 background: bool = True) -> None:
        self.session = session
        self.store = store or RecoveryStore()
        self.interval_s = float(interval_s)
        self.background = background
        self._pending = False
        self._last_save = 0.0
        self._thread: threading.Thread | None = None
        self.last_error: Exception | None = None
        self.last_snapshot: RecoverySnapshot | None = None
        events = session.events
        self._connections = Connections()
        for event in (events.labels_changed, events.scribbles_changed, events.points_changed):
            self._connections.connect(event, self._on_change)
        self._connections.connect(events.dirty_changed, self._on_dirty)

    def close(self) -> None:
        """Stop listening (wait for a running write)."""
        self._connections.disconnect_all()
        self.wait()

    def _on_change(self, *args) -> None:
        if not self._pending:
            self._pending = True
            if self._last_save == 0.0:
                self._last_save = time.monotonic()  # first save one interval after editing starts

    def _on_dirty(self, dirty: bool) -> None:
        if not dirty:  # everything saved by the user: nothing left to recover
            self._pending = False
            self.wait()
            self.store.discard(self.session.image)

    @property
    def pending(self) -> bool:
        return self._pending

    def tick(self, now: float | None = None) -> bool:
        """Save if there are unsaved edits and the interval has passed; True when started."""
        now = time.monotonic() if now is None else now
        if not self._pending or now - self._last_save < self.interval_s or self.busy:
            return False
        self._save(background=self.background)
        return True

    def flush(self) -> RecoverySnapshot | None:
        """Save now, synchronously, if anything is unsaved (call at quit)."""
        self.wait()
        if not self._pending or not self.session.is_dirty:
            return None
        self._save(background=False)
        return self.last_snapshot

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def _save(self, background: bool) -> None:
        capture = self.store.capture(self.session)
        self._pending = False
        self._last_save = time.monotonic()

        def write() -> None:
            try:
                self.last_snapshot = self.store.write(capture)
                self.last_error = None
            except Exception as error:  # noqa: BLE001 - reported to the GUI, retried next tick
                self.last_error = error
                self._pending = True

        if background:
            self._thread = threading.Thread(target=write, name="segviewer-autosave", daemon=True)
            self._thread.start()
        else:
            write()
