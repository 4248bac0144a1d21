"""Graph cut from scribbles (Boykov–Jolly), multi-label, solved with PyMaxflow.

Energy (per voxel volume, so that every term is in the same units whatever the spacing)::

    E(f) = Σ_p U_p(f_p) + λ Σ_{p~q} exp(-(I_p - I_q)² / 2σ²) / |p - q|_mm · [f_p ≠ f_q]

* **Data term** ``U_p(c) = -log P(c | I_p) + β (d_c(p) - min_k d_k(p)) / τ_c``
  (background's distance term capped, labels' grown beyond τ: see :func:`distance_prior`).
  ``P(c | I)`` comes from kernel-density histograms of the scribbled intensities of each
  class, on intensities normalised to the ROI's 0.5–99.5 % range, with a floor so that an
  intensity nobody scribbled is never impossible: a small floor for labels (an organ has
  a narrow intensity distribution) and a broad one for background (the background is
  "everything else", which a few strokes undersample). ``d_c`` is the Euclidean distance
  in mm to the scribbles of class ``c``; ``τ_c`` is the median distance from class ``c``'s
  scribbles to the nearest scribble of another class, so the prior is scale free (a 4 mm
  hippocampus and a 20 cm spleen get the same prior relative to their size). It separates
  classes that intensity alone cannot (anterior vs posterior hippocampus) and stops leaks
  far from a label's strokes. Scribbled voxels are hard constraints.
* **Boundary term**: contrast sensitive, ``σ²`` = mean squared neighbour difference in the
  ROI, divided by the physical distance between voxel centres (anisotropic spacing is
  respected; per face this equals the face area per voxel volume on a 6-connected grid).
  ``λ`` (``smoothness``, in mm) is the balance: roughly, parts thinner than about
  ``2 λ / ΔU`` mm are smoothed away. Its weight per edge is divided by the number of
  neighbours / 6 so 18/26-connectivity does not change the balance.
* **Multi-label**: alpha-expansion over the Potts model (the contrast-sensitive weights
  are a metric, so every expansion move is an exact binary cut). With two classes it is a
  single exact cut. Expansion was chosen over one-vs-rest because one-vs-rest solves
  unrelated binary problems whose results overlap or leave holes that must then be
  resolved by an ad-hoc rule, while expansion minimises one energy for all labels, with
  a known bound (within 2× of the optimum for Potts), and stays exact for two classes.
* Components of a label not touching a scribble of that label are dropped (``keep_connected``).
* Large ROIs are solved coarse-to-fine (``multiscale``): the same energy on a grid 2×
  coarser along the fine axes, then the exact energy again on a narrow band around the
  coarse boundary at full resolution (Lombaert et al., 2005). Voxels outside the band keep
  the coarse label, which enters the band's data term through the cut edges.

**Box prompts** (GrabCut, Rother et al. 2004): everything outside the boxes is background
(hard); inside, each box's label competes with background. The appearance (the same kernel
densities) is first estimated from "inside the box" against "outside", then re-estimated from
the current segmentation and the cut solved again, until fewer than 0.1 % of the box voxels
change (at most ``GRABCUT_ROUNDS`` rounds). Scribbles and clicks given with the boxes are hard
constraints, as corrections. A box flat along an axis (a 2D box on one slice) makes the
outside background on that slice only; the label may extend through other slices within the
box's outline, and only its part connected to the box's slice is kept.

PyMaxflow holds Python's GIL while it solves, so the GUI runs this method in a helper
process (``gil_bound``); the CLI and tests run it in-process.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import maxflow
import numpy as np
from scipy import ndimage

from segviewer.methods.base import (
    CancelToken,
    VoxelBox,
    Method,
    MethodInputError,
    MethodRequest,
    MethodResult,
    Progress,
    no_progress,
)
from segviewer.methods.common import (
    claim_mask,
    keep_scribbled_components,
    label_dtype,
    normalise,
    require_seeds,
    seeds_with_points,
)
from segviewer.model.geometry import bounding_box
from segviewer.model.parameters import param

#: Cost that stands for "impossible" (hard constraints); finite so sums stay finite.
HARD = 1e9
#: At most this many appearance re-estimations of the box prompt's GrabCut.
GRABCUT_ROUNDS = 8
#: The GrabCut stops when fewer than this fraction of the box voxels change in a round.
GRABCUT_TOLERANCE = 0.001
#: ROIs with more voxels than this are solved coarse-to-fine when ``multiscale="auto"``.
MULTISCALE_VOXELS = 250_000


@dataclass
class GraphCutParameters:
    smoothness: float = param(
        2.0, "Boundary weight λ (the balance), in mm: higher gives smoother, more compact "
        "shapes; lower follows intensity more closely. Parts thinner than about 2λ mm "
        "are smoothed away where intensity does not support them.", min=0.0, max=50.0, step=0.5)
    spatial_prior: float = param(
        1.5, "Weight of the distance-to-scribbles prior (0 = intensity and edges only). "
        "Separates labels of equal intensity and stops leaks far from a label's strokes.",
        min=0.0, max=20.0, step=0.25)
    connectivity: int = param(6, "Neighbourhood of the boundary term: 6, 18 or 26 neighbours "
                                 "(more = less blocky boundaries, slower).", choices=(6, 18, 26))
    bins: int = param(128, "Histogram bins of the intensity model (kernel-density smoothed).",
                      min=16, max=1024)
    keep_connected: bool = param(True, "Drop parts of a label that do not touch a scribble of "
                                       "that label.")
    multiscale: str = param("auto", "Coarse-to-fine solving: auto (for ROIs over 250k voxels), "
                                    "on or off.", choices=("auto", "on", "off"))


# -- intensity model ---------------------------------------------------------------------------
def kde_density(values: np.ndarray, bins: int, floor: float) -> np.ndarray:
    """A kernel-density estimate of ``values`` (in [0, 1]) on ``bins`` bins, as a density
    on [0, 1] mixed with a uniform ``floor``: ``(1 - floor) · kde + floor``."""
    counts, _ = np.histogram(values, bins=bins, range=(0.0, 1.0))
    counts = counts.astype(np.float64)
    n = max(int(values.size), 1)
    std = max(float(np.std(values)) if values.size > 1 else 0.0, 1.0 / bins)
    bandwidth_bins = max(1.06 * std * n ** (-0.2) * bins, 1.0)  # Silverman's rule, ≥ 1 bin
    smooth = ndimage.gaussian_filter1d(counts, bandwidth_bins, mode="constant")
    total = smooth.sum()
    density = smooth * (bins / total) if total > 0 else np.ones(bins)
    return (1.0 - floor) * density + floor


def cost_table(x: np.ndarray, scribbles: np.ndarray, classes: list[int], bins: int,
               background_floor: float = 0.1, label_floor: float = 1e-3) -> np.ndarray:
    """``-log P(class | intensity bin)`` as a ``(K, bins)`` table, from the scribbled
    intensities of each class (``x`` normalised to [0, 1])."""
    densities = np.stack([
        kde_density(x[scribbles == c], bins, background_floor if c == 0 else label_floor)
        for c in classes])
    posterior = densities / densities.sum(axis=0, keepdims=True)
    return (-np.log(np.maximum(posterior, 1e-6))).astype(np.float32)


def data_costs(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The data term of every voxel of ``x``: shape ``(K, *x.shape)`` float32."""
    bins = table.shape[1]
    index = np.minimum((x * bins).astype(np.int32), bins - 1)
    return table[:, index]


