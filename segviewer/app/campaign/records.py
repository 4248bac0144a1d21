"""Per case and per annotator records: ``cases/<id>/annotators/<name>/record.json``.

Only the holder of the case lock writes a case's records (the annotator at work, a reviewer,
``campaign import``), each write atomic; different cases never share a file, so people on
different cases of one campaign never write the same file. The manifest is not touched after
``campaign init``: the campaign's state is the set of these records, read (and merged) when
asked for.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from segviewer import __version__
from segviewer.errors import SegviewerError
from segviewer.io import jsonfile
from segviewer.io.atomic import write_text_atomically

RECORD_FORMAT = "segviewer-case-record"
RECORD_VERSION = 1
RECORD_NAME = "record.json"

# -- states -----------------------------------------------------------------------------------
TODO = "todo"
IN_PROGRESS = "in progress"
DONE = "done"
NEEDS_REVIEW = "needs review"
ACCEPTED = "accepted"
REJECTED = "rejected"
#: Every state, in the order of a case's life.
STATES = (TODO, IN_PROGRESS, DONE, NEEDS_REVIEW, ACCEPTED, REJECTED)
#: States in which the annotator's work on a case is finished (a rejected case goes back to them).
FINISHED_STATES = frozenset({DONE, NEEDS_REVIEW, ACCEPTED})

#: Names of the layer files in an annotator's folder.
LAYER_FILES = {"labels": "labels.nii.gz", "scribbles": "scribbles.nii.gz", "points": "points.json"}

_ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


class CampaignError(SegviewerError):
    """A campaign folder, a case or an annotator name is not what it should be."""


def check_state(state: str, comment: str = "") -> str:
    """``state`` if it is one of :data:`STATES` (``rejected`` needs a comment)."""
    if state not in STATES:
        raise CampaignError(f"unknown state {state!r}; use one of: {', '.join(STATES)}")
    if state == REJECTED and not comment.strip():
        raise CampaignError("a rejected case needs a comment saying what to change")
    return state


def check_annotator(name: str) -> str:
    """An annotator name usable as a folder name on every system (letters, digits, ``. _ -``
    and spaces, up to 64 characters, not starting with a dot)."""
    name = str(name).strip()
    if not _ANNOTATOR_NAME.match(name) or name.endswith((".", " ")):
        raise CampaignError(f"annotator name {name!r}: use letters, digits, '.', '_', '-' or spaces "
                            "(up to 64 characters, starting with a letter or digit)")
    return name


def default_annotator(settings=None) -> str:
    """The name set once in the user's settings (``campaign/annotator``), else the login name."""
    value = settings.value(ANNOTATOR_SETTING, "") if settings is not None else ""
    return check_annotator(str(value or getpass.getuser()))


#: The settings key holding the annotator name.
ANNOTATOR_SETTING = "campaign/annotator"


def now_iso() -> str:
    """The current time in UTC, ISO 8601 to the second (``2026-12-02T15:20:00Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CaseRecord:
    """What one annotator did on one case (``record.json``; see docs/campaigns.md)."""

    case: str
    annotator: str
    state: str = TODO
    comment: str = ""
    active_seconds: float = 0.0
    edits: int = 0
    method_runs: int = 0
    #: Methods (and models) whose results were applied, by name, in first-use order.
    methods: list[str] = field(default_factory=list)
    saves: int = 0
    software_version: str = __version__
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    finished: str | None = None
    #: Layers present in the folder ("labels", "scribbles", "points").
    layers: list[str] = field(default_factory=list)
    #: State changes: {"at", "by", "state", "comment"}, oldest first.
    history: list[dict] = field(default_factory=list)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    def set_state(self, state: str, comment: str = "", by: str | None = None) -> None:
        """Change the state (recording who and when); ``rejected`` needs a comment."""
        check_state(state, comment)
        stamp = now_iso()
        self.history.append({"at": stamp, "by": by or self.annotator, "state": state, "comment": comment})
        self.state = state
        self.comment = comment
        self.updated = stamp
        if state in FINISHED_STATES and self.finished is None:
            self.finished = stamp
        elif state not in FINISHED_STATES:
            self.finished = None

    def note_method(self, name: str) -> None:
        self.method_runs += 1
        if name not in self.methods:
            self.methods.append(name)

    def to_dict(self) -> dict:
        return {"format": RECORD_FORMAT, "version": RECORD_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict, source: str = "record") -> "CaseRecord":
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise CampaignError(f"{source}: not a segviewer case record")
        if int(data.get("version", 0)) > RECORD_VERSION:
            raise CampaignError(f"{source}: written by a newer segviewer (record version "
                                f"{data.get('version')}); update segviewer to read it")
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        try:
            record = cls(**values)
        except TypeError as error:
            raise CampaignError(f"{source}: incomplete case record ({error})") from None
        check_state(record.state, record.comment or "-")
        return record


def read_record(path: str | Path) -> CaseRecord | None:
    """The record at ``path``, or None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CampaignError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        return CaseRecord.from_dict(json.loads(text), str(path))
    except ValueError as error:
        raise CampaignError(f"{path}: not valid JSON ({error})") from None


def write_record(path: Path, record: CaseRecord) -> Path:
    """Write ``record`` atomically (complete or absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, jsonfile.dumps(record.to_dict(), indent=1) + "\n",
                                 what="the case record")
