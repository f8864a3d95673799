"""The Draw page and its lesson, aedemo.lessons.draw: the drawing's views against brute force, the
verdict in plain words, and the page run as the real script by AppTest (the pad sends nothing
there, so a drawing is put in st.session_state["aedemo_drawing"], where the page keeps it)."""

from __future__ import annotations

import html
import json
import shutil

import numpy as np
import pytest

from aedemo import preprocess
from aedemo.data import IMAGE_PIXELS
from aedemo.lessons import draw, latent_space
from aedemo.metrics import reconstruction_errors
from aedemo.models import build
from aedemo.spec import ModelSpec, Trained
from aedemo.store import ModelStore
from page_support import (
    a_drawing,
    digit_png,
    no_exception,
    texts,
    traces,
    values,
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



def overcomplete(home) -> None:
    """A dense model whose code is wider than the image (untrained: only its k matters)."""
    spec = ModelSpec.create("dense", {"latent_dim": 1024}, dataset="digits")
    ModelStore(home).save(spec, Trained(model=build("dense", {"latent_dim": 1024}), history=[],
                                        metrics={}, seconds=0.0))


def test_the_bottleneck_sweep_leaves_out_a_code_wider_than_the_image(issue5_store, tmp_path):
    shutil.copytree(issue5_store, tmp_path, dirs_exist_ok=True)
    overcomplete(tmp_path)
    entries = [m for m in ModelStore(tmp_path).list()      # as svc.models(kind="image")
               if m.ok and m.spec.kind == "image" and not m.spec.normal]
    assert 1024 in {m.spec.latent_dim for m in entries}
    assert list(draw.dense_sweep(entries)) == [2, 16]
    assert all(k < IMAGE_PIXELS for k in draw.dense_sweep(entries))


def test_the_maps_summary_counts_the_digits_nearest_the_star():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 2))
    labels = rng.integers(0, 10, 300)
    latent = latent_space.LatentMap(method="pca", indices=np.arange(300), labels=labels,
                                    codes=points, points=points)
    star = np.array([[0.3, -0.2]])
    said = draw.map_summary(latent, star, [str(i) for i in range(10)], n=25)
    # brute force: the 25 nearest points to the star, their digits counted
    nearest = sorted(range(300), key=lambda i: float(np.hypot(*(points[i] - star[0]))))[:25]
    counts = {d: sum(labels[i] == d for i in nearest) for d in range(10)}
    top = max(counts, key=lambda d: (counts[d], -d))
    assert said.startswith("300 test digits' codes, placed by their first two principal")
    assert "star is at (0.30, -0.20)" in said
    assert f"the most common are {top} ({counts[top]})" in said


def test_the_histograms_summary_has_its_numbers():
    errors = np.array([0.01, 0.02, 0.03, 0.04, 0.10])
    said = draw.errors_summary(errors, 0.05, 80.0)
    assert "the 5 test digits, from 0.0100 to 0.1000, median 0.0300" in said
    assert "Your drawing's error, 0.0500, is higher than 80% of them" in said


def test_draw_page_headings_charts_and_pictures_say_what_they_show(page, issue5_store,
                                                                   isolated_home):
    shutil.copytree(issue5_store, isolated_home, dirs_exist_ok=True)
    overcomplete(isolated_home)
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    # the title the one h1, its sections h2, the nearest digits an h3 under its section
    assert [t.value for t in at.title] == ["Draw"]
    assert [h.value for h in at.header] == ["A narrower or wider bottleneck",
                                            "Your drawing among the dataset"]
    assert [h.value for h in at.subheader] == [
        "The nearest training digits in this model's code space"]
    # every picture says what it is
    alts = [img.alt for image in at.get("image") for img in image.proto.imgs]
    assert alts and all(alts), alts
    assert any(a.startswith("your drawing reconstructed by dense k = 16, MSE 0.") for a in alts)
    assert sum(a.startswith("training digit ") for a in alts) == draw.NEAREST
    # the two charts each have a title and a summary in words, from the same numbers
    spec = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert all(f["layout"]["title"]["text"] for f in spec)
    hidden = [html.unescape(m.value) for m in at.markdown if "aedemo-sr-only" in m.value]
    assert len(hidden) == 2
    (star,) = traces(spec[0], "your drawing")
    x, y = values(star["x"])[0], values(star["y"])[0]
    assert hidden[0].startswith('<p class="aedemo-sr-only">359 test digits\' codes')
    assert f"star is at ({x:.2f}, {y:.2f})" in hidden[0] and "the most common are" in hidden[0]
    assert f"Your drawing's error, {at.metric[0].value}, is higher than" in hidden[1]
    # the sweep's slider: no overcomplete k
    assert list(at.select_slider(key="draw-k").options) == ["2", "16"]
