"""What to run a batch on, and running it: the API the ``segviewer batch`` command and the
app's campaign navigator share (no Qt).

- :func:`find_cases` — the images of a folder (``imagesTr``/``imagesTs`` of an nnU-Net
  layout, or the image files of a flat folder) or of a campaign (:func:`campaign_cases`);
  :func:`attach_scribbles` pairs each case with its scribble file from another folder.
- :func:`segment_jobs` / :func:`evaluate_jobs` — one :class:`~segviewer.batch.engine.CaseJob`
  per case, with the request that decides its result (method, parameters, the inputs'
  fingerprints, the model's digest, versions).
- :func:`run_batch` — connect to (or start) the cluster, warm its workers, run the jobs,
  write the results as CSV and JSON; progress to a callback, a cancel token to stop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from segviewer.batch.cluster import WarmWorker, connect, dashboard_link, local_layout, scheduler_address
from segviewer.batch.engine import BatchProgress, BatchResult, CaseJob, run_jobs
from segviewer.batch.records import fingerprint, request_key, versions
from segviewer.batch.report import write_results
from segviewer.batch.tasks import SegmentInputs, evaluate_task, guard_for, segment_task
from segviewer.errors import SegviewerError
from segviewer.io.atomic import with_sidecar
from segviewer.evaluation.cases import LABEL_SUFFIXES, case_id
from segviewer.methods.base import CancelToken, Method
from segviewer.methods.request import DEFAULT_MARGIN_MM

#: Image files a case folder may hold (DICOM series are given one folder per case).
IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
#: The output suffix of a batch's label maps (as the bundled data and nnU-Net use).
OUTPUT_SUFFIX = ".nii.gz"
RESULTS_NAME = "batch_results"


class BatchInputError(SegviewerError):
    """The cases, scribbles or options of a batch do not fit together."""


@dataclass(frozen=True)
class CaseFiles:
    """One case's input files."""

    case: str
    image: Path
    scribbles: Path | None = None
    points: Path | None = None
    labels: Path | None = None


