"""Training data out of a campaign: an nnU-Net v2 raw dataset, a MONAI (Decathlon) datalist
and BIDS derivatives. No Qt; the command line is ``segviewer export`` (docs/campaigns.md).

Which work of a case is exported (the same rule for every export, :data:`CHOICE_RULE`):
an accepted (reviewed) mask wins over a finished one (done / needs review), which wins over
a draft (in progress, only when drafts are asked for); at the same rank a full mask wins
over scribbles, then the work finished last, then the annotator's name. Rejected work is
never exported. A labels file with no labelled voxel counts as absent (the viewer saves an
empty one when a case is marked done with scribbles only).

Scribble-only cases go to nnU-Net with its ignore label (a label named ``"ignore"``, the
highest value: nnU-Net's ``documentation/ignore_label.md``); MONAI lists them apart, with
the value that means "not annotated"; BIDS ``dseg`` has no such value, so they are left out
there. Every export reports what it left out and why, and writes nothing outside its output:
a folder output is built in a hidden folder beside it and renamed into place (complete or
absent, :func:`segviewer.io.atomic.atomic_folder`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segviewer import __version__
from segviewer.app.campaign.campaign import Campaign, CaseEntry
from segviewer.app.campaign.records import (ACCEPTED, DONE, IN_PROGRESS, NEEDS_REVIEW, REJECTED, CampaignError,
                                            CaseRecord)
from segviewer.errors import SegviewerError
from segviewer.io import jsonfile
from segviewer.io.atomic import OutputGuard, atomic_folder, write_text_atomically
from segviewer.io.paths import image_suffix

#: How a case's exported work is chosen (printed with every export).
CHOICE_RULE = ("per case: accepted (reviewed) work over finished work (done / needs review) over drafts "
               "(in progress, only with drafts asked for); at one rank a full mask over scribbles, then the "
               "work finished last, then the annotator's name; rejected work is never exported")

#: Rank of a state in the choice (lower wins); states not listed are never exported.
_STATE_RANK = {ACCEPTED: 0, NEEDS_REVIEW: 1, DONE: 1, IN_PROGRESS: 2}
LABELS, SCRIBBLES = "labels", "scribbles"
NNUNET_FILE_ENDING = ".nii.gz"
BIDS_VERSION = "1.9.0"

#: Called with (cases done, cases in all).
Progress = Callable[[int, int], None]


class ExportError(SegviewerError):
    """The export cannot be made as asked (an output in the way, a bad dataset id ...)."""


# == which work of each case =====================================================================
@dataclass(frozen=True)
class Work:
    """One annotator's usable work on a case."""

    annotator: str
    state: str
    kind: str                 # LABELS (a full mask) or SCRIBBLES (partial labels)
    path: Path
    finished: str             # ISO time of the last state change (ties go to the latest)
    values: frozenset[int]    # label values present (0 = background not listed)

    def describe(self) -> str:
        return f"{self.annotator}'s {'mask' if self.kind == LABELS else 'scribbles'} ({self.state})"


@dataclass
class CaseChoice:
    """The work exported for one case, and the work passed over (for the report)."""

    case: CaseEntry
    chosen: Work
    passed_over: list[Work]
    full_masks: list[Work]    # every usable full mask at any rank (BIDS' consensus probabilities)

    @property
    def kind(self) -> str:
        return self.chosen.kind

    def describe(self) -> str:
        text = f"{self.case.id}: {self.chosen.describe()}"
        if self.passed_over:
            text += " over " + ", ".join(w.describe() for w in self.passed_over)
        return text


@dataclass(frozen=True)
class Omission:
    case: str
    reason: str


@dataclass
class Selection:
    choices: list[CaseChoice]
    left_out: list[Omission]


