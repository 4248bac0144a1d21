"""``segviewer convert INPUT OUTPUT [--reference IMAGE] [--labels]``."""

from __future__ import annotations

from segviewer.io.images import image_to_sitk, read_image

NAME = "convert"
HELP = "convert an image or label map between formats (optionally onto a reference grid)"


def add_arguments(parser) -> None:
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--reference", help="place the input on this image's grid by physical position")
    parser.add_argument("--labels", action="store_true", help="treat the input as a label map")


def run(args) -> int:
    import SimpleITK as sitk

    volume = read_image(args.input)
    sitk.WriteImage(image_to_sitk(volume.array, volume.geometry), args.output, True)
    return 0
