"""aedemo.lessons.generate and its figures: prior samples against the VAE's own sampler,
interpolation endpoints against reconstructions, the manifold grid's layout against the Gaussian
quantiles, the KL per unit against torch.distributions, the prior's mean length against the chi
distribution, the fitted Gaussian and the aggregate posterior against brute force, traversals,
the loss on one axis, the rate-distortion plane; and the page, run by AppTest, showing what the
numbers say."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import chi, norm
from test_showcase import stored
from torch.distributions import Normal, kl_divergence

from aedemo import ui, zoo
from aedemo.lessons import generate, generate_kl
from aedemo.lessons.generate import Look
from aedemo.metrics import bce_floor, evaluate
from aedemo.models import build, variant_names
from aedemo.spec import ModelSpec, Trained, train_spec, training_data
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.viz.generate import (
    kl_per_dimension_figure,
    loss_terms_figure,
    traversal_mosaic,
    vae_rate_distortion_figure,
)
from aedemo.viz.images import image_grid
from page_support import (
    figure,
    image_captions,
    no_exception,
    texts,
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


@pytest.mark.parametrize("variant", variant_names("image"))
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
    ours = generate_kl.kl_per_dimension(vae, x, batch_size=16)        # batches of unequal size
    with torch.no_grad():
        mu, logvar = vae.net.posterior(x)
        reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)
    assert ours.shape == (4,)
    assert np.allclose(ours, reference.numpy(), rtol=1e-5, atol=1e-6)



# --- the fair comparison ---------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 16, 1024])
def test_the_priors_mean_length_is_the_chi_distributions(k):
    assert generate.prior_mean_norm(k) == pytest.approx(chi(k).mean(), rel=1e-9)


def test_the_fitted_gaussian_is_the_codes_mean_and_covariance(digits):
    model = build("dense", {"latent_dim": 3}, seed=0).eval()
    x = digits.x_train[:300]
    fit = generate.fit_code_gaussian(model, x)
    with torch.no_grad():
        codes = model.encode(x).double().numpy()
    assert np.allclose(fit.mean, codes.mean(axis=0), atol=1e-6)
    assert np.allclose(fit.cov, np.cov(codes, rowvar=False), atol=1e-6)
    assert fit.mean_norm == pytest.approx(np.linalg.norm(codes, axis=1).mean(), rel=1e-5)
    assert fit.count == 300 and fit.parameters == 3 + 6
    # its draws have its mean and covariance ...
    many = fit.codes(20000, seed=1)
    assert np.allclose(many.mean(axis=0), fit.mean, atol=0.05 * np.sqrt(fit.cov.diagonal()).max())
    assert np.allclose(np.cov(many, rowvar=False), fit.cov, atol=0.05 * fit.cov.diagonal().max())
    # ... and shape the very draws prior_codes makes: with N(0, I) fitted they are those draws
    unit = generate.CodeGaussian(mean=np.zeros(3), cov=np.eye(3), mean_norm=0.0, count=0)
    assert np.allclose(unit.codes(5, temperature=0.5, seed=7),
                       generate.prior_codes(5, 3, temperature=0.5, seed=7).numpy(), atol=1e-6)
    # a singular covariance (a unit that never varies) still samples, on its line
    flat = generate.CodeGaussian(mean=np.ones(2), cov=np.array([[1.0, 0.0], [0.0, 0.0]]),
                                 mean_norm=0.0, count=0)
    assert np.allclose(flat.codes(10)[:, 1], 1.0)


def test_the_aggregate_posterior_against_sampling(digits):
    """The law of total variance against brute force: codes drawn from every q(z|x)."""
    vae = build("vae", {"latent_dim": 3}, seed=3).eval()
    x = digits.x_train[:200]
    spread = generate.posterior_spread(vae, x, batch_size=64)
    with torch.no_grad():
        mu, logvar = vae.net.posterior(x)
        draws = torch.cat([mu + (0.5 * logvar).exp() * torch.randn_like(mu)
                           for _ in range(200)]).double()
    assert np.allclose(spread.aggregate_mean, draws.mean(dim=0).numpy(), atol=0.02)
    assert np.allclose(spread.aggregate_var, draws.var(dim=0).numpy(), rtol=0.05)
    assert np.allclose(spread.kl, generate_kl.kl_per_dimension(vae, x), rtol=1e-4, atol=1e-6)
    assert np.allclose(spread.sigma, logvar.exp().mean(dim=0).sqrt().numpy(), rtol=1e-5)
    assert spread.mean_norm == pytest.approx(mu.norm(dim=1).mean().item(), rel=1e-5)


def test_a_look_counts_ink_grey_and_variety():
    black = torch.zeros(2, 1, 28, 28)
    assert generate.look(black) == Look(ink=0.0, grey=0.0, variety=0.0, count=2)
    a, b = torch.zeros(1, 28, 28), torch.zeros(1, 28, 28)
    a[0, 0, :4] = 1.0                                   # 4 solid pixels
    b[0, 1, :4] = torch.tensor([0.5, 0.5, 0.9, 0.1])    # 3 inked, 2 of them grey
    seen = generate.look(torch.stack([a, b]))
    assert seen.ink == pytest.approx((4 + 2.0) / 2)
    assert seen.grey == pytest.approx(2 / 7)
    assert seen.variety == pytest.approx(torch.dist(a, b).item())


def test_the_temperature_words_follow_the_numbers():
    test = Look(ink=105, grey=0.37, variety=10.3, count=500)
    looks = {0.5: Look(81, 0.96, 4.9, 200), 1.0: Look(89, 0.69, 7.8, 200),
             1.5: Look(96, 0.50, 9.1, 200)}
    said = generate.temperature_text(looks, test)
    assert "at T = 0.5 the samples are blurrier than at T = 1 (96% of their ink is grey, " \
           "against 69%) and more alike (variety 4.9 against 7.8)" in said
    assert "the average of many digits, not to a typical one" in said
    assert "at T = 1.5 the samples are sharper" in said and "more varied (variety 9.1" in said
    assert "37% grey, variety 10.3" in said
    # the other way round, the words turn too, and the "average digit" reading is not claimed
    turned = {0.5: Look(81, 0.40, 9.0, 200), 1.0: Look(89, 0.69, 7.8, 200)}
    said = generate.temperature_text(turned, test)
    assert "at T = 0.5 the samples are sharper" in said and "more varied" in said
    assert "average" not in said and "safe" not in said
    with pytest.raises(ValueError):
        generate.temperature_text({0.5: looks[0.5]}, test)


def test_the_scale_and_fair_words_follow_the_numbers():
    wide = generate.CodeGaussian(np.zeros(16), np.eye(16), mean_norm=12.4, count=4000)
    said = generate.scale_text(16, wide, 16, 4.0)
    assert "lie 12.4 from the origin" in said
    assert f"lie {generate.prior_mean_norm(16):.1f} from it" in said
    assert "lie 4.0 from it" in said and "at another scale" in said
    near = generate.CodeGaussian(np.zeros(16), np.eye(16), mean_norm=4.1, count=4000)
    assert "at about the scale of its own codes" in generate.scale_text(16, near, 2, 1.5)
    assert f"in its k = 2 {generate.prior_mean_norm(2):.1f}" in generate.scale_text(
        16, near, 2, 1.5)
    test = Look(105, 0.37, 10.3, 500)
    said = generate.fair_text(Look(88, 0.67, 7, 48), Look(31, 0.98, 3, 48),
                              Look(92, 0.58, 8, 48), test)
    assert "the plain decoder's from N(0, I) 31, from its fitted Gaussian 92" in said
    assert "most of the smudge was the scale of the codes" in said
    said = generate.fair_text(Look(88, 0.67, 7, 48), Look(60, 0.9, 3, 48),
                              Look(20, 0.9, 3, 48), test)
    assert "does not help here" in said and "smudge was the scale" not in said


def test_the_aggregate_and_kl_words_carry_the_measures():
    spread = generate.PosteriorSpread(
        sigma=np.array([0.3, 0.3, 1.0]), kl=np.array([2.0, 1.0, 0.001]), mean_norm=4.0,
        aggregate_mean=np.array([0.1, -0.16, 0.0]), aggregate_var=np.array([1.02, 1.23, 1.0]))
    assert spread.active_sigma == pytest.approx(0.3)      # the inactive unit's 1 left out
    said = generate.aggregate_text(spread)
    assert "a digit's σ is 0.30 along them" in said and "roughly N(0, I)" in said
    assert "within 0.16 of 0" in said and "between 1.00 and 1.23" in said
    loose = generate.PosteriorSpread(spread.sigma, spread.kl, 4.0, spread.aggregate_mean,
                                     np.array([1.0, 2.0, 1.0]))
    assert "only loosely N(0, I)" in generate.aggregate_text(loose)
    fit = generate.CodeGaussian(np.zeros(16), np.eye(16), mean_norm=12.0, count=4000)
    said = generate.kl_buys_text(spread, fit)
    assert "a known prior" in said and "152 numbers fitted" in said and "4,000" in said
    assert "fewer holes" in said


# --- interpolation ---------------------------------------------------------------------------

def test_path_distances_against_brute_force(digits):
    vae = build("vae", {"latent_dim": 3}, seed=0).eval()
    plain = build("dense", {"latent_dim": 3}, seed=0).eval()
    small = SimpleNamespace(x_train=digits.x_train[:100], x_test=digits.x_test[:10])
    found = generate.path_distances(vae, plain, small, 0, 3, 4)
    assert set(found) == {"VAE", "plain autoencoder"}
    path = generate.interpolate(plain, small.x_test[0], small.x_test[3], 4)
    brute = [min(torch.dist(p, t).item() for t in small.x_train) for p in path]
    assert np.allclose(found["plain autoencoder"], brute, rtol=1e-4)
    assert set(generate.path_distances(vae, None, small, 0, 3, 4)) == {"VAE"}


def test_the_path_words_follow_the_numbers():
    said = generate.path_text({"VAE": np.array([4.3, 5.9, 4.3]),
                               "plain autoencoder": np.array([4.5, 5.8, 4.5])})
    assert "the VAE's path from 4.3 at its ends to 5.9" in said and "about equally" in said
    said = generate.path_text({"VAE": np.array([4.3, 4.8, 4.3]),
                               "plain autoencoder": np.array([4.5, 7.0, 4.5])})
    assert "The plain autoencoder's path strays further from real digits than the VAE's" in said


# --- the loss on one axis --------------------------------------------------------------------

HISTORY = [{"epoch": 1, "train": {"loss": 210, "recon": 200, "kl": 10},
            "test": {"loss": 205, "recon": 196, "kl": 9}},
           {"epoch": 2, "train": {"loss": 170, "recon": 158, "kl": 12},
            "test": {"loss": 168, "recon": 150, "kl": 11}}]


def test_loss_terms_from_a_history():
    history = [HISTORY[0], {"epoch": 2, "train": {"loss": 170, "recon": 158, "kl": 12}}]
    train = generate_kl.loss_terms(history, "train")
    assert train == {"epoch": [1, 2], "recon": [200.0, 158.0], "kl": [10.0, 12.0]}
    assert generate_kl.loss_terms(history, "test")["epoch"] == [1]


def test_the_loss_is_stacked_on_one_axis_with_its_floor():
    train, test = generate_kl.loss_terms(HISTORY, "train"), generate_kl.loss_terms(HISTORY, "test")
    fig = loss_terms_figure(train, test, beta=1, floors={"train": 46.3, "test": 46.2})
    panel = [t for t in fig.data if t.meta == "train"]
    assert [t.name for t in panel] == ["reconstruction", "KL (stacked on top: −ELBO)",
                                       "BCE floor"]
    recon, kl, floor = panel
    # one axis: both terms on the panel's y axis, stacked, so the top is recon + KL = -ELBO
    assert recon.yaxis == kl.yaxis == "y" and recon.stackgroup == kl.stackgroup == "train"
    assert np.allclose(kl.customdata, [210, 170])
    assert list(floor.y) == [46.3, 46.3]
    # the test panel shares that axis: its scale is the training panel's, never its own
    test_panel = [t for t in fig.data if t.meta == "test"]
    assert {t.yaxis for t in test_panel} == {"y2"} and fig.layout.yaxis2.matches == "y"
    assert fig.layout.yaxis2.overlaying is None and list(test_panel[-1].y) == [46.2, 46.2]
    assert fig.layout.yaxis.title.text == "nats per image"
    assert "−ELBO" in fig.layout.title.text and "minimised" not in fig.layout.title.text
    assert not [t for t in fig.data if t.name.startswith("minimised")]


def test_with_beta_the_minimised_loss_is_marked():
    train = generate_kl.loss_terms(HISTORY, "train")
    fig = loss_terms_figure(train, None, beta=4)
    (line,) = [t for t in fig.data if t.name.startswith("minimised")]
    assert list(line.y) == [200 + 4 * 10, 158 + 4 * 12] and line.line.dash == "dash"
    assert "β = 4" in fig.layout.title.text and "not −ELBO" in fig.layout.title.text


def test_the_loss_words_carry_the_last_epoch_and_the_floor():
    train, test = generate_kl.loss_terms(HISTORY, "train"), generate_kl.loss_terms(HISTORY, "test")
    floors = {"train": 46.3, "test": 46.2}
    said = generate_kl.loss_text(train, test, beta=1, floors=floors)
    assert "On the test images at epoch 2, −ELBO is 161.0 nats per image: reconstruction " \
           "150.0 + KL 11.0" in said
    assert "below 46.2, the BCE floor" in said and "minimised" not in said
    said = generate_kl.loss_text(train, test, beta=4, floors=floors)
    assert "Training minimised reconstruction + 4 × KL (206.0 at the last epoch)" in said
    assert generate_kl.loss_text({"epoch": []}, None, beta=1, floors=floors).startswith("No loss")


def test_the_floors_are_the_images_own(digits):
    small = SimpleNamespace(x_train=digits.x_train[:50], x_test=digits.x_test[:40])
    assert generate_kl.bce_floors(small) == {"train": bce_floor(small.x_train),
                                          "test": bce_floor(small.x_test)}


# --- KL per unit and traversals --------------------------------------------------------------

def test_kl_per_dimension_figure_shows_inactive_units_apart():
    fig = kl_per_dimension_figure(np.array([2.0, 0.001, 0.5, 0.0]), threshold=0.01)
    active, inactive = fig.data
    assert list(active.x) == ["z1", "z3"] and list(inactive.x) == ["z2", "z4"]
    assert inactive.name.startswith("inactive") and inactive.marker.pattern.shape == "/"
    assert "2 of 4 active" in fig.layout.title.text and "upper bound" in fig.layout.title.text
    assert list(fig.layout.xaxis.categoryarray) == ["z1", "z2", "z3", "z4"]
    # with every unit active there is nothing grey to explain
    assert [t.name for t in kl_per_dimension_figure(np.array([1.0, 2.0]), 0.01).data] == \
        ["active"]


def test_the_kl_words_name_the_inactive_units():
    said = generate_kl.kl_text(np.array([2.0, 0.001, 0.5, 0.003]))
    assert "2 of 4 units are above 0.01 nats, the largest z1 with 2.00 nats" in said
    assert "inactive ones (z2, z4) carry at most 0.003 nats" in said
    assert "upper bound" in said


def silenced(vae, units):
    """A VAE whose ``units`` are collapsed for certain: the encoder gives them N(0, 1) for every
    image (mu = 0, log-variance = 0) and the decoder's weights from them are zero."""
    with torch.no_grad():
        for j in units:
            for layer in (vae.net.to_mu, vae.net.to_logvar):
                layer.weight[j] = 0.0
                layer.bias[j] = 0.0
            vae.net.decoder[0].weight[:, j] = 0.0
    return vae


