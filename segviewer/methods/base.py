"""One interface for every segmentation method.

A :class:`MethodRequest` (image crop, its geometry, the ROI, scribbles, points, current
labels and typed parameters) goes in; a :class:`MethodResult` (ROI, label crop, optional
per-class probabilities, info) comes out. ``progress(fraction, text)`` and a
:class:`CancelToken` are passed in. Each method declares a ``Parameters`` dataclass of
:func:`segviewer.model.parameters.param` fields, which generate both the GUI panel and
the CLI flags (the schema lives in :mod:`segviewer.model.parameters`, shared with tools).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from segviewer.errors import SegviewerError
from segviewer.model.geometry import Box, Geometry


class MethodCancelled(Exception):
    """Raised inside a method when its cancel token fires."""


class MethodInputError(SegviewerError):
    """The request lacks what the method needs (e.g. no scribbles); shown to the user."""


class CancelToken:
    """Cooperative cancellation: methods call :meth:`raise_if_cancelled` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise MethodCancelled()


class Progress(Protocol):
    def __call__(self, fraction: float, text: str = "", partial: "MethodResult | None" = None) -> None: ...


def no_progress(fraction: float, text: str = "", partial: "MethodResult | None" = None) -> None:
    """A progress callback that ignores everything (CLI quiet mode, tests)."""


@dataclass(frozen=True)
class VoxelPoint:
    """A point prompt located in the request crop: ``index`` is (k, j, i) in the crop."""

    index: tuple[int, int, int]
    label: int
    positive: bool


@dataclass(frozen=True)
class VoxelBox:
    """A box prompt located in the request crop: ``box`` in crop indices (k, j, i); the
    object of ``label`` is inside it and everything outside it is background."""

    box: Box
    label: int


@dataclass
class MethodRequest:
    """Read-only inputs of one run; every array is the ROI crop in array order (k, j, i)."""

    image: np.ndarray
    geometry: Geometry  # the crop's own grid (spacing, origin of the crop, direction)
    roi: Box  # where the crop sits in the full volume
    params: Any
    scribbles: np.ndarray | None = None
    unannotated: int = 255
    points: list[VoxelPoint] = field(default_factory=list)
    labels: np.ndarray | None = None
    active_label: int = 1
    label_values: list[int] = field(default_factory=list)
    #: Shape of the whole volume the crop comes from (None = unknown: taken as the crop).
    volume_shape: tuple[int, int, int] | None = None
    #: The image's DICOM modality tag (MR, CT ...) where known, else "": deep methods compare it
    #: with their model's training domain.
    modality: str = ""
    #: Box prompts (methods with ``takes_boxes``), in crop indices.
    boxes: list[VoxelBox] = field(default_factory=list)

    @property
    def is_whole_volume(self) -> bool:
        """True when the crop is the whole volume (or the whole volume is unknown)."""
        if self.volume_shape is None:
            return True
        return tuple(s.stop - s.start for s in self.roi) == tuple(self.volume_shape)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Voxel size in mm along the array axes (k, j, i)."""
        sx, sy, sz = self.geometry.spacing
        return (sz, sy, sx)

    def scribble_classes(self) -> list[int]:
        """Scribbled class values in the crop (0 = background), sorted."""
        if self.scribbles is None:
            return []
        return [int(v) for v in np.unique(self.scribbles) if v != self.unannotated]


@dataclass
class MethodResult:
    """What a method decided, within ``roi``.

    ``labels`` is the label crop (0 = background). ``decided`` limits which voxels of the
    crop the result may write (None = all of them). ``probabilities`` is optional
    ``(classes, k, j, i)`` float data, class 0 = background, ``classes`` listing their
    label values. ``info`` carries facts for the user (threshold found, energy, loss curve).
    """

    roi: Box
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list[int] | None = None
    decided: np.ndarray | None = None
    info: dict = field(default_factory=dict)


class Method:
    """Base class: subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Parameters: ClassVar[type] = object
    #: What the method needs from the user: a subset of {"scribbles", "points", "labels"}.
    requires: ClassVar[frozenset] = frozenset()
    #: Whether the method's default ROI is the scribble/point box (True) or the whole volume.
    uses_roi: ClassVar[bool] = True
    #: True when the method's core is native code that holds Python's GIL for long stretches
    #: (PyMaxflow): the GUI's worker then runs it in a helper process so the interface never
    #: stalls. Methods whose heavy parts release the GIL (NumPy, SimpleITK, torch) leave it False.
    gil_bound: ClassVar[bool] = False
    #: True when the method sends its GIL-holding steps through :mod:`segviewer.methods.offload`
    #: (the GUI then starts the helper process while the user is still drawing).
    offloads: ClassVar[bool] = False
    #: True when the method takes box prompts (``MethodRequest.boxes``) with or without scribbles.
    takes_boxes: ClassVar[bool] = False

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        raise NotImplementedError

    def default_parameters(self):
        return self.Parameters()


class TrainableMethod(Method):
    """A method that learns from the user while it runs and keeps what it learned between
    runs (fine-tuning). The GUI offers "reset" and "save model" for these, and only these."""

    def reset(self) -> None:
        """Forget what was learned: the next run starts afresh."""
        raise NotImplementedError

    def save_model(self, path, guard=None) -> object:
        """Write what was learned as a model the methods can load again, never over a file
        ``guard`` (an :class:`~segviewer.io.atomic.OutputGuard`) protects."""
        raise NotImplementedError


ProgressFunction = Callable[[float, str], None]
