"""Loading segmentation models: bundled, state dict + card, TorchScript, MONAI bundle folder.

Every loader returns a :class:`LoadedModel`: a network in eval mode and the :class:`ModelCard`
that says how to feed it and what its outputs mean. Anything that does not fit (no card, a
card whose labels do not match the outputs, weights that do not fit the network, an input
channel count other than one) raises :class:`ModelError` with a message naming the problem.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from segviewer.io.paths import resource_folders
from segviewer.methods.deep.card import ModelCard, ModelError, build_network

#: Name of the bundled model (a card + weights in resources/models/).
BUNDLED_MODEL = "hippocampus_unet"
#: Name of a card stored inside a TorchScript file (``_extra_files``).
TORCHSCRIPT_CARD = "segviewer_card.json"


def models_folder() -> Path:
    """The bundled models: ``resources/models`` of the source tree, or
    ``<prefix>/share/segviewer/models`` of an installed wheel."""
    folders = resource_folders("models")
    for folder in folders:
        if (folder / f"{BUNDLED_MODEL}.json").is_file():
            return folder
    return folders[0]


def bundled_model_path(name: str = BUNDLED_MODEL) -> Path:
    return models_folder() / f"{name}.json"


@dataclass
class LoadedModel:
    card: ModelCard
    network: object  # torch.nn.Module or torch.jit.ScriptModule
    kind: str  # "state_dict", "torchscript", "bundle"
    source: Path
    #: card options the loader found (axis order / orientation), also kept in the card's extras
    extras: dict = field(default_factory=dict)

    @property
    def axis_order(self) -> str:
        return self.card.network.get("axis_order", "kji")

    @property
    def orientation(self) -> str | None:
        return self.card.network.get("orientation")

    def state_dict(self) -> dict:
        return self.network.state_dict()


def resolve_model_path(model: str | Path | None) -> Path:
    """A path as given, or a bundled model name (``hippocampus_unet``); empty = bundled default."""
    text = str(model or "").strip()
    if not text:
        return bundled_model_path()
    path = Path(text).expanduser()
    if path.exists():
        return path
    bundled = bundled_model_path(text)
    if bundled.exists():
        return bundled
    raise ModelError(f"model {text!r}: no such file or folder, and no bundled model of that name")


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def load_model(model: str | Path | None = None, device: str = "cpu", *, cache: bool = True) -> LoadedModel:
    """Load a model (see module docstring); results are cached per (path, mtime, device).

    A cached network is shared: callers that change weights (fine-tuning) must copy it.
    """
    path = resolve_model_path(model)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device))
    if cache:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
    loaded = _load_uncached(path, device)
    check_card(loaded.card, loaded.source)
    if cache:
        with _CACHE_LOCK:
            _CACHE.clear()  # one model at a time is plenty; frees memory on switches
            _CACHE[key] = loaded
    return loaded


def check_card(card: ModelCard, source: Path) -> None:
    if card.in_channels != 1:
        raise ModelError(f"{source}: the model takes {card.in_channels} input channels; "
                         "segviewer feeds one image (1 channel)")
    declared = card.network.get("kwargs", {}).get("out_channels")
    if declared is not None and int(declared) != card.out_channels:
        raise ModelError(f"{source}: the network has {declared} output channels but the card lists "
                         f"{len(card.labels)} labels + background = {card.out_channels}")
    declared_in = card.network.get("kwargs", {}).get("in_channels")
    if declared_in is not None and int(declared_in) != card.in_channels:
        raise ModelError(f"{source}: the network takes {declared_in} input channels but the card says "
                         f"{card.in_channels}")


def _load_uncached(path: Path, device: str) -> LoadedModel:
    if path.is_dir():
        return _load_bundle(path, device)
    if path.suffix.lower() == ".json":
        card = ModelCard.load(path)
        if not card.weights:
            raise ModelError(f"{path}: the card names no weights file")
        return _load_state_dict(path.parent / card.weights, card, device)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    torchscript = _try_torchscript(path, device)
    if torchscript is not None:
        return torchscript
    card_path = path.with_suffix(".json")
    if not card_path.exists():
        raise ModelError(f"{path}: a state dict needs a model card; put a JSON card named "
                         f"{card_path.name} beside it")
    return _load_state_dict(path, ModelCard.load(card_path), device)


def _read_state(path: Path) -> dict:
    import torch

    if not path.exists():
        raise ModelError(f"{path}: weights file not found")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds
        raise ModelError(f"{path}: not a readable PyTorch weights file ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def fit_state_dict(network, state: dict, source: Path) -> None:
    """Load ``state`` into ``network`` or raise a :class:`ModelError` saying what does not fit."""
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + "; ".join(wrong[:3]) + (" …" if len(wrong) > 3 else ""))
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ModelError(f"{source}: the weights do not fit the network the card describes: " + ", ".join(parts))
    converted = {k: (v.to(own[k].dtype) if v.is_floating_point() else v) for k, v in state.items()}
    network.load_state_dict(converted)


def _load_state_dict(weights: Path, card: ModelCard, device: str) -> LoadedModel:
    check_card(card, weights)
    network = build_network(card)
    fit_state_dict(network, _read_state(weights), weights)
    network.to(device).eval()
    return LoadedModel(card, network, "state_dict", weights)


def _try_torchscript(path: Path, device: str) -> LoadedModel | None:
    import torch

    extra = {TORCHSCRIPT_CARD: ""}
    try:
        network = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception:  # noqa: BLE001 - not TorchScript: the caller tries a state dict
        return None
    if extra[TORCHSCRIPT_CARD]:
        try:
            card = ModelCard.from_dict(json.loads(extra[TORCHSCRIPT_CARD]), source=f"{path} (embedded card)")
        except json.JSONDecodeError:
            raise ModelError(f"{path}: the card embedded in the TorchScript file is not JSON") from None
    else:
        card_path = path.with_suffix(".json")
        if not card_path.exists():
            raise ModelError(f"{path}: a TorchScript model needs a model card: embed it as "
                             f"'{TORCHSCRIPT_CARD}' (_extra_files) or put {card_path.name} beside it")
        card = ModelCard.load(card_path)
    network.to(device).eval()
    return LoadedModel(card, network, "torchscript", path)


# -- MONAI bundles -----------------------------------------------------------------------
def _bundle_card(folder: Path, inference: dict, metadata: dict) -> ModelCard:
    """A card from a MONAI bundle's metadata.json and inference config (best effort)."""
    formats = metadata.get("network_data_format", {})
    inputs = formats.get("inputs", {}).get("image", {})
    outputs = formats.get("outputs", {}).get("pred", {})
    channel_def = outputs.get("channel_def") or {}
    n_out = int(outputs.get("num_channels", len(channel_def) or 2))
    labels = {int(k): str(v) for k, v in channel_def.items() if int(k) != 0}
    if not labels:
        labels = {c: f"label {c}" for c in range(1, n_out)}
    spacing, normalization, orientation = None, {"kind": "none"}, None
    for transform in inference.get("preprocessing", {}).get("transforms", []):
        if not isinstance(transform, dict):
            continue
        target = str(transform.get("_target_", "")).split(".")[-1]
        if target in ("Spacingd", "Spacing") and isinstance(transform.get("pixdim"), (list, tuple)):
            spacing = [float(v) for v in transform["pixdim"]]
        elif target in ("Orientationd", "Orientation"):
            orientation = str(transform.get("axcodes", "RAS"))
        elif target in ("ScaleIntensityRanged", "ScaleIntensityRange"):
            normalization = {"kind": "window", "low": float(transform["a_min"]), "high": float(transform["a_max"]),
                             "b_min": float(transform.get("b_min", 0.0)), "b_max": float(transform.get("b_max", 1.0)),
                             "clip": bool(transform.get("clip", False))}
        elif target in ("NormalizeIntensityd", "NormalizeIntensity"):
            normalization = {"kind": "zscore"}
    roi = inference.get("inferer", {}).get("roi_size") or inputs.get("spatial_shape") or [96, 96, 96]
    roi = [int(v) if not isinstance(v, str) else 96 for v in roi]
    network_def = inference.get("network_def", {})
    target = str(network_def.get("_target_", "bundle network"))
    qualified = target if "." in target else f"monai.networks.nets.{target}"
    kwargs = {k: v for k, v in network_def.items() if not k.startswith("_")}
    return ModelCard(
        name=metadata.get("name", folder.name), labels=labels,
        in_channels=int(inputs.get("num_channels", 1)),
        network={"class": qualified, "kwargs": kwargs, "axis_order": "ijk", "orientation": orientation},
        spacing=spacing, normalization=normalization, roi_size=roi,
        description=f"MONAI bundle {metadata.get('name', folder.name)} {metadata.get('version', '')}".strip(),
    )


