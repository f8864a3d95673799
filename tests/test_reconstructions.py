"""aedemo.lessons.reconstructions and its figures against trusted references: scikit-learn's PCA
and its explained variance, SciPy's correlation and connected components, the metrics module;
and the Reconstructions page, run through the app's navigation (its link to the Generate page
needs the app's pages)."""

from __future__ import annotations

import logging
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage, stats
from sklearn.decomposition import PCA

from aedemo import ui
from aedemo.data import IMAGE_PIXELS
from aedemo.lessons import reconstructions
from aedemo.lessons import reconstructions_bottleneck as bottleneck
from aedemo.metrics import mse_per_item, reconstruct, reconstruction_errors
from aedemo.models import build
from aedemo.projection import fit_pca, pca_reconstruct
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.viz.reconstructions import PCA_NAME, overfitting_figure, rate_distortion_figure
from page_support import (
    a_drawing,
    figure,
    first_row,
    no_exception,
    texts,
    traces,
    values,
)

DENSE_KS = [2, 4, 16]




@pytest.fixture(scope="module")
def small(digits) -> torch.Tensor:
    return digits.x_train[:300]


@pytest.fixture(scope="module")
def baseline(small) -> reconstructions.PCABaseline:
    return reconstructions.fit_pca_baseline(small, max_k=32)


@pytest.mark.parametrize("k", [2, 8, 32])
def test_pca_residual_equals_the_unexplained_variance(small, baseline, k):
    # The mean squared residual of a k-component PCA on its own training set is the variance
    # it leaves out: sum of the remaining eigenvalues (sklearn's are with ddof = 1).
    reference = PCA(n_components=k, svd_solver="full").fit(small.flatten(1).numpy())
    n, d = small.shape[0], small[0].numel()
    total = small.flatten(1).numpy().astype(np.float64).var(axis=0, ddof=1).sum()
    expected = (total - reference.explained_variance_.sum()) * (n - 1) / n / d
    assert baseline.mse(small, k, clip=False) == pytest.approx(expected, rel=1e-3)


def test_pca_truncation_matches_a_pca_fitted_at_that_k(small, baseline, digits):
    x = digits.x_test[:50]
    ours = baseline.reconstruct(x, 8)
    theirs = pca_reconstruct(fit_pca(small, 8), x)
    assert torch.allclose(ours, theirs, atol=1e-3)
    assert ours.min() >= 0 and ours.max() <= 1


def test_pca_error_falls_as_k_grows(baseline, digits):
    curve = reconstructions.pca_curve(baseline, digits.x_test, [1, 2, 4, 8, 16, 32, 64])
    assert [k for k, _ in curve] == [1, 2, 4, 8, 16, 32]          # 64 > max_k is left out
    errors = [e for _, e in curve]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    # the shared projection gives what each k's own reconstruction gives
    assert errors == pytest.approx([baseline.mse(digits.x_test, k) for k, _ in curve], rel=1e-4)
    with pytest.raises(ValueError):
        baseline.reconstruct(digits.x_test[:2], 33)


def _stored(variant: str, k: int, mse: float | None, model_id: str):
    spec = ModelSpec.create(variant, {"latent_dim": k}, dataset="digits")
    return SimpleNamespace(id=model_id, spec=spec, metrics={} if mse is None else {"mse": mse})


def test_model_sweep_groups_by_variant_and_keeps_the_newest():
    newest_first = [_stored("dense", 16, 0.02, "new16"), _stored("dense", 2, 0.06, "d2"),
                    _stored("dense", 16, 0.03, "old16"), _stored("vae", 2, 0.05, "v2"),
                    _stored("vae", 8, None, "unscored")]
    sweep = reconstructions.model_sweep(newest_first)
    assert sweep == {"dense": [(2, 0.06, "d2"), (16, 0.02, "new16")],
                     "vae": [(2, 0.05, "v2")]}


