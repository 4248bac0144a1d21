"""``segviewer train``: train a segmentation U-Net on an nnU-Net-style folder with a fixed split."""

from __future__ import annotations

import argparse
import sys

from segviewer.cli.arguments import (device_name, file_stem, input_path, int_in, label_names, non_negative_float,
                                     output_folder, positive_float, seed)

NAME = "train"
HELP = "train a U-Net on imagesTr/labelsTr with a fixed train/validation split (writes weights + model card)"

#: The largest patch side: a patch and its activations must fit in memory (100000 was a MemoryError).
LARGEST_PATCH_SIDE = 256


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=input_path, help="folder with imagesTr/ and labelsTr/")
    parser.add_argument("--split", type=input_path, help="split JSON with 'train' and 'validation' case ids")
    parser.add_argument("--out", type=output_folder, help="output folder for <name>.pt and <name>.json")
    parser.add_argument("--campaign", type=input_path,
                        help="instead of --data/--split/--out: train on a campaign's finished cases (a seeded share "
                             "held out for validation) into CAMPAIGN/models, with a record of cases and annotators")
    parser.add_argument("--name", default="hippocampus_unet", type=file_stem, help="model name (file stem)")
    parser.add_argument("--labels", default="", type=label_names, help="label names, e.g. 1=anterior,2=posterior")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--iterations", type=int_in(1, 10 ** 9), default=20000)
    parser.add_argument("--batch-size", type=int_in(1, 1024), default=2)
    parser.add_argument("--lr", type=positive_float, default=2e-3)
    parser.add_argument("--roi-size", type=int_in(1, LARGEST_PATCH_SIDE), nargs=3, default=[40, 56, 40], metavar=("K", "J", "I"),
                        help="patch size in array order (slices, rows, columns)")
    parser.add_argument("--channels", type=int_in(1, 1024), nargs="+", default=[16, 32, 64, 128],
                        help="feature channels per level (at least two levels)")
    parser.add_argument("--val-every", type=int_in(1, 10 ** 9), default=1000)
    parser.add_argument("--time-limit", type=non_negative_float, default=None,
                        help="stop after this many minutes")
    parser.add_argument("--threads", type=int_in(1, 1024), default=1, help="torch CPU threads")
    parser.add_argument("--device", default="auto", type=device_name,
                        help="auto, cpu, cuda, cuda:N, mps (on CUDA: float16 autocast, data-loading workers)")
    parser.add_argument("--modality", default="", help="DICOM modality of the training images (MR, CT ...), "
                        "written to the card's training domain: an image of another modality is warned about")
    parser.add_argument("--anatomy", default="", help="what the images show, for the card's domain and its "
                        "warnings, e.g. 'crops around the hippocampus'")


def run(args) -> int:
    from pathlib import Path

    from segviewer.errors import SegviewerError
    from segviewer.io.atomic import input_guard
    from segviewer.methods.deep.train import config_from_args, train

    if args.campaign and (args.data or args.split or args.out):
        raise SegviewerError("--campaign trains on the campaign's finished cases into CAMPAIGN/models; "
                             "leave out --data, --split and --out")
    if not args.campaign and not (args.data and args.split and args.out):
        raise SegviewerError("give --data, --split and --out (or --campaign DIR)")
    # the files training writes (as methods.deep.train names them) never replace the split or
    # a file of the data folder (--out . --name split wrote the model card over split.json)
    if not args.campaign:  # a campaign's model goes into its own models/ folder
        data_files = [path for path in Path(args.data).rglob("*") if path.is_file()]
        input_guard(split=args.split, data=data_files).check_all(
            (Path(args.out) / f"{args.name}{suffix}", "the trained model") for suffix in (".pt", ".json", ".best_fp32.pt"))

    if len(args.channels) < 2:
        raise SegviewerError("--channels: give at least two levels, e.g. --channels 16 32 64")
    # each level halves the patch: the skips must meet again, and the deepest level's
    # instance norm needs more than one voxel
    step = 2 ** (len(args.channels) - 1)
    if any(side % step or side < 2 * step for side in args.roi_size):
        raise SegviewerError(f"--roi-size: each side must be a multiple of {step} and at least {2 * step} for "
                             f"{len(args.channels)} levels of --channels; got {' '.join(map(str, args.roi_size))}")

    argv = sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else []
    if args.campaign:
        from segviewer.app.campaign import Campaign
        from segviewer.app.campaign.training import train_campaign_model

        # data, split and out are the campaign's: train_campaign_model sets them
        placeholders = argparse.Namespace(**{**vars(args), "data": ".", "split": ".", "out": "."})
        train_campaign_model(Campaign.open(args.campaign), config_from_args(placeholders, argv),
                             log=lambda text: print(text, flush=True))
        return 0
    train(config_from_args(args, argv), log=lambda text: print(text, flush=True))
    return 0
