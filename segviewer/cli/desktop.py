"""``segviewer desktop-install`` / ``desktop-uninstall``: the launcher entry, icon and file types.

Installs the files of ``packaging/linux`` into an XDG data folder — for the current user
(``$XDG_DATA_HOME``, else ``~/.local/share``) or, as root, for everyone (``/usr/local/share``):

- ``applications/segviewer.desktop`` whose ``Exec`` is the absolute path of *this* segviewer
  (the installed command or the bundle's executable), so the launcher entry always works;
- ``icons/hicolor/*/apps/segviewer.{png,svg}``;
- ``mime/packages/segviewer.xml``: NIfTI, NRRD, .seg.nrrd, MetaImage and GIPL file types, so
  a file manager offers "Open with segviewer".

A manifest (``segviewer/desktop-install.json`` in the data folder) records what was added,
including folders that did not exist before, so uninstalling removes exactly that. The desktop
caches are refreshed with update-desktop-database, update-mime-database and
gtk-update-icon-cache when those tools are present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.atomic import write_atomically
from segviewer.io.paths import WritePathError

NAME = "desktop-install"
HELP = "add segviewer to the desktop: launcher entry, icon, and 'Open with' for medical image files"

#: Where packaging/linux lies: beside the package in a checkout, and in the bundle alike.
LINUX_FILES = Path(__file__).resolve().parents[2] / "packaging" / "linux"
MANIFEST = Path("segviewer") / "desktop-install.json"
DESKTOP_FILE = Path("applications") / "segviewer.desktop"
MIME_FILE = Path("mime") / "packages" / "segviewer.xml"
#: update-mime-database derives everything else in mime/ from the files in here.
MIME_PACKAGES = Path("mime") / "packages"


class DesktopInstallError(SegviewerError):
    """The desktop files could not be installed or removed."""


def add_arguments(parser) -> None:
    """``--user`` / ``--system``; desktop-uninstall takes the same."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--user", action="store_true",
                       help="for the current user only ($XDG_DATA_HOME or ~/.local/share; the default "
                            "unless run as root)")
    scope.add_argument("--system", action="store_true",
                       help="for every user (/usr/local/share; the default as root)")


def data_folder(system: bool | None = None) -> Path:
    """The XDG data folder to install into: per user, or system-wide (as root by default)."""
    if system is None:
        system = hasattr(os, "geteuid") and os.geteuid() == 0
    if system:
        return Path("/usr/local/share")
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"


