"""The Draw page and its lesson, aedemo.lessons.draw: the drawing's views against brute force, the
verdict in plain words, the row of variants as the teacher's pins order it, the drawing kept
across a reload, and the page run as the real script by AppTest (the pad sends nothing there, so
a drawing is put in st.session_state["aedemo_drawing"], where the page keeps it, or uploaded)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aedemo import preprocess, ui
from aedemo.data import IMAGE_PIXELS
from aedemo.jobs import SYSTEM
from aedemo.lessons import draw, latent_space
from aedemo.metrics import reconstruction_errors
from aedemo.models import build, variant_names
from aedemo.spec import ModelSpec, Trained
from aedemo.store import ModelStore
from page_support import (
    a_drawing,
    component_data,
    digit_png,
    no_exception,
    row_captions,
    texts,
    traces,
    values,
)
from support import REPO

DRAW = "pages/draw.py"


def test_drawing_views_against_brute_force(lesson_store, digits):
    store = ModelStore(lesson_store)
    # as svc.models(kind="image", prefer=draw.nearest_k) lists models of one provenance
    entries = sorted([m for m in store.list()
                      if m.ok and m.spec.kind == "image" and not m.spec.normal],
                     key=draw.nearest_k)
    chosen = draw.one_per_variant(entries)
    assert [m.spec.variant for m in chosen] == variant_names("image")      # the store has each
    assert next(m for m in chosen if m.spec.variant == "dense").spec.latent_dim == 16
    assert list(draw.dense_sweep(entries)) == [2, 4, 16]

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


def test_draw_page_with_a_drawing(page, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    assert "Your last input" in texts(at, "caption")
    captions = [c.value for c in at.caption]
    row = row_captions(at)
    for variant in ("dense k=16", "vae k=4", "denoising", "sparse", "conv"):
        assert any(c.startswith(variant) and " · MSE 0." in c for c in row), (variant, row)
    # the row's pictures are the server's copies of the input it shows, every model's URL the
    # one its export names (all the lesson's image models run in the browser)
    pad, sweep = component_data(at)
    x = preprocess.for_dataset(a_drawing(), "digits")
    sent = np.frombuffer(base64.b64decode(pad["row"]["input"]["pixels"]), np.uint8) / 255
    assert np.allclose(sent, x.reshape(-1).numpy(), atol=0.5 / 255 + 1e-6)   # grey levels
    assert all(m["url"] and m["url"].startswith("/aedemo/net/") for m in pad["row"]["models"])
    assert any(m.label == "Reconstruction error (MSE)" for m in at.metric)
    assert "the training digits" in texts(at, "markdown") or "Unusual" in texts(at, "markdown")
    assert sum("distance" in c for c in captions) == draw.NEAREST
    spec = at.get("plotly_chart")[0].proto.spec
    assert "your drawing" in spec
    # the sweep runs in the browser, with the server's copy at every k for a model that cannot
    assert sweep["k"] == draw.PREFERRED_K and [m["k"] for m in sweep["models"]] == [2, 4, 16]
    assert sweep["models"][0]["server"]["caption"].startswith("dense k=2 · MSE 0.")


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


def test_the_bottleneck_sweep_leaves_out_a_code_wider_than_the_image(lesson_store, tmp_path):
    shutil.copytree(lesson_store, tmp_path, dirs_exist_ok=True)
    overcomplete(tmp_path)
    entries = [m for m in ModelStore(tmp_path).list()      # as svc.models(kind="image")
               if m.ok and m.spec.kind == "image" and not m.spec.normal]
    assert 1024 in {m.spec.latent_dim for m in entries}
    assert list(draw.dense_sweep(entries)) == [2, 4, 16]
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


def test_draw_page_headings_charts_and_pictures_say_what_they_show(page, lesson_store,
                                                                   isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
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
    pad, sweep = component_data(at)
    row = pad["row"]["models"]
    assert all(m["live_alt"] and m["only_alt"] and m["server"]["alt"] for m in row)
    assert any(m["server"]["alt"].startswith("your drawing reconstructed by dense k = 16, MSE 0.")
               for m in row)
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
    assert [m["k"] for m in sweep["models"]] == [2, 4, 16]


# --- the row of variants: the teacher's pins, as Service.models orders them ------------------

def row_models(at: AppTest) -> list[str]:
    """The models of the row beside the pad ("dense k=16", ...), from their captions there."""
    return [c.split(" · ")[0] for c in row_captions(at)]


def test_the_row_shows_a_pinned_model_of_its_variant_first(page, isolated_home):
    svc = ui.service()
    assert svc.wait_ready(60)
    zoo = {(s.variant, s.latent_dim, dict(s.hparams).get("beta", 1.0)): s
           for s in svc.zoo_specs if not (s.normal or s.subset)}

    def stored(spec: ModelSpec, owner: str | None) -> str:     # untrained: only its place counts
        model = build(spec.variant, dict(spec.hparams))
        return svc.store.save(spec, Trained(model=model, history=[], metrics={}, seconds=0.0),
                              owner=owner).id

    for key in (("dense", 16, 1.0), ("dense", 8, 1.0), ("vae", 16, 1.0)):
        stored(zoo[key], SYSTEM)
    dense8 = next(m.id for m in svc.store.list() if m.spec == zoo[("dense", 8, 1.0)])
    vae8 = stored(ModelSpec.create("vae", {"latent_dim": 8}, dataset="digits"), None)

    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    assert row_models(at) == ["dense k=16", "vae k=16"]       # the zoo's, k = 16 wished for
    svc.set_pinned(dense8, True)                               # the teacher pins a dense k = 8
    at.run()
    assert row_models(at) == ["dense k=8", "vae k=16"]
    assert at.selectbox(key="draw-model").value == dense8      # the verdict's model too
    svc.set_pinned(dense8, False)
    svc.set_pinned(vae8, True)                                 # a VAE replaces the VAE only
    at.run()
    assert row_models(at) == ["dense k=16", "vae k=8"]
    # the bottleneck sweep stays the lesson's: the zoo's dense ks, whatever is pinned
    sweep = component_data(at)[1]
    assert [m["k"] for m in sweep["models"]] == [8, 16] and sweep["k"] == 16
    no_exception(at)


def test_the_row_speaks_for_each_variant_with_its_own_settings_not_a_control(page,
                                                                          isolated_home):
    """The zoo's controls (a sparse code without its penalty, VAEs at beta 0.25 and 4) are
    newer than its lesson models and share their k: the row still shows the variants as they
    are by default."""
    svc = ui.service()
    assert svc.wait_ready(60)
    by_settings = {(s.variant, s.latent_dim, s.changed_hparams() != []): s
                   for s in svc.zoo_specs if not (s.normal or s.subset)}
    for key in (("sparse", 64, False), ("sparse", 64, True), ("vae", 16, False),
                ("vae", 16, True)):
        spec = by_settings[key]
        svc.store.save(spec, Trained(model=build(spec.variant, dict(spec.hparams)), history=[],
                                     metrics={}, seconds=0.0), owner=SYSTEM)
    row = draw.one_per_variant(ui.models(kind="image", prefer=draw.nearest_k))
    assert [(m.spec.variant, m.spec.changed_hparams()) for m in row] == [
        ("sparse", []), ("vae", [])]


# --- the drawing outlives a reload -----------------------------------------------------------

@pytest.mark.parametrize(("value", "kept"), [
    ([[10, 20.5, 30, 40]], True),
    ([[10, 20], []], True),
    ([], True),
    ([[10, float("nan")]], False),
    ([[10, math.inf]], False),
    ([[10, None]], False),                  # a browser's NaN, as JSON carries it
    ([[10, True]], False),
    ([[10, "20"]], False),
    ([[10, 10 ** 400]], False),             # no float can hold it
    ([10, 20], False),
    ([[[10, 20]]], False),
    ("[[10, 20]]", False),
    ({"strokes": [[10, 20]]}, False),
    (None, False),
])
def test_only_lists_of_lists_of_finite_numbers_are_kept(value, kept):
    assert (draw.finite_rows(value) is not None) is kept


def test_a_framed_input_comes_back_from_its_rows_exactly():
    x = a_drawing()
    rows = draw.input_rows(x)
    assert json.loads(json.dumps(rows)) == rows               # what the server's memory holds
    back = draw.input_from_rows(json.loads(json.dumps(rows)))
    assert back.dtype == x.dtype and back.shape == (1, 1, 28, 28) and back.equal(x)
    assert draw.input_from_rows(rows[:27]) is None
    assert draw.input_from_rows([row[:27] for row in rows]) is None
    assert draw.input_from_rows([[math.nan] * 28] * 28) is None


def reload(me: str) -> AppTest:
    """The same browser again after a reload: a new session with the same student id."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["aedemo_student"] = me
    at.run()
    at.switch_page(DRAW)
    at.run()
    no_exception(at)
    return at


