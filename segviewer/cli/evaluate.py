"""``segviewer evaluate PRED REF [--json]``: how close a label map is to a reference."""

from __future__ import annotations

from segviewer.batch.tasks import evaluate_case
from segviewer.cli.arguments import fraction, input_path, label_list, non_negative_float
from segviewer.io.jsonfile import dumps

NAME = "evaluate"
HELP = ("compare a label map with a reference: Dice, IoU, sensitivity, specificity, precision, "
        "volume difference, Hausdorff, HD95 and ASSD in mm, per label and merged")

_COLUMNS = (("dice", "Dice", ".4f"), ("iou", "IoU", ".4f"), ("sensitivity", "sens", ".4f"),
            ("specificity", "spec", ".4f"), ("precision", "prec", ".4f"),
            ("volume_ref_ml", "ref mL", ".2f"), ("volume_diff_ml", "ΔmL", "+.2f"),
            ("volume_diff_percent", "Δ%", "+.1f"), ("hausdorff_mm", "HD mm", ".2f"),
            ("hd95_mm", "HD95 mm", ".2f"), ("assd_mm", "ASSD mm", ".2f"))


def add_arguments(parser) -> None:
    parser.add_argument("prediction", type=input_path, help="label map to judge")
    parser.add_argument("reference", type=input_path, help="reference label map (its grid is the one used)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--labels", type=label_list,
                        help="comma-separated label values (default: every value present)")
    parser.add_argument("--instances", action="store_true",
                        help="also instance metrics (connected components): counts, detection F1, PQ")
    parser.add_argument("--iou-threshold", type=fraction, default=0.5,
                        help="IoU above which two instances match (default 0.5)")
    parser.add_argument("--empty-distance", type=non_negative_float, default=None,
                        help="distance in mm reported when exactly one mask of a label is empty "
                             "(default: the image diagonal)")


def format_table(result) -> str:
    rows = [("label", *(title for _, title, _ in _COLUMNS))]
    records = [(str(k), m) for k, m in result.per_label.items()] + [("merged", result.merged)]
    for name, m in records:
        cells = [name]
        for key, _, fmt in _COLUMNS:
            value = getattr(m, key)
            cells.append("n/a" if value is None else format(value, fmt))
        rows.append(tuple(cells))
    if len(result.per_label) > 1:
        cells = ["mean"]
        for key, _, fmt in _COLUMNS:
            value = result.mean.get(key)
            cells.append("" if value is None else format(value, fmt))
        rows.append(tuple(cells))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    notes = [f"label {k}: {m.empty} mask empty" for k, m in result.per_label.items() if m.empty]
    if result.instances:
        for label, inst in result.instances.items():
            notes.append(f"label {label} instances: {inst['n_pred']} predicted, {inst['n_ref']} reference, "
                         f"F1@{inst['iou_threshold']:g} {inst['f1']:.3f}, PQ {inst['pq']:.3f} "
                         f"(SQ {inst['sq']:.3f} x RQ {inst['rq']:.3f})")
    return "\n".join(lines + notes)


def run(args) -> int:
    result = evaluate_case(args.prediction, args.reference, labels=args.labels, empty_distance=args.empty_distance,
                           instances=args.instances, iou_threshold=args.iou_threshold)
    if args.json:
        data = result.to_dict()
        data["prediction"], data["reference"] = str(args.prediction), str(args.reference)
        print(dumps(data, indent=2))
    else:
        print(format_table(result))
    return 0
