"""The layering rule of docs/design.md: model, io, tools, methods, evaluation and workers
never import Qt or VTK, and layers import only downwards (import-linter contracts in
pyproject.toml)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str | None:
    """The lint-imports beside the running Python (a venv's, even when it is not activated),
    else the one on PATH."""
    beside = Path(sys.executable).parent / "lint-imports"
    return str(beside) if beside.is_file() else shutil.which("lint-imports")


def test_import_contracts_are_kept():
    executable = _lint_imports()
    if executable is None:
        pytest.fail("import-linter is not installed (it is part of the test extra)")
    # UTF-8 whatever the locale: with LANG unset, import-linter's report would not decode.
    environment = {**os.environ, "PYTHONUTF8": "1"}
    result = subprocess.run([executable, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, encoding="utf-8", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr


def test_model_imports_without_qt():
    code = ("import sys, segviewer.model, segviewer.io.images, segviewer.methods.base, "
            "segviewer.tools.base; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'vtk', 'vtkmodules')]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
