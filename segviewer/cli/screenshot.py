"""``segviewer screenshot [IMAGE] [--labels L] [--slice-mm X Y Z] -o OUT.png``."""

from __future__ import annotations

from segviewer.cli.arguments import finite_float, input_path, output_file, window_size

NAME = "screenshot"
HELP = "render the main window (slice views and 3D view) of an image to a PNG, no interaction"

LAYOUTS = ("2x2", "axial", "sagittal", "coronal", "3d")


def add_arguments(parser) -> None:
    parser.add_argument("image", nargs="?", type=input_path,
                        help="image file or DICOM folder (default: the bundled demo)")
    parser.add_argument("--labels", type=input_path, help="label map to show")
    parser.add_argument("--scribbles", type=input_path, help="scribble file to show")
    parser.add_argument("--points", type=input_path, help="point prompts (JSON) to show")
    parser.add_argument("--slice-mm", nargs=3, type=finite_float, metavar=("X", "Y", "Z"),
                        help="put the crosshair at this LPS point (mm); default: the image centre")
    parser.add_argument("--size", default=(1400, 900), type=window_size,
                        help="window size WIDTHxHEIGHT (default 1400x900)")
    parser.add_argument("--layout", choices=LAYOUTS, default="2x2", help="2x2 or one maximised view")
    parser.add_argument("--outline", action="store_true", help="draw labels as outlines")
    parser.add_argument("-o", "--output", required=True, type=output_file, help="PNG file to write")


def run(args) -> int:
    from segviewer.views.screenshot import take_screenshot

    take_screenshot(args.image, args.output, args.labels, args.scribbles, args.points,
                    tuple(args.slice_mm) if args.slice_mm else None, args.size,
                    "" if args.layout == "2x2" else args.layout, args.outline)
    print(args.output)
    return 0