#: Background's distance cost is at most this (in units of its scale τ): background is
#: "everything else", and a user who does not close a ring around the structure leaves
#: background far from any background stroke (a partial ring cost 0.20 Dice on the
#: hippocampus without this cap; with it, 0.005).
BACKGROUND_PRIOR_CAP = 0.5
#: Along the axis a label's strokes cut (its fewest scribbled planes) distances count this
#: much for the label's reach: strokes on a few slices say the structure runs through the
#: slices between and beyond them (slices anywhere in the middle 80 %: 0.637 -> 0.657).
STROKE_AXIS_FACTOR = 0.3


def distance_prior(seed_masks: np.ndarray, spacing, minimum_scale: float,
                   background: int | None = None) -> tuple[np.ndarray, list[float]]:
    """``(d_c - min_k d_k) / τ_c`` per class (float32, shape of ``seed_masks``) and the
    scales ``τ_c`` in mm. ``seed_masks[c]`` marks the scribbles of class ``c``.

    With a ``background`` class index, the prior no longer needs a closed background ring:
    background's cost is capped at ``BACKGROUND_PRIOR_CAP``, and a label pays instead for
    reaching further than its scale from its own strokes, ``max(d'_c / τ_c - 1, 0)``, where
    ``d'`` shrinks distances along the strokes' slice axis by ``STROKE_AXIS_FACTOR``."""
    distances = np.stack([ndimage.distance_transform_edt(~mask, sampling=spacing).astype(np.float32)
                          for mask in seed_masks])
    scales = []
    for i, mask in enumerate(seed_masks):
        others = np.delete(distances, i, axis=0).min(axis=0)
        scale = float(np.median(others[mask])) if mask.any() and others.size else minimum_scale
        scales.append(max(scale, minimum_scale))
    nearest = distances.min(axis=0)
    for i, scale in enumerate(scales):
        beyond = None if background in (None, i) else reach_beyond(seed_masks[i], spacing, scale)
        distances[i] -= nearest
        distances[i] *= np.float32(1.0 / scale)
        if beyond is not None:
            distances[i] += beyond
    if background is not None:
        np.minimum(distances[background], BACKGROUND_PRIOR_CAP, out=distances[background])
    return distances, scales


def reach_beyond(mask: np.ndarray, spacing, scale: float) -> np.ndarray:
    """``max(d' / scale - 1, 0)``: how far beyond ``scale`` a voxel lies from ``mask``'s
    strokes, distances along their slice axis (fewest scribbled planes) shrunk."""
    planes = [np.count_nonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
              for axis in range(mask.ndim)]
    sampling = [float(s) for s in spacing]
    sampling[int(np.argmin(planes))] *= STROKE_AXIS_FACTOR
    distance = ndimage.distance_transform_edt(~mask, sampling=sampling).astype(np.float32)
    return np.maximum(distance * np.float32(1.0 / scale) - 1, 0)


