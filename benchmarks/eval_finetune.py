"""Quality of scribble fine-tuning: hippocampus (normal and corrupted) and spleen CT from scratch.

    python -m benchmarks.eval_finetune [--cases N] [--subset validation|train] [--model M] [--out FILE]
                                       [--spleen] [--scratch-hippocampus N]

For each case: the model alone, our fine-tuning from simulated 3-slice scribbles
(:func:`segviewer.evaluation.simulate.simulate_scribbles`), and the naive recipe the issue
describes (all weights, Adam 1e-3, 60 steps, partial cross-entropy only) — Dice and HD95 per
label and the CPU seconds each took. Corrupted cases: contrast inverted and a strong smooth
multiplicative bias field (x0.4 to x2.5 across the crop, from low-frequency random noise —
not a polynomial, so it is not the adapter's own model class).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from benchmarks.common import PROJECT_ROOT, SHARED_DATA
from segviewer.evaluation import metrics
from segviewer.evaluation.simulate import simulate_scribbles
from segviewer.io.images import read_image
from segviewer.methods.base import CancelToken, MethodRequest, no_progress
from segviewer.methods.deep.finetune import FinetuneMethod, FinetuneParameters
from segviewer.methods.deep.inference import UNetMethod, UNetParameters
from segviewer.model.geometry import full_box


def corrupt(image: np.ndarray, seed: int = 0, strength: float = 2.5) -> np.ndarray:
    """Invert the contrast and multiply by a smooth random bias field (1/strength .. strength)."""
    rng = np.random.default_rng(seed)
    data = image.astype(np.float32)
    inverted = float(data.max()) + float(data.min()) - data
    coarse = rng.normal(size=(3, 3, 3))
    field = ndimage.zoom(coarse, [n / 3 for n in data.shape], order=3)[: data.shape[0], : data.shape[1], : data.shape[2]]
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6) * 2 - 1
    return (inverted * np.exp(np.log(strength) * field)).astype(np.float32)


def score(pred, ref, geometry, labels) -> dict:
    out = {}
    for v in labels:
        out[f"dice_{v}"] = metrics.dice(pred, ref, label=v)
        out[f"hd95_{v}"] = metrics.hd95(pred, ref, spacing=geometry, label=v)
    out["dice_mean"] = float(np.mean([out[f"dice_{v}"] for v in labels]))
    return out


def naive_finetune(model_path, image, geometry, scribbles, steps=60, lr=1e-3):
    """The issue's naive recipe: every weight, Adam, partial CE on scribbled voxels only."""
    import torch

    from segviewer.methods.deep.models import load_model
    from segviewer.methods.deep.preprocess import normalize

    loaded = load_model(model_path)
    net = copy.deepcopy(loaded.network)
    x = normalize(image, loaded.card.normalization)
    roi = loaded.card.roi_size
    sizes = [max(r, -(-n // 8) * 8) for n, r in zip(x.shape, roi)]  # the UNet needs multiples of 8
    pads = [((p - n) // 2, p - n - (p - n) // 2) for n, p in zip(x.shape, sizes)]
    xt = torch.as_tensor(np.pad(x, pads))[None, None]
    target = np.full(scribbles.shape, -1, np.int64)
    for c, v in enumerate(loaded.card.class_values):
        target[scribbles == v] = c
    tt = torch.as_tensor(np.pad(target, pads, constant_values=-1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(net(xt), tt[None], ignore_index=-1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = net(xt)[0].argmax(0).numpy()
    crop = tuple(slice(a, a + n) for (a, _), n in zip(pads, x.shape))
    return np.asarray(loaded.card.class_values, np.uint8)[out[crop]]


def run_hippocampus(cases, model, corrupted: bool, params: FinetuneParameters, naive: bool = True) -> list[dict]:
    rows = []
    for case in cases:
        image = read_image(SHARED_DATA / "hippocampus" / "imagesTr" / f"{case}.nii.gz")
        ref = read_image(SHARED_DATA / "hippocampus" / "labelsTr" / f"{case}.nii.gz").array
        array = corrupt(image.array, seed=int(case.split("_")[-1])) if corrupted else image.array
        scribbles = simulate_scribbles(ref, image.geometry, slices=3, seed=0)
        labels = [1, 2]
        request = MethodRequest(image=array, geometry=image.geometry, roi=full_box(array.shape),
                                params=UNetParameters(model=model), label_values=labels)
        t = time.process_time()
        alone = UNetMethod().run(request, no_progress, CancelToken())
        alone_cpu = time.process_time() - t
        request = MethodRequest(image=array, geometry=image.geometry, roi=full_box(array.shape),
                                params=copy.replace(params, model=model) if hasattr(copy, "replace")
                                else FinetuneParameters(**{**params.__dict__, "model": model}),
                                scribbles=scribbles, unannotated=255, label_values=labels)
        t = time.process_time()
        tuned = FinetuneMethod().run(request, no_progress, CancelToken())
        tuned_cpu = time.process_time() - t
        row = {"case": case, "corrupted": corrupted,
               "alone": score(alone.labels, ref, image.geometry, labels), "alone_cpu_s": alone_cpu,
               "ours": score(tuned.labels, ref, image.geometry, labels), "ours_cpu_s": tuned_cpu,
               "agreement": tuned.info["agreement"], "polarity": tuned.info["polarity"]}
        if naive:
            t = time.process_time()
            row["naive"] = score(naive_finetune(model, array, image.geometry, scribbles), ref, image.geometry, labels)
            row["naive_cpu_s"] = time.process_time() - t
        rows.append(row)
        print(f"{case} {'corrupted' if corrupted else 'normal   '} alone {row['alone']['dice_mean']:.3f} "
              f"ours {row['ours']['dice_mean']:.3f} ({tuned_cpu:.1f} s cpu, agreement {row['agreement']:.2f}, "
              f"polarity {row['polarity']:+.0f})"
              + (f" naive {row['naive']['dice_mean']:.3f}" if naive else ""), flush=True)
    return rows


def summarize(rows, keys=("alone", "ours", "naive")) -> dict:
    out = {}
    for key in keys:
        if rows and key in rows[0]:
            out[key] = {m: float(np.mean([r[key][m] for r in rows])) for m in rows[0][key]}
            if f"{key}_cpu_s" in rows[0]:
                out[key]["cpu_s"] = float(np.mean([r[f"{key}_cpu_s"] for r in rows]))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--subset", default="validation")
    parser.add_argument("--model", default="hippocampus_unet")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--only", choices=("normal", "corrupted", "both"), default="both")
    parser.add_argument("--param", action="append", default=[], help="fine-tuning key=value")
    parser.add_argument("--spleen", action="store_true", help="also: spleen CT from scratch vs. the graph cut")
    parser.add_argument("--scratch-hippocampus", type=int, default=0, metavar="N",
                        help="also: the first N validation cases from scratch (no model) vs. the graph cut")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from segviewer.model.parameters import parse_parameter_assignments

    params = parse_parameter_assignments(FinetuneParameters, args.param)
    split = json.loads((PROJECT_ROOT / "resources" / "splits" / "hippocampus.json").read_text())
    cases = split[args.subset][: args.cases]
    report = {"params": {k: v for k, v in params.__dict__.items()}, "cases": cases}
    for kind in ("normal", "corrupted"):
        if args.only in (kind, "both") and args.cases > 0:
            rows = run_hippocampus(cases, args.model, kind == "corrupted", params, naive=not args.no_naive)
            report[kind] = {"rows": rows, "mean": summarize(rows)}
            print(kind, json.dumps(report[kind]["mean"], indent=None))
    if args.spleen:
        report["spleen"] = spleen_report()
        print("spleen", json.dumps(report["spleen"]))
    if args.scratch_hippocampus > 0:
        report["hippocampus_scratch"] = hippocampus_scratch_report(split[args.subset][: args.scratch_hippocampus])
        print("hippocampus from scratch", json.dumps(report["hippocampus_scratch"]))
    if args.out:
        Path(args.out).write_text(json.dumps(metrics.json_safe(report), indent=1))
    return 0



def spleen_case(seed: int = 0):
    """(image volume, reference, 3-slice scribbles) of the spleen CT."""
    image = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct.nii.gz")
    ref = read_image(SHARED_DATA / "spleen_ct" / "spleen_ct_label.nii.gz").array.astype(np.uint8)
    scribbles = simulate_scribbles(ref, image.geometry, slices=3, seed=seed)
    return image, ref, scribbles


def scratch_vs_graphcut(image, ref, scribbles, labels, params: FinetuneParameters | None = None) -> dict:
    """The graph cut and the online learner from scratch on the same scribbles and ROI."""
    from segviewer.methods.registry import get_method
    from segviewer.methods.request import apply_result_to_array, build_request_from_arrays

    out = {}
    params = params or FinetuneParameters(model="scratch")
    for name, method, p in (("graphcut", get_method("graphcut"), None), ("ours_scratch", FinetuneMethod(), params)):
        request = build_request_from_arrays(method, image.array, image.geometry, scribbles=scribbles,
                                            unannotated=255, params=p, label_values=labels)
        t = time.process_time()
        w = time.perf_counter()
        result = method.run(request, no_progress, CancelToken())
        cpu, wall = time.process_time() - t, time.perf_counter() - w
        pred = apply_result_to_array(np.zeros(ref.shape, np.uint8), result)
        out[name] = {**score(pred, ref, image.geometry, labels), "cpu_s": cpu, "wall_s": wall,
                     "roi": [[s.start, s.stop] for s in result.roi]}
    return out


def run_spleen(params: FinetuneParameters | None = None, scribble_seed: int = 0) -> dict:
    """Graph cut vs. the online learner from scratch on the spleen, same scribbles, same ROI."""
    image, ref, scribbles = spleen_case(scribble_seed)
    out = scratch_vs_graphcut(image, ref, scribbles, [1], params)
    for name, row in out.items():
        print(f"spleen scribbles {scribble_seed}", name, json.dumps(row), flush=True)
    return out


def _means(rows: list[dict], keys=("dice_mean", "cpu_s", "wall_s")) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k in keys or k.startswith(("dice_", "hd95_"))}


def spleen_report(seeds: int = 5) -> dict:
    """The spleen from scratch, two ways: the issue's scribbles (seed 0) with ``seeds`` seeds
    of the learner (its result varies with them), and ``seeds`` different scribble sets."""
    rows = [run_spleen(FinetuneParameters(model="scratch", seed=s)) for s in range(seeds)]
    ours = [r["ours_scratch"] for r in rows]
    sets = [run_spleen(scribble_seed=s) for s in range(seeds)]
    return {"graphcut": rows[0]["graphcut"],
            "ours_scratch": _means(ours),
            "ours_scratch_dice_range": [float(min(o["dice_1"] for o in ours)), float(max(o["dice_1"] for o in ours))],
            "seeds": seeds,
            "scribble_sets": {name: _means([r[name] for r in sets]) for name in ("graphcut", "ours_scratch")}}


def hippocampus_scratch_report(cases: list[str]) -> dict:
    """Both labels of the hippocampus from scratch (no model) vs the graph cut, 3-slice scribbles."""
    rows = []
    for case in cases:
        image = read_image(SHARED_DATA / "hippocampus" / "imagesTr" / f"{case}.nii.gz")
        ref = read_image(SHARED_DATA / "hippocampus" / "labelsTr" / f"{case}.nii.gz").array.astype(np.uint8)
        scribbles = simulate_scribbles(ref, image.geometry, slices=3, seed=0)
        rows.append(scratch_vs_graphcut(image, ref, scribbles, [1, 2]))
        print(case, "graphcut %.3f ours_scratch %.3f" % (rows[-1]["graphcut"]["dice_mean"],
                                                         rows[-1]["ours_scratch"]["dice_mean"]), flush=True)
    return {name: _means([r[name] for r in rows]) for name in ("graphcut", "ours_scratch")}


if __name__ == "__main__":
    raise SystemExit(main())
