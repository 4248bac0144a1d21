"""DICOM Segmentation objects (DICOM-SEG) out and in, on highdicom.

Writing (:func:`build_dicom_seg`, :func:`write_dicom_seg`): a label map drawn on a DICOM
series becomes a BINARY (or LABELMAP) SEG with one segment per label value present: its
name, its colour (as CIELab), a coded category and type (:mod:`segviewer.io.segment_codes`)
and how it was made (manual, or semi-automatic / automatic naming the method and model).
Every frame references its source image and sits on that image's exact plane: the label
map must be on the series' grid, and each source file's position is checked against it.
An image with no DICOM source is refused (a SEG is defined by the instances it segments).

Reading (:func:`read_dicom_seg`): a SEG from any producer, onto the open image (or its
grid) by physical position from the SEG's own plane positions - the identity for a SEG on
the open series' planes - or onto its own grid; by SOP instance UID when its frames do not
form a volume but reference the open series. Segments that overlap go to separate label
maps (layers); FRACTIONAL segments give probabilities (the soft map) and a label where the
probability is at least 0.5.

De-identified series sometimes carry empty SOP / study / series UIDs in the data set (only
the file meta keeps the instance UID). A SEG needs them, so the copies used as references
get the file meta's values and, for the study and series, UIDs derived from the frame of
reference (the same every time, so repeated exports agree); the files are never changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import SimpleITK as sitk

from segviewer import __version__
from segviewer.errors import GeometryMismatchError, ImageReadError, SegviewerError
from segviewer.io.atomic import OutputGuard, as_guard, write_atomically
from segviewer.io.images import array_from_sitk, image_to_sitk, refuse_no_overlap
from segviewer.io.segment_codes import Concept, SegmentCodes, SegmentCodeTable, load_segment_codes
from segviewer.model.geometry import Geometry
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelInfo, LabelMap, LabelTable, default_colour, label_dtype_for


#: Segmentation types a SEG can be written as. LABELMAP (DICOM Supplement 243, 2024) is one
#: frame per slice for all segments, far smaller, but older readers and validators do not
#: know it yet; BINARY is what every reader supports.
SEG_TYPES = ("binary", "labelmap")

#: How a segment was made (DICOM Segment Algorithm Type).
ALGORITHM_KINDS = ("manual", "semiautomatic", "automatic")

#: Where a FRACTIONAL segment counts as labelled.
PROBABILITY_THRESHOLD = 0.5

#: A source image's position may differ from the grid by this much (DICOM stores positions
#: as decimal strings of at most 16 characters).
POSITION_TOLERANCE_MM = 0.01

#: Our segments remember their label value in the Tracking ID (segment numbers must run
#: 1, 2, 3 ... while label values need not).
_TRACKING_ID = re.compile(r"^segviewer label (\d+)$")


class DicomExportError(SegviewerError):
    """A label map that cannot be written as a DICOM object (no DICOM source, empty ...)."""


class DicomObjectError(ImageReadError):
    """A DICOM object that cannot be read as labels."""


#: Algorithm families (DICOM CID 7162) of the built-in methods; a named model is
#: artificial intelligence, a method not listed here manual processing.
METHOD_FAMILIES = {"threshold": "HistogramAnalysis", "otsu": "HistogramAnalysis",
                   "region_growing": "NeighborhoodAnalysis", "watershed": "MorphologicalOperations",
                   "graphcut": "ClusterAnalysis", "graph_cut": "ClusterAnalysis",
                   "unet": "ArtificialIntelligence", "finetune": "ArtificialIntelligence"}


@dataclass(frozen=True)
class SegmentAlgorithm:
    """How the segments were made: ``kind`` is manual, semiautomatic or automatic; the
    latter two name the ``method`` (e.g. ``"graph_cut"``) and, for a network, its ``model``."""

    kind: str = "manual"
    method: str = ""
    model: str = ""
    version: str = ""

    def __post_init__(self) -> None:
        kind = self.kind.lower().replace("-", "").replace("_", "")
        if kind not in ALGORITHM_KINDS:
            raise DicomExportError(f"algorithm type {self.kind!r}: use one of {', '.join(ALGORITHM_KINDS)}")
        object.__setattr__(self, "kind", kind)
        if kind != "manual" and not (self.method.strip() or self.model.strip()):
            raise DicomExportError(f"a {kind} segmentation names its method (e.g. graph_cut) or model")

    @property
    def name(self) -> str:
        """The Algorithm Name: the method, with the model in brackets."""
        model = f"({self.model})" if self.model else ""
        return " ".join(filter(None, [self.method, model]))

    @property
    def family(self) -> str:
        """The keyword of the algorithm family in pydicom's CID 7162."""
        if self.model:
            return "ArtificialIntelligence"
        first = self.method.split(",")[0].strip().lower()  # several methods: the first one's
        return METHOD_FAMILIES.get(first, "ManualProcessing")