def test_a_traversal_sets_one_unit_at_a_time(digits):
    vae = silenced(build("vae", {"latent_dim": 4}, seed=1).eval(), [2])
    x = digits.x_test[:200]
    assert generate_kl.kl_per_dimension(vae, x)[2] == pytest.approx(0.0, abs=1e-7)
    # an untrained VAE's KLs are all small: these say what training would make of them
    kl = np.array([1.0, 0.5, 0.0, 0.8])
    trav = generate_kl.traversal(vae, x[5], kl, values=(-2.0, 0.0, 2.0))
    assert list(trav.units) == [0, 3, 1, 2] and list(trav.kl) == [1.0, 0.8, 0.5, 0.0]
    assert trav.images.shape == (4 * 3, 1, 28, 28)
    # row r, column c: the digit's code with unit units[r] set to values[c], decoded
    code = vae.encode(x[5:6])[0]
    r, c = 1, 2
    z = code.clone()
    z[trav.units[r]] = 2.0
    assert torch.allclose(trav.images[r * 3 + c], vae.decode(z[None])[0], atol=1e-6)
    # the silenced unit changes nothing; the others do
    assert trav.change[-1] == pytest.approx(0.0, abs=1e-7) and (trav.change[:-1] > 1e-4).all()
    said = generate_kl.traversal_text(trav)
    assert "Along the 3 active units" in said
    assert "along the 1 inactive ones by 0.0000: the decoder ignores them" in said
    # units called inactive that still move the picture are not said to be ignored
    loud = generate_kl.traversal(vae, x[5], np.array([1.0, 0.5, 0.001, 0.002]))
    said = generate_kl.traversal_text(loud)
    assert "along the 2 inactive ones" in said and "ignores" not in said
    none = generate_kl.traversal_text(generate_kl.traversal(vae, x[5], np.zeros(4)))
    assert none.startswith("None of this VAE's 4 units is active")


