"""Weakly supervised fine-tuning from scribbles (and clicks), live.

What is trained, and on what loss — the choices and why
---------------------------------------------------------
Plain partial cross-entropy on a few scribbled slices, applied to all the weights of a
pretrained U-Net, over-fits the scribbled slices and forgets the rest (the issue measured
0.84 → 0.72 Dice). Three things keep it from hurting and still let it rescue:

1. **An input adapter first** (:class:`~segviewer.methods.deep.networks.IntensityAdapter`):
   a point-wise intensity map and a smooth multiplicative bias field, both starting at the
   identity. Before the first step the adapter's polarity (image or inverted image) is
   chosen by which of the two the pretrained network agrees with on the scribbles. Most of
   what goes wrong on a new scanner (contrast, bias field) is undone here with a few dozen
   parameters, so the network's anatomy knowledge is untouched.
2. **Trust the model where it agrees with the user.** The starting prediction's balanced
   accuracy on the scribbled voxels (``agreement``) sets how strongly the unlabelled voxels
   are held to it (a KL "anchor" — self-distillation — on every unscribbled voxel) and how
   fast the network's own weights may move. A model that already agrees with the scribbles
   moves little; one that disagrees is free to change.
3. **A CRF-type regulariser on the unlabelled voxels**: the relaxed Potts energy over
   6-neighbours, weighted by intensity similarity ``exp(-(I_p - I_q)^2 / 2 sigma^2)``
   (the regularised-loss idea of Tang et al. 2018, "On regularized losses for weakly-
   supervised CNN segmentation", restricted to a local neighbourhood so it costs one pass).

Clicks are multiple-instance bags: a positive click for label k says "at least one voxel
within ``point_radius`` is k" (noisy-OR: ``-log(1 - prod(1 - p_k))``), a negative click says
"none of them is k".

From scratch (``model = scratch``, or when no model covers the scribbled labels) the network
is :class:`~segviewer.methods.deep.networks.OnlineNet` (ECONet-like), trained on the
request's region with the same losses (no anchor). Its evidence is pooled log-linearly with
the scribbles' intensity model (the graph cut's kernel-density histograms, weight
``intensity_model``), the distance-to-scribbles prior is added, and the final labels are the
exact minimum of a contrast-sensitive Potts energy on those probabilities (ECONet + graph cut,
as in MONAI Label). Why pool: a classifier trained with cross-entropy on a few strokes places
its decision boundary anywhere in the intensity gap between the strokes (the boundary voxels
are never scribbled), and on the spleen CT it placed it consistently inside the organ; the
kernel-density model places it where the two classes' densities cross. The network keeps what
intensity alone cannot give (local texture and context): pooled, the learner beats both the
network alone and the graph cut on the hippocampus MR from scratch (benchmarks/eval_finetune.py).
Then **self-training**: the last third of the steps trains, besides the strokes, on the refined
labels wherever the pooled evidence is decisive (its largest class probability ≥
``self_training``), at a tenth of the learning rate; there the refinement's edge-aware
corrections become training targets too. Strokes are medial lines and background rings, so
the network never sees the mixed neighbourhoods of the structure's edge; the confident
pseudo-labels (chosen by confidence, not erosion, so thin structures keep theirs) show it the
whole structure and its surroundings.

Live: every ``refresh_every`` steps the current prediction goes out through
``progress(..., partial=result)`` with ``info["loss_curve"]``; cancelling stops after the
current step and keeps the tuned state, so the next run with ``continue_training`` picks up
where it stopped. The result carries the entropy map and a suggestion of where to scribble
next.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from segviewer.methods import offload
from segviewer.methods.base import (
    CancelToken, MethodCancelled, MethodInputError, MethodRequest, MethodResult, Progress, TrainableMethod,
)
from segviewer.methods.common import keep_scribbled_components
from segviewer.methods.deep.card import ModelCard, ModelError
from segviewer.methods.deep.device import choose_device
from segviewer.methods.deep.domain import check_request, domain_info
from segviewer.methods.deep.grid import ModelGridMapping
from segviewer.methods.deep.inference import DEVICES, sliding_window_logits
from segviewer.methods.deep.preprocess import normalize, resample
from segviewer.model.parameters import param

SCRATCH = "scratch"
PRETRAINED_STEPS = 40
SCRATCH_STEPS = 150
#: from scratch: the share of a run's steps spent self-training, and its learning-rate factor
SELF_TRAINING_SHARE = 1 / 3
SELF_TRAINING_RATE = 0.1
SCRATCH_DILATIONS = (1,)
SCRATCH_FEATURES = 16
LR_DECAY = True
SCRATCH_PATCH = 96
#: fraction of scratch training patches placed anywhere in the region (smoothness only there)
RANDOM_PATCH_FRACTION = 0.0


@dataclass
class FinetuneParameters:
    model: str = param("hippocampus_unet", "model to start from: a bundled name, a card/TorchScript/bundle path, "
                       "or 'scratch' for a small network trained from the scribbles alone")
    steps: int = param(0, "optimisation steps in this run (0 = automatic: 40 for a pretrained model, "
                       "150 from scratch)", min=0, max=5000)
    learning_rate: float = param(0.01, "learning rate of the input adapter and of a scratch network "
                                 "(the pretrained weights use a fraction of it)", min=1e-5, max=1.0)
    smoothness: float = param(0.5, "weight of the intensity-weighted smoothness (CRF-type) loss", min=0.0, max=100.0)
    anchor: float = param(1.0, "weight holding unlabelled voxels to the starting prediction (scaled by how "
                          "well the model agrees with the scribbles)", min=0.0, max=100.0)
    spatial_prior: float = param(1.5, "from scratch: weight of the distance-to-scribbles prior added to the "
                                 "network's evidence (as the graph cut's); 0 = appearance only", min=0.0, max=20.0)
    intensity_model: float = param(0.5, "from scratch: weight of the scribbles' intensity model (the graph "
                                   "cut's histograms) pooled with the network's evidence; 0 = the network "
                                   "alone, 1 = intensity alone", min=0.0, max=1.0)
    self_training: float = param(0.8, "from scratch: the last third of the steps also trains on the refined "
                                 "labels where the evidence is at least this sure (0 = strokes only)",
                                 min=0.0, max=0.99)
    refine: str = param("auto", "final labels: 'graphcut' = the exact minimum of a contrast-sensitive Potts "
                        "energy on the network's probabilities (CRF MAP), 'none' = the network's argmax; auto = "
                        "graphcut from scratch, none for a pretrained model", choices=("auto", "graphcut", "none"))
    refine_smoothness: float = param(2.0, "boundary weight of the graph-cut refinement, in mm", min=0.0, max=50.0)
    train_network: str = param("auto", "which pretrained weights may change besides the input adapter",
                               choices=("auto", "none", "decoder", "all"))
    refresh_every: int = param(5, "steps between live previews", min=1, max=1000)
    point_radius: int = param(2, "click neighbourhood radius (voxels) for the multiple-instance loss", min=0, max=10)
    continue_training: bool = param(True, "continue from the state of the previous run on the same image")
    device: str = param("auto", "where the network trains (auto: CUDA, else MPS, else CPU)", choices=DEVICES)
    seed: int = param(0, "random seed", min=0)


# -- losses -------------------------------------------------------------------------------
def partial_cross_entropy(log_p, target, classes_present):
    """Class-balanced CE over scribbled voxels (``target`` = channel index, -1 = none)."""
    import torch

    terms = []
    for c in classes_present:
        mask = target == c
        if mask.any():
            terms.append(-log_p[c][mask].mean())
    return torch.stack(terms).mean() if terms else log_p.sum() * 0


def smoothness_loss(p, image, sigma: float, spacing_zyx):
    """Relaxed Potts energy over 6-neighbours weighted by intensity similarity and 1/distance."""
    terms = []
    for axis in range(3):
        a = [slice(None)] * 4
        b = [slice(None)] * 4
        a[axis + 1] = slice(1, None)
        b[axis + 1] = slice(None, -1)
        ia, ib = image[tuple(a[1:])], image[tuple(b[1:])]
        weight = (-(ia - ib) ** 2 / (2 * sigma ** 2)).exp() / float(spacing_zyx[axis])
        agreement = (p[tuple(a)] * p[tuple(b)]).sum(0)
        terms.append((weight * (1 - agreement)).mean())
    return sum(terms) / 3.0


def mil_point_loss(p, bags):
    """Noisy-OR multiple-instance loss for clicks: bags = [(channel, positive, mask)]."""
    import torch

    terms = []
    for channel, positive, mask in bags:
        pk = p[channel][mask].clamp(1e-6, 1 - 1e-6)
        if positive:
            terms.append(-torch.log1p(-torch.exp(torch.log1p(-pk).sum()).clamp(max=1 - 1e-6)))
        else:
            terms.append(-torch.log1p(-pk).mean())
    return torch.stack(terms).mean() if terms else None


def balanced_agreement(labels_idx: np.ndarray, target: np.ndarray, classes) -> float:
    """Mean over scribbled classes of the fraction of that class's scribble predicted right."""
    scores = []
    for c in classes:
        mask = target == c
        if mask.any():
            scores.append(float((labels_idx[mask] == c).mean()))
    return float(np.mean(scores)) if scores else 0.0


