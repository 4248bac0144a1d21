"""Opening and saving the viewer's files, with no Qt: the load / save / discard-prompt /
recent-files workflow.

:class:`DocumentWorkflow` holds the rules (a newer open supersedes an older one, a save never
goes over the image or another layer's file, a layer is marked saved only when nothing changed
while it was written, unsaved work is offered for saving before it is dropped). Whatever
needs the user interface comes in through :class:`FilePorts`: the window passes Qt versions
(message boxes, file dialogs, a worker thread whose result returns on the GUI thread); tests
pass plain functions and run with no display.

The session host is anything with ``session``, ``set_session(session)`` and
``replace_label_map(label_map, description)`` (:class:`segviewer.views.controller.ViewerController`,
or :class:`SessionHolder` here). Settings are anything with ``value(key, default)`` and
``setValue(key, value)`` (``QSettings``, or :class:`MemorySettings` here).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np

from segviewer.app import files
from segviewer.errors import SegviewerError
from segviewer.model.geometry import full_box
from segviewer.model.labels import LabelMap
from segviewer.model.scribbles import Scribbles
from segviewer.model.session import LABELS, SCRIBBLES, Session

log = logging.getLogger(__name__)

POINTS = "points"  # the point prompts' layer name (the model names labels and scribbles)
MAX_RECENT = 10
#: Answers of :attr:`FilePorts.ask_save_changes`.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"
#: File-dialog title and filter of each layer, and the suffix of its suggested name.
LAYER_FILES = {LABELS: ("Save labels", files.LABEL_FILTER, ".nii.gz"),
               SCRIBBLES: ("Save scribbles", files.LABEL_FILTER, ".nii.gz"),
               POINTS: ("Save points", files.POINTS_FILTER, ".json")}

Runner = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[BaseException, str], None], str], Any]


def run_now(function: Callable[[], Any], done: Callable[[Any], None],
            failed: Callable[[BaseException, str], None], name: str = "") -> None:
    """A :data:`Runner` that works on the calling thread (headless use and tests)."""
    try:
        value = function()
    except Exception as error:  # noqa: BLE001 - reported through ``failed``, like a worker's
        failed(error, traceback.format_exc())
        return None
    done(value)
    return None


@dataclass
class FilePorts:
    """What the file workflow needs from the user interface."""

    #: Save / discard / cancel for unsaved work: returns :data:`SAVE`, :data:`DISCARD` or :data:`CANCEL`.
    ask_save_changes: Callable[[str], str]
    #: (title, suggested path, filter) -> the chosen path, or None when the user cancelled.
    choose_save_path: Callable[[str, Path, str], Path | None]
    #: (title, text): an error the user must see.
    show_error: Callable[[str, str], None]
    #: (text, milliseconds): a passing note (status bar).
    show_message: Callable[[str, int], None] = lambda text, msec: None
    #: (fraction, text); a fraction < 0 means busy with no known end.
    set_progress: Callable[[float, str], None] = lambda fraction, text: None
    finish_progress: Callable[[str], None] = lambda text: None
    #: Runs work in the background and calls ``done``/``failed`` where the model may be changed
    #: (the GUI thread); returns the thread when there is one (saves are joined before quitting).
    run_in_background: Runner = run_now
    #: A context in which a blocking write runs (the window shows a wait cursor).
    busy: Callable[[], ContextManager] = contextlib.nullcontext
    #: Called after an image was opened, and after a layer's file name changed (title refresh).
    session_loaded: Callable[[Session], None] = lambda session: None
    paths_changed: Callable[[], None] = lambda: None


class MemorySettings:
    """Settings kept in a dict, with ``QSettings``' two methods (headless use and tests)."""

    def __init__(self, values: dict | None = None) -> None:
        self.values = dict(values or {})

    def value(self, key: str, default=None):
        return self.values.get(key, default)

    def setValue(self, key: str, value) -> None:  # noqa: N802 - QSettings' name
        self.values[key] = value


class SessionHolder:
    """The smallest session host: the open session, replaced whole or by its label map."""

    def __init__(self) -> None:
        self.session: Session | None = None

    def set_session(self, session: Session | None) -> None:
        self.session = session

    def replace_label_map(self, label_map: LabelMap, description: str = "Load labels") -> None:
        if self.session is None:
            raise SegviewerError("no image is open")
        self.session.replace_labels(label_map, description)


