"""The Dask cluster a batch runs on: an existing one (``--scheduler tcp://HOST:8786`` or
``DASK_SCHEDULER_ADDRESS``), or one started for the batch on this machine.

The embedded cluster shares the machine out by :func:`~segviewer.methods.deep.device.worker_layout`:
one single-threaded worker process per core on a CPU machine (torch's threads times the
workers never exceed the cores), one worker per GPU where CUDA is asked for (each worker
sees only its GPU through ``CUDA_VISIBLE_DEVICES``; dask-cuda's ``LocalCUDACluster`` when
it is installed). Worker processes are supervised by Dask's nannies: a worker that dies is
replaced and the scheduler runs its cases again elsewhere.

:class:`WarmWorker` is the worker plugin that sets torch's thread count and loads the
batch's imports and model once per worker process, not once per case.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import warnings
from typing import Iterator

from distributed import WorkerPlugin

from segviewer.errors import SegviewerError
from segviewer.methods.deep.device import WorkerLayout, check_device_name, visible_gpu_count, worker_layout

log = logging.getLogger(__name__)

#: The environment variable Dask itself reads for the scheduler's address.
SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
#: Where the dashboard of an embedded cluster is served (another port when it is taken).
DASHBOARD_ADDRESS = ":8787"


class ClusterError(SegviewerError):
    """The scheduler could not be reached or the cluster could not start."""


class WarmWorker(WorkerPlugin):
    """Worker plugin: set torch's intra-op threads to the worker's share of the cores and
    import ``modules`` (a method's module, torch) and load ``model`` once, when the worker
    starts; later cases find them ready. Registered under one name, so a replacement worker
    (one that died and was restarted) gets the same set-up."""

    name = "segviewer-warm-worker"

    # torch_threads None leaves torch as the worker was started (Dask's nannies set
    # OMP_NUM_THREADS=1, so one thread per task slot)
    def __init__(self, torch_threads: int | None = None, modules: tuple[str, ...] = (),
                 model: str | None = None, device: str = "cpu") -> None:
        self.torch_threads, self.modules, self.model, self.device = torch_threads, tuple(modules), model, device

    def setup(self, worker=None) -> None:
        try:
            self._warm()
        except Exception:  # noqa: BLE001 - a worker that cannot warm up still runs cases; each
            # case then fails with its own error in its row instead of the worker dying in a loop
            log.exception("segviewer: the batch worker's warm-up failed")

    def _warm(self) -> None:
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        for module in self.modules:
            importlib.import_module(module)
        if self.model is not None:
            warm_model(self.model, self.device)

    @property
    def preload(self) -> tuple[str, ...]:
        """The modules a fork server may import once for every worker."""
        return self.modules + (DEEP_MODULES if self.model is not None else ())


#: What the deep methods' workers import before their first case (torch, MONAI's windows).
DEEP_MODULES = ("torch", "monai.inferers", "monai.data.utils", "segviewer.methods.deep.models")


def warm_model(model: str, device: str = "auto") -> None:
    """Load ``model`` into this process's model cache and run it once on one window of
    zeros: the first run pays MONAI's imports and torch's kernel set-up (seconds), every
    later case finds the network ready."""
    import numpy as np

    from segviewer.methods.deep.device import choose_device
    from segviewer.methods.deep.inference import sliding_window_logits
    from segviewer.methods.deep.models import load_model

    device = choose_device(device)
    loaded = load_model(model, device)
    window = np.zeros(loaded.card.roi_size, np.float32)
    sliding_window_logits(loaded.network, window, loaded.card.roi_size, loaded.card.out_channels, device=device)


def scheduler_address(address: str | None = None) -> str | None:
    """The scheduler to use: ``address``, else ``DASK_SCHEDULER_ADDRESS``, else None (start
    an embedded cluster)."""
    return address or os.environ.get(SCHEDULER_VARIABLE) or None


def local_layout(device: str = "auto", workers: int | None = None) -> WorkerLayout:
    """How the embedded cluster shares out this machine for ``device``: GPUs count only
    when the batch may use CUDA (``auto`` or ``cuda…``)."""
    name = check_device_name(device)
    gpus = visible_gpu_count() if name == "auto" or name.startswith("cuda") else 0
    if name.startswith("cuda:"):
        gpus = 1  # one named GPU: one worker on it
    return worker_layout(len(os.sched_getaffinity(0)), gpus, workers)


@contextlib.contextmanager
def connect(address: str | None = None, *, device: str = "auto", workers: int | None = None,
            dashboard: bool = True, preload: tuple[str, ...] = ()) -> Iterator:
    """A ``distributed.Client`` for the batch, closed (with its embedded cluster) on exit.

    ``preload``: modules the embedded cluster's workers start with (see :func:`_local_cluster`).
    """
    from distributed import Client

    address = scheduler_address(address)
    if address:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"could not reach the Dask scheduler at {address}: {error}") from None
        with client:
            yield client
        return
    with _local_cluster(local_layout(device, workers), dashboard, preload) as cluster, Client(cluster) as client:
        yield client


def worker_environment() -> dict:
    """The environment Dask's nannies give worker processes, without its
    ``MALLOC_TRIM_THRESHOLD_=65536``: returning freed memory to the system that eagerly makes
    the graph cut's many small allocations (PyMaxflow) 1.5-2.5x slower."""
    import dask

    environment = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environment.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environment


@contextlib.contextmanager
def _local_cluster(layout: WorkerLayout, dashboard: bool, preload: tuple[str, ...] = ()) -> Iterator:
    """The cluster on this machine, its workers started by a fork server (where the system
    has one) that imported ``preload`` once: each worker begins with torch, the method and
    the readers in memory instead of importing them again (on two cores that halves the
    start of a U-Net batch, and its workers exit at once)."""
    import dask

    settings = {"distributed.nanny.pre-spawn-environ": worker_environment()}
    if "forkserver" in multiprocessing.get_all_start_methods():
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
    with dask.config.set(settings):
        if preload and settings.get("distributed.worker.multiprocessing-method") == "forkserver":
            from distributed.utils import get_mp_context

            # effective until the fork server starts (once per process): later batches of
            # the same process (the app) share the first one's server
            get_mp_context().set_forkserver_preload(["distributed", *preload])
        with warnings.catch_warnings():
            # another program on port 8787: Dask serves the dashboard on a free port, whose
            # address the batch prints; its warning would only alarm
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            with _started_cluster(layout, dashboard) as cluster:
                yield cluster


@contextlib.contextmanager
def _started_cluster(layout: WorkerLayout, dashboard: bool) -> Iterator:
    dashboard_address = DASHBOARD_ADDRESS if dashboard else None
    quiet = logging.ERROR  # the batch prints its own progress; Dask's info lines would interleave
    if any(layout.gpus):
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            LocalCUDACluster = None
        if LocalCUDACluster is not None:
            visible = ",".join(dict.fromkeys(layout.gpus))
            with LocalCUDACluster(CUDA_VISIBLE_DEVICES=visible, threads_per_worker=layout.threads_per_worker,
                                  dashboard_address=dashboard_address, silence_logs=quiet) as cluster:
                yield cluster
            return
        with _gpu_spec_cluster(layout, dashboard_address, quiet) as cluster:
            yield cluster
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=layout.workers, threads_per_worker=layout.threads_per_worker, processes=True,
                      dashboard_address=dashboard_address, silence_logs=quiet) as cluster:
        yield cluster


def _gpu_spec_cluster(layout: WorkerLayout, dashboard_address: str | None, quiet: int):
    """One nanny-supervised worker per GPU, each seeing only its GPU (what dask-cuda's
    ``LocalCUDACluster`` does, for machines without dask-cuda)."""
    from distributed import Nanny, Scheduler, SpecCluster

    scheduler = {"cls": Scheduler, "options": {"dashboard_address": dashboard_address}}
    workers = {f"gpu-{n}": {"cls": Nanny, "options": {"nthreads": layout.threads_per_worker,
                                                       "env": {"CUDA_VISIBLE_DEVICES": gpu}}}
               for n, gpu in enumerate(layout.gpus)}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=quiet)


def dashboard_link(client) -> str | None:
    """The dashboard's address, or None when it is not served (bokeh missing)."""
    try:
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - a cluster without a dashboard only lacks the link
        return None

