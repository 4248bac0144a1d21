"""``segviewer batch segment|infer|finetune|evaluate``: one command over many cases, on Dask.

``segment --cases DIR|CAMPAIGN --method NAME [--param k=v …] [--scribbles-from DIR] --out DIR``
runs ``segviewer segment`` on every case (the same code: the outputs are that command's,
byte for byte); ``infer`` is the same with the U-Net (``--model M``), ``finetune`` tunes the
model on each case's scribbles; ``evaluate --pred DIR --ref DIR --out results.csv`` compares
every prediction with its reference.

By default the cases run on a Dask cluster started on this machine (one worker per core,
or per GPU with ``--device cuda``); ``--scheduler tcp://HOST:8786`` (or
``DASK_SCHEDULER_ADDRESS``) uses an existing one (docs/scale-out.md). A re-run skips the
cases already done with the same parameters; a failing case is recorded with its error and
the others go on (exit 1 when any failed). Progress on stderr; results as CSV and JSON.
"""

from __future__ import annotations

from pathlib import Path

from segviewer.cli.arguments import (device_name, input_path, int_in, label_list, label_value, non_negative_float,
                                     output_file, output_folder)
from segviewer.cli.model_trust import add_trust_argument, trust_if_asked

NAME = "batch"
HELP = "run segment / infer / finetune / evaluate over many cases on a Dask cluster (resumable)"

#: Figures the summary table gives a median of, per batch command.
SUMMARY_FIGURES = {"evaluate": ("dice", "hd95_mm")}
#: The method each model command runs.
MODEL_COMMANDS = {"infer": "unet", "finetune": "finetune"}


def add_arguments(parser) -> None:
    commands = parser.add_subparsers(dest="batch_command", metavar="{segment,infer,finetune,evaluate}", required=True)
    segment = commands.add_parser("segment", help="run a method on every case and write its label map",
                                  description="run a method on every case and write OUT/CASE.nii.gz")
    segment.add_argument("--method", required=True, help="method name (see: segviewer methods)")
    infer = commands.add_parser("infer", help="run a U-Net on every case (the bundled model or --model M)")
    finetune = commands.add_parser("finetune", help="fine-tune the U-Net on each case's scribbles and write its labels")
    for sub in (segment, infer, finetune):
        _case_arguments(sub, model_default="hippocampus_unet" if sub is not segment else None)
    finetune.set_defaults(scribbles_needed=True)
    evaluate = commands.add_parser("evaluate", help="compare every prediction with its reference (Dice, HD95 …)")
    evaluate.add_argument("--pred", required=True, type=input_path, help="folder of predicted label maps")
    evaluate.add_argument("--ref", required=True, type=input_path,
                          help="folder of reference label maps (or a Decathlon folder with labelsTr/)")
    evaluate.add_argument("--labels", type=label_list, help="comma-separated label values (default: all present)")
    evaluate.add_argument("--out", required=True, type=output_file,
                          help="results table (CSV; the same rows as JSON beside it)")
    _cluster_arguments(evaluate)


def _case_arguments(parser, model_default: str | None) -> None:
    parser.add_argument("--cases", required=True, type=input_path,
                        help="folder of images (or an nnU-Net folder with imagesTr/), or a campaign folder")
    parser.add_argument("--scribbles-from", type=input_path, metavar="DIR",
                        help="folder of scribble files, CASE.nii.gz or CASE_scribbles.nii.gz")
    parser.add_argument("--annotator", help="with a campaign: use this annotator's scribbles and points")
    parser.add_argument("--unfinished", action="store_true", help="with a campaign: only the cases nobody finished")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method parameter (repeatable); see: segviewer methods")
    parser.add_argument("--model", metavar="M", default=model_default,
                        help="the model of a deep method: a bundled name, a model card (.json), a TorchScript "
                             "file or a bundle folder")
    add_trust_argument(parser)
    parser.add_argument("--label", type=label_value, default=1, help="the active label (threshold …); default 1")
    roi = parser.add_mutually_exclusive_group()
    roi.add_argument("--roi-margin", type=non_negative_float, default=None, metavar="MM",
                     help="work on the scribbles' box grown by MM millimetres")
    roi.add_argument("--whole-volume", action="store_true", help="work on the whole volume")
    parser.add_argument("--out", required=True, type=output_folder, help="output folder: OUT/CASE.nii.gz, "
                        "OUT/batch_results.csv/.json, OUT/batch-records/")
    parser.add_argument("--rerun", action="store_true", help="run every case again, even those already done")
    _cluster_arguments(parser)


