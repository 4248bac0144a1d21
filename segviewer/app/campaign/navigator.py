"""Going through a campaign in the viewer, with no Qt: :class:`CampaignNavigator`.

The navigator moves one annotator from case to case on top of the window's
:class:`~segviewer.app.documents.DocumentWorkflow` (which opens images in the background and
holds the session). Switching case

1. locks the next case (a live lock of someone else is broken only if ``ask_break_lock``
   agrees; a stale one silently),
2. takes a copy of the current case's changed layers and record, marks them saved, and writes
   them into the annotator's folder in the background, then releases that case's lock (a
   failed write keeps the copy in the recovery store and says so: nothing is lost),
3. opens the next case with the annotator's own files (else the starting mask) and points
   the session's layer paths at the annotator's folder, so a plain Save lands there too.

Nothing is written when nothing changed. The navigator counts edits (undo steps), method
runs (steps named after a method) and active editing time (gaps of at most ``idle_gap_s``
between changes) into the case's :class:`~segviewer.app.campaign.records.CaseRecord`.
"""

from __future__ import annotations

import copy as copy_module
import os
import threading
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from psygnal import Signal, SignalGroup

from segviewer import __version__
from segviewer.app import files
from segviewer.app.campaign.campaign import Campaign
from segviewer.app.campaign.locks import CaseLock, CaseLockedError, LockInfo
from segviewer.app.campaign.records import (FINISHED_STATES, IN_PROGRESS, REJECTED, TODO, CaseRecord,
                                            check_annotator, check_state)
from segviewer.app.campaign.status import CaseStatus, campaign_status
from segviewer.app.campaign.strategies import IN_ORDER, UNCERTAIN, campaign_model, check_order, ordered, score_cases
from segviewer.errors import SegviewerError
from segviewer.io.label_table import table_from_json, table_to_json
from segviewer.io.recovery import Capture, RecoveryStore, image_key
from segviewer.model.labels import LabelMap
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles
from segviewer.model.session import LABELS, SCRIBBLES, Session
from segviewer.model.signals import Connections

log = logging.getLogger(__name__)

