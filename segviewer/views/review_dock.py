"""Review dock: a reviewer's view of several annotators' masks of one case.

A thin Qt face of :class:`segviewer.app.review.ReviewWorkflow` (the rules and the worker live
there): the annotators with their outline colours (tick to show), the disagreement map, the
pairwise Dice / HD95 table per label and Fleiss' kappa, the consensus (STAPLE or majority vote)
with each annotator's sensitivity and specificity, and Accept / Reject with a comment. Reading
the masks, the agreement and the consensus run on the review's compute worker; the progress bar
and Cancel follow it, and the GUI thread only fills tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segviewer.app.campaign.records import default_annotator
from segviewer.app.review import CaseReview, ReviewWorkflow
from segviewer.errors import SegviewerError
from segviewer.evaluation.agreement import Agreement
from segviewer.evaluation.consensus import Consensus
from segviewer.io.paths import strip_image_suffix

#: (shown text, method name) of the consensus choices.
CONSENSUS_METHODS = (("STAPLE", "staple"), ("Majority vote", "vote"))
MASK_FILTER = "Label maps (*.nii *.nii.gz *.nrrd *.seg.nrrd *.nhdr *.mha *.mhd);;All files (*)"


def campaign_case_of(window) -> tuple | None:
    """(campaign, case id, reviewer, case lock) of the case open in ``window``'s campaign dock."""
    dock = getattr(window, "docks", {}).get("campaign")
    navigator = getattr(dock.widget(), "navigator", None) if dock is not None else None
    if navigator is None or navigator.current is None:
        return None
    return navigator.campaign, navigator.current, navigator.annotator, navigator.lock


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    table.setRowCount(len(rows))
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if column >= 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, column, item)


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