def select_cases(campaign: Campaign, include_drafts: bool = False) -> Selection:
    """Each case's exported work by :data:`CHOICE_RULE`; the cases left out, with why."""
    all_records = campaign.all_records()
    choices, left_out = [], []
    for case in campaign.cases:
        records = all_records.get(case.id, {})
        try:
            usable, problems = _usable_work(campaign, case, records, include_drafts)
        except SegviewerError as error:
            left_out.append(Omission(case.id, f"its work cannot be read ({error})"))
            continue
        if not usable:
            left_out.append(Omission(case.id, "; ".join(problems) or "nobody has started it"))
            continue
        ranked = _ranked(usable)
        choices.append(CaseChoice(case, ranked[0], ranked[1:], [w for w in ranked if w.kind == LABELS]))
    return Selection(choices, left_out)


def _ranked(usable: list[Work]) -> list[Work]:
    """``usable`` best first (stable sorts, the last key applied first; ISO times sort as text)."""
    ranked = sorted(usable, key=lambda w: w.annotator)
    ranked.sort(key=lambda w: w.finished, reverse=True)
    ranked.sort(key=lambda w: (_STATE_RANK[w.state], w.kind != LABELS))
    return ranked


def _usable_work(campaign: Campaign, case: CaseEntry, records: dict[str, CaseRecord],
                 include_drafts: bool) -> tuple[list[Work], list[str]]:
    usable, problems = [], []
    for annotator, record in records.items():
        if record.state == REJECTED:
            problems.append(f"{annotator}'s work was rejected ({record.comment})")
            continue
        if record.state == IN_PROGRESS and not include_drafts:
            problems.append(f"{annotator}'s work is a draft (in progress; drafts are exported only when asked for)")
            continue
        if record.state not in _STATE_RANK:
            problems.append(f"{annotator}: state {record.state}")
            continue
        work = _work_of(campaign, case, annotator, record)
        if work is None:
            problems.append(f"{annotator} ({record.state}) saved no labelled voxel and no scribble")
        else:
            usable.append(work)
    return usable, problems


def _work_of(campaign: Campaign, case: CaseEntry, annotator: str, record: CaseRecord) -> Work | None:
    """The annotator's full mask when it labels anything, else their scribbles when they mark
    anything, else None."""
    stamp = record.finished or record.updated
    labels = campaign.existing_layer(case.id, annotator, LABELS)
    if labels is not None:
        values = _present(read_target(labels, case))
        if values - {0}:
            return Work(annotator, record.state, LABELS, labels, stamp, frozenset(values - {0}))
    scribbles = campaign.existing_layer(case.id, annotator, SCRIBBLES)
    if scribbles is not None:
        array, unannotated = _read_scribbles(scribbles, case)
        values = _present(array) - {unannotated}
        if values:
            return Work(annotator, record.state, SCRIBBLES, scribbles, stamp, frozenset(values - {0}))
    return None


def _present(array: np.ndarray) -> set[int]:
    return {int(v) for v in np.unique(array)}


def _geometry(case: CaseEntry):
    from segviewer.io.images import read_geometry  # noqa: PLC0415 - header only

    return read_geometry(case.image)


def read_target(path: Path, case: CaseEntry) -> np.ndarray:
    """A labels file on the case image's grid (array order k, j, i)."""
    from segviewer.io.labels import read_label_map  # noqa: PLC0415

    return read_label_map(path, _geometry(case)).label_map.array


def _read_scribbles(path: Path, case: CaseEntry) -> tuple[np.ndarray, int]:
    """Scribbles on the case image's grid and the value meaning "not annotated"."""
    from segviewer.io.scribbles import read_scribbles  # noqa: PLC0415

    scribbles = read_scribbles(path, _geometry(case)).scribbles
    return scribbles.array, scribbles.unannotated


