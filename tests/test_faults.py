"""Faults a class might hit, each leaving the service running and the stored models intact."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from aedemo import store as store_module
from aedemo import taskqueue, workers
from aedemo.job import DONE, FAILED, OUT_OF_MEMORY
from aedemo.jobs import JobQueue
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import Callback, TrainConfig
from support import REPO, inline_worker


def spec(k: int, epochs: int = 2) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs, batch_size=64))


@pytest.fixture
def inline():
    """A worker in this process, so a test can change what a job meets (a failing save, a
    callback that raises): Huey dequeues and executes the real task, as a worker's consumer
    does, with the worker's heartbeat."""
    store = ModelStore()
    huey = taskqueue.connect(store.root)
    stopping = inline_worker(huey, store)
    yield JobQueue(store, huey)
    stopping.set()


def wait(queue, job_id: str):
    return queue.wait(job_id, timeout=120)


def test_a_job_that_raises_mid_epoch_fails_alone_and_the_queue_goes_on(inline, monkeypatch):
    class Boom(Callback):
        def on_batch(self, p):
            if p.epoch == 2 and p.batch == 3:
                raise MemoryError("out of memory in the middle of epoch 2")

    def trainer(s, callbacks=(), stop=None):
        extra = (Boom(),) if s.latent_dim == 2 else ()
        return train_spec(s, callbacks=(*callbacks, *extra), stop=stop)

    monkeypatch.setattr(workers, "train_spec", trainer)
    bad, good = inline.submit(spec(2), "a"), inline.submit(spec(3), "b")
    failed = wait(inline, bad.id)
    assert failed.status == FAILED and failed.error == OUT_OF_MEMORY
    assert wait(inline, good.id).status == DONE
    assert [m.spec.latent_dim for m in inline.store.list()] == [3]


def test_a_store_that_fills_up_fails_the_job_with_a_message_and_keeps_serving(inline,
                                                                              monkeypatch):
    kept = spec(4)
    inline.store.save(kept, train_spec(kept))

    def full(path, payload):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module, "write_atomically", full)
    job = wait(inline, inline.submit(spec(5), "a").id)
    assert job.status == FAILED and "is full" in job.error
    listed = inline.store.list()
    assert [m.id for m in listed] == [kept.key] and listed[0].ok
    model, _ = inline.store.load(kept.key)
    assert model is not None


SAVER = """
import sys
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
store = ModelStore(sys.argv[1])
spec = ModelSpec.create("vae", {"latent_dim": 2}, dataset="digits", train=TrainConfig(epochs=1))
trained = train_spec(spec)
print("ready", flush=True)
for seed in range(10_000):
    store.save(ModelSpec.create("vae", {"latent_dim": 2}, dataset="digits",
                                train=TrainConfig(epochs=1, seed=seed)), trained)
"""


def test_killed_while_saving_leaves_only_complete_models(tmp_path):
    """SIGKILL a process in the middle of a stream of saves, at several moments: after a
    restart every listed model loads, and nothing half-written is listed."""
    home = tmp_path / "store"
    for delay in (0.05, 0.2, 0.5):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(home)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    restarted = ModelStore(home)
    listed = restarted.list()
    assert listed, "some saves should have completed"
    assert all(m.ok for m in listed), [m.problem for m in listed if not m.ok]
    for m in listed[:5]:
        restarted.load(m.id)
