"""Saving a fine-tuned model with an updated model card, to use it on the next case."""

from __future__ import annotations

import datetime
from pathlib import Path

from segviewer.methods.deep.card import ModelCard, ModelError


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".json", ".pt", ".pth") else path
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save_tuned_model(state, path) -> ModelCard:
    """``<stem>.pt`` (state dict) + ``<stem>.json`` (card). Returns the card.

    A fine-tuned pretrained network is saved as an
    :class:`~segviewer.methods.deep.networks.AdaptedNetwork` (its input adapter in front of
    the tuned network). The adapter's bias field belongs to the image it was fitted on and
    is reset to none; its intensity map (e.g. an inverted contrast) is kept, since the next
    image from the same scanner needs it too.
    """
    import torch

    weights_path, card_path = _paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
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
    torch.save(weights, weights_path)
    card.save(card_path)
    return card
