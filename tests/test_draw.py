"""The Draw page and its lesson, aedemo.lessons.draw: the drawing's views against brute force, the
verdict in plain words, and the page run as the real script by AppTest (the pad sends nothing
there, so a drawing is put in st.session_state["aedemo_drawing"], where the page keeps it)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aedemo import preprocess
from aedemo.lessons import draw
from aedemo.metrics import reconstruction_errors
from aedemo.store import ModelStore
from page_support import (
    a_drawing,
    digit_png,
    no_exception,
    texts,
)

DRAW = "pages/draw.py"


def test_drawing_views_against_brute_force(issue5_store, digits):
    store = ModelStore(issue5_store)
    entries = [m for m in store.list()            # as svc.models(kind="image") lists them
               if m.ok and m.spec.kind == "image" and not m.spec.normal]
    chosen = draw.one_per_variant(entries)
    assert [m.spec.variant for m in chosen] == ["dense", "denoising", "sparse", "vae", "conv"]
    assert next(m for m in chosen if m.spec.variant == "dense").spec.latent_dim == 16
    assert list(draw.dense_sweep(entries)) == [2, 16]

    model, _ = store.load(next(m for m in chosen if m.spec.variant == "dense").id)
    views = draw.model_views(model, digits)
    x = a_drawing()
    where = draw.place(model, views, x, n=5)
    # nearest training digits: the same as measuring every distance
    train_codes = model.encode(digits.x_train).detach().numpy()
    code = model.encode(x).detach().numpy()
    brute = np.linalg.norm(train_codes - code, axis=1)
    np.testing.assert_allclose(where.distances, np.sort(brute)[:5], rtol=1e-4, atol=1e-5)
    # the error and its percentile, by aedemo.metrics over the test set
    assert where.error == pytest.approx(float(reconstruction_errors(model, x)[0]), rel=1e-5)
    test_errors = reconstruction_errors(model, digits.x_test).numpy()
    np.testing.assert_allclose(views.test_errors, test_errors, rtol=1e-5)
    assert where.percentile == pytest.approx(100 * (test_errors < where.error).mean())
    # the drawing on the map: PCA of its code, as the test codes are
    np.testing.assert_allclose(where.point, views.latent.pca.transform(code), rtol=1e-4)


def test_describe_percentile_in_plain_words():
    assert "Looks like the training digits" in draw.describe_percentile(40)
    assert "Unusual" in draw.describe_percentile(99)


@pytest.mark.parametrize("n, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                     (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"),
                                     (22, "22nd"), (93, "93rd"), (100, "100th"), (111, "111th")])
def test_ordinals(n, word):
    assert draw.ordinal(n) == word


def test_the_verdict_says_93rd_not_93th():
    verdict = draw.describe_percentile(92.6)
    assert "93rd percentile" in verdict and "95th" in verdict and "93th" not in verdict


def test_a_faint_copy_is_not_called_a_good_one():
    verdict = draw.describe_percentile(30, ink_kept=0.3)
    assert "faint" in verdict and "Looks like the training digits" not in verdict
    assert "Unusual" in draw.describe_percentile(99, ink_kept=0.3)


def test_draw_page_empty_store_gives_a_hint(page):
    at = page(DRAW)
    no_exception(at)
    assert "Draw a digit on the black square" in texts(at, "info")   # blank canvas: a hint
    assert not at.error
    assert "No image model is ready yet" in texts(at, "info")


def test_draw_page_with_a_drawing(page, issue5_store, isolated_home):
    shutil.copytree(issue5_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    assert "Your last input" in texts(at, "caption")
    captions = [c.value for c in at.caption]
    for variant in ("dense k=16", "vae k=2", "denoising", "sparse", "conv"):
        assert any(variant in c for c in captions), (variant, captions)
    assert any(m.label == "Reconstruction error (MSE)" for m in at.metric)
    assert "the training digits" in texts(at, "markdown") or "Unusual" in texts(at, "markdown")
    assert sum("distance" in c for c in captions) == draw.NEAREST
    spec = at.get("plotly_chart")[0].proto.spec
    assert "your drawing" in spec
    at.select_slider(key="draw-k").set_value(2).run()
    no_exception(at)
    assert any("dense k=2 · MSE" in c.value for c in at.caption)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"GIF89a not really", "not an image"),
    (b"\x00" * (preprocess.UPLOAD_MAX_BYTES + 1), "the limit is 5 MB"),
])
def test_draw_page_bad_uploads_give_an_error(page, raw, message):
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("digit.png", raw, "image/png")).run()
    no_exception(at)
    assert message in texts(at, "error") and "digit.png" in texts(at, "error")
    assert "aedemo_drawing" not in at.session_state


def test_draw_page_good_upload_becomes_the_drawing(page):
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("seven.png", digit_png(), "image/png")).run()
    no_exception(at)
    assert not at.error
    x = at.session_state["aedemo_drawing"]
    assert x.shape == (1, 1, 28, 28)
    np.testing.assert_allclose(x.numpy(), a_drawing().numpy())

