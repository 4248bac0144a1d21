"""``segviewer convert INPUT OUTPUT [--reference IMAGE] [--labels]``.

Images keep their geometry, or are resampled (linear) onto ``--reference``'s grid. With
``--labels`` the input is read as a label map (values checked, float-stored labels cast,
its label table carried to the output's JSON sidecar) and, with ``--reference``, placed on
the reference grid by physical position (nearest neighbour).
"""

from __future__ import annotations

import sys
from pathlib import Path

from segviewer.io.atomic import input_guard
from segviewer.cli.arguments import image_output, input_path
from segviewer.io.images import read_geometry, read_image, resample_image, write_image
from segviewer.io.label_table import find_label_table, label_table_sidecar
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.paths import image_suffix

NAME = "convert"
HELP = "convert an image or label map between formats (optionally onto a reference grid)"


def add_arguments(parser) -> None:
    parser.add_argument("input", type=input_path, help="image file, DICOM folder or label map")
    parser.add_argument("output", type=image_output,
                        help="file to write (.nii.gz, .nii, .nrrd, .seg.nrrd, .mha, .mhd, .gipl)")
    parser.add_argument("--reference", type=input_path,
                        help="place the input on this image's grid by physical position")
    parser.add_argument("--labels", action="store_true",
                        help="treat the input as a label map (nearest neighbour, whole values)")
    parser.add_argument("--series", help="DICOM input: the series, by index or UID")
    parser.add_argument("--reference-series", help="DICOM reference: the series, by index or UID")


def run(args) -> int:
    output = Path(args.output)
    protected = input_guard(image=args.input, reference=args.reference)
    reference = read_geometry(args.reference, args.reference_series) if args.reference else None
    if args.labels:
        label_map, message = read_label_map(args.input, reference)
        # case.nii.gz -> case.nrrd: both look up their table under the same names, so the output
        # finds the input's table (or none, as the input did) without writing over the input's
        # sidecar; only a .seg.nrrd's table lives in the file itself
        shared_table = (label_table_sidecar(output).resolve() == label_table_sidecar(args.input).resolve()
                        and (find_label_table(args.input) is not None or image_suffix(args.input) != ".seg.nrrd"))
        write_label_map(output, label_map, reference, protected_paths=protected, write_table=not shared_table)
        written = label_map.geometry
    else:
        volume = read_image(args.input, series=args.series)
        message = volume.metadata.get("message", "")
        if reference is not None and not volume.geometry.same_grid(reference):
            volume = resample_image(volume, reference)
            message = "resampled onto the reference grid by physical position (linear)"
        write_image(output, volume, protected_paths=protected)
        written = volume.geometry
    if message:
        print(f"segviewer: note: {message}", file=sys.stderr)
    print(f"wrote {output} ({'x'.join(map(str, written.size))} voxels, "
          f"spacing {' '.join(f'{v:.4g}' for v in written.spacing)} mm)")
    return 0
