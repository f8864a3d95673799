"""aedemo.lessons.insights and the insights figures: sparsity as the sparse model reports it,
the penalty measured against the same network without it, atoms as decoded one-hot codes, conv
feature maps against torch's functional convolution."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aedemo.lessons import insights
from aedemo.metrics import evaluate
from aedemo.models import build
from aedemo.models.sparse import code_sparsity
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.viz.insights import (
    activation_histogram,
    feature_maps_figure,
    feature_maps_summary,
    filters_figure,
    filters_summary,
    mosaic,
)
from page_support import (
    figure,
    image_captions,
    no_exception,
    texts,
)


def test_near_zero_fraction_is_the_sparse_models_metric(digits):
    model = build("sparse", {"latent_dim": 12}, seed=0).eval()
    x = digits.x_test[:64]
    stats = insights.code_stats(model, x)
    assert stats.codes.shape == (64, 12)
    with torch.no_grad():
        assert stats.near_zero == pytest.approx(code_sparsity(model.encode(x)))
    assert stats.active_per_image == pytest.approx(12 * (1 - stats.near_zero))


def test_code_stats_reconstruction_error_is_the_stored_bce_metric(digits):
    model = build("sparse", {"latent_dim": 8}, seed=0).eval()
    x = digits.x_test[:100]
    stats = insights.code_stats(model, x)
    reference = evaluate(model, x)
    assert stats.recon_bce == pytest.approx(reference["bce"], rel=1e-5)
    assert stats.recon_mse == pytest.approx(reference["mse"], rel=1e-5)


def test_activation_scale_firing_rate_and_live_units():
    codes = np.array([[0.0, 2.0, 0.0], [1.0, 4.0, 0.0], [3.0, 0.0, 0.0], [0.0, 6.0, 0.0]])
    stats = insights.CodeStats(codes)
    assert np.allclose(stats.firing_rate(), [0.5, 0.75, 0.0])
    # unit 0 fires at 1 and 3, unit 1 at 2, 4 and 6, unit 2 never
    assert np.allclose(stats.activation_scale(50), [2.0, 4.0, 0.0])
    assert np.allclose(stats.activation_scale(100), [3.0, 6.0, 0.0])
    assert list(stats.live_units()) == [1, 0]
    assert stats.dead_units == 1


def entry(l1, k=64, dataset="mnist-5k", epochs=3, name=""):
    spec = SimpleNamespace(variant="sparse", latent_dim=k, dataset=dataset,
                           hparams=(("l1", l1), ("latent_dim", k)),
                           train=TrainConfig(epochs=epochs))
    return SimpleNamespace(spec=spec, name=name)


def test_the_same_network_is_one_model_per_l1_of_the_same_k_trained_alike():
    chosen = entry(0.7, name="chosen")
    candidates = [entry(0.0, epochs=9, name="longer"), entry(0.0, name="control"),
                  entry(0.7, name="twin"), entry(2.0, name="strong"),
                  entry(0.0, k=32, name="other k"), entry(0.1, dataset="digits", name="other")]
    family = insights.same_network(chosen, candidates)
    assert list(family) == [0.0, 0.7, 2.0]                   # lambda increasing
    # the chosen model itself, and the control trained as it was (not the longer run)
    assert [m.name for m in family.values()] == ["control", "chosen", "strong"]


def codes(zero_share, units=10, items=100, seed=0):
    """Codes with about ``zero_share`` of the activations exactly zero."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, (items, units)) * (rng.uniform(size=(items, units))
                                                    >= zero_share)


def test_what_the_penalty_adds_is_measured_against_the_control():
    control = insights.CodeStats(codes(0.5), recon_bce=100.0)
    penalised = insights.CodeStats(codes(0.8, seed=1), recon_bce=112.5)
    said = insights.what_the_penalty_adds({0.0: control, 0.7: penalised}, 0.7)
    # every number comes from the codes: the control's zeros are the ReLU's, the rest the
    # penalty's
    assert f"leaves {control.near_zero:.0%} of the activations at zero" in said
    assert f"{control.active_per_image:.1f} of 10 units" in said
    assert f"λ = 0.7 adds the rest: {penalised.near_zero:.0%} at zero" in said
    gain = round((penalised.near_zero - control.near_zero) * 100)
    assert f"({gain} points more)" in said
    assert "a cost of 12.5 nats per image" in said
    # seen from the control, the penalised model is described instead
    said = insights.what_the_penalty_adds({0.0: control, 0.7: penalised}, 0.0)
    assert said.startswith("This is the control") and f"{penalised.near_zero:.0%}" in said
    # without a control nothing is claimed, and the student is told what to train
    said = insights.what_the_penalty_adds({0.7: penalised}, 0.7)
    assert "without the penalty (λ = 0) is stored" in said and "l1 = 0" in said


