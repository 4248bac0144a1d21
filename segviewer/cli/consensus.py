"""``segviewer consensus MASK MASK [MASK ...] -o OUT [--method vote|staple] [--probabilities PREFIX]``:
one label map from several raters' masks of the same image (see segviewer.evaluation.consensus)."""

from __future__ import annotations

import argparse

from segviewer.cli.arguments import input_path, label_output, output_file
from segviewer.errors import SegviewerError
from segviewer.evaluation.consensus import (METHODS, consensus, label_values, probability_path,
                                            read_rater_masks, write_probabilities)
from segviewer.io.atomic import input_guard, with_sidecar
from segviewer.io.jsonfile import dumps
from segviewer.io.label_table import find_label_table, read_label_table
from segviewer.io.labels import write_label_map
from segviewer.io.paths import DIRECTION_KEEPING_SUFFIXES, check_write_suffix, strip_image_suffix
from segviewer.model.labels import LabelMap, LabelTable

NAME = "consensus"
HELP = ("combine several raters' masks of one image into one label map: majority vote (a tie goes to "
        "the smallest tied value) or STAPLE, with each rater's sensitivity/specificity and optional "
        "probability maps per label")


def probability_prefix(text: str) -> str:
    """``--probabilities PREFIX``: not a folder, and its maps' format one that stores floats
    and the grid (checked here: the consensus is not computed for nothing)."""
    output_file(text)
    try:
        check_write_suffix(probability_path(text, 1), DIRECTION_KEEPING_SUFFIXES, "a probability map")
    except SegviewerError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_arguments(parser) -> None:
    parser.add_argument("masks", nargs="+", type=input_path, metavar="MASK",
                        help="two or more label maps on one grid, one per rater")
    parser.add_argument("-o", "--output", required=True, type=label_output, help="consensus label map to write")
    parser.add_argument("--method", choices=METHODS, default="vote",
                        help="vote: majority vote (default); staple: SimpleITK's multi-label STAPLE")
    parser.add_argument("--probabilities", type=probability_prefix, metavar="PREFIX",
                        help="also write one float32 probability map per label as PREFIX_<label>.nii.gz "
                             "(vote: the fraction of raters; staple: binary STAPLE's posterior)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")


def rater_names(paths) -> list[str]:
    """Each mask's file name without its suffix; the full path where two names collide."""
    names = [strip_image_suffix(p).name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def format_summary(summary: dict) -> str:
    lines = [f"method: {summary['method']}; tie rule: {summary['tie_rule']}; tied voxels: {summary['tied_voxels']}",
             "voxels per label: " + (", ".join(f"{k}: {v}" for k, v in summary["voxels_per_label"].items())
                                     or "none (every voxel is background)")]
    rows = [("rater", "label", "sensitivity", "specificity")]
    rows += [(p["rater"], str(p["label"]), f"{p['sensitivity']:.4f}", f"{p['specificity']:.4f}")
             for p in summary["raters_performance"]]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    if summary["raters_performance"]:
        lines.append(f"({summary['raters_performance'][0]['source']})")
    return "\n".join(lines)


def run(args) -> int:
    guard = input_guard(mask=args.masks)
    masks, geometry = read_rater_masks(args.masks)
    values = label_values(masks)
    outputs = with_sidecar(args.output, "the consensus", "labels")
    if args.probabilities:
        outputs += [(probability_path(args.probabilities, v), f"the probability map of label {v}") for v in values]
    guard.check_all(outputs)  # before the work: a refused output costs nothing
    result = consensus(masks, args.method, raters=rater_names(args.masks), probabilities=bool(args.probabilities))
    found = find_label_table(args.masks[0])
    table = read_label_table(found) if found is not None else LabelTable()
    label_map = LabelMap(result.labels, geometry, table)
    label_map.table.ensure(label_map.present_values())
    write_label_map(args.output, label_map, geometry, protected_paths=guard)
    written = write_probabilities(result, args.probabilities, geometry, guard) if args.probabilities else []
    summary = result.summary()
    summary.update(masks=[str(p) for p in args.masks], output=str(args.output),
                   probabilities=[str(p) for p in written])
    print(dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
