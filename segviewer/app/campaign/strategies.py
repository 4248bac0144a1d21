"""Which case next: the campaign's next-case strategies, with no Qt.

- ``in-order``: the campaign's (or the list's) order.
- ``random``: a seeded shuffle of it (the same seed, the same order for everyone).
- ``uncertain``: most uncertain first - the mean normalised entropy of the campaign model's
  prediction over the whole case (active learning by uncertainty, as MONAI Label's
  "epistemic" strategy, with the model's own softmax entropy). The prediction is the U-Net
  method's of the registry, run on the campaign model (:func:`campaign_model`); each case's
  figure is cached per case and model hash in ``CAMPAIGN/models/<hash>.uncertainty.json``,
  so a case is scored once per model. Cases not scored yet follow the scored ones, in order.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Callable, Iterable

from segviewer.app.campaign.campaign import Campaign
from segviewer.app.campaign.records import CampaignError
from segviewer.app.campaign.training import MODELS_FOLDER
from segviewer.io import jsonfile
from segviewer.io.atomic import write_text_atomically
from segviewer.methods.base import CancelToken, no_progress

IN_ORDER, RANDOM, UNCERTAIN = "in-order", "random", "uncertain"
ORDERS = (IN_ORDER, RANDOM, UNCERTAIN)
RECORD_SUFFIX = ".campaign.json"


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise CampaignError(f"unknown case order {order!r}: choose {', '.join(ORDERS)}")
    return order


def campaign_model(campaign: Campaign) -> Path | None:
    """The card of the newest model ``segviewer train --campaign`` saved into the campaign
    (``models/NAME.json`` beside its ``NAME.campaign.json``); None when there is none."""
    folder = campaign.root / MODELS_FOLDER
    cards = [record.with_name(record.name[: -len(RECORD_SUFFIX)] + ".json")
             for record in folder.glob(f"*{RECORD_SUFFIX}")] if folder.is_dir() else []
    cards = [card for card in cards if card.is_file()]
    return max(cards, key=lambda card: (card.stat().st_mtime_ns, card.name)) if cards else None


def model_hash(card: Path) -> str:
    """SHA-256 of the card and its weights (``NAME.pt`` beside it): a retrained model, a new hash."""
    digest = hashlib.sha256(Path(card).read_bytes())
    weights = Path(card).with_suffix(".pt")
    if weights.is_file():
        with weights.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class UncertaintyCache:
    """Mean entropy per case of one model (by hash), kept in the campaign's models folder."""

    def __init__(self, campaign: Campaign, card: Path) -> None:
        self.card = Path(card)
        self.hash = model_hash(self.card)
        self.path = campaign.root / MODELS_FOLDER / f"{self.hash[:16]}.uncertainty.json"

    def scores(self) -> dict[str, float]:
        """The cached figures (a missing or damaged cache is an empty one: it is recomputed)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("model_hash") != self.hash:
            return {}
        return {str(k): float(v) for k, v in (data.get("cases") or {}).items()}

    def store(self, case_id: str, value: float) -> None:
        # read again before writing: another annotator's process may have added cases meanwhile
        cases = self.scores()
        cases[case_id] = float(value)
        write_text_atomically(self.path, jsonfile.dumps({"model": self.card.name, "model_hash": self.hash,
                                                         "cases": dict(sorted(cases.items()))}, indent=1) + "\n",
                              what="the uncertainty cache")


def case_uncertainty(campaign: Campaign, case_id: str, card: Path, cancel: CancelToken | None = None) -> float:
    """Mean normalised entropy (0 = sure, 1 = uniform) of the model's prediction over the case."""
    from segviewer.io.images import read_image  # noqa: PLC0415 - only when scoring
    from segviewer.methods.registry import get_method  # noqa: PLC0415
    from segviewer.methods.request import build_request_from_arrays  # noqa: PLC0415

    volume = read_image(campaign.case(case_id).image)
    method = get_method("unet")
    params = method.Parameters(model=str(card), device="cpu", probabilities=True)
    request = build_request_from_arrays(method, volume.array, volume.geometry, params=params, whole_volume=True)
    result = method.run(request, no_progress, cancel or CancelToken())
    return float(result.info["entropy"].mean())


def score_cases(campaign: Campaign, case_ids: Iterable[str], card: Path, *, cancel: CancelToken | None = None,
                scored: Callable[[str, float], None] = lambda case_id, value: None) -> dict[str, float]:
    """Score the cases not in the cache yet (one at a time, cached as each finishes, so a
    cancelled run keeps what it did); returns every cached figure of ``case_ids``."""
    cache = UncertaintyCache(campaign, card)
    known = cache.scores()
    for case_id in case_ids:
        if case_id in known:
            continue
        if cancel is not None:
            cancel.raise_if_cancelled()
        known[case_id] = case_uncertainty(campaign, case_id, card, cancel)
        cache.store(case_id, known[case_id])
        scored(case_id, known[case_id])
    return {case_id: known[case_id] for case_id in case_ids if case_id in known}


def ordered(case_ids: list[str], order: str, *, seed: int = 0, scores: dict[str, float] | None = None) -> list[str]:
    """``case_ids`` in ``order``: as given, shuffled by ``seed``, or by decreasing uncertainty
    (``scores``; unscored cases after the scored ones, as given)."""
    check_order(order)
    if order == RANDOM:
        shuffled = list(case_ids)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    if order == UNCERTAIN:
        scores = scores or {}
        position = {case_id: number for number, case_id in enumerate(case_ids)}
        return sorted(case_ids, key=lambda c: (c not in scores, -scores.get(c, 0.0), position[c]))
    return list(case_ids)