# == the report ====================================================================================
@dataclass
class ExportReport:
    """What an export wrote, chose and left out (printed by the command, kept in the output)."""

    kind: str
    output: Path
    exported: list[str] = field(default_factory=list)      # one line per case: whose work
    left_out: list[Omission] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"export": self.kind, "output": str(self.output), "choice_rule": CHOICE_RULE,
                "exported": list(self.exported), "notes": list(self.notes),
                "left_out": [{"case": o.case, "reason": o.reason} for o in self.left_out]}

    def lines(self) -> list[str]:
        lines = [f"{self.kind}: {len(self.exported)} case(s) written to {self.output}",
                 f"choice: {CHOICE_RULE}", *self.exported, *self.notes]
        if self.left_out:
            lines.append(f"left out ({len(self.left_out)}):")
            lines += [f"  {o.case}: {o.reason}" for o in self.left_out]
        else:
            lines.append("left out: nothing")
        return lines


def _report(kind: str, output: Path, selection: Selection) -> ExportReport:
    return ExportReport(kind, output, [c.describe() for c in selection.choices], list(selection.left_out))


def _label_names(campaign: Campaign, values: set[int]) -> dict[int, str]:
    """A name per label value (the campaign's label table, else ``label_<value>``), unique."""
    table = campaign.label_table()
    names: dict[int, str] = {}
    for value in sorted(values):
        name = table.name_of(value) if table is not None and value in table else f"label_{value}"
        names[value] = name if name not in names.values() and name not in ("background", "ignore") \
            else f"{name}_{value}"
    return names


def _all_values(campaign: Campaign, selection: Selection) -> set[int]:
    table = campaign.label_table()
    values = set(table.values) if table is not None else set()
    for choice in selection.choices:
        values |= choice.chosen.values
    return values - {0}


# == nnU-Net v2 =====================================================================================
def nnunet_folder_name(dataset_id: int, name: str) -> str:
    """``DatasetNNN_NAME`` (nnU-Net v2's naming), refusing ids and names it cannot take."""
    if not 1 <= int(dataset_id) <= 999:
        raise ExportError(f"dataset id {dataset_id}: nnU-Net takes 1..999")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ExportError(f"dataset name {name!r}: use letters, digits, '_' and '-'")
    return f"Dataset{int(dataset_id):03d}_{name}"


def export_nnunet(campaign: Campaign, out: str | Path, dataset_id: int, name: str, *,
                  include_drafts: bool = False, channel_names: list[str] | None = None,
                  progress: Progress | None = None) -> ExportReport:
    """Write ``OUT/DatasetNNN_NAME`` (imagesTr, labelsTr, dataset.json) from ``campaign``.

    Labels are renumbered 1..N when the campaign's values have gaps (nnU-Net wants
    consecutive values; the mapping is in the report); scribble-only cases are written with
    the ignore label N+1 where nothing was marked.
    """
    out = Path(out)
    folder_name = nnunet_folder_name(dataset_id, name)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: is a file; give the folder that holds nnU-Net datasets (nnUNet_raw)")
    taken = [p.name for p in out.glob(f"Dataset{int(dataset_id):03d}_*")] if out.is_dir() else []
    if taken:
        raise ExportError(f"{out}: already holds {', '.join(sorted(taken))}; nnU-Net needs a dataset id "
                          "of its own - choose another --dataset-id")
    selection = select_cases(campaign, include_drafts)
    selection.choices, unusable = _same_grid_channels(selection.choices)
    selection.left_out += unusable
    if not selection.choices:
        raise ExportError(_nothing_to_export(selection))
    values = sorted(_all_values(campaign, selection))
    number = {value: index + 1 for index, value in enumerate(values)}
    names = _label_names(campaign, set(values))
    labels = {"background": 0, **{names[v]: number[v] for v in values}}
    partial = any(c.kind == SCRIBBLES for c in selection.choices)
    ignore = len(values) + 1
    if partial:
        labels["ignore"] = ignore
    report = _report("nnunet", out / folder_name, selection)
    if values != list(range(1, len(values) + 1)):
        report.notes.append("labels renumbered for nnU-Net: " + ", ".join(f"{v} -> {number[v]}" for v in values))
    if partial:
        report.notes.append(f"scribble-only cases: unmarked voxels hold the ignore label {ignore}")
    channels = len(selection.choices[0].case.channels)
    channel_names = channel_names or _source_channel_names(campaign, channels)
    if len(channel_names) != channels:
        raise ExportError(f"{len(channel_names)} channel name(s) for {channels} channel(s)")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out / folder_name, "the nnU-Net dataset") as building:
        (building / "imagesTr").mkdir()
        (building / "labelsTr").mkdir()
        for index, choice in enumerate(selection.choices):
            for channel, source in enumerate(choice.case.channels):
                _copy_as_nifti(source, building / "imagesTr" / f"{choice.case.id}_{channel:04d}{NNUNET_FILE_ENDING}")
            target = _nnunet_target(choice, number, ignore)
            _write_on_image_grid(building / "labelsTr" / f"{choice.case.id}{NNUNET_FILE_ENDING}", target, choice.case)
            if progress is not None:
                progress(index + 1, len(selection.choices))
        dataset = {"channel_names": {str(i): n for i, n in enumerate(channel_names)}, "labels": labels,
                   "numTraining": len(selection.choices), "file_ending": NNUNET_FILE_ENDING,
                   "name": name, "description": f"exported by segviewer {__version__} from campaign {campaign.name}",
                   "segviewer_export": report.to_dict()}
        write_text_atomically(building / "dataset.json", jsonfile.dumps(dataset, indent=1) + "\n",
                              what="the nnU-Net dataset.json")
    return report


