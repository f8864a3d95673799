"""The latent map's frames stored with a model (aedemo.store): a round trip, written whole or not
at all, gone with the model, and a frames file a careless admin or an unkind student left in
its place: the replay is unavailable with a plain sentence, and the model is untouched."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors
from test_store_hostile import KINDS, finishes

from aedemo.latent_frames import MAX_FRAMES, MAX_FRAMES_BYTES, LatentFrames
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import STALE_AFTER, ModelStore, StoreError
from aedemo.train import TrainConfig


@pytest.fixture(scope="module")
def trained():
    spec = ModelSpec.create("dense", {"latent_dim": 3}, dataset="digits",
                            train=TrainConfig(epochs=1))
    return spec, train_spec(spec)


def some_frames(frames: int = 5, items: int = 40) -> LatentFrames:
    rng = np.random.default_rng(0)
    return LatentFrames(at=np.linspace(0.2, 1.0, frames, dtype=np.float32),
                        points=rng.normal(size=(frames, items, 2)).astype(np.float16),
                        labels=rng.integers(0, 10, items).astype(np.uint8),
                        indices=np.arange(items, dtype=np.int32) * 3)


@pytest.fixture
def saved(trained):
    spec, result = trained
    store = ModelStore()
    return store, store.save(spec, result, frames=some_frames()).id


def frames_file(store: ModelStore, model_id: str):
    return store.dir / f"{model_id}.frames.safetensors"


def test_frames_come_back_as_they_were_stored(saved):
    store, model_id = saved
    back, want = ModelStore().frames(model_id), some_frames()
    for name in ("at", "points", "labels", "indices"):
        np.testing.assert_array_equal(getattr(back, name), getattr(want, name))
    assert frames_file(store, model_id).stat().st_size < 1000 + 40 * 5 * 4 + 40 * 5


def test_a_model_without_frames_has_none_and_a_retrained_one_loses_the_old(saved, trained):
    store, model_id = saved
    spec, result = trained
    store.save(spec, result)                     # the same id again, from the CLI: no frames
    assert store.frames(model_id) is None and not frames_file(store, model_id).exists()


def test_deleting_a_model_deletes_its_frames(saved):
    store, model_id = saved
    store.delete(model_id)
    assert not frames_file(store, model_id).exists()


def test_clean_up_removes_frames_whose_model_never_came(saved):
    store, model_id = saved
    orphan = store.dir / "0123456789ab.frames.safetensors"
    orphan.write_bytes(b"x")
    old = time.time() - STALE_AFTER - 60
    os.utime(orphan, (old, old))
    os.utime(frames_file(store, model_id), (old, old))
    assert store.clean_up() == [orphan]
    assert store.frames(model_id) is not None


def tensors(**change) -> bytes:
    f = some_frames()
    t = {"at": torch.from_numpy(f.at), "points": torch.from_numpy(f.points),
         "labels": torch.from_numpy(f.labels), "indices": torch.from_numpy(f.indices)}
    t.update(change)
    return save_safetensors({k: v for k, v in t.items() if v is not None})


HOSTILE = {
    "not a number": (tensors(points=torch.full((5, 40, 2), float("nan"), dtype=torch.float16)),
                     "not finite"),
    "infinite time": (tensors(at=torch.tensor([0.2, 0.4, float("inf"), 0.8, 1.0])), "not finite"),
    "wrong shape": (tensors(points=torch.zeros((5, 41, 2), dtype=torch.float16)), "shapes"),
    "three columns": (tensors(points=torch.zeros((5, 40, 3), dtype=torch.float16)), "shapes"),
    "too many frames": (tensors(at=torch.arange(MAX_FRAMES + 1, dtype=torch.float32),
                                points=torch.zeros((MAX_FRAMES + 1, 40, 2),
                                                   dtype=torch.float16)), "shapes"),
    "missing labels": (tensors(labels=None), "other data"),
    "wrong type": (tensors(labels=torch.zeros(40, dtype=torch.int64)), "other data"),
    "backwards": (tensors(at=torch.tensor([1.0, 0.8, 0.6, 0.4, 0.2])), "out of order"),
    "garbage": (b"\x00\xff" * 100, "corrupt"),
    "empty": (b"", "corrupt"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_bad_frames_file_loses_the_replay_never_the_model(saved, case):
    store, model_id = saved
    payload, why = HOSTILE[case]
    frames_file(store, model_id).write_bytes(payload)
    fresh = ModelStore()
    with pytest.raises(StoreError, match=f"replay of how this model's map formed is "
                                         f"unavailable.*{why}"):
        fresh.frames(model_id)
    assert fresh.get(model_id).ok and fresh.load(model_id)


@pytest.mark.parametrize("kind", KINDS)
def test_a_frames_file_that_is_not_a_bounded_file_is_a_problem_not_a_hang(saved, kind):
    store, model_id = saved
    path = frames_file(store, model_id)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        with open(path, "wb") as f:
            f.truncate(MAX_FRAMES_BYTES + 1)
    fresh = ModelStore()
    with pytest.raises(StoreError, match=f"unavailable.*{KINDS[kind]}"):
        finishes(lambda: fresh.frames(model_id))
    assert fresh.get(model_id).ok and fresh.load(model_id)
    fresh.delete(model_id)
    assert not os.path.lexists(path)
