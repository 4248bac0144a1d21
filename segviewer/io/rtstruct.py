"""RT Structure Sets out and in: label maps as closed planar contours, and back.

Export (:func:`build_rtstruct`, :func:`write_rtstruct`): one ROI per label value (the ROI
number *is* the label value, so it comes back unchanged), with its name, colour, generation
algorithm and coded type; on each slice of the DICOM series, one CLOSED_PLANAR contour per
boundary loop of the label, referencing that slice's image.

The contours follow the voxel edges (corners at half-voxel positions), not the voxel
centres: the enclosed area is exactly the labelled voxels' area, so volumes and dose-volume
histograms computed from the contours match the label map; a hole is a loop of its own,
and readers fill with the even-odd rule (the convention of Plastimatch, dcmrtstruct2nii and
rt-utils' reader). Import (:func:`read_rtstruct`) fills each contour by that rule at the
voxel centres of the series' grid, which gives back exactly the voxels written.

Why not rt-utils: it pulls OpenCV (~60 MB) for two calls, traces contours through voxel
centres (every structure loses half a voxel of rim, and a one-voxel-wide structure has no
area), and writes its own UIDs and modules with no hook for our codes; pydicom builds the
data set directly and the contour tracing below is ~40 lines of NumPy.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterable

import numpy as np

from segviewer import __version__
from segviewer.errors import GeometryMismatchError
from segviewer.io.atomic import OutputGuard
from segviewer.io.dicom_classes import RTSTRUCT_SOP_CLASS
from segviewer.io.dicom_seg import (TYPE_2_PATIENT_STUDY, DicomExportError, DicomLabels,
                                    DicomObjectError, SegmentAlgorithm, SegmentInfo, SourceSeries,
                                    labels_from_masks, segment_rows, source_series, write_dicom_object)
from segviewer.io.segment_codes import Concept, SegmentCodeTable, load_segment_codes
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import HIGHEST_LABEL, LOWEST_LABEL, LabelMap

#: A contour more than this far (in slices) from a slice's plane is not on the series' planes.
OFF_PLANE_TOLERANCE = 0.05

# The four edges of a voxel as (corner offset from, corner offset to) in (x, y) = (i, j)
# corner coordinates, walked clockwise on screen (y down): top, right, bottom, left. An edge
# is a boundary when the neighbour across it (dj, di) is outside the structure.
_EDGES = (((0, 0), (1, 0), (-1, 0)), ((1, 0), (1, 1), (0, 1)),
          ((1, 1), (0, 1), (1, 0)), ((0, 1), (0, 0), (0, -1)))


# -- contours from a mask ----------------------------------------------------------------------
def boundary_loops(mask: np.ndarray) -> list[np.ndarray]:
    """The closed loops along the voxel edges of a 2D mask ``mask[j, i]``.

    Each loop is an ``(N, 2)`` array of corner points ``(x, y)`` (voxel ``(i, j)`` spans
    ``[i, i + 1] x [j, j + 1]``), only where the direction changes. Outer boundaries run
    clockwise on screen, holes the other way; voxels touching only at a corner get loops of
    their own (each loop is a simple polygon).
    """
    rows, columns = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return []
    if rows[0] or columns[0] or rows[-1] < mask.shape[0] - 1 or columns[-1] < mask.shape[1] - 1:
        box = mask[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]  # trace the bounding box only
        return [loop + (columns[0], rows[0]) for loop in boundary_loops(box)]
    padded = np.pad(mask.astype(bool), 1)
    inside = padded[1:-1, 1:-1]
    following: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for start, end, (dj, di) in _EDGES:
        neighbour = padded[1 + dj:padded.shape[0] - 1 + dj, 1 + di:padded.shape[1] - 1 + di]
        js, is_ = np.nonzero(inside & ~neighbour)
        for x0, y0, x1, y1 in zip((is_ + start[0]).tolist(), (js + start[1]).tolist(),
                                  (is_ + end[0]).tolist(), (js + end[1]).tolist()):
            following.setdefault((x0, y0), []).append((x1, y1))
    loops = []
    while following:
        first = next(iter(following))
        loop, here = [first], first
        previous_step = None
        while True:
            choices = following[here]
            step_to = choices[0]
            if len(choices) > 1 and previous_step is not None:
                # a corner shared by two diagonal voxels: turn right (towards the voxel we are
                # walking around), so each voxel group keeps a loop of its own
                right = (here[0] - previous_step[1], here[1] + previous_step[0])
                step_to = right if right in choices else choices[0]
            choices.remove(step_to)
            if not choices:
                del following[here]
            previous_step = (step_to[0] - here[0], step_to[1] - here[1])
            here = step_to
            if here == first:
                break
            loop.append(here)
        loops.extend(_corners_only(np.array(part, dtype=np.float64)) for part in _split_at_repeats(loop))
    return loops


def _split_at_repeats(loop: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Split a closed loop that passes a vertex twice (a hole touching the outside at one
    corner) into simple loops; the even-odd fill of the parts equals the loop's."""
    parts, path, index_of = [], [], {}
    for point in loop:
        if point in index_of:
            start = index_of[point]
            parts.append(path[start:])
            for dropped in path[start + 1:]:
                del index_of[dropped]
            del path[start + 1:]
        else:
            index_of[point] = len(path)
            path.append(point)
    return [path, *parts]