def _nnunet_target(choice: CaseChoice, number: dict[int, int], ignore: int) -> np.ndarray:
    """The case's label map in nnU-Net's numbering (scribbles: unmarked voxels -> ignore)."""
    if choice.kind == LABELS:
        array = read_target(choice.chosen.path, choice.case)
        unannotated = None
    else:
        array, unannotated = _read_scribbles(choice.chosen.path, choice.case)
    lookup = np.zeros(max(int(array.max(initial=0)), max(number, default=0)) + 1, dtype=np.uint16)
    for value, new in number.items():
        lookup[value] = new
    if unannotated is not None:
        lookup[unannotated] = ignore
    target = lookup[array]
    return target.astype(np.uint8) if ignore <= 255 else target


def _same_grid_channels(choices: list[CaseChoice]) -> tuple[list[CaseChoice], list[Omission]]:
    """Cases whose channels share one grid and whose channel count is the first case's."""
    from segviewer.io.images import read_geometry  # noqa: PLC0415

    kept, left_out = [], []
    for choice in choices:
        channels = choice.case.channels
        if kept and len(channels) != len(kept[0].case.channels):
            left_out.append(Omission(choice.case.id, f"{len(channels)} channel(s); the dataset has "
                                                     f"{len(kept[0].case.channels)}"))
            continue
        grids = [read_geometry(c) for c in channels]
        if not all(g.same_grid(grids[0]) for g in grids[1:]):
            left_out.append(Omission(choice.case.id, "its channels are on different grids (nnU-Net needs one)"))
            continue
        kept.append(choice)
    return kept, left_out


def _source_channel_names(campaign: Campaign, channels: int) -> list[str]:
    """The source dataset's channel names when the campaign came from an nnU-Net dataset."""
    source = campaign.manifest.get("source") or {}
    if source.get("kind") == "nnunet" and source.get("path"):
        dataset = campaign.root / source["path"] / "dataset.json"
        try:
            names = json.loads(dataset.read_text(encoding="utf-8")).get("channel_names") or {}
            if len(names) == channels:
                return [str(names[k]) for k in sorted(names, key=int)]
        except (OSError, ValueError, AttributeError):
            pass
    return ["image"] if channels == 1 else [f"channel{i}" for i in range(channels)]


def _copy_as_nifti(source: Path, target: Path) -> None:
    """A channel as ``.nii.gz``: the bytes as they are when it is one already, else read
    (DICOM, NRRD, MHA ...) and written with its geometry."""
    if image_suffix(source) == ".nii.gz" and Path(source).is_file():
        shutil.copyfile(source, target)
        return
    from segviewer.io.images import read_image, write_image  # noqa: PLC0415

    write_image(target, read_image(source), OutputGuard(source))


