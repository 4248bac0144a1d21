"""Render the icons from the scalable SVG: ``python packaging/linux/make_icons.py``.

Writes the hicolor PNGs (Linux) and the 256 px icon as packaging/windows/segviewer.ico and
packaging/macos/segviewer.icns for the bundle spec. The results are committed, so this runs
only when the SVG changes (it needs PySide6's QtSvg).
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parents[1]
HICOLOR = PACKAGING / "linux" / "icons" / "hicolor"
SVG = HICOLOR / "scalable" / "apps" / "segviewer.svg"
#: The usual hicolor sizes a launcher or file manager asks for.
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"make_icons: cannot read {SVG}", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        targets = [HICOLOR / f"{size}x{size}" / "apps" / "segviewer.png"]
        if size == max(SIZES):
            targets += [PACKAGING / "windows" / "segviewer.ico", PACKAGING / "macos" / "segviewer.icns"]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not image.save(str(target)):
                print(f"make_icons: cannot write {target}", file=sys.stderr)
                return 1
            print(target.relative_to(PACKAGING))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
