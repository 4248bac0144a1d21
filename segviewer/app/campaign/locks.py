"""Case locks: a small file naming who edits a case, and since when.

A lock is ``cases/<id>/lock.json``. It is created complete and exclusively: the content is
written to a temporary, synced, then *hard-linked* to the lock name (``link`` fails when the
name exists, on local disks and on NFS alike), so two people can never both believe they
hold a case, and nobody ever reads half a lock. Its holder refreshes ``heartbeat`` while
working (every save); a lock whose heartbeat is older than :data:`LOCK_EXPIRY_S`, or whose
process is gone on this very machine, is *stale*: it may be broken without asking. A live
lock of someone else can be broken too, but only after the user agreed (the app asks).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.atomic import write_text_atomically

LOCK_NAME = "lock.json"
#: A lock not refreshed for this long (seconds) was left by a crash or a forgotten window.
LOCK_EXPIRY_S = 30 * 60.0


class CaseLockedError(SegviewerError):
    """The case is being edited by someone else (``info`` says who and since when)."""

    def __init__(self, case_id: str, info: "LockInfo") -> None:
        self.case_id = case_id
        self.info = info
        super().__init__(f"case {case_id} is being edited by {info.describe()}")


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says."""

    annotator: str
    host: str
    pid: int
    since: float  # epoch seconds
    heartbeat: float
    token: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since))
        return f"{self.annotator} on {self.host} since {when}"

    def is_stale(self, now: float | None = None, expiry_s: float = LOCK_EXPIRY_S) -> bool:
        """Expired, or held by a process of this machine that no longer runs."""
        now = time.time() if now is None else now
        if now - self.heartbeat > expiry_s:
            return True
        return self.host == socket.gethostname() and not _process_alive(self.pid)

    def to_dict(self) -> dict:
        return {"annotator": self.annotator, "host": self.host, "pid": self.pid, "since": self.since,
                "heartbeat": self.heartbeat, "token": self.token}

    @classmethod
    def from_dict(cls, data: dict) -> "LockInfo":
        return cls(str(data["annotator"]), str(data["host"]), int(data["pid"]), float(data["since"]),
                   float(data.get("heartbeat", data["since"])), str(data.get("token", "")))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def read_lock(folder: str | Path) -> LockInfo | None:
    """The lock of the case folder ``folder``, or None when there is none (or it is unreadable,
    which only a foreign tool can cause: locks are written complete)."""
    try:
        with open(os.path.join(folder, LOCK_NAME), encoding="utf-8") as handle:
            return LockInfo.from_dict(json.load(handle))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class CaseLock:
    """A lock held by this process on one case folder (release it when leaving the case)."""

    def __init__(self, folder: Path, case_id: str, info: LockInfo) -> None:
        self.folder = folder
        self.case_id = case_id
        self.info = info

    @property
    def path(self) -> Path:
        return self.folder / LOCK_NAME

    @classmethod
    def acquire(cls, folder: Path, case_id: str, annotator: str, *, break_lock: bool = False,
                expiry_s: float = LOCK_EXPIRY_S) -> "CaseLock":
        """Lock ``folder`` for ``annotator``; a stale lock is broken, a live one only with
        ``break_lock=True``; otherwise :class:`CaseLockedError`."""
        now = time.time()
        info = LockInfo(annotator, socket.gethostname(), os.getpid(), now, now, secrets.token_hex(8))
        folder.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            if _create_exclusively(folder / LOCK_NAME, info):
                return cls(folder, case_id, info)
            held = read_lock(folder)
            if held is not None and not held.is_stale(now, expiry_s) and not break_lock:
                raise CaseLockedError(case_id, held)
            with contextlib.suppress(FileNotFoundError):
                (folder / LOCK_NAME).unlink()  # stale, unreadable, or breaking was agreed
        held = read_lock(folder)
        raise CaseLockedError(case_id, held or info)

    def is_held(self) -> bool:
        """Whether the file on disk is still ours (someone may have broken it)."""
        held = read_lock(self.folder)
        return held is not None and held.token == self.info.token

    def refresh(self) -> None:
        """Move the heartbeat on (the holder is still working); raises :class:`CaseLockedError`
        when the lock was broken by someone else meanwhile."""
        held = read_lock(self.folder)
        if held is None or held.token != self.info.token:
            raise CaseLockedError(self.case_id, held or self.info)
        self.info = LockInfo(**{**self.info.__dict__, "heartbeat": time.time()})
        write_text_atomically(self.path, json.dumps(self.info.to_dict(), indent=1), what="the case lock")

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if self.is_held():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _create_exclusively(target: Path, info: LockInfo) -> bool:
    """Write ``info`` to a temporary and hard-link it to ``target``; False when it exists."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    data = json.dumps(info.to_dict(), indent=1).encode("utf-8")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create instead
            try:
                with open(target, "xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        return True
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
