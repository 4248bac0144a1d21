"""Saving a fine-tuned model with an updated model card, to use it on the next case."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from segviewer.io.atomic import (OutputGuard, as_guard, describe_os_error, write_atomically,
                                 write_text_atomically)
from segviewer.io.paths import WritePathError
from segviewer.methods.deep.card import ModelCard, ModelError


def _stem(path: Path) -> Path:
    """``model.json`` / ``model.pt`` / ``model`` -> ``model``."""
    return path.with_suffix("") if path.suffix.lower() in (".json", ".pt", ".pth") else path


def model_output_paths(path) -> tuple[Path, Path]:
    """The weights and the card that saving a model as ``path`` writes (``<stem>.pt``, ``<stem>.json``)."""
    stem = _stem(Path(path))
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def model_files(model: str | Path) -> list[Path]:
    """The files a model on disk consists of, to protect them from being overwritten: the
    file itself, a card's weights file and same-stem siblings (``.pt``/``.pth``/``.json``),
    or every file of a bundle folder."""
    path = Path(model)
    if path.is_dir():
        return [p for p in path.rglob("*") if p.is_file()][:10000]
    files = [path, *(_stem(path).with_suffix(s) for s in (".pt", ".pth", ".json"))]
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            weights = json.loads(path.read_text(encoding="utf-8")).get("weights")
        except (OSError, ValueError, AttributeError):
            weights = None
        if isinstance(weights, str) and weights:
            files.append(path.parent / weights)
    return files


def save_tuned_model(state, path, guard: OutputGuard | None = None) -> ModelCard:
    """``<stem>.pt`` (state dict) + ``<stem>.json`` (card), each complete or absent and never
    over a file ``guard`` protects (the model tuning started from, say). Returns the card.

    A fine-tuned pretrained network is saved as an
    :class:`~segviewer.methods.deep.networks.AdaptedNetwork` (its input adapter in front of
    the tuned network). The adapter's bias field belongs to the image it was fitted on and
    is reset to none; its intensity map (e.g. an inverted contrast) is kept, since the next
    image from the same scanner needs it too.
    """
    weights_path, card_path = model_output_paths(path)
    guard = as_guard(guard)
    started_from = [file for source in getattr(state, "source", ()) for file in model_files(source)]
    guard = guard.merged(OutputGuard(*started_from, role="the model fine-tuning started from"))
    for target in (weights_path, card_path):  # both refused before either is written
        guard.check(target, "the tuned model")
    try:
        weights_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WritePathError(f"{weights_path.parent}: cannot create the folder "
                             f"({describe_os_error(error)})") from None
    card = state.card.copy()
    if state.adapter is not None:
        adapter = state.adapter
        adapter_state = {k: v.detach().cpu().clone() for k, v in adapter.state_dict().items()}
        adapter_state["bias_coefficients"].zero_()
        base_spec = card.network if card.network["class"] != "segviewer.methods.deep.networks.AdaptedNetwork" \
            else card.network["kwargs"]["base"]
        if base_spec["class"].rpartition(".")[0] not in ("monai.networks.nets", "segviewer.methods.deep.networks"):
            raise ModelError(f"cannot save a fine-tuned copy of {base_spec['class']}: only networks the card can "
                             "rebuild (MONAI or segviewer classes) can be saved")
        base_network = state.network
        if hasattr(base_network, "base") and hasattr(base_network, "adapter"):
            base_network = base_network.base  # already adapted: merge into one adapter
        weights = {f"adapter.{k}": v for k, v in adapter_state.items()}
        weights.update({f"base.{k}": v.detach().cpu().clone() for k, v in base_network.state_dict().items()})
        extras = {k: v for k, v in base_spec.items() if k not in ("class", "kwargs")}
        card.network = {"class": "segviewer.methods.deep.networks.AdaptedNetwork",
                        "kwargs": {"base": {"class": base_spec["class"], "kwargs": base_spec.get("kwargs", {})},
                                   "adapter": {"hidden": adapter.mlp[0].out_channels,
                                               "bias_degree": adapter.bias_degree}},
                        **extras}
    else:
        weights = {k: v.detach().cpu().clone() for k, v in state.network.state_dict().items()}
    card.weights = weights_path.name
    card.weights_dtype = "float32"
    card.history = list(card.history) + [{
        "event": "fine-tuned from scribbles" if state.source_kind == "pretrained" else "trained from scribbles",
        "from": state.card.name, "steps": state.steps_done,
        "final_loss": state.loss_curve[-1] if state.loss_curve else None,
        "agreement_with_scribbles": round(state.agreement, 4),
        "date": datetime.date.today().isoformat(),
    }]
    card.validation = {"note": "not re-validated after fine-tuning; see history",
                       "before_fine_tuning": card.validation} if card.validation else {}
    if state.source_kind != "pretrained":
        card.name = card_path.stem
    else:
        card.name = f"{state.card.name}_tuned" if not state.card.name.endswith("_tuned") else state.card.name
    # Weights first, card last: a card never names weights that are not all there.
    save_weights(weights, weights_path, guard)
    write_text_atomically(card_path, json.dumps(card.to_dict(), indent=2) + "\n", guard=guard,
                          what="the tuned model's card")
    return card


def save_weights(weights: dict, path: str | Path, guard: OutputGuard | None = None) -> Path:
    """``torch.save(weights, path)`` through the one output writer: complete or absent."""
    import torch

    return write_atomically(path, lambda temporary: torch.save(weights, temporary), guard=guard,
                            what="the model weights")
