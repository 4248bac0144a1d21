"""Supervised training of a segmentation U-Net (``segviewer train``).

Reproducible with a fixed seed: the split is a JSON file in the repository, the sampling,
augmentation and initialisation draw from generators seeded here. Runs on CUDA when present,
otherwise on the CPU (``threads`` sets torch's intra-op threads).

Recipe (chosen for a small network trained in about an hour on a 2-core CPU):

- per-image z-score normalisation (as nnU-Net does for MRI), images resampled to the median
  spacing of the training set when they differ from it;
- random patches of ``roi_size`` (array order), zero-padded where the image is smaller;
- augmentation: left-right flip only (flipping anterior/posterior or superior/inferior would
  change what the labels mean), a small random rotation and scaling (p = 0.3), intensity
  scale and shift, light Gaussian noise;
- MONAI ``UNet`` (residual units, instance norm), Dice + cross-entropy loss (batch Dice),
  AdamW with a polynomial learning-rate decay;
- validation Dice per label every ``val_every`` iterations with the same sliding-window
  inference segviewer uses; the best checkpoint (by mean foreground Dice) is kept. The
  validation split is used for checkpoint selection only.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk
from torch.utils.data import IterableDataset  # only `segviewer train` imports this module

from segviewer.methods.deep.card import ModelCard, ModelError, build_network
from segviewer.methods.deep.device import autocast, choose_device, loader_workers, uses_cuda
from segviewer.methods.deep.domain import domain_of_images
from segviewer.methods.deep.preprocess import model_grid, needs_resampling, normalize, resample
from segviewer.methods.deep.saving import save_weights
from segviewer.io.images import geometry_of


@dataclass
class TrainConfig:
    data: Path
    split: Path
    out: Path
    name: str = "hippocampus_unet"
    labels: dict[int, str] = field(default_factory=dict)
    seed: int = 0
    iterations: int = 20000
    batch_size: int = 2
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    roi_size: tuple[int, int, int] = (40, 56, 40)
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 2
    val_every: int = 1000
    time_limit_minutes: float | None = None
    threads: int = 1
    device: str = "auto"
    flip_axes: tuple[int, ...] = (2,)  # array axes; 2 = i = x (left-right) for these crops
    command: str = ""
    modality: str = ""  # the training domain's modality tag (MR, CT ...), "" unknown
    anatomy: str = ""  # the training domain's words: "crops around the hippocampus"
    #: The label value of voxels nobody annotated (nnU-Net's ignore label: scribble-only cases),
    #: left out of the loss; None: every voxel is labelled.
    ignore_label: int | None = None


# -- data ---------------------------------------------------------------------------------
def read_split(path: Path) -> dict:
    try:
        split = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: no such split file") from None
    except (OSError, ValueError) as error:  # a folder, not text, not JSON
        raise ModelError(f"{path}: not a readable JSON split file ({error})") from None
    if not isinstance(split, dict) or not split.get("train") or not split.get("validation"):
        raise ModelError(f"{path}: a split needs non-empty 'train' and 'validation' lists")
    return split


def case_paths(data: Path, case: str) -> tuple[Path, Path]:
    data = Path(data)
    image = data / "imagesTr" / f"{case}.nii.gz"
    if not image.exists():  # nnU-Net v2 naming with a channel suffix
        image = data / "imagesTr" / f"{case}_0000.nii.gz"
    label = data / "labelsTr" / f"{case}.nii.gz"
    if not image.exists() or not label.exists():
        raise ModelError(f"case {case}: image or label missing under {data}")
    return image, label


def load_case(data: Path, case: str, spacing: list[float] | None, normalization: dict):
    """(normalised float32 image, uint8 label) of one case on the model grid."""
    image_path, label_path = case_paths(data, case)
    image = sitk.ReadImage(str(image_path))
    label = sitk.ReadImage(str(label_path))
    array = sitk.GetArrayFromImage(image)
    label_array = sitk.GetArrayFromImage(label).astype(np.uint8)
    geometry = geometry_of(image)
    if needs_resampling(geometry, spacing):
        target = model_grid(geometry, spacing)
        array = resample(array.astype(np.float32), geometry, target, linear=True)
        label_array = resample(label_array, geometry, target, linear=False)
    return normalize(array, normalization), label_array


def common_orientation(data: Path, cases: list[str]) -> str | None:
    """The orientation letters (e.g. ``RAS``) shared by every training image, else None."""
    from segviewer.model.geometry import Geometry

    found = set()
    for case in cases:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(case_paths(data, case)[0]))
        reader.ReadImageInformation()
        geometry = Geometry(reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(),
                            np.asarray(reader.GetDirection()).reshape(3, 3))
        found.add("".join(geometry.orientation_letters()))
    return found.pop() if len(found) == 1 else None


def raw_images(data: Path, cases: list[str]):
    """(array, geometry) of each case's image as stored (before resampling), one at a time."""
    for case in cases:
        image = sitk.ReadImage(str(case_paths(data, case)[0]))
        yield sitk.GetArrayFromImage(image), geometry_of(image)


