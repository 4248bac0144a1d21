"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--json OUT] [--only AREA]``.

Imports every ``benchmarks/bench_*.py`` module, calls its ``run(quick)`` (a list of
:class:`benchmarks.common.Row`), prints one table — area, figure, ours, baseline, ratio,
goal, peak memory where a module reports it — and writes JSON with the date and the machine
(CPU model, cores, memory, Python/NumPy/torch versions, GPU when present). A module that
fails is reported as an error row; the others still run. ``--quick`` is the CI smoke
version (seconds); the full run is done by hand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import PROJECT_ROOT, Row

BENCH_DIR = Path(__file__).resolve().parent


def module_names() -> list[str]:
    """``benchmarks.bench_*`` module names present, sorted."""
    return sorted(f"benchmarks.{p.stem}" for p in BENCH_DIR.glob("bench_*.py"))


#: Modules whose figures belong to an area named after another subject (``--only campaign``).
AREA_OF_MODULE = {"bench_consensus": "campaign"}


def area_of(module_name: str) -> str:
    stem = module_name.rsplit(".", 1)[-1]
    return AREA_OF_MODULE.get(stem, stem.removeprefix("bench_"))


def machine_info() -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        info["cpu_cores_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024 ** 2, 1)
                    break
    except OSError:
        pass
    from importlib import metadata

    for key, distribution in (("numpy", "numpy"), ("scipy", "scipy"), ("simpleitk", "SimpleITK"),
                              ("torch", "torch"), ("monai", "monai"), ("pymaxflow", "PyMaxflow"),
                              ("vtk", "vtk"), ("pyside6", "PySide6-Essentials")):
        try:
            info[f"{key}_version"] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_modules(quick: bool, only: list[str] | None = None, verbose: bool = True) -> tuple[list[Row], list[dict]]:
    """Run the selected modules; returns the rows and a list of module errors."""
    rows: list[Row] = []
    errors: list[dict] = []
    for name in module_names():
        area = area_of(name)
        if only and area not in only:
            continue
        started = time.perf_counter()
        try:
            module = importlib.import_module(name)
            produced = list(module.run(quick))
        except Exception as error:  # noqa: BLE001  (one broken module must not hide the rest)
            errors.append({"module": name, "error": f"{type(error).__name__}: {error}",
                           "traceback": traceback.format_exc()})
            if verbose:
                print(f"[{area}] FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            continue
        if verbose:
            print(f"[{area}] {len(produced)} figures in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr, flush=True)
        rows.extend(produced)
    return rows, errors


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit in ("s", "seconds"):
        if abs(value) < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if abs(value) < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit in ("B", "bytes"):
        return _bytes(value)
    magnitude = abs(value)
    text = f"{value:.3g}" if magnitude < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_ratio(ratio: float | None) -> str:
    """``1.05×``; small ratios keep two significant digits (``0.0021×``, not ``0.00×``)."""
    if ratio is None or not math.isfinite(ratio):
        return "-"
    return f"{ratio:.2f}×" if abs(ratio) >= 0.1 else f"{ratio:.2g}×"


def peak_memory(row: Row) -> float | None:
    """The peak memory a row reports in ``extra`` (bytes), if any."""
    for key, value in row.extra.items():
        if "peak" in key.lower() and isinstance(value, (int, float)):
            if key.lower().endswith(("_mb", "_mib")):
                return float(value) * 1024 ** 2
            return float(value)
    return None


def format_table(rows: list[Row]) -> str:
    header = ("area", "figure", "ours", "baseline", "ratio", "goal", "peak mem")
    table = [header]
    for row in rows:
        baseline = "-"
        if row.baseline is not None:
            baseline = _number(row.baseline, row.unit)
            if row.baseline_name:
                baseline += f" ({row.baseline_name})"
        ratio = row.ratio
        peak = peak_memory(row)
        table.append((row.area, row.name, _number(row.value, row.unit), baseline,
                      format_ratio(ratio), row.goal or "",
                      "-" if peak is None else _bytes(peak)))
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(rows: list[Row]) -> str:
    """The same table in Markdown (for the README results)."""
    lines = ["| area | figure | ours | baseline | ratio | goal | peak memory |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        baseline = "" if row.baseline is None else _number(row.baseline, row.unit) + (
            f" ({row.baseline_name})" if row.baseline_name else "")
        ratio = row.ratio
        peak = peak_memory(row)
        cells = [row.area, row.name, _number(row.value, row.unit), baseline,
                 "" if ratio is None else format_ratio(ratio), row.goal or "", "" if peak is None else _bytes(peak)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def results_document(rows: list[Row], errors: list[dict], quick: bool, seconds: float) -> dict:
    return _json_value({
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "seconds": round(seconds, 2),
        "machine": machine_info(),
        "rows": [row.to_dict() for row in rows],
        "errors": errors,
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version: a few seconds (CI)")
    parser.add_argument("--json", dest="json_out", help="write the results (with date and machine) here")
    parser.add_argument("--only", action="append",
                        help="run only this area (bench_AREA.py); repeatable; known: "
                             + ", ".join(area_of(n) for n in module_names()))
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.only:
        unknown = sorted(set(args.only) - {area_of(n) for n in module_names()})
        if unknown:
            parser.error(f"no benchmark module for area {', '.join(unknown)}")
    os.chdir(PROJECT_ROOT)
    started = time.perf_counter()
    rows, errors = run_modules(args.quick, args.only)
    seconds = time.perf_counter() - started
    print(format_markdown(rows) if args.markdown else format_table(rows))
    for error in errors:
        print(f"error in {error['module']}: {error['error']}")
    print(f"{len(rows)} figures from {len({r.area for r in rows})} areas in {seconds:.1f} s"
          f"{' (quick)' if args.quick else ''}")
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results_document(rows, errors, args.quick, seconds), indent=2,
                                  allow_nan=False) + "\n")
        print(f"wrote {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
