"""What the viewer shows that is not part of the document, with no Qt: overlay settings, the
preview and heat-map layers (:class:`Overlays`), and window/level arithmetic.

:class:`segviewer.views.controller.ViewerController` holds one of each and re-emits changes as
Qt signals; the rules live here so they are tested with no display.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from segviewer.app.display import CT_PRESETS
from segviewer.model.geometry import Box, full_box, union_box
from segviewer.model.session import LABELS

#: The narrowest window (high - low) the views accept.
MIN_WINDOW_WIDTH = 1e-3


@dataclass
class DisplaySettings:
    """How overlays are drawn (shared by the three slice views)."""

    label_opacity: float = 0.5
    outline: bool = False
    show_labels: bool = True
    show_scribbles: bool = True
    show_points: bool = True
    show_heatmap: bool = True
    show_preview: bool = True
    show_crosshair: bool = True
    heatmap_opacity: float = 0.7
    link_views: bool = False  # zoom and pan of one slice view applied to the others

    def update(self, **changes) -> None:
        """Change some settings; a name that is not a setting is a programming error."""
        names = {field.name for field in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise AttributeError(f"no display setting named {', '.join(unknown)}")
        for key, value in changes.items():
            setattr(self, key, value)


@dataclass
class PreviewLayer:
    """A proposed label crop shown translucently until applied or discarded.

    ``labels`` holds label values on ``box`` (array order); ``where`` (optional boolean crop)
    limits which voxels the result would write, else every non-zero voxel of ``labels``.
    """

    labels: np.ndarray
    box: Box
    where: np.ndarray | None = None
    description: str = "Apply result"

    def __post_init__(self) -> None:
        shown = self.labels != 0
        if self.where is not None:
            shown &= self.where.astype(bool)
        #: Voxels drawn by the preview (computed once).
        self.shown_mask = shown


@dataclass
class HeatmapLayer:
    """A scalar map (probability, uncertainty) on ``box``, coloured from ``low`` to ``high``."""

    values: np.ndarray
    box: Box
    low: float = 0.0
    high: float = 1.0
    colormap: str = "inferno"
    name: str = "probability"


@dataclass
class OutlineLayer:
    """A label map on the image grid drawn as outlines in one colour above the labels (each
    annotator's mask in review mode); ``labels`` is read, never changed."""

    name: str
    labels: np.ndarray
    colour: tuple[int, int, int]


# == window / level ==================================================================================
def preset_window(name: str) -> tuple[float, float]:
    """(low, high) of a CT preset ("Soft tissue", "Lung", "Bone", "Brain")."""
    width, level = CT_PRESETS[name]
    return (level - width / 2.0, level + width / 2.0)


def preset_name(window: tuple[float, float]) -> str:
    """The CT preset ``window`` is (within 1e-3 in width and level), else "Custom"."""
    width, level = width_level_of(window)
    for name, (preset_width, preset_level) in CT_PRESETS.items():
        if abs(preset_width - width) < 1e-3 and abs(preset_level - level) < 1e-3:
            return name
    return "Custom"


def percentile_window(image) -> tuple[float, float]:
    """The 0.5-99.5 % percentiles of ``image`` (the "Auto" preset)."""
    return image.percentiles(0.5, 99.5)


def default_window(image, is_ct: bool) -> tuple[float, float]:
    """Soft-tissue window for CT, 0.5-99.5 % percentiles otherwise (MR, PET, ...), widened to
    the full range, then to a minimal width, when the image is (nearly) constant."""
    if is_ct:
        return preset_window("Soft tissue")
    low, high = percentile_window(image)
    if high <= low:
        low, high = image.intensity_range
    return (low, high if high > low else low + 1.0)


def checked_window(low: float, high: float) -> tuple[float, float]:
    """(low, high) as floats with high above low by at least :data:`MIN_WINDOW_WIDTH`."""
    return (float(low), max(float(high), float(low) + MIN_WINDOW_WIDTH))


def window_from_width_level(width: float, level: float) -> tuple[float, float]:
    width = max(float(width), MIN_WINDOW_WIDTH)
    return (level - width / 2.0, level + width / 2.0)


def width_level_of(window: tuple[float, float]) -> tuple[float, float]:
    low, high = window
    return high - low, (high + low) / 2.0


class Overlays:
    """The preview, heat-map and outline layers drawn over a session. Each change of the first
    two reports the box to redraw (the old and the new layer's) through ``preview_changed`` /
    ``heatmap_changed``; outline changes call ``outlines_changed``."""

    def __init__(self, preview_changed: Callable[[Box | None], None] = lambda box: None,
                 heatmap_changed: Callable[[Box | None], None] = lambda box: None,
                 outlines_changed: Callable[[], None] = lambda: None) -> None:
        self.preview: PreviewLayer | None = None
        self.heatmap: HeatmapLayer | None = None
        self.outlines: list[OutlineLayer] = []
        self.preview_changed = preview_changed
        self.heatmap_changed = heatmap_changed
        self.outlines_changed = outlines_changed

    def reset(self) -> None:
        """Drop every layer silently (another image: every view redraws anyway)."""
        self.preview = None
        self.heatmap = None
        self.outlines = []

    def set_preview(self, session, labels: np.ndarray, box: Box, where: np.ndarray | None = None,
                    description: str = "Apply result") -> None:
        """Show a proposed label crop on ``box``; replaces any previous preview."""
        box = _checked_box(box, labels.shape, "preview crop")
        old = self.preview.box if self.preview else None
        self.preview = PreviewLayer(labels, box, where, description)
        session.label_table.ensure(np.unique(labels[self.preview.shown_mask]))
        self.preview_changed(union_box(old, box))

    def clear_preview(self) -> None:
        self._drop("preview", self.preview_changed)

    def apply_preview(self, session):
        """Write the preview into the labels as ONE undo step; returns the step (or None)."""
        if self.preview is None or session is None:
            return None
        preview = self.preview
        where = preview.where if preview.where is not None else preview.labels != 0
        step = session.apply_layer_crop(LABELS, preview.box, preview.labels, preview.description, where=where)
        self.clear_preview()
        return step

    def set_heatmap(self, session, values: np.ndarray, box: Box | None = None, low: float = 0.0,
                    high: float = 1.0, colormap: str = "inferno", name: str = "probability") -> None:
        """Show a scalar map (full volume when ``box`` is None)."""
        box = _checked_box(box or full_box(session.geometry.shape), values.shape, "heat map")
        old = self.heatmap.box if self.heatmap else None
        self.heatmap = HeatmapLayer(values, box, low, high, colormap, name)
        self.heatmap_changed(union_box(old, box))

    def clear_heatmap(self) -> None:
        self._drop("heatmap", self.heatmap_changed)

    def set_outlines(self, session, layers: list[OutlineLayer]) -> None:
        """Draw ``layers`` (each on the whole image grid) as outlines; replaces the previous ones."""
        for layer in layers:
            if tuple(layer.labels.shape) != tuple(session.geometry.shape):
                raise ValueError(f"outline layer {layer.name!r} {layer.labels.shape} is not on the "
                                 f"image grid {session.geometry.shape}")
        self.outlines = list(layers)
        self.outlines_changed()

    def clear_outlines(self) -> None:
        if self.outlines:
            self.outlines = []
            self.outlines_changed()

    def _drop(self, name: str, changed: Callable[[Box | None], None]) -> None:
        layer = getattr(self, name)
        if layer is not None:
            setattr(self, name, None)
            changed(layer.box)


def _checked_box(box: Box, shape: tuple[int, ...], what: str) -> Box:
    """``box`` with plain int bounds; a layer of another shape is a programming error."""
    box = tuple(slice(int(s.start), int(s.stop)) for s in box)  # type: ignore[assignment]
    if tuple(shape) != tuple(s.stop - s.start for s in box):
        raise ValueError(f"{what} {tuple(shape)} does not match box {box}")
    return box
