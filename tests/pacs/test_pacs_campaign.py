"""A campaign from a DICOMweb query, its finished work back on the server as DICOM-SEG
(real Orthanc; the campaign API of segviewer.app.campaign)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.campaign import DONE, IN_PROGRESS, Campaign, CampaignError
from segviewer.app.pacs_campaign import campaign_from_query, store_results
from segviewer.cli import main
from segviewer.io.dicom_seg import read_dicom_seg
from segviewer.io.dicomweb import DicomWebServer
from segviewer.io.images import read_image


def _labels_file(volume, path, box, value=1):
    array = np.zeros(volume.array.shape, dtype=np.uint8)
    array[box] = value
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(volume.geometry.spacing)
    image.SetOrigin(volume.geometry.origin)
    image.SetDirection(np.asarray(volume.geometry.direction).ravel().tolist())
    sitk.WriteImage(image, str(path))
    return array


def test_cases_from_a_query_and_finished_work_back_as_seg(orthanc, ct_files, tmp_path):
    server = DicomWebServer(orthanc.dicomweb_url)
    server.store(ct_files)
    campaign = campaign_from_query(tmp_path / "study", orthanc.dicomweb_url, patient="SEGVIEWER-CT", modality="CT")
    [case] = campaign.cases
    assert case.id.startswith("SEGVIEWER-CT_20221208_CT_") and "CT Body 3.0" in case.comment
    volume = read_image(case.image)
    assert np.array_equal(volume.array, read_image(ct_files[0].parent).array)
    reopened = Campaign.open(tmp_path / "study")
    assert reopened.manifest["source"] == {"kind": "dicomweb", "url": orthanc.dicomweb_url,
                                           "query": {"patient": "SEGVIEWER-CT", "modality": "CT"}}

    # two annotators: alice finishes, bob is still at work (his labels stay local)
    alice = _labels_file(volume, tmp_path / "alice.nii.gz", np.s_[5:9, 100:180, 200:260])
    _labels_file(volume, tmp_path / "bob.nii.gz", np.s_[2:4, 50:90, 50:90])
    campaign.import_layer(case.id, "alice", "labels", tmp_path / "alice.nii.gz", state=DONE)
    campaign.import_layer(case.id, "bob", "labels", tmp_path / "bob.nii.gz", state=IN_PROGRESS)
    [result] = store_results(campaign, orthanc.dicomweb_url)
    assert (result.case_id, result.annotator) == (case.id, "alice")

    [seg] = [e for e in server.search(modality="SEG") if e.series_uid in result.report.series_uids]
    assert seg.series_description == f"{case.id} by alice (done)"
    folder = server.retrieve_series(seg.study_uid, seg.series_uid, tmp_path / "seg")
    back = read_dicom_seg(next(folder.iterdir()), reference=volume)
    assert np.array_equal(back.label_map.array, alice)


def test_a_query_that_finds_nothing_makes_no_campaign(orthanc, tmp_path):
    with pytest.raises(CampaignError, match="the query matched no image series"):
        campaign_from_query(tmp_path / "study", orthanc.dicomweb_url, patient="NOBODY")
    assert not (tmp_path / "study").exists() or not (tmp_path / "study" / "campaign.json").exists()


def test_campaign_and_push_on_the_command_line(orthanc, ct_files, tmp_path, capsys):
    DicomWebServer(orthanc.dicomweb_url).store(ct_files)
    assert main(["pacs", "campaign", orthanc.dicomweb_url, str(tmp_path / "c"), "--patient", "SEGVIEWER-CT",
                 "--modality", "CT"]) == 0
    assert capsys.readouterr().out == f"made campaign {tmp_path / 'c'} with 1 case\n"
    assert main(["pacs", "push", orthanc.dicomweb_url, str(tmp_path / "c")]) == 0
    assert capsys.readouterr().err == "no finished labels to store\n"
