"""PACS dock: search a DICOMweb server, open a series, store the labels back as DICOM-SEG.

Every request (search, download, store, keyring) runs on a worker thread
(:func:`segviewer.views.background.run_in_thread`); the GUI thread only reads the fields and
shows the answers. A download shows its progress and can be cancelled; it lands in the
download cache complete or not at all (``DicomWebServer.retrieve_to_cache``) and is then
opened like any DICOM folder. Errors are shown in the dock in one line, never as a crash.
Credentials go to the OS keyring (``Log in…``); the server list is the one ``segviewer pacs
servers`` edits.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segviewer.app.dicom_export import algorithm_of
from segviewer.errors import SegviewerError
from segviewer.io import dicomweb
from segviewer.io.dicomweb import LABEL_MODALITIES, Credentials, DicomWebServer, PacsCancelled, SeriesEntry
from segviewer.views import background

#: (header, SeriesEntry attribute) of the result table's columns.
COLUMNS = (("Date", "study_date"), ("Modality", "modality"), ("Patient", "patient_id"),
           ("Description", "series_description"), ("Images", "instances"))


class LoginDialog(QDialog):
    """User and password (basic auth) or a bearer token for one server."""

    def __init__(self, url: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Log in to the PACS")
        self.user = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.kind = QComboBox()
        self.kind.addItem("User and password", "basic")
        self.kind.addItem("Bearer token", "bearer")
        self.kind.currentIndexChanged.connect(lambda _: self.user.setEnabled(self.kind.currentData() == "basic"))
        form = QFormLayout(self)
        form.addRow(QLabel(f"{url}\nKept in the system keyring, never in a settings file."))
        form.addRow("Kind", self.kind)
        form.addRow("User", self.user)
        form.addRow("Password / token", self.secret)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def credentials(self) -> Credentials:
        kind = self.kind.currentData()
        return Credentials(kind, self.secret.text(), self.user.text().strip() if kind == "basic" else "")


class PacsDock(QWidget):
    """The PACS browser. ``open_image(folder)`` opens a downloaded image series in the viewer,
    ``open_labels(file)`` a downloaded SEG / RT structure set onto the open image;
    ``controller.session`` gives the labels and the image to store back."""

    #: (fraction, text) from a download, re-emitted on the GUI thread
    _progress = Signal(float, str)
    message = Signal(str)

    def __init__(self, controller, open_image: Callable[[Path], None],
                 open_labels: Callable[[Path], None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.open_image = open_image
        self.open_labels = open_labels
        self.entries: list[SeriesEntry] = []
        self._cancel = threading.Event()
        self._busy = False

        self.server = QComboBox()
        self.server.setEditable(True)
        self.server.setToolTip("A DICOMweb address (http://host:8042/dicom-web) or a saved server's name")
        self.server.lineEdit().setPlaceholderText("http://host:8042/dicom-web")
        self.save_server_button = QPushButton("Save…")
        self.save_server_button.setToolTip("Keep this address in the server list under a name")
        self.save_server_button.clicked.connect(self.save_server)
        self.login_button = QPushButton("Log in…")
        self.login_button.clicked.connect(self.log_in)
        self.patient = QLineEdit()
        self.patient.setPlaceholderText("patient ID")
        self.study_date = QLineEdit()
        self.study_date.setPlaceholderText("YYYYMMDD or range")
        self.modality = QLineEdit()
        self.modality.setPlaceholderText("CT, MR, SEG…")
        self.modality.setMaximumWidth(90)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        for edit in (self.patient, self.study_date, self.modality):
            edit.returnPressed.connect(self.search)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([header for header, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _: self.open_selected())

        self.open_button = QPushButton("Open series")
        self.open_button.clicked.connect(self.open_selected)
        self.store_button = QPushButton("Store labels as SEG")
        self.store_button.setToolTip("Send the current labels to this server as a DICOM-SEG of the open series")
        self.store_button.clicked.connect(self.store_labels)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._progress.connect(self._show_progress, Qt.ConnectionType.QueuedConnection)

        server_row = QHBoxLayout()
        server_row.addWidget(self.server, 1)
        server_row.addWidget(self.save_server_button)
        server_row.addWidget(self.login_button)
        filters = QHBoxLayout()
        for widget in (self.patient, self.study_date, self.modality, self.search_button):
            filters.addWidget(widget)
        actions = QHBoxLayout()
        for widget in (self.open_button, self.store_button, self.cancel_button):
            actions.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(server_row)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.reload_servers()
        self._update_buttons()

    def present(self) -> None:
        """Show the dock (hidden at start) in front, the server field focused."""
        dock = self.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.server.setFocus()

    # -- servers and credentials
    def reload_servers(self) -> None:
        text = self.server.currentText()
        self.server.clear()
        for saved in dicomweb.saved_servers():
            self.server.addItem(saved.name, saved.url)
        self.server.setEditText(text)

    def url(self) -> str:
        """The address in the server field (a saved name resolved); SegviewerError when bad."""
        return dicomweb.resolve_server(self.server.currentText().strip())

    def save_server(self, name: str | None = None) -> None:
        """Keep the address under ``name`` (asked when not given) in the shared server list."""
        url = self._checked_url()
        if url is None:
            return
        if name is None:
            name, accepted = QInputDialog.getText(self, "Save server", f"Name for {url}:")
            if not accepted:
                return
        try:
            saved = dicomweb.save_server(name, url)
        except SegviewerError as error:
            return self._show_error(str(error))
        self.reload_servers()
        self.server.setCurrentIndex(self.server.findText(saved.name))
        self._show(f"Saved {saved.name}: {saved.url}")

    def _checked_url(self) -> str | None:
        """:meth:`url`, or None with the reason shown."""
        try:
            return self.url()
        except SegviewerError as error:
            self._show_error(str(error))
            return None

    def log_in(self) -> None:
        url = self._checked_url()
        if url is None:
            return
        dialog = LoginDialog(url, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            credentials = dialog.credentials()
        except SegviewerError as error:
            return self._show_error(str(error))
        self._start("Keeping the credentials…",
                    lambda: dicomweb.save_credentials(url, credentials),
                    lambda _: self._show(f"Credentials for {url} kept in the keyring."))

    # -- search
    def search(self) -> None:
        url = self._checked_url()
        if url is None:
            return
        patient, date, modality = self.patient.text(), self.study_date.text(), self.modality.text()
        # the server object is made on the worker too: it reads the keyring (D-Bus, may wait)
        self._start("Searching…", lambda: DicomWebServer(url).search(patient=patient, study_date=date,
                                                                     modality=modality), self._show_entries)

    def _show_entries(self, entries: list[SeriesEntry]) -> None:
        self.entries = entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, (_, attribute) in enumerate(COLUMNS):
                value = getattr(entry, attribute)
                item = QTableWidgetItem("" if value is None else str(value))
                item.setToolTip(entry.path)
                self.table.setItem(row, column, item)
        if entries:
            self.table.selectRow(0)
        self._show(f"{len(entries)} series found." if entries else "No series found.")

    def selected_entry(self) -> SeriesEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows and rows[0].row() < len(self.entries) else None

    # -- open a series
    def open_selected(self) -> None:
        entry = self.selected_entry()
        url = self._checked_url() if entry is not None and not self._busy else None
        if url is None:
            return
        labels = entry.modality.upper() in LABEL_MODALITIES
        if labels and (self.open_labels is None or getattr(self.controller, "session", None) is None):
            return self._show_error(f"A {entry.modality} series holds labels: open the image series it "
                                    "segments first, then open this one onto it.")
        cancel = self._cancel = threading.Event()

        def fetch() -> Path:
            return DicomWebServer(url).retrieve_to_cache(entry.study_uid, entry.series_uid, progress=self._progress.emit,
                                            cancelled=cancel.is_set)

        def done(folder: Path) -> None:
            self._show(f"Downloaded to {folder}; opening…")
            if labels:
                self.open_labels(min(folder.iterdir()))  # one SEG / structure set per series
            else:
                self.open_image(folder)

        self._start(f"Downloading {entry.series_description or entry.series_uid}…", fetch, done)

    def cancel(self) -> None:
        self._cancel.set()

    # -- store the labels back
    def store_labels(self) -> None:
        session = getattr(self.controller, "session", None)
        if session is None or self._busy:
            return self._show_error("Open a DICOM series and draw labels first.")
        url = self._checked_url()
        if url is None:
            return
        from segviewer.model.labels import LabelMap  # noqa: PLC0415

        labels = session.labels
        # the worker gets a copy: the GUI thread keeps editing the model meanwhile
        snapshot = LabelMap(labels.array.copy(), labels.geometry, labels.table.copy())
        image = session.image

        def done(report) -> None:
            self._show(f"Stored the labels as DICOM-SEG in study {', '.join(report.study_uids)}.")

        algorithm = algorithm_of(session)  # from the undo history, as File > Export does
        self._start("Storing the labels…",
                    lambda: DicomWebServer(url).store_segmentation(snapshot, image, algorithm=algorithm), done)

    # -- running on the worker
    def _start(self, text: str, work: Callable[[], object], done: Callable[[object], None]) -> None:
        self._busy = True
        self._update_buttons()
        self.progress.setValue(0)
        self._show(text)

        def finished(value) -> None:
            self._busy = False
            self._update_buttons()
            self.progress.setValue(1000)
            done(value)

        def failed(error: BaseException, _traceback: str) -> None:
            self._busy = False
            self._update_buttons()
            self.progress.setValue(0)
            if isinstance(error, PacsCancelled):
                self._show("Cancelled; nothing was downloaded.")
            elif isinstance(error, SegviewerError):
                self._show_error(str(error))
            else:
                self._show_error(f"{type(error).__name__}: {error}")

        background.run_in_thread(work, finished, failed, name="segviewer-pacs")

    def _show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(1000 * fraction)))
        self.progress.setFormat(text)

    def _update_buttons(self) -> None:
        idle = not self._busy
        self.search_button.setEnabled(idle)
        self.login_button.setEnabled(idle)
        self.open_button.setEnabled(idle and self.selected_entry() is not None)
        self.store_button.setEnabled(idle)
        self.cancel_button.setEnabled(not idle)

    def _show(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.message.emit(text)

    def _show_error(self, text: str) -> None:
        self.status.setStyleSheet("color: #c0392b")
        self.status.setText(text)
        self.message.emit(text)
