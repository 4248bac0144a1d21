"""The case's measurements: made from the real computations, undoable, saved as JSON in mm
(complete or absent, never over an input) and exported as CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from segviewer.io.atomic import input_guard
from segviewer.io.images import read_image
from segviewer.io.labels import read_label_map
from segviewer.io.paths import WritePathError
from segviewer.measure import records
from segviewer.measure.instruments import MeasurementError
from segviewer.measure.records import Measurement, MeasurementList, measurements_path


@pytest.fixture(scope="module")
def spleen_measurements(spleen_paths):
    image = read_image(spleen_paths[0])
    labels = read_label_map(spleen_paths[1], image.geometry)[0]
    geometry = image.geometry
    a, b, c = (geometry.index_to_physical(p) for p in ((40, 50, 3), (120, 90, 20), (40, 140, 3)))
    made = [
        records.ruler(a, b, "across 17 slices"),
        records.angle(b, a, c),
        records.region(image.array, geometry, geometry.index_to_physical((90, 80, 12)), (10.0, 10.0, 0.0)),
        records.diameters(labels.array, geometry, 1, "spleen"),
    ]
    thickness, thickness_map = records.thickness(labels.array, geometry, 1)
    return made + [thickness], thickness_map, labels


def test_measurements_carry_their_values_points_and_facts(spleen_measurements):
    (ruler, angle, region, diameters, thickness), thickness_map, labels = spleen_measurements
    assert ruler.value == pytest.approx(np.linalg.norm(np.subtract(*ruler.points_mm))) and ruler.unit == "mm"
    assert 0 < angle.value < 180 and angle.unit == "deg"
    assert region.details["voxel_count"] > 100 and region.details["radii_ijk_mm"] == [10.0, 10.0, 0.0]
    assert diameters.value > diameters.details["short_axis_mm"] > 0 and len(diameters.points_mm) == 4
    assert thickness.value == pytest.approx(float(thickness_map[labels.array == 1].mean()), rel=1e-5)
    assert "across 17 slices: " in ruler.label()


def test_list_is_undoable_and_round_trips_through_json_and_csv(spleen_measurements, tmp_path):
    made = spleen_measurements[0]
    measurements = MeasurementList()
    for item in made:
        measurements.add(item)
    assert [m.id for m in measurements] == [1, 2, 3, 4, 5]
    measurements.remove(2)
    measurements.rename(1, "renamed")
    assert [m.id for m in measurements] == [1, 3, 4, 5] and measurements.get(1).name == "renamed"
    assert measurements.undo() and measurements.get(1).name == "across 17 slices"
    assert measurements.undo() and len(measurements) == 5
    assert measurements.redo() and len(measurements) == 4
    assert measurements.add(made[0]).id == 6  # ids are never reused

    path = measurements_path(tmp_path / "case.nii.gz")
    assert path.name == "case.measurements.json"
    measurements.save(path)
    data = json.loads(path.read_text())
    assert data["coordinates"] == "LPS mm" and len(data["measurements"]) == 5
    again = MeasurementList.load(path)
    assert list(again) == list(measurements)

    rows = list(csv.DictReader(io.StringIO(measurements.to_csv())))
    assert [row["kind"] for row in rows] == ["ruler", "region", "diameters", "thickness", "ruler"]
    assert float(rows[0]["value"]) == pytest.approx(measurements.get(1).value, rel=1e-5)
    assert rows[2]["unit"] == "mm" and rows[2]["quantity"] == "longest axial diameter"
    assert len(rows[2]["points_mm"].split(" ; ")) == 4


def test_files_never_overwrite_an_input_and_bad_files_are_one_line(spleen_paths, tmp_path):
    measurements = MeasurementList([Measurement("ruler", ((0, 0, 0), (3, 4, 0)), 5.0, id=1)])
    guard = input_guard(image=spleen_paths[0], labels=spleen_paths[1])
    before = spleen_paths[1].read_bytes()
    with pytest.raises(WritePathError, match="refusing to overwrite"):
        measurements.export_csv(spleen_paths[1], guard=guard)
    assert spleen_paths[1].read_bytes() == before
    broken = tmp_path / "broken.measurements.json"
    broken.write_text('{"format": "something else"}')
    with pytest.raises(MeasurementError, match="not a segviewer measurements file"):
        MeasurementList.load(broken)
    with pytest.raises(MeasurementError, match="a ruler has 2 points"):
        Measurement("ruler", ((0, 0, 0),), 1.0)
