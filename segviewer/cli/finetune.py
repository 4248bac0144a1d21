"""``segviewer finetune IMAGE --scribbles S [--points P] --model M [--save-model OUT] [-o LABELS]``.

Fine-tunes a model (or, with ``--model scratch``, trains a small one) on one image from its
scribbles and clicks — the very code of the GUI's fine-tuning panel — then writes the
segmentation, optionally the uncertainty (entropy) map, and the tuned model with an updated
model card for the next case.
"""

from __future__ import annotations

import sys

from segviewer.cli.arguments import device_name, image_output, input_path, label_output, non_negative_float
from segviewer.cli.model_trust import add_trust_argument, trust_if_asked
from segviewer.io.jsonfile import dumps

NAME = "finetune"
HELP = "fine-tune a U-Net (or train one from scratch) on an image from its scribbles; save the tuned model"


def add_arguments(parser) -> None:
    parser.add_argument("image", type=input_path, help="image file or DICOM folder")
    parser.add_argument("--scribbles", type=input_path,
                        help="scribble file (0 = background, k = label k, 255/65535 = none)")
    parser.add_argument("--points", type=input_path, help="point prompts (JSON, positions in mm)")
    parser.add_argument("--model", default="hippocampus_unet",
                        help="bundled model name, model card (.json), TorchScript, MONAI bundle folder, or 'scratch'")
    add_trust_argument(parser)
    parser.add_argument("--device", type=device_name,
                        help="where the network trains: auto, cpu, cuda, cuda:N, mps; short for --param device=D")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a fine-tuning parameter (repeatable), e.g. steps=60; see: segviewer methods")
    parser.add_argument("--save-model", metavar="OUT", help="write the tuned model: OUT.pt + OUT.json (model card)")
    parser.add_argument("-o", "--output", type=label_output, help="label map to write (.nii.gz, .nrrd, …)")
    parser.add_argument("--entropy", metavar="FILE", type=image_output,
                        help="write the per-voxel uncertainty (normalised entropy)")
    roi = parser.add_mutually_exclusive_group()
    roi.add_argument("--roi-margin", type=non_negative_float, default=None, metavar="MM",
                     help="work on the scribbles' box grown by MM millimetres")
    roi.add_argument("--whole-volume", action="store_true", help="work on the whole volume")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args) -> int:
    import numpy as np

    from segviewer.io.atomic import input_guard, with_sidecar
    from segviewer.io.images import image_to_sitk, read_image, write_sitk_image
    from segviewer.io.paths import IMAGE_WRITE_SUFFIXES, check_write_suffix
    from segviewer.methods.deep.models import resolve_model_path
    from segviewer.methods.deep.saving import model_files, model_output_paths
    from segviewer.io.labels import write_label_map
    from segviewer.io.points import read_points
    from segviewer.io.scribbles import read_scribbles
    from segviewer.cli.segment import roi_options, run_with_console_progress
    from segviewer.methods.base import MethodInputError
    from segviewer.model.parameters import parse_parameter_assignments
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import apply_result_to_array, build_request_from_arrays
    from segviewer.model.labels import LabelMap
    from segviewer.model.points import PointSet

    if not args.output and not args.save_model and not args.entropy:
        raise MethodInputError("nothing to write: give -o LABELS, --save-model OUT and/or --entropy FILE")
    method = get_method("finetune")
    device = [f"device={args.device}"] if args.device else []
    params = parse_parameter_assignments(method.Parameters, device + args.param + [f"model={args.model}"])
    source_model = None if args.model.strip().lower() == "scratch" else model_files(resolve_model_path(args.model))
    guard = input_guard(image=args.image, scribbles=args.scribbles, points=args.points, model=source_model)
    outputs = with_sidecar(args.output, "the label map", "labels")
    if args.entropy:
        check_write_suffix(args.entropy, IMAGE_WRITE_SUFFIXES, "the uncertainty map")
        outputs.append((args.entropy, "the uncertainty map"))
    if args.save_model:
        outputs += [(path, "the tuned model") for path in model_output_paths(args.save_model)]
    guard.check_all(outputs)  # refused before minutes of tuning
    trust_if_asked(args, params)
    image = read_image(args.image)
    guard.protect_image(image)  # a DICOM series: every slice file
    geometry = image.geometry
    scribbles = unannotated = None
    if args.scribbles:
        loaded, message = read_scribbles(args.scribbles, geometry)
        scribbles, unannotated = loaded.array, loaded.unannotated
        if message:
            print(f"segviewer: note: {message}", file=sys.stderr)
    points = read_points(args.points) if args.points else PointSet()
    if scribbles is None and not len(points):
        raise MethodInputError("finetune needs --scribbles (and/or --points)")
    request = build_request_from_arrays(
        method, image.array, geometry, scribbles=scribbles, unannotated=unannotated, points=list(points),
        params=params, modality=image.metadata.get("modality", ""), **roi_options(args))
    result, seconds = run_with_console_progress(method, request, args.quiet)
    info = result.info
    summary = {k: info[k] for k in ("model", "start", "steps", "agreement", "polarity", "input_correction",
                                    "cpu_seconds", "verdict") if k in info}
    summary["final_loss"] = info["loss_curve"][-1] if info.get("loss_curve") else None
    summary["suggestion"] = (info.get("suggestion") or {}).get("text")
    if args.output:
        label_map = LabelMap.empty(geometry)
        label_map.array = apply_result_to_array(label_map.array, result, image.array)
        label_map.table.ensure(label_map.present_values())
        write_label_map(args.output, label_map, geometry, protected_paths=guard)
        print(f"wrote {args.output} ({seconds:.1f} s)")
    if args.entropy:
        full = np.zeros(image.shape, np.float32)
        full[result.roi] = info["entropy"]
        write_sitk_image(args.entropy, image_to_sitk(full, geometry), "the uncertainty map", guard)
        print(f"wrote {args.entropy}")
    if args.save_model:
        card = method.save_model(args.save_model, guard=guard)
        weights_path, card_path = model_output_paths(args.save_model)
        print(f"wrote {weights_path} and {card_path} (model {card.name})")
    if not args.quiet:
        print(dumps(summary, default=str))
    return 0