class ReviewDock(QWidget):
    """Dock widget of review mode (see the module docstring)."""

    _posted = Signal(object)  # a callable from the worker thread, run on the GUI thread

    def __init__(self, controller, parent: QWidget | None = None, reviewer: str | None = None,
                 campaign_case: Callable[[], tuple | None] | None = None, window: QWidget | None = None) -> None:
        """``window``: the main window - its Campaign dock gives the case to review, and closing
        it stops the review's worker."""
        super().__init__(parent)
        if window is not None and campaign_case is None:
            campaign_case = lambda: campaign_case_of(window)  # noqa: E731 - read when clicked
        self.controller = controller
        self.workflow = ReviewWorkflow(controller, self._posted.emit, reviewer or default_annotator())
        self._posted.connect(self._call, Qt.ConnectionType.QueuedConnection)
        #: Gives (campaign, case id, reviewer, lock) of the open campaign case, or None.
        self.campaign_case = campaign_case or (lambda: None)

        self.open_button = QPushButton("Open annotators' masks…")
        self.open_button.setToolTip("Two or more label maps of the open image, one per annotator")
        self.open_button.clicked.connect(self.choose_masks)
        self.campaign_button = QPushButton("Review this campaign case")
        self.campaign_button.setToolTip("The masks of everyone who finished the case open in the Campaign dock")
        self.campaign_button.clicked.connect(self.review_open_campaign_case)
        self.campaign_button.setVisible(campaign_case is not None)
        self.close_button = QPushButton("Close review")
        self.close_button.clicked.connect(self.workflow.close)
        self.annotators = QListWidget()
        self.annotators.setToolTip("Each annotator's mask is drawn as outlines in this colour; untick to hide")
        self.annotators.itemChanged.connect(self._outline_ticked)
        self.disagreement = QCheckBox("Disagreement")
        self.disagreement.setChecked(True)
        self.disagreement.setToolTip("Voxels where annotators differ, coloured by how many agree there "
                                     "(dark: few agree; bright: all but one)")
        self.disagreement.toggled.connect(self.workflow.show_disagreement)
        self.agreement_table = _table(("Label", "Annotator A", "Annotator B", "Dice", "HD95 mm"))
        self.kappa = QLabel("")
        self.method = QComboBox()
        for text, name in CONSENSUS_METHODS:
            self.method.addItem(text, name)
        self.consensus_button = QPushButton("Start from consensus")
        self.consensus_button.setToolTip("Replace the labels by the annotators' consensus (one undo step) "
                                         "and correct it")
        self.consensus_button.clicked.connect(self.start_from_consensus)
        self.performance_table = _table(("Annotator", "Label", "Sensitivity", "Specificity"))
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (needed to reject)")
        self.accept_button = QPushButton("Accept")
        self.accept_button.clicked.connect(lambda: self.decide(self.workflow.accept))
        self.reject_button = QPushButton("Reject")
        self.reject_button.clicked.connect(lambda: self.decide(self.workflow.reject))
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.workflow.cancel)
        self.status = QLabel("Open two or more annotators' masks of this image to review them.")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for row in ((self.open_button, self.campaign_button), (self.close_button, self.disagreement)):
            line = QHBoxLayout()
            for widget in row:
                line.addWidget(widget)
            line.addStretch(1)
            layout.addLayout(line)
        layout.addWidget(self.annotators, 1)
        layout.addWidget(self.agreement_table, 2)
        layout.addWidget(self.kappa)
        consensus_row = QHBoxLayout()
        consensus_row.addWidget(self.method)
        consensus_row.addWidget(self.consensus_button)
        consensus_row.addStretch(1)
        layout.addLayout(consensus_row)
        layout.addWidget(self.performance_table, 1)
        decision_row = QHBoxLayout()
        decision_row.addWidget(self.comment, 1)
        decision_row.addWidget(self.accept_button)
        decision_row.addWidget(self.reject_button)
        layout.addLayout(decision_row)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)

        events = self.workflow.events
        events.review_changed.connect(self._show_review)
        events.agreement_ready.connect(self._show_agreement)
        events.consensus_ready.connect(self._show_consensus)
        events.busy_changed.connect(self._set_busy)
        events.progress.connect(self._show_progress)
        events.failed.connect(lambda message: self.status.setText(message))
        events.decided.connect(lambda state, comment: self.status.setText(
            f"{state}" + (f": {comment}" if comment else "")))
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.workflow.shutdown)
        self._set_busy(False)
        self._show_review(None)
        if window is not None:
            self.watch_window(window)

    @staticmethod
    def _call(function: Callable[[], None]) -> None:
        function()

    @property
    def busy(self) -> bool:
        """True while the worker reads, measures or builds a consensus."""
        return self.workflow.busy

    def watch_window(self, window: QWidget) -> None:
        """Stop the review's worker when ``window`` is closed (restarted on next use)."""
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Hide and not event.spontaneous():
            self.workflow.shutdown()
        return False

    # -- actions -----------------------------------------------------------------------------------
    def choose_masks(self) -> None:
        dock = self.parentWidget()
        if isinstance(dock, QDockWidget):  # asked from the menu: show the dock with the dialog
            dock.show()
            dock.raise_()
        paths, _ = QFileDialog.getOpenFileNames(self, "Annotators' masks", "", MASK_FILTER)
        if paths:
            self.open_masks(paths)

    def open_masks(self, paths, names: list[str] | None = None) -> bool:
        """Review mask files (annotator names from the file names unless given)."""
        names = names or [strip_image_suffix(p).name for p in paths]
        return self._guarded(lambda: self.workflow.open_files(list(zip(names, map(Path, paths)))))

    def review_campaign_case(self, campaign, case_id: str, lock=None) -> bool:
        """Review a campaign case whose image is open (the annotators who finished it)."""
        return self._guarded(lambda: self.workflow.open_campaign_case(campaign, case_id, lock=lock))

    def review_open_campaign_case(self) -> bool:
        """Review the case open in the Campaign dock, as the annotator who opened the campaign."""
        found = self.campaign_case()
        if found is None:
            self.status.setText("No campaign case is open: open a campaign in the Campaign dock first.")
            return False
        campaign, case_id, reviewer, lock = found
        self.workflow.reviewer = reviewer
        return self.review_campaign_case(campaign, case_id, lock)

    def start_from_consensus(self) -> bool:
        return self._guarded(lambda: self.workflow.start_from_consensus(self.method.currentData()))

    def decide(self, action: Callable[[str], None]) -> bool:
        if self._guarded(lambda: action(self.comment.text())):
            self.comment.clear()
            return True
        return False

    def _guarded(self, action: Callable[[], object]) -> bool:
        """Run ``action``; a user's mistake is shown in the dock, never raised."""
        try:
            action()
        except SegviewerError as error:
            self.status.setText(str(error))
            return False
        return True

    # -- showing ------------------------------------------------------------------------------------
    def _show_review(self, review: CaseReview | None) -> None:
        self.annotators.blockSignals(True)
        self.annotators.clear()
        for layer in review.outline_layers() if review is not None else []:
            item = QListWidgetItem(layer.name)
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(*layer.colour))
            item.setIcon(swatch)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.annotators.addItem(item)
        self.annotators.blockSignals(False)
        self.agreement_table.setRowCount(0)
        self.performance_table.setRowCount(0)
        self.kappa.setText("")
        has_review = review is not None
        for widget in (self.close_button, self.disagreement, self.consensus_button, self.accept_button,
                       self.reject_button, self.comment, self.method):
            widget.setEnabled(has_review)
        if has_review:
            self.status.setText(f"Reviewing {len(review.annotators)} annotators"
                                + (f" of case {review.case_id}" if review.case_id else ""))

    def _outline_ticked(self, item: QListWidgetItem) -> None:
        self.workflow.set_outline_visible(item.text(), item.checkState() == Qt.CheckState.Checked)

    def _show_agreement(self, result: Agreement) -> None:
        names = self.controller.session.label_table.name_of if self.controller.session else str
        _fill(self.agreement_table, [(names(p.label), p.rater_a, p.rater_b, f"{p.dice:.3f}", f"{p.hd95_mm:.2f}")
                                     for p in result.pairs])
        self.kappa.setText(f"Fleiss' kappa {result.fleiss_kappa:.3f} (every voxel, all labels)")
        self.disagreement.setChecked(True)

    def _show_consensus(self, result: Consensus) -> None:
        names = self.controller.session.label_table.name_of if self.controller.session else str
        _fill(self.performance_table, [(p.rater, names(p.label), f"{p.sensitivity:.3f}", f"{p.specificity:.3f}")
                                       for p in result.performance])
        self.status.setText(f"The labels are now the {self.method.currentText()} consensus "
                            f"({result.performance[0].source if result.performance else 'no labels'}); "
                            "correct them, then save. Undo returns to the labels before.")

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.open_button.setEnabled(not busy)
        self.campaign_button.setEnabled(not busy)
        if not busy:
            self.progress.setValue(0)

    def _show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(100 * fraction)))
        self.progress.setFormat(text)
