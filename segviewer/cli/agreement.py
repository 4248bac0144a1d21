"""``segviewer agreement MASK MASK [MASK ...] [--json]``: how much raters' masks of one image
agree - pairwise Dice and HD95 per label, and Fleiss' kappa (see segviewer.evaluation.agreement)."""

from __future__ import annotations

from segviewer.cli.arguments import input_path, non_negative_float
from segviewer.cli.consensus import rater_names
from segviewer.evaluation.agreement import agreement
from segviewer.evaluation.consensus import read_rater_masks
from segviewer.io.jsonfile import dumps

NAME = "agreement"
HELP = "agreement between raters' masks of one image: pairwise Dice and HD95 (mm) per label, and Fleiss' kappa"


def add_arguments(parser) -> None:
    parser.add_argument("masks", nargs="+", type=input_path, metavar="MASK",
                        help="two or more label maps on one grid, one per rater")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--empty-distance", type=non_negative_float, default=None,
                        help="HD95 in mm reported when only one rater of a pair drew a label "
                             "(default: the image diagonal)")


def format_table(result) -> str:
    rows = [("label", "rater A", "rater B", "Dice", "HD95 mm")]
    rows += [(str(p.label), p.rater_a, p.rater_b, f"{p.dice:.4f}", f"{p.hd95_mm:.2f}") for p in result.pairs]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    for label in result.labels:
        lines.append(f"label {label}: mean Dice {result.mean(label, 'dice'):.4f}, mean HD95 "
                     f"{result.mean(label, 'hd95_mm'):.2f} mm, Fleiss' kappa {result.kappa_per_label[label]:.4f}")
    lines += [f"label {p.label}: {p.empty} left it empty" for p in result.pairs if p.empty and p.empty != "both"]
    lines.append(f"Fleiss' kappa (all values, every voxel): {result.fleiss_kappa:.4f}")
    if not result.labels:
        lines.insert(0, "no labels in any mask (every voxel is background)")
    return "\n".join(lines)


def run(args) -> int:
    masks, geometry = read_rater_masks(args.masks)
    result = agreement(masks, geometry, raters=rater_names(args.masks), empty_distance=args.empty_distance)
    if args.json:
        data = result.to_dict()
        data["masks"] = [str(p) for p in args.masks]
        print(dumps(data, indent=2))
    else:
        print(format_table(result))
    return 0