def test_the_l1_table_has_one_row_per_weight():
    rows = insights.l1_table({0.0: insights.CodeStats(codes(0.5), 100.0, 0.02),
                              0.7: insights.CodeStats(codes(0.8), 112.5, 0.03)}, 0.7)
    assert [r["L1 weight λ"] for r in rows] == ["0 (control)", "0.7 (chosen)"]
    assert rows[1]["reconstruction BCE (nats per image)"] == 112.5


def test_atoms_are_one_hot_codes_decoded():
    model = build("sparse", {"latent_dim": 5}, seed=0).eval()
    scale = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    atoms = insights.atoms(model, scale)
    assert atoms.shape == (5, 1, 28, 28)
    with torch.no_grad():
        z = torch.zeros(1, 5)
        z[0, 3] = 3.0
        assert torch.allclose(atoms[3], model.decode(z)[0], atol=1e-6)
        assert torch.allclose(insights.empty_code_image(model),
                              model.decode(torch.zeros(1, 5)), atol=1e-6)


def test_filters_and_feature_maps_match_functional_convolution(digits):
    model = build("conv", {"latent_dim": 8}, seed=0).eval()
    filters = insights.first_layer_filters(model)
    assert filters.shape == (16, 3, 3)
    assert np.array_equal(filters, model.net.conv1.weight.detach().numpy()[:, 0])
    x = digits.x_test[3]
    maps = insights.feature_maps(model, x)
    assert [m.shape for m in maps] == [(16, 14, 14), (32, 7, 7)]
    with torch.no_grad():
        first = F.relu(F.conv2d(x[None], model.net.conv1.weight, model.net.conv1.bias, stride=2,
                                padding=1))
    assert np.allclose(maps[0], first[0].numpy(), atol=1e-6)


def test_mosaic_places_maps_with_blank_gutters():
    maps = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    grid = mosaic(maps, columns=2)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert np.array_equal(grid[0:2, 4:7], maps[1])
    assert np.array_equal(grid[6:8, 0:3], maps[4])
    assert np.isnan(grid[2]).all() and np.isnan(grid[:, 3]).all()
    assert np.isnan(grid[6:8, 4:7]).all()                       # the empty sixth cell


def test_insight_figures():
    hist = activation_histogram({"sparse": np.zeros(10), "dense": np.ones(10)})
    assert [t.name for t in hist.data] == ["sparse", "dense"]
    assert hist.data[0].histnorm == "probability" and hist.layout.barmode == "overlay"
    assert hist.layout.yaxis.type == "log"
    assert hist.data[0].xbins.size == hist.data[1].xbins.size        # shared bins
    weights = np.random.default_rng(0).normal(size=(16, 3, 3))
    filters = filters_figure(weights)
    assert filters.data[0].zmid == 0
    assert filters.data[0].zmax == pytest.approx(np.abs(weights).max())
    assert "-" in filters_summary(weights) and "16 first-layer 3x3 filters" in (
        filters_summary(weights))


def test_feature_maps_are_drawn_per_map_and_say_so():
    maps = np.random.default_rng(0).uniform(0, 2, size=(16, 14, 14))
    maps[3] *= 10                                 # one map far stronger than the rest
    maps[5] = 0                                   # and one silent
    fig = feature_maps_figure(maps, "layer 1")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.nanmax(z) == pytest.approx(1.0)
    # every map reaches black, the strong one no more than the others: so no colourbar may
    # claim one scale for them all, the title says it, and hovering shows the raw value
    assert np.nanmax(mosaic(maps / maps.max(axis=(1, 2), keepdims=True).clip(1e-9), 8)[
        :14, 15:29]) == pytest.approx(1.0)
    assert fig.data[0].showscale is False
    assert "each map scaled to its own maximum (white)" in fig.layout.title.text
    scale = fig.data[0].colorscale                # the colour of the maximum is what it says
    assert (scale[0] if fig.data[0].reversescale else scale[-1])[1] == "rgb(255,255,255)"
    assert np.nanmax(np.asarray(fig.data[0].customdata, dtype=float)) == pytest.approx(
        maps.max())
    said = feature_maps_summary(maps, "Layer 1")
    assert f"map 4 (peak {maps[3].max():.2f})" in said and "this digit: 1." in said


