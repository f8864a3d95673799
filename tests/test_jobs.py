"""The job service with a stand-in trainer where timing must be controlled, and with the real
trainer where the outcome matters (storing, cancelling, failing)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from aedemo.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobError, JobManager
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from support import REPO


def spec(k: int = 2, epochs: int = 1, lr: float = 1e-3) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs, lr=lr))


class GatedTrainer:
    """Trains for real, but each job waits for its gate first, and records who ran when."""

    def __init__(self):
        self.gates: dict[int, threading.Event] = {}
        self.running = 0
        self.most_at_once = 0
        self.order: list[int] = []
        self.lock = threading.Lock()

    def gate(self, k: int) -> threading.Event:
        return self.gates.setdefault(k, threading.Event())

    def __call__(self, s, callbacks=(), stop=None):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.order.append(s.latent_dim)
        try:
            while not self.gate(s.latent_dim).wait(0.01):
                if stop.is_set():
                    break
            return train_spec(s, callbacks=callbacks, stop=stop)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def manager():
    managers = []

    def make(**kw):
        m = JobManager(ModelStore(), **kw)
        managers.append(m)
        return m

    yield make
    for m in managers:
        m.shutdown()


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_job_trains_and_stores_its_model(manager):
    m = manager()
    job = m.submit(spec(epochs=2), "alice")
    done = m.wait(job.id, timeout=120)
    assert done.status == DONE and done.model_id == spec(epochs=2).key
    assert len(done.history) == 2 and done.preview.shape == done.preview_inputs.shape
    assert m.store.find(spec(epochs=2)) is not None


def test_queue_is_fifo_and_bounded_by_the_worker_count(manager):
    trainer = GatedTrainer()
    m = manager(workers=1, trainer=trainer, per_session_cap=10)
    jobs = [m.submit(spec(k), "alice") for k in (2, 3, 4)]
    wait_for(lambda: m.snapshot(jobs[0].id).status == RUNNING)
    assert [m.snapshot(j.id).position for j in jobs] == [None, 1, 2]
    for k in (2, 3, 4):
        trainer.gate(k).set()
    for j in jobs:
        assert m.wait(j.id, timeout=120).status == DONE
    assert trainer.order == [2, 3, 4] and trainer.most_at_once == 1


def test_two_workers_run_two_jobs_at_once(manager):
    trainer = GatedTrainer()
    m = manager(workers=2, trainer=trainer)
    a, b, c = (m.submit(spec(k), s) for k, s in ((2, "a"), (3, "b"), (4, "c")))
    wait_for(lambda: trainer.running == 2)
    assert m.snapshot(c.id).status == QUEUED
    for k in (2, 3, 4):
        trainer.gate(k).set()
    assert all(m.wait(j.id, timeout=120).status == DONE for j in (a, b, c))
    assert trainer.most_at_once == 2


def test_identical_requests_share_one_job_and_stored_models_are_reused(manager):
    trainer = GatedTrainer()
    m = manager(trainer=trainer)
    first = m.submit(spec(), "alice")
    second = m.submit(spec(), "bob")
    assert second.id == first.id
    trainer.gate(2).set()
    m.wait(first.id, timeout=120)
    third = m.submit(spec(), "carol")
    assert third.status == DONE and third.reused and third.model_id == spec().key
    assert trainer.order == [2]


def test_per_session_cap(manager):
    trainer = GatedTrainer()
    m = manager(trainer=trainer, per_session_cap=2)
    m.submit(spec(2), "alice")
    m.submit(spec(3), "alice")
    with pytest.raises(JobError, match="limit is 2 per browser"):
        m.submit(spec(4), "alice")
    m.submit(spec(4), "bob")               # another browser is not affected


def test_cancel_queued_and_running_jobs_store_nothing(manager):
    trainer = GatedTrainer()
    m = manager(trainer=trainer)
    running = m.submit(spec(2, epochs=50), "alice")
    queued = m.submit(spec(3), "alice")
    trainer.gate(2).set()
    wait_for(lambda: m.snapshot(running.id).batch > 0)
    with pytest.raises(JobError, match="Only the browser that started"):
        m.cancel(running.id, "mallory")
    assert m.cancel(queued.id, "alice").status == CANCELLED
    m.cancel(running.id, "alice")
    assert m.wait(running.id, timeout=60).status == CANCELLED
    assert m.store.list() == [] and trainer.order == [2]


def test_a_failing_job_does_not_affect_the_others(manager):
    m = manager()
    bad = m.submit(spec(2, lr=1.0, epochs=3), "alice")
    good = m.submit(spec(3), "bob")
    failed = m.wait(bad.id, timeout=120)
    assert failed.status == FAILED and "learning rate" in failed.error
    assert m.wait(good.id, timeout=120).status == DONE


def test_a_crashing_trainer_is_reported_and_the_worker_survives(manager):
    calls = []

    def flaky(s, callbacks=(), stop=None):
        calls.append(s.latent_dim)
        if s.latent_dim == 2:
            raise ZeroDivisionError("bug in a variant")
        return train_spec(s, callbacks=callbacks, stop=stop)

    m = manager(trainer=flaky)
    bad, good = m.submit(spec(2), "a"), m.submit(spec(3), "a")
    assert "ZeroDivisionError: bug in a variant" in m.wait(bad.id, timeout=60).error
    assert m.wait(good.id, timeout=120).status == DONE


def test_progress_snapshot_while_running(manager):
    m = manager()
    job = m.submit(spec(epochs=30), "alice")
    wait_for(lambda: len(m.snapshot(job.id).history) >= 1)
    snap = m.snapshot(job.id)
    assert snap.status == RUNNING and snap.epochs == 30 and 0 < snap.fraction < 1
    assert snap.eta_seconds is not None and snap.eta_seconds > 0
    assert {"loss", "recon"} <= snap.history[0]["train"].keys()


def test_workers_never_import_streamlit():
    """If streamlit is never imported, no worker can call st.*: run a job in a fresh process."""
    code = (
        "import sys, os, tempfile\n"
        "os.environ['AEDEMO_HOME'] = tempfile.mkdtemp()\n"
        "from aedemo.jobs import JobManager\n"
        "from aedemo.store import ModelStore\n"
        "from aedemo.spec import ModelSpec\n"
        "from aedemo.train import TrainConfig\n"
        "m = JobManager(ModelStore())\n"
        "s = ModelSpec.create('vae', {'latent_dim': 2}, dataset='digits', "
        "train=TrainConfig(epochs=1))\n"
        "print(m.wait(m.submit(s, 'x').id, timeout=120).status)\n"
        "print('streamlit' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.stdout.split() == ["done", "False"], run.stderr