def test_hardest_are_the_largest_reconstruction_errors(digits):
    model = build("dense", {"latent_dim": 4}, seed=0).eval()
    x = digits.x_test[:40].clone()
    x[17] = 1.0                                     # a white square: nothing like a digit
    idx, err = reconstructions.hardest(model, x, 5)
    reference = reconstruction_errors(model, x).numpy()
    assert idx[0] == 17
    assert list(idx) == list(np.argsort(-reference)[:5])
    assert np.allclose(err, reference[idx])


def test_pick_examples_draws_from_the_chosen_classes(digits):
    picked = reconstructions.pick_examples(digits.y_test, [3, 7], 10, seed=1)
    assert len(picked) == 10 and len(set(picked)) == 10
    assert set(digits.y_test[picked].tolist()) <= {3, 7}
    assert list(picked) == list(reconstructions.pick_examples(digits.y_test, [7, 3], 10, seed=1))
    assert list(picked) != list(reconstructions.pick_examples(digits.y_test, [3, 7], 10, seed=2))


def test_rate_distortion_figure():
    fig = rate_distortion_figure([(1, 0.05), (2, 0.04), (4, 0.03)],
                                 {"dense": [(2, 0.03, "a"), (4, 0.02, "b")],
                                  "vae": [(2, 0.035, "c")]}, marked_k=4)
    names = [t.name for t in fig.data]
    assert names == [PCA_NAME, "dense", "vae"]
    assert list(fig.data[1].x) == [2, 4] and list(fig.data[1].y) == [0.03, 0.02]
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 4]
    assert fig.layout.shapes[0].x0 == 4


def test_the_sweep_says_where_it_flattens_and_where_pca_wins():
    dense = [(2, 0.040, "a"), (4, 0.030, "b"), (32, 0.0143, "c"), (64, 0.0143, "d")]
    assert reconstructions.where_the_curve_flattens(dense) == 64
    assert reconstructions.where_the_curve_flattens(dense[:3]) is None
    pca = [(1, 0.07), (2, 0.056), (4, 0.048), (32, 0.0159), (64, 0.0082)]
    assert reconstructions.where_pca_wins(dense, pca) == [64]


def test_model_sweep_leaves_out_overcomplete_codes_and_keeps_the_asked_variants():
    models = [_stored("dense", 1024, 0.002, "wide"), _stored("dense", 16, 0.02, "d16"),
              _stored("conv", 16, 0.015, "c16"), _stored("vae", 16, 0.014, "v16"),
              _stored("sparse", 64, 0.028, "s64")]
    assert reconstructions.is_overcomplete(IMAGE_PIXELS)
    assert not reconstructions.is_overcomplete(IMAGE_PIXELS - 1)
    assert reconstructions.model_sweep(models)["dense"] == [(16, 0.02, "d16")]
    on_the_k_axis = reconstructions.model_sweep(models, reconstructions.K_AXIS_VARIANTS)
    assert on_the_k_axis == {"dense": [(16, 0.02, "d16")], "conv": [(16, 0.015, "c16")]}


def _history(*pairs):
    return [{"epoch": i + 1, "train": {"loss": t, "recon": t}, "test": {"loss": v, "recon": v}}
            for i, (t, v) in enumerate(pairs)]


def test_final_losses_and_loss_curves_read_the_stored_history():
    history = _history((120.0, 130.0), (80.0, 95.0))
    assert reconstructions.final_losses(history) == (80.0, 95.0)
    assert reconstructions.final_losses([]) is None
    assert reconstructions.final_losses([{"epoch": 1, "train": {"loss": 3.0}, "test": {}}]) == (
        3.0, None)
    curve = bottleneck.loss_curve("100 digits", history)
    assert (curve.epochs, curve.train, curve.test) == ([1, 2], [120.0, 80.0], [130.0, 95.0])
    assert curve.final_gap == 15.0


# the offline digits' dense sweep as measured on the zoo (README): test MSE per pixel and final
# training loss in nats per image
ZOO_DENSE = [(2, 0.0416, "a"), (4, 0.0312, "b"), (8, 0.0216, "c"), (16, 0.0159, "d"),
             (32, 0.0143, "e"), (64, 0.0143, "f")]
