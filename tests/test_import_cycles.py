"""No package of segviewer has an import cycle between its modules (issue 13): the
``acyclic`` import-linter contract in pyproject.toml, with no allow-list."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _acyclic_contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == "acyclic")


def test_every_package_is_covered_and_no_cycle_is_excused():
    contract = _acyclic_contract()
    assert contract["type"] == "acyclic_siblings"
    assert contract["ancestors"] == ["segviewer"]
    assert not contract.get("ignore_imports"), "fix the cycle instead of listing it"


def test_there_is_no_import_cycle():
    beside = Path(sys.executable).parent / "lint-imports"
    lint_imports = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("import-linter is not installed (it is part of the test extra)")
    environment = {**os.environ, "PYTHONUTF8": "1"}
    result = subprocess.run([lint_imports, "--no-cache", "--contract", "acyclic", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, capture_output=True, text=True, encoding="utf-8", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_method_interface_knows_nothing_of_the_methods():
    """methods/base.py once imported the registry, which imported every method, which
    imported base: now base imports no other module of segviewer.methods."""
    import grimp

    graph = grimp.build_graph("segviewer")
    imported = graph.find_modules_directly_imported_by("segviewer.methods.base")
    assert not {m for m in imported if m.startswith("segviewer.methods.")}
