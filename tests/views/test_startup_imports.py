"""The window starts without loading what only some menu entries need (start-up time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_window_leaves_dicom_objects_pacs_clients_and_meshes_for_later(tmp_path):
    script = ("import json, sys\n"
              "from segviewer.views.app import create_application\n"
              "from segviewer.views.main_window import MainWindow\n"
              "app = create_application([])\n"
              "window = MainWindow()\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    environment = {**os.environ, "SEGVIEWER_SETTINGS": str(tmp_path / "settings.ini")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=environment)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert not {"highdicom", "pydicom", "requests", "segviewer.surfaces.mesh", "dask", "dicomweb_client",
                "torch", "scipy.spatial"} & loaded


def test_opening_a_nifti_label_map_does_not_load_pydicom(tmp_path):
    """Every label map is checked for being a DICOM-SEG / RT structure set; only a file with
    DICOM's magic bytes loads pydicom to look further."""
    script = ("import sys\n"
              "import numpy as np, SimpleITK as sitk\n"
              "from segviewer.io.labels import read_label_map\n"
              "path = sys.argv[1]\n"
              "sitk.WriteImage(sitk.GetImageFromArray(np.ones((3, 4, 5), np.uint8)), path)\n"
              "read_label_map(path)\n"
              "print('pydicom' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "mask.nii.gz")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"
