"""Open a DICOM-SEG or RT structure set onto the viewer's image, no Qt.

"Open labels" reads these files too (as one label map, through
:func:`segviewer.io.labels.read_label_map`); File > "Open DICOM-SEG / RT structures…" calls
:func:`open_dicom_labels`, which keeps what a label map cannot hold: the SEG is read in the
background onto the open image (frame by frame by SOP instance when it references the open
series), the first label map replaces the labels as one undo step, the label maps of
overlapping segments are drawn as outlines above it, and a FRACTIONAL SEG's probabilities
become the heat map. The labels are left unsaved: Save asks for a label-map file.
"""

from __future__ import annotations

from pathlib import Path

from segviewer.app.documents import DocumentWorkflow, message_of
from segviewer.app.view_state import OutlineLayer
from segviewer.io.dicom_seg import DicomLabels


def outline_layers(read: DicomLabels) -> list[OutlineLayer]:
    """The label maps after the first, as outline layers (named by their segments)."""
    layers = []
    for number, layer in enumerate(read.layers[1:], 2):
        segments = [s for s in read.segments if s.layer == number - 1]
        colour = layer.table.colour_of(segments[0].value) if segments else (255, 255, 0)
        layers.append(OutlineLayer(f"layer {number}: " + ", ".join(s.name for s in segments), layer.array, colour))
    return layers


def open_dicom_labels(workflow: DocumentWorkflow, path: str | Path) -> bool:
    """Read ``path`` (a DICOM-SEG or RT structure set) onto the open image in the background.

    Returns False when no image is open; errors reach ``show_error`` as one line.
    """
    from segviewer.io.dicom_labels import read_dicom_object  # noqa: PLC0415 - highdicom is heavy

    session = workflow.host.session
    ports = workflow.ports
    path = Path(path)
    if session is None:
        ports.show_error("No image", "Open the DICOM series first, then its DICOM-SEG or RT structure set.")
        return False
    image = session.image

    def done(read: DicomLabels) -> None:
        ports.finish_progress("")
        host = workflow.host
        if host.session is not session:
            return  # another image was opened meanwhile
        host.replace_label_map(read.label_map, f"Load {path.name}")
        workflow.remember_folder(path)
        extra = outline_layers(read)
        if extra and hasattr(host, "set_outlines"):
            host.set_outlines(extra)
        probabilities = read.highest_probability()
        if probabilities is not None and hasattr(host, "set_heatmap"):
            host.set_heatmap(probabilities, name="probability")
        parts = [read.message] + ([f"layers 2-{len(read.layers)} drawn as outlines"] if extra else [])
        note = "; ".join(p for p in parts if p)
        ports.show_message(f"Loaded {path.name}" + (f" ({note})" if note else ""), 8000 if note else 4000)

    def failed(error, text) -> None:
        ports.finish_progress("")
        ports.show_error(f"Could not open {path.name}", message_of(error, text))

    ports.set_progress(-1, f"Reading {path.name}…")
    ports.run_in_background(lambda: read_dicom_object(path, image), done, failed, "segviewer-read-dicom")
    return True
