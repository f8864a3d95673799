"""aedemo.lessons.denoising and its figure against trusted references: scikit-image's PSNR and
median filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.filters import median as skimage_median
from skimage.metrics import peak_signal_noise_ratio

from aedemo.lessons import denoising
from aedemo.noise import corrupt
from aedemo.viz.denoising import psnr_by_level_figure
from page_support import (
    figure,
    no_exception,
    texts,
    values,
)


class Identity(torch.nn.Module):
    """A "model" that gives its input back: a denoiser that does nothing."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return x.clone()


def test_median_filter_and_its_psnr_match_scikit_image(digits):
    clean = digits.x_test[:8]
    result = denoising.compare_denoisers({}, clean, "salt-pepper", 0.1, seed=3)
    noisy = result.outputs[denoising.NOISY]
    for i in range(len(clean)):
        img = noisy[i, 0].numpy()
        reference = skimage_median(img, footprint=np.ones((3, 3)), mode="reflect")
        assert np.allclose(result.outputs[denoising.MEDIAN][i, 0].numpy(), reference)
        assert result.psnr[denoising.MEDIAN][i] == pytest.approx(peak_signal_noise_ratio(
            clean[i, 0].double().numpy(), reference.astype(np.float64), data_range=1.0))
    # the median filter's home ground: isolated salt-and-pepper pixels
    assert result.psnr[denoising.MEDIAN].mean() > result.psnr[denoising.NOISY].mean() + 3


def test_compare_denoisers_scores_every_method(digits):
    clean = digits.x_test[:6]
    result = denoising.compare_denoisers({"copy": Identity()}, clean, "gaussian", 0.3, seed=0)
    assert list(result.outputs) == [denoising.NOISY, "copy", denoising.MEDIAN]
    # a denoiser that changes nothing scores exactly what the noisy input does
    assert np.allclose(result.psnr["copy"], result.psnr[denoising.NOISY])
    assert np.allclose(result.ssim["copy"], result.ssim[denoising.NOISY])
    assert all(np.isfinite(v).all() for v in result.psnr.values())


def test_score_levels_worsen_with_noise_and_make_the_table(digits):
    clean = digits.x_test[:30]
    scores = denoising.score_levels({"copy": Identity()}, clean, "gaussian")
    assert scores.levels == list(denoising.NOISE_LEVELS["gaussian"])
    noisy = scores.psnr[denoising.NOISY]
    assert all(a > b for a, b in zip(noisy, noisy[1:]))
    table = scores.table(0.5)
    assert [row["method"] for row in table] == [denoising.NOISY, "copy", denoising.MEDIAN]
    i = scores.levels.index(0.5)
    assert table[0]["PSNR (dB)"] == pytest.approx(noisy[i], abs=0.01)
    assert table[0]["SSIM"] == pytest.approx(scores.ssim[denoising.NOISY][i], abs=0.001)


@pytest.mark.parametrize("sigma", [0.1, 0.4, 0.7, 1.0])
def test_clipped_gaussian_noise_brightens_black_by_the_rectified_mean(sigma):
    # the noise the models train on, on a black page: clipped, it does not average out
    black = torch.zeros(200_000)
    noisy = corrupt(black, "gaussian", sigma, torch.Generator().manual_seed(0))
    assert noisy.min() == 0 and noisy.max() <= 1
    assert denoising.rectified_mean(sigma) == pytest.approx(noisy.mean().item(), abs=2e-3)
    assert denoising.rectified_mean(sigma) > 0.3 * sigma


def test_the_level_scores_in_words(digits):
    scores = denoising.score_levels({"copy": Identity()}, digits.x_test[:20], "salt-pepper")
    said = scores.summary(trained_level=0.2)
    noisy = scores.psnr[denoising.NOISY]
    assert f"noisy input from {noisy[0]:.1f} to {noisy[-1]:.1f} dB" in said
    # a denoiser that does nothing is never above the input: the words follow the numbers
    assert "copy at no level" in said and "median filter at" in said
    assert "trained at level 0.2, marked" in said
    gains = scores.gains(0.3)
    assert gains.startswith(f"At level 0.3 the noisy input scores {noisy[3]:.1f} dB")
    assert "copy +0.0 dB" in gains


def test_psnr_by_level_figure():
    fig = psnr_by_level_figure([0.1, 0.5], {"noisy input": [20, 9], "median filter": [22, 15]},
                               kind="gaussian", marked_level=0.5)
    assert [t.name for t in fig.data] == ["noisy input", "median filter"]
    assert fig.data[0].line.dash == "dash" and fig.data[1].line.dash == "solid"
    assert fig.layout.xaxis.title.text == "noise sigma"
    assert [a.text for a in fig.layout.annotations] == ["shown: 0.5"]


def test_the_training_noise_level_is_marked_and_labelled():
    fig = psnr_by_level_figure([0.1, 0.5], {"noisy input": [20, 9]}, kind="gaussian",
                               marked_level=0.1, trained_level=0.4)
    assert 0.4 in [shape.x0 for shape in fig.layout.shapes]
    assert "trained at 0.4" in [a.text for a in fig.layout.annotations]


# --- the page --------------------------------------------------------------------------------

def test_denoising_table_ranks_the_methods(explore):
    at = explore("pages/denoising.py")
    at.select_slider(key="den-level-gaussian").set_value(0.5).run()
    no_exception(at)
    table = at.dataframe[0].value.set_index("method")
    assert list(table.index) == ["noisy input", "denoising AE", "plain AE", "median filter"]
    assert all(math.isfinite(v) for v in table["PSNR (dB)"])
    noisy = table.loc["noisy input", "PSNR (dB)"]
    # at sigma 0.5 the noisy input is far from clean: both denoisers do better
    assert table.loc["denoising AE", "PSNR (dB)"] > noisy + 2
    assert table.loc["median filter", "PSNR (dB)"] > noisy + 2
    chart = figure(at)
    assert {t["name"] for t in chart["data"]} == set(table.index)
    assert all(len(values(t["y"])) == 6 for t in chart["data"])
    # the level the denoising AE trained on is marked, and the chart is said in words
    trained = 0.4
    assert trained in [s["x0"] for s in chart["layout"]["shapes"]]
    assert f"trained at {trained:g}" in [a["text"] for a in chart["layout"]["annotations"]]
    said = texts(at, "markdown")
    assert f"noisy input from {values(chart['data'][0]['y'])[0]:.1f}" in said
    # the clipping is said, with its mean on black at the level shown
    assert f"brightens a black pixel by {denoising.rectified_mean(0.5):.2f}" in said
    # every digit has its alternative text: what it is, its noise, what cleaned it, its score
    alts = [i.alt for img in at.get("image") for i in img.proto.imgs]
    assert len(alts) == 5 * 5
    assert sum(a.endswith(", clean") for a in alts) == 5
    cleaned = [a for a in alts if "cleaned by the denoising AE k = 16" in a]
    assert len(cleaned) == 5
    assert all("with Gaussian noise of sigma 0.5" in a and "PSNR" in a for a in cleaned)
    # another kind of noise: no training level to mark, and no clipping to explain
    at.selectbox(key="den-kind").set_value("masking").run()
    no_exception(at)
    assert "annotations" not in figure(at)["layout"] or all(
        not a["text"].startswith("trained") for a in figure(at)["layout"]["annotations"])
    assert "clipped to [0, 1]" not in texts(at, "markdown")

