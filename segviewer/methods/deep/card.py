"""The model card: a small JSON file that rebuilds a network and drives its pre/postprocessing.

A card names the network (an allow-listed class and its keyword arguments), the labels it
predicts, the input spacing and intensity normalisation it expects, the ROI (patch) size for
sliding-window inference, the facts of its training (data, split, validation Dice,
time and hardware, seed, command) and its training domain (what images it knows). Cards are written by ``segviewer train`` and by
fine-tuning (``segviewer finetune --save-model``) and read by every loader here.
"""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segviewer.errors import SegviewerError

CARD_FORMAT = "segviewer-model-card"
CARD_VERSION = 1

#: Modules a card may name a network class from (a card is data, never code to run).
ALLOWED_NETWORK_MODULES = ("monai.networks.nets", "segviewer.methods.deep.networks")

#: Intensity normalisations a card may ask for.
NORMALIZATION_KINDS = ("zscore", "window", "none")


class ModelError(SegviewerError):
    """A model file, folder or card that cannot be used (missing, malformed, mismatched)."""


@dataclass
class ModelCard:
    """Everything needed to rebuild and apply a segmentation network.

    Attributes
    ----------
    name : short identifier of the model.
    labels : ``{label value: name}`` for the foreground classes; output channel ``c`` of
        the network predicts ``class_values[c]`` (channel 0 = background, value 0).
    in_channels : image channels the network takes (segviewer feeds 1).
    network : ``{"class": "monai.networks.nets.UNet", "kwargs": {...}}``.
    spacing : input voxel size in mm along (x, y, z); None = use the image as it is.
    normalization : ``{"kind": "zscore"}`` (per image: mean 0, sd 1 over all voxels),
        ``{"kind": "window", "low": a, "high": b}`` (clip then scale to [0, 1]), or
        ``{"kind": "none"}``.
    roi_size : sliding-window ROI in array order (k, j, i), in model voxels.
    weights : file name of the state dict, relative to the card.
    domain : what the network was trained on (modality, spacing range, orientation, field of
        view, normalised intensity histogram): :class:`segviewer.methods.deep.domain.TrainingDomain`
        as a dict; {} when unknown. Images outside it are warned about, never refused.
    """

    name: str
    labels: dict[int, str]
    network: dict
    in_channels: int = 1
    spacing: list[float] | None = None
    normalization: dict = field(default_factory=lambda: {"kind": "zscore"})
    roi_size: list[int] = field(default_factory=lambda: [64, 64, 64])
    weights: str | None = None
    weights_dtype: str = "float32"
    description: str = ""
    training: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    domain: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = {int(k): str(v) for k, v in dict(self.labels).items()}
        if 0 in self.labels:
            del self.labels[0]  # background is implicit
        if not self.labels:
            raise ModelError(f"model card {self.name!r}: no labels")
        if "class" not in self.network:
            raise ModelError(f"model card {self.name!r}: network has no 'class'")
        kind = self.normalization.get("kind")
        if kind not in NORMALIZATION_KINDS:
            raise ModelError(f"model card {self.name!r}: unknown normalization {kind!r} "
                             f"(known: {', '.join(NORMALIZATION_KINDS)})")
        if kind == "window" and not {"low", "high"} <= set(self.normalization):
            raise ModelError(f"model card {self.name!r}: window normalization needs low and high")
        if self.spacing is not None:
            self.spacing = [float(s) for s in self.spacing]
            if len(self.spacing) != 3 or min(self.spacing) <= 0:
                raise ModelError(f"model card {self.name!r}: spacing must be 3 positive numbers")
        self.roi_size = [int(v) for v in self.roi_size]
        if len(self.roi_size) != 3 or min(self.roi_size) < 1:
            raise ModelError(f"model card {self.name!r}: roi_size must be 3 positive integers")

    # -- derived -------------------------------------------------------------------
    @property
    def class_values(self) -> list[int]:
        """Label value of each output channel: background 0, then the labels in order."""
        return [0] + sorted(self.labels)

    @property
    def out_channels(self) -> int:
        return len(self.class_values)

    # -- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["labels"] = {str(k): v for k, v in sorted(self.labels.items())}
        return {"format": CARD_FORMAT, "version": CARD_VERSION, "out_channels": self.out_channels, **data}

    @classmethod
    def from_dict(cls, data: dict, source: str = "model card") -> "ModelCard":
        data = dict(data)
        if data.get("format", CARD_FORMAT) != CARD_FORMAT:
            raise ModelError(f"{source}: not a segviewer model card (format {data.get('format')!r})")
        data.pop("format", None)
        version = data.pop("version", CARD_VERSION)
        if int(version) > CARD_VERSION:
            raise ModelError(f"{source}: card version {version} is newer than this segviewer reads")
        declared_out = data.pop("out_channels", None)
        known = {f for f in cls.__dataclass_fields__}
        missing = {"name", "labels", "network"} - set(data)
        if missing:
            raise ModelError(f"{source}: missing {', '.join(sorted(missing))}")
        card = cls(**{k: v for k, v in data.items() if k in known})
        if declared_out is not None and int(declared_out) != card.out_channels:
            raise ModelError(f"{source}: out_channels {declared_out} does not match "
                             f"{len(card.labels)} labels + background")
        return card

    def save(self, path: str | Path) -> Path:
        """Write the card as JSON through the one output writer (complete or absent)."""
        from segviewer.io.atomic import write_text_atomically

        return write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n", what="the model card")

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"{path}: no such model card") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelError(f"{path}: not a JSON model card ({error})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path}: a model card is a JSON object")
        return cls.from_dict(data, source=str(path))

    def copy(self) -> "ModelCard":
        return ModelCard.from_dict(copy.deepcopy(self.to_dict()), source=self.name)


def network_class(spec: dict):
    """The network class a card names, from the allow-listed modules only."""
    qualified = str(spec.get("class", ""))
    module_name, _, class_name = qualified.rpartition(".")
    if module_name not in ALLOWED_NETWORK_MODULES:
        raise ModelError(f"network class {qualified!r} is not from an allowed module "
                         f"({', '.join(ALLOWED_NETWORK_MODULES)})")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelError(f"network class {qualified!r} does not exist in this MONAI/segviewer")
    return cls


def _fetches_weights(key: str, value: Any) -> bool:
    """True for a network argument that makes MONAI download weights (``pretrained=True``,
    ``pretrained_url=...``, ``weights_url``, ``model_path`` pointing at a URL …)."""
    name = key.lower()
    if "url" in name:
        return bool(value)
    if name.startswith("pretrain"):
        return bool(value)
    return isinstance(value, str) and "://" in value


def build_network(card: ModelCard):
    """A freshly initialised network as the card describes it (torch is imported here)."""
    cls = network_class(card.network)
    kwargs: dict[str, Any] = dict(card.network.get("kwargs", {}))
    fetching = sorted(key for key in kwargs if _fetches_weights(key, kwargs[key]))
    if fetching:
        # Weights come from the card's own file; a network that downloads at build time
        # would reach the network (or run a fetched pickle) without the user's consent.
        raise ModelError(f"model card {card.name!r}: {', '.join(fetching)} would download weights; "
                         "segviewer loads weights only from the card's weights file")
    for key, value in list(kwargs.items()):
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ModelError(f"model card {card.name!r}: cannot build {card.network['class']}: {error}") from None
