"""Labelling campaigns: many cases, several annotators, with no Qt (docs/campaigns.md).

- :class:`Campaign` - the folder: ``Campaign.open(dir)``, ``campaign.cases``,
  ``campaign.layer_path(case, annotator, "labels")``, ``campaign.record(case, annotator)``,
  ``campaign.set_state(case, annotator, state, comment, by=reviewer)``, ``campaign.lock(...)``.
- :func:`cases_from_source` - cases from a folder, an nnU-Net dataset, a datalist, a CSV or
  DICOM folders; :meth:`Campaign.create` makes the campaign from them.
- :func:`campaign_status` - counts per state and annotator, time per case.
- :class:`CampaignNavigator` - one annotator going from case to case in the viewer.
"""

from segviewer.app.campaign.campaign import Campaign, CaseEntry
from segviewer.app.campaign.locks import LOCK_EXPIRY_S, CaseLock, CaseLockedError, LockInfo
from segviewer.app.campaign.navigator import CampaignNavigator, CaseRow
from segviewer.app.campaign.records import (ACCEPTED, DONE, FINISHED_STATES, IN_PROGRESS, NEEDS_REVIEW, REJECTED,
                                            STATES, TODO, CampaignError, CaseRecord, check_annotator,
                                            default_annotator)
from segviewer.app.campaign.sources import SourceCase, cases_from_source
from segviewer.app.campaign.status import CampaignStatus, CaseStatus, campaign_status

__all__ = ["ACCEPTED", "DONE", "FINISHED_STATES", "IN_PROGRESS", "LOCK_EXPIRY_S", "NEEDS_REVIEW", "REJECTED",
           "STATES", "TODO", "Campaign", "CampaignError", "CampaignNavigator", "CampaignStatus", "CaseEntry",
           "CaseLock", "CaseLockedError", "CaseRecord", "CaseRow", "CaseStatus", "LockInfo", "SourceCase",
           "campaign_status", "cases_from_source", "check_annotator", "default_annotator"]