# -- the source series -------------------------------------------------------------------------
@dataclass
class SourceSeries:
    """The DICOM images a label map was drawn on: header-only data sets, one per slice in
    the label map's slice order (``datasets[k]`` is slice ``k``), and their grid."""

    datasets: list
    geometry: Geometry
    notes: list[str] = field(default_factory=list)

    @property
    def sop_instance_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.datasets]


def source_series(reference: ImageVolume | str | Path, series: str | int | None = None) -> SourceSeries:
    """The source images of ``reference``: a volume read from DICOM, a DICOM folder or file.

    Raises :class:`DicomExportError` for an image with no DICOM source, and
    :class:`GeometryMismatchError` when the files do not lie on the volume's grid.
    """
    import pydicom  # noqa: PLC0415 - only DICOM objects need it

    if not isinstance(reference, ImageVolume):
        from segviewer.io.images import read_image  # noqa: PLC0415 - reads pixels: only when asked

        reference = read_image(reference, series)
    files = reference.metadata.get("files") if reference.metadata.get("format") == "DICOM" else None
    if not files:
        where = reference.path or reference.name
        kind = reference.metadata.get("format") or "not DICOM"
        raise DicomExportError(
            f"{where}: is not a DICOM series ({kind}); a DICOM object refers to the DICOM images it "
            "segments, so it can only be made for labels drawn on a DICOM series - open the DICOM "
            "folder (or give it as --reference)")
    geometry = reference.geometry
    if len(files) != geometry.size[2]:
        raise DicomExportError(f"{reference.path}: {len(files)} files for {geometry.size[2]} slices "
                               "(a multi-frame series); DICOM objects are written for one file per slice")
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    notes = complete_source_uids(datasets)
    _check_on_grid(datasets, files, geometry)
    return SourceSeries(datasets, geometry, notes)


#: Patient and study attributes a derived object copies: DICOM type 2 (present, may be empty).
TYPE_2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                        "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