def test_the_traversal_mosaic_is_the_grid_with_labels(digits):
    images = digits.x_test[:6]
    pixels = traversal_mosaic(images, (-1.0, 0.0, 1.0), ["z1 · KL 2.00", "z2 · KL 0.00"])
    grid = image_grid(images, columns=3, scale=2)
    h, w = pixels.shape
    assert (h, w) > grid.shape and np.array_equal(pixels[h - grid.shape[0]:, w - grid.shape[1]:],
                                                  grid)
    assert (pixels[:, :w - grid.shape[1]] < 128).any()        # the labels are drawn


# --- beta on the rate-distortion plane -------------------------------------------------------

def fake_vae(model_id, k, beta, kl, neg_elbo, active, epochs=5):
    spec = ModelSpec.create("vae", {"latent_dim": k, "beta": beta}, dataset="digits",
                            train=TrainConfig(epochs=epochs))
    return SimpleNamespace(id=model_id, spec=spec,
                           metrics={"kl": kl, "neg_elbo": neg_elbo, "active_units": active})


ZOO_LIKE = [fake_vae("b4", 16, 4.0, 8.8, 129.2, 11), fake_vae("b1", 16, 1.0, 22.9, 115.1, 16),
            fake_vae("b025", 16, 0.25, 37.4, 122.7, 16), fake_vae("k2", 2, 1.0, 5.8, 162.3, 2),
            fake_vae("long", 16, 4.0, 9.0, 128.0, 12, epochs=9)]


