"""aedemo.compare and its figures against trusted references: scikit-learn's PCA and its
explained variance, scikit-image's PSNR and median filter, the metrics module."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage.filters import median as skimage_median
from skimage.metrics import peak_signal_noise_ratio
from sklearn.decomposition import PCA

from aedemo import compare
from aedemo.metrics import reconstruction_errors
from aedemo.models import build
from aedemo.projection import fit_pca, pca_reconstruct
from aedemo.spec import ModelSpec
from aedemo.viz.denoising import psnr_by_level_figure
from aedemo.viz.reconstruction import PCA_NAME, rate_distortion_figure


@pytest.fixture(scope="module")
def small(digits) -> torch.Tensor:
    return digits.x_train[:300]


@pytest.fixture(scope="module")
def baseline(small) -> compare.PCABaseline:
    return compare.fit_pca_baseline(small, max_k=32)


class Identity(torch.nn.Module):
    """A "model" that gives its input back: a denoiser that does nothing."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return x.clone()


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
    curve = compare.pca_curve(baseline, digits.x_test, [1, 2, 4, 8, 16, 32, 64])
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
    sweep = compare.model_sweep(newest_first)
    assert sweep == {"dense": [(2, 0.06, "d2"), (16, 0.02, "new16")],
                     "vae": [(2, 0.05, "v2")]}


def test_hardest_are_the_largest_reconstruction_errors(digits):
    model = build("dense", {"latent_dim": 4}, seed=0).eval()
    x = digits.x_test[:40].clone()
    x[17] = 1.0                                     # a white square: nothing like a digit
    idx, err = compare.hardest(model, x, 5)
    reference = reconstruction_errors(model, x).numpy()
    assert idx[0] == 17
    assert list(idx) == list(np.argsort(-reference)[:5])
    assert np.allclose(err, reference[idx])


def test_pick_examples_draws_from_the_chosen_classes(digits):
    picked = compare.pick_examples(digits.y_test, [3, 7], 10, seed=1)
    assert len(picked) == 10 and len(set(picked)) == 10
    assert set(digits.y_test[picked].tolist()) <= {3, 7}
    assert list(picked) == list(compare.pick_examples(digits.y_test, [7, 3], 10, seed=1))
    assert list(picked) != list(compare.pick_examples(digits.y_test, [3, 7], 10, seed=2))


def test_median_filter_and_its_psnr_match_scikit_image(digits):
    clean = digits.x_test[:8]
    result = compare.compare_denoisers({}, clean, "salt-pepper", 0.1, seed=3)
    noisy = result.outputs[compare.NOISY]
    for i in range(len(clean)):
        img = noisy[i, 0].numpy()
        reference = skimage_median(img, footprint=np.ones((3, 3)), mode="reflect")
        assert np.allclose(result.outputs[compare.MEDIAN][i, 0].numpy(), reference)
        assert result.psnr[compare.MEDIAN][i] == pytest.approx(peak_signal_noise_ratio(
            clean[i, 0].double().numpy(), reference.astype(np.float64), data_range=1.0))
    # the median filter's home ground: isolated salt-and-pepper pixels
    assert result.psnr[compare.MEDIAN].mean() > result.psnr[compare.NOISY].mean() + 3


def test_compare_denoisers_scores_every_method(digits):
    clean = digits.x_test[:6]
    result = compare.compare_denoisers({"copy": Identity()}, clean, "gaussian", 0.3, seed=0)
    assert list(result.outputs) == [compare.NOISY, "copy", compare.MEDIAN]
    # a denoiser that changes nothing scores exactly what the noisy input does
    assert np.allclose(result.psnr["copy"], result.psnr[compare.NOISY])
    assert np.allclose(result.ssim["copy"], result.ssim[compare.NOISY])
    assert all(np.isfinite(v).all() for v in result.psnr.values())


def test_score_levels_worsen_with_noise_and_make_the_table(digits):
    clean = digits.x_test[:30]
    scores = compare.score_levels({"copy": Identity()}, clean, "gaussian")
    assert scores.levels == list(compare.NOISE_LEVELS["gaussian"])
    noisy = scores.psnr[compare.NOISY]
    assert all(a > b for a, b in zip(noisy, noisy[1:]))
    table = scores.table(0.5)
    assert [row["method"] for row in table] == [compare.NOISY, "copy", compare.MEDIAN]
    i = scores.levels.index(0.5)
    assert table[0]["PSNR (dB)"] == pytest.approx(noisy[i], abs=0.01)
    assert table[0]["SSIM"] == pytest.approx(scores.ssim[compare.NOISY][i], abs=0.001)


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


def test_psnr_by_level_figure():
    fig = psnr_by_level_figure([0.1, 0.5], {"noisy input": [20, 9], "median filter": [22, 15]},
                               kind="gaussian", marked_level=0.5)
    assert [t.name for t in fig.data] == ["noisy input", "median filter"]
    assert fig.data[0].line.dash == "dash" and fig.data[1].line.dash == "solid"
    assert fig.layout.xaxis.title.text == "noise sigma"


def test_the_sweep_says_where_it_flattens_and_where_pca_wins():
    dense = [(2, 0.040, "a"), (4, 0.030, "b"), (32, 0.0143, "c"), (64, 0.0143, "d")]
    assert compare.where_the_curve_flattens(dense) == 64
    assert compare.where_the_curve_flattens(dense[:3]) is None
    pca = [(1, 0.07), (2, 0.056), (4, 0.048), (32, 0.0159), (64, 0.0082)]
    assert compare.where_pca_wins(dense, pca) == [64]