def median_spacing(data: Path, cases: list[str]) -> list[float]:
    spacings = []
    for case in cases:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(case_paths(data, case)[0]))
        reader.ReadImageInformation()
        spacings.append(reader.GetSpacing())
    return [float(v) for v in np.median(np.asarray(spacings), axis=0)]


# -- sampling and augmentation -----------------------------------------------------------
def random_patch(image: np.ndarray, label: np.ndarray, roi: tuple[int, int, int], rng: np.random.Generator):
    """A random ``roi`` patch, zero-padded (random placement) where the volume is smaller."""
    pads = []
    for n, r in zip(image.shape, roi):
        extra = max(0, r - n)
        before = int(rng.integers(0, extra + 1))
        pads.append((before, extra - before))
    if any(p != (0, 0) for p in pads):
        image = np.pad(image, pads)
        label = np.pad(label, pads)
    starts = [int(rng.integers(0, n - r + 1)) for n, r in zip(image.shape, roi)]
    box = tuple(slice(s, s + r) for s, r in zip(starts, roi))
    return image[box], label[box]


def augment(images, labels, rng: np.random.Generator, flip_axes=(2,)):
    """Augment a batch of (B, 1, D, H, W) tensors in place-ish; returns new tensors."""
    import torch
    import torch.nn.functional as F

    batch = images.shape[0]
    # small rotation + isotropic scaling
    thetas, any_affine = [], False
    for _ in range(batch):
        matrix = np.eye(3)
        if rng.random() < 0.3:
            any_affine = True
            ax, ay, az = rng.uniform(-math.radians(15), math.radians(15), 3)
            rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
            ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
            rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
            matrix = rx @ ry @ rz / rng.uniform(0.85, 1.15)
        thetas.append(np.concatenate([matrix, np.zeros((3, 1))], axis=1))
    if any_affine:
        theta = torch.as_tensor(np.stack(thetas), dtype=images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        labels = F.grid_sample(labels.float(), grid, mode="nearest", padding_mode="zeros",
                               align_corners=False).long()
    # flips along the allowed axes only
    for b in range(batch):
        dims = [2 + a for a in flip_axes if rng.random() < 0.5]
        if dims:
            images[b] = torch.flip(images[b], dims=[d - 1 for d in dims])
            labels[b] = torch.flip(labels[b], dims=[d - 1 for d in dims])
    # intensity scale and shift, light noise
    scale = torch.as_tensor(rng.uniform(0.85, 1.15, (batch, 1, 1, 1, 1)), dtype=images.dtype)
    shift = torch.as_tensor(rng.uniform(-0.15, 0.15, (batch, 1, 1, 1, 1)), dtype=images.dtype)
    images = images * scale + shift
    noisy = rng.random(batch) < 0.15
    if noisy.any():
        sigma = torch.as_tensor(rng.uniform(0, 0.1, (batch, 1, 1, 1, 1)) * noisy[:, None, None, None, None],
                                dtype=images.dtype)
        images = images + sigma * torch.randn_like(images)
    return images, labels


# -- evaluation --------------------------------------------------------------------------
def dice_per_label(prediction: np.ndarray, truth: np.ndarray, values: list[int]) -> dict[int, float]:
    out = {}
    for v in values:
        p, t = prediction == v, truth == v
        denominator = int(p.sum()) + int(t.sum())
        out[v] = 1.0 if denominator == 0 else 2.0 * int(np.logical_and(p, t).sum()) / denominator
    return out


def predict_volume(network, image: np.ndarray, roi_size, device, overlap: float = 0.5):
    """Argmax labels of a normalised (k, j, i) image, plain sliding window (training-time eval)."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        x = torch.as_tensor(image[None, None], device=device)
        logits = sliding_window_inference(x, roi_size, 1, network, overlap=overlap, mode="gaussian")
    return logits[0].argmax(0).cpu().numpy().astype(np.uint8)


def evaluate(network, cases, roi_size, device, label_values) -> dict:
    network.eval()
    per_case = [dice_per_label(predict_volume(network, image, roi_size, device), label, label_values)
                for image, label in cases]
    network.train()
    mean = {v: float(np.mean([d[v] for d in per_case])) for v in label_values}
    return {"per_label": mean, "mean": float(np.mean(list(mean.values())))}


# -- training ----------------------------------------------------------------------------
def partial_dice_ce(ignore: int, classes: int):
    """Batch Dice + cross-entropy over the annotated voxels only (the target is not ``ignore``),
    nnU-Net's handling of its ignore label: a full mask gets plain Dice + CE, scribbles a
    partial cross-entropy and a Dice on the scribbled voxels."""
    import torch
    import torch.nn.functional as F

    def loss(logits, targets):
        targets = targets[:, 0]
        known = targets != ignore
        clean = torch.where(known, targets, torch.zeros_like(targets))
        logits = logits.float()
        cross_entropy = (F.cross_entropy(logits, clean, reduction="none") * known).sum() / known.sum().clamp(min=1)
        mask = known[:, None].float()
        probabilities = logits.softmax(1) * mask
        truth = F.one_hot(clean, classes).movedim(-1, 1).float() * mask
        axes = (0, 2, 3, 4)  # batch Dice, as DiceCELoss(batch=True)
        overlap, total = (probabilities * truth).sum(axes), probabilities.sum(axes) + truth.sum(axes)
        dice = 1.0 - ((2.0 * overlap + 1e-5) / (total + 1e-5)).mean()
        return dice + cross_entropy

    return loss


def pick_device(name: str):
    """The ``torch.device`` to train on (:func:`segviewer.methods.deep.device.choose_device`)."""
    import torch

    return torch.device(choose_device(name))


class PatchBatches(IterableDataset):
    """Augmented ``(images, targets)`` batches of random patches, endlessly (a torch
    ``IterableDataset``): from ``rng`` in the training process, from a generator of its own
    (seeded from the seed and its number) in each data-loading worker process."""

    def __init__(self, cases, config: TrainConfig, rng: np.random.Generator) -> None:
        self.cases, self.config, self.rng = cases, config, rng

    def __iter__(self):
        import torch
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        generator = self.rng if info is None else np.random.default_rng([self.config.seed, info.id])
        config = self.config
        while True:
            patches = [random_patch(*self.cases[int(generator.integers(len(self.cases)))], config.roi_size, generator)
                       for _ in range(config.batch_size)]
            images = torch.as_tensor(np.stack([p[0] for p in patches])[:, None])
            targets = torch.as_tensor(np.stack([p[1] for p in patches])[:, None].astype(np.int64))
            yield augment(images, targets, generator, config.flip_axes)


def _one_thread(worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)  # a loader process prepares one batch at a time; the cores are the loop's


def training_batches(cases, config: TrainConfig, rng: np.random.Generator, device, workers: int | None = None):
    """The training loop's batches as a ``DataLoader`` iterator. On a GPU,
    :func:`~segviewer.methods.deep.device.loader_workers` processes prepare them ahead of the
    loop; on the CPU they are made in this process, draw for draw as the loop always did.
    ``workers`` overrides the count."""
    import torch
    from torch.utils.data import DataLoader

    workers = loader_workers(device) if workers is None else workers
    # the loader draws its workers' seeds from a generator of its own: torch's global one
    # (the noise of the augmentation) keeps the sequence it had
    seeds = torch.Generator().manual_seed(config.seed)
    return iter(DataLoader(PatchBatches(cases, config, rng), batch_size=None, num_workers=workers,
                           pin_memory=uses_cuda(device), worker_init_fn=_one_thread, persistent_workers=workers > 0,
                           generator=seeds))


def hardware_description(device) -> str:
    import os

    import torch

    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {os.cpu_count()} cores available, {torch.get_num_threads()} torch thread(s))"


def train(config: TrainConfig, log: Callable[[str], None] = print) -> ModelCard:
    """Train, keep the best checkpoint, write ``<name>.pt`` + ``<name>.json`` to ``config.out``."""
    import torch
    from monai.losses import DiceCELoss

    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    split = read_split(config.split)  # before the output folder exists: a bad split leaves nothing
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    spacing = median_spacing(config.data, split["train"])
    normalization = {"kind": "zscore"}
    t0 = time.time()
    train_cases = [load_case(config.data, c, spacing, normalization) for c in split["train"]]
    val_cases = [load_case(config.data, c, spacing, normalization) for c in split["validation"]]
    found = sorted(set(np.unique(np.concatenate([lab.ravel() for _, lab in train_cases]))) - {0, config.ignore_label})
    labels = dict(config.labels) or {int(v): f"label {int(v)}" for v in found}
    if sorted(labels) != [int(v) for v in found]:
        raise ModelError(f"labels {sorted(labels)} given, the training labels hold {found}")
    label_values = sorted(labels)
    log(f"loaded {len(train_cases)} training + {len(val_cases)} validation cases in {time.time() - t0:.1f} s; "
        f"spacing {spacing}, labels {labels}, device {device}")

    card = ModelCard(
        name=config.name,
        labels=labels,
        in_channels=1,
        network={"class": "monai.networks.nets.UNet",
                 "kwargs": {"spatial_dims": 3, "in_channels": 1, "out_channels": len(labels) + 1,
                            "channels": list(config.channels), "strides": list(config.strides),
                            "num_res_units": config.num_res_units, "norm": "instance"},
                 # the network sees array[k, j, i] with the index axes pointing as in training
                 "axis_order": "kji", "orientation": common_orientation(config.data, split["train"])},
        spacing=spacing,
        normalization=normalization,
        roi_size=list(config.roi_size),
        weights=f"{config.name}.pt",
        weights_dtype="float16",
    )
    network = build_network(card).to(device)
    n_params = sum(p.numel() for p in network.parameters())
    log(f"network {card.network['class']} {card.network['kwargs']} — {n_params / 1e6:.2f} M parameters")
    loss_function = (DiceCELoss(to_onehot_y=True, softmax=True, batch=True) if config.ignore_label is None
                     else partial_dice_ce(config.ignore_label, len(labels) + 1))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    # float16 autocast on CUDA; the scaler keeps small float16 gradients from vanishing (off on the CPU)
    scaler = torch.amp.GradScaler("cuda", enabled=uses_cuda(device))
    batches = training_batches(train_cases, config, rng, device)
    warmup = min(200, config.iterations // 10)

    def learning_rate(iteration: int) -> float:
        if iteration < warmup:
            return config.learning_rate * (iteration + 1) / warmup
        return config.learning_rate * (1 - iteration / config.iterations) ** 0.9

    best = {"mean": -1.0}
    best_state = None
    history = []
    start = time.time()
    running = []
    network.train()
    iteration = 0
    for iteration in range(config.iterations):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration)
        images, targets = next(batches)
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast(device):
            loss = loss_function(network(images), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        running.append(loss.item())
        done = iteration + 1
        if done % 100 == 0:
            elapsed = time.time() - start
            log(f"it {done}/{config.iterations} loss {np.mean(running):.4f} lr {learning_rate(iteration):.2e} "
                f"{done / elapsed:.2f} it/s elapsed {elapsed / 60:.1f} min")
            running = []
        over_time = config.time_limit_minutes is not None and time.time() - start > 60 * config.time_limit_minutes
        if done % config.val_every == 0 or done == config.iterations or over_time:
            scores = evaluate(network, val_cases, config.roi_size, device, label_values)
            history.append({"iteration": done, "minutes": (time.time() - start) / 60, **scores})
            log(f"validation at {done}: {scores}")
            if scores["mean"] > best["mean"]:
                best = {**scores, "iteration": done}
                best_state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
                save_weights(best_state, out / f"{config.name}.best_fp32.pt")
                log(f"  new best {best['mean']:.4f}")
        if over_time:
            log(f"time limit of {config.time_limit_minutes} min reached at iteration {done}")
            break
    seconds = time.time() - start

    # export the best checkpoint in float16 and evaluate exactly what is shipped
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in best_state.items()}
    save_weights(half, out / card.weights)
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    final = evaluate(network, val_cases, config.roi_size, device, label_values)
    log(f"shipped (float16) weights, validation: {final}")
    import monai

    card.training = {
        "data": "Medical Segmentation Decathlon Task04 Hippocampus (imagesTr/labelsTr)"
        if "hippocampus" in str(config.data).lower() else Path(config.data).name,
        "split": "resources/splits/" + Path(config.split).name,
        "train_cases": len(train_cases),
        "validation_cases": len(val_cases),
        "seed": config.seed,
        "iterations": iteration + 1,
        "best_iteration": best["iteration"],
        "batch_size": config.batch_size,
        "optimizer": f"AdamW lr {config.learning_rate} (poly 0.9, {warmup} warm-up), weight decay {config.weight_decay}",
        "loss": "DiceCE (batch Dice + cross-entropy)" + ("" if config.ignore_label is None else
                f"; voxels of the ignore label {config.ignore_label} (scribble-only cases) left out of both"),
        "augmentation": "left-right flip; rotation ±15°, scale 0.85–1.15 (p 0.3); intensity scale 0.85–1.15, "
                        "shift ±0.15; Gaussian noise (p 0.15)",
        "seconds": round(seconds, 1),
        "hardware": hardware_description(device),
        "parameters": n_params,
        "torch": torch.__version__,
        "monai": monai.__version__,
        "command": config.command,
        "validation_history": history,
    }
    card.validation = {
        "dice": {labels[v]: round(final["per_label"][v], 4) for v in label_values},
        "mean_dice": round(final["mean"], 4),
        "cases": len(val_cases),
        "inference": "sliding window, ROI = roi_size, overlap 0.5, Gaussian weighting",
        "note": "validation split used only to select the checkpoint",
    }
    card.domain = domain_of_images(raw_images(config.data, split["train"]), normalization,
                                   modality=config.modality, anatomy=config.anatomy).to_dict()
    card.save(out / f"{config.name}.json")
    log(f"wrote {out / card.weights} and {out / (config.name + '.json')}")
    return card


def config_from_args(args, argv: list[str] | None = None) -> TrainConfig:
    labels = {}
    for item in (args.labels or "").split(","):
        if item.strip():
            value, _, name = item.partition("=")
            labels[int(value)] = name.strip() or f"label {value}"
    return TrainConfig(
        data=Path(args.data), split=Path(args.split), out=Path(args.out), name=args.name, labels=labels,
        seed=args.seed, iterations=args.iterations, batch_size=args.batch_size, learning_rate=args.lr,
        roi_size=tuple(args.roi_size), channels=tuple(args.channels), strides=(2,) * (len(args.channels) - 1),
        val_every=args.val_every,
        time_limit_minutes=args.time_limit, threads=args.threads, device=args.device,
        command="segviewer train " + " ".join(argv or []), modality=args.modality, anatomy=args.anatomy,
    )


def _dump(config: TrainConfig) -> str:
    return json.dumps({k: str(v) for k, v in asdict(config).items()})
