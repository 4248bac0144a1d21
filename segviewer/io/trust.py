"""Model files the user has chosen to trust, remembered by their content (SHA-256).

Some model formats carry code (a TorchScript file, a MONAI bundle's configs): segviewer runs
them only once the user has trusted them. Trust is recorded per *content*, not per name, in
``$XDG_CONFIG_HOME/segviewer/trusted_models.json`` (default ``~/.config/segviewer/``): a file
that changes gets a new digest and is untrusted again. The store is written atomically, so a
crash never leaves it half written.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from segviewer.io.atomic import write_text_atomically

STORE_NAME = "trusted_models.json"
#: Folders left out of a folder's digest: Python writes them when trusted code imports the
#: bundle's own scripts, and they must not make the bundle look changed.
IGNORED_FOLDERS = frozenset({"__pycache__"})
_CHUNK = 1 << 20


def config_folder() -> Path:
    """segviewer's per-user settings folder (``$XDG_CONFIG_HOME/segviewer``)."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "segviewer"


def store_path() -> Path:
    return config_folder() / STORE_NAME


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file, or of a folder: over each file's relative path and digest,
    in sorted order, so renaming, adding, removing or editing any file changes it."""
    path = Path(path)
    if not path.is_dir():
        return file_digest(path)
    digest = hashlib.sha256()
    for relative, file in _folder_files(path):
        digest.update(relative.encode("utf-8") + b"\0" + bytes.fromhex(file_digest(file)))
    return digest.hexdigest()


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every file below ``folder``, links followed once."""
    files, seen = [], set()
    for root, folders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree: do not loop
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = [name for name in folders if name not in IGNORED_FOLDERS]
        for name in names:
            file = Path(root) / name
            if file.is_file():
                files.append((file.relative_to(folder).as_posix(), file))
    return sorted(files)


def trusted_models() -> dict[str, dict]:
    """digest -> {"path", "kind", "trusted_at"} of every trusted model (empty when the store is
    missing or unreadable: nothing is trusted then)."""
    try:
        data = json.loads(store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    trusted = data.get("trusted") if isinstance(data, dict) else None
    return {k: v for k, v in trusted.items() if isinstance(v, dict)} if isinstance(trusted, dict) else {}


def is_trusted(digest: str) -> bool:
    return digest in trusted_models()


def record_trust(digest: str, path: str | Path, kind: str) -> Path:
    """Remember that the user trusts the model whose content has ``digest``; returns the store."""
    trusted = trusted_models()
    trusted[digest] = {"path": str(Path(path).resolve()), "kind": kind,
                       "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    target = store_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, json.dumps({"version": 1, "trusted": trusted}, indent=2) + "\n")
    return target
