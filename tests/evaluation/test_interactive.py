"""The interactive benchmark: a simulated user corrects a toy method until it is right."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage

from segviewer.cli import main
from segviewer.evaluation import interactive as I
from segviewer.methods.base import (
    Method,
    MethodResult,
)
from segviewer.model.parameters import param
from segviewer.methods.registry import register, registered_methods


@dataclass
class NearestParameters:
    model: str = param("", "unused; lets the CLI's --model be tested")


class NearestScribbleMethod(Method):
    """Every voxel takes the class of the nearest scribbled voxel (a toy that honours scribbles)."""

    name = "test-nearest-scribble"
    title = "Nearest scribble (test)"
    Parameters = NearestParameters
    requires = frozenset({"scribbles"})

    def run(self, request, progress, cancel):
        annotated = request.scribbles != request.unannotated
        _, (k, j, i) = ndimage.distance_transform_edt(~annotated, sampling=request.spacing_zyx,
                                                      return_indices=True)
        labels = request.scribbles[k, j, i].astype(np.uint8)
        return MethodResult(request.roi, labels)


if NearestScribbleMethod.name not in registered_methods():
    register(NearestScribbleMethod)


def test_noc():
    assert I.noc([0.5, 0.86, 0.95], 0.85) == (2, True)
    assert I.noc([0.5, 0.6], 0.9, cap=20) == (20, False)
    assert I.noc([0.91], 0.9) == (1, True)


def test_corrections_improve_the_dice(shared_data):
    from segviewer.evaluation.cases import find_cases, read_case

    case = [c for c in find_cases(shared_data / "hippocampus") if c.name == "hippocampus_001"][0]
    image, reference = read_case(case)
    run = I.run_case(NearestScribbleMethod(), image.array, image.geometry, reference, case=case.name,
                     max_interactions=8)
    curve = [r.dice for r in run.rounds]
    assert len(curve) == 8
    assert curve[-1] > curve[0] + 0.05
    assert all(r.correction is not None for r in run.rounds[1:])
    data = run.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["noc"]["85"] <= 8 or not data["reached"]["85"]


def test_bench_interactive_cli(shared_data, tmp_path, capsys):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["hippocampus_001"],
                                 "validation": ["hippocampus_003", "hippocampus_004"]}))
    out = tmp_path / "bench.json"
    code = main(["bench", "interactive", "--method", NearestScribbleMethod.name, "--model", "m.pt",
                 "--cases", str(shared_data / "hippocampus"), "--split", str(split), "--limit", "1",
                 "--max-interactions", "3", "--json", str(out), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "hippocampus_003" in table and "mean" in table and "hippocampus_004" not in table
    data = json.loads(out.read_text())
    assert data["model"] == "m.pt" and data["parameters"]["model"] == "m.pt"
    assert data["summary"]["cases"] == 1 and len(data["cases"][0]["rounds"]) == 3
    # a single image/label pair (the spleen folder layout) works too
    assert main(["bench", "interactive", "--method", NearestScribbleMethod.name, "--cases",
                 str(shared_data / "spleen_ct"), "--max-interactions", "1", "--quiet"]) == 0
    assert "spleen_ct" in capsys.readouterr().out


def test_bench_rejects_unknown_method(shared_data, capsys):
    code = main(["bench", "interactive", "--method", "no-such-method", "--cases", str(shared_data / "spleen_ct")])
    assert code != 0 and "unknown method" in capsys.readouterr().err


def test_bench_json_writes_auto_parameters_as_null(shared_data, tmp_path, capsys):
    """Region growing's "auto" bounds are NaN; the JSON report must still be written."""
    out = tmp_path / "bench.json"
    code = main(["bench", "interactive", "--method", "region_growing", "--cases", str(shared_data / "spleen_ct"),
                 "--max-interactions", "1", "--json", str(out), "--quiet"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["parameters"]["lower"] is None and data["summary"]["cases"] == 1


def test_bench_styles_reports_dice_per_style(shared_data, tmp_path, capsys):
    """``--styles`` runs the same cases in each style and prints the first-round Dice per
    style and the spread; a style the user draws worse in scores lower."""
    out = tmp_path / "styles.json"
    code = main(["bench", "interactive", "--method", "graphcut", "--cases", str(shared_data / "spleen_ct"),
                 "--styles", "default,one-slice,partial-background", "--json", str(out), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "one-slice" in table and "partial-background" in table and "spread" in table
    data = json.loads(out.read_text())
    assert data["max_interactions"] == 1  # first round only, unless asked
    firsts = {name: entry["summary"]["first_dice"] for name, entry in data["styles"].items()}
    assert set(firsts) == {"default", "one-slice", "partial-background"}
    assert len({round(v, 6) for v in firsts.values()}) == 3  # the styles really differ
    assert data["first_dice_spread"] == pytest.approx(max(firsts.values()) - min(firsts.values()))


def test_bench_refuses_an_unknown_style(shared_data, capsys):
    code = main(["bench", "interactive", "--method", "graphcut", "--cases", str(shared_data / "spleen_ct"),
                 "--styles", "default,sloppy"])
    assert code == 2 and "unknown style 'sloppy'" in capsys.readouterr().err


def test_box_and_clicks_protocol_on_the_spleen(shared_data):
    """A box, then corrective clicks: the clicks raise the Dice, and the scores add up."""
    from segviewer.evaluation.cases import find_cases, read_case
    from segviewer.methods.registry import get_method

    image, reference = read_case(find_cases(shared_data / "spleen_ct")[0])
    run = I.run_box_protocol(get_method("graphcut"), image.array, image.geometry, reference, case="spleen")
    curve = [r.dice for r in run.rounds]
    assert len(curve) == I.PROTOCOL_CLICKS + 1
    assert curve[0] >= 0.85 and run.final_dice >= 0.92 and run.final_dice > curve[0] + 0.03
    assert min(curve) <= run.dsc_auc <= max(curve)
    assert 0.8 <= run.final_nsd <= 1.0
    assert all(r.correction and "click_mm" in r.correction for r in run.rounds[1:])


def test_bench_box_protocol_cli(shared_data, tmp_path, capsys):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": ["hippocampus_003"]}))
    out = tmp_path / "protocol.json"
    code = main(["bench", "interactive", "--method", "graphcut", "--cases", str(shared_data / "hippocampus"),
                 "--split", str(split), "--protocol", "box+5clicks", "--json", str(out), "--quiet"])
    assert code == 0
    table = capsys.readouterr().out
    assert "DSC-AUC" in table and "NSD@2mm" in table and "hippocampus_003" in table
    data = json.loads(out.read_text())
    assert data["protocol"] == "box+5clicks" and 0 < data["summary"]["dsc_auc"] <= 1
    assert data["summary"]["final_dice"] >= data["cases"][0]["first_dice"] - 0.02
    assert main(["bench", "interactive", "--method", "graphcut", "--cases", str(shared_data / "hippocampus"),
                 "--split", str(split), "--protocol", "box+5clicks", "--styles", "all"]) == 2
    assert "--styles is for the scribble protocol" in capsys.readouterr().err
    assert main(["bench", "interactive", "--method", "watershed", "--cases", str(shared_data / "hippocampus"),
                 "--split", str(split), "--protocol", "box+5clicks", "--quiet"]) == 1  # recorded, not a crash
    assert "takes no box" in capsys.readouterr().out
