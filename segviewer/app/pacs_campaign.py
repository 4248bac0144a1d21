"""Campaigns on a PACS: cases from a DICOMweb query, finished work back as DICOM-SEG.

Annotators on several machines share one server: each makes a campaign from the same query
(:func:`campaign_from_query`; the case ids come from the series, so they agree everywhere),
works through it in the viewer, and sends what is finished back with :func:`store_results`
- one SEG per case and annotator, referencing the series it was drawn on and naming the
annotator and the case in its series description. Built on :mod:`segviewer.app.campaign`
(``Campaign.create`` with cases made here) and :class:`segviewer.io.dicomweb.DicomWebServer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from segviewer.app.campaign import FINISHED_STATES, Campaign, CampaignError, SourceCase
from segviewer.app.campaign.sources import safe_case_id
from segviewer.io.dicomweb import LABEL_MODALITIES, DicomWebServer, SeriesEntry, StoreReport

#: Series a query may return that are not images to annotate.
NON_IMAGE_MODALITIES = LABEL_MODALITIES | {"RTPLAN", "RTDOSE", "SR", "PR", "KO", "REG", "DOC"}
#: Where, inside the campaign folder, the series are downloaded. Hidden: ``Campaign.create``
#: wants a folder that is empty apart from hidden entries, and the series come first.
SERIES_FOLDER = ".dicomweb"

Progress = Callable[[float, str], None]


def case_id_of(entry: SeriesEntry) -> str:
    """A case id every machine derives alike: patient, date, modality and the series UID's end."""
    return safe_case_id("_".join(p for p in (entry.patient_id, entry.study_date, entry.modality,
                                             entry.series_uid.rsplit(".", 1)[-1][-8:]) if p))


def campaign_from_query(root: str | Path, url: str, *, patient: str | None = None, study_date: str | None = None,
                        modality: str | None = None, progress: Progress | None = None,
                        cancelled: Callable[[], bool] | None = None) -> Campaign:
    """Make a campaign in ``root`` (new or empty) with one case per image series the query finds.

    Each series is downloaded into ``root/.dicomweb/<series UID>`` (complete or absent) before
    the campaign is made; the manifest's ``source`` records the server and the query (no
    credentials)."""
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(p for p in root.iterdir() if not p.name.startswith("."))):
        raise CampaignError(f"{root}: exists and is not an empty folder; choose a new folder")
    report = progress or (lambda fraction, text: None)
    server = DicomWebServer(url)
    entries = [e for e in server.search(patient=patient, study_date=study_date, modality=modality)
               if e.modality.upper() not in NON_IMAGE_MODALITIES]
    if not entries:
        raise CampaignError(f"{server.url}: the query matched no image series")
    folder = root / SERIES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for number, entry in enumerate(entries):
        target = folder / entry.series_uid
        if not target.is_dir():
            def step(fraction: float, text: str, number=number) -> None:
                report((number + fraction) / len(entries), f"series {number + 1} of {len(entries)}: {text}")

            server.retrieve_series(entry.study_uid, entry.series_uid, target, progress=step, cancelled=cancelled)
        comment = " ".join(p for p in (entry.study_description, entry.series_description) if p)
        cases.append(SourceCase(case_id_of(entry), target, (target,), comment=comment))
    query = {k: v for k, v in (("patient", patient), ("study_date", study_date), ("modality", modality)) if v}
    return Campaign.create(root, cases, source={"kind": "dicomweb", "url": server.url, "query": query})


@dataclass(frozen=True)
class StoredResult:
    case_id: str
    annotator: str
    report: StoreReport


def store_results(campaign: Campaign, url: str, *, annotator: str | None = None,
                  states: frozenset[str] = FINISHED_STATES, progress: Progress | None = None) -> list[StoredResult]:
    """Send each finished labels layer (of ``annotator``, or of everyone) as a DICOM-SEG of
    its case's series. A case whose image is not a DICOM series is refused by the SEG writer
    with its reason, before anything of that case is sent."""
    from segviewer.io.dicom_seg import SegmentAlgorithm  # noqa: PLC0415 - highdicom is heavy
    from segviewer.io.images import read_image  # noqa: PLC0415
    from segviewer.io.labels import read_label_map  # noqa: PLC0415

    report = progress or (lambda fraction, text: None)
    server = DicomWebServer(url)
    work = [(case, name, record) for case in campaign.cases for name, record in campaign.records(case.id).items()
            if (annotator is None or name == annotator) and record.state in states
            and campaign.existing_layer(case.id, name, "labels") is not None]
    stored = []
    for number, (case, name, record) in enumerate(work):
        report(number / max(1, len(work)), f"{case.id} by {name}")
        image = read_image(case.image)
        labels = read_label_map(campaign.existing_layer(case.id, name, "labels"), image.geometry).label_map
        algorithm = (SegmentAlgorithm("semiautomatic", method=", ".join(record.methods)) if record.methods
                     else SegmentAlgorithm("manual"))
        result = server.store_segmentation(labels, image, algorithm=algorithm,
                                           series_description=f"{case.id} by {name} ({record.state})"[:64])
        stored.append(StoredResult(case.id, name, result))
    report(1.0, f"{len(stored)} SEG stored")
    return stored
