"""``segviewer pacs`` against a real Orthanc: put, search, get, login; one line and exit 2 on
every failure, and nothing half-written."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from segviewer.cli import main
from segviewer.io.images import read_image
from tests.pacs.conftest import PASSWORD, USER
from tests.pacs.orthanc import free_port


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["pacs", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_put_search_get_on_the_command_line(orthanc, ct_files, tmp_path, capsys):
    code, out, _ = _run(capsys, "put", orthanc.dicomweb_url, ct_files[0].parent)
    assert code == 0 and out.startswith("stored 20 files in study ")
    code, out, _ = _run(capsys, "search", orthanc.dicomweb_url, "--patient", "SEGVIEWER-CT", "--modality", "CT",
                        "--study-date", "20221208")
    assert code == 0 and len(out.splitlines()) == 1 and "20 images  'CT Body 3.0'" in out
    series_path = out.split()[-1]
    code, out, _ = _run(capsys, "search", orthanc.dicomweb_url, "--patient", "SEGVIEWER-CT", "--json")
    [entry] = json.loads(out)
    assert entry["path"] == series_path and entry["instances"] == 20 and entry["modality"] == "CT"
    code, out, err = _run(capsys, "get", orthanc.dicomweb_url, series_path, "-o", tmp_path / "ct")
    assert code == 0 and out == f"wrote the series to {tmp_path / 'ct'}\n" and "100% 20 of 20 images" in err
    assert np.array_equal(read_image(tmp_path / "ct").array, read_image(ct_files[0].parent).array)
    # a saved server's name works wherever an address does
    assert _run(capsys, "servers", "--add", "local", orthanc.dicomweb_url)[0] == 0
    code, out, _ = _run(capsys, "search", "local", "--patient", "SEGVIEWER-CT")
    assert code == 0 and out.split()[-1] == series_path
    assert _run(capsys, "servers")[1] == f"local\t{orthanc.dicomweb_url}\n"


@pytest.mark.parametrize("argv, message", [
    (["search", "http://127.0.0.1:{port}/dicom-web"], "cannot connect while searching (connection refused)"),
    (["get", "http://127.0.0.1:{port}/dicom-web", "1.2/3.4", "-o", "{tmp}/ct"], "cannot connect while looking up the series"),
    (["get", "http://127.0.0.1:{port}/dicom-web", "not-a-series", "-o", "{tmp}/ct"], "give the series as STUDY_UID/SERIES_UID"),
    (["search", "pacs.example.org"], "not a DICOMweb address"),
    (["search", "http://127.0.0.1:{port}/dicom-web", "--study-date", "yesterday"], "study date 'yesterday'"),
    (["put", "http://127.0.0.1:{port}/dicom-web", "{tmp}/missing.dcm"], "missing.dcm: no such file or folder"),
    (["servers", "--remove", "nothing"], "no saved server named 'nothing'"),
])
def test_failures_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    argv = [a.format(port=free_port(), tmp=tmp_path) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("segviewer: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_login_keeps_the_password_in_the_keyring_and_opens_a_protected_server(orthanc_with_user, file_keyring,
                                                                             monkeypatch, capsys):
    url = orthanc_with_user.dicomweb_url
    code, _, err = _run(capsys, "search", url)
    assert code == 2 and "(HTTP 401); store the right credentials with: segviewer pacs login" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))  # not a terminal: the first line
    assert _run(capsys, "login", url, "--user", USER) == (0, f"credentials for {url} kept in the keyring\n", "")
    assert file_keyring.is_file()
    assert _run(capsys, "search", url) == (0, "", "no series found\n")
    assert _run(capsys, "logout", url) == (0, f"credentials for {url} removed\n", "")
    assert _run(capsys, "search", url)[0] == 2


def test_login_without_a_keyring_says_so_and_stores_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    code, out, err = _run(capsys, "login", "http://127.0.0.1:8042/dicom-web", "--user", "me")
    assert code == 2 and out == ""
    assert err.startswith("segviewer: error: no secure keyring is available") and err.count("\n") == 1
    assert list(tmp_path.rglob("*.*")) == []


def test_a_de_identified_series_sent_with_derived_uids_matches_a_seg_written_on_it(orthanc, shared_data, tmp_path,
                                                                                    capsys):
    import hashlib

    from segviewer.io.dicom_seg import write_dicom_seg
    from segviewer.io.dicomweb import DicomWebServer
    from segviewer.model.labels import LabelMap

    source = shared_data / "dicom" / "ct_chest_20slices"  # no study/series/SOP UIDs in the data sets
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.iterdir()}
    code, _, err = _run(capsys, "put", orthanc.dicomweb_url, source)
    assert code == 2 and "has no StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID" in err and "--derive-uids" in err
    code, out, err = _run(capsys, "put", orthanc.dicomweb_url, source, "--derive-uids")
    assert code == 0 and out.startswith("stored 20 files in study ") and "segviewer: note: the source series has no" in err
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in source.iterdir()} == before

    volume = read_image(source)  # a SEG written locally, on the files as they are
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    labels[4:6, 100:140, 100:140] = 1
    write_dicom_seg(tmp_path / "seg.dcm", LabelMap(labels, volume.geometry), volume)
    code, out, _ = _run(capsys, "put", orthanc.dicomweb_url, tmp_path / "seg.dcm")
    assert code == 0
    study = out.split()[-1]
    in_study = [e for e in DicomWebServer(orthanc.dicomweb_url).search(modality="CT") if e.study_uid == study]
    assert [e.instances for e in in_study] == [20]  # the SEG sits in the study of the series it segments