# -- grid edges ---------------------------------------------------------------------------------
def neighbour_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """Half of the neighbourhood (one of each ± pair), in array order."""
    limit = {6: 1, 18: 2, 26: 3}[int(connectivity)]
    offsets = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                offset = (dz, dy, dx)
                if offset > (0, 0, 0) and sum(map(abs, offset)) <= limit:
                    offsets.append(offset)
    return offsets


def pair_slices(shape, offset) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices selecting every voxel ``p`` whose neighbour ``p + offset`` is inside, and those
    neighbours."""
    source = tuple(slice(max(0, -d), n - max(0, d)) for n, d in zip(shape, offset))
    target = tuple(slice(s.start + d, s.stop + d) for s, d in zip(source, offset))
    return source, target


def structure_for(offset) -> np.ndarray:
    structure = np.zeros((3, 3, 3))
    structure[offset[0] + 1, offset[1] + 1, offset[2] + 1] = 1
    return structure


def contrast_sigma2(x: np.ndarray) -> float:
    """Mean squared difference between 6-neighbours (the σ² of the boundary term)."""
    total, count = 0.0, 0
    for offset in neighbour_offsets(6):
        source, target = pair_slices(x.shape, offset)
        diff = x[target] - x[source]
        total += float(np.dot(diff.ravel(), diff.ravel()))
        count += diff.size
    return max(total / max(count, 1), 1e-8)


def edge_weights(x: np.ndarray, spacing, connectivity: int, smoothness: float,
                 sigma2: float | None = None) -> tuple[list[tuple[tuple[int, int, int], np.ndarray]], float]:
    """Boundary weights per neighbour offset: arrays shaped like ``x`` (float64, the weight
    of the edge from ``p`` to ``p + offset``; 0 where that neighbour is outside)."""
    if sigma2 is None:
        sigma2 = contrast_sigma2(x)
    offsets = neighbour_offsets(connectivity)
    spacing = np.asarray(spacing, dtype=np.float64)
    per_neighbourhood = 6.0 / len(offsets)
    edges = []
    for offset in offsets:
        distance = float(np.linalg.norm(np.asarray(offset) * spacing))
        source, target = pair_slices(x.shape, offset)
        weights = np.zeros(x.shape, dtype=np.float64)
        diff = x[target] - x[source]
        np.multiply(diff, diff, out=diff)
        diff *= np.float32(-1.0 / (2.0 * sigma2))
        np.exp(diff, out=diff)
        weights[source] = diff
        weights[source] *= smoothness * per_neighbourhood / distance
        edges.append((offset, weights))
    return edges, sigma2


# -- solvers --------------------------------------------------------------------------------------
def binary_cut_grid(cost0: np.ndarray, cost1: np.ndarray, edges) -> np.ndarray:
    """Exact two-label minimum on the grid (PyMaxflow grid API); True where label 1 wins."""
    graph = maxflow.Graph[float](cost0.size, cost0.size * len(edges))
    nodes = graph.add_grid_nodes(cost0.shape)
    for offset, weights in edges:
        graph.add_grid_edges(nodes, weights=weights, structure=structure_for(offset), symmetric=True)
    delta = cost1.astype(np.float64) - cost0
    graph.add_grid_tedges(nodes, np.maximum(delta, 0.0), np.maximum(-delta, 0.0))
    graph.maxflow()
    return graph.get_grid_segments(nodes)


def grid_pairs(shape, edges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid's edges as flat index pairs and weights."""
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    first, second, weights = [], [], []
    for offset, w in edges:
        source, target = pair_slices(shape, offset)
        first.append(index[source].ravel())
        second.append(index[target].ravel())
        weights.append(w[source].ravel())
    return np.concatenate(first), np.concatenate(second), np.concatenate(weights)


def potts_energy(costs: np.ndarray, first, second, weights, labels: np.ndarray) -> float:
    unary = float(np.take_along_axis(costs, labels[None, :], axis=0).sum())
    return unary + float(weights[labels[first] != labels[second]].sum())