def complete_source_uids(datasets: list) -> list[str]:
    """Fill, in ``datasets`` (in memory), the UIDs a de-identification left empty and the type-2
    patient and study attributes an export dropped; returns notes for the user. See the
    module notes; a DICOMweb upload of such a series needs the same UIDs."""
    from pydicom.uid import generate_uid  # noqa: PLC0415

    notes = []
    frame = str(datasets[0].get("FrameOfReferenceUID", "") or "")
    seeds = [frame] if frame else [str(getattr(ds, "file_meta", {}).get("MediaStorageSOPInstanceUID", "")) for ds in datasets]
    derived = {"StudyInstanceUID": generate_uid(entropy_srcs=["segviewer study", *seeds]),
               "SeriesInstanceUID": generate_uid(entropy_srcs=["segviewer series", *seeds])}
    for ds in datasets:
        for keyword in TYPE_2_PATIENT_STUDY:  # required, possibly empty; some exports drop them
            if keyword not in ds:
                setattr(ds, keyword, "")
        for keyword, meta in (("SOPClassUID", "MediaStorageSOPClassUID"),
                              ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
            if not str(ds.get(keyword, "") or "").strip():
                value = str(getattr(ds, "file_meta", {}).get(meta, "") or "")
                if not value:
                    raise DicomExportError(f"{ds.filename}: has no {keyword} (not even in its file meta); "
                                           "a DICOM object cannot refer to it")
                setattr(ds, keyword, value)
        for keyword, value in derived.items():
            if not str(ds.get(keyword, "") or "").strip():
                setattr(ds, keyword, value)
                note = f"the source series has no {keyword} (de-identified?); derived {value} from its frame of reference"
                if note not in notes:
                    notes.append(note)
    return notes


def _check_on_grid(datasets: list, files: list[str], geometry: Geometry) -> None:
    """Each file's image position and orientation must be slice ``k`` of ``geometry``."""
    direction = geometry.direction
    for k, (ds, file) in enumerate(zip(datasets, files)):
        try:
            position = np.array([float(v) for v in ds.ImagePositionPatient])
            orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
        except (AttributeError, TypeError, ValueError):
            raise DicomExportError(f"{file}: has no image position or orientation; a DICOM object "
                                   "needs the plane of every frame") from None
        expected = geometry.index_to_physical((0, 0, k))
        if (np.abs(position - expected).max() > POSITION_TOLERANCE_MM
                or np.abs(orientation - np.concatenate([direction[:, 0], direction[:, 1]])).max() > 1e-4
                or (int(ds.Rows), int(ds.Columns)) != (geometry.size[1], geometry.size[0])):
            raise GeometryMismatchError(f"{file}: is not slice {k} of the series' grid (at {position.round(3)} "
                                        f"mm, expected {expected.round(3)}); the series was read differently")


# -- writing -------------------------------------------------------------------------------------
def _code(concept: Concept):
    from highdicom.sr import CodedConcept  # noqa: PLC0415

    return CodedConcept(concept.value, concept.scheme, concept.meaning)


def _algorithm_identification(algorithm: SegmentAlgorithm):
    import highdicom as hd  # noqa: PLC0415
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    if algorithm.kind == "manual":
        return None
    return hd.AlgorithmIdentificationSequence(name=algorithm.name, family=getattr(codes.cid7162, algorithm.family),
                                              version=algorithm.version or __version__)


def segment_rows(label_map: LabelMap) -> list[LabelInfo]:
    """The table rows of the label values present, in value order (one segment each)."""
    return [label_map.table.get(v) or LabelInfo(v, label_map.table.name_of(v), label_map.table.colour_of(v))
            for v in label_map.present_values()]


def build_dicom_seg(label_map: LabelMap, reference: ImageVolume | SourceSeries | str | Path, *,
                    seg_type: str = "binary", algorithm: SegmentAlgorithm | None = None,
                    codes: SegmentCodeTable | None = None, series_description: str = "Segmentation",
                    series_number: int = 300):
    """A DICOM-SEG data set (``highdicom.seg.Segmentation``) of ``label_map`` drawn on ``reference``.

    Parameters
    ----------
    label_map
        Labels on exactly the reference series' grid (resample first otherwise).
    reference
        The source: a volume read from DICOM, a DICOM folder or file, or a :class:`SourceSeries`.
    seg_type
        ``"binary"`` (every reader) or ``"labelmap"`` (Supplement 243; one frame per slice).
    algorithm
        How the labels were made (manual by default).
    codes
        The segment code table (the shipped and user tables by default).
    """
    import highdicom as hd  # noqa: PLC0415
    from pydicom.uid import generate_uid  # noqa: PLC0415

    if seg_type not in SEG_TYPES:
        raise DicomExportError(f"SEG type {seg_type!r}: use one of {', '.join(SEG_TYPES)}")
    source = reference if isinstance(reference, SourceSeries) else source_series(reference)
    if not label_map.geometry.same_grid(source.geometry):
        raise GeometryMismatchError("the labels are not on the DICOM series' grid; a SEG stores frames on "
                                    "the source images' planes - place them on the series first")
    rows = segment_rows(label_map)
    if not rows:
        raise DicomExportError("the label map is empty: a DICOM-SEG needs at least one labelled voxel")
    algorithm = algorithm or SegmentAlgorithm()
    codes = codes or load_segment_codes()
    identification = _algorithm_identification(algorithm)
    series_uid = str(source.datasets[0].SeriesInstanceUID)
    descriptions = []
    for number, row in enumerate(rows, 1):
        coded = codes.codes_for(row.name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=row.name,
            segmented_property_category=_code(coded.category), segmented_property_type=_code(coded.type),
            algorithm_type=algorithm.kind.upper(), algorithm_identification=identification,
            tracking_id=f"segviewer label {row.value}",
            tracking_uid=generate_uid(entropy_srcs=[series_uid, str(row.value), row.name]),
            display_color=hd.color.CIELabColor.from_rgb(*row.colour)))
    # segment numbers run 1..n in value order; a lookup table maps each value to its number
    lookup = np.zeros(max(r.value for r in rows) + 1, dtype=label_dtype_for(len(rows)))
    lookup[[r.value for r in rows]] = np.arange(1, len(rows) + 1)
    try:
        return hd.seg.Segmentation(
            source_images=source.datasets, pixel_array=lookup[label_map.array],
            segmentation_type=seg_type.upper(), segment_descriptions=descriptions,
            series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="segviewer", manufacturer_model_name="segviewer",
            software_versions=__version__, device_serial_number="0", series_description=series_description,
            content_label="SEGMENTATION", content_creator_name=None)
    except (AttributeError, ValueError, TypeError, KeyError) as error:  # highdicom's checks of the source
        raise DicomExportError(f"a DICOM-SEG cannot be made from this series: {_first_line(error)}") from None


