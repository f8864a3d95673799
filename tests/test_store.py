from __future__ import annotations

import errno
import json
import os
import pickle

import pytest
import torch

from aedemo import store as store_module
from aedemo.models import REGISTRY, get_variant
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore, StoreError
from aedemo.train import TrainConfig


@pytest.fixture
def trained():
    spec = ModelSpec.create("vae", {"latent_dim": 3}, dataset="digits",
                            train=TrainConfig(epochs=1))
    return spec, train_spec(spec)


def test_round_trip(trained):
    spec, result = trained
    store = ModelStore()
    saved = store.save(spec, result)
    assert saved.id == spec.key and store.find(spec).id == saved.id
    model, record = store.load(saved.id)
    for k, v in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v.cpu())
    assert record == saved.record and record.spec == spec and record.metrics == result.metrics
    assert record.history[0]["train"].keys() == {"loss", "recon", "kl"}
    assert {"torch", "numpy", "safetensors"} <= record.versions.keys() and record.created
    assert [m.id for m in store.list()] == [saved.id]
    store.delete(saved.id)
    assert store.list() == [] and store.find(spec) is None


def test_same_request_same_key():
    a = ModelSpec.create("dense", {}, dataset="digits")
    b = ModelSpec.create("dense", {"latent_dim": 16}, dataset="digits")
    c = ModelSpec.create("dense", {"latent_dim": 8}, dataset="digits")
    assert a.key == b.key != c.key
    assert ModelSpec.from_dict(a.to_dict()) == a


def test_interrupted_write_leaves_nothing_listed(trained, monkeypatch):
    spec, result = trained
    store = ModelStore()
    real_replace = os.replace

    def die_on_json(src, dst):
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt("killed while saving")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", die_on_json)
    with pytest.raises(KeyboardInterrupt):
        store.save(spec, result)
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    assert ModelStore(store.root).list() == []
    assert not [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_and_truncated_files_are_reported_not_raised(trained):
    spec, result = trained
    store = ModelStore()
    saved = store.save(spec, result)
    weights = store.dir / f"{saved.id}.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])     # truncated
    (store.dir / "badjson00000.json").write_text("{not json")
    listed = {m.id: m for m in ModelStore().list()}
    assert not listed[saved.id].ok and "corrupt or truncated" in listed[saved.id].problem
    assert not listed["badjson00000"].ok and "unreadable" in listed["badjson00000"].problem
    with pytest.raises(StoreError, match="cannot be loaded"):
        ModelStore().load(saved.id)
    ModelStore().delete("badjson00000")
    assert "badjson00000" not in {m.id for m in ModelStore().list()}


def test_weights_that_do_not_fit_the_variant(trained):
    spec, result = trained
    store = ModelStore()
    saved = store.save(spec, result)
    meta_path = store.dir / f"{saved.id}.json"
    meta = json.loads(meta_path.read_text())
    meta["spec"]["hparams"]["latent_dim"] = 5
    meta_path.write_text(json.dumps(meta))
    entry = ModelStore().get(saved.id)
    assert not entry.ok and "do not fit the vae model" in entry.problem


def test_a_pickle_is_never_loaded(trained, tmp_path):
    spec, result = trained
    store = ModelStore()
    saved = store.save(spec, result)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (store.dir / f"{saved.id}.safetensors").write_bytes(pickle.dumps(Exploit()))
    entry = ModelStore().get(saved.id)
    assert not entry.ok and not marker.exists()


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "is full"),
                                         (errno.EROFS, "is read-only")])
def test_full_or_read_only_store_gives_a_clear_message(trained, monkeypatch, code, words):
    spec, result = trained

    def failing(path, payload):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(store_module, "write_atomically", failing)
    with pytest.raises(StoreError, match=words):
        ModelStore().save(spec, result)


def test_a_missing_or_unwritable_folder_lists_as_empty(tmp_path):
    assert ModelStore(tmp_path / "nowhere").list() == []


@pytest.mark.parametrize("variant", REGISTRY)
def test_what_training_writes_passes_the_stores_checks(variant):
    """The JSON schema against its reference, a real save of every variant: each one's history
    and metrics have the shape the store asks of them."""
    image = get_variant(variant).kind == "image"
    spec = ModelSpec.create(variant, {"latent_dim": 4}, dataset="digits" if image else None,
                            train=TrainConfig(epochs=1, batch_size=512))
    saved = ModelStore().save(spec, train_spec(spec))
    entry = ModelStore().get(saved.id)
    assert entry.ok, entry.problem
    assert entry.spec == spec and entry.metrics == saved.metrics


def test_the_vaes_recon_plus_kl_is_named_the_negative_elbo_even_in_old_files(trained):
    """recon + KL is the *negative* ELBO (positive nats; the ELBO itself is below zero): a
    model trained now stores it as neg_elbo, and one stored before under "elbo" is read, listed
    and printed by the CLI under the same name."""
    from aedemo.cli import _summary

    spec, result = trained
    assert "neg_elbo" in result.metrics and "elbo" not in result.metrics
    assert result.metrics["neg_elbo"] > 0
    store = ModelStore()
    saved = store.save(spec, result)
    path = store.dir / f"{saved.id}.json"
    meta = json.loads(path.read_text())
    meta["metrics"]["elbo"] = meta["metrics"].pop("neg_elbo")       # as an older aedemo wrote
    path.write_text(json.dumps(meta))
    old = store.get(saved.id)
    assert old.ok and old.metrics["neg_elbo"] == result.metrics["neg_elbo"]
    assert "elbo" not in old.metrics and "elbo" not in _summary(old.record)["test"]
