"""A campaign model trained from the campaign's finished cases (``segviewer train --campaign``).

The finished full masks (chosen by the export's rule, :data:`~segviewer.app.campaign.export.CHOICE_RULE`)
are exported as an nnU-Net dataset into a temporary folder, split by a seeded shuffle into
training and held-out validation cases, and trained with segviewer's U-Net trainer (Dice +
cross-entropy; validation Dice on the held-out cases picks the checkpoint). Scribble-only cases
train too, with nnU-Net's ignore label where nothing was marked: their unmarked voxels are
left out of the loss (partial cross-entropy, and Dice on the marked voxels); only full masks
validate. The model goes
into ``CAMPAIGN/models/<name>.pt`` with its card ``<name>.json`` and ``<name>.campaign.json``:
which cases trained it and which validated it, whose work they were, what was left out and
why, and the validation figures.

Not yet: starting from a bundled or user model (training starts from scratch), and the
fine-tuning's smoothness regulariser on the scribble-only cases.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

from segviewer.app.campaign.campaign import Campaign
from segviewer.app.campaign.export import LABELS, SCRIBBLES, ExportError, export_nnunet, select_cases
from segviewer.io import jsonfile
from segviewer.io.atomic import write_text_atomically

MODELS_FOLDER = "models"
#: Share of the finished full masks held out for validation (at least one case).
VALIDATION_SHARE = 0.2


def campaign_split(case_ids: list[str], seed: int, share: float = VALIDATION_SHARE) -> dict[str, list[str]]:
    """``{"train": [...], "validation": [...]}``: a seeded shuffle, ``share`` held out (>= 1)."""
    if len(case_ids) < 2:
        raise ExportError(f"training needs two finished full masks at least (one to validate); the campaign has "
                          f"{len(case_ids)}")
    order = sorted(case_ids)
    random.Random(seed).shuffle(order)
    held = max(1, round(share * len(order)))
    return {"train": sorted(order[held:]), "validation": sorted(order[:held])}


def train_campaign_model(campaign: Campaign, config, log: Callable[[str], None] = print):
    """Train ``config`` (a :class:`~segviewer.methods.deep.train.TrainConfig`; its data, split
    and out are set here) on the campaign's finished full masks; returns the model card."""
    from segviewer.methods.deep.train import train  # noqa: PLC0415 - torch only when training

    selection = select_cases(campaign)
    full = [c for c in selection.choices if c.kind == LABELS]
    left_out = list(selection.left_out)
    split = campaign_split([c.case.id for c in full], config.seed)
    split["train"] = sorted(split["train"] + [c.case.id for c in selection.choices if c.kind == SCRIBBLES])
    out = campaign.root / MODELS_FOLDER
    with tempfile.TemporaryDirectory(prefix="segviewer-train-") as work:
        report = export_nnunet(campaign, Path(work), 1, "campaign")
        data = Path(report.output)
        split_path = Path(work) / "split.json"
        split_path.write_text(jsonfile.dumps(split), encoding="utf-8")
        # the export's numbering (consecutive, as nnU-Net wants) and names are the model's
        exported = json.loads((data / "dataset.json").read_text(encoding="utf-8"))["labels"]
        labels = {value: name for name, value in exported.items() if name not in ("background", "ignore")}
        card = train(replace(config, data=data, split=split_path, out=out, labels=labels,
                             ignore_label=exported.get("ignore")), log=log)
    whose = {c.case.id: c.chosen.describe() for c in selection.choices}
    record = {"campaign": campaign.name, "model": f"{config.name}.json", "split": split,
              "annotators": {case: whose[case] for case in split["train"] + split["validation"]},
              "left_out": [{"case": o.case, "reason": o.reason} for o in left_out],
              "validation": card.validation, "seconds": card.training.get("seconds")}
    write_text_atomically(out / f"{config.name}.campaign.json", jsonfile.dumps(record, indent=1) + "\n",
                          what="the campaign model's record")
    log(f"trained on {len(split['train'])} case(s), validated on {len(split['validation'])}; "
        f"left out {len(left_out)}: " + "; ".join(f"{o.case}: {o.reason}" for o in left_out[:5]))
    return card
