"""Review mode with no Qt: a reviewer looks at several annotators' masks of one case, sees where
they disagree and how much they agree, and accepts, rejects (with a comment) or starts from
their consensus and corrects it.

* :class:`CaseReview` holds the masks (one grid) and the reviewer's decision port. Build it from
  ``(annotator, mask file)`` pairs (:meth:`CaseReview.from_files`) or from a campaign case
  (:func:`review_of_campaign_case`: every annotator who finished it; accept / reject become
  their records' state, written by the reviewer under the case lock).
* :class:`ReviewWorkflow` shows a review in a :class:`~segviewer.app.viewer.Viewer`: each mask
  as its own outline layer (:meth:`Viewer.set_outlines`), the disagreement as the heat map
  (voxels where annotators differ, coloured by how many of them agree), and computes the
  pairwise Dice/HD95 table and the consensus **on the compute worker** (reading the masks,
  STAPLE and HD95 take seconds on a 512x512x300 case), with progress and Cancel. Starting from
  the consensus replaces the labels as ONE undo step, so the reviewer corrects it like any mask.

Worker events reach the GUI thread through the injected ``post(callable)`` (as in
:mod:`segviewer.app.compute`); tests drain a queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from psygnal import Signal, SignalGroup

from segviewer.app.campaign.records import ACCEPTED, REJECTED, check_state
from segviewer.app.view_state import OutlineLayer
from segviewer.app.viewer import Viewer
from segviewer.errors import GeometryMismatchError, SegviewerError
from segviewer.evaluation.agreement import Agreement, agreeing_raters, agreement
from segviewer.evaluation.consensus import Consensus, consensus, read_rater_masks
from segviewer.io.labels import describe_grid_difference
from segviewer.model.geometry import Geometry, bounding_box
from segviewer.model.session import LABELS
from segviewer.workers.runner import CANCELLED, FAILED, FINISHED, ComputeWorker, Job, JobEvent

log = logging.getLogger(__name__)

#: Calls a function later on the GUI thread.
Post = Callable[[Callable[[], None]], None]
#: Records a decision: (annotator, state, comment, reviewer).
DecisionPort = Callable[[str, str, str, str], None]

#: Outline colours of the annotators, in order (distinct from each other and from the default
#: label colours' reds and greens where possible); repeated past the last.
ANNOTATOR_COLOURS = ((0, 200, 255), (255, 0, 255), (255, 230, 0), (255, 128, 0), (0, 255, 128),
                     (160, 120, 255))
REVIEW_KEY = "review"


@dataclass
class CaseReview:
    """Several annotators' masks of one case on one grid, and where a decision goes."""

    annotators: list[str]
    masks: list[np.ndarray]
    geometry: Geometry
    record_decision: DecisionPort | None = None
    case_id: str = ""

    def __post_init__(self) -> None:
        if len(self.annotators) != len(self.masks):
            raise ValueError(f"{len(self.annotators)} annotators for {len(self.masks)} masks")
        if len(self.masks) < 2:
            raise SegviewerError(f"a review needs masks from two annotators or more, got {len(self.masks)}")
        self.decisions: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_files(cls, pairs: Sequence[tuple[str, str | Path]], record_decision: DecisionPort | None = None,
                   case_id: str = "") -> "CaseReview":
        """Read ``(annotator, mask file)`` pairs; masks on different grids are refused."""
        masks, geometry = read_rater_masks([path for _, path in pairs])
        return cls([name for name, _ in pairs], masks, geometry, record_decision, case_id)

    def outline_layers(self) -> list[OutlineLayer]:
        """Each annotator's mask as an outline layer in its own colour."""
        return [OutlineLayer(name, mask, ANNOTATOR_COLOURS[index % len(ANNOTATOR_COLOURS)])
                for index, (name, mask) in enumerate(zip(self.annotators, self.masks))]

    def disagreement(self) -> np.ndarray:
        """0 where all agree; elsewhere how many annotators agree with the most common value."""
        return agreeing_raters(self.masks)

    def agreement(self, progress=None) -> Agreement:
        """Pairwise Dice and HD95 per label, Fleiss' kappa (seconds on a large case)."""
        return agreement(self.masks, self.geometry, raters=self.annotators, progress=progress)

    def consensus(self, method: str = "staple", progress=None) -> Consensus:
        return consensus(self.masks, method, raters=self.annotators, progress=progress)

    # -- the decision ---------------------------------------------------------------------------
    def decide(self, state: str, comment: str = "", reviewer: str = "reviewer") -> None:
        """Accept or reject every annotator's work on this case (a rejection needs a comment)."""
        if state not in (ACCEPTED, REJECTED):
            raise SegviewerError(f"a review accepts or rejects, not {state!r}")
        check_state(state, comment)
        for annotator in self.annotators:
            if self.record_decision is not None:
                self.record_decision(annotator, state, comment.strip(), reviewer)
            self.decisions[annotator] = (state, comment.strip())


