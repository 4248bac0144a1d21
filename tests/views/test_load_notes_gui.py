"""What loading found wrong reaches the status bar (issue 11): NaN voxels, a copied DICOM
slice. The GUI reads through the same loaders as the command line."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def test_non_finite_voxels_are_reported_on_opening(make_window, tmp_path):
    array = np.linspace(0, 100, 12 * 14 * 16, dtype=np.float32).reshape(12, 14, 16)
    array[3, 4, 5], array[6, 7, 8] = np.nan, np.inf
    path = tmp_path / "nan.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    window = make_window(path)
    message = window.statusBar().currentMessage()
    assert message.startswith("Opened nan.nrrd") and "2 voxels are NaN or infinite" in message
