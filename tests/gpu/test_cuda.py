"""The CUDA paths, on a machine with a GPU (skipped elsewhere): inference in float16 autocast
agreeing with the CPU, training with autocast and data-loading workers, and a batch with one
worker per GPU. Run: ``pytest tests/gpu -q`` on a GPU machine; report the figures it prints."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from segviewer.cli import main

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
              pytest.mark.timeout(900)]


def deep_cli_tests():
    """tests/methods/test_deep_cli.py, for its tiny training set (the same one the CPU test trains on)."""
    spec = importlib.util.spec_from_file_location("deep_cli_tests", Path(__file__).parents[1] / "methods" /
                                                  "test_deep_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero((a > 0) & (a == b)) / max(1, np.count_nonzero(a) + np.count_nonzero(b))


def test_autocast_runs_float16_on_cuda():
    from segviewer.methods.deep.device import autocast

    layer = torch.nn.Conv3d(1, 2, 3).cuda()
    with autocast("cuda"):
        assert layer(torch.ones(1, 1, 8, 8, 8, device="cuda")).dtype == torch.float16


def test_a_missing_gpu_number_is_one_line(tmp_path, capsys, shared_data):
    image = shared_data / "hippocampus" / "imagesTr" / "hippocampus_001.nii.gz"
    count = torch.cuda.device_count()
    code = main(["segment", str(image), "--method", "unet", "--device", f"cuda:{count}", "-o", str(tmp_path / "o.nii.gz")])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1


def test_unet_on_cuda_agrees_with_the_cpu(tmp_path, shared_data, capsys):
    from segviewer.io.images import read_image

    image = shared_data / "hippocampus" / "imagesTr" / "hippocampus_011.nii.gz"
    timings = {}
    for device in ("cpu", "cuda"):
        started = time.perf_counter()
        assert main(["segment", str(image), "--method", "unet", "--device", device, "-o",
                     str(tmp_path / f"{device}.nii.gz"), "--info", str(tmp_path / f"{device}.json"), "-q"]) == 0
        timings[device] = time.perf_counter() - started
    info = json.loads((tmp_path / "cuda.json").read_text())["info"]
    assert info["device"] == "cuda"
    agreement = dice(read_image(tmp_path / "cuda.nii.gz").array, read_image(tmp_path / "cpu.nii.gz").array)
    print(f"\nU-Net one case: CPU {timings['cpu']:.2f} s, CUDA {timings['cuda']:.2f} s (process included); "
          f"float16 vs float32 labels Dice {agreement:.4f}")
    assert agreement > 0.98


def test_training_on_cuda_uses_autocast_and_loader_workers(tmp_path):
    from segviewer.methods.deep.device import loader_workers

    split = deep_cli_tests().tiny_dataset(tmp_path / "data")
    started = time.perf_counter()
    assert main(["train", "--data", str(tmp_path / "data"), "--split", str(split), "--out", str(tmp_path / "m"),
                 "--name", "tiny", "--iterations", "40", "--val-every", "20", "--batch-size", "2", "--roi-size", "16",
                 "16", "16", "--channels", "4", "8", "--device", "cuda"]) == 0
    card = json.loads((tmp_path / "m" / "tiny.json").read_text())
    assert card["training"]["hardware"].startswith("GPU: ")
    assert loader_workers("cuda") >= 1
    print(f"\ntiny training, 40 iterations on {card['training']['hardware']}: {time.perf_counter() - started:.1f} s")


def test_batch_runs_one_worker_per_gpu_each_seeing_its_own(tmp_path, shared_data):
    from distributed import Client

    from segviewer.batch.cluster import connect, local_layout

    layout = local_layout("cuda")
    assert layout.workers == torch.cuda.device_count()
    with connect(device="cuda", dashboard=False) as client:
        assert isinstance(client, Client)
        visible = sorted(client.run(lambda: __import__("os").environ.get("CUDA_VISIBLE_DEVICES")).values())
    assert visible == [str(n) for n in range(torch.cuda.device_count())]
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("hippocampus_011", "hippocampus_017", "hippocampus_025", "hippocampus_034"):
        (cases / f"{name}.nii.gz").symlink_to(shared_data / "hippocampus" / "imagesTr" / f"{name}.nii.gz")
    started = time.perf_counter()
    assert main(["batch", "infer", "--cases", str(cases), "--out", str(tmp_path / "out"), "--device", "cuda", "-q"]) == 0
    rows = json.loads((tmp_path / "out" / "batch_results.json").read_text())
    assert {row["info_device"] for row in rows} == {"cuda"} and {row["status"] for row in rows} == {"done"}
    logging.getLogger(__name__).info("batch of 4 on GPU: %.1f s", time.perf_counter() - started)
    print(f"\nbatch infer of 4 cases on {layout.workers} GPU worker(s): {time.perf_counter() - started:.1f} s")
