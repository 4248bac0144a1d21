"""Loading segmentation models: bundled, state dict + card, TorchScript, MONAI bundle folder.

Every loader returns a :class:`LoadedModel`: a network in eval mode and the :class:`ModelCard`
that says how to feed it and what its outputs mean. Anything that does not fit (no card, a
card whose labels do not match the outputs, weights that do not fit the network, an input
channel count other than one) raises :class:`ModelError` with a message naming the problem.

Trust: a state dict is read with ``weights_only=True`` and runs no code. A TorchScript file
and a MONAI bundle (whose configs hold Python expressions and ``_target_`` classes) are code:
they load only when the user has trusted their content (:mod:`segviewer.io.trust`;
``--trust-model`` on the command line, a dialog in the app), else :class:`ModelTrustError`.
Until then nothing of them is executed: TorchScript is recognised by its zip entries and a
bundle's configs are read as plain JSON/YAML. The bundled models are trusted as installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from segviewer.io.paths import refuse_special_file, resource_folders
from segviewer.io.trust import content_digest, is_trusted, record_trust
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


#: Model kinds that carry code, as the trust messages name them.
CODE_KINDS = {"torchscript": "a TorchScript file (a compiled program)",
              "bundle": "a MONAI bundle (its configs run Python expressions)"}


class ModelTrustError(ModelError):
    """A model that carries code (TorchScript, MONAI bundle) whose content the user has not
    trusted. ``digest`` is the SHA-256 the user is asked to trust."""

    def __init__(self, path: str | Path, kind: str, digest: str) -> None:
        self.path, self.kind, self.digest = Path(path), kind, digest
        super().__init__(f"{path}: {CODE_KINDS[kind]} can run code on this computer, and you have not "
                         f"trusted it (SHA-256 {digest}). If you trust its source, run again with "
                         "--trust-model (in the app: answer 'Trust and run' in the dialog)")

    def __reduce__(self):  # crosses the helper-process boundary intact
        return type(self), (str(self.path), self.kind, self.digest)


def looks_like_path(text: str) -> bool:
    """A path has a folder separator, a suffix or a leading ``~`` (or is ``.``/``..``);
    anything else is a name."""
    separators = {"/", os.sep, os.altsep} - {None}
    return (any(s in text for s in separators) or bool(Path(text).suffix) or text.startswith("~")
            or text in (".", ".."))


def resolve_model_path(model: str | Path | None) -> Path:
    """A path (see :func:`looks_like_path`), or a bundled model name (``hippocampus_unet``);
    empty = bundled default. A bare name is only ever a bundled model: a file or folder of
    that name in the current folder must not take its place unasked."""
    text = str(model or "").strip()
    if not text:
        return bundled_model_path()
    if not looks_like_path(text):
        bundled = bundled_model_path(text)
        if bundled.is_file():
            return bundled
        names = ", ".join(sorted(p.stem for p in models_folder().glob("*.json"))) or "none"
        here = f"; for the {text!r} in the current folder write ./{text}" if Path(text).exists() else ""
        raise ModelError(f"model {text!r}: no bundled model of that name (bundled: {names}){here}")
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(f"model {text!r}: no such file or folder")
    refuse_special_file(path)  # a pipe would block the load forever
    return path


def is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (it holds compiled ``code/``), decided from its zip
    entries without loading it; ``torch.save`` state dicts have none."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in name or name.endswith("constants.pkl") for name in names)


def code_kind(path: Path) -> str | None:
    """``"torchscript"`` or ``"bundle"`` for a model that carries code, else None."""
    if path.is_dir():
        return "bundle" if (path / "configs").is_dir() else None
    if path.is_file() and path.suffix.lower() != ".json" and is_torchscript(path):
        return "torchscript"
    return None


def is_bundled(path: Path) -> bool:
    """True for a file of the installed bundled models (trusted as installed)."""
    return path.resolve().parent == models_folder().resolve()


def check_trusted(path: Path, kind: str, digest: str | None = None) -> None:
    """Raise :class:`ModelTrustError` unless the content of ``path`` is trusted."""
    if is_bundled(path):
        return
    digest = digest or content_digest(path)
    if not is_trusted(digest):
        raise ModelTrustError(path, kind, digest)


@dataclass(frozen=True)
class TrustRecord:
    path: Path
    kind: str
    digest: str


def trust_model(model: str | Path | None) -> TrustRecord | None:
    """Trust the model the user named (``--trust-model``): record its content's SHA-256.
    Returns what was recorded, or None for a model that runs no code (nothing to trust)."""
    path = resolve_model_path(model)
    kind = code_kind(path)
    if kind is None or is_bundled(path):
        return None
    digest = content_digest(path)
    record_trust(digest, path, kind)
    return TrustRecord(path, kind, digest)


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


def _declared_int(card: ModelCard, name: str) -> int | None:
    """A network argument of the card as an int; None when absent or not a plain number (a
    bundle's ``@reference`` or ``$expression``, known only once the bundle is parsed)."""
    value = card.network.get("kwargs", {}).get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def check_card(card: ModelCard, source: Path) -> None:
    if card.in_channels != 1:
        raise ModelError(f"{source}: the model takes {card.in_channels} input channels; "
                         "segviewer feeds one image (1 channel)")
    declared = _declared_int(card, "out_channels")
    if declared is not None and declared != card.out_channels:
        raise ModelError(f"{source}: the network has {declared} output channels but the card lists "
                         f"{len(card.labels)} labels + background = {card.out_channels}")
    declared_in = _declared_int(card, "in_channels")
    if declared_in is not None and declared_in != card.in_channels:
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
    if is_torchscript(path):
        return _load_torchscript(path, device)
    card_path = path.with_suffix(".json")
    if not card_path.exists():
        raise ModelError(f"{path}: a state dict needs a model card; put a JSON card named "
                         f"{card_path.name} beside it")
    return _load_state_dict(path, ModelCard.load(card_path), device)


def _read_state(path: Path) -> dict:
    import torch

    if not path.exists():
        raise ModelError(f"{path}: weights file not found")
    refuse_special_file(path)
    if is_torchscript(path):  # torch's own refusal would advise weights_only=False: never
        raise ModelError(f"{path}: is a TorchScript program, not a state dict; give it as the model "
                         "itself (--model FILE), which runs it only once you trust it")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own text would advise weights_only=False: never
        raise ModelError(f"{path}: holds pickled Python objects, not only weights (a whole pickled "
                         "model?); segviewer reads plain state dicts (save model.state_dict()) or "
                         "TorchScript files") from None
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


def _load_torchscript(path: Path, device: str) -> LoadedModel:
    import torch

    data = path.read_bytes()  # hashed and loaded from the same bytes: nothing swapped in between
    check_trusted(path, "torchscript", hashlib.sha256(data).hexdigest())
    extra = {TORCHSCRIPT_CARD: ""}
    try:
        network = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds
        raise ModelError(f"{path}: not a readable TorchScript file ({type(error).__name__})") from None
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


def _read_config(path: Path) -> dict:
    """A bundle config as plain data: JSON or YAML parsed, nothing evaluated or instantiated."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # noqa: BLE001 - OSError, decoding, JSON or YAML errors
        raise ModelError(f"{path}: not a readable bundle config ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a bundle config must hold a mapping")
    return data


def _load_bundle(folder: Path, device: str) -> LoadedModel:
    cards = sorted(folder.glob("*.json"))
    configs = folder / "configs"
    if not configs.is_dir():
        if len(cards) == 1:  # a plain folder holding one segviewer card + its weights
            return _load_uncached(cards[0], device)
        raise ModelError(f"{folder}: not a MONAI bundle (no configs/ folder) and not a folder with one model card")
    check_trusted(folder, "bundle")
    if not (configs / "metadata.json").is_file():
        raise ModelError(f"{folder}: MONAI bundle without configs/metadata.json")
    metadata = _read_config(configs / "metadata.json")
    inference_path = next((p for p in (configs / "inference.json", configs / "inference.yaml") if p.exists()), None)
    if inference_path is None:
        raise ModelError(f"{folder}: MONAI bundle without configs/inference.json")
    raw = _read_config(inference_path)
    card = _bundle_card(folder, raw, metadata)
    check_card(card, folder)
    torchscript = folder / "models" / "model.ts"
    weights = folder / "models" / "model.pt"
    if weights.exists():
        from monai.bundle import ConfigParser  # evaluates the trusted bundle's expressions

        parser = ConfigParser(raw)
        parser["bundle_root"] = str(folder)
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
