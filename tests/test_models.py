"""Every registered variant, tested without anyone remembering to add it here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from aedemo.data import make_series
from aedemo.models import REGISTRY, build, variant_names
from aedemo.models.base import reconstruction_loss
from aedemo.models.sparse import ATOM_L1, ATOM_LENGTH
from aedemo.models.vae import gaussian_kl


def summed_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The reference loss, from torch's own BCE on probabilities: summed per image, averaged
    over the batch."""
    return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)

VARIANTS = variant_names()


def sample_input(variant: str, digits) -> torch.Tensor:
    if REGISTRY[variant].kind == "sequence":
        return make_series(n_train=16, n_test=4, seed=1).x_train
    return digits.x_train[:16]


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_is_registered_once_under_its_name(variant):
    """The registry is the one list: each variant's class knows its name, is listed for the
    kind of data it trains on, and is built by that name."""
    cls = REGISTRY[variant]
    assert cls.name == variant and variant in variant_names(cls.kind)
    assert type(build(variant)) is cls
    assert VARIANTS.count(variant) == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_finite_terms(variant, digits):
    model = build(variant, {"latent_dim": 4})
    x = sample_input(variant, digits)
    out = model(x)
    assert model.encode(x).shape == (len(x), 4)
    recon = model.reconstruct(x)
    assert recon.shape == x.shape
    assert torch.isfinite(out.loss) and out.loss.ndim == 0
    assert "recon" in out.terms and all(torch.isfinite(v) for v in out.terms.values())
    if model.kind == "image":
        assert recon.min() >= 0 and recon.max() <= 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_parameter(variant, digits):
    model = build(variant, {"latent_dim": 4})
    model(sample_input(variant, digits)).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_loss_falls_on_a_fixed_batch(variant, digits):
    torch.manual_seed(0)
    model = build(variant, {"latent_dim": 8})
    x = sample_input(variant, digits)
    rng = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model(x, rng=rng).loss.item()
    for _ in range(100):
        loss = model(x, rng=rng).loss
        opt.zero_grad()
        loss.backward()
        if model.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), model.max_grad_norm)
        opt.step()
    assert loss.item() < 0.8 * first


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_same_initial_weights(variant):
    a, b = build(variant, seed=3), build(variant, seed=3)
    c = build(variant, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("variant", VARIANTS)
def test_hyperparameters_are_declared_with_ranges(variant):
    for f in REGISTRY[variant].Config.params():
        meta = f.metadata
        assert meta.get("help"), f"{variant}.{f.name} has no help text"
        assert meta.get("choices") or (meta["low"] is not None and meta["high"] is not None)


def test_out_of_range_and_unknown_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="latent_dim must be between 2 and 128"):
        build("vae", {"latent_dim": 1000})
    # the dense code may be wider than the image (the overcomplete lesson), not without end
    with pytest.raises(ValueError, match="latent_dim must be between 2 and 1024"):
        build("dense", {"latent_dim": 2000})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        build("dense", {"beta": 2.0})
    with pytest.raises(ValueError, match="noise_kind must be one of"):
        build("denoising", {"noise_kind": "purple"})
    with pytest.raises(ValueError, match="unknown variant"):
        build("transformer")


def test_closed_form_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(64, 8), torch.randn(64, 8)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p))


def test_vae_loss_is_the_negative_elbo_weighted_by_beta(digits):
    """Each term against torch's own: the BCE of the same draw from q(z|x) = Normal(mu, sigma)
    (torch.distributions' mean and stddev), and torch.distributions' KL to the prior."""
    x, beta = digits.x_train[:8], 3.0
    model = build("vae", {"latent_dim": 4, "beta": beta})
    out = model(x, rng=torch.Generator().manual_seed(0))
    mu, logvar = model.net.posterior(x)
    q = Normal(mu, (0.5 * logvar).exp())
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))   # the loss's draw
    z = q.mean + q.stddev * eps
    recon = summed_bce(model.net.decode_logits(z), x)
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(dim=1).mean()
    torch.testing.assert_close(out.terms["recon"], recon)
    torch.testing.assert_close(out.terms["kl"], kl)
    torch.testing.assert_close(out.loss, recon + beta * kl)


