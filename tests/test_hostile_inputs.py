"""Inputs a tester sent on purpose: a 16-bit PNG, a CSV of huge numbers, ``--beta nan``, IDX
files that lie about their size, file names that are Markdown. Each is read as what it is or
refused with a message that says what was wrong, never a traceback, a nan or a page of markup."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from aedemo import cli, preprocess
from aedemo import data as datasets
from aedemo.data import DataError
from aedemo.lessons import sequences
from aedemo.models import build
from aedemo.models.vae import VAEConfig
from aedemo.spec import ModelSpec, Trained
from aedemo.store import ModelStore
from aedemo.train import TrainConfig, fit

DRAW, SEQUENCES = "pages/draw.py", "pages/sequences.py"


# --- 1. a 16-bit grey PNG --------------------------------------------------------------------

def pencil_seven() -> np.ndarray:
    """A '7' in grey pencil (60) on grey paper (200), 8-bit: the mid-tones a 16-bit scan has."""
    img = Image.new("L", (120, 120), 200)
    ImageDraw.Draw(img).line([(25, 25), (95, 25), (55, 105)], fill=60, width=10)
    return np.asarray(img)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_a_16_bit_grey_png_reads_as_the_same_picture_in_8_bits():
    eight = pencil_seven()
    sixteen = png(eight.astype(np.uint16) * 257)                  # 255 -> 65535, exactly
    assert Image.open(io.BytesIO(sixteen)).mode == "I;16"          # the path under test
    reference = preprocess.upload_to_mnist(png(eight))
    framed = preprocess.upload_to_mnist(sixteen)
    assert reference is not None and framed is not None, "read as all one shade"
    torch.testing.assert_close(framed, reference)


# --- 2. a CSV of series with values float32 cannot hold --------------------------------------

def series_csv(rows: list[list[float | str]]) -> bytes:
    return "\n".join(",".join(str(v) for v in row) for row in rows).encode()


def test_a_value_too_large_for_float32_is_refused_naming_its_row():
    raw = series_csv([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, "1e300"]])
    with pytest.raises(DataError, match=r"Row 2, column 8: 1e\+300 is too large; values must "
                                        r"be ordinary numbers between -1e\+12 and 1e\+12"):
        sequences.parse_upload(raw)


def test_the_largest_values_allowed_still_score_as_finite_numbers(tmp_path):
    big = datasets.CSV_MAX_MAGNITUDE
    rows = [[big * math.sin(i + j) for j in range(16)] for i in range(4)] + [[-big] * 16]
    raw = series_csv(rows)
    scores = sequences.score_upload(build("lstm", {"latent_dim": 2, "hidden": 8}), raw)
    assert np.isfinite(scores.errors).all() and torch.isfinite(scores.x).all()
    (tmp_path / "big.csv").write_bytes(raw)                        # the CLI's path: one scale
    loaded = datasets.load_series(str(tmp_path / "big.csv"))
    assert torch.isfinite(loaded.x_train).all() and torch.isfinite(loaded.x_test).all()


@pytest.fixture
def cells_split(monkeypatch) -> list[int]:
    """How many cells the CSV reader split each row into, in order, as the parser reads."""
    seen = []
    real_reader = csv.reader

    def reader(lines, **dialect):
        for row in real_reader(lines, **dialect):
            seen.append(len(row))
            yield row

    monkeypatch.setattr(csv, "reader", reader)      # the module aedemo.data.series_csv reads with
    return seen


def test_a_row_over_the_length_limit_is_refused_before_it_is_split(cells_split):
    seen = cells_split
    raw = series_csv([[1] * 8, [1] * 1_000_000])                  # 2 MB, under the byte limit
    with pytest.raises(DataError, match="Row 2 has more than 2048 values"):
        sequences.parse_upload(raw)
    assert max(seen) == 8                                          # the long line never split


def test_an_upload_of_too_many_values_in_all_is_refused():
    rows = [[1] * 1001] * (sequences.UPLOAD_MAX_VALUES // 1001 + 1)   # each row within limits
    with pytest.raises(DataError, match="more than 200,000 values"):
        sequences.parse_upload(series_csv(rows))


def test_a_cell_beyond_the_csv_readers_limit_is_a_plain_error():
    with pytest.raises(DataError, match="Line 1 cannot be read as CSV"):
        sequences.parse_upload(b"1," * 10 + b"9" * 200_000 + b"\n")


# --- 3. hyperparameters and training settings that are not numbers in range -----------------

@pytest.mark.parametrize(("values", "message"), [
    ({"beta": float("nan")}, "beta must be a finite number between 0.0 and 10.0, not nan"),
    ({"beta": float("inf")}, "beta must be a finite number between 0.0 and 10.0, not inf"),
    ({"beta": "nan"}, "beta must be a finite number between 0.0 and 10.0, not nan"),
    ({"beta": True}, "beta must be a finite number between 0.0 and 10.0, not True"),
    ({"beta": "lots"}, "beta must be a finite number between 0.0 and 10.0, not 'lots'"),
    # an empty number field: what it takes, with no Python word for nothing
    ({"beta": None}, "beta must be a finite number between 0.0 and 10.0$"),
    ({"latent_dim": 3.5}, "latent_dim must be a whole number between 2 and 128, not 3.5"),
    ({"latent_dim": float("-inf")}, "latent_dim must be a whole number between 2 and 128"),
    ({"latent_dim": [16]}, "latent_dim must be a whole number between 2 and 128, not \\[16\\]"),
    ({"latent_dim": 10**400}, "latent_dim must be between 2 and 128"),
])
def test_model_hyperparameters_must_be_numbers_in_range(values, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig.from_dict(values)


def test_numbers_written_as_text_or_whole_floats_are_read_as_the_fields_type():
    config = VAEConfig.from_dict({"latent_dim": "8", "beta": 2})
    assert config == VAEConfig(latent_dim=8, beta=2.0) and type(config.beta) is float
    assert type(VAEConfig.from_dict({"latent_dim": 8.0}).latent_dim) is int


@pytest.mark.parametrize(("values", "message"), [
    ({"lr": float("nan")}, "lr must be a finite number between 1e-05 and 1.0, not nan"),
    ({"epochs": True}, "epochs must be a whole number between 1 and 100, not True"),
    ({"batch_size": "many"}, "batch_size must be a whole number between 16 and 2048"),
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"epochs": 0}, "epochs must be between 1 and 100, not 0"),
    ({"momentum": 0.9}, "unknown hyperparameter"),
])
def test_training_settings_are_checked_the_same_way(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(values)


def test_a_spec_checks_the_training_settings_it_is_given():
    with pytest.raises(ValueError, match="lr must be a finite number"):
        ModelSpec.create("dense", dataset="digits", train=TrainConfig(lr=float("nan")))
    stored = ModelSpec.create("dense", dataset="digits").to_dict()
    stored["train"]["epochs"] = "NaN"                  # a hand-edited or damaged JSON file
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        ModelSpec.from_dict(json.loads(json.dumps(stored)))


@pytest.mark.parametrize(("variant", "flag", "message"), [
    ("vae", "--beta", "beta must be a finite number between 0.0 and 10.0, not nan"),
    ("sparse", "--l1", "l1 must be a finite number between 0.0 and 10.0, not nan"),
])
def test_the_cli_refuses_nan_with_a_message_not_a_traceback(capsys, variant, flag, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--variant", variant, flag, "nan", "--epochs", "1",
                  "--dataset", "digits"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# --- 4. IDX files that lie about their size ---------------------------------------------------

def write_idx(path, shape: tuple[int, ...], data: bytes | None = None) -> None:
    """An IDX file: two zero bytes, type 0x08 (ubyte), ndim, big-endian sizes, then ``data``
    (by default as many zero bytes as the sizes say)."""
    header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    payload = header + (bytes(math.prod(shape)) if data is None else data)
    (gzip.open if path.suffix == ".gz" else open)(path, "wb").write(payload)


@pytest.mark.parametrize(("images", "labels", "message"), [
    ((0, 28, 28), (0,), "train-images-idx3-ubyte holds no images"),
    ((10, 28, 28), (9,), "holds 10 images but train-labels-idx1-ubyte holds 9 labels"),
    ((10, 28, 28), (10, 28, 28), "train-labels-idx1-ubyte holds data of shape \\(10, 28, 28\\)"),
    ((10, 32, 32), (10,), "holds data of shape \\(10, 32, 32\\); MNIST's format is N images of "
                          "28 x 28"),
])
def test_idx_files_that_are_not_one_mnist_split_are_refused(tmp_path, images, labels, message):
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=message):
        datasets.load_images(str(tmp_path))


def test_idx_labels_beyond_the_ten_classes_are_refused(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", (10, 28, 28))
    write_idx(tmp_path / "train-labels-idx1-ubyte", (10,), bytes(range(20, 30)))
    with pytest.raises(DataError, match="has a label 29; the labels must be classes 0 to 9"):
        datasets.load_images(str(tmp_path))


def test_an_idx_file_cut_short_says_so(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, (100, 28, 28), bytes(10 * 28 * 28))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: the file is cut short: its "
                                        "header claims shape \\(100, 28, 28\\)"):
        datasets.read_idx(path)


def test_a_header_claiming_two_billion_images_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, (2**31, 28, 28), b"")
    with pytest.raises(DataError, match="its header claims 2147483648 x 28 x 28 values .*; the "
                                        "limit is 200 MB"):
        datasets.read_idx(path)


def test_a_small_gz_that_unpacks_to_far_more_than_its_header_says_is_not_read_whole(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(path, (10,), bytes(50_000_000))             # 50 MB of zeros: a 50 kB .gz
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as refused:
            datasets.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000                                  # 18 bytes wanted, not 50 MB
    assert "train-labels-idx1-ubyte.gz: the file is longer than its header says" in str(
        refused.value)


# --- 5. file names that are Markdown -----------------------------------------------------------

@pytest.mark.parametrize(("text", "shown"), [
    ("**bold**[x](http://evil).png", r"\*\*bold\*\*\[x\]\(http\://evil\).png"),
    ("# big.png", r"\# big.png"),
    ("- a list.csv", r"\- a list.csv"),
    ("1. first.csv", r"1\. first.csv"),
    ("> quoted `code` ~~gone~~ $x$ :red[hi] <b>", r"\> quoted \`code\` \~\~gone\~\~ \$x\$ "
                                                  r"\:red\[hi\] \<b\>"),
    ("two\nlines\n\n    indented.png", "two lines indented.png"),
    ("www.evil.com and me@evil.com", r"www\.evil.com and me\@evil.com"),
    ("digit.png: the limit is 5 MB.", r"digit.png\: the limit is 5 MB."),
])
def test_escape_markdown_backslashes_every_mark(text, shown):
    # the expected strings follow CommonMark's rule that a backslash makes any ASCII
    # punctuation mark a literal character
    assert preprocess.escape_markdown(text) == shown


def draw_upload(app, name: str, raw: bytes):
    at = app(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value((name, raw, "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_draw_page_shows_a_bad_uploads_name_literally(app):
    at = draw_upload(app, "**bold**[x](http://evil) # big.png", b"GIF89a not really")
    assert [e.value for e in at.error] == [
        r"\*\*bold\*\*\[x\]\(http\://evil\) \# big.png\: This file is not an image that can "
        r"be read; upload a PNG or JPEG."]


def test_the_draw_page_shows_a_blank_uploads_name_literally(app):
    at = draw_upload(app, "# [blank](http://evil).png", png(np.full((50, 50), 255, np.uint8)))
    assert at.info[0].value == (
        r"\# \[blank\]\(http\://evil\).png: no ink found; the image is all one shade.")


def test_the_sequences_page_shows_the_name_and_the_bad_value_literally(app, isolated_home):
    spec = ModelSpec.create("lstm", {"latent_dim": 2, "hidden": 8},
                            train=TrainConfig(epochs=1, batch_size=64))
    model = build("lstm", dict(spec.hparams), seed=0)
    history = fit(model, datasets.make_series().x_train[:64], None, spec.train)
    ModelStore(isolated_home).save(spec, Trained(model=model, history=history, metrics={},
                                                 seconds=0.0))
    at = app(SEQUENCES)
    at.file_uploader(key="seq-upload").set_value(
        ("**mine**.csv", series_csv([[1, 2, 3, 4, 5, 6, 7, "1e300"]]), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        r"\*\*mine\*\*.csv\: Row 1, column 8\: 1e+300 is too large; values must be ordinary "
        r"numbers between -1e+12 and 1e+12 \(write the series in a larger unit\)."]


# --- 6. a spreadsheet of series laid out in columns ----------------------------------------

def test_a_line_of_too_many_series_is_refused_before_it_is_split(cells_split):
    seen = cells_split
    header = ";".join(f"s{i}" for i in range(3))
    raw = "\n".join([header] + ["1,5;2,5;3,5"] * 20 + [";".join(["1"] * 500_000)]).encode()
    with pytest.raises(DataError, match="Row 22 has more than 1000 values; in columns each "
                                        "value belongs to one series"):
        sequences.parse_upload(raw)
    assert max(seen) == 3                                          # the long line never split


def test_header_names_that_are_markup_are_kept_as_plain_names():
    names = ["**bold**", "<b>x</b>", "[a](http://evil)"]
    raw = "\n".join([";".join(names)] + ["1;2;3"] * 8).encode()
    table = sequences.parse_upload(raw)
    assert table.names == tuple(names) and table.labels == ("column 1", "column 2", "column 3")
    assert "**" not in table.describe() and "<" not in table.describe()
