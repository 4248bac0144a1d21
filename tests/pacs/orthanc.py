"""A real Orthanc server for tests and benchmarks: loopback only, a free port, its own storage.

Needs the Debian packages ``orthanc`` and ``orthanc-dicomweb`` (packaging/setup.sh installs
them). :func:`orthanc_available` says why not when they are missing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

ORTHANC = "Orthanc"
#: Where Debian's orthanc-dicomweb puts the plugin.
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT_S = 30.0


def orthanc_available() -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed, else why not."""
    if shutil.which(ORTHANC) is None:
        return "Orthanc is not installed (Debian package orthanc; packaging/setup.sh installs it)"
    if not DICOMWEB_PLUGIN.is_file():
        return f"{DICOMWEB_PLUGIN} is missing (Debian package orthanc-dicomweb)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OrthancServer:
    """``with OrthancServer(folder) as server:`` - ``server.dicomweb_url`` is its DICOMweb root.

    ``users`` ({name: password}) turns HTTP basic authentication on."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.port = free_port()
        self.users = users or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def configuration(self) -> dict:
        storage = self.folder / "storage"
        return {
            "Name": "segviewer-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": self.port, "HttpBindAddress": "127.0.0.1", "RemoteAccessAllowed": False,
            "DicomServerEnabled": False,  # no DIMSE port: HTTP on loopback only
            "AuthenticationEnabled": bool(self.users), "RegisteredUsers": self.users,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpTimeout": 60, "StorageCompression": False, "KeepAlive": True,
        }

    def start(self) -> "OrthancServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.configuration(), indent=1))
        log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen([ORTHANC, str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({self.process.returncode}): {self.log_tail()}")
            try:
                # any answer (401 too) means the HTTP server is up; the plugin loads before it
                requests.get(f"{self.url}/system", timeout=1)
                return self
            except requests.exceptions.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not start within {START_TIMEOUT_S:g} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join((self.folder / "orthanc.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "OrthancServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
