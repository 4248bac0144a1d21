"""``segviewer convert INPUT OUTPUT [--reference IMAGE] [--labels] [--format dicom-seg|rtstruct]``.

Images keep their geometry, or are resampled (linear) onto ``--reference``'s grid. With
``--labels`` the input is read as a label map (values checked, float-stored labels cast,
its label table carried to the output's JSON sidecar) and, with ``--reference``, placed on
the reference grid by physical position (nearest neighbour).

``--format dicom-seg`` / ``rtstruct`` write the label map as a DICOM Segmentation or an RT
Structure Set of the DICOM series given as ``--reference`` (which the labels are placed on
first). A DICOM-SEG or RT Structure Set as INPUT is read as labels (``--layer`` picks one of
the label maps of a SEG whose segments overlap).
"""

from __future__ import annotations

import sys
from pathlib import Path

from segviewer.cli.arguments import image_output, input_path, int_in, output_file
from segviewer.errors import SegviewerError
from segviewer.io.atomic import input_guard
from segviewer.io.dicom_labels import is_dicom_labels, read_dicom_labels, read_dicom_object
from segviewer.io.dicom_seg import ALGORITHM_KINDS, SEG_TYPES, SegmentAlgorithm, source_series, write_dicom_seg
from segviewer.io.images import read_geometry, read_image, resample_image, write_image
from segviewer.io.label_table import find_label_table, label_table_sidecar
from segviewer.io.labels import read_label_map, write_label_map
from segviewer.io.paths import image_suffix
from segviewer.io.segment_codes import load_segment_codes
from segviewer.model.image import ImageVolume

NAME = "convert"
HELP = "convert an image or label map between formats (optionally onto a reference grid)"


def add_arguments(parser) -> None:
    parser.add_argument("input", type=input_path, help="image file, DICOM folder or label map")
    parser.add_argument("output", type=_output,
                        help="file to write (.nii.gz, .nii, .nrrd, .seg.nrrd, .mha, .mhd, .gipl; "
                             ".dcm with --format)")
    parser.add_argument("--reference", type=input_path,
                        help="place the input on this image's grid by physical position")
    parser.add_argument("--labels", action="store_true",
                        help="treat the input as a label map (nearest neighbour, whole values)")
    parser.add_argument("--series", help="DICOM input: the series, by index or UID")
    parser.add_argument("--reference-series", help="DICOM reference: the series, by index or UID")
    dicom = parser.add_argument_group("DICOM objects (OUTPUT.dcm, with --reference DICOM_DIR)")
    dicom.add_argument("--format", choices=DICOM_FORMATS,
                       help="write the label map as a DICOM Segmentation or an RT Structure Set")
    dicom.add_argument("--seg-type", choices=SEG_TYPES, default="binary",
                       help="DICOM-SEG encoding: binary (every reader) or labelmap (smaller; DICOM 2024)")
    dicom.add_argument("--algorithm-type", choices=ALGORITHM_KINDS, default="manual",
                       help="how the labels were made (default: manual)")
    dicom.add_argument("--method", default="", help="the method that made them (e.g. graph_cut)")
    dicom.add_argument("--model", default="", help="the model that made them (a file or model name)")
    dicom.add_argument("--codes", type=input_path,
                       help="segment code table (JSON) adding to the shipped and user tables")
    parser.add_argument("--layer", type=int_in(1, 1000, "a layer number"), default=1,
                        help="a DICOM-SEG input whose segments overlap: which label map (default 1)")
    parser.add_argument("--probabilities", type=image_output,
                        help="a FRACTIONAL DICOM-SEG input: also write its probabilities (float32) here")


#: Output formats chosen by --format (written as .dcm).
DICOM_FORMATS = ("dicom-seg", "rtstruct")


def _output(text: str) -> str:
    """An image file to write, or a .dcm file (a DICOM object, with --format)."""
    return output_file(text) if image_suffix(text) == ".dcm" else image_output(text)


def run(args) -> int:
    output = Path(args.output)
    protected = input_guard(image=args.input, reference=args.reference, codes=args.codes)
    if args.format or image_suffix(output) == ".dcm":
        return _write_dicom_object(args, output, protected)
    reference = read_geometry(args.reference, args.reference_series) if args.reference else None
    dicom = is_dicom_labels(args.input)
    protected.check_all([(output, "the output"), (args.probabilities, "the probabilities")])
    if args.probabilities and not dicom:
        raise SegviewerError(f"--probabilities: {args.input} is not a DICOM-SEG; only a FRACTIONAL SEG has them")
    if args.labels or dicom:
        read = read_dicom_object(args.input, reference) if dicom else None
        label_map, message = read.layer(args.layer, args.input) if read else read_label_map(args.input, reference)
        if args.probabilities:
            _write_probabilities(Path(args.probabilities), read, args.input, protected)
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


def _write_dicom_object(args, output: Path, protected) -> int:
    """``--format dicom-seg|rtstruct``: the label map on the --reference series, as a DICOM object."""
    if not args.format:
        raise SegviewerError(f"{output}: a .dcm output is a DICOM object; say which with "
                             "--format dicom-seg or --format rtstruct")
    if image_suffix(output) != ".dcm":
        raise SegviewerError(f"{output}: a {args.format} file is DICOM; give the output a .dcm name")
    if not args.reference:
        raise SegviewerError(f"--format {args.format} needs --reference DICOM_DIR: the DICOM series the "
                             "labels were drawn on (a DICOM object refers to its images)")
    protected.check(output, f"the {args.format} file")  # before reading anything
    codes = load_segment_codes(args.codes)
    algorithm = SegmentAlgorithm(args.algorithm_type, args.method, args.model)
    volume = read_image(args.reference, args.reference_series)
    protected.protect_image(volume)  # the series' slice files: the .dcm output may not be one of them
    source = source_series(volume)
    label_map, message = (read_dicom_labels(args.input, volume.geometry, args.layer)
                          or read_label_map(args.input, volume.geometry))
    if args.format == "rtstruct":
        from segviewer.io.rtstruct import write_rtstruct  # noqa: PLC0415 - RT users only

        write_rtstruct(output, label_map, source, guard=protected, algorithm=algorithm, codes=codes)
    else:
        write_dicom_seg(output, label_map, source, guard=protected, seg_type=args.seg_type,
                        algorithm=algorithm, codes=codes)
    for note in filter(None, [message, *source.notes]):
        print(f"segviewer: note: {note}", file=sys.stderr)
    segments = len(label_map.present_values())
    print(f"wrote {output} ({args.format}, {segments} segment{'s' if segments != 1 else ''} on "
          f"{len(source.datasets)} images of the series)")
    return 0


def _write_probabilities(path: Path, read, source, protected) -> None:
    """A FRACTIONAL SEG's soft map (the highest probability of any segment) as a float32 image."""
    highest = read.highest_probability()
    if highest is None:
        raise SegviewerError(f"--probabilities: {source} is not a FRACTIONAL SEG; it holds no probabilities")
    write_image(path, ImageVolume(highest, read.label_map.geometry, name="probability"), protected_paths=protected)
