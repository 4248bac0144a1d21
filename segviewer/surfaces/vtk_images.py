"""NumPy volumes as VTK images, sharing their buffer (no Qt).

One place builds the ``vtkImageData`` that VTK's filters read: the live surfaces, the exported
meshes and the 3D view's volume rendering all start from an array in array order (k, j, i).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData


def vtk_image(array: np.ndarray, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> vtkImageData:
    """``array`` (k, j, i) as a ``vtkImageData`` (x = i) with ``spacing`` and ``origin`` in x, y,
    z order. The image shares the array's buffer, and holds the array so the buffer outlives
    the caller's reference."""
    array = np.ascontiguousarray(array)
    image = vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    image.SetSpacing(*(float(s) for s in spacing))
    image.SetOrigin(*(float(o) for o in origin))
    image.GetPointData().SetScalars(numpy_to_vtk(array.reshape(-1), deep=False))
    image.keep_alive = array
    return image
