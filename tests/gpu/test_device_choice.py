"""The device logic that runs on every machine: names, GPU counting, the device chosen, how a
batch shares out cores and GPUs, data-loading workers. No mocks: the GPU count is read from
the real ``CUDA_VISIBLE_DEVICES`` (set here as a scheduler would set it), and CUDA's absence
is this machine's real state (the tests that need it absent skip on a GPU machine)."""

from __future__ import annotations

import pytest
import torch

from segviewer.cli import main
from segviewer.methods.deep.card import ModelError
from segviewer.methods.deep.device import (BASE_DEVICES, autocast, check_device_name, choose_device, device_choices,
                                           loader_workers, visible_gpu_count, worker_layout)

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.mark.parametrize("text, name", [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:3", "cuda:3"),
                                        ("mps", "mps")])
def test_device_names_are_accepted_in_any_case(text, name):
    assert check_device_name(text) == name


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "cuda:x", "cuda 1", "tpu", ""])
def test_unknown_device_names_are_refused_naming_the_forms(text):
    with pytest.raises(ModelError, match="auto, cpu, cuda, cuda:N or mps"):
        check_device_name(text)


@pytest.mark.parametrize("visible, count", [("0,1", 2), ("3", 1), ("", 0), ("-1", 0), ("0,-1,1", 1),
                                            ("GPU-1a2b,GPU-3c4d", 2)])
def test_gpu_count_follows_cuda_visible_devices(monkeypatch, visible, count):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert visible_gpu_count() == count
    assert device_choices() == BASE_DEVICES + tuple(f"cuda:{n}" for n in range(count))


@no_cuda
def test_auto_is_the_cpu_without_cuda():
    assert choose_device("auto") in ("cpu", "mps")
    assert choose_device("cpu") == "cpu"


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:2"])
def test_cuda_asked_for_without_cuda_is_one_clear_error(name):
    with pytest.raises(ModelError, match=f"^{name} was asked for but no CUDA device is available$"):
        choose_device(name)


@no_cuda
def test_segment_with_cuda_on_a_cpu_machine_is_a_one_line_error(tmp_path, capsys, shared_data):
    image = shared_data / "hippocampus" / "imagesTr" / "hippocampus_001.nii.gz"
    code = main(["segment", str(image), "--method", "unet", "--device", "cuda", "-o", str(tmp_path / "out.nii.gz")])
    error = capsys.readouterr().err
    assert code == 2
    assert error == "segviewer: error: cuda was asked for but no CUDA device is available\n"
    assert not (tmp_path / "out.nii.gz").exists()


def test_device_for_a_method_without_network_is_refused(tmp_path, capsys, shared_data):
    image = shared_data / "hippocampus" / "imagesTr" / "hippocampus_001.nii.gz"
    code = main(["segment", str(image), "--method", "threshold", "--device", "cpu", "-o", str(tmp_path / "o.nii.gz")])
    assert code == 2
    assert "method 'threshold' runs no network; --device is for deep methods" in capsys.readouterr().err


def test_bad_device_is_refused_while_parsing(capsys):
    code = main(["segment", "x.nii.gz", "--method", "unet", "--device", "gpu0", "-o", "y.nii.gz"])
    assert code == 2
    assert "argument --device: unknown device 'gpu0'" in capsys.readouterr().err


def test_cpu_machine_gets_one_single_threaded_worker_per_core():
    layout = worker_layout(cores=2)
    assert (layout.workers, layout.threads_per_worker, layout.gpus) == (2, 1, (None, None))
    assert worker_layout(cores=16).workers * worker_layout(cores=16).threads_per_worker == 16


def test_gpu_machine_gets_one_worker_per_gpu_with_a_share_of_the_cores():
    layout = worker_layout(cores=16, gpus=4)
    assert (layout.workers, layout.threads_per_worker, layout.gpus) == (4, 4, ("0", "1", "2", "3"))


def test_worker_count_override_still_never_oversubscribes():
    layout = worker_layout(cores=8, workers=3)
    assert layout.workers == 3 and layout.workers * layout.threads_per_worker <= 8
    assert worker_layout(cores=2, workers=4).threads_per_worker == 1
    assert worker_layout(cores=8, gpus=2, workers=4).gpus == ("0", "1", "0", "1")  # GPUs shared in turn


@pytest.mark.parametrize("device, cores, workers", [("cuda", 16, 4), ("cuda:1", 2, 1), ("cuda", 1, 0),
                                                    ("cpu", 16, 0), ("mps", 8, 0)])
def test_data_loading_workers_feed_a_gpu_and_leave_the_cpu_to_the_network(device, cores, workers):
    assert loader_workers(device, cores) == workers


def test_mixed_precision_only_on_cuda():
    layer = torch.nn.Linear(4, 4)
    with autocast("cpu", enabled=True):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


def test_loader_workers_prepare_distinct_reproducible_batches():
    """The data-loading workers a GPU gets: each samples from its own seeded generator, so
    the batches differ between workers and repeat from run to run."""
    import numpy as np

    from segviewer.methods.deep.train import TrainConfig, training_batches

    rng = np.random.default_rng(0)
    cases = [(rng.normal(size=(20, 24, 20)).astype(np.float32), rng.integers(0, 3, (20, 24, 20), dtype=np.uint8))
             for _ in range(3)]
    config = TrainConfig(data=".", split=".", out=".", batch_size=2, roi_size=(16, 16, 16), seed=5)

    def first_batches():
        batches = training_batches(cases, config, np.random.default_rng(5), "cpu", workers=2)
        return [next(batches) for _ in range(4)]  # workers take turns: 0, 1, 0, 1

    first, again = first_batches(), first_batches()
    assert first[0][0].shape == (2, 1, 16, 16, 16) and first[0][1].dtype == torch.int64
    assert not torch.equal(first[0][0], first[1][0])  # two workers, two generators
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))


@no_cuda
def test_finetune_and_train_take_the_device_too(tmp_path, capsys, shared_data):
    image = shared_data / "hippocampus" / "imagesTr" / "hippocampus_001.nii.gz"
    code = main(["finetune", str(image), "--scribbles", str(image), "--device", "cuda:1", "-o", str(tmp_path / "o.nii.gz")])
    assert code == 2 and "cuda:1" in capsys.readouterr().err
    code = main(["train", "--data", str(tmp_path), "--split", str(tmp_path / "s.json"), "--out", str(tmp_path / "m"),
                 "--device", "tpu"])
    assert code == 2 and "argument --device: unknown device 'tpu'" in capsys.readouterr().err
