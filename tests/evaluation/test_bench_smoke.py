"""Smoke test of the benchmark suite: every ``benchmarks/bench_*.py`` module imports and its
quick mode runs and returns well-formed rows; the runner prints a table and writes JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import run as bench_run  # noqa: E402
from benchmarks.common import Row  # noqa: E402

MODULES = bench_run.module_names()


@pytest.mark.parametrize("name", MODULES or ["(none yet)"])
def test_quick_mode_of_each_module(name):
    if name == "(none yet)":
        pytest.skip("no benchmarks/bench_*.py module written yet")
    import importlib

    module = importlib.import_module(name)
    assert callable(getattr(module, "run", None)), f"{name} has no run(quick)"
    rows = list(module.run(True))
    for row in rows:
        assert isinstance(row, Row)
        assert row.area and row.name and row.unit
        json.dumps(row.to_dict(), default=str)


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
