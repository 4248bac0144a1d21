"""The whole loop on a real Orthanc: upload the CT series, find it, retrieve it, segment it,
store the labels as DICOM-SEG, find and retrieve the SEG, and read back exactly the voxels."""

from __future__ import annotations

import numpy as np

from segviewer.io.dicom_seg import SegmentAlgorithm, read_dicom_seg
from segviewer.io.dicomweb import DicomWebServer
from segviewer.io.images import read_image
from segviewer.methods.base import CancelToken, no_progress
from segviewer.methods.registry import get_method
from segviewer.methods.request import build_request_from_arrays
from segviewer.methods.threshold import ThresholdParameters
from segviewer.model.labels import LabelMap, LabelTable


def test_upload_search_retrieve_segment_store_seg_and_read_it_back(orthanc, ct_files, tmp_path):
    server = DicomWebServer(orthanc.dicomweb_url)
    server.store(ct_files)
    [ct] = server.search(patient="SEGVIEWER-CT", modality="CT")
    volume = read_image(server.retrieve_series(ct.study_uid, ct.series_uid, tmp_path / "ct"))

    # segment: bone by a manual threshold (label 1) and air inside the body by Otsu below (label 2)
    method = get_method("threshold")
    labels = np.zeros(volume.array.shape, dtype=np.uint8)
    for value, params in ((1, ThresholdParameters(method="manual", lower=300, upper=3000)),
                          (2, ThresholdParameters(method="otsu", side="below"))):
        request = build_request_from_arrays(method, volume.array, volume.geometry, params=params, active_label=value)
        result = method.run(request, no_progress, CancelToken())
        labels[result.roi][(result.labels > 0) & (labels[result.roi] == 0)] = value
    table = LabelTable()
    table.add(1, "Bone")
    table.add(2, "Air")
    label_map = LabelMap(labels, volume.geometry, table)
    assert set(np.unique(labels)) == {0, 1, 2}

    report = server.store_segmentation(label_map, volume,
                                       algorithm=SegmentAlgorithm("semiautomatic", method="threshold"))
    assert report.stored == 1 and report.study_uids == (ct.study_uid,)

    [seg] = [e for e in server.search(patient="SEGVIEWER-CT", modality="SEG") if e.series_uid in report.series_uids]
    assert seg.study_uid == ct.study_uid and seg.instances == 1
    folder = server.retrieve_series(seg.study_uid, seg.series_uid, tmp_path / "seg")
    [seg_file] = list(folder.iterdir())
    back = read_dicom_seg(seg_file, reference=read_image(tmp_path / "ct"))
    assert np.array_equal(back.label_map.array, labels)
    assert {s.value: s.name for s in back.segments} == {1: "Bone", 2: "Air"}
    assert {s.algorithm_kind.lower() for s in back.segments} == {"semiautomatic"}
