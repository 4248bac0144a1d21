"""The campaign model pre-labels the next case, with no Qt.

When a case opens and the campaign holds a model (``segviewer train --campaign``,
:func:`~segviewer.app.campaign.strategies.campaign_model`) and the annotator has no mask of
their own for it yet, the model's prediction runs on the compute worker (the U-Net method of
the registry, through :class:`~segviewer.app.compute.ComputeWorkflow`) and shows as the
preview: Apply accepts it as the starting mask (one undo step), Cancel drops it, or the
annotator corrects it with the tools. The methods that start from a model (the U-Net and the
fine-tuning) get the campaign model as their ``model`` parameter (:func:`model_defaults`),
so the fine-tuning adapts the campaign's own model rather than the bundled one.
"""

from __future__ import annotations

from pathlib import Path

from segviewer.app.campaign.campaign import Campaign
from segviewer.app.campaign.strategies import campaign_model
from segviewer.app.compute import ComputeWorkflow, RunSettings
from segviewer.model.session import LABELS
from segviewer.workers.runner import Job

#: The methods whose ``model`` parameter starts from the campaign model, and the one that pre-labels.
MODEL_METHODS = ("unet", "finetune")
PRELABEL_METHOD = "unet"


def model_defaults(campaign: Campaign) -> dict[str, dict[str, str]]:
    """``{method: {"model": card}}`` for :data:`MODEL_METHODS` when the campaign has a model."""
    card = campaign_model(campaign)
    return {name: {"model": str(card)} for name in MODEL_METHODS} if card is not None else {}


class CampaignPrelabel:
    """Shows the campaign model's prediction as the preview of each case the navigator opens
    that has no mask of the annotator's own (see the module docstring)."""

    def __init__(self, navigator, compute: ComputeWorkflow) -> None:
        self.navigator = navigator
        self.compute = compute
        navigator.events.case_opened.connect(self.case_opened)

    def case_opened(self, case_id: str) -> Job | None:
        """Queue the prediction of ``case_id`` (None when there is no model or the annotator's own mask)."""
        campaign, annotator = self.navigator.campaign, self.navigator.annotator
        if campaign.existing_layer(case_id, annotator, LABELS) is not None:
            return None  # the annotator's own work is the starting point
        card = campaign_model(campaign)
        if card is None:
            return None
        return self.compute.run(prelabel_settings(card))


def prelabel_settings(card: Path) -> RunSettings:
    """The U-Net method on the whole case with the campaign model ``card``."""
    from segviewer.methods.registry import get_method  # noqa: PLC0415 - the registry only when there is a model

    method = get_method(PRELABEL_METHOD)
    return RunSettings(method, method.Parameters(model=str(card)), whole_volume=True)
