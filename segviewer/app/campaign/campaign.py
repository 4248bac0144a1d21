"""The campaign folder: ``campaign.json`` (written once, by ``campaign init``) and one folder per
case holding its starting mask, its lock and each annotator's work. See docs/campaigns.md.

::

    CAMPAIGN/
      campaign.json                 manifest: format, version, cases (id, image, channels, ...)
      label_table.json              the campaign's label table (optional)
      cases/<id>/start_labels.nii.gz   the imported starting mask (optional)
      cases/<id>/lock.json          who is editing the case, since when (while they are)
      cases/<id>/annotators/<name>/record.json, labels.nii.gz, scribbles.nii.gz, points.json
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from segviewer import __version__
from segviewer.app.campaign.locks import CaseLock, LockInfo, read_lock
from segviewer.app.campaign.records import (LAYER_FILES, RECORD_NAME, CampaignError, CaseRecord, check_annotator,
                                            now_iso, read_record, write_record)
from segviewer.app.campaign.sources import SourceCase
from segviewer.io import jsonfile
from segviewer.io.atomic import OutputGuard, write_text_atomically
from segviewer.io.images import read_geometry
from segviewer.io.label_table import read_label_table, write_label_table
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.scribbles import read_scribbles, write_scribbles
from segviewer.model.labels import LabelTable

CAMPAIGN_FORMAT = "segviewer-campaign"
CAMPAIGN_VERSION = 1
MANIFEST_NAME = "campaign.json"
LABEL_TABLE_NAME = "label_table.json"
START_LABELS_NAME = "start_labels.nii.gz"
CASES_FOLDER = "cases"
ANNOTATORS_FOLDER = "annotators"


@dataclass(frozen=True)
class CaseEntry:
    """One case of the manifest, its paths resolved."""

    id: str
    index: int
    image: Path
    channels: tuple[Path, ...]
    start_labels: Path | None
    comment: str = ""


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the campaign folder (a campaign and its images move together on a
    shared drive mounted elsewhere), with forward slashes."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path can name it
        return Path(path).resolve().as_posix()


class Campaign:
    """An open campaign folder. Cheap to open (one small JSON file); records are read when
    asked for, so several processes may work on one campaign at once."""

    def __init__(self, root: Path, manifest: dict) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.name = str(manifest.get("name") or self.root.name)
        self._ids = [str(case["id"]) for case in manifest["cases"]]
        self._index = {case_id: number for number, case_id in enumerate(self._ids)}

    @functools.cached_property
    def cases(self) -> list[CaseEntry]:
        """Every case, in the manifest's order (paths resolved on first use: ``status`` on a
        large campaign needs only the ids)."""
        return [self._entry(i, c) for i, c in enumerate(self.manifest["cases"])]

    def _entry(self, index: int, data: dict) -> CaseEntry:
        root = str(self.root.absolute())

        def resolve(value: str | None) -> Path | None:  # relative to the campaign folder
            return None if not value else Path(os.path.normpath(os.path.join(root, value)))

        image = resolve(data["image"])
        channels = tuple(resolve(c) for c in data.get("channels") or [data["image"]])
        return CaseEntry(str(data["id"]), index, image, channels, resolve(data.get("start_labels")),
                         str(data.get("comment") or ""))

    # == making and opening ======================================================================
    @classmethod
    def open(cls, root: str | Path) -> "Campaign":
        """Open the campaign in ``root``; :class:`CampaignError` when it is not one."""
        root = Path(root)
        path = root / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CampaignError(f"{root}: not a campaign (no {MANIFEST_NAME}; make one with "
                                "'segviewer campaign init')") from None
        except (OSError, ValueError) as error:
            raise CampaignError(f"{path}: cannot be read ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != CAMPAIGN_FORMAT:
            raise CampaignError(f"{path}: not a segviewer campaign manifest")
        if int(manifest.get("version", 0)) > CAMPAIGN_VERSION:
            raise CampaignError(f"{path}: made by a newer segviewer (campaign version "
                                f"{manifest.get('version')}); update segviewer to open it")
        if not isinstance(manifest.get("cases"), list):
            raise CampaignError(f"{path}: lists no cases")
        return cls(root, manifest)

    @classmethod
    def create(cls, root: str | Path, cases: list[SourceCase], *, source: dict | None = None,
               label_table: LabelTable | None = None, name: str | None = None,
               progress=lambda done, total: None) -> "Campaign":
        """Make a campaign in ``root`` (new or empty folder) from ``cases``.

        Each case's starting mask is imported: read onto the image's grid and written into the
        case folder. The manifest is written last, so
        a failed ``init`` leaves no campaign behind that looks complete.
        """
        root = Path(root)
        if (root / MANIFEST_NAME).exists():
            raise CampaignError(f"{root}: is already a campaign")
        if root.exists() and (not root.is_dir() or any(p for p in root.iterdir() if not p.name.startswith("."))):
            raise CampaignError(f"{root}: exists and is not an empty folder; choose a new folder")
        root.mkdir(parents=True, exist_ok=True)
        guard = OutputGuard(*(p for c in cases for p in (*c.channels, c.start_labels)), role="an input of the campaign")
        if label_table is not None:
            write_label_table(root / LABEL_TABLE_NAME, label_table, guard=guard)
        entries = []
        for number, case in enumerate(cases):
            mask, stored = case.start_labels, None
            if mask is not None:
                stored = root / CASES_FOLDER / case.id / START_LABELS_NAME
                stored.parent.mkdir(parents=True, exist_ok=True)
                _import_labels(mask, case.image, stored, guard)
            entries.append({"id": case.id, "image": _relative(case.image, root),
                            "channels": [_relative(c, root) for c in case.channels or (case.image,)],
                            "start_labels": _relative(stored, root) if stored else None,
                            "comment": case.comment})
            progress(number + 1, len(cases))
        manifest = {"format": CAMPAIGN_FORMAT, "version": CAMPAIGN_VERSION,
                    "name": name or root.resolve().name, "created": now_iso(),
                    "software_version": __version__, "source": source or {},
                    "label_table": LABEL_TABLE_NAME if label_table is not None else None,
                    "cases": entries}
        write_text_atomically(root / MANIFEST_NAME, jsonfile.dumps(manifest, indent=1) + "\n",
                              guard=guard, what="the campaign manifest")
        return cls(root, manifest)

    # == cases and paths =========================================================================
    def case(self, case_id: str) -> CaseEntry:
        try:
            return self.cases[self._index[case_id]]
        except KeyError:
            raise CampaignError(f"campaign {self.name}: no case {case_id!r}") from None

    def case_ids(self) -> list[str]:
        return list(self._ids)

    def case_folder(self, case_id: str) -> Path:
        if case_id not in self._index:
            self.case(case_id)  # the error naming the case
        return self.root / CASES_FOLDER / case_id

    def annotator_folder(self, case_id: str, annotator: str) -> Path:
        """Where ``annotator``'s work on ``case_id`` lives (nothing else writes there)."""
        return self.case_folder(case_id) / ANNOTATORS_FOLDER / check_annotator(annotator)

    def layer_path(self, case_id: str, annotator: str, kind: str) -> Path:
        """The file of one layer ("labels", "scribbles", "points") of an annotator's work,
        whether or not it exists yet."""
        return self.annotator_folder(case_id, annotator) / LAYER_FILES[kind]

    def existing_layer(self, case_id: str, annotator: str, kind: str) -> Path | None:
        path = self.layer_path(case_id, annotator, kind)
        return path if path.is_file() else None

    def label_table(self) -> LabelTable | None:
        """The campaign's label table, when it has one."""
        name = self.manifest.get("label_table")
        return read_label_table(self.root / name) if name else None

    # == records =================================================================================
    def record(self, case_id: str, annotator: str) -> CaseRecord | None:
        """``annotator``'s record of ``case_id`` (None: not started)."""
        return read_record(self.annotator_folder(case_id, annotator) / RECORD_NAME)

    def records(self, case_id: str) -> dict[str, CaseRecord]:
        """Every annotator's record of one case, by annotator name."""
        folder = self.case_folder(case_id) / ANNOTATORS_FOLDER
        return _records_in(folder)

    def all_records(self) -> dict[str, dict[str, CaseRecord]]:
        """Every record of the campaign, ``{case id: {annotator: record}}`` (cases nobody
        started are absent). One directory scan per started case."""
        found: dict[str, dict[str, CaseRecord]] = {}
        try:
            folders = [entry for entry in os.scandir(self.root / CASES_FOLDER) if entry.is_dir()]
        except FileNotFoundError:
            return found
        for folder in folders:
            if folder.name in self._index:
                records = _records_in(os.path.join(folder.path, ANNOTATORS_FOLDER))
                if records:
                    found[folder.name] = records
        return found

    def annotators(self) -> list[str]:
        """Everyone who has a record in this campaign, sorted."""
        return sorted({name for records in self.all_records().values() for name in records})

    def save_record(self, record: CaseRecord, lock: CaseLock) -> Path:
        """Write ``record`` (the caller holds the case's ``lock``: only one writer per case)."""
        if lock.case_id != record.case or not lock.is_held():
            raise CampaignError(f"case {record.case}: not locked by this session; its record was not written")
        record.updated = now_iso()
        return write_record(self.annotator_folder(record.case, record.annotator) / RECORD_NAME, record)

    def new_record(self, case_id: str, annotator: str) -> CaseRecord:
        return CaseRecord(self.case(case_id).id, check_annotator(annotator))

    def set_state(self, case_id: str, annotator: str, state: str, comment: str = "", *,
                  by: str | None = None, lock: CaseLock | None = None) -> CaseRecord:
        """Set ``annotator``'s state of ``case_id`` (``by``: who decided, e.g. the reviewer).

        ``lock``: the case lock the caller holds; without one the case is locked for the
        moment of the write (:class:`~segviewer.app.campaign.locks.CaseLockedError` when
        someone else edits it).
        """
        with self._locked(case_id, by or annotator, lock) as held:
            record = self.record(case_id, annotator) or self.new_record(case_id, annotator)
            record.set_state(state, comment, by=by)
            self.save_record(record, held)
            return record

    # == locks ===================================================================================
    def lock(self, case_id: str, annotator: str, break_lock: bool = False) -> CaseLock:
        """Lock ``case_id`` for ``annotator`` (see :class:`CaseLock.acquire`)."""
        return CaseLock.acquire(self.case_folder(case_id), case_id, check_annotator(annotator),
                                break_lock=break_lock)

    def lock_info(self, case_id: str) -> LockInfo | None:
        """Who holds the lock of ``case_id`` now (possibly a stale lock), or None."""
        return read_lock(self.case_folder(case_id))

    @contextlib.contextmanager
    def _locked(self, case_id: str, annotator: str, lock: CaseLock | None) -> Iterator[CaseLock]:
        """``lock`` when the caller holds one, else the case locked for the moment."""
        if lock is not None:
            yield lock
            return
        held = self.lock(case_id, annotator)
        try:
            yield held
        finally:
            held.release()

    # == bringing work in ===========================================================================
    def import_layer(self, case_id: str, annotator: str, kind: str, path: str | Path,
                     state: str | None = None, comment: str = "") -> CaseRecord:
        """Bring a labels or scribbles file in as ``annotator``'s work on ``case_id``: read onto
        the case image's grid, written into the annotator's folder, recorded (the case is
        locked meanwhile)."""
        case = self.case(case_id)
        with self._locked(case_id, annotator, None) as held:
            target = self.layer_path(case_id, annotator, kind)
            target.parent.mkdir(parents=True, exist_ok=True)
            guard = OutputGuard(path, *case.channels, role="an input of the import")
            if kind == "labels":
                _import_labels(Path(path), case.image, target, guard)
            elif kind == "scribbles":
                _import_scribbles(Path(path), case.image, target, guard)
            else:
                raise CampaignError(f"cannot import {kind!r}; import labels or scribbles")
            record = self.record(case_id, annotator) or self.new_record(case_id, annotator)
            if kind not in record.layers:
                record.layers.append(kind)
            record.saves += 1
            record.set_state(state or (record.state if record.state != "todo" else "in progress"),
                             comment=comment or f"imported {Path(path).name}", by=annotator)
            self.save_record(record, held)
            return record


def _records_in(folder: str | Path) -> dict[str, CaseRecord]:
    """The records of one case's ``annotators`` folder, by annotator (plain strings: a
    campaign's status reads thousands)."""
    records = {}
    try:
        entries = sorted((entry.name, entry.path) for entry in os.scandir(folder) if entry.is_dir())
    except FileNotFoundError:
        return records
    for name, path in entries:
        record = read_record(os.path.join(path, RECORD_NAME))
        if record is not None:
            records[name] = record
    return records


def _import_labels(source: Path, image: Path, target: Path, guard: OutputGuard) -> None:
    """A label file read onto ``image``'s grid (resampled by position when needed) and written
    to ``target`` with its label table."""
    label_map, _note = read_label_map(source, read_geometry(image))
    write_label_map(target, label_map, protected_paths=guard)


def _import_scribbles(source: Path, image: Path, target: Path, guard: OutputGuard) -> None:
    """A scribble file (segviewer's format) read onto ``image``'s grid, written to ``target``."""
    scribbles, _note = read_scribbles(source, read_geometry(image))
    write_scribbles(target, scribbles, protected_paths=guard)