# -- which cases ---------------------------------------------------------------------------------
def _is_image(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(IMAGE_ENDINGS) and not name.startswith(".")


def image_files(folder: Path) -> dict[str, Path]:
    """Case id -> image file of a folder (label files beside the images left out)."""
    found = {}
    for path in sorted(folder.iterdir()):
        if _is_image(path) and not any(case_id(path).endswith(suffix) for suffix in LABEL_SUFFIXES):
            found.setdefault(case_id(path), path)
    return found


def find_cases(location: str | Path) -> list[CaseFiles]:
    """The cases of a folder: a campaign (``campaign.json``), the ``imagesTr``/``imagesTs``
    of an nnU-Net layout, or the image files in it; sorted by case id."""
    folder = Path(location)
    if (folder / "campaign.json").is_file():
        return campaign_cases(folder)
    if not folder.is_dir():
        raise BatchInputError(f"{folder}: not a folder of cases")
    images: dict[str, Path] = {}
    layout = [folder / name for name in ("imagesTr", "imagesTs") if (folder / name).is_dir()]
    for sub in layout or [folder]:
        for name, path in image_files(sub).items():
            images.setdefault(name, path)
    if not images:
        raise BatchInputError(f"{folder}: no images ({', '.join(IMAGE_ENDINGS)}) in it"
                              f"{' or its imagesTr/imagesTs' if not layout else ''}")
    return [CaseFiles(name, images[name]) for name in sorted(images)]


def campaign_cases(root: str | Path, *, unfinished_only: bool = False, annotator: str | None = None) -> list[CaseFiles]:
    """The cases of a campaign (docs/campaigns.md): each case's image, and with ``annotator``
    that annotator's scribbles and points where they exist. ``unfinished_only`` leaves out
    the cases someone has finished (done, needs review, accepted)."""
    from segviewer.app.campaign.campaign import Campaign  # noqa: PLC0415 - only for campaigns
    from segviewer.app.campaign.status import campaign_status  # noqa: PLC0415

    campaign = Campaign.open(root)
    finished = ({case.id for case in campaign_status(campaign, with_locks=False).cases if case.is_finished}
                if unfinished_only else set())
    cases = []
    for entry in campaign.cases:
        if entry.id in finished:
            continue
        layers = {kind: campaign.existing_layer(entry.id, annotator, kind) if annotator else None
                  for kind in ("scribbles", "points")}
        cases.append(CaseFiles(entry.id, entry.image, layers["scribbles"], layers["points"]))
    return cases


def attach_scribbles(cases: Iterable[CaseFiles], folder: str | Path) -> list[CaseFiles]:
    """Each case with its scribble file from ``folder``: ``CASE.nii.gz`` or
    ``CASE_scribbles.nii.gz`` (any image suffix). A case without one keeps none (a method
    that needs scribbles then fails that case, and the batch goes on)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BatchInputError(f"{folder}: not a folder of scribble files")
    by_case: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if _is_image(path):
            name = case_id(path)
            by_case.setdefault(name.removesuffix("_scribbles"), path)
    return [dataclasses.replace(case, scribbles=by_case.get(case.case, case.scribbles)) for case in cases]


# -- jobs ----------------------------------------------------------------------------------------
def model_digest(method: Method, params: Any) -> str | None:
    """The SHA-256 of the model a deep method's parameters name (a new model re-runs cases)."""
    model = getattr(params, "model", None)
    if model is None or str(model).strip().lower() == "scratch":
        return None
    from segviewer.io.trust import content_digest  # noqa: PLC0415
    from segviewer.methods.deep.models import resolve_model_path  # noqa: PLC0415 - deep methods only

    return content_digest(resolve_model_path(model))


def segment_jobs(cases: Iterable[CaseFiles], method: Method, params: Any, out: str | Path, *,
                 active_label: int = 1, margin_mm: float = DEFAULT_MARGIN_MM,
                 whole_volume: bool | None = None) -> list[CaseJob]:
    """One segmentation job per case, writing ``OUT/CASE.nii.gz``."""
    out = Path(out)
    model = getattr(params, "model", None)
    common = {"task": "segment", "method": method.name, "parameters": dataclasses.asdict(params),
              "model": model_digest(method, params), "active_label": active_label, "margin_mm": margin_mm,
              "whole_volume": whole_volume, "versions": versions()}
    jobs = []
    for case in cases:
        inputs = SegmentInputs(case.image, case.scribbles, case.points, case.labels,
                               model=str(model) if model is not None and has_model(method) else None,
                               active_label=active_label, margin_mm=margin_mm, whole_volume=whole_volume)
        request = {**common, "inputs": {kind: fingerprint(getattr(case, kind))
                                        for kind in ("image", "scribbles", "points", "labels")}}
        jobs.append(CaseJob(case.case, segment_task,
                            {"method_name": method.name, "params": params, "inputs": inputs,
                             "output": out / f"{case.case}{OUTPUT_SUFFIX}"},
                            request, request_key(request), records=out))
    return jobs


def has_model(method: Method) -> bool:
    """Whether the method's parameters name a model (the deep methods)."""
    return any(field.name == "model" for field in dataclasses.fields(method.Parameters))


def check_outputs(jobs: Iterable[CaseJob]) -> None:
    """Refuse a batch in which a case's output would replace one of its inputs (``--out``
    the folder of the images), before any case runs."""
    for job in jobs:
        if job.task is segment_task:
            output = job.arguments["output"]
            guard_for(job.arguments["inputs"]).check_all(with_sidecar(output, "the label map", "labels"))


def evaluate_jobs(pairs: Iterable[tuple[str, Path, Path]], labels=None) -> list[CaseJob]:
    """One evaluation job per ``(case, prediction, reference)`` (not resumable: cheap)."""
    jobs = []
    for case, prediction, reference in pairs:
        request = {"task": "evaluate", "prediction": str(prediction), "reference": str(reference), "labels": labels}
        jobs.append(CaseJob(case, evaluate_task, {"prediction": prediction, "reference": reference, "labels": labels},
                            request, request_key(request)))
    return jobs


def evaluation_pairs(predictions: str | Path, references: str | Path) -> list[tuple[str, Path, Path]]:
    """``(case, prediction, reference)`` for every prediction whose case has a reference
    (the references may be a ``labelsTr`` folder or a Decathlon folder holding one)."""
    predictions, references = Path(predictions), Path(references)
    for folder, what in ((predictions, "--pred"), (references, "--ref")):
        if not folder.is_dir():
            raise BatchInputError(f"{what} {folder}: not a folder")
    if (references / "labelsTr").is_dir():
        references = references / "labelsTr"
    found = {case_id(path): path for path in sorted(references.iterdir()) if _is_image(path)}
    predicted = {case_id(path): path for path in sorted(predictions.iterdir()) if _is_image(path)}
    pairs = [(case, path, found[case]) for case, path in sorted(predicted.items()) if case in found]
    if not pairs:
        raise BatchInputError(f"no prediction in {predictions} has a reference of the same case in {references}")
    return pairs


# -- running -------------------------------------------------------------------------------------
def warm_worker(method: Method | None, params: Any = None, device: str = "auto",
                torch_threads: int | None = None) -> WarmWorker:
    """The worker set-up of a batch: the method's module imported and its model loaded once
    per worker, torch's threads set for an embedded cluster."""
    # the case's own path (readers, writers, SimpleITK) and the method's module
    modules = ("segviewer.batch.tasks",) + ((type(method).__module__,) if method is not None else ())
    model = getattr(params, "model", None) if method is not None and has_model(method) else None
    if model is not None and str(model).strip().lower() == "scratch":
        model = None
    return WarmWorker(torch_threads, modules, model, worker_device(device))


def worker_device(device: str) -> str:
    """The device name inside a worker: a worker given GPU N sees it as its only GPU."""
    return "cuda" if device.startswith("cuda:") else device


def run_batch(jobs: list[CaseJob], *, setup: WarmWorker | None = None, scheduler: str | None = None,
              workers: int | None = None, device: str = "auto", results: str | Path | None = None,
              on_progress: Callable[[BatchProgress], None] | None = None,
              on_start: Callable[[str | None, int], None] | None = None,
              cancel: CancelToken | None = None, rerun: bool = False, dashboard: bool = True) -> BatchResult:
    """Run ``jobs`` on the cluster (an existing one at ``scheduler``, else an embedded one)
    and write the rows to ``results`` (``.csv`` and ``.json`` beside it) when given.

    ``on_start(dashboard_address, workers)`` is called once the cluster is up.
    """
    embedded = scheduler_address(scheduler) is None
    with connect(scheduler, device=device, workers=workers, dashboard=dashboard,
                 preload=setup.preload if setup is not None else ()) as client:
        if setup is not None:
            if embedded and setup.torch_threads is None:
                setup.torch_threads = local_layout(device, workers).threads_per_worker
            client.register_plugin(setup, name=WarmWorker.name)
        link = dashboard_link(client) if dashboard else None
        if on_start is not None:
            on_start(link, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        result = run_jobs(client, jobs, on_progress=on_progress, cancel=cancel, rerun=rerun)
        result.dashboard = link
    if results is not None:
        write_results(result.rows, Path(results))
    return result
