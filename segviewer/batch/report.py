"""A batch's progress on the terminal, its results as CSV and JSON, and its summary table."""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TextIO

from segviewer.batch.engine import BatchProgress, BatchResult, format_duration
from segviewer.batch.records import DONE, SKIPPED
from segviewer.io.atomic import write_text_atomically

#: Columns every results table starts with; the task's own columns follow.
FIRST_COLUMNS = ("case", "status", "seconds", "error", "worker")
#: On a terminal the bar is redrawn at most this often; into a file or pipe a line is
#: written at most this often (a log stays readable).
REDRAW_S, LOG_EVERY_S = 0.1, 5.0
BAR_WIDTH = 24


class ConsoleProgress:
    """Progress of a batch on ``stream`` (standard error): a bar redrawn in place on a
    terminal (cases done, rate, ETA), a line every few seconds into a file or pipe."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._drawn = False

    def note(self, text: str) -> None:
        """A line of its own (the dashboard's address, a failed case)."""
        if self.quiet:
            return
        self._end_line()
        print(text, file=self.stream, flush=True)

    def __call__(self, state: BatchProgress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = state.done == state.total
        if not final and now - self._last < (REDRAW_S if self.terminal else LOG_EVERY_S):
            return
        self._last = now
        filled = int(BAR_WIDTH * state.fraction)
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {state.text()}"
        if self.terminal:
            self.stream.write(f"\r\033[K{line}")
            self._drawn = True
            if final:
                self._end_line()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False


def columns(rows: list[dict]) -> list[str]:
    """:data:`FIRST_COLUMNS`, then every other key in the order the rows first use it."""
    names = list(FIRST_COLUMNS)
    for row in rows:
        names += [key for key in row if key not in names and key != "traceback"]
    return names


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def results_csv(rows: list[dict]) -> str:
    names = columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return buffer.getvalue()


def write_results(rows: list[dict], target: Path) -> tuple[Path, Path]:
    """Write ``target`` as CSV (``.csv`` added when it has another suffix) and the same rows
    as JSON beside it, each atomically."""
    csv_path = target if target.suffix.lower() == ".csv" else target.with_name(target.name + ".csv")
    json_path = csv_path.with_suffix(".json")
    write_text_atomically(csv_path, results_csv(rows), what="the batch results (CSV)")
    clean = [{key: value for key, value in row.items() if key != "traceback"} for row in rows]
    write_text_atomically(json_path, json.dumps(clean, indent=2, default=str) + "\n",
                          what="the batch results (JSON)")
    return csv_path, json_path


def counted(count: int, thing: str) -> str:
    """``1 case``, ``3 cases``."""
    return f"{count} {thing}{'s' if count != 1 else ''}"


def summary_table(result: BatchResult, figures: tuple[str, ...] = ()) -> str:
    """Counts per status, time, throughput; the median and range of ``figures`` (e.g.
    ``dice``) over the cases that have them; then every failed case with its error."""
    computed = [row for row in result.rows if row["status"] not in (SKIPPED,)]
    times = [row["seconds"] for row in result.rows if row["status"] == DONE and row.get("seconds")]
    lines = [f"{counted(len(result.rows), 'case')} on {counted(result.workers, 'worker')} in "
             f"{format_duration(result.seconds)}: " + ", ".join(f"{count} {status}"
                                                               for status, count in sorted(result.counts.items()))]
    if times:
        lines.append(f"per case: median {statistics.median(times):.2f} s, slowest {max(times):.2f} s; "
                     f"throughput {len(computed) / result.seconds:.2f} cases/s" if result.seconds else "")
    for figure in figures:
        values = [row[figure] for row in result.rows if isinstance(row.get(figure), (int, float))]
        if values:
            lines.append(f"{figure}: median {statistics.median(values):.4f} "
                         f"(min {min(values):.4f}, max {max(values):.4f}, {len(values)} cases)")
    for row in result.failed:
        lines.append(f"  {row['case']}: {row['status']}: {row['error']}")
    return "\n".join(line for line in lines if line)