def test_vaes_on_the_rate_distortion_plane():
    points = generate_kl.vae_points([*ZOO_LIKE, SimpleNamespace(
        id="old", spec=ZOO_LIKE[0].spec, metrics={"mse": 0.1})])      # no KL: not a point
    assert [p.model_id for p in points] == ["b4", "b1", "b025", "k2", "long"]
    b4 = points[0]
    assert (b4.rate, b4.distortion, b4.collapsed) == (8.8, pytest.approx(129.2 - 8.8), 5)
    assert b4.neg_elbo == pytest.approx(129.2) and b4.label == "β = 4, k = 16"
    # a sweep holds everything but beta: the k = 2 VAE and the one trained longer are not in it
    (sweep,) = generate_kl.beta_sweeps(points)
    assert [p.model_id for p in sweep] == ["b025", "b1", "b4"]
    said = generate_kl.rate_distortion_text(points, [sweep])
    assert "raising β from 0.25 to 4 cuts the rate from 37.4 to 8.8 nats and raises the " \
           "distortion from 85.3 to 120.4 nats per image" in said
    assert "the lowest −ELBO, 115.1, is at β = 1" in said
    assert "At β = 4 (k = 16), 5 of 16 units have collapsed to the prior" in said
    assert "**posterior collapse**" in said
    assert "At β = 4 (k = 16), 4 of 16 units" in said                  # the longer one too
    quiet = generate_kl.rate_distortion_text(points[1:3], [])
    assert "No stored VAE has a collapsed unit" in quiet


