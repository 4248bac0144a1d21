"""Nothing runs from a model file the user has not chosen to trust (issue 11, critical).

TorchScript files and MONAI bundles carry code: refused until trusted (``--trust-model``,
remembered by SHA-256 in ``$XDG_CONFIG_HOME/segviewer``, which ``tests/conftest.py`` points
at a fresh folder for every test). A bare model name is a bundled model, never a file or
folder of that name in the current folder. State dicts need no trust.
"""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from segviewer.cli import main
from segviewer.io.images import image_to_sitk
from segviewer.io.trust import content_digest, is_trusted, store_path, trusted_models
from segviewer.methods.deep.card import ModelError, build_network
from segviewer.methods.deep.models import (
    TORCHSCRIPT_CARD,
    ModelTrustError,
    load_model,
    looks_like_path,
    resolve_model_path,
    trust_model,
)
from segviewer.model.geometry import Geometry

from test_deep_card import small_card
from test_deep_models import write_bundle, write_state_dict_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")


def bundle_with_marker(folder, marker):
    """A tiny real bundle whose network_def holds an expression that creates ``marker``."""
    write_bundle(folder)
    config = folder / "configs" / "inference.json"
    inference = json.loads(config.read_text())
    inference["network_def"]["spatial_dims"] = f"$open({str(marker)!r}, 'w').close() or 3"
    config.write_text(json.dumps(inference))
    return folder


def torchscript_model(path, seed=0):
    """A small traced U-Net with its card embedded."""
    card = small_card(spacing=None, normalization={"kind": "none"})
    torch.manual_seed(seed)
    scripted = torch.jit.trace(build_network(card).eval(), torch.randn(1, 1, 16, 16, 16))
    torch.jit.save(scripted, str(path), _extra_files={TORCHSCRIPT_CARD: json.dumps(card.to_dict())})
    return path


def small_image(path, shape=(16, 20, 18)):
    image = np.random.default_rng(0).normal(100, 20, size=shape).astype(np.float32)
    sitk.WriteImage(image_to_sitk(image, Geometry(shape[::-1], (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))), str(path))
    return path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refusal_says_how_to_trust(err: str):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segviewer: error: "), err
    assert "--trust-model" in err and "Traceback" not in err
    assert "weights_only" not in err and "can still be loaded" not in err


# -- MONAI bundles ---------------------------------------------------------------------------
def test_untrusted_bundle_is_refused_and_its_expressions_do_not_run(tmp_path):
    marker = tmp_path / "MARKER"
    bundle = bundle_with_marker(tmp_path / "bundle", marker)
    with pytest.raises(ModelTrustError, match="--trust-model") as refused:
        load_model(bundle, cache=False)
    assert not marker.exists()
    assert refused.value.digest == content_digest(bundle) and "weights_only" not in str(refused.value)
    # trusted, it loads (and its code runs: that is what trusting means)
    assert trust_model(bundle).digest == content_digest(bundle)
    loaded = load_model(bundle, cache=False)
    assert loaded.kind == "bundle" and loaded.card.labels == {1: "spleen"}
    assert marker.exists()