POINTS = "points"
LAYERS = (LABELS, SCRIBBLES, POINTS)
#: A pause longer than this (seconds) between two changes is not counted as editing time.
IDLE_GAP_S = 60.0


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list, as the annotator sees it."""

    id: str
    index: int
    state: str  # the annotator's own state of the case
    seconds: float  # the annotator's active editing time on it
    annotators: tuple[str, ...]  # everyone with a record of the case
    finished_by: tuple[str, ...]
    locked_by: str | None
    comment: str


class NavigatorEvents(SignalGroup):
    case_opened = Signal(str)  # case id, once its session is shown
    rows_changed = Signal()  # states, times or locks changed: refresh the list
    saved = Signal(str)  # case id whose work was written


class CampaignNavigator:
    """One annotator's way through ``campaign`` in the viewer (see the module docstring).

    ``documents`` is the window's :class:`~segviewer.app.documents.DocumentWorkflow`;
    ``ask_break_lock(info)`` answers whether to break a live lock of someone else (the app
    asks the user); ``recovery`` keeps a copy of work whose save failed.
    """

    def __init__(self, campaign: Campaign, annotator: str, documents, *,
                 recovery: RecoveryStore | None = None,
                 ask_break_lock: Callable[[str, LockInfo], bool] = lambda case_id, info: False,
                 idle_gap_s: float = IDLE_GAP_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.campaign = campaign
        self.annotator = check_annotator(annotator)
        self.documents = documents
        self.recovery = recovery or RecoveryStore()
        self.ask_break_lock = ask_break_lock
        self.idle_gap_s = float(idle_gap_s)
        self.clock = clock
        self.events = NavigatorEvents()
        self.order: list[str] = campaign.case_ids()
        self.current: str | None = None
        self.record: CaseRecord | None = None
        self.lock: CaseLock | None = None
        self._session: Session | None = None
        self._session_connections = Connections()  # the open case's session, dropped on leaving
        self._opening: tuple[str, CaseLock] | None = None
        self._writes: dict[str, object] = {}  # case id -> writer thread (None when written at once)
        self._deferred: list[tuple[_SaveJob, Session]] = []  # left cases written once the next is shown
        self._unsaved_record = False
        self._last_change: float | None = None
        self._history_length = 0
        self._method_names: dict[str, str] | None = None
        self.strategy, self.seed = IN_ORDER, 0  # the order "next unfinished" follows (strategies.py)
        self.uncertainty: dict[str, float] = {}  # case id -> mean entropy of the campaign model

    # == the list ===================================================================================
    def rows(self) -> list[CaseRow]:
        """Every case in campaign order, with this annotator's state and time (the open
        case's from memory: its latest edits are not written yet)."""
        status = campaign_status(self.campaign)
        return [self._row(case) for case in status.cases]

    def row(self, case_id: str) -> CaseRow:
        """One case's line, read afresh (cheaper than :meth:`rows` after a change of one case)."""
        case = CaseStatus(case_id, self.campaign.records(case_id))
        info = self.campaign.lock_info(case_id)
        case.locked_by = info.annotator if info is not None and not info.is_stale() else None
        return self._row(case)

    def _row(self, case: CaseStatus) -> CaseRow:
        entry = self.campaign.case(case.id)
        record = self.record if case.id == self.current else case.records.get(self.annotator)
        locked_by = case.locked_by if case.id not in (self.current, self._opening_id) else None
        return CaseRow(case.id, entry.index, record.state if record else TODO,
                       record.active_seconds if record else 0.0, tuple(case.records),
                       tuple(case.finished_by), locked_by, (record.comment if record else "") or entry.comment)

    @property
    def _opening_id(self) -> str | None:
        return self._opening[0] if self._opening is not None else None

    def set_order(self, case_ids: list[str]) -> None:
        """The order Next / Previous follow (the list's filter and sort); unknown ids refused."""
        for case_id in case_ids:
            self.campaign.case(case_id)
        self.order = list(case_ids) or self.campaign.case_ids()

    def neighbour(self, step: int) -> str | None:
        """The case ``step`` places after (negative: before) the current one in :attr:`order`."""
        if not self.order:
            return None
        if self.current not in self.order:
            return self.order[0 if step > 0 else -1]
        index = self.order.index(self.current) + step
        return self.order[index] if 0 <= index < len(self.order) else None

    def set_strategy(self, strategy: str, seed: int = 0) -> None:
        """Let "next unfinished" follow ``strategy`` (:data:`~segviewer.app.campaign.strategies.ORDERS`).
        ``uncertain`` scores the unfinished cases with the campaign model in the background
        (cached per case and model); the order follows as the figures come in (``rows_changed``)."""
        check_order(strategy)
        card = campaign_model(self.campaign) if strategy == UNCERTAIN else None
        if strategy == UNCERTAIN and card is None:
            raise SegviewerError("most uncertain first needs a campaign model: train one with "
                                 f"'segviewer train --campaign {self.campaign.root}'")
        self.strategy, self.seed = strategy, int(seed)
        if card is None:
            return
        unfinished = [row.id for row in self.rows() if row.state not in FINISHED_STATES]

        def scored(scores: dict[str, float]) -> None:
            self.uncertainty.update(scores)
            self.events.rows_changed.emit()

        def failed(error: BaseException, text: str) -> None:
            self.documents.ports.show_error("Could not rank the cases by uncertainty", str(error))

        self.documents.ports.run_in_background(
            lambda: score_cases(self.campaign, unfinished, card), scored, failed, "segviewer-campaign-uncertainty")

    def strategy_order(self) -> list[str]:
        """:attr:`order` arranged by the strategy."""
        return ordered(self.order, self.strategy, seed=self.seed, scores=self.uncertainty)

    def next_unfinished(self) -> str | None:
        """The first case after the current one (wrapping round) in the strategy's order
        (:meth:`strategy_order`) that this annotator has not finished and nobody else is
        editing; None when every case is finished."""
        rows = {row.id: row for row in self.rows()}
        order = self.strategy_order()
        start = order.index(self.current) + 1 if self.current in order else 0
        for case_id in order[start:] + order[:start]:
            row = rows[case_id]
            if case_id != self.current and row.state not in FINISHED_STATES and row.locked_by is None:
                return case_id
        return None

    # == moving =====================================================================================
    def open_case(self, case_id: str) -> bool:
        """Save the current case and open ``case_id`` (see the module docstring). False when
        it was not opened (locked and not broken, or it is already being opened)."""
        entry = self.campaign.case(case_id)
        if (case_id == self.current and self._session is not None) or case_id == self._opening_id:
            return True
        if self.documents.host.session is not self._session and not self.documents.confirm_discard("open the case"):
            return False  # an image opened outside the campaign has unsaved work the user keeps
        lock = self._take_lock(case_id)
        if lock is None:
            return False
        if self._opening is not None:  # a newer open supersedes an older one still reading
            self._opening[1].release()
        self._opening = (case_id, lock)
        self.leave_case(defer=True)
        own = {kind: self.campaign.existing_layer(case_id, self.annotator, kind) for kind in LAYERS}
        labels = own[LABELS] or entry.start_labels
        self.documents.load(entry.image, labels, own[SCRIBBLES], own[POINTS],
                            then=lambda session: self._opened(case_id, lock, session))
        return True

    def next(self) -> bool:
        case_id = self.neighbour(+1)
        return case_id is not None and self.open_case(case_id)

    def previous(self) -> bool:
        case_id = self.neighbour(-1)
        return case_id is not None and self.open_case(case_id)

    def open_next_unfinished(self) -> bool:
        case_id = self.next_unfinished()
        return case_id is not None and self.open_case(case_id)

    def _take_lock(self, case_id: str) -> CaseLock | None:
        self._wait_for_write(case_id)  # our own earlier save of that case still holds its lock
        try:
            return self.campaign.lock(case_id, self.annotator)
        except CaseLockedError as error:
            if not self.ask_break_lock(case_id, error.info):
                return None
        return self.campaign.lock(case_id, self.annotator, break_lock=True)

    def _opened(self, case_id: str, lock: CaseLock, session: Session | None) -> None:
        self._start_deferred(session)
        if self._opening is None or self._opening[1] is not lock:
            lock.release()  # superseded
            return
        self._opening = None
        if session is None:  # the image could not be read (the window said why)
            lock.release()
            self.events.rows_changed.emit()
            return
        self.current, self.lock, self._session = case_id, lock, session
        self.record = self.campaign.record(case_id, self.annotator) or self.campaign.new_record(case_id, self.annotator)
        self._unsaved_record = False
        for kind in LAYERS:
            setattr(session, f"{kind}_path", self.campaign.layer_path(case_id, self.annotator, kind))
        table = self.campaign.label_table()
        if table is not None:
            present = session.labels.present_values()
            session.label_table.replace_all(list(table))
            session.label_table.ensure(present)
        self._history_length = len(session.history)
        self._last_change = None
        events = session.events
        self._session_connections.connect(events.labels_changed, self._on_change)
        self._session_connections.connect(events.scribbles_changed, self._on_change)
        self._session_connections.connect(events.points_changed, self._on_points)
        if session.is_dirty:  # autosaved work restored while the case opened
            self._unsaved_record = True
            self._started()
        self.events.case_opened.emit(case_id)
        self.events.rows_changed.emit()

    # == what the annotator does ====================================================================
    def _on_change(self, _box=None) -> None:
        session, record = self._session, self.record
        if session is None or record is None:
            return
        self._count_time()
        length = len(session.history)
        if length > self._history_length:  # a new undo step (undo shortens, redo re-grows it)
            record.edits += 1
            method = self._method_of(session.history.undo_description or "")
            if method:
                record.note_method(method)
            self._started()
        self._history_length = length

    def _on_points(self) -> None:
        if self.record is not None:
            self._count_time()
            self.record.edits += 1
            self._started()

    def _count_time(self) -> None:
        now = self.clock()
        if self._last_change is not None and now - self._last_change <= self.idle_gap_s:
            self.record.active_seconds += now - self._last_change
        self._last_change = now
        self._unsaved_record = True

    def _started(self) -> None:
        if self.record.state in (TODO, REJECTED):
            self.record.set_state(IN_PROGRESS, by=self.annotator)
            self.events.rows_changed.emit()

    def _method_of(self, description: str) -> str | None:
        if self._method_names is None:
            from segviewer.methods.registry import registered_methods  # noqa: PLC0415 - once, lazily

            self._method_names = {}
            for name, method in registered_methods().items():
                self._method_names[name] = name
                self._method_names[getattr(method, "title", "") or name] = name
        return self._method_names.get(description)

    def note_method_run(self, name: str) -> None:
        """Count a method run whose result did not come through the undo history under its
        title (a model applied by another route)."""
        if self.record is not None:
            self.record.note_method(name)
            self._unsaved_record = True

    def set_state(self, state: str, comment: str = "") -> None:
        """Set this annotator's state of the open case and save it (with its labels: a case
        marked done holds the labels it was done with, even if they are the starting mask)."""
        if self.record is None:
            raise SegviewerError("no campaign case is open")
        check_state(state, comment)
        self.record.set_state(state, comment, by=self.annotator)
        self._unsaved_record = True
        self.save(leaving=False)
        self.events.rows_changed.emit()

    # == saving =====================================================================================
    def is_dirty(self) -> bool:
        session = self._session
        return bool(self._unsaved_record or (session is not None and session.is_dirty))

    def save(self, leaving: bool = False, block: bool = False) -> bool:
        """Write the open case's changed layers and its record into the annotator's folder.

        A copy is taken now; the files are written in the background unless ``block``.
        ``leaving``: the lock is released after the write. Returns False when there was
        nothing to write.
        """
        job = self._snapshot(leaving, copy=not (leaving and block))
        return job is not None and self._run(job, block)

    def _snapshot(self, leaving: bool, copy: bool) -> "_SaveJob | None":
        """What to write for the open case, its layers marked saved (the job holds them; a
        failed write keeps them in the recovery store). ``copy=False`` takes the session's
        arrays as they are: only when the session is no longer edited (being left)."""
        session, record, lock, case_id = self._session, self.record, self.lock, self.current
        if session is None or record is None or lock is None:
            return None
        self._wait_for_write(case_id)  # one write per case at a time: the lock is released last
        kinds = [kind for kind in LAYERS if session.layer_dirty(kind)]
        if record.state in FINISHED_STATES and LABELS not in kinds \
                and self.campaign.existing_layer(case_id, self.annotator, LABELS) is None:
            kinds.append(LABELS)
        if not kinds and not self._unsaved_record:
            if leaving:
                lock.release()
            return None
        capture = _capture(session, kinds, copy)
        record.layers = sorted(set(record.layers) | set(kinds))
        record.saves += 1
        record.software_version = __version__  # of the latest save
        job = _SaveJob(case_id, capture, {kind: self.campaign.layer_path(case_id, self.annotator, kind)
                                          for kind in kinds},
                       session.image, {kind: files.session_guard(session, kind) for kind in kinds},
                       copy_module.deepcopy(record), lock, leaving)
        for kind in kinds:
            session.mark_saved(kind)
        self._unsaved_record = False
        return job

    def _run(self, job: "_SaveJob", block: bool) -> bool:
        """Write ``job`` (in the background unless ``block``), then its record, then let the
        lock go when leaving."""
        def write() -> None:
            try:
                if job.paths:
                    self.campaign.annotator_folder(job.case_id, self.annotator).mkdir(parents=True, exist_ok=True)
                _write_layers(job.capture, job.paths, job.image, job.guards)
                job.lock.refresh()
                self.campaign.save_record(job.record, job.lock)
            finally:
                if job.leaving:
                    job.lock.release()

        def in_background() -> None:
            _lower_priority()  # the next case loads meanwhile: let it have the processor
            write()

        def done(_result=None) -> None:
            self._writes.pop(job.case_id, None)
            self.events.saved.emit(job.case_id)
            self.events.rows_changed.emit()

        def failed(error: BaseException, text: str) -> None:
            self._writes.pop(job.case_id, None)
            kept = ""
            try:
                self.recovery.write(job.capture)
                kept = " Your work is kept in the recovery store: open the case again to restore it."
            except Exception as second:  # noqa: BLE001 - the first error is the one to report
                log.error("could not keep unsaved work of case %s: %s", job.case_id, second)
            self.documents.ports.show_error(f"Could not save case {job.case_id}", f"{error}.{kept}")

        if block:
            try:
                write()
            except Exception as error:  # noqa: BLE001 - shown to the user, kept in recovery
                failed(error, "")
                return False
            done()
            return True
        self._writes[job.case_id] = self.documents.ports.run_in_background(in_background, done, failed,
                                                                           "segviewer-campaign-save")
        return True

    def leave_case(self, block: bool = False, defer: bool = False) -> None:
        """Save the open case (if anything changed) and let it go.

        ``defer``: the write starts once the next case is shown (:meth:`open_case`), from the
        left session's own arrays (no copy; it is no longer edited), so reading the next
        image does not share the processor with it.
        """
        session = self._session
        if session is None:
            return
        self._session_connections.disconnect_all()
        job = self._snapshot(leaving=True, copy=False if (defer or block) else True)
        self.current = self.record = self.lock = self._session = None
        if job is None:
            return
        if defer:
            self._deferred.append((job, session))
        else:
            self._run(job, block)

    def _start_deferred(self, shown: Session | None) -> None:
        """Start the writes of the cases left; one whose session is still shown (the next
        case failed to open) is copied first, as it can still be edited."""
        deferred, self._deferred = self._deferred, []
        for job, session in deferred:
            if session is shown or session is self.documents.host.session:
                job.capture = _capture_copy(job.capture)
            self._run(job, block=False)

    def session_replaced(self, session: Session | None) -> None:
        """The window now shows ``session``: when it is not the open case's (File > Open), the
        case is saved and let go."""
        if self._session is not None and session is not self._session:
            self.leave_case()
            self.events.rows_changed.emit()

    def tick(self) -> None:
        """Keep the open case's lock alive (call every few minutes: a lock not refreshed for
        :data:`~segviewer.app.campaign.locks.LOCK_EXPIRY_S` counts as abandoned)."""
        if self.lock is not None and self.current not in self._writes:
            try:
                self.lock.refresh()
            except CaseLockedError as error:
                self.documents.ports.show_error("Case lock lost", f"{error}; save your work elsewhere.")

    def close(self) -> None:
        """Save and release everything (quitting): writes before returning."""
        if self._opening is not None:
            self._opening[1].release()
            self._opening = None
        self._start_deferred(None)
        self.leave_case(block=True)
        self.wait()

    def wait(self) -> None:
        """Join the saves still being written."""
        for case_id in list(self._writes):
            self._wait_for_write(case_id)

    def _wait_for_write(self, case_id: str) -> None:
        thread = self._writes.get(case_id)
        if thread is not None and hasattr(thread, "join"):
            thread.join()


