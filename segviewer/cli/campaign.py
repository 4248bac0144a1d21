"""``segviewer campaign init|import|status|open``: labelling campaigns (docs/campaigns.md)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from segviewer.app.campaign import (STATES, Campaign, CampaignError, CaseLockedError, campaign_status,
                                    cases_from_source, check_annotator, default_annotator)
from segviewer.app.campaign.records import REJECTED
from segviewer.app.campaign.sources import safe_case_id
from segviewer.app.campaign.strategies import IN_ORDER, ORDERS, UNCERTAIN, campaign_model
from segviewer.cli.arguments import input_path, output_folder
from segviewer.errors import SegviewerError
from segviewer.io.jsonfile import dumps
from segviewer.io.label_table import read_label_table
from segviewer.io.paths import IMAGE_SUFFIXES, image_suffix, strip_image_suffix

NAME = "campaign"
HELP = "labelling campaigns: make one from a list of cases, bring work in, see progress, open the viewer on it"


def annotator_name(text: str) -> str:
    try:
        return check_annotator(text)
    except SegviewerError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="make a campaign folder from a case source",
                              description="Make a campaign in DIR (a new or empty folder) from SOURCE: a folder "
                                          "of images, an nnU-Net raw dataset, a datalist .json, a .csv (image, "
                                          "mask, comment) or a .txt list of DICOM folders.")
    init.add_argument("dir", type=output_folder, help="the campaign folder to make")
    init.add_argument("--from", dest="source", required=True, type=input_path, help="where the cases come from")
    init.add_argument("--labels-from", type=input_path,
                      help="folder of starting masks (model outputs to correct), matched to cases by case id")
    init.add_argument("--label-table", type=input_path, help="the campaign's label table (.json, ITK-SNAP .label ...)")
    init.add_argument("--name", help="the campaign's name (default: the folder's)")

    bring = actions.add_parser("import", help="bring earlier labels or scribbles in, matched to cases by case id")
    bring.add_argument("dir", type=input_path, help="the campaign folder")
    what = bring.add_mutually_exclusive_group(required=True)
    what.add_argument("--labels", type=input_path, help="folder of label maps (CASE.nii.gz ...)")
    what.add_argument("--scribbles", type=input_path, help="folder of scribble files in segviewer's format")
    bring.add_argument("--state", choices=STATES, help="state to record for each imported case")
    bring.add_argument("--comment", default="", help="comment for the state (needed with --state rejected)")
    bring.add_argument("--annotator", type=annotator_name, help="whose work it is (default: your login name)")

    status = actions.add_parser("status", help="counts per state and annotator, time per case, agreement")
    status.add_argument("dir", type=input_path, help="the campaign folder")
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    status.add_argument("--no-agreement", action="store_true",
                        help="skip agreement of cases several annotators finished (reads their masks)")

    show = actions.add_parser("open", help="open the viewer on the next unfinished case")
    show.add_argument("dir", type=input_path, help="the campaign folder")
    show.add_argument("--case", help="open this case instead")
    show.add_argument("--order", choices=ORDERS, default=IN_ORDER,
                      help="which unfinished case comes next: the campaign's order, a seeded random one, or "
                           "the campaign model's most uncertain first (needs 'segviewer train --campaign')")
    show.add_argument("--seed", type=int, default=0, help="seed of --order random")
    show.add_argument("--annotator", type=annotator_name,
                      help="your name, remembered in your settings (default: as set before, else your login name)")


def run(args) -> int:
    return {"init": run_init, "import": run_import, "status": run_status, "open": run_open}[args.action](args)


# == init ===========================================================================================
def files_by_case_id(folder: str | Path, what: str) -> dict[str, Path]:
    """Image-like files of ``folder`` by case id (``CASE.nii.gz`` and nnU-Net's ``CASE_0000``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CampaignError(f"{folder}: not a folder of {what}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and image_suffix(path) in IMAGE_SUFFIXES:
            stem = strip_image_suffix(path).name
            found.setdefault(safe_case_id(stem), path)
            if len(stem) > 5 and stem[-5] == "_" and stem[-4:].isdigit():
                found.setdefault(safe_case_id(stem[:-5]), path)
    return found


def run_init(args) -> int:
    kind, cases = cases_from_source(args.source)
    table = read_label_table(args.label_table) if args.label_table else None
    start = {}
    if args.labels_from:  # these masks instead of the source's own
        masks = files_by_case_id(args.labels_from, "masks")
        start = {case.id: masks[case.id] for case in cases if case.id in masks}
        if not start:
            raise CampaignError(f"{args.labels_from}: no file is named after a case id "
                                f"(e.g. {cases[0].id}.nii.gz)")
        cases = [replace(case, start_labels=start.get(case.id)) for case in cases]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rimporting cases: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    campaign = Campaign.create(args.dir, cases, source={"kind": kind, "path": str(Path(args.source).resolve())},
                               label_table=table, name=args.name, progress=progress)
    masks = sum(1 for case in campaign.cases if case.start_labels)
    print(f"made campaign {campaign.name} in {args.dir}: {len(campaign.cases)} cases from a {kind} source"
          f"{f', {masks} starting masks imported' if masks else ''}")
    if args.labels_from and len(start) < len(cases):
        print(f"segviewer: note: {len(cases) - len(start)} cases have no starting mask in {args.labels_from}",
              file=sys.stderr)
    return 0


# == import =========================================================================================
def run_import(args) -> int:
    campaign = Campaign.open(args.dir)
    annotator = args.annotator or default_annotator()
    kind, folder = ("labels", args.labels) if args.labels else ("scribbles", args.scribbles)
    if args.state == REJECTED and not args.comment.strip():
        raise CampaignError("--state rejected needs --comment saying what to change")
    found = files_by_case_id(folder, kind)
    if kind == "scribbles":  # a scribble file's sidecar is not a case
        found = {k: v for k, v in found.items() if not v.name.endswith(".json")}
    matched = [case.id for case in campaign.cases if case.id in found]
    if not matched:
        raise CampaignError(f"{folder}: no file is named after a case of {campaign.name} "
                            f"(e.g. {campaign.cases[0].id}.nii.gz)")
    failed = []
    for case_id in matched:
        try:
            campaign.import_layer(case_id, annotator, kind, found[case_id], state=args.state, comment=args.comment)
        except (CaseLockedError, SegviewerError) as error:
            failed.append(f"{case_id}: {error}")
    unmatched = sorted(set(found.values()) - {found[case_id] for case_id in matched})
    if unmatched:
        print(f"segviewer: note: {len(unmatched)} files match no case (e.g. {unmatched[0].name})", file=sys.stderr)
    print(f"imported {kind} of {len(matched) - len(failed)} cases for {annotator}"
          + (f" as {args.state}" if args.state else ""))
    if failed:
        raise CampaignError(f"{len(failed)} cases not imported: " + "; ".join(failed[:5]))
    return 0


# == status =========================================================================================
def run_status(args) -> int:
    campaign = Campaign.open(args.dir)
    status = campaign_status(campaign)
    agreements = {} if args.no_agreement else case_agreements(campaign, status)
    if args.json:
        data = status.to_dict()
        data["agreement"] = agreements
        print(dumps(data, indent=1))
        return 0
    print(f"campaign {status.name}: {len(status.cases)} cases, {status.finished_cases} finished "
          f"({100 * status.progress:.0f} %)")
    states = status.per_state()
    print("records per state: " + ", ".join(f"{state} {count}" for state, count in states.items() if count))
    per_annotator = status.per_annotator()
    if per_annotator:
        width = max(len("annotator"), *(len(name) for name in per_annotator))
        print(f"{'annotator':<{width}}  " + "  ".join(f"{s:>12}" for s in STATES))
        for name, counts in per_annotator.items():
            print(f"{name:<{width}}  " + "  ".join(f"{counts[s]:>12}" for s in STATES))
    started = [case for case in status.cases if case.records or case.locked_by]
    if started:
        print("case time (active editing, minutes):")
        for case in started:
            parts = ", ".join(f"{name} {record.state} {record.active_seconds / 60:.1f}"
                              for name, record in case.records.items())
            lock = f" [being edited by {case.locked_by}]" if case.locked_by else ""
            print(f"  {case.id}: {case.seconds / 60:.1f}" + (f" ({parts})" if parts else "") + lock)
    for case_id, summary in agreements.items():
        if "error" in summary:
            print(f"agreement {case_id}: {summary['error']}")
            continue
        means = ", ".join(f"label {p['label']} {p['rater_a']}-{p['rater_b']} Dice {p['dice']:.3f}"
                          for p in summary.get("pairs", []))
        print(f"agreement {case_id}: {means}; Fleiss' kappa {summary.get('fleiss_kappa', float('nan')):.3f}")
    return 0


def case_agreements(campaign: Campaign, status) -> dict[str, dict]:
    """Agreement (pairwise Dice / HD95, Fleiss' kappa) of every case that two annotators or
    more finished, from their label files."""
    results = {}
    for case in status.multi_rater_cases():
        paths = {name: campaign.existing_layer(case.id, name, "labels") for name in case.finished_by}
        paths = {name: path for name, path in paths.items() if path is not None}
        if len(paths) < 2:
            continue
        # imported only when there is something to compare (its metrics pull SciPy in)
        from segviewer.evaluation.agreement import agreement_summary  # noqa: PLC0415

        try:
            results[case.id] = agreement_summary(paths)
        except SegviewerError as error:
            results[case.id] = {"error": str(error)}
    return results


# == open ===========================================================================================
def run_open(args) -> int:
    campaign = Campaign.open(args.dir)
    if args.case is not None:
        campaign.case(args.case)  # an unknown case is refused before the window opens
    if args.order == UNCERTAIN and campaign_model(campaign) is None:
        raise CampaignError(f"--order uncertain needs a campaign model: train one with "
                            f"'segviewer train --campaign {args.dir}'")
    from PySide6.QtCore import QTimer  # noqa: PLC0415 - Qt only for the GUI

    from segviewer.views.app import create_application, settings_from_environment  # noqa: PLC0415
    from segviewer.views.main_window import MainWindow  # noqa: PLC0415

    app = create_application()
    window = MainWindow(settings_from_environment())
    annotator = args.annotator or default_annotator(window.settings)
    window.show()
    dock = window.docks["campaign"].widget()
    QTimer.singleShot(0, lambda: dock.open_campaign(campaign, annotator, args.case, order=args.order,
                                                    seed=args.seed))
    return app.exec()


