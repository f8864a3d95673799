"""The Latent space page, run as the real script by AppTest on the explore store of tiny models: its
map, t-SNE in the background, the decoded plane and selections; and the plain autoencoder's map
beside the VAE's (k = 2), its numbers held to brute force and to the distributions they
estimate."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from aedemo import ui
from aedemo.lessons import generate, latent_space
from aedemo.lessons.latent_space import FITTED, PRIOR
from aedemo.models import build
from aedemo.store import ModelStore
from page_support import (
    figure,
    image_captions,
    no_exception,
    texts,
    traces,
    values,
)


def sr_only(at) -> list[str]:
    """The charts' summaries for screen readers, as the page wrote them."""
    return [re.sub(r"<[^>]+>", "", m.value).replace("&#x27;", "'") for m in at.markdown
            if "aedemo-sr-only" in m.value]


def alts(at) -> list[str]:
    return [i.alt for img in at.get("image") for i in img.proto.imgs]


def charts(at) -> dict[str, dict]:
    """The page's charts by title."""
    found = {}
    for i in range(len(at.get("plotly_chart"))):
        fig = figure(at, i)
        found[fig["layout"]["title"]["text"]] = fig
    return found


def entry_of(variant: str, k: int):
    return next(m for m in ui.service().models(variant=variant) if m.spec.latent_dim == k)


def test_latent_map_has_one_point_per_test_image(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="dense") if m.spec.latent_dim == 16)).run()
    no_exception(at)
    n_test = len(ui.service().data.x_test)
    fig = figure(at)
    points = traces(fig)
    assert sum(len(values(t["x"])) for t in points) == min(n_test, 1000)
    indices = sorted(i for t in points for i in values(t["customdata"]))
    assert indices == list(range(min(n_test, 1000)))
    assert "PCA view" in fig["layout"]["title"]["text"]


def test_tsne_is_computed_in_the_background(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="dense") if m.spec.latent_dim == 16)).run()
    at.radio(key="latent-method").set_value("tsne").run()
    no_exception(at)
    assert any("background" in i.value for i in at.info)      # PCA meanwhile, not a wait
    assert "PCA view" in figure(at)["layout"]["title"]["text"]
    deadline = time.time() + 60
    while "t-SNE" not in figure(at)["layout"]["title"]["text"] and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert "t-SNE view" in figure(at)["layout"]["title"]["text"]
    assert not at.info


def test_k2_map_shows_the_decoded_plane(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 2)).run()
    no_exception(at)
    assert "z1" in json.dumps(figure(at)["layout"]["xaxis"])
    assert any("learned manifold" in c for c in image_captions(at))


def test_a_selection_shows_digits_and_decodes_the_box_centre(explore):
    at = explore("pages/latent_space.py")
    entry = next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 2)
    at.selectbox(key="latent-model").set_value(entry).run()
    # what the browser sends back for a box around two points (the chart is the boundary)
    at.session_state["latent-scatter"] = {"selection": {
        "points": [{"x": 0.1, "y": 0.2, "customdata": 12}, {"x": 0.3, "y": 0.1,
                                                            "customdata": [5]}],
        "point_indices": [0, 1], "lasso": [],
        "box": [{"xref": "x", "yref": "y", "x": [-1.0, 0.5], "y": [0.0, 2.0]}]}}
    at.run()
    no_exception(at)
    assert at.subheader[0].value == "2 selected digits"     # then the pair section's
    data = ui.service().data
    assert [c for c in image_captions(at) if c.startswith("#")] == [
        f"#5: {data.classes[int(data.y_test[5])]}", f"#12: {data.classes[int(data.y_test[12])]}"]
    assert any("z = (-0.25, 1.00)" in m.value for m in at.markdown)



# --- the map: what a point is, what the chart says in words, the decoded plane ---------------