class RecentFiles:
    """The most recently opened images, newest first, kept in the settings."""

    KEY = "files/recent"

    def __init__(self, settings, limit: int = MAX_RECENT,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.limit = limit
        self.on_change = on_change

    def paths(self) -> list[str]:
        value = self.settings.value(self.KEY, [])
        if isinstance(value, str):  # QSettings gives a one-item list back as a string
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: str | Path) -> None:
        entries = [str(path)] + [p for p in self.paths() if p != str(path)]
        self.settings.setValue(self.KEY, entries[: self.limit])
        self.on_change()

    def clear(self) -> None:
        self.settings.setValue(self.KEY, [])
        self.on_change()


class DocumentWorkflow:
    """Open, save and drop the files of the session on ``host`` (see the module docstring)."""

    def __init__(self, host, settings, ports: FilePorts) -> None:
        self.host = host
        self.settings = settings
        self.ports = ports
        self.recent = RecentFiles(settings)
        self.loading = False
        self.closing = False  # saves during the discard prompt write before returning
        self._load_generation = 0
        self._saves: set = set()  # threads writing files (joined before quitting)
        self._edits: dict[str, int] = {}  # edits per layer since the session opened

    # == folders and edits =====================================================================
    def last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def remember_folder(self, path: str | Path) -> None:
        path = Path(path)
        self.settings.setValue("files/last_folder", str(path if path.is_dir() else path.parent))

    def note_edit(self, layer: str) -> None:
        """Count an edit of ``layer`` (a save started before it leaves the layer unsaved)."""
        self._edits[layer] = self._edits.get(layer, 0) + 1

    def session_changed(self) -> None:
        self._edits = {}

    # == loading ===============================================================================
    def load(self, image: str | Path, labels: str | Path | None = None, scribbles: str | Path | None = None,
             points: str | Path | None = None, block: bool = False,
             then: Callable[[Session | None], None] | None = None) -> None:
        """Open ``image`` (and optional layers) as a new session, read in the background.

        Errors go to ``show_error``; the current session stays open. ``block=True`` reads on
        the calling thread and raises :class:`SegviewerError` instead (command-line
        screenshots, tests). ``then(session)`` runs once the session is shown (``then(None)``
        when the open failed or a newer one superseded it): a campaign case is set up there.
        """
        self._load_generation += 1
        generation = self._load_generation
        ports = self.ports

        def read() -> Session:
            return read_session(image, labels, scribbles, points)

        def done(session: Session) -> None:
            if generation != self._load_generation:
                if then is not None:
                    then(None)
                return  # a newer open superseded this one
            self.loading = False
            ports.finish_progress("")
            self.recent.add(Path(image))
            self.remember_folder(image)
            self.host.set_session(session)
            notes = "; ".join(session.load_notes)
            ports.show_message(f"Opened {Path(image).name}" + (f" ({notes})" if notes else ""),
                               8000 if notes else 4000)
            if then is not None:
                then(session)
            ports.session_loaded(session)

        def failed(error, text) -> None:
            if then is not None:
                then(None)
            if generation != self._load_generation:
                return
            self.loading = False
            ports.finish_progress("")
            ports.show_error("Could not open the image", message_of(error, text))

        self.loading = True
        ports.set_progress(-1, f"Opening {Path(image).name}…")
        if block:
            try:
                session = read()
            except SegviewerError:
                self.loading = False
                ports.finish_progress("")
                if then is not None:
                    then(None)
                raise
            done(session)
        else:
            ports.run_in_background(read, done, failed, "segviewer-open")

    def open_image(self, path: str | Path) -> None:
        """Open another image, after offering to save unsaved work."""
        if self.confirm_discard("open another image"):
            self.load(path)

    def open_paths(self, paths: list[Path]) -> None:
        """Open dropped files: an image first (a folder is a DICOM series), then layers onto it."""
        images = [p for p in paths if p.is_dir() or files.guess_kind(p) == "image"]
        layers = [p for p in paths if p not in images]
        if self.host.session is None and not images and layers:
            images, layers = layers[:1], layers[1:]
        if images:
            if not self.confirm_discard("open another image"):
                return
            kinds = {files.guess_kind(p): p for p in layers}
            self.load(images[0], kinds.get(LABELS), kinds.get(SCRIBBLES), kinds.get(POINTS))
            return
        for path in layers:
            self.load_layer(files.guess_kind(path), path)

    def load_layer(self, kind: str, path: str | Path) -> None:
        """Read labels / scribbles / points for the open image in the background; the layer
        replaces the current one as one undo step and counts as saved."""
        session = self.host.session
        ports = self.ports
        if session is None:
            ports.show_error("No image", "Open an image before loading labels, scribbles or points.")
            return
        geometry = session.geometry
        readers = {LABELS: lambda: files.read_labels(path, geometry),
                   SCRIBBLES: lambda: files.read_scribbles(path, geometry),
                   POINTS: lambda: (files.read_points(path), "")}

        def done(result) -> None:
            layer, note = result
            ports.finish_progress("")
            current = self.host.session
            if current is not session:
                return  # the image changed meanwhile
            description = f"Load {Path(path).name}"
            if kind == LABELS:
                self.host.replace_label_map(layer, description)
            elif kind == SCRIBBLES:
                replace_scribbles(current, layer, description)
            else:
                current.replace_points(layer, description)
            set_layer_path(current, kind, Path(path))
            if kind != POINTS:
                current.mark_saved(kind)
            self.remember_folder(path)
            ports.paths_changed()
            ports.show_message(f"Loaded {kind} from {Path(path).name}" + (f" ({note})" if note else ""),
                               8000 if note else 4000)

        def failed(error, text) -> None:
            ports.finish_progress("")
            ports.show_error(f"Could not load {kind}", message_of(error, text))

        ports.set_progress(-1, f"Reading {Path(path).name}…")
        ports.run_in_background(readers[kind], done, failed, f"segviewer-read-{kind}")

    # == saving ================================================================================
    def save_labels(self) -> bool:
        """Save the labels to their file; ask for a name when they have none."""
        session = self.host.session
        if session is None:
            return False
        if session.labels_path is None or same_file(session.labels_path, session.image.path):
            return self.save_layer_as(LABELS)
        return self.save_layer(LABELS, session.labels_path, block=self.closing)

    def save_layer_as(self, kind: str) -> bool:
        """Ask for a file name, then save ``kind`` ("labels", "scribbles" or "points") there."""
        session = self.host.session
        if session is None:
            return False
        title, file_filter, suffix = LAYER_FILES[kind]
        suggestion = layer_path(session, kind) or Path(self.last_folder()) / default_name(session, kind, suffix)
        path = self.ports.choose_save_path(title, Path(suggestion), file_filter)
        return bool(path) and self.save_layer(kind, Path(path), block=self.closing)

    def save_layer(self, kind: str, path: str | Path, block: bool = True) -> bool:
        """Write one layer ("labels", "scribbles" or "points") to ``path``.

        The layer is snapshotted here (one memory copy) and written in the background when
        ``block`` is False, so a large compressed file never freezes the window; it is marked
        saved only if nothing changed meanwhile. ``block=True`` (closing, tests) writes before
        returning. Returns False when refused or (blocking) failed.
        """
        session = self.host.session
        ports = self.ports
        if session is None:
            return False
        path = Path(path)
        if same_file(path, session.image.path):
            ports.show_error("Not saved", "Refusing to overwrite the source image; choose another name.")
            return False
        write = _layer_writer(session, kind, path)
        edits_at_snapshot = self._edits.get(kind, 0)

        def done(_result=None) -> None:
            ports.finish_progress("")
            set_layer_path(session, kind, path)
            if self.host.session is session and self._edits.get(kind, 0) == edits_at_snapshot:
                session.mark_saved(kind)
            self.remember_folder(path)
            ports.paths_changed()
            ports.show_message(f"Saved {kind} to {path}", 5000)

        def failed(error, text) -> None:
            ports.finish_progress("")
            ports.show_error(f"Could not save {kind}", message_of(error, text))

        ports.set_progress(-1, f"Saving {kind} to {path.name}…")
        if not block:
            self._saves = {t for t in self._saves if t is not None and t.is_alive()}
            self._saves.add(ports.run_in_background(write, done, failed, f"segviewer-save-{kind}"))
            return True
        with ports.busy():
            try:
                write()
            except Exception as error:  # noqa: BLE001 - reported to the user, never a traceback
                failed(error, traceback.format_exc())
                return False
        done()
        return True

    def wait_for_saves(self) -> None:
        """Join the saves still being written (quitting would lose them)."""
        for thread in list(self._saves):
            if thread is not None:
                thread.join()

    def confirm_discard(self, what: str) -> bool:
        """Ask before ``what`` when there is unsaved work; True to go ahead."""
        session = self.host.session
        if session is None or not session.is_dirty:
            return True
        unsaved = [name for name in (LABELS, SCRIBBLES, POINTS) if session.layer_dirty(name)]
        answer = self.ports.ask_save_changes(f"Unsaved {', '.join(unsaved)}. Save before you {what}?")
        if answer == CANCEL:
            return False
        if answer == SAVE:
            self.closing = True  # save before going on: blocking writes
            try:
                return all(self._save_before_leaving(session, name) for name in unsaved)
            finally:
                self.closing = False
        return True

    def _save_before_leaving(self, session: Session, kind: str) -> bool:
        if kind == LABELS:
            return self.save_labels()
        path = layer_path(session, kind)
        return self.save_layer(kind, path) if path else self.save_layer_as(kind)


