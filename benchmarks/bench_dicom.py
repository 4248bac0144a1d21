"""DICOM-SEG figures: writing and reading a SEG with segviewer (highdicom underneath) beside
dcmqi (``itkimage2segimage`` / ``segimage2itkimage``, the C++ tools of the field) on the same
series and labels in the same run; RT structure set export and import times beside our own
SEG's (no RTSTRUCT peer is installed here: plastimatch and rt-utils are not).

Data: the CT series ct_chest_20slices (512×512×20) with the multi-organ model output placed
on it (31 labels, stored y-flipped). The series is de-identified without UIDs, which dcmqi
refuses ("Missing value"), so both tools read one copy of it whose data sets carry the UIDs
segviewer derives (``source_series``). Times are medians; dcmqi's include its process start.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED_DATA, Row

AREA = "dicom"


def dcmqi_tool(name: str) -> str | None:
    """A dcmqi program: beside this Python (pip's wheel puts it in the environment's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _series_with_uids(folder: Path) -> Path:
    """A copy of the CT series whose data sets carry the UIDs segviewer derives."""
    import pydicom

    from segviewer.io.dicom_seg import complete_source_uids

    files = sorted(p for p in (SHARED_DATA / "dicom" / "ct_chest_20slices").iterdir() if p.is_file())
    datasets = [pydicom.dcmread(p) for p in files]
    complete_source_uids(datasets)
    folder.mkdir(parents=True, exist_ok=True)
    for path, dataset in zip(files, datasets):
        dataset.save_as(folder / (path.name + ".dcm"), enforce_file_format=True)
    return folder


def _dcmqi_meta(label_map) -> dict:
    tissue = {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Tissue"}
    segments = [{"labelID": value, "SegmentDescription": label_map.table.name_of(value),
                 "SegmentAlgorithmType": "MANUAL", "SegmentedPropertyCategoryCodeSequence": tissue,
                 "SegmentedPropertyTypeCodeSequence": tissue,
                 "recommendedDisplayRGBValue": list(label_map.table.colour_of(value))}
                for value in label_map.present_values()]
    return {"ContentCreatorName": "bench", "ClinicalTrialSeriesID": "1", "ClinicalTrialTimePointID": "1",
            "SeriesDescription": "Segmentation", "SeriesNumber": "300", "InstanceNumber": "1",
            "ContentLabel": "SEG", "ContentDescription": "bench", "BodyPartExamined": "",
            "segmentAttributes": [segments]}


def run(quick: bool) -> list[Row]:
    labels_file = SHARED_DATA / "dicom" / "ct_chest_20slices_seg_model_output.nii.gz"
    if not labels_file.exists():
        return []
    from segviewer.io.dicom import read_dicom_series
    from segviewer.io.dicom_seg import read_dicom_seg, write_dicom_seg
    from segviewer.io.labels import read_label_map, write_label_map
    from segviewer.io.rtstruct import read_rtstruct, write_rtstruct

    repeats = 1 if quick else 5
    work = Path(tempfile.mkdtemp(prefix="segviewer-bench-dicom-"))
    try:
        series_folder = _series_with_uids(work / "series")
        volume = read_dicom_series(series_folder)
        label_map, _ = read_label_map(labels_file, volume.geometry)
        ours_seg, ours_rt = work / "ours_seg.dcm", work / "ours_rt.dcm"
        write_seg = _median_seconds(lambda: write_dicom_seg(ours_seg, label_map, volume), repeats)
        read_seg = _median_seconds(lambda: read_dicom_seg(ours_seg, volume), repeats)
        write_rt = _median_seconds(lambda: write_rtstruct(ours_rt, label_map, volume), repeats)
        read_rt = _median_seconds(lambda: read_rtstruct(ours_rt, volume.geometry), repeats)
        segments = len(label_map.present_values())
        size = "x".join(map(str, volume.geometry.size))
        to_dcmqi, from_dcmqi = dcmqi_tool("itkimage2segimage"), dcmqi_tool("segimage2itkimage")
        write_base = read_base = None
        if to_dcmqi and from_dcmqi:
            nifti = work / "labels.nii.gz"
            write_label_map(nifti, label_map, volume.geometry, write_table=False)
            meta = work / "meta.json"
            meta.write_text(json.dumps(_dcmqi_meta(label_map)))
            theirs = work / "dcmqi_seg.dcm"
            write_base = _median_seconds(lambda: subprocess.run(
                [to_dcmqi, "--inputImageList", str(nifti), "--inputDICOMDirectory", str(series_folder),
                 "--outputDICOM", str(theirs), "--inputMetadata", str(meta)], check=True, capture_output=True),
                repeats)
            out = work / "dcmqi_out"

            def dcmqi_read() -> None:
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                subprocess.run([from_dcmqi, "--inputDICOM", str(ours_seg), "--outputDirectory", str(out),
                                "--outputType", "nifti"], check=True, capture_output=True)

            read_base = _median_seconds(dcmqi_read, repeats)
        note = f"CT {size}, {segments} segments (model output), median of {repeats}"
        missing = "" if write_base is not None else "; dcmqi not installed (pip install dcmqi)"
        return [
            Row(AREA, "write DICOM-SEG (binary)", write_seg, "s", "dcmqi itkimage2segimage", write_base,
                note=note + missing),
            Row(AREA, "read DICOM-SEG onto the series", read_seg, "s", "dcmqi segimage2itkimage", read_base,
                note=note + missing),
            Row(AREA, "write RT structure set", write_rt, "s", "our DICOM-SEG write", write_seg,
                note=note + "; no RTSTRUCT peer installed (plastimatch, rt-utils)"),
            Row(AREA, "read RT structure set onto the series", read_rt, "s", "our DICOM-SEG read", read_seg,
                note=note),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