@pytest.mark.parametrize("variant", [v for v in VARIANTS
                                     if REGISTRY[v].takehome.loss is reconstruction_loss])
def test_plain_reconstruction_loss_is_torchs_bce(variant, digits):
    x = digits.x_train[:8]
    model = build(variant)
    out = model(x)
    reference = summed_bce(model.net.decode_logits(model.encode(x)), x)
    torch.testing.assert_close(out.loss, reference)
    torch.testing.assert_close(out.terms["recon"], reference)


@pytest.mark.parametrize("variant", variant_names("sequence"))
def test_sequence_loss_is_torchs_mse(variant):
    x = make_series(n_train=8, n_test=1, length=32, seed=1).x_train
    model = build(variant)
    torch.testing.assert_close(model(x).loss, F.mse_loss(model.reconstruct(x), x))


def test_vae_samples_from_the_prior():
    model = build("vae", {"latent_dim": 4})
    images = model.sample(5, rng=torch.Generator().manual_seed(0))
    again = model.sample(5, rng=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 28, 28) and torch.equal(images, again)


def test_denoising_corrupts_only_in_training(digits):
    x = digits.x_train[:8]
    model = build("denoising", {"noise_kind": "masking", "noise_level": 0.5})
    clean = summed_bce(model.net.decode_logits(model.encode(x)), x)
    model.eval()
    torch.testing.assert_close(model(x).loss, clean)
    model.train()
    assert not torch.allclose(model(x, rng=torch.Generator().manual_seed(0)).loss, clean)


def test_sparse_reports_l1_and_sparsity(digits):
    model = build("sparse", {"l1": 2.0})
    x = digits.x_train[:8]
    out = model(x)
    # the terms against torch's own norms and BCE
    code = model.encode(x)
    recon = summed_bce(model.net.decode_logits(code), x)
    l1 = torch.linalg.vector_norm(code, ord=1, dim=1).mean()
    atoms_l1 = torch.linalg.vector_norm(model.net.atoms(), ord=1)
    torch.testing.assert_close(out.terms["recon"], recon)
    torch.testing.assert_close(out.terms["l1"], l1)
    torch.testing.assert_close(out.terms["atoms"], atoms_l1)
    torch.testing.assert_close(out.loss, recon + 2.0 * l1 + ATOM_L1 * atoms_l1)
    # every atom only adds ink, and all have the same length (the L1 cannot be dodged)
    atoms = model.net.atoms()
    assert (atoms >= 0).all()
    torch.testing.assert_close(atoms.norm(dim=0), torch.full((64,), ATOM_LENGTH))
    assert 0.0 <= model.extra_metrics(digits.x_train[:8], torch.Generator())["sparsity"] <= 1.0


def test_a_dense_code_wider_than_a_hidden_layer_skips_it():
    """No layer narrower than the code squeezes the image on its way in or out: up to k = 128
    the network is 784-256-128-k as before (so stored models still load), at k = 1024 it is a
    single 784-1024 layer each way, an overcomplete code with nothing narrower in between."""
    assert [w for _, w in build("dense", {"latent_dim": 128}).architecture()] == [
        "784", "256", "128", "128", "128", "256", "784"]
    assert [w for _, w in build("dense", {"latent_dim": 200}).architecture()] == [
        "784", "256", "200", "256", "784"]
    wide = build("dense", {"latent_dim": 1024})
    assert [w for _, w in wide.architecture()] == ["784", "1024", "784"]
    x = torch.rand(3, 1, 28, 28)
    assert wide.encode(x).shape == (3, 1024) and wide.decode(wide.encode(x)).shape == x.shape