def test_a_reload_finds_the_last_input_and_the_models_answer_at_once(page, lesson_store,
                                                                     isolated_home):
    """The pad itself is drawn on in Chromium (tests/e2e/test_draw_flow.py); here the input is
    an upload, which the pad's page then shows after a reload as the last input."""
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("seven.png", digit_png(), "image/png")).run()
    no_exception(at)
    captions = row_captions(at)
    assert captions
    me = at.session_state["aedemo_student"]

    again = reload(me)
    assert "Your last input; draw to replace it." in texts(again, "caption")
    assert row_captions(again) == captions                  # the pad's row, the same copies
    assert again.session_state["aedemo_drawing"].equal(a_drawing())   # the Anomaly page's
    assert again.metric[0].label == "Reconstruction error (MSE)"

    # another browser has nothing of it
    other = page(DRAW)
    assert "Draw a digit on the black square" in texts(other, "info")
    assert "aedemo_drawing" not in other.session_state


def test_a_reload_on_another_page_finds_the_drawing_there(page, lesson_store, isolated_home):
    """The Anomaly page marks the student's drawing on its histogram: reloaded on that page,
    without a visit to Draw, it still finds it (ui.last_input)."""
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("seven.png", digit_png(), "image/png")).run()
    me = at.session_state["aedemo_student"]
    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    again.session_state["aedemo_student"] = me
    again.run()
    again.switch_page("pages/anomaly.py")
    again.run()
    no_exception(again)
    assert again.session_state["aedemo_drawing"].equal(a_drawing())
    assert "**Your drawing** from the Draw page scores" in texts(again, "markdown")


