"""The method panel: pick a method from the registry, set its parameters, run, apply, cancel.

The parameter form is generated from the method's parameters dataclass
by :class:`~segviewer.views.parameter_form.ParameterForm`, the builder the tool options
dock uses too. The same dataclass makes the CLI's ``--param key=value`` flags, so the two
never drift apart.

Run builds the request (ROI = scribbles/points box + margin in mm, or the whole volume) and
queues it on the compute worker; the result shows as a translucent preview. Apply writes it
as ONE undo step; Cancel stops the run and drops the preview. With auto-update on, every
scribble stroke (and every parameter change) reruns the method after a short pause. For
the threshold method a live histogram shows the ROI's intensities with the lower/upper
range as a draggable region, and the threshold(s) found by automatic methods.

Deep methods' live outputs: a loss curve (any result whose info carries ``loss_curve``,
partial or final), the entropy map (``info["entropy"]``) in the controller's heat-map layer
while the preview is shown, the suggestion of where to scribble next with a "Go there"
button, and — for a method that can (``save_model`` / ``reset``, i.e. fine-tuning) —
"Save model…" and "Reset". The panel keeps ONE instance per method, so a fine-tuning run
continues from the previous one; Cancel while it trains stops it and keeps its prediction.
A ``model`` text parameter gets a "…" picker (model card, TorchScript file, bundle folder).

A model that carries code (TorchScript, MONAI bundle) and is not trusted fails on the worker
with a :class:`~segviewer.methods.deep.models.ModelTrustError` holding its SHA-256. The panel
then asks once (:class:`TrustModelDialog`, showing the path and that digest; the GUI thread
never hashes): "Trust and run" records the digest and submits the run again, "Don't run"
leaves the model unloaded; automatic reruns do not ask again, the next Run click does.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segviewer.errors import SegviewerError
from segviewer.io.trust import record_trust
from segviewer.methods.base import Method, TrainableMethod
from segviewer.methods.deep.models import CODE_KINDS, ModelTrustError
from segviewer.methods.registry import registered_methods
from segviewer.methods.request import DEFAULT_MARGIN_MM
from segviewer.model.parameters import ParameterSpec
from segviewer.views.compute import ComputeController, RunSettings
from segviewer.views.controller import ViewerController
from segviewer.views.parameter_form import ParameterForm
from segviewer.workers.runner import FAILED

#: Methods listed first, in this order; the others (e.g. deep-learning ones) follow by name.
PREFERRED_ORDER = ("graphcut", "watershed", "region_growing", "threshold")


class MethodParameterForm(ParameterForm):
    """The generated form of a method's parameters, with a "…" picker beside ``model``."""

    def row_widget(self, spec: ParameterSpec, editor: QWidget) -> QWidget:
        if spec.name == "model" and isinstance(editor, QLineEdit):
            return self._with_model_picker(editor)
        return editor

    def _with_model_picker(self, edit: QLineEdit) -> QWidget:
        """The ``model`` field plus a "…" button: a model card / TorchScript file, or (menu)
        a MONAI bundle folder."""
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QToolButton()
        button.setText("…")
        button.setObjectName("model_picker")
        button.setToolTip("Choose a model file (card .json, .pt, TorchScript .ts); the arrow: a bundle folder")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(button)
        menu.addAction("Model file…", self.choose_model_file)
        menu.addAction("Bundle folder…", self.choose_model_folder)
        button.setMenu(menu)
        button.clicked.connect(lambda: self.choose_model_file())
        layout.addWidget(button)
        return row

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model", "", MODEL_FILE_FILTER)
        self._set_model(path)

    def choose_model_folder(self) -> None:
        self._set_model(QFileDialog.getExistingDirectory(self, "Model bundle folder"))

    def _set_model(self, path: str) -> None:
        if path:
            self.set_value("model", path)
            self.changed.emit()


