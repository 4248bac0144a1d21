"""The README's quick start, CI and packaging/setup.sh agree, and the set-up's venv works.

In CI (``CI=true``, run by ``.ci/run`` in a fresh clone) the venv must exist and be made with
``/usr/bin/python3``: together with the README's test command running the venv's Python, that
proves a stock machine whose only Python is the system's can set up and run segviewer.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
STAMP = VENV / ".segviewer-setup"
SYSTEM_PYTHON = Path("/usr/bin/python3")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEMO = ROOT / "resources" / "demo" / "spleen_ct.nii.gz"


def quick_start_commands() -> list[str]:
    """The shell commands of the README's "Quick start" section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)^## ", text, re.S | re.M).group(1)
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def ci_commands() -> list[str]:
    """The commands .ci/run runs (its shell boilerplate left out)."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()
            and not line.startswith(("#", "set -", "cd "))]


def venv_config() -> dict[str, str]:
    lines = (VENV / "pyvenv.cfg").read_text().splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in lines)}


def needs_venv():
    """In CI the set-up must have run; elsewhere these tests skip without a venv."""
    if not (VENV / "bin" / "python").exists():
        assert not IN_CI, "CI ran the README's set-up command, but there is no .venv"
        pytest.skip("no .venv: run bash packaging/setup.sh")


def test_ci_runs_exactly_the_readme_set_up_and_test_commands():
    readme = quick_start_commands()
    opening_the_gui = ["segviewer"]  # interactive: the one quick-start step CI cannot run
    assert ci_commands() == [c for c in readme if c not in opening_the_gui]
    assert readme[0] == "bash packaging/setup.sh" and len(readme) == 3


def test_readme_test_command_runs_the_venv_python():
    # Not whatever python3 comes first on PATH: that is how CI stayed green on a machine with
    # pyenv while a stock machine's set-up failed (PEP 668).
    test_command = shlex.split(quick_start_commands()[-1])
    assert test_command[test_command.index("-m") - 1] == ".venv/bin/python"
    assert test_command[-2:] == ["-m", "pytest"]


def test_in_ci_the_venv_was_made_with_the_system_python():
    needs_venv()
    if not (IN_CI and SYSTEM_PYTHON.exists()):
        pytest.skip("checked in CI, where the set-up runs with its default Python")
    base = Path(venv_config().get("executable") or venv_config()["home"])
    assert base.resolve() == SYSTEM_PYTHON.resolve() or base == SYSTEM_PYTHON.parent


def test_segviewer_info_of_the_demo_runs_from_the_venv():
    needs_venv()
    clean = {key: value for key, value in os.environ.items()
             if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run([str(VENV / "bin" / "segviewer"), "info", str(DEMO)],
                            capture_output=True, text=True, env=clean, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "164 x 166 x 26" in result.stdout


def test_in_ci_the_linked_segviewer_is_this_venvs():
    needs_venv()
    if not IN_CI:
        pytest.skip("the link may point at another checkout's venv outside CI")
    link = Path("/usr/local/bin/segviewer") if os.geteuid() == 0 else Path.home() / ".local/bin/segviewer"
    assert link.resolve() == (VENV / "bin" / "segviewer").resolve()
    result = subprocess.run([str(link), "info", str(DEMO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "164 x 166 x 26" in result.stdout, result.stderr


def test_running_the_set_up_again_is_quick_and_changes_nothing():
    needs_venv()
    if not STAMP.is_file():
        pytest.skip("the venv was not made by packaging/setup.sh")
    stamp = STAMP.read_text()
    # The same Python that made the venv, so a developer's PYTHON=... choice is kept.
    base = venv_config().get("executable") or str(Path(venv_config()["home"]) / "python3")
    started = time.perf_counter()
    result = subprocess.run(["bash", str(ROOT / "packaging" / "setup.sh")], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": base}, timeout=300)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipping pip" in result.stdout and "making" not in result.stdout
    assert seconds < 60 and STAMP.read_text() == stamp