def _load_bundle(folder: Path, device: str) -> LoadedModel:
    cards = sorted(folder.glob("*.json"))
    configs = folder / "configs"
    if not configs.is_dir():
        if len(cards) == 1:  # a plain folder holding one segviewer card + its weights
            return _load_uncached(cards[0], device)
        raise ModelError(f"{folder}: not a MONAI bundle (no configs/ folder) and not a folder with one model card")
    try:
        metadata = json.loads((configs / "metadata.json").read_text())
    except FileNotFoundError:
        raise ModelError(f"{folder}: MONAI bundle without configs/metadata.json") from None
    inference_path = next((p for p in (configs / "inference.json", configs / "inference.yaml") if p.exists()), None)
    if inference_path is None:
        raise ModelError(f"{folder}: MONAI bundle without configs/inference.json")
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(inference_path))
    parser["bundle_root"] = str(folder)
    raw = parser.get()
    card = _bundle_card(folder, raw, metadata)
    check_card(card, folder)
    torchscript = folder / "models" / "model.ts"
    weights = folder / "models" / "model.pt"
    if weights.exists():
        try:
            network = parser.get_parsed_content("network_def", instantiate=True)
        except Exception as error:  # noqa: BLE001 - the bundle's own config failed
            raise ModelError(f"{folder}: cannot build the bundle's network_def ({error})") from None
        fit_state_dict(network, _read_state(weights), weights)
        resolved = parser.get_parsed_content("network_def", instantiate=False)
        try:  # keep resolved kwargs (references substituted) so fine-tuned copies can be rebuilt
            card.network["kwargs"] = {k: v for k, v in dict(resolved.get_config()).items() if not k.startswith("_")}
        except Exception:  # noqa: BLE001
            pass
        network.to(device).eval()
        return LoadedModel(card, network, "bundle", folder)
    if torchscript.exists():
        import torch

        network = torch.jit.load(str(torchscript), map_location=device)
        network.eval()
        return LoadedModel(card, network, "bundle", folder)
    raise ModelError(f"{folder}: MONAI bundle without models/model.pt or models/model.ts")