class ThresholdHistogram(QWidget):
    """A live intensity histogram with the manual range as a draggable region and the
    automatic threshold(s) as lines."""

    range_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(110)
        self.plot.setMaximumHeight(160)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.plot.setMouseEnabled(x=False, y=False)
        self.curve = pg.PlotCurveItem(fillLevel=0, brush=(120, 120, 200, 120), pen=pg.mkPen((80, 80, 160)))
        self.plot.addItem(self.curve)
        self.region = pg.LinearRegionItem(values=(0.0, 1.0), brush=(255, 160, 0, 50))
        self.region.sigRegionChangeFinished.connect(self._on_region)
        self.plot.addItem(self.region)
        self.lines: list = []
        layout.addWidget(self.plot)
        self._pg = pg
        self._key = None

    def set_data(self, array: np.ndarray, key=None) -> None:
        """Histogram of ``array`` (log counts; a strided sample on big volumes)."""
        from segviewer.methods.threshold import histogram

        if key is not None and key == self._key:
            return
        self._key = key
        counts, edges = histogram(array, bins=200)
        self.curve.setData(edges, np.log1p(counts.astype(np.float64)), stepMode="center")
        self.plot.setXRange(float(edges[0]), float(edges[-1]), padding=0.02)
        self.region.setBounds((float(edges[0]), float(edges[-1])))

    def set_range(self, lower: float, upper: float) -> None:
        blocked = self.region.blockSignals(True)
        self.region.setRegion((lower, upper))
        self.region.blockSignals(blocked)

    def show_region(self, visible: bool) -> None:
        self.region.setVisible(visible)

    def set_thresholds(self, values: list[float]) -> None:
        for line in self.lines:
            self.plot.removeItem(line)
        self.lines = []
        for value in values:
            line = self._pg.InfiniteLine(pos=float(value), angle=90, pen=self._pg.mkPen((220, 40, 40), width=2))
            self.plot.addItem(line)
            self.lines.append(line)

    def _on_region(self) -> None:
        lower, upper = self.region.getRegion()
        self.range_changed.emit(float(lower), float(upper))


#: What the model picker offers.
MODEL_FILE_FILTER = "Models (*.json *.pt *.pth *.ts);;All files (*)"


class DeepOutputs(QWidget):
    """A deep method's live outputs: the loss curve, where to scribble next ("Go there"),
    and Save model… / Reset for a method that keeps a trained state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("loss_curve")
        self.loss_plot.setMinimumHeight(90)
        self.loss_plot.setMaximumHeight(130)
        self.loss_plot.setMenuEnabled(False)
        self.loss_plot.setMouseEnabled(x=False, y=False)
        self.loss_plot.setTitle("loss", size="8pt")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen((220, 120, 20), width=2))
        layout.addWidget(self.loss_plot)

        self.suggestion = QLabel()
        self.suggestion.setObjectName("suggestion")
        self.suggestion.setWordWrap(True)
        self.suggestion.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.go_button = QPushButton("Go there")
        self.go_button.setObjectName("go_there")
        self.go_button.setToolTip("Move the crosshair to the centre of the most uncertain region")
        row = QHBoxLayout()
        row.addWidget(self.suggestion, 1)
        row.addWidget(self.go_button)
        self.suggestion_row = QWidget()
        self.suggestion_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.suggestion_row)

        self.model_row = QWidget()
        model_layout = QHBoxLayout(self.model_row)
        model_layout.setContentsMargins(0, 0, 0, 0)
        self.save_button = QPushButton("Save model…")
        self.save_button.setObjectName("save_model")
        self.save_button.setToolTip("Write the fine-tuned network and its updated model card")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("reset_model")
        self.reset_button.setToolTip("Forget the fine-tuning: the next run starts from the model again")
        model_layout.addWidget(self.save_button)
        model_layout.addWidget(self.reset_button)
        model_layout.addStretch(1)
        layout.addWidget(self.model_row)
        self.clear()

    def clear(self) -> None:
        self.loss_curve.setData([], [])
        self.loss_plot.setVisible(False)
        self.suggestion.setText("")
        self.suggestion_row.setVisible(False)
        self.target: tuple[int, int, int] | None = None

    def show_result(self, info: dict) -> None:
        """Update from a (partial or final) result's info; what it lacks stays as it was."""
        curve = info.get("loss_curve")
        if curve:
            values = np.asarray(curve, dtype=np.float64)
            self.loss_curve.setData(np.arange(1, len(values) + 1), values)
            self.loss_plot.setVisible(True)
        suggestion = info.get("suggestion")
        if isinstance(suggestion, dict) and suggestion.get("text"):
            self.suggestion.setText(str(suggestion["text"]))
            self.target = suggestion_centre(suggestion)
            self.go_button.setEnabled(self.target is not None)
            self.suggestion_row.setVisible(True)

    def loss_points(self) -> int:
        x, _ = self.loss_curve.getData()
        return 0 if x is None else len(x)