def review_of_campaign_case(campaign, case_id: str, annotators: Sequence[str] | None = None,
                            lock=None) -> CaseReview:
    """The review of one campaign case: the label layers of ``annotators`` (default: everyone
    who finished the case). Accept / reject set each one's record state, ``by`` the reviewer,
    under ``lock`` (the case lock the reviewer holds while the case is open; without one the
    case is locked for the moment of each write)."""
    records = campaign.records(case_id)
    names = list(annotators) if annotators is not None else [n for n, r in records.items() if r.is_finished]
    pairs = [(name, campaign.existing_layer(case_id, name, "labels")) for name in names]
    missing = [name for name, path in pairs if path is None]
    if missing:
        raise SegviewerError(f"case {case_id}: no labels saved by {', '.join(missing)}")

    def record(annotator: str, state: str, comment: str, reviewer: str) -> None:
        campaign.set_state(case_id, annotator, state, comment, by=reviewer, lock=lock)

    return CaseReview.from_files(pairs, record, case_id)


class ReviewEvents(SignalGroup):
    """What the review workflow announces (on the GUI thread)."""

    review_changed = Signal(object)  # CaseReview | None
    disagreement_ready = Signal(object)  # np.ndarray (uint8)
    agreement_ready = Signal(object)  # Agreement
    consensus_ready = Signal(object)  # Consensus (now the labels)
    decided = Signal(str, str)  # state, comment
    busy_changed = Signal(bool)
    progress = Signal(float, str)
    failed = Signal(str)


