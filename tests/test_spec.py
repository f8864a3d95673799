"""aedemo.spec: what a spec trains on. A one-class detector never trains on its held-out normal
images (its threshold is set on them) and tests its curve on normal test images only; a subset
model sees only its few images, as many times over as the whole set takes steps; and specs
that use neither keep the ids they always had."""

from __future__ import annotations

import pytest
import torch

from aedemo import data as datasets
from aedemo.spec import VALIDATION_SHARE, ModelSpec, one_class_split, training_data
from aedemo.train import TrainConfig


def test_a_spec_without_a_subset_or_holdout_writes_neither_so_its_id_is_unchanged():
    spec = ModelSpec.create("dense", {"latent_dim": 16}, dataset="digits")
    assert "subset" not in spec.to_dict() and "holdout" not in spec.to_dict()
    assert ModelSpec.from_dict(spec.to_dict()).key == spec.key


def test_a_one_class_model_holds_out_normal_images_and_never_trains_on_them(digits):
    spec = ModelSpec.create("dense", {"latent_dim": 4}, dataset="digits", normal=(3,))
    assert spec.holdout == VALIDATION_SHARE
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    trained_on, held_out = one_class_split(digits.y_train, (3,), spec.holdout)
    threes = int((digits.y_train == 3).sum())
    assert len(trained_on) + len(held_out) == threes
    assert len(held_out) == round(threes * VALIDATION_SHARE)
    assert not set(trained_on.tolist()) & set(held_out.tolist())
    assert (digits.y_train[held_out] == 3).all()
    x_train, x_test = training_data(spec)
    assert torch.equal(x_train, digits.x_train[trained_on])
    # the test curve is the normal test images' loss, not the anomalies'
    assert torch.equal(x_test, digits.x_test[digits.y_test == 3])


def test_the_held_out_split_is_the_same_whatever_the_training_seed(digits):
    a = ModelSpec.create("dense", {}, dataset="digits", normal=(0, 1),
                         train=TrainConfig(seed=1))
    b = ModelSpec.create("dense", {}, dataset="digits", normal=(0, 1),
                         train=TrainConfig(seed=7))
    assert torch.equal(training_data(a)[0], training_data(b)[0])


def test_a_subset_model_sees_only_its_images_as_often_as_the_whole_set_takes(digits):
    spec = ModelSpec.create("dense", {"latent_dim": 16}, dataset="digits", subset=50)
    assert "subset" in spec.describe() or "50 of its images" in spec.describe()
    x_train, x_test = training_data(spec)
    assert len(x_train) == len(digits.x_train)           # the same steps per epoch
    assert len(torch.unique(x_train.flatten(1), dim=0)) <= 50
    rows = {tuple(r.tolist()) for r in digits.x_train.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in x_train.flatten(1)[:50])
    assert torch.equal(x_test, digits.x_test)
    assert spec.key != ModelSpec.create("dense", {"latent_dim": 16}, dataset="digits").key


@pytest.mark.parametrize("bad", [{"subset": -1}, {"subset": 2.5}, {"subset": True},
                                 {"holdout": 0.9}, {"holdout": "a lot"}])
def test_a_hand_edited_subset_or_holdout_is_refused(bad):
    d = ModelSpec.create("dense", {}, dataset="digits").to_dict()
    with pytest.raises(ValueError):
        ModelSpec.from_dict({**d, **bad})


def test_a_subset_larger_than_the_set_is_a_plain_data_error():
    spec = ModelSpec.create("dense", {}, dataset="digits", subset=10**6)
    with pytest.raises(datasets.DataError, match="fewer than"):
        training_data(spec)


def test_a_model_is_named_for_people_with_only_the_settings_that_differ():
    def title(variant, hparams, **kw):
        return ModelSpec.create(variant, hparams, dataset=kw.pop("dataset", "mnist"),
                                **kw).title

    assert title("dense", {"latent_dim": 16}) == "dense autoencoder, k = 16"
    assert title("vae", {"latent_dim": 8}) == "VAE, k = 8"
    assert title("vae", {"latent_dim": 2, "beta": 4.0}) == "VAE, k = 2, β = 4"
    assert title("sparse", {"latent_dim": 64, "l1": 0.0}) == "sparse autoencoder, k = 64, λ = 0"
    assert (title("dense", {"latent_dim": 16}, normal=[0, 3])
            == "dense autoencoder, k = 16, normal: 0 and 3")
    assert "normal: 0, 3 and 8" in ModelSpec.create(
        "dense", {"latent_dim": 16}, dataset="mnist", normal=[8, 0, 3]).describe()
    assert (title("denoising", {"latent_dim": 16, "noise_kind": "masking"})
            == "denoising autoencoder, k = 16, noise = masking")


def test_checked_loads_nothing_and_create_is_checked_on_the_set_actually_used(monkeypatch):
    """A page builds its spec on every rerun (ModelSpec.checked): nothing is loaded there, and
    the same settings give the spec that create gives once the dataset is resolved."""
    made = ModelSpec.create("dense", {"latent_dim": 8}, dataset="digits")

    def no_loading(name):
        raise AssertionError(f"{name} was loaded on a page's path")

    monkeypatch.setattr(datasets, "load_images", no_loading)
    spec = ModelSpec.checked("dense", {"latent_dim": 8}, dataset="digits")
    assert spec == made
    with pytest.raises(ValueError):
        ModelSpec.checked("dense", {"latent_dim": 0}, dataset="digits")


def test_a_set_named_by_a_page_is_not_trained_on_what_stands_in_for_it(monkeypatch):
    """A page names the set as the student chose it without loading it: where only a stand-in
    can be had, the worker trains nothing rather than store digits as Fashion-MNIST."""
    digits = datasets.load_images("digits")
    stand_in = datasets.ImageData(**{**digits.__dict__, "name": "fashion-mnist"})
    monkeypatch.setattr(datasets, "load_images", lambda name: stand_in)
    spec = ModelSpec.checked("dense", {"latent_dim": 8}, dataset="fashion-mnist")
    with pytest.raises(datasets.DataError, match="fashion-mnist cannot be had here"):
        training_data(spec)