def test_the_plane_figure_joins_each_sweep_in_beta_order():
    points = generate_kl.vae_points(ZOO_LIKE)
    sweeps = generate_kl.beta_sweeps(points)
    fig = vae_rate_distortion_figure(points, sweeps, floor=46.2, chosen="b4")
    line, rest, ring = fig.data
    assert line.name == "β sweep at k = 16" and "lines" in line.mode
    assert list(line.x) == [37.4, 22.9, 8.8]
    assert list(line.y) == pytest.approx([122.7 - 37.4, 115.1 - 22.9, 129.2 - 8.8])
    assert "β = 4, k = 16 · 5 collapsed" in line.text
    assert rest.name == "other VAEs" and list(rest.customdata) == ["k2", "long"]
    assert ring.name == "the VAE chosen above" and list(ring.x) == [8.8]
    assert fig.layout.shapes[0].y0 == 46.2
    assert fig.layout.xaxis.title.text == "rate: KL (nats)"
    assert "nats per image" in fig.layout.yaxis.title.text and fig.layout.title.text
    summary = generate_kl.plane_summary(points, sweeps)
    assert summary.startswith("5 VAEs on the rate") and "**" not in summary
    assert "β = 0.25, k = 16: rate 37.4 nats, distortion 85.3" in summary