# -- state kept between runs (continue) ---------------------------------------------------
@dataclass
class TuningState:
    key: tuple
    card: ModelCard
    network: object
    adapter: object | None
    optimizer: object
    steps_done: int = 0
    loss_curve: list = field(default_factory=list)
    agreement: float = 0.0
    polarity: float = 1.0
    anchor_probabilities: object = None
    source_kind: str = "pretrained"
    seconds: float = 0.0
    x: object = None  # the (possibly bias-corrected) normalised input the adapter starts from
    input_correction: str = "none"
    log_likelihood: float = 0.0
    source: tuple = ()  # the model's card/file and weights tuning started from: saving never overwrites them


@dataclass(frozen=True)
class TuningSetup:
    """What one fine-tuning run works on, prepared once from the request (:meth:`FinetuneMethod._prepare`).

    Arrays are on the model's grid, in the model's axis order, padded to at least its ROI.
    """

    request: MethodRequest
    params: FinetuneParameters  # with ``steps`` resolved (never 0)
    device: str
    from_scratch: bool
    loaded: object | None  # the pretrained model as loaded (None from scratch)
    card: ModelCard
    mapping: ModelGridMapping
    raw: np.ndarray  # the image on the model grid, before normalisation and padding
    axis_order: str
    x: object  # tensor: the normalised, padded image
    target: object  # int64 tensor: the scribbled channel per voxel, -1 = none
    valid: object  # bool tensor: True on the image, False on the padding
    bags: list  # clicks: [(channel, positive, mask tensor)]
    pads: list  # [(before, after)] per axis
    shape: list  # the unpadded shape
    spacing_zyx: tuple
    roi: list  # the network's window
    classes_present: list[int]  # channels with at least one scribbled voxel
    prior: object | None = None  # tensor: the distance-to-scribbles log-prior (scratch)
    appearance: object | None = None  # tensor: the scribbles' intensity evidence (scratch)
    intensity_model: float = 0.0  # the weight of ``appearance`` in the pooled evidence

    @functools.cached_property
    def scribbled(self) -> np.ndarray:
        """Coordinates of the voxels with a target (training windows centre on them)."""
        return np.argwhere(self.target.numpy() >= 0)


