"""The layering rule of docs/design.md: model, io, tools, methods, evaluation and workers
never import Qt or VTK, and layers import only downwards (import-linter contracts in
pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    executable = shutil.which("lint-imports")
    if executable is None:
        pytest.fail("import-linter is not installed (it is part of the test extra)")
    result = subprocess.run([executable, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_model_imports_without_qt():
    code = ("import sys, segviewer.model, segviewer.io.images, segviewer.methods.base, "
            "segviewer.tools.base; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'vtk', 'vtkmodules')]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