def test_the_zoo_beta_sweep_is_offered_as_the_zoo_trains_it(digits):
    specs = generate_kl.zoo_beta_specs(digits)
    assert [dict(s.hparams)["beta"] for s in specs] == [0.25, 1.0, 4.0]
    assert {s.latent_dim for s in specs} == {16} and {s.variant for s in specs} == {"vae"}
    zoos = {s.key for s in zoo.zoo_specs("digits")}
    assert {s.key for s in specs} <= zoos


# --- the page --------------------------------------------------------------------------------

def choose_vae(at, k: int, beta: float = 1.0):
    at.selectbox(key="gen-vae").set_value(next(
        m for m in ui.service().models(variant="vae")
        if m.spec.latent_dim == k and dict(m.spec.hparams).get("beta") == beta)).run()
    no_exception(at)
    return at


def chart(at, title: str) -> dict:
    found = [f for f in (figure(at, i) for i in range(len(at.get("plotly_chart"))))
             if f["layout"]["title"]["text"].startswith(title)]
    assert len(found) == 1, title
    return found[0]


def summaries(at) -> list[str]:
    return [m.value for m in at.markdown if "aedemo-sr-only" in m.value]


def alts(at) -> list[str]:
    return [i.alt for img in at.get("image") for i in img.proto.imgs]


