"""A label's local thickness painted on its surface in the 3D view, with a colour bar.

The label's surface (the 3D view's actor, in scaled index space) takes each vertex's value
from the thickness map at the nearest voxel of the label (:func:`surface_values`, made on the
worker with the map); a colour bar gives the scale in mm. The colouring is dropped when the labels change (the map no longer fits them) or when
:meth:`ThicknessOn3D.clear` is called.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segviewer.model.geometry import bounding_box, grow_box

#: Colour scale: dark blue (thin) to yellow (thick), as the slice views' heat map reads.
COLOURS = ((0.0, (0.05, 0.03, 0.35)), (0.5, (0.80, 0.25, 0.35)), (1.0, (0.99, 0.95, 0.35)))


def surface_values(thickness_mm: np.ndarray) -> np.ndarray:
    """The thickness map with each voxel just outside the label given its nearest inside
    voxel's value (the surface runs between voxels), within two voxels of the label."""
    filled = np.zeros_like(thickness_mm)
    inside = thickness_mm > 0
    box = bounding_box(inside)
    if box is None:
        return filled
    box = grow_box(box, (2, 2, 2), thickness_mm.shape)
    nearest = ndimage.distance_transform_edt(~inside[box], return_distances=False, return_indices=True)
    filled[box] = thickness_mm[box][tuple(nearest)]
    return filled


class ThicknessOn3D:
    """Colours one label's surface of a :class:`~segviewer.views.view3d.View3D` by thickness."""

    def __init__(self, view3d) -> None:
        self.view3d = view3d
        self.label: int | None = None
        self.bar = None
        self._plain = None  # the surface as it was, put back by clear()
        view3d.controller.labels_changed.connect(lambda _box: self.clear())

    @property
    def scene(self):
        return self.view3d.scene

    def show(self, label: int, values_mm: np.ndarray, high: float) -> bool:
        """Paint label ``label``'s surface with ``values_mm`` (:func:`surface_values` of its
        thickness map); False when the 3D view has no surface of it."""
        from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
        from vtkmodules.vtkCommonDataModel import vtkPolyData
        from vtkmodules.vtkRenderingCore import vtkColorTransferFunction

        self.clear()
        actor = self.scene.label_actors.get(label) if self.scene is not None else None
        if actor is None:
            return False
        surface = actor.GetMapper().GetInput()
        spacing = np.asarray(self.scene.geometry.spacing)
        ijk = np.rint(vtk_to_numpy(surface.GetPoints().GetData()) / spacing).astype(int)
        ijk = np.clip(ijk, 0, np.asarray(values_mm.shape[::-1]) - 1)
        values = numpy_to_vtk(values_mm[ijk[:, 2], ijk[:, 1], ijk[:, 0]].astype(np.float32), deep=True)
        values.SetName("thickness_mm")
        coloured = vtkPolyData()
        coloured.ShallowCopy(surface)
        coloured.GetPointData().SetScalars(values)
        colours = vtkColorTransferFunction()
        for fraction, rgb in COLOURS:
            colours.AddRGBPoint(fraction * high, *rgb)
        mapper = actor.GetMapper()
        mapper.SetInputData(coloured)
        mapper.SetLookupTable(colours)
        mapper.SetScalarRange(0.0, high)
        mapper.ScalarVisibilityOn()
        self.bar = self._colour_bar(colours)
        self.scene.renderer.AddViewProp(self.bar)
        self.label, self._plain = label, surface
        self.view3d.request_render()
        return True

    @staticmethod
    def _colour_bar(colours):
        from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor

        bar = vtkScalarBarActor()
        bar.SetLookupTable(colours)
        bar.SetTitle("thickness (mm)")
        bar.SetNumberOfLabels(5)
        bar.SetLabelFormat("%.0f")
        bar.SetPosition(0.88, 0.1)
        bar.SetWidth(0.1)
        bar.SetHeight(0.8)
        return bar

    def clear(self) -> None:
        if self.scene is None:
            return
        if self.bar is not None:
            self.scene.renderer.RemoveViewProp(self.bar)
            self.bar = None
        actor = self.scene.label_actors.get(self.label) if self.label is not None else None
        if actor is not None and self._plain is not None:
            actor.GetMapper().SetInputData(self._plain)
            actor.GetMapper().ScalarVisibilityOff()
        self.label, self._plain = None, None
        self.view3d.request_render()
