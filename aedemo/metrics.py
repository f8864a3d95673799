"""Quality measures, each from a maintained implementation where one exists:
scikit-image for SSIM, scikit-learn for ROC AUC, torch for MSE, BCE and PSNR (a one-line
definition, checked against scikit-image's in the tests).

scikit-image and scikit-learn (with SciPy) are imported where they are used: they cost a
training worker, which needs neither for most models, 0.8 s and about 150 MB at start. PSNR is
computed here rather than by scikit-image because importing its PSNR loads scipy.stats: 0.35 s of
every training run's final metrics, for a formula that is one line."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# How a table shows each test metric: what it is and its unit. recon + KL is the *negative*
# ELBO, a positive number of nats (the ELBO itself, a log-likelihood bound, is below zero).
METRIC_LABELS = {"mse": "MSE per pixel", "bce": "BCE (nats per image)", "kl": "KL (nats)",
                 "neg_elbo": "−ELBO (nats)", "psnr": "PSNR (dB)", "ssim": "SSIM",
                 "psnr_noisy": "PSNR noisy (dB)", "psnr_denoised": "PSNR denoised (dB)",
                 "active_units": "active units", "sparsity": "share near zero"}


def mse_per_item(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per item (per pixel or per time step), shape (B,)."""
    return (recon - target).pow(2).flatten(1).mean(dim=1)


def bce_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over each image's pixels, shape (B,)."""
    return F.binary_cross_entropy(recon.clamp(1e-7, 1 - 1e-7), target,
                                  reduction="none").flatten(1).sum(dim=1)


def ink(x: torch.Tensor) -> np.ndarray:
    """The amount of ink in each image, (N,): its mean grey level (0 blank, 1 all white). An
    error summed or averaged over pixels grows with it, which is why the pages say so."""
    return x.flatten(1).double().mean(dim=1).numpy()


def bce_floor(x: torch.Tensor) -> float:
    """The least binary cross-entropy any model can reach on the images x, in nats per image:
    BCE against a grey-level target t is smallest when the output is t itself, and there it is
    the binary entropy -t ln t - (1 - t) ln(1 - t), above zero for every pixel that is neither
    black nor white. So a loss curve of BCE per image levels off above this floor, not at 0."""
    t = x.detach().cpu().double().flatten(1).clamp(0, 1)
    entropy = -(torch.special.xlogy(t, t) + torch.special.xlogy(1 - t, 1 - t))
    return float(entropy.sum(dim=1).mean())


def psnr(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, data range 1: 10 log10(1 / MSE), the MSE in
    float64 as scikit-image's ``peak_signal_noise_ratio`` takes it. A perfect copy is capped at
    100 dB rather than infinity so averages stay finite. Shape (B,), float32."""
    a = images.detach().cpu().double().flatten(1)          # (B, H * W)
    b = reference.detach().cpu().double().flatten(1)
    mse = (a - b).pow(2).mean(dim=1)
    return (10 * torch.log10(1.0 / mse)).clamp(max=100.0).float()   # 1 / 0 is inf: 100 dB


def ssim(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), data range 1, 7x7 window."""
    from skimage.metrics import structural_similarity

    a, b = _numpy_images(images), _numpy_images(reference)
    return torch.tensor([structural_similarity(r, i, data_range=1.0) for i, r in zip(a, b)])


def roc(scores, is_anomaly) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """ROC AUC and the curve (fpr, tpr, thresholds) when higher scores mean "anomalous"."""
    from sklearn.metrics import roc_auc_score, roc_curve

    scores, labels = np.asarray(scores), np.asarray(is_anomaly).astype(int)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    return float(roc_auc_score(labels, scores)), fpr, tpr, thresholds


def _numpy_images(x: torch.Tensor) -> np.ndarray:
    """(B, 1, H, W) or (B, H, W) tensor -> (B, H, W) float64 array."""
    arr = x.detach().cpu().double().numpy()
    return arr.reshape(arr.shape[0], arr.shape[-2], arr.shape[-1])


@torch.no_grad()
def evaluate(model, x: torch.Tensor, *, batch_size: int = 1000, seed: int = 0,
             ssim_items: int = 500) -> dict[str, float]:
    """Test metrics of a trained model on x: MSE and BCE for every image model (MSE only for
    sequences), PSNR and SSIM on the first ``ssim_items`` images, and the variant's own extras
    (KL and negative ELBO for the VAE, sparsity, PSNR before and after denoising)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rng = torch.Generator(device=device).manual_seed(seed)
    mse, bce, recons = [], [], []
    extras: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        rb = model.reconstruct(xb)
        mse.append(mse_per_item(rb, xb).cpu())
        if model.kind == "image":
            bce.append(bce_per_image(rb, xb).cpu())
            if sum(len(r) for r in recons) < ssim_items:
                recons.append(rb.cpu())
        # the extras are batch means: weight each by its share of x
        for name, value in model.extra_metrics(xb, rng).items():
            extras[name] = extras.get(name, 0.0) + value * len(xb) / len(x)
    result = {"mse": torch.cat(mse).mean().item()}
    if model.kind == "image":
        result["bce"] = torch.cat(bce).mean().item()
        shown = torch.cat(recons)[:ssim_items]
        result["psnr"] = psnr(shown, x[:len(shown)]).mean().item()
        result["ssim"] = ssim(shown, x[:len(shown)]).mean().item()
    result.update(extras)
    model.train(was_training)
    return result


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The model's deterministic reconstruction of x, batch by batch on its device, returned on
    the CPU; the model's train/eval mode is left as it was."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = [model.reconstruct(x[i:i + batch_size].to(device)).cpu()
             for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(parts) if parts else torch.empty_like(x)


def reconstruction_errors(model, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Per-item MSE between x and the model's deterministic reconstruction, shape (N,), on the
    CPU: the anomaly score of the one-class protocol."""
    return mse_per_item(reconstruct(model, x, batch_size=batch_size), x)


# --- derived results, named for Service.derived ------------------------------------------------

def training_set_bce_floor(data) -> float:
    """bce_floor of a dataset's training images: the Train page's loss chart's floor."""
    return bce_floor(data.x_train)


def spec_bce_floor(spec, _key: str) -> float:
    """bce_floor of the images ``spec`` trains on (its own: a one-class or subset model's are
    not the whole set's); ``_key``, the spec's key, names them in Service.derived's key.
    Raises DataError when they cannot be had."""
    from aedemo.spec import training_data  # spec imports this module

    return bce_floor(training_data(spec)[0])
