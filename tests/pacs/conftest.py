"""Fixtures for the DICOMweb tests: real Orthanc servers (open, and with a user), the shared CT
series with UIDs, and a keyring in a file of the test's own (keyrings.alt, chosen by name as a
user would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pacs.orthanc import OrthancServer, orthanc_available
from tests.pacs.series import with_uids

USER, PASSWORD = "annotator", "s3cret-Pass"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch) -> Path:
    """The app's download cache in a folder of each test's own."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "segviewer" / "pacs"


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """An Orthanc with DICOMweb on a free loopback port, no authentication."""
    reason = orthanc_available()
    if reason:
        pytest.skip(reason)
    with OrthancServer(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="session")
def orthanc_with_user(tmp_path_factory):
    """An Orthanc that wants HTTP basic authentication (``USER`` / ``PASSWORD``)."""
    reason = orthanc_available()
    if reason:
        pytest.skip(reason)
    with OrthancServer(tmp_path_factory.mktemp("orthanc_auth"), users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture(scope="session")
def ct_files(shared_data, tmp_path_factory) -> list[Path]:
    """The shared 512x512x20 CT series, with study/series/SOP UIDs (it was anonymised without)."""
    source = shared_data / "dicom" / "ct_chest_20slices"
    if not source.is_dir():
        pytest.skip(f"{source} is missing")
    return with_uids(source, tmp_path_factory.mktemp("ct_with_uids") / "ct")


@pytest.fixture
def file_keyring(tmp_path, monkeypatch) -> Path:
    """keyrings.alt's file backend, named in PYTHON_KEYRING_BACKEND, in this test's folder."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "python_keyring" / "keyring_pass.cfg"