def solve_potts(costs: np.ndarray, first: np.ndarray, second: np.ndarray, weights: np.ndarray,
                initial: np.ndarray | None = None, max_cycles: int = 5,
                cancel: CancelToken | None = None) -> tuple[np.ndarray, int]:
    """Minimise ``Σ costs[f_p, p] + Σ w_pq [f_p ≠ f_q]`` over labels ``f`` (class indices).

    Two classes: one exact cut. More: alpha-expansion, cycling over the labels until a
    whole cycle changes nothing. Returns the labels and the number of cycles run.
    """
    classes, count = costs.shape
    if classes == 1:
        return np.zeros(count, dtype=np.int64), 0
    if classes == 2:
        graph = maxflow.Graph[float](count, first.size)
        nodes = graph.add_nodes(count)
        graph.add_edges(first, second, weights, weights)
        delta = costs[1] - costs[0]
        graph.add_grid_tedges(nodes, np.maximum(delta, 0.0), np.maximum(-delta, 0.0))
        graph.maxflow()
        return graph.get_grid_segments(nodes).astype(np.int64), 1
    labels = np.argmin(costs, axis=0) if initial is None else initial.astype(np.int64).copy()
    energy = potts_energy(costs, first, second, weights, labels)
    cycles = 0
    for cycles in range(1, max_cycles + 1):
        improved = False
        for alpha in range(classes):
            if cancel is not None:
                cancel.raise_if_cancelled()
            keep = np.take_along_axis(costs, labels[None, :], axis=0)[0].copy()
            take = costs[alpha].copy()
            lp, lq = labels[first], labels[second]
            a = weights * (lp != lq)  # E(keep, keep)
            b = weights * (lp != alpha)  # E(keep, take)
            c = weights * (lq != alpha)  # E(take, keep)
            # E = A + (C - A) x_p - C x_q + (B + C - A)(1 - x_p) x_q   (D = E(take, take) = 0)
            take += np.bincount(first, c - a, minlength=count)
            take -= np.bincount(second, c, minlength=count)
            graph = maxflow.Graph[float](count, first.size)
            nodes = graph.add_nodes(count)
            graph.add_edges(first, second, np.maximum(b + c - a, 0.0), np.zeros_like(a))
            delta = take - keep
            graph.add_grid_tedges(nodes, np.maximum(delta, 0.0), np.maximum(-delta, 0.0))
            graph.maxflow()
            moved = graph.get_grid_segments(nodes) & (labels != alpha)
            if not moved.any():
                continue
            candidate = np.where(moved, alpha, labels)
            new_energy = potts_energy(costs, first, second, weights, candidate)
            if new_energy < energy - 1e-9 * max(abs(energy), 1.0):
                labels, energy, improved = candidate, new_energy, True
        if not improved:
            break
    return labels, cycles


def solve_grid(costs: np.ndarray, edges, cancel: CancelToken | None = None) -> tuple[np.ndarray, str]:
    """Minimise the energy on the whole grid; class indices shaped like the grid."""
    shape = costs.shape[1:]
    if costs.shape[0] == 2:
        return binary_cut_grid(costs[0], costs[1], edges).astype(np.int64), "exact binary cut"
    first, second, weights = grid_pairs(shape, edges)
    flat, cycles = solve_potts(costs.reshape(costs.shape[0], -1).astype(np.float64), first, second,
                               weights, cancel=cancel)
    return flat.reshape(shape), f"alpha-expansion, {cycles} cycle(s)"


def solve_band(band_costs: np.ndarray, edges, labels: np.ndarray, band: np.ndarray,
               cancel: CancelToken | None = None) -> np.ndarray:
    """Re-solve ``labels`` on the voxels of ``band`` (the rest stays fixed), exactly for the
    same energy: edges to fixed voxels become data costs of the band voxels.
    ``band_costs`` (float64, ``(K, band.sum())``) is modified."""
    count = int(band.sum())
    if count == 0:
        return labels
    node = np.full(labels.shape, -1, dtype=np.int32 if count < 2 ** 31 else np.int64)
    node[band] = np.arange(count)
    classes = band_costs.shape[0]
    first, second, weights = [], [], []

    def fixed_neighbour(nodes_, fixed_labels, w):
        total = np.bincount(nodes_, w, minlength=count)
        band_costs[:] += total[None, :]
        for c in range(classes):
            pick = fixed_labels == c
            if pick.any():
                band_costs[c] -= np.bincount(nodes_[pick], w[pick], minlength=count)

    for offset, w in edges:
        source, target = pair_slices(labels.shape, offset)
        in_p, in_q, ws = band[source], band[target], w[source]
        both = in_p & in_q
        first.append(node[source][both])
        second.append(node[target][both])
        weights.append(ws[both])
        only_p = in_p & ~in_q
        if only_p.any():
            fixed_neighbour(node[source][only_p], labels[target][only_p], ws[only_p])
        only_q = in_q & ~in_p
        if only_q.any():
            fixed_neighbour(node[target][only_q], labels[source][only_q], ws[only_q])
    first_, second_, weights_ = np.concatenate(first), np.concatenate(second), np.concatenate(weights)
    solved, _ = solve_potts(band_costs, first_, second_, weights_, initial=labels[band], cancel=cancel)
    out = labels.copy()
    out[band] = solved
    return out


# -- coarse-to-fine ------------------------------------------------------------------------------
def coarse_factors(shape, spacing) -> tuple[int, int, int]:
    """2 along axes whose spacing is within 1.5x of the finest (and that have room), else 1."""
    finest = min(spacing)
    return tuple(2 if (s <= 1.5 * finest and n >= 8) else 1 for n, s in zip(shape, spacing))  # type: ignore


