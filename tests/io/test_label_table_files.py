"""ITK-SNAP label description files, Slicer colour tables and the JSON sidecar."""

from __future__ import annotations

import json

import pytest

from segviewer.io.label_table import (LabelTableError, find_label_table, format_label_description,
                                     parse_label_description, read_label_table, table_from_json,
                                     write_label_table)
from segviewer.model.labels import LabelTable

ITKSNAP_TEXT = """\
################################################
# ITK-SnAP Label Description File
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255    0    0        1  1  1    "Label 1"
    2     0  255    0      0.5  1  1    "Left hippocampus"
   17   128   64   32        1  0  0    "White matter, "quoted""
"""


def test_parse_itksnap_file():
    table = parse_label_description(ITKSNAP_TEXT)
    assert table.values == [1, 2, 17]
    assert table[2].name == "Left hippocampus" and table[2].opacity == 0.5
    assert table[17].colour == (128, 64, 32) and table[17].visible is False
    assert table[17].name == 'White matter, "quoted"'


def test_itksnap_round_trip(tmp_path):
    table = LabelTable()
    table.add(1, "Liver", (221, 130, 101))
    table.add(300, "Tumour 300", (1, 2, 3))
    table.update(300, visible=False, opacity=0.25)
    path = tmp_path / "labels.txt"
    write_label_table(path, table)
    text = path.read_text()
    assert text.startswith("################################################\n# ITK-SnAP Label Description File")
    assert '"Clear Label"' in text
    back = read_label_table(path)
    assert [(e.value, e.name, e.colour, e.visible, e.opacity) for e in back] == [
        (1, "Liver", (221, 130, 101), True, 1.0), (300, "Tumour 300", (1, 2, 3), False, 0.25)]


def test_slicer_colour_table():
    text = "# Color table file\n0 Background 0 0 0 0\n1 left_lung 128 174 128 255\n2 heart 241 214 145 128\n"
    table = parse_label_description(text)
    assert table[1].name == "left lung" and table[1].colour == (128, 174, 128)
    assert table[2].opacity == pytest.approx(128 / 255)


@pytest.mark.parametrize("line, problem", [
    ('1 255 0 0 1 1 1 Label 1', "line 1: not a label line"),
    ('1 300 0 0 1 1 1 "Too red"', "colour components"),
    ('1 255 0 0 3 1 1 "Too opaque"', "opacity"),
    ('70000 255 0 0 1 1 1 "Too big"', "exceeds 65534"),
])
def test_bad_itksnap_lines(line, problem):
    with pytest.raises(LabelTableError, match=problem):
        parse_label_description(line)


def test_json_forms():
    assert table_from_json({"1": "Spleen", "2": "Liver"}).name_of(2) == "Liver"
    nnunet = table_from_json({"labels": {"background": 0, "spleen": 1, "ignore": 2}})
    assert nnunet.values == [1] and nnunet.name_of(1) == "spleen"
    full = table_from_json([{"value": 4, "name": "Four", "colour": [1, 2, 3]}])
    assert full[4].colour == (1, 2, 3)
    with pytest.raises(LabelTableError, match="newer segviewer"):
        table_from_json({"version": 99, "labels": []})
    with pytest.raises(LabelTableError, match="not a label table"):
        table_from_json({"labels": [{"name": "no value"}]})
    with pytest.raises(LabelTableError, match="outside 1..65534"):
        table_from_json([{"value": 70000}])


def test_json_round_trip_and_discovery(tmp_path):
    table = LabelTable()
    table.add(3, "Kidney", (5, 6, 7))
    table.update(3, locked=True)
    mask = tmp_path / "case.nii.gz"
    sidecar = tmp_path / "case.labels.json"
    write_label_table(sidecar, table)
    assert json.loads(sidecar.read_text())["labels"][0]["locked"] is True
    assert find_label_table(mask) == sidecar
    assert read_label_table(sidecar)[3].locked is True
    sidecar.unlink()
    (tmp_path / "case.label").write_text(format_label_description(table))
    assert find_label_table(mask) == tmp_path / "case.label"


def test_unreadable_json(tmp_path):
    path = tmp_path / "broken.labels.json"
    path.write_text("{not json")
    with pytest.raises(LabelTableError, match="not valid JSON"):
        read_label_table(path)
