"""The README results generator replaces only the text between its markers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import results
from tests.evaluation.test_interactive import NearestScribbleMethod


def test_replace_between_markers():
    text = f"# Title\nintro\n{results.START_MARKER}\nold numbers\n{results.END_MARKER}\nafter\n"
    new = results.replace_between_markers(text, "new numbers")
    assert new == f"# Title\nintro\n{results.START_MARKER}\nnew numbers\n{results.END_MARKER}\nafter\n"
    with pytest.raises(ValueError):
        results.replace_between_markers("no markers here", "x")


def test_quick_results_into_a_readme(shared_data, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# segviewer\n\n## Results\n{results.START_MARKER}\nTBD\n{results.END_MARKER}\n\n## Licence\n")
    out = tmp_path / "results.json"
    code = results.main(["--quick", "--methods", NearestScribbleMethod.name, "--skip-bench",
                         "--readme", str(readme), "--json", str(out)])
    assert code == 0
    text = readme.read_text()
    assert text.startswith("# segviewer\n\n## Results\n") and text.endswith(f"{results.END_MARKER}\n\n## Licence\n")
    assert "TBD" not in text and NearestScribbleMethod.name in text and "hippocampus" in text
    assert "segviewer bench interactive" in text
    data = json.loads(out.read_text())
    assert {q["dataset"] for q in data["quality"]} == {"spleen", "hippocampus20"}
