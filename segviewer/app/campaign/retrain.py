"""Automatic retraining of the campaign model every N finished cases, with no Qt.

Set in the campaign's ``campaign.json``::

    "retrain_every": 5,
    "train_options": ["--iterations", "300"]

Whenever the navigator has written a case, :class:`AutoRetrain` counts the cases the
training would use (the export's choice rule, :func:`~segviewer.app.campaign.export.select_cases`)
against those the newest campaign model was trained and validated on (its
``NAME.campaign.json``); when ``retrain_every`` more are finished, ``segviewer train
--campaign`` runs in a separate process (the viewer stays responsive, torch has its own
threads) and writes the model into ``CAMPAIGN/models/``. The next case opened is pre-labelled
by the new model (:mod:`~segviewer.app.campaign.prelabel`). One retraining at a time per
viewer; :meth:`AutoRetrain.cancel` stops it (the model file is written atomically: the old one
stays until the new one is complete).
"""

from __future__ import annotations

import json
import subprocess
import sys

from segviewer.app.campaign.campaign import Campaign
from segviewer.app.campaign.export import select_cases
from segviewer.app.campaign.records import CampaignError
from segviewer.app.campaign.strategies import RECORD_SUFFIX, campaign_model

#: The name of the model the automatic retraining writes (``models/campaign.pt``).
MODEL_NAME = "campaign"


def retrain_every(campaign: Campaign) -> int:
    """The campaign's ``retrain_every`` (0: no automatic retraining)."""
    value = campaign.manifest.get("retrain_every") or 0
    if not isinstance(value, int) or value < 0:
        raise CampaignError(f"{campaign.root}: retrain_every must be a whole number of cases, not {value!r}")
    return value


def trained_cases(campaign: Campaign) -> int:
    """How many cases the newest campaign model was trained and validated on (0 without one)."""
    card = campaign_model(campaign)
    if card is None:
        return 0
    record = json.loads(card.with_name(card.stem + RECORD_SUFFIX).read_text(encoding="utf-8"))
    return sum(len(cases) for cases in record.get("split", {}).values())


def due(campaign: Campaign) -> bool:
    """Whether ``retrain_every`` cases (two at least: one validates) are finished beyond the newest model's."""
    every = retrain_every(campaign)
    finished = len(select_cases(campaign).choices)
    return every > 0 and finished >= 2 and finished - trained_cases(campaign) >= every


def train_command(campaign: Campaign) -> list[str]:
    options = campaign.manifest.get("train_options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise CampaignError(f"{campaign.root}: train_options must be a list of 'segviewer train' options")
    return [sys.executable, "-m", "segviewer", "train", "--campaign", str(campaign.root), "--name", MODEL_NAME,
            *options]


class AutoRetrain:
    """Retrains the campaign model in the background when it is :func:`due` after a save of
    ``navigator`` (see the module docstring); reports through the navigator's window ports."""

    def __init__(self, navigator) -> None:
        self.navigator = navigator
        self.process: subprocess.Popen | None = None
        self.retrains = 0
        navigator.events.saved.connect(self.check)

    @property
    def running(self) -> bool:
        return self.process is not None

    def check(self, _case_id: str = "") -> bool:
        """Start a retraining when one is due and none runs; True when one started."""
        campaign = self.navigator.campaign
        if self.running or not due(campaign):
            return False
        ports = self.navigator.documents.ports
        command = train_command(campaign)
        ports.show_message("Retraining the campaign model in the background…", 5000)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ports.run_in_background(self._wait, self._done, self._failed, "segviewer-campaign-retrain")
        return True

    def _wait(self) -> tuple[int, str]:
        _out, err = self.process.communicate()
        return self.process.returncode, err

    def _done(self, outcome: tuple[int, str]) -> None:
        code, err = outcome
        self.process = None
        if code == 0:
            self.retrains += 1
            self.navigator.documents.ports.show_message("The campaign model is retrained: the next case starts "
                                                        "from its prediction", 8000)
        elif code > 0:  # a negative code: stopped by cancel()
            lines = [line for line in err.splitlines() if line.strip()]
            self.navigator.documents.ports.show_error("Could not retrain the campaign model",
                                                      lines[-1] if lines else f"segviewer train exited with {code}")

    def _failed(self, error: BaseException, text: str) -> None:
        self.process = None
        self.navigator.documents.ports.show_error("Could not retrain the campaign model", str(error))

    def cancel(self) -> None:
        """Stop a running retraining (the campaign keeps its previous model)."""
        if self.process is not None:
            self.process.terminate()
