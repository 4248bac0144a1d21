"""DICOM series for the PACS tests and benchmark, written with pydicom into a given folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def with_uids(source: Path, target: Path, patient_id: str = "SEGVIEWER-CT") -> list[Path]:
    """Copy the series in ``source`` to ``target`` with study, series and SOP instance UIDs.

    The shared CT series was anonymised down to empty UIDs, which a PACS refuses; the UIDs
    given here are derived from its file names (its media storage SOP UIDs), so they are the
    same on every run."""
    target.mkdir(parents=True, exist_ok=True)
    study = generate_uid(entropy_srcs=["segviewer test study", patient_id])
    series = generate_uid(entropy_srcs=["segviewer test series", patient_id])
    written = []
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        dataset = pydicom.dcmread(path)
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.PatientID, dataset.PatientName = patient_id, "Test^Segviewer"
        dataset.SeriesNumber = 1
        written.append(target / f"{dataset.SOPInstanceUID}.dcm")
        dataset.save_as(written[-1], enforce_file_format=True)
    return written


def synthetic_ct(folder: Path, slices: int = 300, size: int = 512, patient_id: str = "SEGVIEWER-BENCH") -> list[Path]:
    """A CT series of ``slices`` uncompressed ``size``x``size`` int16 images (a ball in noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    written = []
    for k in range(slices):
        radius2 = (size / 3) ** 2 - ((k - slices / 2) * size / slices) ** 2
        inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius2
        pixels = np.where(inside, 40, -1000).astype(np.int16) + rng.integers(-20, 20, (size, size), dtype=np.int16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientID, ds.PatientName, ds.StudyDate, ds.Modality = patient_id, "Bench^Segviewer", "20260101", "CT"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = pixels.tobytes()
        written.append(folder / f"{k:04d}.dcm")
        ds.save_as(written[-1], enforce_file_format=True)
    return written