ZOO_PCA = [(2, 0.0563), (4, 0.0481), (8, 0.0373), (16, 0.0261), (32, 0.0159), (64, 0.0082)]
ZOO_TRAIN = {2: 135.2, 4: 108.3, 8: 85.3, 16: 74.4, 32: 71.5, 64: 70.6}


def test_bottleneck_findings_say_why_the_curve_flattens_from_the_training_loss():
    said = " ".join(reconstructions.bottleneck_findings(
        ZOO_DENSE, ZOO_PCA, ZOO_TRAIN, {k: 38 for k in ZOO_TRAIN}, 4000))
    # every number is the chart's or the histories'
    assert "From k = 32 to k = 64" in said and "(0.0143 to 0.0143 per pixel)" in said
    assert "neither does its training loss (71.5 to 70.6 nats per image)" in said
    assert "hidden layers of 256 and 128 units" in said and "(38 epochs)" in said
    assert "not the 4,000 training digits" in said
    assert "At k = 64, PCA's test error (0.0082) is below the autoencoder's (0.0143)." in said
    # what was wrong before: PCA is trained on the same digits, and data is not the limit here
    assert "PCA is fitted on the same 4,000 training digits" in said
    assert "needs no training" not in said and "too few" not in said


def test_bottleneck_findings_blame_the_data_when_the_training_loss_still_falls():
    still_falling = {**ZOO_TRAIN, 64: 60.0}
    said = " ".join(reconstructions.bottleneck_findings(ZOO_DENSE, ZOO_PCA, still_falling, {},
                                                        4000))
    assert "while its training loss still does (71.5 to 60.0 nats per image)" in said
    assert "too few training digits (4,000)" in said
    assert "hidden layers" not in said


def test_bottleneck_findings_when_the_autoencoder_wins_everywhere():
    said = reconstructions.bottleneck_findings(ZOO_DENSE[:4], ZOO_PCA, ZOO_TRAIN, {}, 1437)
    assert "At every stored k the autoencoder's test error is below PCA's." in said
    assert not any(s.startswith("From k") for s in said)
    assert "1,437 training digits" in said[-1] and "falls at every k" in said[-1]


def test_sweep_summary_reads_the_chart_points():
    summary = reconstructions.sweep_summary(ZOO_PCA, {"dense": ZOO_DENSE,
                                                      "conv": [(16, 0.0143, "c")]})
    assert "dense falls from 0.0416 at k = 2 to 0.0143 at k = 64" in summary
    assert "conv at k = 16: 0.0143" in summary
    assert "PCA from 0.0563 at k = 2 to 0.0082 at k = 64" in summary
    assert summary.endswith("PCA is below the dense autoencoder at k = 64.")


def test_clipping_only_lowers_pca_error_and_the_caption_says_by_how_much(baseline, digits):
    x = digits.x_test
    for k in (2, 8, 32):
        effect = reconstructions.clipping_effect(baseline, x, k)
        # the linear reconstruction, by scikit-learn's exact PCA of the same training digits
        reference = PCA(n_components=k, svd_solver="full").fit(digits.x_train[:300].flatten(1))
        flat = x.flatten(1).numpy()
        linear = reference.inverse_transform(reference.transform(flat))
        assert effect.linear == pytest.approx(np.mean((linear - flat) ** 2), rel=1e-3)
        assert effect.clipped <= effect.linear
    caption = reconstructions.pca_caveats(reconstructions.clipping_effect(baseline, x, 8))
    assert f"{baseline.mse(x, 8):.4f} clipped against {baseline.mse(x, 8, clip=False):.4f}" \
        in caption
    assert "no longer a linear map" in caption and "binary cross-entropy" in caption