def test_a_vae_map_says_each_point_is_the_posterior_mean(explore):
    at = explore("pages/latent_space.py")
    entry = entry_of("vae", 2)
    at.selectbox(key="latent-model").set_value(entry).run()
    no_exception(at)
    fig = figure(at)
    assert "μ1" in fig["layout"]["xaxis"]["title"]["text"]
    assert "posterior means μ" in fig["layout"]["title"]["text"]
    assert all("not a sample" in t["hovertemplate"] for t in traces(fig))
    # the caption's sigma is the encoder's, over the digits on the map
    model = ui.service().load_model(entry.id)
    with torch.no_grad():
        _, logvar = model.net.posterior(ui.service().data.x_test[:1000])
    sigma = float(logvar.exp().mean().sqrt())
    assert f"σ = {sigma:.2f} from μ" in texts(at, "caption")
    assert "not a sample" in sr_only(at)[0]
    # a plain model's map says nothing of the kind
    at.selectbox(key="latent-model").set_value(entry_of("dense", 2)).run()
    assert figure(at)["layout"]["xaxis"]["title"]["text"] == "z1"
    assert "not a sample" not in texts(at, "caption")


def test_the_map_summary_names_what_the_chart_shows(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(entry_of("dense", 16)).run()
    fig = figure(at)
    # the class centres, from the chart's own points
    centres = {t["name"]: np.mean([values(t["x"]), values(t["y"])], axis=1) for t in traces(fig)}
    names = list(centres)
    far = max(((a, b) for i, a in enumerate(names) for b in names[i + 1:]),
              key=lambda ab: np.linalg.norm(centres[ab[0]] - centres[ab[1]]))
    summary = sr_only(at)[0]
    n = sum(len(values(t["x"])) for t in traces(fig))
    assert summary.startswith(fig["layout"]["title"]["text"])
    assert f"{n:,} test digits on a PCA view" in summary
    assert (f"The centres of the {far[0][6:]}s and the {far[1][6:]}s lie farthest apart"
            in summary)
    # the legend names each class
    assert names == [f"digit {d}" for d in range(10)]


def test_the_decoded_plane_credits_the_grid_and_the_crop_rightly(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(entry_of("vae", 2)).run()
    caption = next(c for c in image_captions(at) if "learned manifold" in c)
    assert "inverse CDF, as in Kingma & Welling's figure 4" in caption
    assert "crop" in caption and "Keras VAE example" in caption
    assert "quantiles 5% to 95%, as in Kingma" not in caption
    assert any(a.startswith("15 by 15 digits decoded") for a in alts(at))


# --- the plain autoencoder's map beside the VAE's: the lesson ------------------------------

@pytest.fixture(scope="module")
def planes(digits):
    """An untrained dense and VAE k = 2 (their codes are what they are; the numbers must
    follow them), on the digits."""
    dense = build("dense", {"latent_dim": 2}, seed=0).eval()
    vae = build("vae", {"latent_dim": 2}, seed=0).eval()
    return (dense, latent_space.code_plane(dense, digits, 300, 500, 6),
            vae, latent_space.code_plane(vae, digits, 300, 500, 6))


def test_the_code_planes_numbers_against_brute_force(planes, digits):
    dense, plane, _, _ = planes
    codes = latent_space.encode(dense, digits.x_test[:300]).astype(np.float64)
    assert np.array_equal(plane.map.codes, codes.astype(np.float32))
    norms = np.linalg.norm(codes, axis=1)
    assert plane.mean_norm == pytest.approx(norms.mean())
    assert plane.in_disc == pytest.approx(np.mean(norms <= 2.0))
    pairwise = np.linalg.norm(codes[:, None] - codes[None], axis=-1)       # (300, 300)
    np.fill_diagonal(pairwise, np.inf)
    assert plane.gap == pytest.approx(np.percentile(pairwise.min(axis=1), 95))
    for draws in plane.draws:
        to_codes = np.linalg.norm(draws.codes[:, None].astype(np.float64) - codes[None], axis=-1)
        assert draws.holes == pytest.approx(np.mean(to_codes.min(axis=1) > plane.gap))
        near = plane.map.labels[to_codes.argmin(axis=1)]
        assert np.array_equal(draws.near_class, near)
        share = np.bincount(near, minlength=10) / len(near)
        assert np.allclose(draws.share, share)
        usual = np.bincount(plane.map.labels, minlength=10) / len(plane.map.labels)
        assert draws.rare == tuple(np.flatnonzero(share < usual / 2))
        # the shown digits are the first draws, decoded
        assert torch.allclose(draws.images, generate.decode(dense, draws.codes[:6]), atol=1e-6)


def test_the_fitted_gaussian_is_the_training_codes(planes, digits):
    dense, plane, _, _ = planes
    train = latent_space.encode(dense, digits.x_train).astype(np.float64)
    assert plane.train_count == len(digits.x_train)
    assert np.allclose(plane.mean, train.mean(axis=0))
    assert np.allclose(plane.cov, np.cov(train.T))
    # the fitted draws are the prior's draws, stretched: fitted - mean = prior A^T for one
    # matrix A, a square root of the covariance (A A^T = cov), whichever root it is
    fitted, prior = plane.draws_from(FITTED).codes, plane.draws_from(PRIOR).codes
    root_t, *_ = np.linalg.lstsq(prior.astype(np.float64), fitted - plane.mean, rcond=None)
    assert np.allclose(prior @ root_t, fitted - plane.mean, atol=1e-3)
    assert np.allclose(root_t.T @ root_t, plane.cov, rtol=1e-3, atol=1e-3)
    # and they follow the fitted Gaussian (500 draws: within a few standard errors)
    assert np.allclose(fitted.mean(axis=0), plane.mean, atol=4 * np.sqrt(plane.cov.diagonal()
                                                                          / len(fitted)))


def test_a_vae_draws_from_its_prior_the_same_codes_as_the_plain_model(planes, digits):
    _, plane, vae, vae_plane = planes
    assert [d.source for d in plane.draws] == [FITTED, PRIOR]
    assert [d.source for d in vae_plane.draws] == [PRIOR]
    assert np.array_equal(vae_plane.draws_from(PRIOR).codes, plane.draws_from(PRIOR).codes)
    assert np.allclose(plane.draws_from(PRIOR).codes,
                       generate.prior_codes(500, 2, seed=0).numpy(), atol=1e-6)
    assert plane.sigma is None and vae_plane.is_vae and not plane.is_vae
    with torch.no_grad():
        _, logvar = vae.net.posterior(digits.x_test[:300])
    assert vae_plane.sigma == pytest.approx(float(logvar.exp().mean().sqrt()), rel=1e-5)
    with pytest.raises(ValueError):
        latent_space.code_plane(build("dense", {"latent_dim": 3}).eval(), digits)


def test_the_prior_disc_mass_is_the_chi_square_one():
    # |z|^2 of z ~ N(0, I_2) is chi-square with 2 degrees of freedom
    assert latent_space.PRIOR_DISC_MASS == pytest.approx(chi2.cdf(4.0, df=2))


def test_the_words_follow_the_draws(planes):
    _, plane, _, _ = planes
    share = np.full(10, 0.1)
    share[[1, 7]] = [0.0, 0.02]
    rare = latent_space.Draws(PRIOR, np.zeros((200, 2), np.float32), torch.zeros(1, 1, 28, 28),
                              np.zeros(200, int), 0.25, share, (1, 7))
    text = latent_space.describe_draws(rare, plane, [str(d) for d in range(10)])
    assert text.startswith("25% of 200 such draws land in a hole")
    usual = (plane.class_share[1] + plane.class_share[7]) / 2       # on the map, not 10%
    assert (f"rarely a 1 or 7 (0% and 2% of the draws), against about {usual:.0%} of the test "
            f"codes each") in text
    every = latent_space.Draws(PRIOR, rare.codes, rare.images, rare.near_class, 0.0,
                               np.array([0.05] + [0.95 / 9] * 9), ())
    assert "reach every class, the least often a 0 (5% of the draws)" in \
        latent_space.describe_draws(every, plane, [str(d) for d in range(10)])


# --- the plain autoencoder's map beside the VAE's: the page --------------------------------

def test_the_two_maps_side_by_side_on_one_scale(explore):
    at = explore("pages/latent_space.py")
    no_exception(at)
    assert [h.value for h in at.header][-1] == "A plain autoencoder's map beside a VAE's, k = 2"
    assert [h.value for h in at.subheader][-2:] == ["Plain autoencoder (dense, k = 2)",
                                                   "VAE (k = 2)"]
    svc, data = ui.service(), ui.service().data
    found = charts(at)
    plain_fig = next(f for t, f in found.items() if t.startswith("dense, k = 2"))
    vae_fig = next(f for t, f in found.items() if t.startswith("VAE, k = 2"))
    # one scale for both, wide enough for every code of either
    codes = {v: latent_space.encode(svc.load_model(entry_of(v, 2).id), data.x_test[:1000])
             for v in ("dense", "vae")}
    reach = max(np.abs(c).max() for c in codes.values())
    for fig in (plain_fig, vae_fig):
        assert fig["layout"]["xaxis"]["range"] == fig["layout"]["yaxis"]["range"] \
            == plain_fig["layout"]["xaxis"]["range"]
        assert fig["layout"]["xaxis"]["range"][1] >= reach
        # the prior's circles, at radius 1 and 2
        for r in (1, 2):
            (circle,) = traces(fig, f"N(0, I): {r}σ circle")
            radius = np.hypot(values(circle["x"]), values(circle["y"]))
            assert np.allclose(radius, r, atol=1e-6)
    assert traces(plain_fig, "fitted Gaussian: 2σ ellipse")
    assert not traces(vae_fig, "fitted Gaussian: 2σ ellipse")
    assert "μ1" in vae_fig["layout"]["xaxis"]["title"]["text"]
    # the words: each map's spread, computed from the models' codes
    captions = texts(at, "caption")
    for v in ("dense", "vae"):
        norms = np.linalg.norm(codes[v], axis=1)
        assert f"from the origin {norms.mean():.2f}; {np.mean(norms <= 2):.0%} of them" in captions
    assert "N(0, I) itself puts 86% of its draws there" in captions
    ratio = np.linalg.norm(codes["dense"], axis=1).mean() / np.linalg.norm(
        codes["vae"], axis=1).mean()
    said = texts(at, "markdown")
    assert (f"{ratio:.1f} times as far" in said if ratio >= 1.1 else
            "about as far" in said if ratio > 1 / 1.1 else f"{1 / ratio:.1f} times closer" in said)
    # generated digits under each map: the fair and unfair tests, and the VAE's own prior
    pictures = alts(at)
    assert sum("by the plain autoencoder" in a and "drawn from fitted Gaussian" in a
               for a in pictures) == latent_space.SHOWN
    assert sum("by the plain autoencoder" in a and "drawn from N(0, I)" in a
               for a in pictures) == latent_space.SHOWN
    assert sum("by the VAE" in a and "drawn from N(0, I)" in a
               for a in pictures) == latent_space.SHOWN
    # every holes figure shown is the lesson's, for the models on screen
    for v, source in (("dense", FITTED), ("dense", PRIOR), ("vae", PRIOR)):
        plane = latent_space.code_plane(svc.load_model(entry_of(v, 2).id), data, 1000)
        draws = plane.draws_from(source)
        assert f"{draws.holes:.0%} of 2,000 such draws land in a hole" in captions
        assert f"{plane.gap:.2f} here" in captions
    assert any("What the KL term buys" in m.value for m in at.markdown)
    # and each chart has its words for a screen reader
    summaries, n = sr_only(at), min(len(data.x_test), 1000)
    assert any(s.startswith(f"The plain autoencoder's {n:,} test codes") for s in summaries)
    assert any(s.startswith(f"The VAE's {n:,} test digits, each at its posterior mean μ")
               for s in summaries)


def test_each_map_on_its_own_scale_when_asked(explore):
    at = explore("pages/latent_space.py")
    at.toggle(key="pair-same-scale").set_value(False).run()
    no_exception(at)
    for title, fig in charts(at).items():
        if title.startswith(("dense, k = 2", "VAE, k = 2")):
            assert "range" not in fig["layout"]["xaxis"]
            assert fig["layout"]["yaxis"]["scaleanchor"] == "x"      # circles stay round


def test_without_a_2d_vae_the_section_says_what_it_needs(explore, isolated_home):
    store = ModelStore(isolated_home)
    for m in store.list():
        if m.spec.variant == "vae" and m.spec.latent_dim == 2:
            store.delete(m.id)
    at = explore("pages/latent_space.py")
    no_exception(at)
    assert any("needs a VAE model with k = 2" in i.value for i in at.info)
    assert not any(t.startswith("VAE, k = 2") for t in charts(at))