def _cluster_arguments(parser) -> None:
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                             "else a cluster on this machine)")
    parser.add_argument("--workers", type=int_in(1, 4096), metavar="N",
                        help="worker processes of the cluster on this machine (default: one per core, or per GPU)")
    parser.add_argument("--device", type=device_name, default="auto",
                        help="where networks run: auto, cpu, cuda, cuda:N, mps (default auto)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args) -> int:
    from segviewer.batch.api import run_batch
    from segviewer.batch.report import ConsoleProgress, counted, summary_table

    if args.batch_command == "evaluate":
        jobs, setup, results = _evaluate_jobs(args)
    else:
        jobs, setup, results = _segment_jobs(args)
    console = ConsoleProgress(quiet=args.quiet)

    def started(dashboard: str | None, workers: int) -> None:
        console.note(f"batch {args.batch_command}: {counted(len(jobs), 'case')} on {counted(workers, 'worker')}"
                     + (f"; Dask dashboard: {dashboard}" if dashboard else ""))

    result = run_batch(jobs, setup=setup, scheduler=args.scheduler, workers=args.workers, device=args.device,
                       results=results, on_progress=console, on_start=started, rerun=getattr(args, "rerun", False))
    print(summary_table(result, SUMMARY_FIGURES.get(args.batch_command, ())))
    csv_path = results if results.suffix.lower() == ".csv" else results.with_name(results.name + ".csv")
    print(f"wrote {csv_path} and {csv_path.with_suffix('.json')}")
    return 1 if result.failed else 0


def _segment_jobs(args):
    import dataclasses

    from segviewer.batch.api import (RESULTS_NAME, attach_scribbles, campaign_cases, check_outputs,
                                     find_cases, segment_jobs, warm_worker, worker_device)
    from segviewer.cli.segment import device_assignments, model_assignments, roi_options
    from segviewer.methods.base import MethodInputError
    from segviewer.methods.registry import get_method
    from segviewer.model.parameters import parse_parameter_assignments

    method = get_method(MODEL_COMMANDS.get(args.batch_command) or args.method)
    params = parse_parameter_assignments(
        method.Parameters, model_assignments(method, _absolute_model(args.model))
        + device_assignments(method, args.device if args.device != "auto" else None) + args.param)
    trust_if_asked(args, params)
    if hasattr(params, "device"):  # a worker given GPU N sees it as its only one
        params = dataclasses.replace(params, device=worker_device(params.device))
    campaign = (Path(args.cases) / "campaign.json").is_file()
    if (args.annotator or args.unfinished) and not campaign:
        raise MethodInputError("--annotator and --unfinished are for a campaign folder given as --cases")
    cases = (campaign_cases(args.cases, unfinished_only=args.unfinished, annotator=args.annotator) if campaign
             else find_cases(args.cases))
    if args.scribbles_from:
        cases = attach_scribbles(cases, args.scribbles_from)
    elif getattr(args, "scribbles_needed", False) and not campaign:
        raise MethodInputError("batch finetune needs --scribbles-from DIR (each case's scribble file)")
    out = Path(args.out).resolve()
    jobs = segment_jobs(cases, method, params, out, active_label=args.label, **roi_options(args))
    check_outputs(jobs)  # no output may replace an input: refused before any case runs
    out.mkdir(parents=True, exist_ok=True)
    return jobs, warm_worker(method, params, args.device), out / f"{RESULTS_NAME}.csv"


def _absolute_model(model: str | None) -> str | None:
    """A model path made absolute (the workers may run elsewhere); a bundled name as it is."""
    if model is None:
        return None
    from segviewer.methods.deep.models import looks_like_path  # noqa: PLC0415

    return str(Path(model).expanduser().resolve()) if looks_like_path(model) else model


def _evaluate_jobs(args):
    from segviewer.batch.api import evaluate_jobs, evaluation_pairs

    jobs = evaluate_jobs(evaluation_pairs(args.pred, args.ref), labels=args.labels)
    return jobs, None, Path(args.out)