def test_share_in_components_against_scikit_learn(small, baseline, digits):
    reference = PCA(n_components=baseline.max_k, svd_solver="full").fit(
        small.flatten(1).numpy())
    x = torch.cat([digits.x_test[:20], bottleneck.uniform_noise(3)])
    flat = x.flatten(1).numpy().astype(np.float64)
    coords = reference.transform(flat)
    expected = (coords ** 2).sum(1) / ((flat - reference.mean_) ** 2).sum(1)
    assert reconstructions.PCABaseline.share_in_components(baseline, x) == pytest.approx(
        expected, rel=1e-3)
    shares = baseline.share_in_components(x)
    assert shares[:20].mean() > 0.8 > 0.5 > shares[20:].max()


def test_hardest_and_ink_against_scipy(digits):
    model = build("dense", {"latent_dim": 4}, seed=0).eval()
    x = digits.x_test[:200]
    hard = reconstructions.hardest_and_ink(model, x, 7)
    idx, err = reconstructions.hardest(model, x, 7)
    assert list(hard.indices) == list(idx) and np.allclose(hard.errors, err)
    ink = x.flatten(1).mean(1).numpy()
    errors = reconstruction_errors(model, x).numpy()
    assert hard.ink_error_r == pytest.approx(stats.pearsonr(ink, errors).statistic, abs=1e-6)
    assert hard.hardest_ink == pytest.approx(ink[idx].mean(), rel=1e-6)
    assert hard.mean_ink == pytest.approx(ink.mean(), rel=1e-6)
    caption = reconstructions.ink_caveat(hard)
    assert f"correlate at r = {hard.ink_error_r:.2f}" in caption
    assert f"({hard.hardest_ink:.3f} against {hard.mean_ink:.3f})" in caption
    assert "grows with the amount of ink" in caption


def test_scribbles_are_seeded_pen_strokes_inside_the_digit_box():
    s = bottleneck.scribbles(4, seed=0)
    assert s.shape == (4, 1, 28, 28) and s.dtype == torch.float32
    assert s.min() >= 0 and s.max() <= 1
    assert torch.equal(s, bottleneck.scribbles(4, seed=0))
    assert not torch.equal(s, bottleneck.scribbles(4, seed=1))
    for img in s[:, 0].numpy():
        # ink as much as a bold digit, all of it in the central 20x20 box or the pen's width
        # around it (vertices 4 to 24 pixels in, the pen reaching 1.8 pixels)
        assert 0.08 < img.mean() < 0.4
        assert img[:2].sum() == img[-2:].sum() == img[:, :2].sum() == img[:, -2:].sum() == 0
        # one unbroken line, not scattered pixels: a single connected stroke, mostly solid ink
        _, pieces = ndimage.label(img > 0)
        assert pieces == 1
        assert img[img > 0].mean() > 0.6 and (img == 1).sum() > 50
    noise = bottleneck.uniform_noise(2, seed=3)
    assert noise.shape == (2, 1, 28, 28) and torch.equal(noise,
                                                         bottleneck.uniform_noise(2, seed=3))


def test_copy_test_against_its_definition():
    test = bottleneck.CopyTest(np.array([0.01, 0.02, 0.03, 0.04]), np.array([0.025]))
    assert test.typical == 0.025
    assert test.standing(0.025) == 0.5 and test.standing(1.0) == 1.0
    model = torch.nn.Linear(1, 1)                      # has parameters, and copies exactly
    model.reconstruct = lambda x: x
    x = bottleneck.scribbles(2)
    copied = bottleneck.copy_test(model, x, x)
    assert not copied.errors.any() and not copied.test_errors.any()


def _copy_case(narrow_scribble, wide_scribble, wide_noise=0.3):
    tests = np.linspace(0.01, 0.02, 101)               # median 0.015 for the narrow code
    narrow = bottleneck.CopyTest(tests, np.array([0.012, narrow_scribble, 0.29]))
    wide = bottleneck.CopyTest(tests / 10, np.array([0.001, wide_scribble, wide_noise]))
    return bottleneck.copy_findings(16, narrow, 1024, wide, ["digit", "scribble", "noise"],
                                         {"digit": 0.93, "noise": 0.25}, 128)


