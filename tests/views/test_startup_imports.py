"""The window starts without loading what only some menu entries need (start-up time)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_window_module_leaves_dicom_objects_and_meshes_for_later():
    script = ("import json, sys\n"
              "import segviewer.views.main_window\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert not {"highdicom", "pydicom", "segviewer.surfaces.mesh", "dask", "dicomweb_client", "torch"} & loaded