def _fingerprint(image: np.ndarray) -> str:
    view = np.ascontiguousarray(image[:: max(1, image.shape[0] // 8)])
    return hashlib.blake2b(view.tobytes(), digest_size=12).hexdigest()


SCRATCH_WINDOW_FROM_SCRIBBLES = True


def _scratch_normalization(image: np.ndarray, scribbles: np.ndarray | None = None, unannotated: int = 255) -> dict:
    if SCRATCH_WINDOW_FROM_SCRIBBLES and scribbles is not None and (scribbles != unannotated).sum() > 20:
        # the intensities the user marked span the contrast that matters: window on them
        # (1-99 %, widened by a quarter) so look-alike tissues are not squeezed together
        values = image[scribbles != unannotated].astype(np.float32)
        low, high = np.percentile(values, [1, 99])
        margin = 0.25 * max(float(high - low), 1e-6)
        low, high = float(low - margin), float(high + margin)
        return {"kind": "window", "low": low, "high": high, "clip": True, "b_min": -2.0, "b_max": 2.0}
    flat = image.reshape(-1)[:: max(1, image.size // 500_000)].astype(np.float32)
    low, high = np.percentile(flat, [0.5, 99.5])
    mean = float(flat[(flat >= low) & (flat <= high)].mean())
    std = float(flat[(flat >= low) & (flat <= high)].std()) or 1.0
    # a window in image units (transferable to the next case), mapped to about mean 0 / sd 1
    return {"kind": "window", "low": float(low), "high": float(high), "clip": True,
            "b_min": (float(low) - mean) / std, "b_max": (float(high) - mean) / std}


#: Previews skip the graph-cut refinement on regions larger than this (it holds the GIL).
PREVIEW_REFINE_VOXELS = 300_000


def crf_refine(probabilities: np.ndarray, request: MethodRequest, class_values: list[int],
               smoothness: float) -> np.ndarray:
    """Channel index per voxel minimising ``sum -log p + smoothness * contrast-sensitive Potts``.

    The graph cut's own boundary term and solver (exact for two classes, alpha-expansion
    otherwise) with the learned probabilities as the data term; scribbled voxels are hard.
    This is the ECONet + GraphCut pairing of MONAI Label's scribble workflow.
    """
    from segviewer.methods import graphcut
    from segviewer.methods.common import normalise

    x, _, _ = normalise(np.asarray(request.image))
    edges, _ = graphcut.edge_weights(x, request.spacing_zyx, 6, smoothness)
    costs = -np.log(np.clip(probabilities, 1e-4, 1.0)).astype(np.float64)
    if request.scribbles is not None:
        for channel, value in enumerate(class_values):
            marked = request.scribbles == value
            if marked.any():
                for other in range(costs.shape[0]):
                    if other != channel:
                        costs[other][marked] = graphcut.HARD
    return offload.call(graphcut.solve_grid, costs, edges)[0]  # PyMaxflow holds the GIL


def intensity_evidence(raw: np.ndarray, target: np.ndarray, channels: int) -> np.ndarray:
    """Log-posterior per channel from the scribbles' intensities alone (``target`` = channel
    index, -1 = none): the graph cut's kernel-density model, so both methods read the strokes
    the same way. A channel with no strokes (clicks only) gets a flat density."""
    from segviewer.methods import graphcut
    from segviewer.methods.common import normalise

    x, _, _ = normalise(np.asarray(raw))
    table = graphcut.cost_table(x, target, list(range(channels)), graphcut.GraphCutParameters().bins)
    return -graphcut.data_costs(x, table)


def distance_prior(target: np.ndarray, channels: int, spacing_zyx, weight: float) -> np.ndarray:
    """Log-prior per channel from the distance (mm) to each class's scribbles: the graph cut's
    own spatial prior (:func:`segviewer.methods.graphcut.distance_prior`, scale free), times
    ``-weight``, added to the network's evidence so that look-alike tissue far from every
    stroke of a class is not claimed for it. A class with no strokes gets no evidence for it.
    """
    from segviewer.methods import graphcut

    prior = np.zeros((channels, *target.shape), np.float32)
    present = [c for c in range(channels) if (target == c).any()]
    if len(present) < 2:
        return prior
    masks = np.stack([target == c for c in present])
    # the distance transforms hold the GIL: in the GUI they run in the helper process
    scaled, _ = offload.call(graphcut.distance_prior, masks, tuple(spacing_zyx), 2.0 * min(spacing_zyx))
    prior[present] = -weight * scaled
    for c in range(channels):
        if c not in present:
            prior[c] = prior[present].min(axis=0)
    return prior


class Adam:
    """Adam (Kingma & Ba) in a few lines.

    ``torch.optim`` imports ``torch._dynamo`` the first time an optimiser is built — several
    seconds the user would wait for the first preview — so the interactive loop uses this.
    Parameter groups are dicts with ``params`` and ``lr`` (extra keys are kept), like torch's.
    """

    def __init__(self, groups: list[dict], betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.param_groups = groups
        self.betas = betas
        self.eps = eps
        self.state: dict = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        import torch

        beta1, beta2 = self.betas
        with torch.no_grad():
            for group in self.param_groups:
                lr = float(group["lr"])
                for p in group["params"]:
                    if p.grad is None or lr == 0.0:
                        continue
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)}
                    state["t"] += 1
                    m, v, t = state["m"], state["v"], state["t"]
                    m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                    denominator = (v / (1 - beta2 ** t)).sqrt_().add_(self.eps)
                    p.addcdiv_(m, denominator, value=-lr / (1 - beta1 ** t))


def marked_values(request: MethodRequest, shape) -> np.ndarray:
    """The label value the user marked at each voxel (a scribble, or a positive click, which
    wins where both are), -1 where nothing is marked."""
    seeds = np.full(shape, -1, np.int32)
    if request.scribbles is not None:
        marked = request.scribbles != request.unannotated
        seeds[marked] = request.scribbles[marked]
    for point in request.points:
        if point.positive:
            seeds[point.index] = point.label
    return seeds


def _zero_level(raw: np.ndarray, normalization: dict) -> float:
    """Where raw intensity 0 lands after ``normalization`` of ``raw``."""
    kind = normalization.get("kind")
    if kind == "zscore":
        data = raw.astype(np.float32)
        return float(-data.mean(dtype=np.float64) / max(float(data.std(dtype=np.float64)), 1e-6))
    if kind == "window":
        low, high = float(normalization["low"]), float(normalization["high"])
        b_min, b_max = float(normalization.get("b_min", 0.0)), float(normalization.get("b_max", 1.0))
        return (0.0 - low) / max(high - low, 1e-6) * (b_max - b_min) + b_min
    return 0.0


def n4_correct(raw: np.ndarray, shrink: int = 2, iterations=(20, 20, 10)) -> np.ndarray:
    """N4 bias field correction (SimpleITK), fitted on a shrunk copy, applied at full size."""
    import SimpleITK as sitk

    data = raw.astype(np.float32)
    image = sitk.GetImageFromArray(data - float(data.min()) + 1.0)
    factor = [max(1, min(shrink, n // 8)) for n in image.GetSize()]
    small = sitk.Shrink(image, factor)
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations(list(iterations))
    n4.Execute(small)
    log_bias = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(image))
    return (sitk.GetArrayFromImage(image) / np.exp(log_bias)).astype(np.float32)


class FinetuneMethod(TrainableMethod):
    name = "finetune"
    title = "Fine-tune from scribbles"
    description = ("Adapt a U-Net (or train a small network from scratch) to this image from your scribbles "
                   "and clicks; the prediction refreshes live, with an uncertainty map and a hint where to "
                   "scribble next.")
    Parameters = FinetuneParameters
    #: scribbles and/or clicks (either is enough)
    requires = frozenset({"scribbles", "points"})
    uses_roi = True
    #: the distance prior and the graph-cut refinement hold the GIL (SciPy, PyMaxflow)
    offloads = True

    def __init__(self) -> None:
        self.state: TuningState | None = None

    # -- public helpers ------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the tuned state (the next run starts from the model again)."""
        self.state = None

    def run(self, request: MethodRequest, progress: Progress, cancel: CancelToken) -> MethodResult:
        import torch

        params = request.params if request.params is not None else FinetuneParameters()
        started = time.perf_counter()
        cpu_started = time.process_time()
        if not request.scribble_classes() and not request.points:  # scribble_classes() is [] without scribbles
            raise MethodInputError("fine-tuning needs scribbles (or clicks) on the image")
        device = choose_device(params.device)
        if params.steps <= 0:
            scratch = str(params.model).strip().lower() == SCRATCH
            params = dataclasses.replace(params, steps=SCRATCH_STEPS if scratch else PRETRAINED_STEPS)
        torch.manual_seed(params.seed)
        progress(0.0, "preparing")

        setup = self._prepare(request, params, device)
        state = self._state_for(setup)
        domain = check_request(state.card, request)  # before fine-tuning: warn, never refuse
        progress(0.02, domain.text() if domain is not None and not domain.in_domain else "training")
        cancelled = False
        try:
            self_training = setup.from_scratch and params.self_training > 0 and setup.mapping.identity
            later = int(params.steps * SELF_TRAINING_SHARE) if self_training else 0
            split = 0.02 + 0.95 * (params.steps - later) / params.steps
            self._train(state, setup, progress, cancel, params.steps - later, (0.02, split))
            if later:
                self._self_train(state, setup, progress, cancel, later, (split, 0.97))
        except MethodCancelled:
            cancelled = True
        probabilities = self._predict(state, setup)
        result = self._result(state, setup, probabilities)
        result.info.update({"cancelled": cancelled, "seconds": round(time.perf_counter() - started, 3),
                            "cpu_seconds": round(time.process_time() - cpu_started, 3)})
        result.info.update(domain_info(domain, result.labels, result.info.get("entropy")))
        if cancelled:
            progress(1.0, f"stopped after {state.steps_done} steps", partial=result)
            raise MethodCancelled()
        progress(1.0, "done")
        return result

    # -- setup -----------------------------------------------------------------------------
    def _prepare(self, request: MethodRequest, params: FinetuneParameters, device: str) -> TuningSetup:
        import torch

        from_scratch = str(params.model).strip().lower() == SCRATCH
        loaded = None
        if not from_scratch:
            from segviewer.methods.deep.models import load_model

            loaded = load_model(params.model, "cpu")
            card = loaded.card
            missing = [c for c in request.scribble_classes() + [p.label for p in request.points]
                       if c != 0 and c not in card.labels]
            if missing:
                raise ModelError(f"the scribbles use label(s) {sorted(set(missing))} but model {card.name!r} "
                                 f"predicts {', '.join(f'{k} {v}' for k, v in sorted(card.labels.items()))}; "
                                 "use model=scratch for a structure the model does not know")
            orientation, axis_order = loaded.orientation, loaded.axis_order
        else:
            values = sorted({c for c in request.scribble_classes() if c != 0} | {p.label for p in request.points})
            if not values:
                raise MethodInputError("from scratch, scribble at least one label besides background")
            if 0 not in request.scribble_classes() and not any(not p.positive for p in request.points):
                raise MethodInputError("from scratch, also scribble some background (value 0)")
            names = {v: f"label {v}" for v in values}
            card = ModelCard(name="online_net", labels=names,
                             network={"class": "segviewer.methods.deep.networks.OnlineNet",
                                      "kwargs": {"in_channels": 1, "out_channels": len(values) + 1,
                                                 "dilations": list(SCRATCH_DILATIONS),
                                                 "features": SCRATCH_FEATURES}},
                             spacing=None, normalization=_scratch_normalization(request.image, request.scribbles,
                                                                               request.unannotated),
                             roi_size=[64, 128, 128], description="trained from scribbles by segviewer")
            orientation, axis_order = None, "kji"
        mapping = ModelGridMapping.plan(request.geometry, card.spacing, orientation)
        raw = mapping.to_model(request.image)
        x = normalize(raw, card.normalization)
        unannotated = request.unannotated
        scribbles = request.scribbles
        class_values = card.class_values
        channel_of = {v: c for c, v in enumerate(class_values)}
        if scribbles is None:
            target = np.full(x.shape, -1, np.int64)
        else:
            s = scribbles
            if mapping.resampled:
                s = resample(scribbles, mapping.image_geometry, mapping.model_geometry, linear=False,
                             default=unannotated)
            else:
                s = mapping.reorientation.apply(scribbles)
            target = np.full(s.shape, -1, np.int64)
            for value, channel in channel_of.items():
                target[s == value] = channel
        bags = []
        model_geometry = mapping.model_geometry
        for point in request.points:
            k, j, i = point.index
            xyz = request.geometry.index_to_physical((i, j, k))
            ijk = np.rint(model_geometry.physical_to_index(xyz)).astype(int)
            r = int(params.point_radius)
            box = tuple(slice(max(0, c - r), c + r + 1) for c in (ijk[2], ijk[1], ijk[0]))
            mask = np.zeros(x.shape, bool)
            zz, yy, xx = np.ogrid[box[0], box[1], box[2]]
            sub = ((zz - ijk[2]) ** 2 + (yy - ijk[1]) ** 2 + (xx - ijk[0]) ** 2) <= r * r
            mask[box][...] = sub[: mask[box].shape[0], : mask[box].shape[1], : mask[box].shape[2]]
            if mask.any() and point.label in channel_of:
                bags.append((channel_of[point.label], bool(point.positive), mask))
        spacing = model_geometry.spacing
        spacing_zyx = (spacing[2], spacing[1], spacing[0])
        if axis_order == "ijk":
            x, target, raw = x.transpose(2, 1, 0), target.transpose(2, 1, 0), raw.transpose(2, 1, 0)
            bags = [(c, pos, m.transpose(2, 1, 0)) for c, pos, m in bags]
            spacing_zyx = spacing_zyx[::-1]
        # pad to at least the ROI size (windows of the network's ROI are cut from it)
        roi = [int(v) for v in card.roi_size]
        shape = list(x.shape)
        if from_scratch:
            padded = shape
        else:
            padded = [max(n, r) for n, r in zip(shape, roi)]
        pads = [((p - n) // 2, p - n - (p - n) // 2) for n, p in zip(shape, padded)]
        x_pad = np.pad(x, pads)
        t_pad = np.pad(target, pads, constant_values=-1)
        valid = np.zeros(padded, bool)
        valid[tuple(slice(a, a + n) for (a, _), n in zip(pads, shape))] = True
        bags = [(c, pos, np.pad(m, pads)) for c, pos, m in bags]
        prior = appearance = None
        if from_scratch and params.spatial_prior > 0:
            prior = torch.as_tensor(distance_prior(t_pad, card.out_channels, spacing_zyx, params.spatial_prior))
        if from_scratch and params.intensity_model > 0:
            appearance = torch.as_tensor(intensity_evidence(np.pad(raw, pads, mode="edge"), t_pad, card.out_channels))
        return TuningSetup(
            request=request, params=params, device=device, from_scratch=from_scratch, loaded=loaded, card=card,
            mapping=mapping, raw=raw, axis_order=axis_order,
            x=torch.as_tensor(np.ascontiguousarray(x_pad, dtype=np.float32)),
            target=torch.as_tensor(np.ascontiguousarray(t_pad)), valid=torch.as_tensor(valid),
            bags=[(c, pos, torch.as_tensor(m)) for c, pos, m in bags], pads=pads, shape=shape,
            spacing_zyx=spacing_zyx, roi=roi, classes_present=sorted({int(c) for c in np.unique(t_pad) if c >= 0}),
            prior=prior, appearance=appearance, intensity_model=float(params.intensity_model),
        )

    @staticmethod
    def _key(setup: TuningSetup) -> tuple:
        request, params = setup.request, setup.params
        return (str(params.model), tuple(request.image.shape), _fingerprint(request.image),
                tuple((s.start, s.stop) for s in request.roi), tuple(setup.card.class_values))

    def _state_for(self, setup: TuningSetup) -> TuningState:
        import torch

        params, device = setup.params, setup.device
        key = self._key(setup)
        if params.continue_training and self.state is not None and self.state.key == key:
            state = self.state
            for group in state.optimizer.param_groups:
                group["lr"] = group["initial_lr_factor"] * params.learning_rate
            if state.source_kind == "pretrained":
                # a new scribble changes the agreement: re-measure it against the current network
                state.agreement = self._agreement(state, setup)
            return state
        from segviewer.methods.deep.networks import IntensityAdapter, OnlineNet

        card = setup.card.copy()
        if setup.from_scratch:
            kz = 3 if setup.spacing_zyx[0] <= 2.5 * min(setup.spacing_zyx[1:]) else 1
            card.network["kwargs"]["kernel_k"] = kz
            network = OnlineNet(**card.network["kwargs"]).to(device)
            adapter = None
            groups = [{"params": list(network.parameters()), "initial_lr_factor": 1.0}]
            state = TuningState(key, card, network, adapter, None, source_kind="scratch")
        else:
            from segviewer.methods.deep.models import resolve_model_path

            network = copy.deepcopy(setup.loaded.network).to(device)
            network.eval()  # instance norm has no running stats; keep dropout etc. off
            adapter = IntensityAdapter().to(device)
            state = TuningState(key, card, network, adapter, None, source_kind="pretrained",
                                source=(resolve_model_path(params.model), setup.loaded.source))
            self._choose_input(state, setup)
            groups = [{"params": list(adapter.parameters()), "initial_lr_factor": 1.0}]
            trainable = self._network_parameters(network, params.train_network)
            for p in network.parameters():
                p.requires_grad_(False)
            for p in trainable:
                p.requires_grad_(True)
            if trainable:
                groups.append({"params": trainable, "initial_lr_factor": 0.02, "network": True})
            with torch.no_grad():
                state.anchor_probabilities = torch.softmax(self._forward(state, setup), 0).detach()
        for group in groups:
            group["lr"] = group["initial_lr_factor"] * params.learning_rate
        state.optimizer = Adam(groups)
        self.state = state
        return state

    @staticmethod
    def _network_parameters(network, which: str) -> list:
        params = [p for p in network.parameters() if p.is_floating_point()]
        if which == "none":
            return []
        if which in ("all", "auto"):
            return params
        # "decoder": the second half of the parameters in registration order (the up path)
        return params[len(params) // 2:]

    # -- forward, agreement ---------------------------------------------------------------
    def _forward(self, state: TuningState, setup: TuningSetup):
        """Logits (C, *padded) for the whole padded region (one pass or sliding windows)."""
        device = setup.device
        x = (state.x if state.x is not None else setup.x).to(device)[None, None]
        if state.adapter is not None:
            x = state.adapter(x)
        if setup.from_scratch or list(x.shape[2:]) == setup.roi:
            out = state.network(x)
            logits = (out[0] if isinstance(out, (tuple, list)) else out)[0]
            if setup.appearance is not None:
                # log-linear pool; the network trains on its own, so it learns what intensity misses
                weight = setup.intensity_model
                logits = (1.0 - weight) * logits + weight * setup.appearance.to(logits.device)
            if setup.prior is not None:
                logits = logits + setup.prior.to(logits.device)
            return logits
        return self._windows_forward(state, setup, x)

    def _windows_forward(self, state, setup, x):
        import torch

        # no gradient path: only used for previews/anchors on regions larger than the ROI
        with torch.no_grad():
            logits = sliding_window_logits(state.network, x[0, 0].cpu().numpy(), setup.roi,
                                           setup.card.out_channels, device=setup.device)
        return torch.as_tensor(logits, device=x.device)

    def _agreement(self, state: TuningState, setup: TuningSetup) -> float:
        return self._scribble_fit(state, setup)[0]

    def _scribble_fit(self, state: TuningState, setup: TuningSetup) -> tuple[float, float]:
        """(balanced agreement, class-balanced mean log-likelihood) of the scribbles."""
        import torch

        target = setup.target.numpy()
        with torch.no_grad():
            log_p = torch.log_softmax(self._forward(state, setup), 0).cpu().numpy()
        classes = setup.classes_present
        likelihood = [float(log_p[c][target == c].mean()) for c in classes if (target == c).any()]
        return (balanced_agreement(log_p.argmax(0), target, classes),
                float(np.mean(likelihood)) if likelihood else 0.0)

    def _choose_input(self, state: TuningState, setup: TuningSetup) -> None:
        """Start from the image, or (when the model disagrees with the scribbles) from its
        inverse and/or its N4 bias-corrected version, whichever explains the scribbles best.

        The image as it is wins unless another input is clearly better (by 0.1 nats of mean
        scribble log-likelihood), so a model that is right is left alone.
        """
        import torch

        raw = np.asarray(setup.raw, dtype=np.float32)
        candidates = [("none", setup.x, _zero_level(raw, setup.card.normalization))]
        results = []

        def evaluate(name, x, zero):
            for polarity in (1.0, -1.0):
                state.x = x
                with torch.no_grad():
                    state.adapter.scale.fill_(polarity)
                    state.adapter.zero_level.fill_(zero)
                agreement, likelihood = self._scribble_fit(state, setup)
                results.append((likelihood, agreement, name, polarity, x, zero))

        evaluate(*candidates[0])
        default = results[0]
        if default[1] < 0.9 or default[0] < -0.3:
            corrected = n4_correct(raw)
            x = normalize(corrected, setup.card.normalization)
            x = torch.as_tensor(np.ascontiguousarray(np.pad(x, setup.pads), dtype=np.float32))
            evaluate("n4", x, _zero_level(corrected, setup.card.normalization))
        best = max(results, key=lambda r: r[0])
        if best[0] < default[0] + 0.1:
            best = default
        state.log_likelihood, state.agreement, state.input_correction, state.polarity, state.x, zero = best
        with torch.no_grad():
            state.adapter.scale.fill_(state.polarity)
            state.adapter.zero_level.fill_(zero)

    # -- the optimisation -------------------------------------------------------------------
    def _training_window(self, state: TuningState, setup: TuningSetup, rng: np.random.Generator):
        """Where one step trains: a patch around a random scribbled voxel.

        Pretrained: a window of the network's ROI size (the whole padded region when it fits).
        Scratch: a patch of up to 8 x 96 x 96 voxels, so a step costs the same whatever the
        region's size and the first preview comes within seconds.
        """
        shape = list(setup.x.shape)
        if setup.from_scratch:
            # a 2D-per-slice network (thick slices) needs only a slice and its neighbours
            depth = 3 if state.card.network.get("kwargs", {}).get("kernel_k", 3) == 1 else 6
            roi = [min(depth, shape[0]), min(SCRATCH_PATCH, shape[1]), min(SCRATCH_PATCH, shape[2])]
        else:
            roi = setup.roi
        if shape == list(roi):
            return tuple(slice(0, n) for n in shape)
        scribbled = setup.scribbled
        if len(scribbled) and not (setup.from_scratch and rng.random() < RANDOM_PATCH_FRACTION):
            centre = scribbled[int(rng.integers(len(scribbled)))]
        else:
            centre = np.array([int(rng.integers(n)) for n in shape])
        starts = [int(np.clip(c - r // 2 + rng.integers(-r // 4, r // 4 + 1), 0, n - r))
                  for c, r, n in zip(centre, roi, shape)]
        return tuple(slice(s, s + r) for s, r in zip(starts, roi))

    def _self_train(self, state: TuningState, setup: TuningSetup, progress, cancel, steps: int, span) -> None:
        """Train on the strokes plus the refined labels where the evidence is decisive (scratch only)."""
        import torch

        params = setup.params
        probabilities = self._predict(state, setup)
        labels = self._result(state, setup, probabilities).labels
        channels = np.searchsorted(state.card.class_values, labels)
        # decisive evidence, labelled with the refined result even where the refinement overrules
        # it: those edge-aware corrections are what the network should learn
        sure = probabilities.max(0) >= params.self_training
        strokes = setup.target
        pseudo = np.where(sure, channels, -1).astype(np.int64)
        marked = strokes.numpy() >= 0
        pseudo[marked] = strokes.numpy()[marked]
        for group in state.optimizer.param_groups:
            group["lr"] = group["initial_lr_factor"] * params.learning_rate * SELF_TRAINING_RATE
        # training windows are now centred on pseudo-labels too
        self._train(state, dataclasses.replace(setup, target=torch.as_tensor(pseudo)), progress, cancel, steps, span)

    def _train(self, state: TuningState, setup: TuningSetup, progress, cancel, steps: int,
               span=(0.02, 0.97)) -> None:
        """``steps`` optimisation steps; previews report progress within ``span``."""
        import torch

        params = setup.params
        device = setup.device
        rng = np.random.default_rng(params.seed + state.steps_done)
        trust = float(np.clip((state.agreement - 0.5) / 0.4, 0.0, 1.0))
        anchor_weight = params.anchor * trust if state.source_kind == "pretrained" else 0.0
        for group in state.optimizer.param_groups:
            if group.get("network"):
                # a model that agrees with the user barely moves; one that does not is free to
                group["lr"] = group["initial_lr_factor"] * params.learning_rate * (1.0 - 0.9 * trust)
        if params.train_network == "auto" and trust >= 0.95:
            for group in state.optimizer.param_groups:
                if group.get("network"):
                    group["lr"] = 0.0
        x_full = (state.x if state.x is not None else setup.x).to(device)
        target_full = setup.target.to(device)
        valid_full = setup.valid.to(device)
        classes = setup.classes_present
        # intensity scale of the smoothness weights, in normalised units (z-score for the
        # pretrained models, the robust window for scratch)
        sigma = 0.5 if not setup.from_scratch else 0.25
        base_rates = [group["lr"] for group in state.optimizer.param_groups]
        for step in range(steps):
            cancel.raise_if_cancelled()
            if state.source_kind == "scratch" and LR_DECAY:
                # settle at the end of each run: the prediction shown does not jump between steps
                for group, rate in zip(state.optimizer.param_groups, base_rates):
                    group["lr"] = rate * (1.0 - 0.9 * step / max(1, steps - 1))
            window = self._training_window(state, setup, rng)
            x = x_full[window][None, None]
            image = x[0, 0]
            if state.adapter is not None:
                x = state.adapter(x) if window == tuple(slice(0, n) for n in x_full.shape) else \
                    state.adapter(x_full[None, None])[(slice(None), slice(None), *window)]
            out = state.network(x)
            logits = (out[0] if isinstance(out, (tuple, list)) else out)[0]
            if setup.prior is not None:
                logits = logits + setup.prior[(slice(None), *window)].to(logits.device)
            log_p = torch.log_softmax(logits, 0)
            p = log_p.exp()
            target = target_full[window]
            loss = partial_cross_entropy(log_p, target, classes)
            terms = {"ce": loss.item()}
            if params.smoothness > 0:
                smooth = smoothness_loss(p, image, sigma, setup.spacing_zyx)
                loss = loss + params.smoothness * smooth
                terms["smooth"] = smooth.item()
            if anchor_weight > 0 and state.anchor_probabilities is not None:
                q = state.anchor_probabilities[(slice(None), *window)]
                free = (target < 0) & valid_full[window]
                kl = (q * (torch.log(q.clamp_min(1e-6)) - log_p)).sum(0)[free].mean()
                loss = loss + anchor_weight * kl
                terms["anchor"] = kl.item()
            bags = [(c, pos, m.to(device)[window]) for c, pos, m in setup.bags]
            bags = [b for b in bags if b[2].any()]
            if bags:
                mil = mil_point_loss(p, bags)
                loss = loss + mil
                terms["points"] = mil.item()
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            state.steps_done += 1
            state.loss_curve.append(round(loss.item(), 5))
            if (step + 1) % params.refresh_every == 0 and step + 1 < steps:
                probabilities = self._predict(state, setup)
                partial = self._result(state, setup, probabilities, light=True)
                progress(span[0] + (span[1] - span[0]) * (step + 1) / steps,
                         f"step {state.steps_done}, loss {loss.item():.4f}", partial=partial)

    # -- outputs --------------------------------------------------------------------------------
    def _predict(self, state: TuningState, setup: TuningSetup) -> np.ndarray:
        """Probabilities (C, k, j, i) on the request grid."""
        import torch

        with torch.no_grad():
            logits = self._forward(state, setup)
            probabilities = torch.softmax(logits, 0).cpu().numpy()
        crop = tuple(slice(a, a + n) for (a, _), n in zip(setup.pads, setup.shape))
        probabilities = probabilities[(slice(None), *crop)]
        if setup.axis_order == "ijk":
            probabilities = probabilities.transpose(0, 3, 2, 1)
        return setup.mapping.channels_to_image(np.ascontiguousarray(probabilities))

    def _result(self, state: TuningState, setup: TuningSetup, probabilities, light: bool = False) -> MethodResult:
        from segviewer.methods.deep.uncertainty import entropy_map, suggest_scribble

        values = state.card.class_values
        lookup = np.asarray(values, dtype=np.uint16 if max(values) > 255 else np.uint8)
        request, params = setup.request, setup.params
        refine = params.refine if params.refine != "auto" else ("graphcut" if state.source_kind == "scratch" else "none")
        if refine == "graphcut" and not (light and probabilities[0].size > PREVIEW_REFINE_VOXELS):
            labels = lookup[crf_refine(probabilities, request, list(values), params.refine_smoothness)]
        else:
            labels = lookup[probabilities.argmax(0)]
        if state.source_kind == "scratch":
            # a network trained from a few strokes has no anatomy prior: drop look-alike tissue
            # away from every stroke (face-connected parts, 6 neighbours)
            labels = keep_scribbled_components(labels, marked_values(request, labels.shape), connectivity=6)
        entropy = entropy_map(probabilities)
        info = {
            "loss_curve": list(state.loss_curve), "steps": state.steps_done, "model": state.card.name,
            "start": state.source_kind, "agreement": round(state.agreement, 4),
            "polarity": state.polarity, "input_correction": state.input_correction, "label_names": dict(state.card.labels), "entropy": entropy,
        }
        if light:
            info["partial"] = True
        else:
            info["suggestion"] = suggest_scribble(entropy, request.roi)
        return MethodResult(roi=request.roi, labels=labels, probabilities=probabilities.astype(np.float32),
                            classes=list(values), info=info)

    # -- saving ------------------------------------------------------------------------------
    def save_model(self, path, guard=None) -> "object":
        """Write the tuned network + an updated model card (``<path>.pt`` + ``<path>.json``),
        never over a file ``guard`` (an :class:`~segviewer.io.atomic.OutputGuard`) protects."""
        from segviewer.methods.deep.saving import save_tuned_model

        if self.state is None:
            raise ModelError("nothing to save: fine-tune first")
        return save_tuned_model(self.state, path, guard)
