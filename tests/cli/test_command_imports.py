"""A command starts without importing the other commands' modules and their libraries."""

from __future__ import annotations

import json
import subprocess
import sys

from segviewer.cli import COMMAND_MODULES, _command_modules

REPORT_IMPORTS = (
    "import contextlib, io, json, sys\n"
    "from segviewer.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[1:])\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n")


def imports_of(*argv: str) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", REPORT_IMPORTS, *argv], capture_output=True,
                            text=True, timeout=120)
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def test_every_command_module_is_named_by_its_command():
    assert {name: module.NAME for name, module in _command_modules().items()} == {
        name: name for name in COMMAND_MODULES}


def test_a_command_imports_only_its_own_module():
    code, modules = imports_of("methods")
    assert code == 0
    other_commands = {module for name, module in COMMAND_MODULES.items() if name != "methods"}
    assert not other_commands & modules
    assert "segviewer.cli.methods" in modules
    assert "dask" not in modules and "pydicom" not in modules


def test_version_imports_no_command():
    code, modules = imports_of("--version")
    assert code == 0
    assert not set(COMMAND_MODULES.values()) & modules


def test_the_full_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "segviewer", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in COMMAND_MODULES)