def _corners_only(points: np.ndarray) -> np.ndarray:
    """Drop the points of a closed loop where the direction does not change."""
    before = points - np.roll(points, 1, axis=0)
    after = np.roll(points, -1, axis=0) - points
    turning = np.abs(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]) > 0
    return points[turning]


def fill_even_odd(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The voxels of a ``shape = (rows, columns)`` slice whose centres lie inside an odd number
    of ``polygons`` (each ``(N, 2)`` in continuous index ``(i, j)``): the even-odd rule."""
    mask = np.zeros(shape, dtype=bool)
    rows, columns = shape
    for polygon in polygons:
        if len(polygon) < 3:
            continue
        x0, y0 = polygon[:, 0], polygon[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        low = max(int(np.ceil(y0.min())), 0)
        high = min(int(np.floor(y0.max())), rows - 1)
        inside = np.zeros(shape, dtype=bool)
        for j in range(low, high + 1):
            crossing = (y0 <= j) != (y1 <= j)  # half-open: a vertex on the row counts once
            if not crossing.any():
                continue
            xs = np.sort(x0[crossing] + (j - y0[crossing]) * (x1[crossing] - x0[crossing])
                         / (y1[crossing] - y0[crossing]))
            for start, stop in zip(xs[0::2], xs[1::2]):
                first, last = max(int(np.ceil(start)), 0), min(int(np.ceil(stop)), columns)
                if first < last:
                    inside[j, first:last] ^= True
        mask ^= inside
    return mask


# -- writing -----------------------------------------------------------------------------------
def _code_item(concept: Concept):
    from pydicom.dataset import Dataset  # noqa: PLC0415

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = concept.value, concept.scheme, concept.meaning
    return item


def build_rtstruct(label_map: LabelMap, reference: ImageVolume | SourceSeries | str | Path, *,
                   algorithm: SegmentAlgorithm | None = None, codes: SegmentCodeTable | None = None,
                   label: str = "segviewer"):
    """An RT Structure Set data set (pydicom) of ``label_map``, drawn on the ``reference`` series."""
    from pydicom.dataset import Dataset, FileMetaDataset  # noqa: PLC0415
    from pydicom.sequence import Sequence  # noqa: PLC0415
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid  # noqa: PLC0415

    source = reference if isinstance(reference, SourceSeries) else source_series(reference)
    if not label_map.geometry.same_grid(source.geometry):
        raise GeometryMismatchError("the labels are not on the DICOM series' grid; place them on the series first")
    rows = segment_rows(label_map)
    if not rows:
        raise DicomExportError("the label map is empty: an RT Structure Set needs at least one labelled voxel")
    algorithm = algorithm or SegmentAlgorithm()
    codes = codes or load_segment_codes()
    first = source.datasets[0]
    now = datetime.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS
    for keyword in ("StudyInstanceUID", *TYPE_2_PATIENT_STUDY):
        setattr(ds, keyword, first.get(keyword, "") or "")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 301
    ds.SeriesDescription = "Structure set"
    ds.InstanceNumber = 1
    ds.Manufacturer = "segviewer"
    ds.ManufacturerModelName = "segviewer"
    ds.SoftwareVersions = __version__
    ds.StructureSetLabel = label[:16]
    ds.StructureSetDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.StructureSetTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.OperatorsName = ""
    frame_uid = str(first.FrameOfReferenceUID)
    ds.FrameOfReferenceUID = frame_uid  # the Frame of Reference module (DICOM 2021+)
    ds.PositionReferenceIndicator = first.get("PositionReferenceIndicator", "") or ""

    def image_item(dataset) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
        return item

    series_item = Dataset()
    series_item.SeriesInstanceUID = first.SeriesInstanceUID
    series_item.ContourImageSequence = Sequence([image_item(d) for d in source.datasets])
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (as RT requires)
    study_item.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study_item.RTReferencedSeriesSequence = Sequence([series_item])
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = frame_uid
    frame_item.RTReferencedStudySequence = Sequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_item])

    rois, contours, observations = [], [], []
    for row in rows:
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = row.value, frame_uid, row.name
        roi.ROIGenerationAlgorithm = algorithm.kind.upper()
        if algorithm.name:
            roi.ROIGenerationDescription = algorithm.name[:64]
        rois.append(roi)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = list(row.colour)
        roi_contour.ReferencedROINumber = row.value
        roi_contour.ContourSequence = Sequence(_contours_of(label_map, row.value, source, image_item))
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = observation.ReferencedROINumber = row.value
        observation.RTROIInterpretedType = "ORGAN" if codes.knows(row.name) else ""
        observation.ROIInterpreter = ""
        observation.RTROIIdentificationCodeSequence = Sequence([_code_item(codes.codes_for(row.name).type)])
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    return ds


def _contours_of(label_map: LabelMap, value: int, source: SourceSeries, image_item) -> list:
    from pydicom.dataset import Dataset  # noqa: PLC0415
    from pydicom.sequence import Sequence  # noqa: PLC0415

    geometry = label_map.geometry
    items = []
    slices = np.flatnonzero((label_map.array == value).reshape(label_map.array.shape[0], -1).any(axis=1))
    for k in slices.tolist():
        for loop in boundary_loops(label_map.array[k] == value):
            ijk = np.column_stack([loop - 0.5, np.full(len(loop), float(k))])  # corners: half a voxel off
            item = Dataset()
            item.ContourImageSequence = Sequence([image_item(source.datasets[k])])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(loop)
            item.ContourData = [f"{v:.10g}" for v in geometry.index_to_physical(ijk).reshape(-1)]
            items.append(item)
    return items


def write_rtstruct(path: str | Path, label_map: LabelMap, reference: ImageVolume | SourceSeries | str | Path, *,
                   guard: OutputGuard | Iterable | None = None, **options) -> Path:
    """Write :func:`build_rtstruct`'s structure set to ``path`` atomically (never over an input)."""
    return write_dicom_object(path, build_rtstruct, label_map, reference, guard, "the RT Structure Set", options)


# -- reading -------------------------------------------------------------------------------------
def read_rtstruct(path: str | Path, reference: ImageVolume | Geometry | None) -> DicomLabels:
    """Rasterise an RT Structure Set's closed planar contours onto ``reference``'s grid.

    ROIs that overlap go to separate label maps (as for a DICOM-SEG); contours that do not
    lie on the grid's slice planes are skipped and counted in the message.
    """
    import pydicom  # noqa: PLC0415

    path = Path(path)
    geometry = reference.geometry if isinstance(reference, ImageVolume) else reference
    if geometry is None:
        raise DicomObjectError(f"{path}: an RT Structure Set holds contours, not voxels; open the image series "
                               "it was drawn on first (or give it as --reference)")
    try:
        ds = pydicom.dcmread(path)
        names = {int(r.ROINumber): str(r.get("ROIName", "") or f"ROI {r.ROINumber}")
                 for r in ds.get("StructureSetROISequence", [])}
        roi_contours = list(ds.get("ROIContourSequence", []))
    except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways
        raise DicomObjectError(f"{path}: cannot be read as an RT Structure Set ({error})") from None
    rois: list[tuple[int, str, tuple[int, int, int] | None, np.ndarray]] = []
    skipped = 0
    for roi in roi_contours:
        number = int(roi.ReferencedROINumber)
        mask = np.zeros(geometry.shape, dtype=bool)
        by_slice: dict[int, list[np.ndarray]] = {}
        for contour in roi.get("ContourSequence", []):
            if contour.get("ContourGeometricType", "CLOSED_PLANAR") != "CLOSED_PLANAR":
                skipped += 1
                continue
            points = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
            ijk = geometry.physical_to_index(points)
            k = int(round(float(ijk[:, 2].mean())))
            if np.abs(ijk[:, 2] - k).max() > OFF_PLANE_TOLERANCE or not 0 <= k < geometry.size[2]:
                skipped += 1
                continue
            by_slice.setdefault(k, []).append(ijk[:, :2])
        for k, polygons in by_slice.items():
            mask[k] = fill_even_odd(polygons, geometry.shape[1:])
        colour = tuple(int(c) for c in roi.ROIDisplayColor) if "ROIDisplayColor" in roi else None
        rois.append((number, names.get(number, f"ROI {number}"), colour, mask))
    return _labels_of_rois(rois, geometry, skipped)


def _labels_of_rois(rois, geometry: Geometry, skipped: int) -> DicomLabels:
    """ROIs as label maps: the ROI number is the label value when it can be one."""
    values = [number for number, *_ in rois]
    if any(not LOWEST_LABEL <= v <= HIGHEST_LABEL for v in values) or len(set(values)) != len(values):
        values = list(range(1, len(rois) + 1))  # ROI numbers that are not label values: count
    segments = [SegmentInfo(number, value, name) for value, (number, name, _, _) in zip(values, rois)]
    notes = [f"{skipped} contour(s) not on the image's slice planes (or not closed planar) were skipped"] if skipped else []
    return labels_from_masks([mask for *_, mask in rois], segments, [colour for _, _, colour, _ in rois],
                             geometry, notes)
