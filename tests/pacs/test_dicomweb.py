"""DICOMweb against a real Orthanc: store, search, retrieve; servers that are down, stuck,
failing or refusing; credentials in the keyring; nothing half-written on any failure."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import keyring
import numpy as np
import pytest

from segviewer.io import dicomweb
from segviewer.io.dicomweb import (Credentials, CredentialStoreError, DicomWebServer, PacsCancelled, PacsError,
                                   load_credentials, save_credentials)
from segviewer.io.images import read_image
from segviewer.io.paths import WritePathError
from tests.pacs.conftest import PASSWORD, USER
from tests.pacs.faulty import FaultyServer
from tests.pacs.orthanc import free_port


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _only_entry(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def stored_ct(orthanc, ct_files):
    """The CT series on the server; returns the search entry for it."""
    report = DicomWebServer(orthanc.dicomweb_url).store(ct_files)
    assert report.stored == len(ct_files) == 20
    [entry] = DicomWebServer(orthanc.dicomweb_url).search(patient="SEGVIEWER-CT")
    return entry


def test_stored_series_is_found_by_patient_date_and_modality(orthanc, stored_ct):
    server = DicomWebServer(orthanc.dicomweb_url)
    assert stored_ct.instances == 20 and stored_ct.modality == "CT" and stored_ct.study_date == "20221208"
    assert stored_ct.series_description == "CT Body 3.0"
    for filters in ({"patient": "SEGVIEWER-CT"}, {"study_date": "2022-12-08"}, {"study_date": "20221201-20221231"},
                    {"modality": "ct"}, {"patient": "SEGVIEWER-CT", "study_date": "20221208", "modality": "CT"}):
        assert stored_ct.path in [e.path for e in server.search(**filters)], filters
    for filters in ({"patient": "SOMEONE-ELSE"}, {"study_date": "19990101"}, {"modality": "MR"},
                    {"patient": "SEGVIEWER-CT", "modality": "MR"}):
        assert stored_ct.path not in [e.path for e in server.search(**filters)], filters


def test_a_bad_study_date_is_refused_before_asking_the_server():
    with pytest.raises(PacsError, match="study date '8.12.2022'"):
        DicomWebServer("http://127.0.0.1:9/dicom-web").search(study_date="8.12.2022")


def test_retrieved_series_reads_as_the_same_volume_as_the_files_sent(orthanc, stored_ct, ct_files, tmp_path):
    seen = []
    folder = DicomWebServer(orthanc.dicomweb_url).retrieve_series(
        stored_ct.study_uid, stored_ct.series_uid, tmp_path / "ct", progress=lambda f, t: seen.append((f, t)))
    assert len(list(folder.iterdir())) == 20
    assert seen[0] == (0.0, "0 of 20 images") and seen[-1] == (1.0, "20 of 20 images")
    # as stored: the very bytes sent (JPEG 2000 stays JPEG 2000, nothing transcoded)
    assert _digests(folder) == _digests(ct_files[0].parent)
    here, there = read_image(ct_files[0].parent), read_image(folder)
    assert np.array_equal(here.array, there.array)
    assert np.allclose(here.geometry.origin, there.geometry.origin)
    assert np.allclose(here.geometry.spacing, there.geometry.spacing)


def test_cancelled_retrieval_leaves_no_folder_and_no_temporary(orthanc, stored_ct, tmp_path):
    count = [0]

    def cancelled() -> bool:
        count[0] += 1
        return count[0] > 5

    with pytest.raises(PacsCancelled, match="nothing was written"):
        DicomWebServer(orthanc.dicomweb_url).retrieve_series(stored_ct.study_uid, stored_ct.series_uid,
                                                             tmp_path / "ct", cancelled=cancelled)
    assert _only_entry(tmp_path) == []


def test_retrieval_into_a_folder_with_files_is_refused_and_the_files_kept(orthanc, stored_ct, tmp_path):
    (tmp_path / "ct").mkdir()
    (tmp_path / "ct" / "mine.txt").write_text("keep me")
    with pytest.raises(WritePathError, match="ct: already exists; give a new or empty folder for the series"):
        DicomWebServer(orthanc.dicomweb_url).retrieve_series(stored_ct.study_uid, stored_ct.series_uid, tmp_path / "ct")
    assert _only_entry(tmp_path / "ct") == ["mine.txt"] and (tmp_path / "ct" / "mine.txt").read_text() == "keep me"
    # an empty folder is filled
    (tmp_path / "empty").mkdir()
    DicomWebServer(orthanc.dicomweb_url).retrieve_series(stored_ct.study_uid, stored_ct.series_uid, tmp_path / "empty")
    assert len(_only_entry(tmp_path / "empty")) == 20


def test_an_unknown_series_is_named(orthanc, tmp_path):
    with pytest.raises(PacsError, match="has no series 1.2.3/4.5.6"):
        DicomWebServer(orthanc.dicomweb_url).retrieve_series("1.2.3", "4.5.6", tmp_path / "x")
    assert _only_entry(tmp_path) == []


def test_files_without_uids_are_refused_with_the_file_named(orthanc, shared_data):
    anonymised = sorted((shared_data / "dicom" / "ct_chest_20slices").iterdir())[0]
    with pytest.raises(PacsError, match=f"{anonymised.name}: has no StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID"):
        DicomWebServer(orthanc.dicomweb_url).store([anonymised])


def test_a_file_that_is_not_dicom_is_refused_before_sending(orthanc, tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(PacsError, match="notes.txt: not a DICOM file"):
        DicomWebServer(orthanc.dicomweb_url).store([tmp_path / "notes.txt"])


# -- servers that are down, stuck, failing ---------------------------------------------------
def test_a_server_that_is_down_is_one_line_and_nothing_is_written(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(PacsError, match="cannot connect while looking up the series .connection refused.; is the server running"):
        DicomWebServer(url).retrieve_series("1.2", "3.4", tmp_path / "ct")
    with pytest.raises(PacsError, match="cannot connect while searching"):
        DicomWebServer(url).search()
    assert _only_entry(tmp_path) == []


def test_a_stuck_server_times_out_with_a_clear_line(tmp_path, ct_files):
    with FaultyServer("silent") as stuck:
        started = time.perf_counter()
        with pytest.raises(PacsError, match=r"no answer within 0.5 s while searching; the server is slow or stuck"):
            DicomWebServer(stuck.url, timeout_s=0.5).search()
        assert time.perf_counter() - started < 5
        with pytest.raises(PacsError, match="no answer within 0.5 s while looking up the series"):
            DicomWebServer(stuck.url, timeout_s=0.5).retrieve_series("1.2", "3.4", tmp_path / "ct")
    assert _only_entry(tmp_path) == []


def test_a_failing_server_is_one_line_and_the_files_sent_are_untouched(tmp_path, ct_files):
    before = _digests(ct_files[0].parent)
    with FaultyServer("500") as failing:
        with pytest.raises(PacsError, match=r"the server failed while storing \(HTTP 500\)"):
            DicomWebServer(failing.url).store(ct_files)
        with pytest.raises(PacsError, match=r"the server failed while searching \(HTTP 500\)"):
            DicomWebServer(failing.url).search()
        assert failing.requests == 2  # no silent retries
    assert _digests(ct_files[0].parent) == before


def test_a_page_that_is_not_dicomweb_is_named(orthanc):
    with pytest.raises(PacsError, match="not found while searching .HTTP 404.; is this the DICOMweb root"):
        DicomWebServer(orthanc.url + "/no-such-root").search()


# -- credentials -----------------------------------------------------------------------------
def test_without_credentials_a_protected_server_says_how_to_log_in(orthanc_with_user, file_keyring):
    with pytest.raises(PacsError, match=rf"refused access while searching \(HTTP 401\); store the right "
                                        rf"credentials with: segviewer pacs login {orthanc_with_user.dicomweb_url}"):
        DicomWebServer(orthanc_with_user.dicomweb_url).search()


def test_credentials_kept_in_the_keyring_open_a_protected_server(orthanc_with_user, file_keyring, tmp_path):
    url = orthanc_with_user.dicomweb_url
    save_credentials(url + "/", Credentials("basic", "wrong", USER))
    with pytest.raises(PacsError, match="HTTP 401"):
        DicomWebServer(url).search()
    save_credentials(url, Credentials("basic", PASSWORD, USER))
    assert load_credentials(url) == Credentials("basic", PASSWORD, USER)
    assert DicomWebServer(url).search() == []  # answered: an empty server
    assert PASSWORD not in repr(load_credentials(url))
    # the secret is in the keyring's store, not in segviewer's settings
    dicomweb.save_server("mine", url)
    settings = [p for p in dicomweb.servers_path().parent.rglob("*") if p.is_file()]
    assert settings and not any(PASSWORD in p.read_text() for p in settings)
    assert file_keyring.is_file()


def test_a_bearer_token_is_sent_as_authorization(orthanc_with_user, file_keyring):
    save_credentials(orthanc_with_user.dicomweb_url, Credentials("bearer", "not-a-valid-token"))
    server = DicomWebServer(orthanc_with_user.dicomweb_url)
    assert server._client._session.headers["Authorization"] == "Bearer not-a-valid-token"
    with pytest.raises(PacsError, match="HTTP 401"):  # Orthanc knows no tokens: refused, clearly
        server.search()


def test_a_machine_without_a_keyring_gets_a_clear_message(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(CredentialStoreError, match="no secure keyring is available .* nothing was stored"):
        save_credentials("http://127.0.0.1:8042/dicom-web", Credentials("basic", "x", "me"))
    assert load_credentials("http://127.0.0.1:8042/dicom-web") is None


def test_a_plain_text_keyring_is_never_picked_without_being_named(monkeypatch, tmp_path):
    from keyrings.alt.file import PlaintextKeyring

    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())  # what keyring picks on a headless machine with keyrings.alt
    try:
        with pytest.raises(CredentialStoreError, match="no secure keyring"):
            save_credentials("http://127.0.0.1:8042/dicom-web", Credentials("basic", "x", "me"))
    finally:
        keyring.set_keyring(previous)
    assert not any(tmp_path.rglob("*.cfg"))


def test_saved_servers_are_names_and_addresses():
    assert dicomweb.saved_servers() == []
    dicomweb.save_server("main", "http://pacs.example.org/dicom-web/")
    dicomweb.save_server("other", "https://other.example.org/dicom-web")
    assert dicomweb.resolve_server("main") == "http://pacs.example.org/dicom-web"
    assert dicomweb.resolve_server("http://x.example.org/dw") == "http://x.example.org/dw"
    assert dicomweb.remove_server("main") and not dicomweb.remove_server("main")
    assert [s.name for s in dicomweb.saved_servers()] == ["other"]
    with pytest.raises(PacsError, match="not a DICOMweb address"):
        dicomweb.save_server("bad", "ftp://x")


def test_the_download_cache_reuses_a_complete_series_and_never_replaces_one(orthanc, stored_ct, private_cache):
    server = DicomWebServer(orthanc.dicomweb_url)
    first = server.retrieve_to_cache(stored_ct.study_uid, stored_ct.series_uid)
    assert first == private_cache / stored_ct.series_uid and len(list(first.iterdir())) == 20
    seen = []
    assert server.retrieve_to_cache(stored_ct.study_uid, stored_ct.series_uid,
                                    progress=lambda f, t: seen.append(t)) == first
    assert seen == ["20 images, downloaded before"]
    # a folder that no longer matches the series (one file gone) is left alone: a new one is made
    removed = sorted(first.iterdir())[0]
    removed.unlink()
    second = server.retrieve_to_cache(stored_ct.study_uid, stored_ct.series_uid)
    assert second != first and second.name.startswith(stored_ct.series_uid + "~")
    assert len(list(second.iterdir())) == 20 and len(list(first.iterdir())) == 19


def test_a_server_that_dies_in_the_middle_of_a_download_leaves_nothing(tmp_path):
    from tests.pacs.orthanc import OrthancServer
    from tests.pacs.series import synthetic_ct

    files = synthetic_ct(tmp_path / "big", slices=40, patient_id="SEGVIEWER-DIES")
    with OrthancServer(tmp_path / "orthanc") as dying:
        server = DicomWebServer(dying.dicomweb_url)
        server.store(files)
        [entry] = server.search(patient="SEGVIEWER-DIES")

        def progress(fraction, text):
            if text.startswith("2 of"):
                dying.process.kill()  # the server dies with most of the series still unsent
                dying.process.wait()

        with pytest.raises(PacsError, match=r"the answer ended after \d+ of the series' 40 images \(did the "
                                            r"server stop\?\); nothing was written") as raised:
            server.retrieve_series(entry.study_uid, entry.series_uid, tmp_path / "series", progress=progress)
    assert "\n" not in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "orthanc"]