class ReviewWorkflow:
    """Review mode on a viewer (see the module docstring). ``post`` runs a callable on the GUI
    thread later; every method here is called on the GUI thread."""

    def __init__(self, viewer: Viewer, post: Post, reviewer: str = "reviewer") -> None:
        self.viewer = viewer
        self.events = ReviewEvents()
        self.reviewer = reviewer
        self.review: CaseReview | None = None
        self.disagreement_map: np.ndarray | None = None
        self.result: Agreement | None = None
        self.last_consensus: Consensus | None = None
        #: Annotators whose outline layer the reviewer has hidden.
        self.hidden_outlines: set[str] = set()
        self._post = post
        self._worker: ComputeWorker | None = None
        self._job: Job | None = None
        self._cancelled: Job | None = None  # the job Cancel was pressed for
        viewer.events.session_changed.connect(self._on_session)

    def _on_session(self, _session) -> None:
        # Another image (the next case): this review's masks belong to the previous one.
        if self.review is not None:
            self.close()

    # -- the worker -------------------------------------------------------------------------------
    @property
    def worker(self) -> ComputeWorker:
        if self._worker is None or not self._worker.alive:
            self._worker = ComputeWorker(lambda event: self._post(partial(self._on_event, event)),
                                         name="segviewer-review")
        return self._worker

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _submit(self, function, title: str, on_done: Callable[[object], None]) -> Job:
        """Run ``function(progress)`` on the worker (latest wins); ``on_done(result)`` after."""

        def job(progress, cancel):
            def report(fraction: float, text: str = "") -> None:
                cancel.raise_if_cancelled()  # between steps: Cancel stops a long review soon
                progress(fraction, text)
            return function(report)

        self._job = self.worker.submit(job, title, key=REVIEW_KEY, context=on_done)
        self.events.busy_changed.emit(True)
        return self._job

    def _on_event(self, event: JobEvent) -> None:
        job = event.job
        if job is not self._job:
            return  # superseded
        if event.kind == "progress":
            self.events.progress.emit(event.fraction, f"{job.title}: {event.text}")
            self.viewer.report_progress(event.fraction, f"{job.title}: {event.text}")
            return
        if event.kind not in (FINISHED, FAILED, CANCELLED):
            return
        self._job = None
        kind = CANCELLED if job is self._cancelled else event.kind  # finished just as Cancel was pressed
        self._cancelled = None
        self.events.busy_changed.emit(False)
        self.viewer.finish_progress("" if kind == FINISHED else f"{job.title}: {kind}")
        if kind == FAILED:
            self.events.failed.emit(event.message)
        elif kind == FINISHED:
            try:
                job.context(event.result)
            except SegviewerError as error:
                self.events.failed.emit(str(error))

    def cancel(self) -> None:
        """Stop the running step; its result is dropped even if it was already on its way."""
        if self._job is not None:
            self._cancelled = self._job
            self.worker.cancel(self._job)

    def shutdown(self, timeout: float = 10.0) -> bool:
        worker, self._worker = self._worker, None
        self._job = None
        return worker.shutdown(timeout) if worker is not None else True

    # -- opening ----------------------------------------------------------------------------------
    def open_files(self, pairs: Sequence[tuple[str, str | Path]], record_decision: DecisionPort | None = None,
                   case_id: str = "") -> Job:
        """Read ``(annotator, mask file)`` pairs on the worker, then show the review."""
        return self._submit(lambda report: CaseReview.from_files(pairs, record_decision, case_id),
                            "Read the annotators' masks", self.show)

    def open_campaign_case(self, campaign, case_id: str, annotators: Sequence[str] | None = None,
                           lock=None) -> Job:
        """Review a campaign case (its image must be the open session; ``lock``: the case lock
        this window holds, see :func:`review_of_campaign_case`)."""
        return self._submit(lambda report: review_of_campaign_case(campaign, case_id, annotators, lock),
                            f"Read case {case_id}", self.show)

    def show(self, review: CaseReview) -> Job:
        """Show ``review`` on the open image: outlines now, then disagreement and agreement
        computed on the worker."""
        session = self.viewer.session
        if session is None:
            raise SegviewerError("open the case's image before reviewing its masks")
        if not review.geometry.same_grid(session.geometry):
            raise GeometryMismatchError("the annotators' masks are not on the open image's grid "
                                        f"({describe_grid_difference(review.geometry, session.geometry)})")
        self.review = review
        self.result = None
        self.disagreement_map = None
        self.hidden_outlines.clear()
        self._show_outlines()
        self.events.review_changed.emit(review)

        def measure(report):
            disagreement = review.disagreement()
            report(0.05, "disagreement")
            return disagreement, review.agreement(lambda f, text: report(0.05 + 0.95 * f, text))

        return self._submit(measure, "Review: agreement", partial(self._measured, review))

    def _measured(self, review: CaseReview, result) -> None:
        if review is not self.review:
            return
        self.disagreement_map, self.result = result
        self.show_disagreement(True)
        self.events.disagreement_ready.emit(self.disagreement_map)
        self.events.agreement_ready.emit(self.result)

    def show_disagreement(self, shown: bool) -> None:
        """Show (or hide) the disagreement as the heat map: the fewer annotators agree, the darker."""
        if not shown or self.disagreement_map is None or self.viewer.session is None:
            if self.viewer.heatmap is not None and self.viewer.heatmap.name == "disagreement":
                self.viewer.clear_heatmap()
            return
        self.viewer.set_heatmap(self.disagreement_map, None, 0.0, float(len(self.review.masks) - 1),
                                name="disagreement")

    def set_outline_visible(self, annotator: str, visible: bool) -> None:
        """Show or hide one annotator's outline layer."""
        if visible:
            self.hidden_outlines.discard(annotator)
        else:
            self.hidden_outlines.add(annotator)
        self._show_outlines()

    def _show_outlines(self) -> None:
        if self.review is not None and self.viewer.session is not None:
            self.viewer.set_outlines([layer for layer in self.review.outline_layers()
                                      if layer.name not in self.hidden_outlines])

    def close(self) -> None:
        """Leave review mode: outlines and the disagreement map go."""
        self.cancel()
        self.show_disagreement(False)
        self.viewer.clear_outlines()
        self.review = None
        self.result = None
        self.disagreement_map = None
        self.events.review_changed.emit(None)

    # -- consensus and decisions ---------------------------------------------------------------------
    def start_from_consensus(self, method: str = "staple") -> Job:
        """Compute the consensus on the worker, then make it the labels (ONE undo step).

        The worker also finds the box where the consensus differs from the labels (a copy taken
        now), so the GUI thread writes only that crop, not the whole volume."""
        review = self._require_review()
        session = self.viewer.session
        if session is None:
            raise SegviewerError("open the case's image before starting from the consensus")
        current = session.labels.array.copy()
        title = f"Consensus ({'STAPLE' if method == 'staple' else 'majority vote'})"

        def work(report):
            result = review.consensus(method, report)
            box = bounding_box(result.labels != current)
            return result, box, None if box is None else result.labels[box].copy()

        return self._submit(work, title, partial(self._use_consensus, review, title))

    def _use_consensus(self, review: CaseReview, title: str, outcome) -> None:
        session = self.viewer.session
        if review is not self.review or session is None:
            return
        result, box, crop = outcome
        if box is not None:
            session.apply_layer_crop(LABELS, box, crop, title)
        self.last_consensus = result
        self.events.consensus_ready.emit(result)

    def accept(self, comment: str = "") -> None:
        self._decide(ACCEPTED, comment)

    def reject(self, comment: str) -> None:
        self._decide(REJECTED, comment)

    def _decide(self, state: str, comment: str) -> None:
        self._require_review().decide(state, comment, self.reviewer)
        self.viewer.show_message(f"case {self.review.case_id or ''} {state}".replace("  ", " "))
        self.events.decided.emit(state, comment)

    def _require_review(self) -> CaseReview:
        if self.review is None:
            raise SegviewerError("no review is open: open the annotators' masks first")
        return self.review