def test_copy_findings_follow_the_errors():
    said = _copy_case(narrow_scribble=0.08, wide_scribble=0.0019)
    assert said[0].startswith("Through the wide code (k = 1024, more numbers than the image's "
                              "784 pixels) a typical test digit comes back with an MSE of 0.0015,"
                              " against 0.0150 through k = 16")
    assert "the scribbles with 0.0019 against 0.0800 (42 times less error)" in said[0]
    assert ("a scribble's error is on average 5.3 times a typical test digit's through k = 16 "
            "and 1.3 times through k = 1024; it is above 100% and 89% of") in said[1]
    assert "stand out less" in said[1]
    assert said[2].startswith("Uniform noise it does not copy: MSE 0.3000 (k = 16: 0.2900)")
    assert "the 128 directions that hold 93% of a test digit's" in said[2]
    assert "only 25% of the noise's" in said[2]
    # when the wide code leaves the scribble as far above the digits, the text says so
    said = _copy_case(narrow_scribble=0.08, wide_scribble=0.05)
    assert "stand out no less" in said[1]
    # and noise that comes back as well as a digit is called copied
    assert "copies too" in _copy_case(0.08, 0.0019, wide_noise=0.002)[2]


def test_overfitting_findings_give_each_gap():
    curves = [(4000, bottleneck.loss_curve("all", _history((90, 95), (74.4, 88.0)))),
              (100, bottleneck.loss_curve("100", _history((80, 200), (46.9, 283.5)))),
              (500, bottleneck.loss_curve("500", _history((85, 150), (50.9, 170.1))))]
    said = bottleneck.overfitting_findings(curves, 16)
    assert said[0] == ("After the last epoch, training and test loss in nats per image: on 100 "
                       "digits, 47 and 284 (a gap of 237); on 500 digits, 51 and 170 (a gap of "
                       "119); on 4,000 digits, 74 and 88 (a gap of 14).")
    assert said[1].startswith("The fewer the digits, the wider the gap and the lower the "
                              "training loss: with a code of only 16 numbers, the model on 100")
    assert "stops the network from copying its input, not from memorising" in said[1]
    # no claim that the data does not bear out
    flat = [(100, bottleneck.loss_curve("100", _history((50, 60)))),
            (500, bottleneck.loss_curve("500", _history((50, 70))))]
    assert len(bottleneck.overfitting_findings(flat, 16)) == 1


def test_overfitting_figure_draws_training_solid_and_test_dashed():
    curves = [bottleneck.loss_curve("100 digits", _history((80, 200), (47, 283))),
              bottleneck.loss_curve("all 4,000 digits", _history((90, 95), (74, 88)))]
    fig = overfitting_figure(curves)
    assert [t.name for t in fig.data] == ["100 digits, training", "100 digits, test",
                                          "all 4,000 digits, training", "all 4,000 digits, test"]
    assert [t.line.dash for t in fig.data] == ["solid", "dash"] * 2
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[1].y) == [200, 283]
    assert fig.layout.yaxis.title.text == "BCE loss (nats per image)"
    assert fig.layout.title.text


# --- the page --------------------------------------------------------------------------------
# The page links to the Generate page's rate-distortion plane, and st.page_link only finds a
# page that st.navigation lists: so these tests run app.py and switch to the page (conftest's
# `app`) rather than the page script on its own.

WIDE_K = 1024
SUBSETS = (100, 500)


@pytest.fixture(scope="session")
def why_store(tmp_path_factory):
    """What "Why a bottleneck" compares, beside lesson_store's dense k = 16: a dense code wider
    than the image, and dense k = 16 on 100 and 500 of the digits. Two epochs: seconds."""
    home = tmp_path_factory.mktemp("why-store")
    store = ModelStore(home)
    specs = [ModelSpec.create("dense", {"latent_dim": WIDE_K}, dataset="digits",
                              train=TrainConfig(epochs=2))]
    specs += [ModelSpec.create("dense", {"latent_dim": 16}, dataset="digits",
                               train=TrainConfig(epochs=2), subset=n) for n in SUBSETS]
    for spec in specs:
        store.save(spec, train_spec(spec))
    return home


