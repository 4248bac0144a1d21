"""Save the labels as a DICOM object (DICOM-SEG or RT Structure Set) from the viewer, no Qt.

File > Export > "Labels as DICOM-SEG…" / "Labels as RT structure set…" call
:func:`export_labels`: it asks for a file name through the document workflow's ports, takes a
snapshot of the labels on the GUI thread, and writes in the background (the highdicom
encoding of a large series takes seconds), reporting progress, the result or a one-line
error. An image that was not read from DICOM is refused at once, with the reason.

How the labels were made is taken from the undo history: results of segmentation methods
applied in this session make the segments SEMIAUTOMATIC, naming those methods; with none,
the segments are MANUAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segviewer.app import files
from segviewer.app.documents import DocumentWorkflow, message_of
from segviewer.io.dicom_seg import SegmentAlgorithm
from segviewer.model.labels import LabelMap

DICOM_SEG, RTSTRUCT = "dicom-seg", "rtstruct"


@dataclass(frozen=True)
class DicomFormat:
    """How the viewer offers one DICOM format: dialog title, filter, name suffix, and the
    words for messages."""

    title: str
    file_filter: str
    suffix: str
    what: str


FORMATS = {
    DICOM_SEG: DicomFormat("Save labels as DICOM-SEG", "DICOM Segmentation (*.dcm);;All files (*)", "_seg.dcm",
                           "DICOM-SEG"),
    RTSTRUCT: DicomFormat("Save labels as RT structure set", "RT Structure Set (*.dcm);;All files (*)",
                          "_rtstruct.dcm", "RT structure set"),
}


def algorithm_of(session) -> SegmentAlgorithm:
    """Semi-automatic with the methods whose results the undo history holds; else manual."""
    return algorithm_from(session.history.undo_descriptions)


def algorithm_from(step_descriptions: list[str]) -> SegmentAlgorithm:
    """:func:`algorithm_of` from the undo steps' descriptions (a method's result is recorded
    under the method's title). Imports the method registry: call it off the GUI thread."""
    from segviewer.methods.registry import builtin_methods  # noqa: PLC0415 - only when saving

    by_title = {(cls.title or name): name for name, cls in builtin_methods().items()}
    used = list(dict.fromkeys(by_title[d] for d in step_descriptions if d in by_title))
    return SegmentAlgorithm("semiautomatic", method=", ".join(used)) if used else SegmentAlgorithm()


def export_labels(workflow: DocumentWorkflow, kind: str = DICOM_SEG) -> bool:
    """Ask for a file and write the session's labels there as ``kind`` (in the background).

    Returns False when nothing is written (no image, not DICOM, cancelled); True once the
    write has started.
    """
    from segviewer.io.dicom_seg import write_dicom_seg  # noqa: PLC0415
    from segviewer.io.rtstruct import write_rtstruct  # noqa: PLC0415

    session = workflow.host.session
    ports = workflow.ports
    if session is None:
        return False
    form = FORMATS[kind]
    image = session.image
    if image.metadata.get("format") != "DICOM":
        ports.show_error(f"Cannot save a {form.what}",
                         f"{image.name} was not read from DICOM: a {form.what} refers to the DICOM images it "
                         "segments. Open the DICOM series the labels belong to, load the labels onto it, and "
                         "save again.")
        return False
    if not session.labels.present_values():
        ports.show_error(f"Cannot save a {form.what}", "The label map is empty: there is nothing to save.")
        return False
    folder = Path(workflow.last_folder())
    if image.path is not None and folder.resolve() == Path(image.path).resolve():
        folder = folder.parent  # beside the series folder, not in it: it would join the series
    path = ports.choose_save_path(form.title, folder / f"{_stem(image.name)}{form.suffix}", form.file_filter)
    if not path:
        return False
    path = Path(path)
    snapshot = LabelMap(session.labels.array.copy(), session.geometry, session.label_table.copy())
    guard = files.session_guard(session)
    steps = list(session.history.undo_descriptions)  # read here: the history is the GUI thread's
    writer = write_dicom_seg if kind == DICOM_SEG else write_rtstruct

    def write() -> SegmentAlgorithm:
        algorithm = algorithm_from(steps)
        writer(path, snapshot, image, guard=guard, algorithm=algorithm)
        return algorithm

    def done(algorithm: SegmentAlgorithm) -> None:
        ports.finish_progress("")
        workflow.remember_folder(path)
        how = "manual" if algorithm.kind == "manual" else f"semi-automatic: {algorithm.method}"
        ports.show_message(f"Saved the labels as a {form.what} to {path} ({how})", 6000)

    def failed(error, text) -> None:
        ports.finish_progress("")
        ports.show_error(f"Could not save the {form.what}", message_of(error, text))

    ports.set_progress(-1, f"Saving the {form.what} to {path.name}…")
    ports.run_in_background(write, done, failed, f"segviewer-save-{kind}")
    return True


def _stem(name: str) -> str:
    """A file-name stem from the image's name (a series description may hold spaces)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return cleaned or "labels"