def write_dicom_seg(path: str | Path, label_map: LabelMap, reference: ImageVolume | SourceSeries | str | Path, *,
                    guard: OutputGuard | Iterable | None = None, **options) -> Path:
    """Write :func:`build_dicom_seg`'s SEG to ``path`` atomically (never over an input).

    ``options`` are :func:`build_dicom_seg`'s. Returns ``path``.
    """
    return write_dicom_object(path, build_dicom_seg, label_map, reference, guard, "the DICOM-SEG", options)


def write_dicom_object(path: str | Path, build, label_map: LabelMap, reference, guard, what: str,
                       options: dict) -> Path:
    """``build(label_map, source, **options)`` saved to ``path``: refused before any work when
    ``path`` is protected by ``guard`` or is one of the source series' files."""
    path = Path(path)
    source = reference if isinstance(reference, SourceSeries) else source_series(reference)
    files = [ds.filename for ds in source.datasets if isinstance(getattr(ds, "filename", None), (str, Path))]
    guard = as_guard(guard).merged(OutputGuard(*files, role="an image of the source series"))
    guard.check(path, what)
    return save_dicom(path, build(label_map, source, **options), guard=guard, what=what)


def save_dicom(path: Path, dataset, *, guard=None, what: str = "the DICOM object") -> Path:
    """Save a pydicom data set atomically; the temporary must read back whole first."""
    import pydicom  # noqa: PLC0415

    def write(temporary: Path) -> None:
        dataset.save_as(temporary, enforce_file_format=True)

    def verify(temporary: Path) -> None:
        try:
            pydicom.dcmread(temporary).get("PixelData")
        except Exception as error:  # noqa: BLE001 - any failure to parse is an incomplete file
            raise OSError(f"the written file does not read back ({error})") from None

    return write_atomically(path, write, guard=guard, what=what, verify=verify)


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class SegmentInfo:
    """One segment of a SEG (or ROI of a structure set) read back: its number, and the label
    value and layer (index into :attr:`DicomLabels.layers`) it became."""

    number: int
    value: int
    name: str
    codes: SegmentCodes | None = None
    algorithm_kind: str = ""
    algorithm_name: str = ""
    layer: int = 0


