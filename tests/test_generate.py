"""aedemo.lessons.generate and its figures: prior samples against the VAE's own sampler,
interpolation endpoints against reconstructions, the manifold grid's layout against the Gaussian
quantiles, and the KL per unit against torch.distributions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm
from test_showcase import stored
from torch.distributions import Normal, kl_divergence

from aedemo import ui
from aedemo.lessons import generate
from aedemo.models import build
from aedemo.spec import ModelSpec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.viz.generate import kl_per_dimension_figure, loss_terms_figure
from page_support import (
    figure,
    image_captions,
    no_exception,
    values,
)


@pytest.fixture(scope="module")
def vae2():
    return build("vae", {"latent_dim": 2}, seed=0).eval()


def test_prior_samples_are_the_vae_samplers(digits):
    vae = build("vae", {"latent_dim": 5}, seed=1).eval()
    ours = generate.sample_prior(vae, 6, temperature=0.7, seed=4)
    theirs = vae.sample(6, temperature=0.7, rng=torch.Generator().manual_seed(4))
    assert ours.shape == (6, 1, 28, 28) and torch.allclose(ours, theirs)
    # the same seed and k give the same codes to any decoder
    assert torch.equal(generate.prior_codes(6, 5, seed=4), generate.prior_codes(6, 5, seed=4))
    assert not torch.equal(generate.prior_codes(6, 5, seed=4),
                           generate.prior_codes(6, 5, seed=5))


@pytest.mark.parametrize("variant", ["dense", "vae", "conv"])
def test_interpolation_ends_are_the_reconstructions(digits, variant):
    model = build(variant, {"latent_dim": 3}, seed=0).eval()
    a, b = digits.x_test[0], digits.x_test[1]
    path = generate.interpolate(model, a, b, steps=5)
    assert path.shape == (5, 1, 28, 28)
    ends = model.reconstruct(torch.stack([a, b]))
    assert torch.allclose(path[0], ends[0], atol=1e-6)
    assert torch.allclose(path[-1], ends[1], atol=1e-6)
    # the middle step decodes the mean of the two codes: linear in z
    z = model.encode(torch.stack([a, b]))
    assert torch.allclose(path[2], model.decode(z.mean(dim=0, keepdim=True))[0], atol=1e-6)
    with pytest.raises(ValueError):
        generate.interpolate(model, a, b, steps=1)


def test_vae_manifold_grid_holds_the_prior_quantiles(vae2):
    grid = generate.manifold_grid(vae2, 7)
    assert grid.images.shape == (49, 1, 28, 28) and grid.n == 7
    expected = norm.ppf(np.linspace(0.05, 0.95, 7))
    assert np.allclose(grid.z1, expected) and np.allclose(grid.z2, expected)
    # row by row from the top left: z1 to the right, z2 upwards
    top_left = vae2.decode(torch.tensor([[grid.z1[0], grid.z2[-1]]], dtype=torch.float32))
    bottom_right = vae2.decode(torch.tensor([[grid.z1[-1], grid.z2[0]]], dtype=torch.float32))
    assert torch.allclose(grid.images[0], top_left[0], atol=1e-6)
    assert torch.allclose(grid.images[-1], bottom_right[0], atol=1e-6)


def test_autoencoder_manifold_grid_spans_its_codes():
    model = build("dense", {"latent_dim": 2}, seed=0).eval()
    rng = np.random.default_rng(0)
    codes = np.stack([rng.uniform(-3, 5, 500), rng.uniform(10, 12, 500)], axis=1)
    grid = generate.manifold_grid(model, 5, codes=codes)
    assert grid.images.shape == (25, 1, 28, 28)
    assert grid.z1[0] == pytest.approx(np.percentile(codes[:, 0], 1))
    assert grid.z2[-1] == pytest.approx(np.percentile(codes[:, 1], 99))
    with pytest.raises(ValueError, match="2D code"):
        generate.manifold_grid(build("dense", {"latent_dim": 3}), 5)


def test_kl_per_dimension_matches_torch_distributions(digits):
    vae = build("vae", {"latent_dim": 4}, seed=2).eval()
    x = digits.x_test[:50]
    ours = generate.kl_per_dimension(vae, x, batch_size=16)        # batches of unequal size
    with torch.no_grad():
        mu, logvar = vae.posterior(x)
        reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)
    assert ours.shape == (4,)
    assert np.allclose(ours, reference.numpy(), rtol=1e-5, atol=1e-6)


def test_loss_terms_from_a_history():
    history = [{"epoch": 1, "train": {"loss": 210, "recon": 200, "kl": 10},
                "test": {"loss": 205, "recon": 196, "kl": 9}},
               {"epoch": 2, "train": {"loss": 170, "recon": 158, "kl": 12}}]
    train = generate.loss_terms(history, "train")
    assert train == {"epoch": [1, 2], "recon": [200.0, 158.0], "kl": [10.0, 12.0]}
    test = generate.loss_terms(history, "test")
    assert test["epoch"] == [1]
    fig = loss_terms_figure(train, test, beta=4)
    assert [t.name for t in fig.data] == ["train reconstruction", "train KL",
                                          "test reconstruction", "test KL"]
    assert fig.data[1].yaxis == "y2"                    # KL on its own scale
    assert "beta = 4" in fig.layout.title.text


def test_kl_per_dimension_figure_counts_active_units():
    fig = kl_per_dimension_figure(np.array([2.0, 0.001, 0.5, 0.0]), threshold=0.01)
    assert len(fig.data[0].y) == 4
    assert "2 of 4 active" in fig.layout.title.text
    assert fig.data[0].marker.color[1] == "#bbb"


# --- the page --------------------------------------------------------------------------------

def test_generate_page_samples_interpolates_and_breaks_down_the_loss(explore):
    at = explore("pages/generate.py")
    at.selectbox(key="gen-vae").set_value(
        next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 4)).run()
    no_exception(at)
    captions = image_captions(at)
    assert any(c.startswith("VAE (k = 4") for c in captions)
    assert any("the very same codes" in c for c in captions)   # a dense k = 4 is stored
    loss = figure(at, 0)
    assert {t["name"] for t in loss["data"]} >= {"train reconstruction", "train KL"}
    kl = figure(at, 1)
    assert len(values(kl["data"][0]["y"])) == 4
    assert at.metric[0].value.endswith("of 4")
    assert len(at.dataframe[0].value) == 2                   # both stored VAEs


def test_generate_page_opens_on_a_vae_whose_samples_make_the_lesson(explore, isolated_home):
    """Not the k = 2 VAE, though it is the newest: at k = 2 a plain autoencoder's decodes of
    N(0, I) draws look as digit-like as the VAE's, and the page's point is lost."""
    spec = ModelSpec.create("vae", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=1))
    stored(ModelStore(isolated_home), spec, owner=None)      # a second after the others
    newest = ui.service().models(variant="vae")
    assert newest[0].spec == spec and {m.spec.latent_dim for m in newest} == {2, 4}
    at = explore("pages/generate.py")
    assert at.selectbox(key="gen-vae").value.spec.latent_dim == 4
    assert any(c.startswith("VAE (k = 4") for c in image_captions(at))

