"""Meshes of labels for simulation, 3D printing and planning.

Each label becomes ONE closed, manifold surface with its triangles oriented outward (normals
point out of the label; a cavity's wall points into the cavity), in physical millimetres:

1. the label's voxels, cropped to its bounding box and padded with one empty voxel so the
   surface closes at the image border, are contoured at 0.5 with ``vtkFlyingEdges3D`` (on a
   binary mask, flying edges gives a watertight, manifold surface; surface nets can join two
   voxels that touch only along an edge into a non-manifold edge);
2. ``vtkWindowedSincPolyDataFilter`` smooths it (a low-pass filter: it does not shrink the
   surface as Laplacian smoothing does, so the enclosed volume stays that of the voxels);
3. ``vtkQuadricDecimation`` with volume preservation removes a fraction of the triangles
   (``vtkDecimatePro`` with topology preserved when that left the surface open);
4. index coordinates are mapped to LPS (or RAS) mm by the image's origin, spacing and
   direction; the triangles are reversed when that map (or the flying-edges output) turns
   them inward.

The files say their coordinate system where the format allows: the STL header, an OBJ
comment, a PLY comment, a VTP field-data array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy import ndimage
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkIntArray, vtkPoints, vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import (vtkAppendPolyData, vtkDecimatePro, vtkFeatureEdges,
                                       vtkFlyingEdges3D, vtkPolyDataNormals, vtkQuadricDecimation,
                                       vtkWindowedSincPolyDataFilter)

from segviewer.errors import SegviewerError
from segviewer.io.atomic import OutputGuard, write_atomically
from segviewer.io.paths import check_write_suffix
from segviewer.model.geometry import Box, Geometry, bounding_box, grow_box
from segviewer.surfaces.vtk_images import vtk_image

#: File formats a mesh can be written to, by suffix.
MESH_SUFFIXES = (".stl", ".obj", ".ply", ".vtp")
#: Physical coordinate systems: ITK/DICOM's LPS, or RAS (3D Slicer, most CAD and printing tools).
WORLDS = ("lps", "ras")
#: Windowed-sinc pass band: low enough to remove the voxel staircase, high enough to keep shape.
PASS_BAND = 0.05


class MeshError(SegviewerError):
    """A mesh could not be made as asked (no such label, an empty label map)."""


@dataclass(frozen=True)
class MeshSettings:
    """How label surfaces are made.

    ``smoothing_iterations``: windowed-sinc iterations (0: the voxel surface as contoured);
    ``decimate``: fraction of the triangles removed, 0 <= decimate < 1;
    ``world``: ``"lps"`` or ``"ras"`` millimetres.
    """

    smoothing_iterations: int = 20
    decimate: float = 0.0
    world: str = "lps"

    def __post_init__(self) -> None:
        if self.smoothing_iterations < 0:
            raise MeshError(f"smoothing iterations must be 0 or more, got {self.smoothing_iterations}")
        if not 0 <= self.decimate < 1:
            raise MeshError(f"decimate is the fraction of triangles removed, from 0 to below 1; got {self.decimate}")
        if self.world not in WORLDS:
            raise MeshError(f"world must be one of {', '.join(WORLDS)}; got {self.world!r}")


@dataclass
class LabelSurface:
    """The surface of one label and what it should enclose."""

    value: int
    polydata: vtkPolyData
    voxel_volume_mm3: float

    @property
    def triangle_count(self) -> int:
        return int(self.polydata.GetNumberOfCells())

    def points(self) -> np.ndarray:
        return vtk_to_numpy(self.polydata.GetPoints().GetData())

    def triangles(self) -> np.ndarray:
        return vtk_to_numpy(self.polydata.GetPolys().GetConnectivityArray()).reshape(-1, 3)

    def enclosed_volume_mm3(self) -> float:
        """Signed volume by the divergence theorem: positive when the triangles face outward."""
        return signed_volume(self.points(), self.triangles())


def signed_volume(points: np.ndarray, triangles: np.ndarray) -> float:
    """Volume enclosed by a closed triangle mesh, positive when its triangles face outward."""
    p = np.asarray(points, dtype=np.float64)
    a, b, c = p[triangles[:, 0]], p[triangles[:, 1]], p[triangles[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def open_edge_count(polydata: vtkPolyData) -> int:
    """Boundary plus non-manifold edges (VTK's feature edges): 0 for a closed, manifold surface."""
    edges = vtkFeatureEdges()
    edges.SetInputData(polydata)
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    return int(edges.GetOutput().GetNumberOfCells())


def index_to_world(geometry: Geometry, world: str = "lps") -> np.ndarray:
    """4x4 matrix from voxel index (i, j, k) to LPS or RAS millimetres."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(geometry.direction) * np.asarray(geometry.spacing)[None, :]
    matrix[:3, 3] = geometry.origin
    if world == "ras":
        matrix[:2] *= -1  # x and y change sign between LPS and RAS
    return matrix


# == building =====================================================================================
def label_surface(labels: np.ndarray, geometry: Geometry, value: int,
                  settings: MeshSettings = MeshSettings(), box: Box | None = None) -> LabelSurface | None:
    """The closed surface of label ``value`` (None when it has no voxels); ``box`` (array
    order), when known, bounds the label and spares a scan of the whole volume."""
    if box is None:
        box = bounding_box(labels == value)
        if box is None:
            return None
    box = grow_box(box, (1, 1, 1), labels.shape)
    start = np.array([s.start for s in box])  # (k, j, i)
    mask = labels[box] == value
    # One empty voxel on every side, also at the image border, so the surface closes.
    crop = np.pad(mask, 1).astype(np.uint8)
    surface = _contour(crop)
    surface = _smoothed(surface, settings.smoothing_iterations)
    surface = _decimated(surface, settings.decimate)
    offset = start[::-1] - 1  # crop index (i, j, k) -> image index
    polydata = _in_world(surface, offset, index_to_world(geometry, settings.world))
    return LabelSurface(int(value), polydata, float(mask.sum()) * geometry.voxel_volume_mm3)


def label_surfaces(labels: np.ndarray, geometry: Geometry, values: Iterable[int] | None = None,
                   settings: MeshSettings = MeshSettings(),
                   progress: Callable[[float, str], None] | None = None,
                   cancel=None) -> list[LabelSurface]:
    """Surfaces of ``values`` (every label present when None), one per label, in value order.

    ``progress(fraction, text)`` is told after each label; ``cancel.raise_if_cancelled()``
    (a :class:`segviewer.methods.base.CancelToken`) is asked between labels.
    """
    boxes = ndimage.find_objects(labels)  # one pass: every label's box (index value - 1)
    present = [number + 1 for number, box in enumerate(boxes) if box is not None]
    if values is None:
        values = present
    values = sorted({int(v) for v in values})
    missing = [v for v in values if v not in present]
    if missing:
        raise MeshError("label " + ", ".join(map(str, missing)) + " has no voxels; present: "
                        + (", ".join(map(str, present)) or "none"))
    if not values:
        raise MeshError("the label map is empty (every voxel is 0): there is no surface to make")
    surfaces = []
    for number, value in enumerate(values):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(number / len(values), f"surface of label {value}")
        surfaces.append(label_surface(labels, geometry, value, settings, boxes[value - 1]))
    if progress is not None:
        progress(1.0, "surfaces made")
    return surfaces


def _contour(crop: np.ndarray) -> vtkPolyData:
    contour = vtkFlyingEdges3D()
    contour.SetInputData(vtk_image(crop))
    contour.SetValue(0, 0.5)
    contour.ComputeNormalsOff()
    contour.ComputeGradientsOff()
    contour.ComputeScalarsOff()
    contour.Update()
    return contour.GetOutput()


def _smoothed(surface: vtkPolyData, iterations: int) -> vtkPolyData:
    if iterations <= 0:
        return surface
    smoother = vtkWindowedSincPolyDataFilter()
    smoother.SetInputData(surface)
    smoother.SetNumberOfIterations(int(iterations))
    smoother.SetPassBand(PASS_BAND)
    smoother.NormalizeCoordinatesOn()  # the pass band then means the same for any label size
    smoother.BoundarySmoothingOff()
    smoother.FeatureEdgeSmoothingOff()
    smoother.NonManifoldSmoothingOn()
    smoother.Update()
    return smoother.GetOutput()


def _decimated(surface: vtkPolyData, fraction: float) -> vtkPolyData:
    if fraction <= 0:
        return surface
    quadric = vtkQuadricDecimation()
    quadric.SetInputData(surface)
    quadric.SetTargetReduction(float(fraction))
    quadric.VolumePreservationOn()
    quadric.Update()
    if open_edge_count(quadric.GetOutput()) == 0:
        return quadric.GetOutput()
    # Quadric decimation may collapse a thin part into a non-manifold edge; this one cannot.
    pro = vtkDecimatePro()
    pro.SetInputData(surface)
    pro.SetTargetReduction(float(fraction))
    pro.PreserveTopologyOn()
    pro.SplittingOff()
    pro.BoundaryVertexDeletionOff()
    pro.Update()
    return pro.GetOutput()


def _in_world(surface: vtkPolyData, offset_ijk: np.ndarray, matrix: np.ndarray) -> vtkPolyData:
    """``surface`` (crop index space) in world mm, triangles facing outward, with normals."""
    points = vtk_to_numpy(surface.GetPoints().GetData()).astype(np.float64) + offset_ijk
    triangles = vtk_to_numpy(surface.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    world = points @ matrix[:3, :3].T + matrix[:3, 3]
    if signed_volume(world, triangles) < 0:
        triangles = triangles[:, ::-1]
    result = vtkPolyData()
    result.SetPoints(_vtk_points(world))
    result.SetPolys(_triangle_cells(triangles))
    normals = vtkPolyDataNormals()
    normals.SetInputData(result)
    normals.ComputePointNormalsOn()
    normals.ComputeCellNormalsOff()
    normals.SplittingOff()  # sharp edges split would open the surface
    normals.ConsistencyOff()  # already consistent; re-ordering could turn a cavity's wall
    normals.AutoOrientNormalsOff()
    normals.Update()
    return normals.GetOutput()


def _vtk_points(points: np.ndarray) -> vtkPoints:
    result = vtkPoints()
    result.SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    return result


def _triangle_cells(triangles: np.ndarray) -> vtkCellArray:
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(triangles, dtype=np.int64).reshape(-1), deep=True))
    return cells


# == writing ======================================================================================
def coordinate_note(world: str, values: Sequence[int]) -> str:
    """The line a file carries about its content (an STL header holds 80 characters)."""
    return f"segviewer labels {','.join(map(str, values))}; {world.upper()} mm"


def combined(surfaces: Sequence[LabelSurface], world: str) -> vtkPolyData:
    """All ``surfaces`` in one polydata: a ``Label`` cell array tells them apart, and field data
    names the coordinate system."""
    append = vtkAppendPolyData()
    for surface in surfaces:
        labelled = vtkPolyData()
        labelled.ShallowCopy(surface.polydata)
        label = vtkIntArray()
        label.SetName("Label")
        label.SetNumberOfTuples(surface.triangle_count)
        label.Fill(surface.value)
        labelled.GetCellData().AddArray(label)
        append.AddInputData(labelled)
    append.Update()
    output = append.GetOutput()
    for name, text in (("CoordinateSystem", world.upper()), ("Units", "mm")):
        field = vtkStringArray()
        field.SetName(name)
        field.InsertNextValue(text)
        output.GetFieldData().AddArray(field)
    return output


def mesh_suffix(path: str | Path) -> str:
    """The mesh format of ``path`` (refused when not one of :data:`MESH_SUFFIXES`)."""
    return check_write_suffix(path, MESH_SUFFIXES, "a mesh")


def write_mesh(target: str | Path, surfaces: Sequence[LabelSurface], world: str = "lps", *,
               guard: OutputGuard | Iterable[str | Path | None] | None = None) -> Path:
    """Write ``surfaces`` to one file (format by suffix), complete or absent."""
    suffix = mesh_suffix(target)
    polydata = combined(surfaces, world)
    note = coordinate_note(world, [s.value for s in surfaces])

    def write(path: Path) -> None:
        writer = _writer(suffix, note)
        writer.SetFileName(str(path))
        writer.SetInputData(polydata)
        if not writer.Write():
            raise OSError(f"VTK could not write {suffix[1:].upper()}")
        if suffix == ".obj":  # the OBJ writer has no comment of its own
            text = path.read_text(encoding="utf-8", errors="replace")
            path.write_text(f"# {note}\n{text}", encoding="utf-8")

    return write_atomically(target, write, guard=guard, what="the mesh")


def _writer(suffix: str, note: str):
    if suffix == ".stl":
        from vtkmodules.vtkIOGeometry import vtkSTLWriter

        writer = vtkSTLWriter()
        writer.SetFileTypeToBinary()
        writer.SetHeader(note[:79])
    elif suffix == ".obj":
        from vtkmodules.vtkIOGeometry import vtkOBJWriter

        writer = vtkOBJWriter()
    elif suffix == ".ply":
        from vtkmodules.vtkIOPLY import vtkPLYWriter

        writer = vtkPLYWriter()
        writer.SetFileTypeToBinary()
        writer.AddComment(note)
    else:
        from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

        writer = vtkXMLPolyDataWriter()
        writer.SetDataModeToAppended()
        writer.SetCompressorTypeToZLib()
    return writer