@dataclass
class DicomLabels:
    """What reading a DICOM-SEG (or RT structure set) gives.

    ``layers`` are label maps on one grid; segments that overlap are in different layers.
    ``probabilities`` maps a label value to its float32 soft map (FRACTIONAL SEGs only).
    """

    layers: list[LabelMap]
    segments: list[SegmentInfo]
    probabilities: dict[int, np.ndarray] = field(default_factory=dict)
    message: str = ""

    @property
    def label_map(self) -> LabelMap:
        return self.layers[0]

    def layer(self, number: int, path: str | Path = "") -> tuple[LabelMap, str]:
        """Label map ``number`` (from 1) and the message for the user."""
        if not 1 <= number <= len(self.layers):
            raise DicomObjectError(f"{path}: has {len(self.layers)} label map(s); there is no layer {number}")
        more = f"opened layer {number} of {len(self.layers)}" if len(self.layers) > 1 else ""
        return self.layers[number - 1], "; ".join(filter(None, [self.message, more]))

    def highest_probability(self) -> np.ndarray | None:
        """The highest probability of any segment at each voxel (None unless FRACTIONAL)."""
        maps = list(self.probabilities.values())
        if not maps:
            return None
        highest = maps[0].copy()
        for other in maps[1:]:
            np.maximum(highest, other, out=highest)
        return highest


def read_dicom_seg(path: str | Path, reference: ImageVolume | Geometry | None = None) -> DicomLabels:
    """Read a DICOM-SEG onto ``reference`` (the open image or its grid), or onto its own grid.

    With a volume read from DICOM whose instances the SEG references, frames are placed by
    SOP instance UID; otherwise by physical position (nearest neighbour). Segments that do
    not overlap are decoded together into one label map; otherwise (and for FRACTIONAL
    SEGs) one segment at a time, so memory stays a few volumes whatever the segment count.
    """
    import highdicom as hd  # noqa: PLC0415

    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as error:  # noqa: BLE001 - pydicom/highdicom raise many kinds
        raise DicomObjectError(f"{path}: cannot be read as a DICOM Segmentation ({_first_line(error)})") from None
    reader = _SegPixels(seg, path, reference)
    numbers = list(seg.segment_numbers)
    values = [_value_of(seg, number) for number in numbers]
    if len(set(values)) != len(values):  # two segments claim one value: use the numbers
        values = list(numbers)
    segments = [_segment_info(seg, number, value) for number, value in zip(numbers, values)]
    colours = [_colour_of(seg, number) for number in numbers]
    notes = reader.notes
    if not reader.fractional and numbers:
        try:
            combined = reader.pixels(numbers, combine=True)  # segment numbers, 0 = none
        except (ValueError, RuntimeError):  # the segments overlap
            pass
        else:
            masks = ((combined == number) for number in numbers)
            return labels_from_masks(masks, segments, colours, reader.grid, notes)
    probabilities: dict[int, np.ndarray] = {}

    def masks():
        for number, value in zip(numbers, values):
            plane = reader.pixels([number])
            if reader.fractional:
                probabilities[value] = plane
                yield plane >= PROBABILITY_THRESHOLD
            else:
                yield plane > 0

    read = labels_from_masks(masks(), segments, colours, reader.grid, notes, probabilities)
    if reader.fractional:
        read.message = "; ".join(filter(None, [read.message, (
            f"FRACTIONAL segmentation: labels where the probability is at least {PROBABILITY_THRESHOLD:g}; "
            "the probabilities are kept as a soft map")]))
    return read