def test_generate_page_samples_interpolates_and_breaks_down_the_loss(explore, digits):
    at = choose_vae(explore("pages/generate.py"), 4)
    captions = image_captions(at)
    assert any(c.startswith("VAE (k = 4") for c in captions)
    assert any("the very same codes" in c for c in captions)   # a dense k = 4 is stored
    assert any("the fair test" in c for c in captions)
    loss = chart(at, "The VAE's loss")
    train = [t for t in loss["data"] if t.get("meta") == "train"]
    assert [t["name"] for t in train] == ["reconstruction", "KL (stacked on top: −ELBO)",
                                          "BCE floor"]
    assert {t.get("yaxis", "y") for t in train} == {"y"}
    assert loss["layout"]["yaxis"]["title"]["text"] == "nats per image"
    x_train, _ = training_data(ui.service().models(variant="vae")[0].spec)
    assert values(train[-1]["y"])[0] == pytest.approx(bce_floor(x_train), rel=1e-6)
    kl = chart(at, "Mean KL per code unit")
    assert sum(len(values(t["y"])) for t in kl["data"]) == 4
    assert at.metric[0].value.endswith("of 4")
    table = at.dataframe[0].value
    assert len(table) == 2                                    # both stored VAEs
    vae4 = next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 4)
    row = table[table["model"] == vae4.id].iloc[0]
    assert row["−ELBO (nats)"] == round(vae4.metrics["neg_elbo"], 1)
    assert row["KL (nats)"] == round(vae4.metrics["kl"], 1)
    assert row["active units"] == vae4.metrics["active_units"]
    # the manifold's grid is credited rightly: Kingma & Welling's inverse CDF, Keras's crop
    said = texts(at, "markdown")
    assert "Kingma & Welling's (2014, figure 4)" in said
    assert "The crop to the 5%–95% quantiles" in said and "Keras VAE example" in said
    # one h1, sections as h2 and subsections as h3
    assert [t.value for t in at.title] == ["Generate"]
    assert [h.value for h in at.header][0] == "Random codes, decoded"


def test_the_fair_comparison_says_what_the_models_measure(explore, digits):
    at = choose_vae(explore("pages/generate.py"), 4)
    svc = ui.service()
    dense = svc.load_model(next(m.id for m in svc.models(variant="dense")
                                if m.spec.latent_dim == 4))
    vae = svc.load_model(next(m.id for m in svc.models(variant="vae")
                              if m.spec.latent_dim == 4))
    fit = generate.fit_code_gaussian(dense, digits.x_train)
    spread = generate.posterior_spread(vae, digits.x_train)
    said = texts(at, "markdown")
    assert generate.scale_text(4, fit, 4, spread.mean_norm) in said
    assert f"lie {fit.mean_norm:.1f} from the origin" in said
    assert generate.aggregate_text(spread) in said
    assert "a known prior" in said and f"{fit.parameters:,} numbers fitted" in said
    fair = generate.look(generate.sample_fitted(dense, fit, 48))
    assert f"from its fitted Gaussian {fair.ink:.0f}" in said
    # the temperature's words are this VAE's measures, and no promise of "safe" digits
    looks = generate.temperature_looks(vae)
    assert f"against {looks[1.0].grey:.0%})" in said and "safe" not in said
    assert "Bernoulli means" in texts(at, "caption")
    # every picture says what it is
    assert all(alts(at)) and any("Gaussian fitted to its own training codes" in a
                                 for a in alts(at))


def test_the_traversal_and_the_kl_bars_show_the_chosen_vae(explore):
    at = choose_vae(explore("pages/generate.py"), 4)
    at.number_input(key="gen-trav-digit").set_value(3).run()
    no_exception(at)
    svc = ui.service()
    entry = next(m for m in svc.models(variant="vae") if m.spec.latent_dim == 4)
    vae = svc.load_model(entry.id)
    kl = generate_kl.kl_per_dimension(vae, svc.data.x_test)
    trav = generate_kl.traversal(vae, svc.data.x_test[3], kl)
    said = texts(at, "markdown")
    assert generate_kl.traversal_text(trav) in said
    (mosaic,) = [a for a in alts(at) if a.startswith("Latent traversals")]
    assert "test digit #3" in mosaic and f"z{trav.units[0] + 1} · KL {trav.kl[0]:.2f}" in mosaic
    assert generate_kl.kl_text(kl) in " ".join(summaries(at))
    headers = [h.value for h in at.header]
    assert "What each code unit carries" in headers and "β: rate against distortion" in headers
    assert [s.value for s in at.subheader][-2:] == ["KL per unit", "Latent traversals"]