def test_what_comes_back_from_the_servers_memory_is_checked(page, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    me = at.session_state["aedemo_student"]
    strokes = [[40.5, 60, 200, 60, 120, 230]]
    ui.browsers().remember(me, "draw-strokes", strokes)          # as the pad's last drawing
    pad = reload(me).get("bidi_component")[0]
    assert json.loads(pad.proto.json)["strokes"] == strokes     # a pad mounted afresh shows it

    ui.browsers().remember(me, "draw-strokes", [[40, "60"]])
    ui.browsers().remember(me, "draw-input", [[0.5] * 28] * 27)
    again = reload(me)
    assert json.loads(again.get("bidi_component")[0].proto.json)["strokes"] == []
    assert "Draw a digit on the black square" in texts(again, "info")
    assert "aedemo_drawing" not in again.session_state


def test_a_model_that_does_not_export_is_the_servers_only_on_the_pad(page, lesson_store,
                                                                     isolated_home, monkeypatch):
    """A model the browser's interpreter cannot run (export.net_url None) has no URL in the
    pad's row, says so in its words, and still has the server's copy."""
    from aedemo import export

    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    exported = export.net_url
    monkeypatch.setattr(export, "net_url",
                        lambda m: None if m.spec.variant == "conv" else exported(m))
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    row = {m["live_caption"].split(" · ")[0]: m for m in component_data(at)[0]["row"]["models"]}
    conv = row.pop("conv k=16")
    assert conv["url"] is None and conv["server"]["caption"].startswith("conv k=16 · MSE 0.")
    assert conv["only_caption"] == "conv k=16 · from the server only"
    assert "cannot run in your browser" in conv["only_alt"]
    assert conv["server"]["only_alt"].endswith("computed on the server only")
    assert row and all(m["url"] for m in row.values())


def place_of(at: AppTest, key: str) -> list[tuple[int, ...]]:
    """Where each widget of ``key`` is in the page's tree: its indexes from the root (what
    Streamlit's delta path is: an element written at the same one replaces the last run's)."""
    found = []

    def walk(node, path):
        if getattr(node, "key", None) == key:
            found.append(path)
        for i, child in sorted(getattr(node, "children", {}).items()):
            walk(child, (*path, i))

    walk(at._tree, ())
    return found


def test_the_share_button_keeps_its_place_whatever_the_input_says(page, lesson_store,
                                                                  isolated_home):
    """Blank, drawn, or drawn again after a reload (its note above the button): the one Share
    button is at the same place, so a run cut short, whose older elements Streamlit keeps until
    a run completes, cannot leave a second one (CI's browsers once saw an enabled and a
    disabled Share button together)."""
    from PIL import Image, ImageDraw

    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    blank = page(DRAW)
    # a 7 just drawn on the pad, as the pad sends it: no note above the button
    seven = Image.new("L", (preprocess.PAD_SIZE, preprocess.PAD_SIZE))
    ImageDraw.Draw(seven).line([(80, 70), (200, 70), (120, 220)], fill=255, width=18)
    png = io.BytesIO()
    seven.save(png, "PNG")
    stroke = {"png": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode(),
              "strokes": [[80, 70, 200, 70, 120, 220]]}
    fresh = page(DRAW)
    fresh.session_state["draw-pad"] = {"drawing": stroke}
    fresh.run()
    # and the last drawing after a reload: its note ("Your last input...") above the button
    again = page(DRAW)
    again.session_state["aedemo_drawing"] = a_drawing()
    again.run()
    for at in (fresh, again):
        no_exception(at)
        assert not at.button(key="draw-share").disabled
    assert "Your last input" in texts(again, "caption")
    assert "Your last input" not in texts(fresh, "caption")
    assert blank.button(key="draw-share").disabled
    places = [place_of(at, "draw-share") for at in (blank, fresh, again)]
    assert places[0] == places[1] == places[2] and len(places[0]) == 1, places
