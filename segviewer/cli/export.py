"""``segviewer export nnunet|monai|bids CAMPAIGN OUT``: a campaign's finished work as training
data (segviewer.app.campaign.export; docs/campaigns.md)."""

from __future__ import annotations

import sys

from segviewer.app.campaign import Campaign
from segviewer.app.campaign.export import export_bids, export_monai, export_nnunet
from segviewer.cli.arguments import input_path, int_in, output_file, output_folder, seed
from segviewer.io.jsonfile import dumps

NAME = "export"
HELP = ("a campaign's finished cases as training data: an nnU-Net v2 raw dataset (scribble-only cases with the "
        "ignore label), a MONAI datalist with folds, or BIDS derivatives; says what it left out and why")


def add_arguments(parser) -> None:
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    nnunet = formats.add_parser("nnunet", help="an nnU-Net v2 raw dataset OUT/DatasetNNN_NAME",
                                description="Write OUT/DatasetNNN_NAME (imagesTr, labelsTr, dataset.json).")
    nnunet.add_argument("campaign", type=input_path, help="the campaign folder")
    nnunet.add_argument("out", type=output_folder, help="the folder holding nnU-Net datasets (nnUNet_raw)")
    nnunet.add_argument("--dataset-id", type=int_in(1, 999, "a dataset id"), required=True, help="1..999")
    nnunet.add_argument("--name", required=True, help="the dataset's name (letters, digits, '_', '-')")
    nnunet.add_argument("--channel-names", help="comma-separated channel names, e.g. CT or T1,T2 "
                                                "(default: the source nnU-Net dataset's, else 'image')")
    monai = formats.add_parser("monai", help="a MONAI / Decathlon datalist .json with folds",
                               description="Write a datalist that monai.data.load_decathlon_datalist reads.")
    monai.add_argument("campaign", type=input_path, help="the campaign folder")
    monai.add_argument("out", type=output_file, help="the datalist .json to write")
    monai.add_argument("--folds", type=int_in(1, 100, "a number of folds"), default=5, help="default 5")
    monai.add_argument("--seed", type=seed, default=0, help="seed of the fold assignment (default 0)")
    bids = formats.add_parser("bids", help="BIDS derivatives (_dseg, _probseg) in a new folder OUT",
                              description="Write a BIDS derivative dataset into OUT (new or empty).")
    bids.add_argument("campaign", type=input_path, help="the campaign folder")
    bids.add_argument("out", type=output_folder, help="the new or empty folder to write")
    for sub in (nnunet, monai, bids):
        sub.add_argument("--include-drafts", action="store_true",
                         help="also export work still in progress where nothing better exists")
        sub.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    campaign = Campaign.open(args.campaign)
    if args.format == "nnunet":
        names = [n.strip() for n in args.channel_names.split(",")] if args.channel_names else None
        report = export_nnunet(campaign, args.out, args.dataset_id, args.name, include_drafts=args.include_drafts,
                               channel_names=names, progress=_progress)
    elif args.format == "monai":
        report = export_monai(campaign, args.out, folds=args.folds, seed=args.seed, include_drafts=args.include_drafts)
    else:
        report = export_bids(campaign, args.out, include_drafts=args.include_drafts, progress=_progress)
    print(dumps(report.to_dict(), indent=2) if args.json else "\n".join(report.lines()))
    return 0


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\rcase {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
