"""A campaign's progress, read from its records: counts per state and per annotator, time per
case, and which cases several annotators finished (where agreement can be measured)."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

from segviewer.app.campaign.campaign import CASES_FOLDER, Campaign
from segviewer.app.campaign.locks import read_lock
from segviewer.app.campaign.records import FINISHED_STATES, STATES, TODO, CaseRecord


@dataclass
class CaseStatus:
    """One case: each annotator's record, and its lock holder (if any)."""

    id: str
    records: dict[str, CaseRecord] = field(default_factory=dict)
    locked_by: str | None = None

    def state_of(self, annotator: str) -> str:
        record = self.records.get(annotator)
        return record.state if record is not None else TODO

    @property
    def seconds(self) -> float:
        """Active editing time of every annotator together."""
        return sum(r.active_seconds for r in self.records.values())

    @property
    def finished_by(self) -> list[str]:
        return [name for name, record in self.records.items() if record.is_finished]

    @property
    def is_finished(self) -> bool:
        """Someone finished the case."""
        return bool(self.finished_by)

    def to_dict(self) -> dict:
        return {"id": self.id, "seconds": round(self.seconds, 1), "locked_by": self.locked_by,
                "annotators": {name: {"state": r.state, "active_seconds": round(r.active_seconds, 1),
                                      "edits": r.edits, "method_runs": r.method_runs, "methods": r.methods,
                                      "updated": r.updated, "comment": r.comment}
                               for name, r in self.records.items()}}


@dataclass
class CampaignStatus:
    """The whole campaign at one moment."""

    name: str
    cases: list[CaseStatus]

    @property
    def annotators(self) -> list[str]:
        return sorted({name for case in self.cases for name in case.records})

    def per_annotator(self) -> dict[str, dict[str, int]]:
        """``{annotator: {state: cases}}``; cases an annotator has not touched count as todo."""
        table = {}
        for name in self.annotators:
            counts = Counter(case.state_of(name) for case in self.cases)
            table[name] = {state: counts.get(state, 0) for state in STATES}
        return table

    def per_state(self) -> dict[str, int]:
        """Records per state over all annotators, plus the cases nobody has started as todo."""
        counts = Counter(r.state for case in self.cases for r in case.records.values())
        counts[TODO] += sum(1 for case in self.cases if not case.records)
        return {state: counts.get(state, 0) for state in STATES}

    @property
    def finished_cases(self) -> int:
        return sum(1 for case in self.cases if case.is_finished)

    @property
    def progress(self) -> float:
        """Fraction of cases someone finished."""
        return self.finished_cases / len(self.cases) if self.cases else 1.0

    def multi_rater_cases(self) -> list[CaseStatus]:
        """Cases that two annotators or more finished (agreement can be measured there)."""
        return [case for case in self.cases if len(case.finished_by) >= 2]

    def to_dict(self) -> dict:
        return {"campaign": self.name, "cases": len(self.cases), "finished_cases": self.finished_cases,
                "progress": round(self.progress, 4), "states": self.per_state(),
                "annotators": self.per_annotator(),
                "seconds_total": round(sum(c.seconds for c in self.cases), 1),
                "case_list": [case.to_dict() for case in self.cases]}


def campaign_status(campaign: Campaign, with_locks: bool = True) -> CampaignStatus:
    """Read every record (and lock) of ``campaign`` once."""
    records = campaign.all_records()
    cases_root = os.path.join(campaign.root, CASES_FOLDER)
    now = time.time()
    cases = []
    for case_id in campaign.case_ids():
        status = CaseStatus(case_id, records.get(case_id, {}))
        if with_locks:
            info = read_lock(os.path.join(cases_root, case_id))
            if info is not None and not info.is_stale(now):
                status.locked_by = info.annotator
        cases.append(status)
    return CampaignStatus(campaign.name, cases)


__all__ = ["CampaignStatus", "CaseStatus", "campaign_status", "FINISHED_STATES"]