def block_reduce(array: np.ndarray, factors, reducer=np.mean) -> np.ndarray:
    """Reduce the trailing three axes by blocks of ``factors`` (edge-padded)."""
    lead = array.shape[:-3]
    shape = array.shape[-3:]
    pad = [(0, 0)] * len(lead) + [(0, (-n) % f) for n, f in zip(shape, factors)]
    if any(p[1] for p in pad):
        array = np.pad(array, pad, mode="edge")
    padded = array.shape[-3:]
    view = array.reshape(lead + tuple(v for n, f in zip(padded, factors) for v in (n // f, f)))
    axes = tuple(len(lead) + 2 * a + 1 for a in range(3))
    return reducer(view, axis=axes)


def upsample(array: np.ndarray, factors, shape) -> np.ndarray:
    out = array
    for axis, f in enumerate(factors):
        if f > 1:
            out = np.repeat(out, f, axis=axis)
    return out[tuple(slice(0, n) for n in shape)]


#: Coarse voxels the band extends beyond the coarse boundary (along the coarsened axes).
BAND_GROW = 0


def boundary_band(labels: np.ndarray, factors, grow_by: int | None = None) -> np.ndarray:
    """Voxels next to a label change, grown by ``BAND_GROW`` voxels along the coarsened axes."""
    grow_by = BAND_GROW if grow_by is None else grow_by
    classes = int(labels.max()) + 1
    neighbours = ndimage.generate_binary_structure(3, 1)
    boundary = np.zeros(labels.shape, dtype=bool)
    for c in range(classes):
        mask = labels == c
        boundary |= mask & ~ndimage.binary_erosion(mask, neighbours, border_value=1)
    if grow_by <= 0:
        return boundary
    grow = np.zeros((3, 3, 3), dtype=bool)
    axes = [slice(0, 3) if f > 1 else slice(1, 2) for f in factors]
    grow[tuple(axes)] = True
    return ndimage.binary_dilation(boundary, grow, iterations=grow_by)


@dataclass
class Level:
    """One grid of the coarse-to-fine pyramid."""

    x: np.ndarray  # normalised intensities
    masks: np.ndarray  # (K, *shape) bool: voxels (blocks) holding scribbles of each class
    spacing: tuple[float, float, float]
    factors: tuple[int, int, int]  # how this level is reduced to the next coarser one
    scale: tuple[int, int, int]  # voxels of the finest level per voxel of this one

    #: Class index where exactly one class is scribbled, else -1 (given for the finest level).
    hard_labels: np.ndarray | None = None

    @property
    def hard(self) -> np.ndarray:
        if self.hard_labels is None:
            votes = self.masks.sum(axis=0, dtype=np.int16)
            self.hard_labels = np.where(votes == 1, np.argmax(self.masks, axis=0), -1).astype(np.int16)
        return self.hard_labels

    @property
    def mixed(self) -> np.ndarray:
        if self.hard_labels is not None and self.scale == (1, 1, 1):
            return np.zeros(self.x.shape, dtype=bool)  # a voxel holds one scribble at most
        return self.masks.sum(axis=0, dtype=np.int16) > 1


def build_pyramid(x: np.ndarray, masks: np.ndarray, spacing, mode: str,
                  hard: np.ndarray | None = None) -> list[Level]:
    """Levels from fine to coarse: each 2x coarser along its fine axes, while the grid is
    larger than ``MULTISCALE_VOXELS`` ("auto"; "on": at least one coarser level; "off": none).
    ``hard``: the finest level's class index per voxel (-1 = not scribbled), if known."""
    scale = (1, 1, 1)
    levels = [Level(x, masks, tuple(spacing), (1, 1, 1), scale, hard)]
    while True:
        top = levels[-1]
        factors = coarse_factors(top.x.shape, top.spacing)
        wanted = (mode == "auto" and top.x.size > MULTISCALE_VOXELS) or (mode == "on" and len(levels) == 1)
        if mode == "off" or not wanted or all(f == 1 for f in factors):
            return levels
        top.factors = factors
        scale = tuple(a * f for a, f in zip(scale, factors))
        levels.append(Level(block_reduce(top.x, factors).astype(np.float32),
                            np.stack([block_reduce(m, factors, np.any) for m in top.masks]),
                            tuple(s * f for s, f in zip(top.spacing, factors)), (1, 1, 1), scale))


def pyramid_solve(levels: list[Level], table: np.ndarray, params: GraphCutParameters, sigma2: float,
                  prior: np.ndarray | None, progress: Progress, cancel: CancelToken) -> tuple[np.ndarray, str, float]:
    """Solve the coarsest level whole, then each finer level on the band around the boundary
    of the level above (exact energy on the band; the rest keeps the coarser label).
    ``prior`` lives on the coarsest grid (it is smooth) and is looked up from finer ones."""
    coarsest = levels[-1]
    costs = data_costs(coarsest.x, table).astype(np.float64)
    if prior is not None:
        costs += params.spatial_prior * prior
    apply_hard(costs, coarsest.hard)
    edges, _ = edge_weights(coarsest.x, coarsest.spacing, params.connectivity, params.smoothness, sigma2)
    cancel.raise_if_cancelled()
    labels, solver = solve_grid(costs, edges, cancel)
    del costs, edges
    band_fraction = 1.0
    for depth in range(len(levels) - 2, -1, -1):
        level, above = levels[depth], levels[depth + 1]
        progress(0.3 + 0.55 * (len(levels) - 1 - depth) / (len(levels) - 1), "refining the boundary")
        cancel.raise_if_cancelled()
        band = upsample(boundary_band(labels, level.factors) | above.mixed, level.factors, level.x.shape)
        labels = upsample(labels, level.factors, level.x.shape)
        band_costs = data_costs(level.x[band], table).astype(np.float64)
        if prior is not None:
            where = np.nonzero(band)
            relative = tuple(c // s for c, s in zip(coarsest.scale, level.scale))
            band_costs += params.spatial_prior * prior[(slice(None),) + tuple(i // r for i, r in zip(where, relative))]
        apply_hard(band_costs, level.hard[band])
        edges, _ = edge_weights(level.x, level.spacing, params.connectivity, params.smoothness, sigma2)
        labels = solve_band(band_costs, edges, labels, band, cancel)
        band_fraction = float(band.mean())
        del edges
    if len(levels) > 1:
        factors = "x".join(str(s) for s in coarsest.scale)
        solver = (f"coarse-to-fine, {len(levels)} levels (coarsest {factors}): {solver}, then the exact energy "
                  f"on a band of {100.0 * band_fraction:.0f}% at full resolution")
    return labels, solver, band_fraction


def apply_hard(costs: np.ndarray, hard: np.ndarray) -> None:
    """Make scribbled voxels (``hard`` = class index, -1 = free) impossible to relabel."""
    classes = costs.shape[0]
    for c in range(classes):
        pick = hard == c
        if not pick.any():
            continue
        for other in range(classes):
            costs[other][pick] = 0.0 if other == c else HARD


# -- the whole method, on arrays ------------------------------------------------------------------
def graph_cut(image: np.ndarray, scribbles: np.ndarray, spacing, params: GraphCutParameters | None = None,
              unannotated: int = 255, border_background: bool = False,
              progress: Progress = no_progress, cancel: CancelToken | None = None) -> tuple[np.ndarray, dict]:
    """Segment ``image`` from ``scribbles`` (same shape; 0 = background, k = label k,
    ``unannotated`` = no scribble). ``spacing`` in array order (mm).

    ``border_background``: when no background is scribbled, treat the crop's outer faces
    as background scribbles (the ROI then bounds the object).
    Returns the label crop (class values) and facts for the user.
    """
    params = params or GraphCutParameters()
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    spacing = tuple(float(s) for s in spacing)
    seeds = scribbles
    classes = sorted(int(c) for c in np.unique(seeds) if c != unannotated)
    info: dict = {}
    if 0 not in classes and border_background and len(classes) >= 1:
        seeds = scribbles.copy()
        border = np.ones(seeds.shape, dtype=bool)
        border[1:-1, 1:-1, 1:-1] = False
        if seeds.shape[0] <= 2:  # a thin slab: only the in-plane border bounds it
            border = np.zeros(seeds.shape, dtype=bool)
            border[:, [0, -1], :] = True
            border[:, :, [0, -1]] = True
        seeds[border & (seeds == unannotated)] = 0
        classes = [0] + classes
        info["background"] = "the ROI border (no background scribbled)"
    if len(classes) < 2:
        raise MethodInputError("graph cut needs scribbles of two classes at least: a label and "
                               "background (label 0), or two labels")
    progress(0.05, "intensity model")
    x, low, high = normalise(image)
    table = cost_table(x, seeds, classes, params.bins)
    sigma2 = contrast_sigma2(x)
    cancel.raise_if_cancelled()
    masks = np.stack([seeds == c for c in classes])
    lookup = np.full(int(max(classes + [unannotated])) + 1, -1, dtype=np.int16)
    lookup[classes] = np.arange(len(classes))
    hard = lookup[seeds]
    levels = build_pyramid(x, masks, spacing, params.multiscale, hard)
    scales: list[float] = []
    prior = None
    if params.spatial_prior > 0:
        progress(0.15, "distance prior")
        coarsest = levels[-1]
        prior, scales = distance_prior(coarsest.masks, coarsest.spacing, minimum_scale=2.0 * min(spacing),
                                       background=classes.index(0) if 0 in classes else None)
    progress(0.3, "solving the cut")
    labels, solver, band_fraction = pyramid_solve(levels, table, params, sigma2, prior, progress, cancel)
    del prior, levels
    cancel.raise_if_cancelled()
    if params.keep_connected:
        progress(0.9, "keeping the parts connected to scribbles")
        if 0 in classes:  # parts not touching a scribble of their label (26-connected) go to background
            labels = keep_scribbled_components(labels, hard, connectivity=26, background=classes.index(0))
    values = np.asarray(classes)
    out = values.astype(label_dtype(int(values.max())))[labels]
    info.update({
        "classes": classes,
        "solver": solver,
        "smoothness_mm": params.smoothness,
        "sigma": float(np.sqrt(sigma2)) * (high - low),
        "prior_scales_mm": {str(c): round(s, 2) for c, s in zip(classes, scales)},
        "intensity_range": [low, high],
        "voxels": int(x.size),
        "band_fraction": round(band_fraction, 3),
        "seconds": round(time.perf_counter() - started, 3),
    })
    progress(1.0, "done")
    return out, info


def box_support(boxes: list[VoxelBox], shape) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Where each boxed label may be (its boxes; a flat box: its outline through every
    slice) and where background is certain (outside every box, on a flat box's own slice
    only along its flat axis)."""
    allowed: dict[int, np.ndarray] = {}
    free = np.zeros(shape, dtype=bool)
    for prompt in boxes:
        region = allowed.setdefault(prompt.label, np.zeros(shape, dtype=bool))
        flat = [axis for axis, s in enumerate(prompt.box) if s.stop - s.start == 1 and shape[axis] > 1]
        extruded = tuple(slice(None) if axis in flat else s for axis, s in enumerate(prompt.box))
        region[extruded] = True
        if flat:  # only the box's own slice is bounded; the other slices stay free
            bounded = np.zeros(shape, dtype=bool)
            bounded[tuple(s if axis in flat else slice(None) for axis, s in enumerate(prompt.box))] = True
            free |= ~bounded & region
        free[prompt.box] = True
    return allowed, ~free


def box_graph_cut(image: np.ndarray, boxes: list[VoxelBox], spacing, params: GraphCutParameters | None = None,
                  seeds: np.ndarray | None = None, unannotated: int = 255, progress: Progress = no_progress,
                  cancel: CancelToken | None = None, clicked: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """GrabCut-style iterated graph cut in box prompts (see the module notes); ``seeds``
    (scribbles and clicks: 0 = background, k = label k) are hard constraints, and the seeds
    where ``clicked`` is set (the clicks' balls) also pull their neighbourhood (a stroke
    covers what it means already; a click stands for a region)."""
    params = params or GraphCutParameters()
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    x, low, high = normalise(image)
    allowed, certain_background = box_support(boxes, x.shape)
    scribbled = [] if seeds is None else [int(c) for c in np.unique(seeds) if c != unannotated]
    classes = sorted({0, *allowed, *scribbled})
    values = np.asarray(classes)
    hard = np.where(certain_background, 0, -1).astype(np.int16)
    seed_index = None
    if seeds is not None:
        lookup = np.full(int(max(classes + [unannotated])) + 1, -1, dtype=np.int16)
        lookup[classes] = np.arange(len(classes))
        seed_index = np.where(seeds != unannotated, lookup[seeds], -1)
        hard = np.where(seed_index >= 0, seed_index, hard)
        seed_index = np.where(clicked, seed_index, -1) if clicked is not None and clicked.any() else None
    # the graph covers the boxes' reach only (outside it all is background); the appearance
    # of background comes from the whole ROI
    reach = bounding_box(hard != 0) or tuple(slice(0, n) for n in x.shape)
    sub = x[reach]
    smoothness = box_smoothness(boxes, spacing, params.smoothness)
    edges, sigma2 = edge_weights(sub, spacing, params.connectivity, smoothness)
    current = np.zeros(x.shape, dtype=values.dtype)
    for prompt in sorted(boxes, key=lambda b: -np.prod([s.stop - s.start for s in b.box])):
        current[prompt.box] = prompt.label  # the smaller box wins where boxes overlap
    forbidden = np.zeros((len(classes),) + sub.shape, dtype=bool)
    for label, region in allowed.items():
        forbidden[classes.index(label)] = ~region[reach]
    centred = box_centre_prior(boxes, allowed, x.shape, classes)[(slice(None),) + reach]
    if seed_index is not None:  # clicks pull their neighbourhood to their class
        centred += click_prior(seed_index[reach], len(classes), spacing, box_reach_mm(boxes, spacing))
    box_voxels = max(int((hard[reach] != 0).sum()), 1)
    rounds = 0
    for rounds in range(1, GRABCUT_ROUNDS + 1):
        cancel.raise_if_cancelled()
        progress(0.1 + 0.8 * (rounds - 1) / GRABCUT_ROUNDS, f"appearance round {rounds}")
        costs = data_costs(sub, cost_table(x, current, classes, params.bins)).astype(np.float64)
        costs += params.spatial_prior * centred
        costs[forbidden] = HARD
        apply_hard(costs, hard[reach])
        labels, solver = solve_grid(costs, edges, cancel)
        updated = np.zeros_like(current)
        updated[reach] = values[labels]
        changed = int((updated != current)[reach].sum())
        current = updated
        if rounds > 1 and changed < GRABCUT_TOLERANCE * box_voxels:
            break
    current = _connected_to_boxes(current, boxes)
    progress(1.0, "done")
    return current.astype(label_dtype(int(values.max()))), {
        "classes": classes, "solver": f"GrabCut: {rounds} round(s) of {solver}",
        "smoothness_mm": smoothness, "sigma": float(np.sqrt(sigma2)) * (high - low),
        "intensity_range": [low, high], "voxels": int(sub.size),
        "seconds": round(time.perf_counter() - started, 3)}


#: A box's boundary weight is at most its shortest side (mm) over this: without scribbles the
#: appearance inside a box is a mix, and a λ meant for organs makes a small object's whole
#: surface cost more than its evidence (the hippocampus vanished at λ = 2 mm).
BOX_SMOOTHNESS_DIVISOR = 20.0


def box_sides_mm(boxes: list[VoxelBox], spacing) -> list[float]:
    """Every box's side lengths in mm, flat axes (one voxel) left out."""
    return [(s.stop - s.start) * float(size) for prompt in boxes
            for s, size in zip(prompt.box, spacing) if s.stop - s.start > 1]


def box_smoothness(boxes: list[VoxelBox], spacing, smoothness: float) -> float:
    """The boundary weight λ for box prompts: the user's, capped by the smallest box's
    shortest side (a flat axis aside) / ``BOX_SMOOTHNESS_DIVISOR``."""
    sides = box_sides_mm(boxes, spacing)
    return min(smoothness, min(sides) / BOX_SMOOTHNESS_DIVISOR) if sides else smoothness


#: A correction given with a box reaches this fraction of the box's shortest side.
CLICK_REACH_FRACTION = 0.25


def box_reach_mm(boxes: list[VoxelBox], spacing) -> float:
    """How far a click's pull reaches: ``CLICK_REACH_FRACTION`` of the smallest box's
    shortest side (a flat axis aside), at least two voxels."""
    sides = box_sides_mm(boxes, spacing)
    return max(CLICK_REACH_FRACTION * min(sides) if sides else 0.0, 2.0 * max(float(v) for v in spacing))


def click_prior(seed_index: np.ndarray, classes: int, spacing, reach_mm: float) -> np.ndarray:
    """Costs ``(K, *seed_index.shape)`` from the seeds' class indices (-1 = none): a class's cost falls by up to 1 near its seeds (a click is
    a ball of seeds), linearly to 0 at ``reach_mm``. A click in a large error region then
    corrects the region around it, not a handful of voxels; scribbled background inside a
    box is the same kind of seed."""
    costs = np.zeros((classes,) + seed_index.shape, dtype=np.float32)
    for c in range(classes):
        seeds = seed_index == c
        if not seeds.any():
            continue
        distance = ndimage.distance_transform_edt(~seeds, sampling=spacing)
        costs[c] = -np.maximum(1.0 - distance / reach_mm, 0.0)
    return costs


def box_centre_prior(boxes: list[VoxelBox], allowed: dict[int, np.ndarray], shape,
                     classes: list[int]) -> np.ndarray:
    """The box's tight-fit prior as costs ``(K, *shape)``: a box is drawn around its object,
    so its centre is likely the object and its faces likely background. ``r`` is the
    ellipsoidal radius in the box (0 at the centre, 1 at the middle of a face; a flat axis
    does not count): label cost ``r²``, background cost ``max(1 - r², 0)``."""
    costs = np.zeros((len(classes),) + tuple(shape), dtype=np.float32)
    radius2 = np.full(shape, np.inf, dtype=np.float32)
    for prompt in boxes:
        grids = []
        for axis, s in enumerate(prompt.box):
            n = s.stop - s.start
            coordinate = np.arange(shape[axis], dtype=np.float32)
            half = max(n / 2.0, 0.5)
            grids.append(((coordinate - (s.start + s.stop - 1) / 2.0) / half) ** 2 if n > 1 else
                         np.zeros(shape[axis], dtype=np.float32))
        r2 = grids[0][:, None, None] + grids[1][None, :, None] + grids[2][None, None, :]
        np.minimum(radius2, r2, out=radius2)
        index = classes.index(prompt.label)
        costs[index] = np.where(allowed[prompt.label], np.minimum(radius2, 4.0), 0.0)
    costs[0] = np.maximum(1.0 - radius2, 0.0)
    return costs


def _connected_to_boxes(labels: np.ndarray, boxes: list[VoxelBox]) -> np.ndarray:
    """Each boxed label keeps only its parts that reach into one of its boxes' own voxels."""
    for label in {b.label for b in boxes}:
        mask = labels == label
        parts, _ = ndimage.label(mask, structure=np.ones((3, 3, 3)))
        touching = np.unique(np.concatenate([parts[b.box].ravel() for b in boxes if b.label == label]))
        labels[mask & ~np.isin(parts, touching[touching > 0])] = 0
    return labels


class GraphCutMethod(Method):
    name = "graphcut"
    title = "Graph cut"
    description = ("Boykov–Jolly graph cut from scribbles: intensity model learnt from each class's "
                   "strokes, contrast-sensitive boundaries in mm, distance prior, multi-label by "
                   "alpha-expansion. Draw strokes of each label and of background (0).")
    Parameters = GraphCutParameters
    requires = frozenset({"scribbles"})
    uses_roi = True
    gil_bound = True
    takes_boxes = True

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        params = request.params if isinstance(request.params, GraphCutParameters) else self.default_parameters()
        if request.boxes:
            seeds, unannotated = seeds_with_points(request) or (None, 255)
            clicks, none = seeds_with_points(dataclasses.replace(request, scribbles=None)) or (None, 255)
            labels, info = box_graph_cut(request.image, request.boxes, request.spacing_zyx, params, seeds,
                                         unannotated, progress, cancel,
                                         clicked=None if clicks is None else clicks != none)
            return MethodResult(request.roi, labels, decided=claim_mask(labels, request.labels, info["classes"]),
                                info=info)
        seeds, unannotated = require_seeds(request, self.title)
        labels, info = graph_cut(request.image, seeds, request.spacing_zyx, params, unannotated,
                                 border_background=not request.is_whole_volume, progress=progress, cancel=cancel)
        decided = claim_mask(labels, request.labels, info["classes"])
        return MethodResult(request.roi, labels, decided=decided, info=info)
