"""Per-case records that make a batch resumable.

After a case ends, a small JSON record is written atomically beside the outputs, in
``OUT/batch-records/CASE.json``: what was asked (task, method, parameters, the inputs'
sizes and times, the model's digest), the versions that computed it, the outcome (done or
failed with its error), the outputs, the time taken and the worker. The record is written
after the outputs, so a case is "done" only once all its outputs are complete; a re-run
skips a case whose record is done, whose outputs exist and whose request is the same
(:func:`request_key`). A change of parameters, inputs, model or versions runs it again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from segviewer.io.atomic import OutputGuard, write_text_atomically

RECORD_FOLDER = "batch-records"
DONE, FAILED, SKIPPED, CANCELLED = "done", "failed", "skipped", "cancelled"
#: Distributions whose versions decide a result (a new version re-runs the case).
VERSIONED = ("segviewer", "numpy", "scipy", "SimpleITK", "PyMaxflow", "torch", "monai")


def versions() -> dict[str, str]:
    """The installed versions of :data:`VERSIONED` (read from metadata: nothing imported)."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def fingerprint(path: str | Path | None) -> dict | None:
    """What identifies an input file's content cheaply: its path, size and modification
    time (a DICOM folder: those of every file in it)."""
    if path is None:
        return None
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = [(str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime_ns)
             for p in files]
    return {"path": str(path.resolve()), "files": stats}


def request_key(request: dict[str, Any]) -> str:
    """SHA-256 of a request description (canonical JSON): equal requests, equal keys."""
    text = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class RecordStore:
    """The records of one output folder (``OUT/batch-records``)."""

    def __init__(self, output_folder: str | Path) -> None:
        self.folder = Path(output_folder) / RECORD_FOLDER

    def path(self, case: str) -> Path:
        return self.folder / f"{case}.json"

    def read(self, case: str) -> dict | None:
        """The case's record, or None when there is none or it cannot be read (then the
        case simply runs again)."""
        try:
            record = json.loads(self.path(case).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def finished(self, case: str, key: str) -> dict | None:
        """The record of a case already done for this very request with its outputs all
        present, else None."""
        record = self.read(case)
        if (record and record.get("status") == DONE and record.get("key") == key
                and all(Path(output).is_file() for output in record.get("outputs", []))):
            return record
        return None

    def write(self, case: str, key: str, request: dict, row: dict, guard: OutputGuard | None = None) -> Path:
        """Record how the case ended (``row``: status, error, outputs, seconds, worker)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"case": case, "key": key, "status": row.get("status"), "error": row.get("error", ""),
                  "outputs": row.get("outputs", []), "seconds": row.get("seconds"), "worker": row.get("worker"),
                  "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "request": request}
        text = json.dumps(record, indent=2, default=str) + "\n"
        return write_text_atomically(self.path(case), text, guard=guard, what="the batch record")
