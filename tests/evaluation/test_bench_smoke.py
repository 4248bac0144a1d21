"""Smoke test of the benchmark suite: every ``benchmarks/bench_*.py`` module imports and its
quick mode runs and returns well-formed rows; the runner prints a table and writes JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import run as bench_run  # noqa: E402
from benchmarks.common import Row  # noqa: E402

MODULES = bench_run.module_names()


_RUN_QUICK = """
import json, sys
sys.path.insert(0, sys.argv[1])
import importlib
from benchmarks.common import Row
module = importlib.import_module(sys.argv[2])
assert callable(getattr(module, "run", None)), f"{sys.argv[2]} has no run(quick)"
rows = list(module.run(True))
for row in rows:
    assert isinstance(row, Row), row
    assert row.area and row.name and row.unit, row
print(json.dumps([row.to_dict() for row in rows], default=str))
"""


@pytest.mark.parametrize("name", MODULES or ["(none yet)"])
def test_quick_mode_of_each_module(name):
    """Each module runs in a fresh interpreter, as ``python -m benchmarks.run`` users do: a
    GUI benchmark picks its own Qt platform, which must not leak into the GUI tests that
    follow in this process."""
    if name == "(none yet)":
        pytest.skip("no benchmarks/bench_*.py module written yet")
    result = subprocess.run([sys.executable, "-c", _RUN_QUICK, str(PROJECT_ROOT), name],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    json.loads(result.stdout.strip().splitlines()[-1])


def test_runner_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench_run.main(["--quick", "--only", "evaluation", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "area" in text and "baseline" in text and "HD95" in text
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["machine"]["cpu_cores"] >= 1 and "date" in data
    assert {row["area"] for row in data["rows"]} == {"evaluation"}


def test_formatting_of_rows():
    rows = [Row("io", "load spleen", 0.012, "s", "SimpleITK.ReadImage", 0.010, "≤ 1.2×",
                extra={"peak_bytes": 3 * 1024 ** 2}),
            Row("editing", "undo record", 2048, "bytes", goal="small")]
    table = bench_run.format_table(rows)
    assert "12.0 ms" in table and "1.20×" in table and "3.0 MiB" in table and "2.0 KiB" in table
    markdown = bench_run.format_markdown(rows)
    assert markdown.count("\n") == 3 and markdown.startswith("| area")
