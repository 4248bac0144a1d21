"""The 3D view's live label surfaces: one ``vtkSurfaceNets3D`` pass over an edited region,
split per label, in scaled index space (:func:`world_matrix` maps it to LPS mm).

Runs on a worker thread (VTK's filters release the GIL); no Qt. Exported meshes, which must be
closed and manifold per label, come from :mod:`segviewer.surfaces.mesh` instead.
"""

from __future__ import annotations

import numpy as np

from segviewer.model.geometry import Box, box_size, grow_box, union_box


def surface_nets(crop: np.ndarray, values, start_kji, spacing, shape=None, smoothing: bool = True,
                 iterations: int = 16) -> dict[int, tuple]:
    """Surfaces of the labels ``values`` in ``crop`` (array order, first voxel at array index
    ``start_kji``) from ONE ``vtkSurfaceNets3D`` pass, split per label.

    Coordinates are scaled index space (index * spacing); :func:`world_matrix` maps them to
    LPS mm. Returns ``{value: (polydata, box)}`` where ``box`` (array order, clipped to
    ``shape``) bounds the label with a one-voxel margin, or ``(None, None)`` when the label
    has no voxels. Each label's polydata shares the pass's points and normals.
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    from segviewer.surfaces.vtk_images import vtk_image

    values = [int(v) for v in values]
    shape = shape or tuple(s + n for s, n in zip(start_kji, crop.shape))
    image = vtk_image(crop, spacing, (start_kji[2] * spacing[0], start_kji[1] * spacing[1],
                                      start_kji[0] * spacing[2]))
    nets = vtkSurfaceNets3D()
    nets.SetInputData(image)
    for index, value in enumerate(values):
        nets.SetValue(index, float(value))
    nets.SetSmoothing(bool(smoothing))
    nets.SetNumberOfIterations(int(iterations))
    nets.SetOutputMeshTypeToTriangles()
    nets.Update()
    output = nets.GetOutput()
    results: dict[int, tuple] = {value: (None, None) for value in values}
    if output.GetNumberOfCells() == 0:
        return results
    points_vtk = output.GetPoints()
    points = vtk_to_numpy(points_vtk.GetData())
    triangles = vtk_to_numpy(output.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    sides = vtk_to_numpy(output.GetCellData().GetArray("BoundaryLabels"))
    normals = numpy_to_vtk(vertex_normals(points, triangles), deep=True)
    normals.SetName("Normals")
    scale = np.asarray(spacing, dtype=np.float64)
    points_t = np.ascontiguousarray(points.T)  # per-axis rows: fast min/max
    for value in values:
        chosen = triangles[(sides[:, 0] == value) | (sides[:, 1] == value)]
        if not len(chosen):
            continue
        cells = vtkCellArray()
        offsets = np.arange(0, 3 * len(chosen) + 1, 3, dtype=np.int64)
        cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                      numpy_to_vtkIdTypeArray(chosen.reshape(-1).astype(np.int64), deep=True))
        polydata = vtkPolyData()
        polydata.SetPoints(points_vtk)
        polydata.SetPolys(cells)
        polydata.GetPointData().SetNormals(normals)
        corners = chosen.reshape(-1)
        low = np.array([points_t[axis][corners].min() for axis in range(3)])
        high = np.array([points_t[axis][corners].max() for axis in range(3)])
        low = np.floor(low / scale).astype(int) - 1  # (i, j, k)
        high = np.ceil(high / scale).astype(int) + 2
        box = tuple(slice(max(0, int(low[c])), min(int(shape[2 - c]), int(high[c]))) for c in (2, 1, 0))
        results[value] = (polydata, box)
    del image  # the output does not reference the input buffer
    return results


def vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (float32), summed with bincount (no Python loop)."""
    p0, p1, p2 = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    a, b = p1 - p0, p2 - p0
    faces = (a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
             a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
             a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    corners = triangles.T.reshape(-1)  # every triangle's three corners, corner-major
    count = len(points)
    normals = np.empty((count, 3), dtype=np.float32)
    for axis in range(3):
        normals[:, axis] = np.bincount(corners, weights=np.tile(faces[axis], 3), minlength=count)
    length = np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
    normals /= np.where(length > 0, length, 1.0)
    return normals


def world_matrix(geometry) -> np.ndarray:
    """4x4 matrix from scaled index space (index * spacing) to LPS millimetres."""
    matrix = np.eye(4)
    matrix[:3, :3] = geometry.direction
    matrix[:3, 3] = geometry.origin
    return matrix


def boxes_intersect(a: Box, b: Box) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b))


def rebuild_surfaces(labels: np.ndarray, dirty: Box, known: dict[int, Box], spacing,
                     smoothing: bool = True, only: set[int] | None = None,
                     candidates: set[int] | None = None) -> dict[int, tuple]:
    """Surfaces of the labels touched by an edit in ``dirty``.

    A label is rebuilt when it is present in ``dirty`` now, or its known box (``known`` maps
    each label with a surface to a box containing it) meets ``dirty``, or it is in ``only``.
    For a large ``dirty`` region (a loaded or replaced label map), ``candidates`` (e.g. the
    label table's values) stand in for scanning it. All affected labels come from one surface
    pass over the union of ``dirty`` and their known boxes. Returns ``{value: (polydata or
    None, box or None)}`` (None: the label is gone). Runs on a worker thread.
    """
    dirty = tuple(slice(int(s.start), int(s.stop)) for s in dirty)
    if candidates is not None and int(np.prod(box_size(dirty))) > labels.size // 8:
        affected = {int(v) for v in candidates if v}
    else:
        crop = labels[dirty]
        counts = np.bincount(crop.reshape(-1)) if crop.size else np.zeros(1, np.int64)
        affected = {int(v) for v in np.flatnonzero(counts) if v}
    affected |= {v for v, box in known.items() if boxes_intersect(box, dirty)}
    affected |= set(only or ())
    if not affected:
        return {}
    search = dirty
    for value in affected:
        search = union_box(search, known.get(value))
    search = grow_box(search, (1, 1, 1), labels.shape)
    return surface_nets(labels[search], sorted(affected), [s.start for s in search], spacing,
                        labels.shape, smoothing)