def test_untrusted_bundle_through_the_command_line(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    bundle = bundle_with_marker(tmp_path / "bundle", marker)
    image, output = small_image(tmp_path / "image.nii.gz"), tmp_path / "out.nii.gz"
    code, _, err = cli(capsys, "segment", image, "--method", "unet", "--model", bundle, "-o", output, "-q")
    assert code == 2 and not output.exists() and not marker.exists()
    assert_refusal_says_how_to_trust(err)
    code, _, err = cli(capsys, "segment", image, "--method", "unet", "--model", bundle, "--trust-model",
                       "-o", output, "-q")
    assert code == 0 and output.exists() and marker.exists()
    assert f"trusted {bundle}" in err and content_digest(bundle) in err


def test_a_changed_bundle_file_is_untrusted_again(tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    trust_model(bundle)
    load_model(bundle, cache=False)
    metadata = bundle / "configs" / "metadata.json"
    metadata.write_text(metadata.read_text().replace("0.1", "0.2"))
    with pytest.raises(ModelTrustError):
        load_model(bundle, cache=False)
    # an added file changes the digest too; Python's byte-code caches do not
    digest = content_digest(bundle)
    (bundle / "scripts" / "__pycache__").mkdir(parents=True)
    (bundle / "scripts" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert content_digest(bundle) == digest
    (bundle / "scripts" / "extra.py").write_text("print('hello')\n")
    assert content_digest(bundle) != digest


# -- bare names --------------------------------------------------------------------------------
def test_a_bare_name_is_never_read_from_the_current_folder(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "MARKER"
    bundle_with_marker(tmp_path / "hippocampus_unet", marker)
    trust_model(tmp_path / "hippocampus_unet")  # even a trusted folder must not stand in for a name
    monkeypatch.chdir(tmp_path)
    image = small_image(tmp_path / "image.nii.gz")
    code, out, err = cli(capsys, "segment", image, "--method", "unet", "-o", "out.nii.gz")
    assert code == 0, err
    assert not marker.exists()
    info = json.loads(out.splitlines()[-1])
    assert info["model"] == "hippocampus_unet" and info["model_kind"] == "state_dict"
    assert resolve_model_path("hippocampus_unet").parent.name == "models"
    # a path that looks like one is read from disk
    assert resolve_model_path("./hippocampus_unet").resolve() == (tmp_path / "hippocampus_unet").resolve()


def test_a_bare_unknown_name_points_to_the_path_spelling(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"no bundled model of that name.*write \./mine"):
        resolve_model_path("mine")
    assert resolve_model_path("./mine").is_dir() and resolve_model_path(".").is_dir()
    assert [looks_like_path(t) for t in ("mine", "hippocampus_unet", "net.ts", "models/net", "~/net", "..")] == \
        [False, False, True, True, True, True]


# -- TorchScript --------------------------------------------------------------------------------
def test_torchscript_needs_trust_once_and_again_after_a_change(tmp_path, capsys):
    model = torchscript_model(tmp_path / "net.pt")
    image, output = small_image(tmp_path / "image.nii.gz"), tmp_path / "out.nii.gz"
    before = model.read_bytes()
    segment = ("segment", image, "--method", "unet", "--model", model, "-o", output, "-q")
    code, _, err = cli(capsys, *segment)
    assert code == 2 and not output.exists()
    assert_refusal_says_how_to_trust(err)
    assert str(model) in err and hashlib.sha256(before).hexdigest() in err
    assert not store_path().exists()  # refusing records nothing

    code, _, err = cli(capsys, *segment, "--trust-model")
    assert code == 0 and output.exists()
    assert err.strip() == (f"segviewer: trusted {model} (torchscript, SHA-256 {hashlib.sha256(before).hexdigest()}); "
                           "it runs without --trust-model from now on")
    assert model.read_bytes() == before
    output.unlink()
    code, _, err = cli(capsys, *segment)  # trusted once = trusted next time
    assert code == 0 and output.exists() and err == ""

    torchscript_model(model, seed=1)  # same name, other content
    output.unlink()
    code, _, err = cli(capsys, *segment)
    assert code == 2 and not output.exists()
    assert_refusal_says_how_to_trust(err)


def test_finetune_and_bench_take_trust_model_too(tmp_path, capsys):
    model = torchscript_model(tmp_path / "net.ts")
    image = small_image(tmp_path / "image.nii.gz")
    scribbles = np.full((16, 20, 18), 255, np.uint8)
    scribbles[8, 5:15, 9] = 1
    scribbles[8, 1, 2:16] = 0
    sitk.WriteImage(image_to_sitk(scribbles, Geometry((18, 20, 16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))),
                    str(tmp_path / "scribbles.nii.gz"))
    code, _, err = cli(capsys, "finetune", image, "--scribbles", tmp_path / "scribbles.nii.gz", "--model", model,
                       "-o", tmp_path / "out.nii.gz", "-q")
    assert code == 2 and not (tmp_path / "out.nii.gz").exists()
    assert_refusal_says_how_to_trust(err)
    # the flag records the trust before the command goes on (here bench, with no cases to run)
    (tmp_path / "cases").mkdir()
    code, _, err = cli(capsys, "bench", "interactive", "--method", "unet", "--model", model, "--trust-model",
                       "--cases", tmp_path / "cases")
    assert f"trusted {model}" in err and is_trusted(content_digest(model))


def test_refusal_crosses_the_helper_process_intact(tmp_path):
    error = ModelTrustError(tmp_path / "net.ts", "torchscript", "ab" * 32)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ModelTrustError) and str(copy) == str(error)
    assert (copy.path, copy.kind, copy.digest) == (error.path, error.kind, error.digest)


# -- state dicts and the store -------------------------------------------------------------------
def test_state_dicts_need_no_trust_and_pickles_are_refused_without_advice_to_unpickle(tmp_path):
    card_path, _ = write_state_dict_model(tmp_path)
    assert load_model(card_path, cache=False).kind == "state_dict"
    assert trust_model(card_path) is None and not store_path().exists()
    torch.save(build_network(small_card()), tmp_path / "tiny.pt")  # a whole pickled module
    with pytest.raises(ModelError) as refused:
        load_model(card_path, cache=False)
    message = str(refused.value)
    assert "pickled Python objects" in message
    assert "weights_only" not in message and "can still be loaded" not in message


def test_trust_store_is_per_user_json_and_survives_damage(tmp_path, private_config):
    model = torchscript_model(tmp_path / "net.ts")
    record = trust_model(model)
    assert store_path() == private_config / "segviewer" / "trusted_models.json"
    stored = json.loads(store_path().read_text())["trusted"][record.digest]
    assert stored["kind"] == "torchscript" and stored["path"] == str(model.resolve())
    assert not [p for p in store_path().parent.iterdir() if p.name != store_path().name]  # no leftovers
    store_path().write_text("{ not json")
    assert trusted_models() == {}
    with pytest.raises(ModelTrustError):
        load_model(model, cache=False)
    trust_model(model)
    assert load_model(model, cache=False).kind == "torchscript"


def test_a_card_that_would_download_weights_is_refused_before_building(tmp_path):
    """MONAI networks fetch weights when built with ``pretrained_url`` / ``pretrained``."""
    card = small_card()
    card.network["kwargs"]["pretrained_url"] = "http://127.0.0.1:9/w.pth"
    with pytest.raises(ModelError, match="would download weights"):
        build_network(card)


def test_a_card_whose_weights_are_torchscript_is_refused_without_unpickling_advice(tmp_path):
    torchscript_model(tmp_path / "tiny.pt")
    card_path = small_card(spacing=None, normalization={"kind": "none"}).save(tmp_path / "tiny.json")
    with pytest.raises(ModelError) as refused:
        load_model(card_path, cache=False)
    message = str(refused.value)
    assert "TorchScript" in message and "weights_only" not in message


def test_a_model_path_that_is_a_pipe_is_refused_not_waited_on(tmp_path, capsys):
    import os

    pipe = tmp_path / "model.json"
    os.mkfifo(pipe)
    code, _, err = cli(capsys, "segment", small_image(tmp_path / "image.nii.gz"), "--method", "unet",
                       "--model", pipe, "-o", tmp_path / "out.nii.gz")
    assert code == 2 and "not a regular file" in err and not (tmp_path / "out.nii.gz").exists()
