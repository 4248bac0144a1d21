"""Where the networks run: device names, the device chosen, mixed precision, and how a
machine's cores and GPUs are shared out (batch workers, data-loading workers).

Device names are PyTorch's: ``cpu``, ``cuda`` (the current CUDA device), ``cuda:N`` (device N
of the visible ones), ``mps`` (Apple Metal), and ``auto`` (CUDA, else MPS, else CPU). The
names are checked and the GPUs counted without importing torch (the GUI's method panel and
the command line's parser list them); only :func:`choose_device` imports torch, to see what
is really available.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

from segviewer.methods.deep.card import ModelError

#: The device names every machine offers; ``cuda:N`` is added per visible GPU.
BASE_DEVICES = ("auto", "cpu", "cuda", "mps")
_DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: Where the NVIDIA driver lists one folder per GPU (read without starting CUDA).
NVIDIA_GPU_FOLDER = "/proc/driver/nvidia/gpus"


def visible_gpu_count() -> int:
    """How many CUDA devices this process may use: ``CUDA_VISIBLE_DEVICES`` when set (an empty
    value or ``-1`` hides them all), else the GPUs the NVIDIA driver lists. Does not import
    torch or initialise CUDA (a batch sets the variable per worker before either)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [item.strip() for item in listed.split(",") if item.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide every GPU
        return len(ids[:ids.index("-1")] if "-1" in ids else ids)
    try:
        return len(os.listdir(NVIDIA_GPU_FOLDER))
    except OSError:
        return 0


def device_choices() -> tuple[str, ...]:
    """The device names to offer: :data:`BASE_DEVICES` and ``cuda:N`` for each visible GPU."""
    return BASE_DEVICES + tuple(f"cuda:{n}" for n in range(visible_gpu_count()))


def check_device_name(text: str) -> str:
    """``text`` as a device name (lower case, spaces stripped), or :class:`ModelError` naming
    the accepted forms. Whether the device exists is :func:`choose_device`'s concern."""
    name = str(text).strip().lower()
    if not _DEVICE_NAME.match(name):
        raise ModelError(f"unknown device {text!r}; give auto, cpu, cuda, cuda:N or mps")
    return name


def choose_device(name: str = "auto") -> str:
    """The device to run on: ``auto`` is CUDA if present, else Apple MPS if present, else CPU.
    A device asked for by name must exist (:class:`ModelError` otherwise)."""
    import torch

    name = check_device_name(name)
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"{name} was asked for but no CUDA device is available")
        index = int(name.partition(":")[2] or torch.cuda.current_device())
        count = torch.cuda.device_count()
        if index >= count:
            raise ModelError(f"{name} was asked for but there {'is' if count == 1 else 'are'} only {count} "
                             f"CUDA device{'' if count == 1 else 's'} (cuda:0..cuda:{count - 1})")
    if name == "mps" and not mps:
        raise ModelError("MPS was asked for but Apple's Metal backend is not available")
    return name


def uses_cuda(device) -> bool:
    """Whether ``device`` (a name or a ``torch.device``) is a CUDA device."""
    return str(device).startswith("cuda")


def autocast(device, enabled: bool = True):
    """A context in which the network runs in float16 where that pays (CUDA), else as it is.
    Accumulators and losses stay float32: autocast casts only the layers that gain."""
    if enabled and uses_cuda(device):
        import torch

        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def loader_workers(device, cpu_count: int | None = None) -> int:
    """Data-loading worker processes for training on ``device``.

    On a GPU, patch sampling and augmentation on the CPU would leave the GPU waiting, so up
    to four processes prepare batches ahead (leaving a core to the training loop). On the CPU
    the network's own threads need every core; loading in the training process costs least.
    """
    cores = cpu_count if cpu_count is not None else len(os.sched_getaffinity(0))
    return max(0, min(4, cores - 1)) if uses_cuda(device) else 0


@dataclass(frozen=True)
class WorkerLayout:
    """How a batch shares out a machine: worker processes, threads (and torch threads) in
    each, and the GPU each worker sees (``CUDA_VISIBLE_DEVICES``; None = no GPU)."""

    workers: int
    threads_per_worker: int
    gpus: tuple[str | None, ...]


def worker_layout(cores: int, gpus: int = 0, workers: int | None = None) -> WorkerLayout:
    """One worker per GPU when there are GPUs (each with an equal share of the cores for its
    data preparation), else one single-threaded worker per core: torch's intra-op threads
    times the workers never exceed the cores (oversubscribed, each case would run slower).
    ``workers`` overrides the count; the cores are still shared out among them."""
    cores = max(1, cores)
    count = max(1, workers if workers is not None else (gpus or cores))
    threads = max(1, cores // count)
    assigned = tuple(str(n % gpus) for n in range(count)) if gpus else (None,) * count
    return WorkerLayout(count, threads, assigned)