# --- the page --------------------------------------------------------------------------------

STRONG = 3.0           # an L1 weight whose effect shows on the small digits within seconds


@pytest.fixture(scope="session")
def control_store(lesson_store, tmp_path_factory):
    """The explore store (its sparse model: k = 16 at l1 = 0.7, two epochs) and the same
    network at l1 = STRONG and at l1 = 0, its control, both trained alike: long enough that
    their codes differ."""
    home = tmp_path_factory.mktemp("control-store")
    shutil.copytree(lesson_store, home, dirs_exist_ok=True)
    for l1 in (0.0, STRONG):
        spec = ModelSpec.create("sparse", {"latent_dim": 16, "l1": l1}, dataset="digits",
                                train=TrainConfig(epochs=10, batch_size=64, lr=3e-3))
        ModelStore(home).save(spec, train_spec(spec))
    return home


def test_insights_page_compares_the_sparse_code_with_its_control_and_shows_conv_filters(
        page_app, control_store, isolated_home, digits):
    shutil.copytree(control_store, isolated_home, dirs_exist_ok=True)
    at = page_app("pages/insights.py")
    no_exception(at)
    store = ModelStore(isolated_home)
    sparse = [m for m in store.list() if m.spec.variant == "sparse"]
    strong = next(m for m in sparse if dict(m.spec.hparams)["l1"] == STRONG)
    at.selectbox(key="ins-sparse").set_value(strong).run()
    no_exception(at)
    hist = figure(at, 0)
    # the control is the same network without the penalty, not the dense model's linear code;
    # every stored weight of that network is there, the chosen one drawn last, on top
    assert [t["name"] for t in hist["data"]] == ["λ = 0 (control, no penalty)",
                                                 "λ = 0.7 (same network)", "λ = 3 (chosen)"]
    # what the page says is what the stored models measure on the same test digits; the
    # control is the one trained as the chosen model was
    x = digits.x_test[:1000]
    alike = {dict(m.spec.hparams)["l1"]: m for m in sparse if m.spec.train == strong.spec.train}
    control, mine = (insights.code_stats(store.load(alike[l1].id)[0], x) for l1 in (0.0, STRONG))
    said = texts(at, "markdown")
    assert f"ReLU alone leaves {control.near_zero:.0%} of the activations at zero" in said
    assert f"adds the rest: {mine.near_zero:.0%} at zero" in said
    assert f"BCE {mine.recon_bce:.1f} against {control.recon_bce:.1f}" in said
    assert f"{mine.near_zero:.0%} of {mine.codes.size:,} activations are near zero" in said
    table = at.dataframe[0].value
    assert list(table["L1 weight λ"]) == ["0 (control)", "0.7", "3 (chosen)"]
    metric = at.metric[0]
    assert metric.value == f"{mine.near_zero:.0%}" and "against λ = 0" in metric.delta
    # every atom has its alternative text; the decoder is said to be one non-negative layer
    alts = [i.alt for img in at.get("image") for i in img.proto.imgs]
    assert alts[0].startswith("the empty code")
    assert sum(a.startswith("atom of unit") for a in alts) == len(mine.live_units())
    assert "one non-negative linear layer" in said and "how strongly" in said
    filters = figure(at, 1)
    assert filters["data"][0]["type"] == "heatmap"
    maps = figure(at, 2)
    assert maps["data"][0]["showscale"] is False
    at.number_input(key="ins-digit").set_value(5).run()
    no_exception(at)
    assert any(c.startswith("#5:") for c in image_captions(at))
    assert any(a.startswith("test digit #5") for img in at.get("image")
               for a in (i.alt for i in img.proto.imgs))


def test_without_a_control_the_page_says_what_to_train(explore):
    at = explore("pages/insights.py")
    hist = figure(at, 0)
    assert [t["name"] for t in hist["data"]] == ["λ = 0.7 (chosen)"]
    assert "without the penalty (λ = 0) is stored" in texts(at, "markdown")
    assert json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["type"] == "heatmap"

