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
                "torch"} & loaded