class TrustModelDialog(QDialog):
    """Asks whether to run a model that carries code: shows its path and SHA-256.

    "Trust and run" accepts, "Don't run" (the default button, also Escape) rejects."""

    def __init__(self, path: str, kind: str, digest: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trust_model_dialog")
        self.setWindowTitle("Trust this model?")
        self.path, self.kind, self.digest = path, kind, digest
        layout = QVBoxLayout(self)
        what = QLabel(f"{html.escape(path)}<br>is {html.escape(CODE_KINDS.get(kind, kind))}: it can run "
                      "any code on this computer, with your rights. Run it only if you trust where it "
                      "came from.<br><br>SHA-256 of its content:")
        what.setWordWrap(True)
        layout.addWidget(what)
        self.digest_label = QLabel(digest)
        self.digest_label.setObjectName("trust_model_digest")
        self.digest_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.digest_label.setStyleSheet("font-family: monospace;")
        layout.addWidget(self.digest_label)
        layout.addWidget(QLabel("<b>Trust and run this model?</b> (remembered until its content changes)"))
        buttons = QDialogButtonBox()
        self.trust_button = buttons.addButton("Trust and run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.trust_button.setObjectName("trust_model")
        self.refuse_button = buttons.addButton("Don't run", QDialogButtonBox.ButtonRole.RejectRole)
        self.refuse_button.setObjectName("refuse_model")
        self.refuse_button.setDefault(True)  # Enter must not consent by accident
        self.trust_button.setAutoDefault(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def suggestion_centre(suggestion: dict) -> tuple[int, int, int] | None:
    """Where "Go there" goes: the most uncertain voxel ``index`` (i, j, k), else the centre
    of the suggested box (array-order bounds ``[[k0, k1], [j0, j1], [i0, i1]]``)."""
    index = suggestion.get("index")
    if index:
        return tuple(int(v) for v in index)
    box = suggestion.get("box")
    if box:
        k, j, i = ((int(lo) + int(hi) - 1) // 2 for lo, hi in box)
        return i, j, k
    return None


class MethodPanel(QWidget):
    """Method choice, generated parameters, ROI, Run / Apply / Cancel, auto-update, info."""

    message = Signal(str)

    def __init__(self, controller: ViewerController, compute: ComputeController | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.compute = compute or ComputeController(controller, self)
        self.compute.settings_provider = self.current_settings
        self.methods: dict[str, type[Method]] = registered_methods()
        self._instances: dict[str, Method] = {}
        #: method -> {parameter: value} shown instead of the dataclass defaults (a campaign's model)
        self.parameter_defaults: dict[str, dict] = {}
        self.form: ParameterForm | None = None
        #: the open "trust this model?" dialog, and the digests refused since the last Run click
        self.trust_dialog: TrustModelDialog | None = None
        self._refused_digests: set[str] = set()

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()  # the dock may be short: scroll rather than squash the form
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget()
        scroll.setWidget(content)
        outer.addWidget(scroll)
        layout = QVBoxLayout(content)
        top = QHBoxLayout()
        top.addWidget(QLabel("Method"))
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("method_combo")
        for name in self._ordered_names():
            self.method_combo.addItem(self.methods[name].title or name, name)
        top.addWidget(self.method_combo, 1)
        layout.addLayout(top)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.description)

        self.form_box = QGroupBox("Parameters")
        self.form_layout = QVBoxLayout(self.form_box)
        layout.addWidget(self.form_box)

        roi_box = QGroupBox("Region")
        roi_layout = QHBoxLayout(roi_box)
        roi_layout.addWidget(QLabel("margin"))
        self.margin = QDoubleSpinBox()
        self.margin.setObjectName("roi_margin")
        self.margin.setRange(0.0, 500.0)
        self.margin.setSingleStep(5.0)
        self.margin.setSuffix(" mm")
        self.margin.setValue(DEFAULT_MARGIN_MM)
        self.margin.setToolTip("Work on the box around the scribbles and points, grown by this margin")
        roi_layout.addWidget(self.margin)
        self.whole_volume = QCheckBox("whole volume")
        self.whole_volume.setObjectName("whole_volume")
        self.whole_volume.setToolTip("Work on the whole image instead of the box around the scribbles")
        roi_layout.addWidget(self.whole_volume)
        layout.addWidget(roi_box)

        self.histogram = ThresholdHistogram()
        self.histogram.range_changed.connect(self._on_histogram_range)
        layout.addWidget(self.histogram)
        self.deep = DeepOutputs()
        layout.addWidget(self.deep)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run")
        self.run_button.setToolTip("Compute a preview (Ctrl+R)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("apply")
        self.apply_button.setToolTip("Write the preview into the labels (one undo step)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setToolTip("Stop the run and drop the preview")
        for button in (self.run_button, self.apply_button, self.cancel_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.auto_update = QCheckBox("Auto-update after each stroke")
        self.auto_update.setObjectName("auto_update")
        layout.addWidget(self.auto_update)
        self.info = QLabel()
        self.info.setObjectName("method_info")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.info)
        layout.addStretch(1)

        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        self.run_button.clicked.connect(self.run)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.cancel)
        self.auto_update.toggled.connect(self._on_auto_update)
        self.margin.valueChanged.connect(self.compute.schedule)
        self.whole_volume.toggled.connect(self._on_whole_volume)
        self.compute.result_ready.connect(self._on_result)
        self.compute.partial_ready.connect(self._on_partial)
        self.deep.go_button.clicked.connect(self.go_to_suggestion)
        self.deep.save_button.clicked.connect(lambda: self.save_model())
        self.deep.reset_button.clicked.connect(self.reset_model)
        self.compute.failed.connect(self._on_failed)
        self.compute.job_event.connect(self._on_job_event)
        self.compute.busy_changed.connect(self._update_buttons)
        controller.session_changed.connect(self._on_session)
        controller.preview_changed.connect(self._on_preview_changed)
        controller.scribbles_changed.connect(self._on_first_scribble)
        self._on_method_changed()
        self._update_buttons()

    # -- methods and the generated form ------------------------------------------------------
    def _ordered_names(self) -> list[str]:
        first = [n for n in PREFERRED_ORDER if n in self.methods]
        return first + sorted(n for n in self.methods if n not in first)

    @property
    def method_name(self) -> str:
        return self.method_combo.currentData()

    def select_method(self, name: str) -> None:
        index = self.method_combo.findData(name)
        if index < 0:
            raise KeyError(name)
        self.method_combo.setCurrentIndex(index)

    @property
    def method(self) -> Method:
        name = self.method_name
        if name not in self._instances:
            self._instances[name] = self.methods[name]()
        return self._instances[name]

    def _on_method_changed(self, *_args) -> None:
        method_class = self.methods[self.method_name]
        self.description.setText(method_class.description)
        if self.form is not None:
            self.form_layout.removeWidget(self.form)
            self.form.hide()  # deleted later, when control is back in the event loop
            self.form.deleteLater()
        self.form = MethodParameterForm(method_class.Parameters)
        for name, value in self.parameter_defaults.get(self.method_name, {}).items():
            self.form.set_value(name, value)
        self.form.changed.connect(self._on_parameters_changed)
        self.form_layout.addWidget(self.form)
        self.form_box.setVisible(bool(self.form.specs))
        blocked = self.whole_volume.blockSignals(True)
        self.whole_volume.setChecked(not method_class.uses_roi)
        self.whole_volume.blockSignals(blocked)
        self.margin.setEnabled(not self.whole_volume.isChecked())
        self.info.setText("")
        self.deep.clear()
        self._refresh_histogram()
        self._update_buttons()

    def set_parameter_defaults(self, defaults: dict[str, dict]) -> None:
        """Start the methods' parameters from ``defaults`` (method -> {name: value}); the form
        shown takes them at once."""
        self.parameter_defaults = defaults
        for name, value in defaults.get(self.method_name, {}).items():
            if self.form is not None and name in self.form.editors:
                self.form.set_value(name, value)

    def _on_parameters_changed(self) -> None:
        self._refresh_histogram()
        self.compute.schedule()

    def _on_whole_volume(self, on: bool) -> None:
        self.margin.setEnabled(not on)
        self._refresh_histogram()
        self.compute.schedule()

    def current_settings(self) -> RunSettings | None:
        """The method, parameters and ROI choice now in the panel (None when invalid)."""
        try:
            params = self.form.parameters() if self.form is not None else None
        except SegviewerError as error:
            self._show_message(str(error))
            return None
        return RunSettings(self.method, params, float(self.margin.value()), self.whole_volume.isChecked())

    # -- actions ----------------------------------------------------------------------------------
    def run(self) -> None:
        settings = self.current_settings()
        if settings is None:
            return
        self._refused_digests.clear()  # an explicit Run may ask again about a refused model
        self.info.setText("running…")
        if self.compute.run(settings) is None and not self.compute.busy:
            self._update_buttons()

    def apply(self) -> None:
        self.compute.apply()
        self._update_buttons()

    def cancel(self) -> None:
        """Stop the run (a method that stops with a last prediction keeps it as the preview)
        or, when nothing runs, drop the preview."""
        running = self.compute.busy
        self.compute.cancel()
        self.info.setText("stopping…" if running else "cancelled")
        self._update_buttons()

    def go_to_suggestion(self) -> None:
        """Move the crosshair to the centre of the suggested (most uncertain) region."""
        if self.deep.target is not None and self.controller.session is not None:
            self.controller.set_cursor(self.deep.target)

    def save_model(self, path: str | None = None) -> None:
        """Write the trained network (file dialog unless ``path``); problems in a message box."""
        method = self.method
        if not isinstance(method, TrainableMethod):
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save model", f"{method.name}_model.json",
                                                  "Model card (*.json)")
            if not path:
                return
        try:
            method.save_model(path)
        except Exception as error:  # noqa: BLE001 - every failure is a message, never a traceback
            QMessageBox.warning(self, "Save model", str(error) or type(error).__name__)
            return
        self._show_message(f"model saved: {path}")

    def reset_model(self) -> None:
        """Forget the trained state: the next run starts from the model again."""
        method = self.method
        if isinstance(method, TrainableMethod):
            method.reset()
            self.deep.clear()
            self._show_message(f"{method.title or method.name}: reset, the next run starts afresh")

    def _on_auto_update(self, on: bool) -> None:
        self.compute.set_auto_update(on)
        if on and self.controller.session is not None and not self.controller.session.scribbles.is_empty():
            self.compute.schedule()

    def _on_first_scribble(self, *_args) -> None:
        # start the helper process while the user is still drawing (it takes a second to import)
        if not self.compute.started:
            self.compute.prestart(self.method)

    @property
    def busy(self) -> bool:
        """True while a run is in progress (``segviewer screenshot`` waits for it)."""
        return self.compute.busy

    # -- results ------------------------------------------------------------------------------------
    def _on_partial(self, job, result) -> None:
        self._show_deep(result)

    def _show_deep(self, result) -> None:
        info = result.info or {}
        self.deep.show_result(info)
        entropy = info.get("entropy")
        if isinstance(entropy, np.ndarray) and self.controller.preview is not None:
            # coloured up to the map's own peak (at least UNCERTAINTY_FLOOR): a confident model's
            # entropies are small, and on a fixed 0..1 scale its doubts would not show at all
            high = max(UNCERTAINTY_FLOOR, float(entropy.max()) if entropy.size else 0.0)
            try:
                self.controller.set_heatmap(entropy, result.roi, 0.0, high, name=UNCERTAINTY)
            except ValueError as error:
                self._show_message(f"uncertainty map not shown: {error}")

    def _on_preview_changed(self, *_args) -> None:
        heatmap = self.controller.heatmap
        if self.controller.preview is None and heatmap is not None and heatmap.name == UNCERTAINTY:
            self.controller.clear_heatmap()  # the uncertainty belongs to the preview
        self._update_buttons()

    def _on_result(self, job, result) -> None:
        self.info.setText(format_info(job.title, job.seconds, result.info))
        self._show_deep(result)
        if self.method_name == "threshold":
            found = result.info.get("thresholds") or (
                [result.info["threshold"]] if "threshold" in result.info else [])
            self.histogram.set_thresholds(found)
        self._update_buttons()

    def _on_failed(self, message: str) -> None:
        self.info.setText(f"<span style='color:#c03030'>{html.escape(message)}</span>")
        self._update_buttons()

    # -- trusting a model that carries code ------------------------------------------------------
    def _on_job_event(self, event) -> None:
        error = event.error
        if event.kind != FAILED or not isinstance(error, ModelTrustError) or event.job is not self.compute.latest:
            return
        settings = (event.job.context or {}).get("settings")
        if self.trust_dialog is not None or settings is None or error.digest in self._refused_digests:
            return
        # asked once the worker's event is fully handled (the failure message shows meanwhile)
        path, kind, digest = str(error.path), error.kind, error.digest
        QTimer.singleShot(0, lambda: self.ask_trust(path, kind, digest, settings))

    def ask_trust(self, path: str, kind: str, digest: str, settings: RunSettings) -> TrustModelDialog:
        """Open the trust dialog (window-modal, not blocking); its answer reruns or refuses."""
        dialog = TrustModelDialog(path, kind, digest, self)
        self.trust_dialog = dialog
        dialog.finished.connect(lambda result: self._on_trust_answer(dialog, settings, result))
        dialog.open()
        return dialog

    def _on_trust_answer(self, dialog: TrustModelDialog, settings: RunSettings, result: int) -> None:
        self.trust_dialog = None
        dialog.deleteLater()
        if result != QDialog.DialogCode.Accepted:
            self._refused_digests.add(dialog.digest)
            text = f"model not trusted, not loaded: {dialog.path}"
            self.info.setText(f"<span style='color:#c03030'>{html.escape(text)}</span>")
            self._show_message(text)
            return
        try:
            record_trust(dialog.digest, dialog.path, dialog.kind)
        except (OSError, SegviewerError) as error:  # e.g. a read-only config folder: run nothing
            self._on_failed(f"could not remember the trust: {error}")
            return
        self._show_message(f"trusted {dialog.path} (SHA-256 {dialog.digest[:16]}…); running it")
        self.info.setText("running…")
        self.compute.run(settings)

    def _show_message(self, text: str) -> None:
        self.message.emit(text)
        self.controller.message.emit(text)

    def _update_buttons(self, *_args) -> None:
        has_session = self.controller.session is not None
        self.run_button.setEnabled(has_session)
        self.apply_button.setEnabled(has_session and self.controller.preview is not None)
        self.cancel_button.setEnabled(has_session and (self.compute.busy or self.controller.preview is not None))
        method_class = self.methods[self.method_name]
        trains = issubclass(method_class, TrainableMethod)
        self.deep.model_row.setVisible(trains)
        self.deep.save_button.setEnabled(trains and not self.compute.busy)
        self.deep.reset_button.setEnabled(trains and not self.compute.busy)

    def _on_session(self, _session) -> None:
        self.info.setText("")
        self.deep.clear()
        self.histogram._key = None
        self._refresh_histogram()
        self._update_buttons()

    # -- threshold histogram ---------------------------------------------------------------------
    def _refresh_histogram(self) -> None:
        is_threshold = self.method_name == "threshold"
        self.histogram.setVisible(is_threshold)
        session = self.controller.session
        if not is_threshold or session is None or self.form is None:
            return
        self.histogram.set_data(session.image.array, key=id(session))
        manual = self.form.value("method") == "manual"
        self.histogram.show_region(manual)
        if manual:
            lower, upper = self.form.value("lower"), self.form.value("upper")
            low, high = session.image.intensity_range
            if math.isnan(lower):
                lower = low + 0.5 * (high - low)
            if math.isnan(upper):
                upper = high
            self.histogram.set_range(lower, upper)
        self.histogram.set_thresholds([])

    def _on_histogram_range(self, lower: float, upper: float) -> None:
        if self.form is None or self.method_name != "threshold":
            return
        self.form.set_value("lower", round(lower, 3))
        self.form.set_value("upper", round(upper, 3))
        self.compute.schedule()


#: Result facts not worth the user's attention in the panel (still in the JSON / CLI output).
HIDDEN_INFO = ("seconds", "intensity_range", "band_fraction", "voxels",
               "loss_curve", "entropy", "suggestion", "label_names", "partial", "domain", "warnings",
               "mean_entropy_in_labels")  # the last three: the warnings and the verdict say them
#: The heat-map layer's name while it shows a deep result's entropy.
UNCERTAINTY = "uncertainty"
#: The heat map's colour scale never ends below this entropy (so noise is not blown up).
UNCERTAINTY_FLOOR = 0.1


def format_info(title: str, seconds: float | None, info: dict) -> str:
    """The result's facts as short HTML for the panel."""
    lines = [f"<b>{html.escape(title)}</b>" + (f" — {seconds:.2f} s" if seconds is not None else "")]
    # e.g. the image is outside the model's training domain: said first, in red, never hidden
    lines += [f"<span style='color:#c03030'>{html.escape(text)}</span>" for text in (info or {}).get("warnings", ())]
    for key, value in (info or {}).items():
        if key in HIDDEN_INFO or isinstance(value, np.ndarray):
            continue
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, float) for v in value):
            text = ", ".join(f"{v:.4g}" for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value)
        else:
            text = str(value)
        lines.append(f"{html.escape(key.replace('_', ' '))}: {html.escape(text)}")
    return "<br>".join(lines)