def launcher_command() -> Path:
    """The absolute path of the command that runs this segviewer (bundle or installed script)."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve()
    beside_python = Path(sys.executable).parent / "segviewer"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python.absolute()
    found = shutil.which("segviewer")
    if found:
        return Path(found).absolute()
    raise DesktopInstallError("cannot find the segviewer command to launch; install segviewer "
                              "(bash packaging/setup.sh) and run desktop-install again")


def desktop_quote(argument: str) -> str:
    """One Exec argument, quoted as the Desktop Entry specification asks."""
    if argument and not any(c in argument for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return argument.replace("%", "%%")
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in argument).replace("%", "%%")
    # The key's value is itself an escaped string: every backslash is written twice.
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(command: Path) -> str:
    """packaging/linux/segviewer.desktop with Exec and TryExec pointing at ``command``."""
    lines = []
    for line in (LINUX_FILES / "segviewer.desktop").read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={desktop_quote(str(command))} %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={str(command).replace(chr(92), chr(92) * 2)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def planned_files(command: Path) -> dict[Path, bytes]:
    """Relative path in the data folder -> content, for every file desktop-install writes."""
    if not LINUX_FILES.is_dir():
        raise DesktopInstallError(f"{LINUX_FILES}: the desktop files are missing from this installation")
    files = {DESKTOP_FILE: desktop_entry(command).encode("utf-8"),
             MIME_FILE: (LINUX_FILES / "segviewer-mime.xml").read_bytes()}
    hicolor = LINUX_FILES / "icons" / "hicolor"
    for icon in sorted(hicolor.glob("*/apps/segviewer.*")):
        files[Path("icons") / "hicolor" / icon.relative_to(hicolor)] = icon.read_bytes()
    return files


def _write_atomically(target: Path, content: bytes) -> None:
    """Through the one output writer (complete or absent), readable by everyone."""

    def write(temporary: Path) -> None:
        temporary.write_bytes(content)
        os.chmod(temporary, 0o644)

    write_atomically(target, write, what="the desktop file")


def _missing_parents(folder: Path, path: Path) -> list[Path]:
    """The folders between ``folder`` and ``path`` that do not exist yet, outermost first."""
    missing = []
    for parent in reversed(path.relative_to(folder).parents):
        if parent != Path(".") and not (folder / parent).exists():
            missing.append(parent)
    return missing


def _read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # nothing installed there (yet)
        return {"files": [], "folders": []}
    except (OSError, ValueError) as error:
        raise DesktopInstallError(f"{folder / MANIFEST}: unreadable ({error}); remove it by hand") from None


def install(folder: Path, command: Path) -> list[Path]:
    """Write the desktop files into ``folder``; returns the files written. On failure, what this
    call wrote is removed again: the installation is complete or absent."""
    files = planned_files(command)
    manifest = _read_manifest(folder)  # a re-install keeps the folders the first one created
    created, new_folders, written = list(manifest.get("folders", [])), [], []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for relative in [MANIFEST, *files]:
            for parent in _missing_parents(folder, folder / relative):
                (folder / parent).mkdir()
                new_folders.append(parent)
        created += map(str, new_folders)
        manifest = {"command": str(command), "files": sorted(map(str, files)),
                    "folders": list(dict.fromkeys(created))}
        contents = {**files, MANIFEST: (json.dumps(manifest, indent=1) + "\n").encode("utf-8")}
        for relative, content in contents.items():
            _write_atomically(folder / relative, content)
            written.append(folder / relative)
    except (OSError, WritePathError) as error:
        for path in written:
            path.unlink(missing_ok=True)
        for parent in reversed(new_folders):
            shutil.rmtree(folder / parent, ignore_errors=True)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise DesktopInstallError(f"cannot write the desktop files into {folder}: {reason}"
                                  + ("; as a normal user, use --user" if folder == Path("/usr/local/share") else ""))
    refresh_caches(folder)
    return [folder / relative for relative in files]


def uninstall(folder: Path) -> list[Path]:
    """Remove what :func:`install` added to ``folder``; returns the files removed."""
    manifest = _read_manifest(folder)
    known = set(manifest.get("files", [])) or set(map(str, planned_files(Path("segviewer"))))
    removed = []
    try:
        for relative in sorted(known):
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                continue  # a manifest names only paths inside the data folder
            path = folder / relative
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(path)
        (folder / MANIFEST).unlink(missing_ok=True)
        created = [Path(p) for p in manifest.get("folders", [])]
        mime_ours = MIME_PACKAGES.parent in created
        if mime_ours and not any((folder / MIME_PACKAGES).glob("*")):
            # Everything else in a mime folder we created was derived from our package.
            shutil.rmtree(folder / MIME_PACKAGES.parent, ignore_errors=True)
        refresh_caches(folder)
        applications = folder / DESKTOP_FILE.parent
        if DESKTOP_FILE.parent in created and {p.name for p in applications.glob("*")} <= {"mimeinfo.cache"}:
            (applications / "mimeinfo.cache").unlink(missing_ok=True)  # derived from our entry
        for relative in sorted(created, key=lambda p: len(p.parts), reverse=True):
            try:
                (folder / relative).rmdir()  # only when empty: later additions by others stay
            except OSError:
                pass
    except OSError as error:
        raise DesktopInstallError(f"cannot remove the desktop files from {folder}: {error.strerror or error}")
    return removed


def refresh_caches(folder: Path) -> None:
    """Let the desktop see the change now; each tool is optional and its failure harmless."""
    commands = [["update-desktop-database", "-q", str(folder / "applications")],
                ["update-mime-database", str(folder / "mime")]]
    if (folder / "icons" / "hicolor" / "index.theme").is_file():  # the cache needs the theme index
        commands.append(["gtk-update-icon-cache", "-q", "-t", str(folder / "icons" / "hicolor")])
    for command in commands:
        if shutil.which(command[0]) and Path(command[-1]).is_dir():
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def chosen_folder(args) -> Path:
    """The data folder ``--user`` / ``--system`` (or neither) ask for."""
    return data_folder(True if args.system else False if args.user else None)


def run(args) -> int:
    folder = chosen_folder(args)
    command = launcher_command()
    written = install(folder, command)
    print(f"installed {len(written)} files into {folder} (launcher entry runs {command})")
    return 0