class _SegPixels:
    """A SEG's segments on the target grid: from its own volume geometry, resampled onto
    ``reference`` by physical position (the identity for a SEG on the open series' planes);
    by SOP instance when its frames do not form a volume but reference the open series.

    The volume path is preferred: highdicom decodes it one segment at a time, while its
    by-instance path holds every segment of every frame at once (a byte per voxel and
    segment: gigabytes for a hundred organs on a large CT).
    """

    def __init__(self, seg, path: Path, reference: ImageVolume | Geometry | None) -> None:
        import highdicom as hd  # noqa: PLC0415

        self.seg, self.path = seg, path
        self.fractional = seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL
        self.target = reference.geometry if isinstance(reference, ImageVolume) else reference
        self.notes: list[str] = []
        self.source_uids: list[str] | None = None
        self.own_grid, self.reversed = None, False
        geometry = seg.get_volume_geometry()
        referenced = _matching_instances(seg, reference)
        if geometry is not None:
            self.own_grid, self.reversed = _along_normal(_geometry_of_volume(geometry))
        elif referenced is not None:
            self.source_uids = referenced
        else:
            raise DicomObjectError(f"{path}: its frames do not form a volume (uneven or missing plane "
                                   "positions); open the series it segments first")
        #: The grid every segment is returned on.
        self.grid = self.target or self.own_grid
        if referenced is None and self.target is not None and not self.own_grid.same_grid(self.target):
            self.notes.append("placed on the image by physical position (it does not reference the open "
                              "series' images)")

    def pixels(self, numbers: list[int], combine: bool = False) -> np.ndarray:
        """``(k, j, i)``: one segment (float32 when FRACTIONAL), or the combined numbers."""
        dtype = np.float32 if self.fractional else label_dtype_for(max(numbers))
        options = dict(segment_numbers=numbers, combine_segments=combine, dtype=dtype)
        if self.source_uids is not None:
            array = self.seg.get_pixels_by_source_instance(self.source_uids, assert_missing_frames_are_empty=True,
                                                           **options)
            return array if combine else array[..., 0]
        array = np.asarray(self.seg.get_volume(**options).array)
        array = array if combine or array.ndim == 3 else array[..., 0]
        if self.reversed:
            array = array[::-1]
        if not self.own_grid.same_grid(self.grid):
            array = _onto(np.ascontiguousarray(array), self.own_grid, self.grid, self.path, self.fractional)
        return np.ascontiguousarray(array)


def _matching_instances(seg, reference) -> list[str] | None:
    """The reference's SOP instance UIDs in slice order when the SEG references them."""
    if not isinstance(reference, ImageVolume) or reference.metadata.get("format") != "DICOM":
        return None
    try:
        source = source_series(reference)
    except SegviewerError:
        return None
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    uids = source.sop_instance_uids
    return uids if referenced & set(uids) else None


def _geometry_of_volume(volume) -> Geometry:
    """Our grid from a highdicom Volume (axes slice, row, column; affine in LPS mm)."""
    affine = np.asarray(volume.affine, dtype=np.float64)
    columns = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]  # i (column), j (row), k (slice)
    spacing = [float(np.linalg.norm(c)) for c in columns]
    direction = np.stack([c / s for c, s in zip(columns, spacing)], axis=1)
    rows, cols = volume.spatial_shape[1], volume.spatial_shape[2]
    return Geometry((cols, rows, volume.spatial_shape[0]), spacing, affine[:3, 3], direction)


def _along_normal(grid: Geometry) -> tuple[Geometry, bool]:
    """``grid`` with its slices ordered along the plane's normal (row x column), as a DICOM
    series is read, so a SEG on its own grid is oriented like its source series; and
    whether the slice axis was reversed for that."""
    direction = np.array(grid.direction)
    if np.dot(np.cross(direction[:, 0], direction[:, 1]), direction[:, 2]) >= 0:
        return grid, False
    last = grid.index_to_physical((0, 0, grid.size[2] - 1))
    direction[:, 2] *= -1
    return Geometry(grid.size, grid.spacing, last, direction), True