def _write_layers(capture: Capture, paths: dict[str, Path], image, guards: dict) -> None:
    """Write the captured layers to ``paths`` (the annotator's files), each never over the
    image or the other layers' files (``guards``)."""
    table = table_from_json(capture.table)
    if LABELS in paths:
        files.write_labels(paths[LABELS], LabelMap(capture.labels, capture.geometry, table), image,
                           guards[LABELS])
    if SCRIBBLES in paths:
        scribbles = (Scribbles(capture.scribbles, capture.geometry) if capture.scribbles is not None
                     else Scribbles.empty(capture.geometry))
        files.write_scribbles(paths[SCRIBBLES], scribbles, image, table, guards[SCRIBBLES])
    if POINTS in paths:
        points = PointSet([PointPrompt.from_dict(p) for p in capture.points or []])
        files.write_points(paths[POINTS], points, guard=guards[POINTS])


@dataclass
class _SaveJob:
    """One case's save: the captured layers, where they go, the record, the lock."""

    case_id: str
    capture: Capture
    paths: dict[str, Path]
    image: object
    guards: dict
    record: CaseRecord
    lock: CaseLock
    leaving: bool


def _capture(session: Session, kinds: list[str], copy: bool) -> Capture:
    """The layers ``kinds`` of ``session`` for writing (and for the recovery store if that
    fails); copied unless ``copy`` is False."""
    def take(array):
        return array.copy() if copy else array

    image = session.image
    return Capture(image_key(image), str(Path(image.path).resolve()) if getattr(image, "path", None) else None,
                   image.name, session.geometry,
                   take(session.labels.array) if LABELS in kinds else None,
                   take(session.scribbles.array) if SCRIBBLES in kinds else None,
                   session.points.to_list() if POINTS in kinds else None,
                   table_to_json(session.label_table))


def _capture_copy(capture: Capture) -> Capture:
    return replace(capture, labels=None if capture.labels is None else capture.labels.copy(),
                   scribbles=None if capture.scribbles is None else capture.scribbles.copy())


def _lower_priority() -> None:
    """Lower this thread's scheduling priority (Linux: threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # another system, or not allowed: write at normal priority
        pass
