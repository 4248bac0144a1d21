"""The bundled demo: an abdominal CT and its expert spleen mask (CC BY-SA 4.0, see
``resources/demo/ATTRIBUTION.md``).

The files live in ``resources/demo/`` at the project root. They are found

1. in the folder named by ``SEGVIEWER_DEMO_DIR``, when set;
2. beside the package in a source checkout or an editable install
   (``<root>/segviewer/io/demo.py`` -> ``<root>/resources/demo``);
3. under ``<prefix>/share/segviewer/demo`` (where a wheel built with the ``data-files``
   entry of ``pyproject.toml`` installs them).
"""

from __future__ import annotations

from pathlib import Path

from segviewer.errors import SegviewerError
from segviewer.io.paths import resource_folders

DEMO_IMAGE = "spleen_ct.nii.gz"
DEMO_LABELS = "spleen_ct_label.nii.gz"


def _candidates() -> list[Path]:
    return resource_folders("demo", "SEGVIEWER_DEMO_DIR")


def demo_dir() -> Path:
    """The folder holding the demo files."""
    candidates = _candidates()
    for folder in candidates:
        if (folder / DEMO_IMAGE).is_file():
            return folder
    raise SegviewerError("the bundled demo image was not found (looked in "
                         + ", ".join(str(c) for c in dict.fromkeys(candidates))
                         + "); open an image instead, or set SEGVIEWER_DEMO_DIR")


def demo_image_path() -> Path:
    """The demo CT (164x166x26, 0.795x0.795x5 mm)."""
    return demo_dir() / DEMO_IMAGE


def demo_labels_path() -> Path:
    """The expert spleen mask on the demo CT's grid (label 1, named by its JSON sidecar)."""
    return demo_dir() / DEMO_LABELS
