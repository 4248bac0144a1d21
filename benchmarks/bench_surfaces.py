"""Meshes and structure measurements (issue 19): ``python -m benchmarks.run --only surfaces``.

- Mesh export of a 256³ label map with three labels (``segviewer mesh``'s work: per-label
  flying edges, windowed-sinc smoothing, outward normals, world coordinates, an STL written
  atomically), beside a plain ``vtkDiscreteFlyingEdges3D`` and a plain ``vtkSurfaceNets3D``
  call on the same volume and labels, in the same run.
- Local thickness map of the spleen (distance ridge and spheres) beside SciPy's Euclidean
  distance transform alone on the same mask.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_views import _ct_like, _interleaved
from benchmarks.common import SHARED_DATA, Row

AREA = "surfaces"


def _vtk_image(labels: np.ndarray, spacing):
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    image = vtkImageData()
    image.SetDimensions(labels.shape[2], labels.shape[1], labels.shape[0])
    image.SetSpacing(*spacing)
    image.GetPointData().SetScalars(numpy_to_vtk(labels.reshape(-1), deep=False))
    return image


def _plain(filter_class, labels: np.ndarray, spacing, values) -> int:
    """One call of a bare VTK contouring filter over the whole volume: the peer."""
    contour = filter_class()
    contour.SetInputData(_vtk_image(labels, spacing))
    for index, value in enumerate(values):
        contour.SetValue(index, float(value))
    contour.Update()
    return contour.GetOutput().GetNumberOfCells()


def _mesh_rows(quick: bool) -> list[Row]:
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

    from segviewer.model.geometry import Geometry
    from segviewer.surfaces.mesh import MeshSettings, label_surfaces, write_mesh

    shape = (48, 48, 48) if quick else (256, 256, 256)
    _, labels = _ct_like(shape, np.random.default_rng(0))
    geometry = Geometry(shape[::-1], (0.8, 0.8, 2.0), (0.0, 0.0, 0.0))
    values = [1, 2, 3]
    repeat = 2 if quick else 5
    size = "×".join(map(str, shape[::-1]))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        peers = {"plain vtkDiscreteFlyingEdges3D": vtkDiscreteFlyingEdges3D, "plain vtkSurfaceNets3D": vtkSurfaceNets3D}
        for settings, what, peer_names in ((MeshSettings(), "smoothed (20 windowed-sinc iterations)", list(peers)),
                                           (MeshSettings(decimate=0.5), "smoothed, decimated 0.5", list(peers)[:1])):
            def export():
                surfaces = label_surfaces(labels, geometry, values, settings)
                write_mesh(Path(folder) / "mesh.stl", surfaces)

            for peer_name in peer_names:
                ours, peer, _ = _interleaved(
                    export, lambda: _plain(peers[peer_name], labels, geometry.spacing, values), repeat)
                rows.append(Row(AREA, f"mesh export {size}, 3 labels, {what}, STL written", ours, "s",
                                f"{peer_name}, same labels (one call, no file)", peer,
                                note="ours closes, orients and places each label's surface in mm"))
    return rows


def _thickness_rows(quick: bool) -> list[Row]:
    from scipy import ndimage

    from segviewer.io.labels import read_label_map
    from segviewer.measure.structures import local_thickness

    path = SHARED_DATA / "spleen_ct" / "spleen_ct_label.nii.gz"
    if not path.exists():
        return [Row(AREA, "thickness map of the spleen", float("nan"), "s", note=f"skipped: {path} is missing")]
    labels = read_label_map(path)[0]
    mask = labels.array == 1
    spacing = labels.geometry.spacing[::-1]
    repeat = 2 if quick else 7
    ours, edt, _ = _interleaved(lambda: local_thickness(labels.array, labels.geometry, 1),
                                lambda: ndimage.distance_transform_edt(mask, sampling=spacing), repeat)
    statistics_mm = local_thickness(labels.array, labels.geometry, 1).statistics
    return [Row(AREA, f"local thickness map of the spleen ({int(mask.sum())} voxels, 0.8×0.8×5 mm)", ours, "s",
                "scipy.ndimage.distance_transform_edt alone, same mask", edt,
                note=f"median {statistics_mm['median_mm']:.1f} mm, max {statistics_mm['maximum_mm']:.1f} mm, "
                     f"{statistics_mm['ridge_voxels']} ridge spheres")]


def run(quick: bool = False) -> list[Row]:
    return _mesh_rows(quick) + _thickness_rows(quick)
