"""aedemo.lessons.insights and the insights figures: sparsity as the sparse model reports it,
atoms as decoded one-hot codes, conv feature maps against torch's functional convolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aedemo.lessons import insights
from aedemo.models import build
from aedemo.models.sparse import code_sparsity
from aedemo.viz.insights import activation_histogram, feature_maps_figure, filters_figure, mosaic
from page_support import (
    figure,
    image_captions,
    no_exception,
)


def test_near_zero_fraction_is_the_sparse_models_metric(digits):
    model = build("sparse", {"latent_dim": 12}, seed=0).eval()
    x = digits.x_test[:64]
    stats = insights.code_stats(model, x)
    assert stats.codes.shape == (64, 12)
    with torch.no_grad():
        assert stats.near_zero == pytest.approx(code_sparsity(model.encode(x)))
    assert stats.active_per_image == pytest.approx(12 * (1 - stats.near_zero))


def test_activation_scale_firing_rate_and_live_units():
    codes = np.array([[0.0, 2.0, 0.0], [1.0, 4.0, 0.0], [3.0, 0.0, 0.0], [0.0, 6.0, 0.0]])
    stats = insights.CodeStats(codes)
    assert np.allclose(stats.firing_rate(), [0.5, 0.75, 0.0])
    # unit 0 fires at 1 and 3, unit 1 at 2, 4 and 6, unit 2 never
    assert np.allclose(stats.activation_scale(50), [2.0, 4.0, 0.0])
    assert np.allclose(stats.activation_scale(100), [3.0, 6.0, 0.0])
    assert list(stats.live_units()) == [1, 0]


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
    assert np.array_equal(filters, model.conv1.weight.detach().numpy()[:, 0])
    x = digits.x_test[3]
    maps = insights.feature_maps(model, x)
    assert [m.shape for m in maps] == [(16, 14, 14), (32, 7, 7)]
    with torch.no_grad():
        first = F.relu(F.conv2d(x[None], model.conv1.weight, model.conv1.bias, stride=2,
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
    maps = np.random.default_rng(0).uniform(0, 2, size=(16, 14, 14))
    fig = feature_maps_figure(maps, "layer 1")
    assert np.nanmax(np.asarray(fig.data[0].z, dtype=float)) == pytest.approx(1.0)


# --- the page --------------------------------------------------------------------------------

def test_insights_page_compares_codes_and_shows_conv_filters(explore):
    at = explore("pages/insights.py")
    hist = figure(at, 0)
    assert [t["type"] for t in hist["data"]] == ["histogram", "histogram"]
    assert hist["data"][0]["name"].startswith("dense")
    assert hist["data"][1]["name"].startswith("sparse")      # on top
    filters = figure(at, 1)
    assert filters["data"][0]["type"] == "heatmap"
    at.number_input(key="ins-digit").set_value(5).run()
    no_exception(at)
    assert any(c.startswith("#5:") for c in image_captions(at))

