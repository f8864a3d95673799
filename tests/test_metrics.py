from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aedemo.metrics import evaluate, psnr, reconstruction_errors, roc, ssim
from aedemo.models import build
from aedemo.noise import corrupt


def test_psnr_matches_its_definition():
    a = torch.full((2, 1, 4, 4), 0.5)
    b = a.clone()
    b[0] += 0.1
    b[1] += 0.2
    expected = [10 * math.log10(1 / 0.01), 10 * math.log10(1 / 0.04)]
    assert np.allclose(psnr(b, a).numpy(), expected, atol=1e-4)
    assert psnr(a, a)[0] == 100.0


def test_psnr_matches_scikit_image(digits):
    """The trusted reference: scikit-image's peak_signal_noise_ratio, image by image."""
    from skimage.metrics import peak_signal_noise_ratio

    x = digits.x_test[:20]
    noisy = corrupt(x, "gaussian", 0.2, torch.Generator().manual_seed(0))
    expected = [peak_signal_noise_ratio(r.squeeze(0).double().numpy(),
                                        i.squeeze(0).double().numpy(), data_range=1.0)
                for i, r in zip(noisy, x)]
    got = psnr(noisy, x)
    assert got.shape == (20,) and got.dtype == torch.float32
    assert np.allclose(got.numpy(), expected, rtol=1e-6)


def test_ssim_is_one_for_identical_images_and_lower_for_noise(digits):
    x = digits.x_test[:4]
    noisy = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(4).double())
    assert (ssim(noisy, x) < 0.9).all()


def test_roc_auc_on_a_known_ranking():
    auc, fpr, tpr, _ = roc([0.1, 0.2, 0.3, 0.9], [0, 0, 1, 1])
    assert auc == 1.0 and fpr[0] == 0 and tpr[-1] == 1
    assert roc([0.1, 0.9, 0.3, 0.2], [0, 0, 1, 1])[0] == 0.5


def test_evaluate_reports_each_variants_extras(digits):
    x = digits.x_test[:64]
    expected = {"dense": set(), "vae": {"kl", "neg_elbo", "active_units"}, "sparse": {"sparsity"},
                "denoising": {"psnr_noisy", "psnr_denoised"}}
    for variant, extras in expected.items():
        metrics = evaluate(build(variant), x)
        assert set(metrics) == {"mse", "bce", "psnr", "ssim"} | extras
        assert all(math.isfinite(v) for v in metrics.values())


def test_reconstruction_errors_are_per_item_mse(digits):
    model = build("dense")
    x = digits.x_test[:10]
    errors = reconstruction_errors(model, x, batch_size=3)
    expected = (model.reconstruct(x) - x).pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(errors, expected)


def test_noise_kinds_stay_in_range_and_hit_the_asked_fraction(digits):
    x = digits.x_test[:200]
    rng = torch.Generator().manual_seed(0)
    for kind in ("gaussian", "salt-pepper", "masking"):
        y = corrupt(x, kind, 0.3, rng)
        assert y.min() >= 0 and y.max() <= 1 and not torch.equal(x, y)
    masked = corrupt(torch.ones(1, 1, 100, 100), "masking", 0.3, rng)
    assert abs((masked == 0).float().mean().item() - 0.3) < 0.02


def test_the_bce_floor_is_the_loss_of_a_perfect_copy_and_nothing_beats_it(digits):
    """No output scores a lower BCE than the target itself (torch's own BCE as the reference),
    and on grey-level digits that least BCE is well above zero."""
    import torch.nn.functional as F

    from aedemo.metrics import bce_floor

    x = digits.x_test[:64]
    perfect = F.binary_cross_entropy(x, x, reduction="sum").item() / len(x)
    assert bce_floor(x) == pytest.approx(perfect, rel=1e-5) and bce_floor(x) > 10
    blurred = (x * 0.9 + 0.05)
    assert F.binary_cross_entropy(blurred, x, reduction="sum").item() / len(x) > bce_floor(x)