def _write_on_image_grid(target: Path, array: np.ndarray, case: CaseEntry) -> None:
    from segviewer.io.images import image_to_sitk, write_sitk_image  # noqa: PLC0415

    write_sitk_image(target, image_to_sitk(array, _geometry(case)), "an exported label map", OutputGuard(case.image))


def _nothing_to_export(selection: Selection) -> str:
    reasons = "; ".join(f"{o.case}: {o.reason}" for o in selection.left_out[:5])
    more = f" (and {len(selection.left_out) - 5} more)" if len(selection.left_out) > 5 else ""
    return f"no case has work to export - {reasons}{more}"


# == MONAI / Decathlon datalist ====================================================================
def export_monai(campaign: Campaign, out: str | Path, *, folds: int = 5, seed: int = 0,
                 include_drafts: bool = False) -> ExportReport:
    """Write a Decathlon-style datalist (``load_decathlon_datalist`` reads it) to ``out``.

    ``training``: cases with a full mask, each with its ``fold`` (0..folds-1, seeded shuffle);
    ``scribbles``: scribble-only cases (``label`` is the scribble file, ``ignore_index`` the
    value of unmarked voxels) with folds too; ``test``: the cases with no exported work, for
    pre-labelling. Paths are relative to the datalist's folder (MONAI's default base).
    """
    out = Path(out)
    if out.suffix.lower() != ".json":
        raise ExportError(f"{out}: a datalist is a .json file")
    selection = select_cases(campaign, include_drafts)
    if not selection.choices:
        raise ExportError(_nothing_to_export(selection))
    if folds < 1:
        raise ExportError("folds: at least 1")
    base = out.absolute().parent
    training, scribbles = [], []
    for choice in selection.choices:
        entry = {"image": _relative_images(choice.case, base), "label": _relative(choice.chosen.path, base),
                 "case": choice.case.id}
        if choice.kind == LABELS:
            training.append(entry)
        else:
            entry["ignore_index"] = int(_read_scribbles(choice.chosen.path, choice.case)[1])
            scribbles.append(entry)
    for entries in (training, scribbles):  # each list spread over the folds on its own
        _assign_folds(entries, folds, seed)
    chosen = {c.case.id for c in selection.choices}
    test = [{"image": _relative_images(case, base), "case": case.id} for case in campaign.cases if case.id not in chosen]
    names = _label_names(campaign, _all_values(campaign, selection))
    report = _report("monai", out, selection)
    report.notes.append(f"{len(training)} full mask(s) in 'training', {len(scribbles)} scribble-only case(s) in "
                        f"'scribbles' (unmarked voxels: ignore_index), {len(test)} case(s) without work in 'test'; "
                        f"{folds} folds, seed {seed}")
    datalist = {"name": campaign.name, "description": f"exported by segviewer {__version__}",
                "labels": {"0": "background", **{str(v): n for v, n in names.items()}},
                "numTraining": len(training), "numFolds": folds, "training": training,
                "scribbles": scribbles, "test": test, "segviewer_export": report.to_dict()}
    guard = OutputGuard(*(p for c in campaign.cases for p in c.channels))
    write_text_atomically(out, jsonfile.dumps(datalist, indent=1) + "\n", guard=guard, what="the datalist")
    return report


def _assign_folds(entries: list[dict], folds: int, seed: int) -> None:
    """``entry["fold"]``: a seeded shuffle dealt round the folds (fold sizes differ by one at most)."""
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    for rank, position in enumerate(order):
        entries[position]["fold"] = rank % folds


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).absolute(), base)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).absolute().as_posix()


def _relative_images(case: CaseEntry, base: Path) -> str | list[str]:
    paths = [_relative(c, base) for c in case.channels]
    return paths[0] if len(paths) == 1 else paths


