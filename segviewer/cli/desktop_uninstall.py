"""``segviewer desktop-uninstall``: remove what ``segviewer desktop-install`` added."""

from __future__ import annotations

from segviewer.cli.desktop import add_arguments, chosen_folder, uninstall

NAME = "desktop-uninstall"
HELP = "remove what desktop-install added (launcher entry, icons, file types), nothing else"

__all__ = ["NAME", "HELP", "add_arguments", "run"]


def run(args) -> int:
    folder = chosen_folder(args)
    removed = uninstall(folder)
    print(f"removed {len(removed)} files from {folder}" if removed else f"nothing to remove in {folder}")
    return 0
