"""aedemo.lessons.reconstructions and its figure against trusted references: scikit-learn's PCA
and its explained variance, the metrics module."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from aedemo import ui
from aedemo.lessons import reconstructions
from aedemo.metrics import reconstruction_errors
from aedemo.models import build
from aedemo.projection import fit_pca, pca_reconstruct
from aedemo.spec import ModelSpec
from aedemo.viz.reconstructions import PCA_NAME, rate_distortion_figure
from page_support import (
    figure,
    first_row,
    no_exception,
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


# --- the page --------------------------------------------------------------------------------

def test_rate_distortion_has_a_point_per_stored_k_and_a_pca_curve(explore):
    at = explore("pages/reconstructions.py")
    fig = figure(at)
    dense, = traces(fig, "dense")
    assert values(dense["x"]) == DENSE_KS and all(y > 0 for y in values(dense["y"]))
    stored = {m.spec.latent_dim: m.metrics["mse"] for m in ui.service().models(variant="dense")}
    assert values(dense["y"]) == pytest.approx([stored[k] for k in DENSE_KS])
    pca, = traces(fig, "PCA (linear)")
    assert set(DENSE_KS) <= set(values(pca["x"]))
    # more components never cost more error
    pca_mse = values(pca["y"])
    assert all(a >= b - 1e-9 for a, b in zip(pca_mse, pca_mse[1:]))
    assert {t["name"] for t in fig["data"]} >= {"vae", "denoising", "sparse", "conv"}
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_bottleneck_slider_updates_the_images(explore):
    # how fast it answers is bench/classroom.py's to measure: timings are no test's business
    at = explore("pages/reconstructions.py")
    at.select_slider(key="rec-k").set_value(4).run()
    no_exception(at)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Dense autoencoder, k = 4") for c in captions)
    assert any(c.startswith("PCA, k = 4") for c in captions)
    assert figure(at)["layout"]["shapes"][0]["x0"] == 4          # the marker follows


def test_picking_digits_and_reshuffling(explore):
    at = explore("pages/reconstructions.py")
    at.multiselect(key="rec-classes").set_value([3]).run()
    no_exception(at)
    labels, before = first_row(at)
    assert labels == ["3"] * 10
    at.button(key="rec-shuffle").click().run()
    assert at.number_input(key="rec-seed").value == 1
    labels, after = first_row(at)
    assert labels == ["3"] * 10 and after != before


def test_reshuffling_sets_the_seed_without_a_warning_in_the_log(explore, monkeypatch):
    """Streamlit warns (once per process, with a stack) when a widget has a default value and
    session state sets it too: it filled the server's log at every Reshuffle."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    warned = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())
    policies._LOGGER.addHandler(handler)
    try:
        at = explore("pages/reconstructions.py")
        at.button(key="rec-shuffle").click().run()
        at.button(key="rec-shuffle").click().run()
    finally:
        policies._LOGGER.removeHandler(handler)
    no_exception(at)
    assert at.number_input(key="rec-seed").value == 2
    assert not [m for m in warned if "default value" in m], warned