@pytest.fixture
def recon(app, lesson_store, why_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    shutil.copytree(why_store, isolated_home, dirs_exist_ok=True)

    def make(drawing: torch.Tensor | None = None):
        at = app()
        if drawing is not None:
            at.session_state["aedemo_drawing"] = drawing
        at.switch_page("pages/reconstructions.py")
        at.run()
        no_exception(at)
        return at
    return make


def _stored_dense(k: int, subset: int = 0):
    return next(m for m in ui.service().models(variant="dense", subset=bool(subset))
                if m.spec.latent_dim == k and m.spec.subset == subset)


def _screen_reader_texts(at) -> list[str]:
    return [m.value for m in at.markdown if "aedemo-sr-only" in m.value]


def test_the_k_chart_has_dense_conv_and_pca_only_and_says_why(recon):
    at = recon()
    fig = figure(at)
    assert fig["layout"]["title"]["text"] == "Test error against bottleneck size k"
    dense, = traces(fig, "dense")
    assert values(dense["x"]) == DENSE_KS                 # the code wider than the image: not here
    stored = {m.spec.latent_dim: m.metrics["mse"] for m in ui.service().models(variant="dense")}
    assert values(dense["y"]) == pytest.approx([stored[k] for k in DENSE_KS])
    conv, = traces(fig, "conv")
    assert values(conv["x"]) == [16]
    pca, = traces(fig, "PCA (linear)")
    assert set(DENSE_KS) <= set(values(pca["x"]))
    pca_mse = values(pca["y"])
    assert all(a >= b - 1e-9 for a, b in zip(pca_mse, pca_mse[1:]))
    assert {t["name"] for t in fig["data"]} == {PCA_NAME, "dense", "conv"}
    assert fig["layout"]["xaxis"]["type"] == "log"
    captions = texts(at, "caption")
    assert "Only the dense and convolutional models are on this axis" in captions
    assert "bounded by its KL term" in captions
    link, = [e for e in at.get("page_link") if "rate (KL) against distortion" in e.proto.label]
    assert link.proto.page.endswith("generate")
    # the summary a screen reader reads is the chart's own numbers
    summary = next(t for t in _screen_reader_texts(at) if "bottleneck size k" in t)
    ys = values(dense["y"])
    assert (f"dense falls from {ys[0]:.4f} at k = {DENSE_KS[0]} to {ys[-1]:.4f} at "
            f"k = {DENSE_KS[-1]}") in summary


def test_the_sentences_under_the_chart_come_from_its_numbers(recon, digits):
    at = recon()
    fig = figure(at)
    dense = dict(zip(values(traces(fig, "dense")[0]["x"]), values(traces(fig, "dense")[0]["y"])))
    pca = dict(zip(values(traces(fig, PCA_NAME)[0]["x"]), values(traces(fig, PCA_NAME)[0]["y"])))
    captions = [c.value for c in at.caption]
    page = " ".join(captions)
    assert "needs no training" not in page and "too few" not in page
    assert f"PCA is fitted on the same {len(digits.x_train):,} training digits" in page
    # each k the page names as PCA's is one where the chart has PCA below the autoencoder
    wins = [k for k in dense if pca[k] < dense[k]]
    said = [c for c in captions if "is below the autoencoder's" in c]
    if wins:
        numbers = [float(x) for x in re.findall(r"0\.\d{4}", said[0])]
        assert numbers == pytest.approx([v for k in wins for v in (pca[k], dense[k])], abs=6e-5)
    else:
        assert "At every stored k the autoencoder's test error is below PCA's." in captions
    # and the lesson's sentences are the ones the page shows, from the models' own histories
    ids = {m.spec.latent_dim: m for m in ui.service().models(variant="dense")}
    train_loss = {k: ids[k].meta["history"][-1]["train"]["loss"] for k in DENSE_KS}
    expected = reconstructions.bottleneck_findings(
        [(k, dense[k], ids[k].id) for k in DENSE_KS], sorted(pca.items()), train_loss,
        {k: 2 for k in DENSE_KS}, len(digits.x_train))
    assert all(sentence in captions for sentence in expected)


def test_pca_caption_gives_the_clipped_and_linear_error_at_the_slider_k(recon, digits):
    at = recon()
    at.select_slider(key="rec-k").set_value(4).run()
    baseline = reconstructions.fit_pca_baseline(digits.x_train)
    caption = next(c.value for c in at.caption if c.value.startswith("PCA is the best"))
    assert (f"at k = 4: {baseline.mse(digits.x_test, 4):.4f} clipped against "
            f"{baseline.mse(digits.x_test, 4, clip=False):.4f}") in caption
    assert "trained on binary cross-entropy" in caption


def test_bottleneck_slider_updates_the_images(recon):
    # how fast it answers is bench/classroom.py's to measure: timings are no test's business
    at = recon()
    assert at.select_slider(key="rec-k").options == [str(k) for k in DENSE_KS]   # no k = 1024
    at.select_slider(key="rec-k").set_value(4).run()
    no_exception(at)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Dense autoencoder, k = 4") for c in captions)
    assert any(c.startswith("PCA, k = 4") for c in captions)
    assert figure(at)["layout"]["shapes"][0]["x0"] == 4          # the marker follows


def test_every_picture_says_what_it_is(recon):
    at = recon()
    alts = [img.proto.imgs[0].alt for img in at.get("image")]
    assert alts and all(alts)
    labels, _ = first_row(at)
    assert alts[:10] == [f"test digit {label}" for label in labels]
    errors = [c.value for c in at.caption if c.value.startswith("MSE ")][:10]
    assert alts[10:20] == [f"test digit {label}, reconstruction by dense k = 16, {e}"
                           for label, e in zip(labels, errors)]
    assert sum("reconstruction by PCA k = 16" in a for a in alts) == 10
    assert sum(a.startswith("scribble") for a in alts) == 9       # inputs and two redrawings


def test_hardest_digits_say_how_much_ink_has_to_do_with_it(recon, digits):
    at = recon()
    model = ui.service().load_model(_stored_dense(16).id)
    errors = reconstruction_errors(model, digits.x_test).numpy()
    ink = digits.x_test.flatten(1).mean(1).numpy()
    r = stats.pearsonr(ink, errors).statistic
    assert f"correlate at r = {r:.2f}" in texts(at, "caption")
    hardest = np.argsort(-errors)[:10]
    assert f"({ink[hardest].mean():.3f} against {ink.mean():.3f})" in texts(at, "caption")


def test_why_a_bottleneck_shows_what_each_code_makes_of_scribbles_and_noise(recon, digits):
    at = recon()
    assert [h.value for h in at.header] == ["The bottleneck: autoencoder against PCA",
                                            "The hardest test digits for this model",
                                            "Why a bottleneck"]
    assert [h.value for h in at.subheader] == ["Test error against k",
                                               "A code wider than the image copies",
                                               "Too few digits: memorising"]
    captions = [c.value for c in at.caption]
    start = captions.index("Inputs: test digits, scribbles, noise")
    assert captions[start + 4:start + 8] == ["scribble 1", "scribble 2", "scribble 3",
                                             "uniform noise"]
    inputs = torch.cat([bottleneck.scribbles(3), bottleneck.uniform_noise(1)])
    found = {}
    for k in (16, WIDE_K):
        model = ui.service().load_model(_stored_dense(k).id)
        row = captions.index(f"Through dense k = {k}")
        shown = [float(c.removeprefix("MSE ")) for c in captions[row + 4:row + 8]]
        mse = mse_per_item(reconstruct(model, inputs), inputs).numpy()
        assert shown == pytest.approx(mse, abs=6e-5)
        found[k] = (np.median(reconstruction_errors(model, digits.x_test).numpy()), mse)
    said = texts(at, "markdown")
    (typical16, mse16), (typical_wide, mse_wide) = found[16], found[WIDE_K]
    assert (f"a typical test digit comes back with an MSE of {typical_wide:.4f}, against "
            f"{typical16:.4f} through k = 16") in said
    assert f"the scribbles with {mse_wide[:3].mean():.4f} against {mse16[:3].mean():.4f}" in said
    assert (f"{mse16[:3].mean() / typical16:.1f} times a typical test digit's through k = 16 "
            f"and {mse_wide[:3].mean() / typical_wide:.1f} times through k = {WIDE_K}") in said
    assert f"MSE {mse_wide[3]:.4f} (k = 16: {mse16[3]:.4f})" in said


def test_why_a_bottleneck_takes_the_drawing_from_the_draw_page(recon):
    drawing = a_drawing()
    at = recon(drawing=drawing)
    captions = [c.value for c in at.caption]
    assert "Inputs: test digits, scribbles, noise and your drawing from the Draw page" in captions
    model = ui.service().load_model(_stored_dense(WIDE_K).id)
    mse = mse_per_item(reconstruct(model, drawing), drawing).item()
    alts = [img.proto.imgs[0].alt for img in at.get("image")]
    assert f"your drawing, reconstruction by dense k = {WIDE_K}, MSE {mse:.4f}" in alts


def test_memorising_shows_each_models_training_and_test_loss(recon, digits):
    at = recon()
    fig = figure(at, 1)
    n_all = len(digits.x_train)
    names = [f"{n:,} digits" for n in SUBSETS] + [f"all {n_all:,} digits"]
    assert [t["name"] for t in fig["data"]] == [f"{n}, {s}" for n in names
                                                for s in ("training", "test")]
    assert fig["layout"]["yaxis"]["title"]["text"] == "BCE loss (nats per image)"
    gaps = []
    for n, label in zip((*SUBSETS, 0), names):
        history = _stored_dense(16, n).meta["history"]
        train, test = traces(fig, f"{label}, training")[0], traces(fig, f"{label}, test")[0]
        assert values(train["y"]) == pytest.approx([h["train"]["loss"] for h in history])
        assert values(test["y"]) == pytest.approx([h["test"]["loss"] for h in history])
        assert train["line"]["dash"] == "solid" and test["line"]["dash"] == "dash"
        gaps.append(f"on {n or n_all:,} digits, {history[-1]['train']['loss']:.0f} and "
                    f"{history[-1]['test']['loss']:.0f} (a gap of "
                    f"{history[-1]['test']['loss'] - history[-1]['train']['loss']:.0f})")
    said = texts(at, "caption")
    assert all(gap in said for gap in gaps)
    assert any(all(gap in t for gap in gaps) for t in _screen_reader_texts(at))


def test_picking_digits_and_reshuffling(recon):
    at = recon()
    at.multiselect(key="rec-classes").set_value([3]).run()
    no_exception(at)
    labels, before = first_row(at)
    assert labels == ["3"] * 10
    at.button(key="rec-shuffle").click().run()
    assert at.number_input(key="rec-seed").value == 1
    labels, after = first_row(at)
    assert labels == ["3"] * 10 and after != before


def test_reshuffling_sets_the_seed_without_a_warning_in_the_log(recon, monkeypatch):
    """Streamlit warns (once per process, with a stack) when a widget has a default value and
    session state sets it too: it filled the server's log at every Reshuffle."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    warned = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())
    policies._LOGGER.addHandler(handler)
    try:
        at = recon()
        at.button(key="rec-shuffle").click().run()
        at.button(key="rec-shuffle").click().run()
    finally:
        policies._LOGGER.removeHandler(handler)
    no_exception(at)
    assert at.number_input(key="rec-seed").value == 2
    assert not [m for m in warned if "default value" in m], warned