# == helpers (no state) ===========================================================================
def read_session(image, labels=None, scribbles=None, points=None) -> Session:
    """A new session on ``image`` with the layers read from their files; ``load_notes`` holds
    what the readers did (resampled, NaN voxels ...)."""
    volume = files.open_image(image)
    geometry = volume.geometry
    notes = [volume.metadata.get("message", "")]  # e.g. NaN voxels, a duplicate DICOM slice
    label_map = scribble_layer = None
    if labels:
        label_map, note = files.read_labels(labels, geometry)
        notes.append(note)
    if scribbles:
        scribble_layer, note = files.read_scribbles(scribbles, geometry)
        notes.append(note)
    point_set = files.read_points(points) if points else None
    session = Session(volume, label_map, scribble_layer, point_set)
    session.load_notes = [n for n in notes if n]
    session.labels_path = Path(labels) if labels else None
    session.scribbles_path = Path(scribbles) if scribbles else None
    session.points_path = Path(points) if points else None
    volume.intensity_range  # computed here, off the GUI thread
    return session


def _layer_writer(session: Session, kind: str, path: Path) -> Callable[[], None]:
    """A snapshot of ``kind`` taken now, and the function that writes it to ``path`` (never
    over the image or the other layers' files)."""
    guard = files.session_guard(session, kind)
    if kind == LABELS:
        labels = LabelMap(session.labels.array.copy(), session.geometry, session.label_table.copy())
        return lambda: files.write_labels(path, labels, session.image, guard)
    if kind == SCRIBBLES:
        scribbles = Scribbles(session.scribbles.array.copy(), session.geometry)
        table = session.label_table.copy()
        return lambda: files.write_scribbles(path, scribbles, session.image, table, guard)
    points = session.points.copy()
    return lambda: files.write_points(path, points, guard=guard)


