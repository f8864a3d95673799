"""Every job ends, whatever the queue's storage does (issue 19): a worker whose last write meets
Redis restarting, a record left RUNNING that no worker trains, a job the storage lost; and the
cap per computer holds for loopback addresses too."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import replace

import pytest

from aedemo import jobs, taskqueue, workers
from aedemo.job import (
    CANCELLED,
    DONE,
    FAILED,
    HEARTBEAT_STALE_S,
    LOST,
    QUEUED,
    RUNNING,
    UNEXPECTED,
    JobError,
    read_job,
    write_job,
)
from aedemo.jobs import JobQueue
from aedemo.roles import THIS_MACHINE
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.taskqueue import Key
from aedemo.train import TrainConfig
from support import free_port, inline_worker, redis_server_binary


def spec(k: int, epochs: int = 1, batch: int = 256) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs, batch_size=batch))


def until(read, timeout: float = 30.0):
    """``read()`` until it is truthy (the queue's caches forgotten each time); its last value."""
    end = time.monotonic() + timeout
    while True:
        found = read()
        if found or time.monotonic() > end:
            return found
        time.sleep(0.1)


class PersistentRedis:
    """A redis-server with an append-only file (as the README asks), stopped and started again
    on the same port."""

    def __init__(self, folder):
        self.port, self.folder = free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        until(lambda: _pings(client), 20)

    def stop(self) -> None:
        self.proc.terminate()           # Redis writes its append-only file out as it stops
        self.proc.wait(20)


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.mark.parametrize("down_s", [2.0, HEARTBEAT_STALE_S + 2])
def test_a_job_whose_end_meets_redis_restarting_ends_done_once_redis_is_back(tmp_path,
                                                                               monkeypatch,
                                                                               down_s):
    """Redis stops as the job's training finishes and is back ``down_s`` later: the worker
    stores the model, retries its last write, and the job ends DONE with that model (on older
    code its record stayed RUNNING for good, with a live worker's id; and a Redis down longer
    than HEARTBEAT_STALE_S had the app's reaper, reading the board first, fail it as the job of
    a dead worker, since no worker could beat meanwhile)."""
    server = PersistentRedis(tmp_path)
    store = ModelStore()
    huey = taskqueue.connect(store.root, server.url)

    def trained_then_redis_restarts(s, callbacks=(), stop=None):
        model = train_spec(s, callbacks=callbacks, stop=stop)
        server.stop()
        threading.Timer(down_s, server.start).start()
        return model

    monkeypatch.setattr(workers, "train_spec", trained_then_redis_restarts)
    stopping = inline_worker(huey, store)
    queue = JobQueue(store, huey)
    try:
        job = queue.submit(spec(2), "alice")
        ended = until(lambda: (s := _read(queue, job.id)) and not s.active and s, 60)
        assert ended and ended.status == DONE, ended
        assert [m.id for m in store.list()] == [ended.model_id]
        assert queue.submit(spec(2), "bob").reused     # its settings are free: the model serves
    finally:
        stopping.set()
        server.stop()


def test_a_server_started_after_redis_restarted_puts_back_the_jobs_of_workers_gone(tmp_path):
    """The machine rebooted: Redis (with its append-only file) is back with a job RUNNING and
    the last heartbeat of its worker, which did not come back. The reaper gives a worker
    HEARTBEAT_STALE_S from Redis's start to beat again, but a server starting now puts the job
    back on the queue at once, to train again, rather than fail it later."""
    server = PersistentRedis(tmp_path)
    store = ModelStore()
    queue = JobQueue(store, taskqueue.connect(store.root, server.url))
    try:
        job = queue.submit(spec(5), "alice")
        queue.huey.dequeue()                                 # a worker took it, then the reboot
        gone = "a-machine:4242"
        write_job(queue.board, replace(read_job(queue.board, job.id), status=RUNNING,
                                       worker=gone, started=time.time() - 70))
        queue.board.put(Key.WORKERS, [gone])
        queue.board.put(Key.worker(gone), {"id": gone, "at": time.time() - 60, "job": job.id})
        server.stop()
        server.start()
        restarted = JobQueue(store, taskqueue.connect(store.root, server.url))
        assert restarted.board.up_since() > time.time() - HEARTBEAT_STALE_S
        assert restarted.recover() == [job.id]
        again = restarted.job(job.id)
        assert again.status == QUEUED and again.note
    finally:
        server.stop()


def _read(queue: JobQueue, job_id: str):
    try:
        queue._forget_cache()
        return queue.job(job_id)
    except JobError:                 # Redis restarting
        return None


def _left_running(queue: JobQueue, k: int) -> str:
    """A job as a worker that lost the queue mid-job used to leave it: its task taken, its
    record RUNNING with the id of a worker that is alive and trains nothing."""
    job = queue.submit(spec(k, epochs=100, batch=16), "alice")
    queue.huey.dequeue()                                    # a worker took it...
    record = replace(read_job(queue.board, job.id), status=RUNNING,
                     worker=workers._context["worker_id"], started=time.time() - 5)
    write_job(queue.board, record)                          # ...and never wrote its end
    return job.id


def test_the_teachers_cancel_and_the_reaper_end_a_running_job_that_no_worker_trains():
    store = ModelStore()
    huey = taskqueue.connect(store.root)
    stopping = inline_worker(huey, store, consume=False)     # alive, training nothing
    queue = JobQueue(store, huey)
    try:
        until(queue.live_workers)
        cancelled, reaped = _left_running(queue, 3), _left_running(queue, 4)
        # the old Cancel set a flag that no worker read: the job stayed RUNNING
        assert queue.cancel(cancelled, "teacher", teacher=True).status == CANCELLED
        queue._forget_cache()
        assert queue.job(reaped).status == FAILED
        assert "no longer trains this job" in queue.job(reaped).error
        # its student's slot and its settings are free again
        assert queue.jobs("alice", active_only=True) == []
        assert queue.submit(spec(4, epochs=100, batch=16), "alice").id != reaped
    finally:
        stopping.set()


@pytest.mark.parametrize("address", ["127.0.0.3", "127.0.0.1", THIS_MACHINE])
def test_the_cap_per_computer_holds_for_loopback_addresses(address):
    """Every address counts, loopback too (the old cap skipped them: one client at 127.0.0.3
    queued 18 jobs); the teacher's jobs (no address) count toward no computer."""
    queue = JobQueue(ModelStore(), taskqueue.connect(ModelStore().root), per_address_cap=3)
    for k in range(3):
        queue.submit(spec(10 + k), f"student-{k}", address)
    with pytest.raises(JobError, match="limit is 3 per computer"):
        queue.submit(spec(20), "a-new-cookie", address)
    queue.submit(spec(21), "teacher", None)
    off = JobQueue(queue.store, queue.huey, per_address_cap=0)     # AEDEMO_ADDRESS_CAP=0
    off.submit(spec(22), "another-cookie", address)


def test_jobs_lost_with_redis_are_reported_to_their_students(redis_server, monkeypatch):
    """A Redis that restarts without persistence forgets the waiting jobs: their students are
    told, and nothing waits forever (the old queue showed nothing, silently)."""
    monkeypatch.setattr(jobs, "LOST_AFTER_S", 0.5)
    redis_server.flush()
    store = ModelStore()
    queue = JobQueue(store, taskqueue.connect(store.root, redis_server.url))
    vanished = queue.submit(spec(5), "alice")
    redis_server.flush()                        # record and task gone, as after such a restart
    queue._forget_cache()
    mine = queue.jobs("alice")
    assert [(j.id, j.status) for j in mine] == [(vanished.id, FAILED)]
    assert mine[0].error == LOST
    # a record that survived while its task did not (a snapshot older than the task)
    orphan = queue.submit(spec(6), "bob")
    queue.huey.storage.flush_queue()
    lost = until(lambda: (s := _read(queue, orphan.id)) and s.status == FAILED and s, 10)
    assert lost and lost.error == LOST
    assert queue.submit(spec(6), "bob").id != orphan.id          # its settings are free again


def test_a_redis_without_an_append_only_file_is_said_in_the_log(redis_server, tmp_path):
    assert "appendonly yes" in taskqueue.persistence_problem(
        taskqueue.connect(tmp_path, redis_server.url))          # the tests' Redis keeps none
    server = PersistentRedis(tmp_path)
    try:
        assert taskqueue.persistence_problem(taskqueue.connect(tmp_path, server.url)) is None
    finally:
        server.stop()
    assert taskqueue.persistence_problem(taskqueue.connect(tmp_path)) is None     # SQLite


def test_a_job_that_fails_unexpectedly_tells_its_student_no_path_and_no_exception(
        monkeypatch, caplog):
    """A bug in training (here an OSError naming a folder of the server) fails the job with a
    plain sentence: the exception's type and words go to the worker's log, not to the page."""
    def broken(spec):
        raise OSError(13, "Permission denied", "/srv/aedemo-secret/cache")

    monkeypatch.setattr(workers, "preview_items", broken)
    store = ModelStore()
    huey = taskqueue.connect(store.root)
    stopping = inline_worker(huey, store)
    queue = JobQueue(store, huey)
    try:
        job = queue.submit(spec(5), "alice")
        ended = until(lambda: (s := _read(queue, job.id)) is not None and not s.active and s)
    finally:
        stopping.set()
    assert ended.status == FAILED
    assert ended.error == UNEXPECTED
    assert "/srv" not in ended.error and "Error" not in ended.error
    assert "/srv/aedemo-secret/cache" in caplog.text
