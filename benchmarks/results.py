"""Regenerate the README's "Results": ``python -m benchmarks.results``.

1. Quality: every scribble method in the registry (those that require scribbles) on the
   spleen CT and on the first 20 cases of the hippocampus validation split
   (``resources/splits/hippocampus.json``), from the simulated user's 3-slice scribbles
   (seed 0), then up to 20 corrective strokes for NoC@85/NoC@90 when the method is fast
   enough for that (``--noc-budget``); the U-Net (method ``unet``, its bundled model) on
   the whole validation split once it exists. Per label and merged Dice, HD95, seconds.
2. Performance: the benchmark suite (``python -m benchmarks.run``), full mode unless
   ``--quick``, or rows from an earlier ``--json`` run with ``--bench-json``.
3. The text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md is
   replaced with both tables, the date, the machine and the commands that reproduce every
   number; everything else in the README is left alone. The raw numbers go to
   ``bench-results/results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import PROJECT_ROOT, SHARED_DATA, Row
from benchmarks.run import format_markdown, machine_info, results_document, run_modules

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"
SPLIT = PROJECT_ROOT / "resources" / "splits" / "hippocampus.json"


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    cases: Path
    split: Path | None = None
    subset: str = "validation"
    limit: int | None = None

    def command_arguments(self) -> str:
        cases = "../shared/data/" + self.cases.name
        text = f"--cases {cases}"
        if self.split is not None:
            text += f" --split {self.split.relative_to(PROJECT_ROOT)} --subset {self.subset}"
        if self.limit is not None:
            text += f" --limit {self.limit}"
        return text


SCRIBBLE_DATASETS = (
    Dataset("spleen", "spleen CT (1 case)", SHARED_DATA / "spleen_ct"),
    Dataset("hippocampus20", "hippocampus, first 20 validation cases", SHARED_DATA / "hippocampus", SPLIT,
            "validation", 20),
)
#: Parameters a method needs on a dataset (the bundled U-Net knows the hippocampus only: on
#: the spleen the fine-tuning starts from scratch, the online-learner case of the DL issue).
PARAMETER_OVERRIDES = {("finetune", "spleen"): ["model=scratch"]}

UNET_DATASET = Dataset("hippocampus_val", "hippocampus, whole validation split", SHARED_DATA / "hippocampus",
                       SPLIT, "validation", None)


def scribble_methods() -> list[str]:
    from segviewer.methods.registry import registered_methods

    return sorted(name for name, cls in registered_methods().items() if "scribbles" in cls.requires)


def evaluate_method(method_name: str, dataset: Dataset, max_interactions: int, noc_budget: float,
                    verbose: bool = True) -> dict:
    """Run the simulated user for one method on one dataset; the summary plus per-case rows."""
    from segviewer.errors import SegviewerError
    from segviewer.evaluation.cases import find_cases, read_case, select_cases
    from segviewer.evaluation.interactive import CaseRun, run_case, summarize
    from segviewer.model.parameters import parse_parameter_assignments
    from segviewer.methods.registry import get_method

    assignments = PARAMETER_OVERRIDES.get((method_name, dataset.key), [])
    params = parse_parameter_assignments(get_method(method_name).Parameters, assignments) if assignments else None
    cases = select_cases(find_cases(dataset.cases), dataset.split, dataset.subset, dataset.limit)
    runs = []
    interactions = max_interactions
    started = time.perf_counter()
    for number, case in enumerate(cases):
        image, reference = read_case(case)

        def attempt(rounds: int, image=image, reference=reference, case=case):
            try:
                return run_case(get_method(method_name), image.array, image.geometry, reference, case=case.name,
                                params=params, max_interactions=rounds)
            except SegviewerError as error:  # a user-facing refusal (no model, bad input): recorded
                return CaseRun(case.name, method_name, error=str(error))

        if number == 0 and interactions > 1:
            # time one round first: would the whole interactive run fit the budget?
            run = attempt(1)
            if run.rounds and run.rounds[0].seconds * interactions * len(cases) <= noc_budget:
                run = attempt(interactions)
            else:
                interactions = 1
        else:
            run = attempt(interactions)
        runs.append(run)
        if verbose:
            text = run.error or f"Dice {run.first_dice:.4f}"
            print(f"  {method_name} / {dataset.key} [{number + 1}/{len(cases)}] {case.name}: {text}",
                  file=sys.stderr, flush=True)
    summary = summarize(runs)
    summary["interactive"] = interactions > 1 and len(cases) > 0
    summary["seconds_total"] = time.perf_counter() - started
    return {"method": method_name, "dataset": dataset.key, "title": dataset.title,
            "command": f"segviewer bench interactive --method {method_name} {dataset.command_arguments()}"
                       + "".join(f" --param {a}" for a in assignments)
                       + ("" if interactions > 1 else " --max-interactions 1"),
            "summary": summary, "cases": [r.to_dict() for r in runs]}


def _cell(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


def quality_markdown(results: list[dict]) -> str:
    lines = ["| method | data | Dice label 1 | Dice label 2 | Dice mean | Dice merged | HD95 mm | "
             "NoC@85 | NoC@90 | s / interaction |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        s = result["summary"]
        interactive = s.get("interactive")
        failed = f" ({s['failed']} failed)" if s.get("failed") else ""
        lines.append("| " + " | ".join([
            f"`{result['method']}`", result["title"] + failed,
            _cell(s.get("first_dice_label_1"), ".3f"), _cell(s.get("first_dice_label_2"), ".3f"),
            _cell(s.get("first_dice"), ".3f"), _cell(s.get("first_dice_merged"), ".3f"),
            _cell(s.get("first_hd95_mm"), ".2f"),
            _cell(s.get("noc85"), ".1f") if interactive else "–",
            _cell(s.get("noc90"), ".1f") if interactive else "–",
            _cell(s.get("seconds_per_interaction"), ".2f")]) + " |")
    return "\n".join(lines)


def results_section(quality: list[dict], quality_notes: list[str], rows: list[Row], bench_meta: dict,
                    machine: dict, date: str, quick: bool) -> str:
    cpu = f"{machine.get('cpu_model', '?')}, {machine.get('cpu_cores', '?')} cores"
    if machine.get("memory_gib"):
        cpu += f", {machine['memory_gib']} GiB"
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU"
    software = ", ".join(f"{name} {machine[key]}" for name, key in (
        ("Python", "python"), ("torch", "torch_version"), ("MONAI", "monai_version"),
        ("SimpleITK", "simpleitk_version")) if machine.get(key))
    parts = [
        f"Generated by `python -m benchmarks.results{' --quick' if quick else ''}` on {date} "
        f"({cpu}{gpu}; {software}). Every number below comes from that command; "
        "the raw figures are in `bench-results/results.json`.",
        "",
        "### Quality from simulated scribbles",
        "",
        "Scribbles: `segviewer simulate` (3 slices per structure, strokes inside each structure and "
        "a background stroke 3 mm around it, seed 0); Dice and HD95 after that first round, per "
        "label, as the mean over labels, and for all labels merged. NoC@85/NoC@90: interactions "
        "(the first scribbles count as one, then one corrective stroke each in the largest error) "
        "until the mean Dice reaches 0.85/0.90, capped at 20. Split: "
        "`resources/splits/hippocampus.json`.",
        "",
    ]
    if quality:
        parts.append(quality_markdown(quality))
        parts.append("")
        parts.append("Commands, one per row: " + "; ".join(f"`{r['command']}`" for r in quality) + ". "
                     "A method whose first round is too slow for 20 rounds within the budget runs "
                     "`--max-interactions 1` (NoC –).")
    else:
        parts.append("No scribble method is registered yet.")
    for result in quality:
        errors = [c["error"] for c in result["cases"] if c.get("error")]
        if errors:
            parts += ["", f"`{result['method']}` on {result['title']}: {len(errors)} case(s) failed, "
                          f"e.g. {errors[0]}"]
    for note in quality_notes:
        parts += ["", note]
    parts += [
        "",
        "### Performance",
        "",
        f"`python -m benchmarks.run{' --quick' if bench_meta.get('quick') else ''}` "
        f"({bench_meta.get('date', date)}): medians; ratio = ours / baseline measured in the same run.",
        "",
        format_markdown(rows) if rows else ("Not run this time (`--skip-bench`)." if bench_meta.get("skipped")
                                            else "No benchmark figures yet."),
    ]
    for error in bench_meta.get("errors", []):
        parts += ["", f"Benchmark module `{error['module']}` failed: {error['error']}"]
    return "\n".join(parts)


def replace_between_markers(text: str, section: str) -> str:
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README has no {START_MARKER} … {END_MARKER} pair")
    return text[: start + len(START_MARKER)] + "\n" + section.strip() + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.results", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="first rounds only, 5 hippocampus cases, quick benchmarks (a check, not for the README)")
    parser.add_argument("--methods", help="comma-separated methods (default: every scribble method)")
    parser.add_argument("--max-interactions", type=int, default=20)
    parser.add_argument("--noc-budget", type=float, default=900.0,
                        help="seconds a method may spend on one dataset's interactive run; slower methods "
                             "get first rounds only (default 900)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--bench-json", help="take the performance rows from this benchmarks.run --json file")
    parser.add_argument("--readme", default=str(PROJECT_ROOT / "README.md"))
    parser.add_argument("--json", dest="json_out", default=str(PROJECT_ROOT / "bench-results" / "results.json"))
    parser.add_argument("--dry-run", action="store_true", help="print the section; leave the README alone")
    parser.add_argument("--from-json", help="rebuild the section from an earlier run's results JSON (runs nothing)")
    args = parser.parse_args(argv)

    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        field_names = {f.name for f in dataclasses.fields(Row)}
        rows = [Row(**{k: v for k, v in r.items() if k in field_names}) for r in data["benchmarks"]]
        section = results_section(data["quality"], data.get("notes", []), rows, data.get("bench_meta", {}),
                                  data["machine"], data["date"], bool(data.get("quick")))
        return _publish(section, args)
    if not SHARED_DATA.is_dir() and not args.skip_quality:
        parser.error(f"the data folder {SHARED_DATA} is missing (or use --skip-quality)")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_info()
    quality: list[dict] = []
    notes: list[str] = []
    if not args.skip_quality:
        from segviewer.methods.registry import registered_methods

        methods = args.methods.split(",") if args.methods else scribble_methods()
        interactions = 1 if args.quick else args.max_interactions
        for name in methods:
            for dataset in SCRIBBLE_DATASETS:
                if args.quick and dataset.limit:
                    dataset = dataclasses.replace(dataset, limit=5, title=dataset.title.replace("20", "5"))
                print(f"[quality] {name} on {dataset.title}", file=sys.stderr, flush=True)
                quality.append(evaluate_method(name, dataset, interactions, args.noc_budget))
        if args.methods and "unet" not in methods:
            pass
        elif "unet" in registered_methods():
            dataset = UNET_DATASET if not args.quick else dataclasses.replace(UNET_DATASET, limit=5)
            print(f"[quality] unet on {dataset.title}", file=sys.stderr, flush=True)
            try:
                quality.append(evaluate_method("unet", dataset, 1, 0.0))
            except Exception as error:  # noqa: BLE001  (no bundled model yet)
                notes.append(f"The U-Net could not be evaluated: {type(error).__name__}: {error}")
        else:
            notes.append("The U-Net (method `unet`) is not registered yet; its validation Dice appears "
                         "here once it is.")

    rows: list[Row] = []
    bench_meta: dict = {}
    if args.bench_json:
        data = json.loads(Path(args.bench_json).read_text())
        field_names = {f.name for f in dataclasses.fields(Row)}
        rows = [Row(**{k: v for k, v in r.items() if k in field_names}) for r in data["rows"]]
        bench_meta = {"date": data.get("date"), "quick": data.get("quick"), "errors": data.get("errors", [])}
    elif args.skip_bench:
        bench_meta = {"skipped": True}
    else:
        started = time.perf_counter()
        rows, errors = run_modules(quick=args.quick)
        document = results_document(rows, errors, args.quick, time.perf_counter() - started)
        bench_meta = {"date": document["date"], "quick": args.quick, "errors": errors}

    section = results_section(quality, notes, rows, bench_meta, machine, date, args.quick)
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": date, "machine": machine, "quick": args.quick, "quality": quality,
                               "notes": notes, "benchmarks": [r.to_dict() for r in rows], "bench_meta": bench_meta},
                              indent=2, default=str, allow_nan=False) + "\n")
    return _publish(section, args)


def _publish(section: str, args) -> int:
    print(section)
    if args.dry_run:
        return 0
    readme = Path(args.readme)
    try:
        readme.write_text(replace_between_markers(readme.read_text(), section))
    except (OSError, ValueError) as error:
        print(f"README not updated: {error}", file=sys.stderr)
        return 1
    print(f"updated {readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