def _onto(array: np.ndarray, own: Geometry, reference: Geometry, path: Path, linear: bool) -> np.ndarray:
    """``array`` on ``own`` resampled onto ``reference`` by physical position (0 outside)."""
    refuse_no_overlap(own, reference, path, "segmentation")
    image = image_to_sitk(np.ascontiguousarray(array), own)
    resampled = sitk.Resample(image, reference.size, sitk.Transform(),
                              sitk.sitkLinear if linear else sitk.sitkNearestNeighbor,
                              reference.origin, reference.spacing,
                              tuple(float(v) for v in reference.direction.reshape(-1)), 0.0, image.GetPixelID())
    return array_from_sitk(resampled)


def labels_from_masks(masks: Iterable[np.ndarray], segments: list[SegmentInfo],
                      colours: list[tuple[int, int, int] | None], grid: Geometry, notes: list[str],
                      probabilities: dict[int, np.ndarray] | None = None) -> DicomLabels:
    """Segments (their masks on ``grid``) as label maps: each segment goes into the first
    layer it does not overlap (``segment.layer`` is set), so overlapping segments end up in
    separate label maps and none loses voxels. ``masks`` may be a generator: one mask is held
    at a time."""
    dtype = label_dtype_for(max((s.value for s in segments), default=1))
    layers: list[np.ndarray] = []
    for segment, mask in zip(segments, masks):
        index = next((n for n, layer in enumerate(layers) if not np.any(layer[mask])), len(layers))
        if index == len(layers):
            layers.append(np.zeros(grid.shape, dtype=dtype))
        layers[index][mask] = segment.value
        segment.layer = index
    if not layers:
        layers.append(np.zeros(grid.shape, dtype=dtype))
    tables = [LabelTable([LabelInfo(s.value, s.name, colour or default_colour(s.value))
                          for s, colour in zip(segments, colours) if s.layer == n]) for n in range(len(layers))]
    if len(layers) > 1:
        groups = "; ".join(f"layer {n + 1}: " + ", ".join(s.name for s in segments if s.layer == n)
                           for n in range(len(layers)))
        notes.insert(0, f"its segments overlap, so they are {len(layers)} label maps ({groups})")
    return DicomLabels([LabelMap(a, grid, t) for a, t in zip(layers, tables)], segments, probabilities or {},
                       "; ".join(notes))


def _value_of(seg, number: int) -> int:
    description = seg.get_segment_description(number)
    match = _TRACKING_ID.match(str(description.get("TrackingID", "") or ""))
    return int(match.group(1)) if match else int(number)


def _segment_info(seg, number: int, value: int) -> SegmentInfo:
    description = seg.get_segment_description(number)
    codes = None
    try:
        category, kind = description.segmented_property_category, description.segmented_property_type
        codes = SegmentCodes(Concept(category.scheme_designator, category.value, category.meaning),
                             Concept(kind.scheme_designator, kind.value, kind.meaning))
    except (AttributeError, IndexError, ValueError):
        pass
    algorithm = description.get("SegmentAlgorithmType", "")
    names = [item.get("AlgorithmName", "") for item in description.get("SegmentationAlgorithmIdentificationSequence", [])]
    name = str(description.get("SegmentLabel", "") or f"Segment {number}")
    return SegmentInfo(number, value, name, codes, str(algorithm).lower(), ", ".join(map(str, names)))


def _colour_of(seg, number: int) -> tuple[int, int, int] | None:
    import highdicom as hd  # noqa: PLC0415

    lab = seg.get_segment_description(number).get("RecommendedDisplayCIELabValue")
    if lab is None:
        return None
    try:
        return tuple(int(c) for c in hd.color.CIELabColor.from_dicom_value(list(lab)).to_rgb())
    except (ValueError, TypeError):
        return None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