def layer_path(session: Session, kind: str) -> Path | None:
    return getattr(session, f"{kind}_path")


def set_layer_path(session: Session, kind: str, path: Path) -> None:
    setattr(session, f"{kind}_path", path)


def replace_scribbles(session: Session, scribbles: Scribbles, description: str) -> None:
    """Replace the session's scribbles with a loaded layer as one undo step."""
    array = scribbles.array
    if array.dtype == np.uint16 and session.scribbles.array.dtype == np.uint8:
        session.scribbles.widen_if_needed(np.iinfo(np.uint8).max)
    elif array.dtype == np.uint8 and session.scribbles.array.dtype == np.uint16:
        wide = array.astype(np.uint16)
        wide[array == scribbles.unannotated] = np.iinfo(np.uint16).max
        array = wide
    session.apply_layer_crop(SCRIBBLES, full_box(session.geometry.shape), array, description)


def message_of(error: BaseException, text: str) -> str:
    """One line for the user; an unexpected error's traceback goes to the log."""
    if isinstance(error, SegviewerError):
        return str(error)
    if isinstance(error, (OSError, ValueError, RuntimeError)):
        return f"{type(error).__name__}: {error}"
    log.error("unexpected error:\n%s", text)
    return f"Unexpected {type(error).__name__}: {error} (details in the log)"


def same_file(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def default_name(session: Session, kind: str, suffix: str = ".nii.gz") -> str:
    stem = session.image.name
    for ending in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".gipl.gz", ".gipl"):
        if stem.lower().endswith(ending):
            stem = stem[: -len(ending)]
            break
    return f"{stem}_{kind}{suffix}"