# == BIDS derivatives ==============================================================================
def export_bids(campaign: Campaign, out: str | Path, *, include_drafts: bool = False,
                progress: Progress | None = None) -> ExportReport:
    """Write a BIDS derivative dataset into the new (or empty) folder ``out``.

    ``dataset_description.json`` (``DatasetType: derivative``, ``GeneratedBy``), ``dseg.tsv``
    (the label table, inherited by every ``_dseg``), ``participants.tsv`` (subject -> case and
    image), ``sub-<case>/anat/sub-<case>_dseg.nii.gz``, and where two or more annotators gave a
    full mask ``sub-<case>_label-<name>_probseg.nii.gz``: the fraction of them giving that label.
    """
    from segviewer.evaluation.consensus import vote_probability  # noqa: PLC0415

    out = Path(out)
    selection = select_cases(campaign, include_drafts)
    kept = [c for c in selection.choices if c.kind == LABELS]
    selection.left_out += [Omission(c.case.id, "scribbles only: a BIDS dseg has no 'not annotated' value "
                                               "(export nnunet keeps them with the ignore label)")
                           for c in selection.choices if c.kind != LABELS]
    selection.choices = kept
    if not kept:
        raise ExportError(_nothing_to_export(selection))
    subjects = _bids_subjects([c.case.id for c in kept])
    names = _label_names(campaign, _all_values(campaign, selection))
    entity = {v: re.sub(r"[^A-Za-z0-9]", "", n) or f"L{v}" for v, n in names.items()}
    report = _report("bids", out, selection)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out, "the BIDS derivative dataset") as building:
        description = {"Name": f"{campaign.name} segmentations", "BIDSVersion": BIDS_VERSION,
                       "DatasetType": "derivative",
                       "GeneratedBy": [{"Name": "segviewer", "Version": __version__,
                                        "Description": f"manual segmentation campaign {campaign.name}; {CHOICE_RULE}"}]}
        _write_text(building / "dataset_description.json", jsonfile.dumps(description, indent=1) + "\n")
        _write_text(building / "dseg.tsv", "index\tname\n0\tbackground\n"
                    + "".join(f"{v}\t{n}\n" for v, n in sorted(names.items())))
        _write_text(building / "participants.tsv", "participant_id\tcase\timage\tannotator\tstate\n" + "".join(
            f"sub-{subjects[c.case.id]}\t{c.case.id}\t{c.case.image.as_posix()}\t{c.chosen.annotator}\t{c.chosen.state}\n"
            for c in kept))
        for index, choice in enumerate(kept):
            stem = f"sub-{subjects[choice.case.id]}"
            anat = building / stem / "anat"
            anat.mkdir(parents=True)
            _write_on_image_grid(anat / f"{stem}_dseg.nii.gz", read_target(choice.chosen.path, choice.case),
                                 choice.case)
            if len(choice.full_masks) >= 2:
                masks = [read_target(w.path, choice.case) for w in choice.full_masks]
                for value in sorted(set().union(*(w.values for w in choice.full_masks))):
                    _write_on_image_grid(anat / f"{stem}_label-{entity.get(value, value)}_probseg.nii.gz",
                                         vote_probability(masks, value), choice.case)
            if progress is not None:
                progress(index + 1, len(kept))
        _write_text(building / "segviewer_export.json", jsonfile.dumps(report.to_dict(), indent=1) + "\n")
    return report


def _bids_subjects(case_ids: list[str]) -> dict[str, str]:
    """A BIDS subject label (letters and digits) per case id, unique."""
    labels: dict[str, str] = {}
    for case_id in case_ids:
        label = re.sub(r"[^A-Za-z0-9]", "", case_id) or "case"
        candidate, number = label, 1
        while candidate in labels.values():
            number += 1
            candidate = f"{label}{number}"
        labels[case_id] = candidate
    return labels


def _write_text(path: Path, text: str) -> None:
    write_text_atomically(path, text, what=path.name)


__all__ = ["CHOICE_RULE", "CampaignError", "CaseChoice", "ExportError", "ExportReport", "Omission", "Selection",
           "Work", "export_bids", "export_monai", "export_nnunet", "nnunet_folder_name", "select_cases"]