@pytest.fixture(scope="module")
def beta_store(tmp_path_factory, lesson_store):
    """The explore store and a beta = 4 VAE of the same k, training and budget as its k = 4 VAE,
    two of whose units are collapsed for certain (see ``silenced``): the beta sweep and the
    inactive units that the page must then show."""
    home = tmp_path_factory.mktemp("beta-store")
    shutil.copytree(lesson_store, home, dirs_exist_ok=True)
    spec = ModelSpec.create("vae", {"latent_dim": 4, "beta": 4.0}, dataset="digits",
                            train=TrainConfig(epochs=2))
    trained = train_spec(spec)
    model = silenced(trained.model.eval(), [0, 3])
    metrics = evaluate(model, training_data(spec)[1], seed=spec.train.seed)
    ModelStore(home).save(spec, Trained(model=model, history=trained.history, metrics=metrics,
                                        seconds=trained.seconds))
    return home


@pytest.fixture
def with_betas(page_app, beta_store, isolated_home):
    shutil.copytree(beta_store, isolated_home, dirs_exist_ok=True)
    return page_app


def test_a_beta_vae_shows_its_collapse(with_betas):
    at = with_betas("pages/generate.py")
    no_exception(at)
    # the page opens on the plain VAE, and points to the one with inactive units
    assert at.selectbox(key="gen-vae").value.spec.hparams == (("beta", 1.0), ("latent_dim", 4))
    assert "Choose the β = 4, k = 4 VAE above to see inactive units: 2 of its 4" in texts(
        at, "markdown")
    plane = chart(at, "Every stored VAE on the rate")
    (sweep,) = [t for t in plane["data"] if t["name"] == "β sweep at k = 4"]
    vaes = {dict(m.spec.hparams)["beta"]: m for m in ui.service().models(variant="vae")
            if m.spec.latent_dim == 4}
    assert values(sweep["x"]) == pytest.approx([vaes[1.0].metrics["kl"], vaes[4.0].metrics["kl"]])
    said = texts(at, "markdown")
    assert "At β = 4 (k = 4), 2 of 4 units have collapsed to the prior" in said
    assert "**posterior collapse**" not in " ".join(summaries(at))    # read aloud, no markup
    at = choose_vae(at, 4, 4.0)
    kl = chart(at, "Mean KL per code unit")
    inactive = [t for t in kl["data"] if t["name"].startswith("inactive")]
    assert len(inactive) == 1 and list(inactive[0]["x"]) == ["z1", "z4"]
    assert "2 of 4 active" in kl["layout"]["title"]["text"]
    loss = chart(at, "The VAE's loss")
    assert any(t["name"] == "minimised: reconstruction + 4 × KL" for t in loss["data"])
    said = texts(at, "markdown")
    assert "along the 2 inactive ones by 0.0000: the decoder ignores them" in said
    assert "With β = 4 training minimised reconstruction + 4 × KL" in said


def test_a_missing_beta_trains_in_one_click(explore):
    at = explore("pages/generate.py")
    wanted = {dict(s.hparams)["beta"]: s for s in generate_kl.zoo_beta_specs(ui.service().data)}
    keys = {b.key for b in at.button}
    assert {"gen-train-beta-0.25", "gen-train-beta-1", "gen-train-beta-4"} <= keys
    at.button(key="gen-train-beta-4").click().run()
    no_exception(at)
    (job,) = ui.service().jobs.jobs(active_only=True)
    assert job.spec == wanted[4.0]
    assert f"**{wanted[4.0].title}**" in [m.value for m in at.markdown]   # its job panel


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
