"""Training jobs through the real queue (Huey on SQLite in the test's AEDEMO_HOME) and real
worker processes (`python -m aedemo worker`, started as the app starts them), or, where a test
must reach inside the training, Huey's own execution of the same task in this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from aedemo import job as job_module
from aedemo import local_workers, taskqueue
from aedemo.job import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SYSTEM,
    TEACHER,
    JobError,
)
from aedemo.jobs import JobQueue
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.taskqueue import Key
from aedemo.train import TrainConfig
from support import REPO


def spec(k: int = 2, epochs: int = 1, lr: float = 1e-3, batch: int = 256) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs, lr=lr, batch_size=batch))


def slow(k: int) -> ModelSpec:
    """A job that runs for minutes unless stopped: 100 epochs in batches of 16."""
    return spec(k, epochs=100, batch=16)


def wait_for(predicate, timeout: float = 60.0, what: str = "the condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def batches_done(snap) -> int:
    """Batches trained so far over all epochs. Not ``snap.batch``: an epoch of the small set
    can end between two progress writes, so the batch within it may never be seen past 1."""
    return (snap.epoch - 1) * snap.batches + snap.batch if snap.batches else 0


class Queue:
    """An app server's view of the queue, with its own worker processes."""

    def __init__(self, count: int = 1):
        self.store = ModelStore()
        self.queue = JobQueue(self.store, taskqueue.connect(self.store.root))
        self.workers = local_workers.LocalWorkers(count, on_death=self.queue.worker_died).start()

    def running(self, job_id: str, batches: int = 1):
        """Wait until the job runs and has done ``batches`` batches in all; its snapshot."""
        try:
            return wait_for(lambda: (s := self.queue.job(job_id)).status == RUNNING
                            and batches_done(s) >= batches and s, 180, f"{job_id} to run")
        except AssertionError:
            snap = self.queue.job(job_id)
            raise AssertionError(f"{job_id} never ran: {snap.status}, batch {snap.batch}, "
                                 f"position {snap.position}; workers "
                                 f"{[p.poll() for p in self.workers.procs]} alive "
                                 f"{self.queue.live_workers()}") from None

    def stop(self):
        self.workers.stop()


@pytest.fixture
def q():
    made = []

    def make(count: int = 1) -> Queue:
        made.append(Queue(count))
        return made[-1]

    yield make
    for queue in made:
        queue.stop()


def test_a_job_trains_in_a_worker_process_and_stores_its_model(q):
    queue = q()
    job = queue.queue.submit(spec(epochs=2), "alice")
    done = queue.queue.wait(job.id, timeout=120)
    assert done.status == DONE and done.model_id == spec(epochs=2).key
    stored = queue.store.get(done.model_id)
    assert stored.ok and stored.owner == "alice"
    record = queue.queue.board.get(Key.record(job.id))
    assert record["worker"].endswith(f":{queue.workers.pids()[0]}")      # not this process
    assert queue.workers.pids()[0] != os.getpid()
    assert len(done.history) == 2 and done.batch_losses


def test_the_queue_runs_jobs_in_order_one_at_a_time_per_worker(q):
    queue = q(1)
    first = queue.queue.submit(slow(2), "a")
    queue.running(first.id)
    later = [queue.queue.submit(spec(k), who) for k, who in ((3, "b"), (4, "c"), (5, "d"))]
    assert [queue.queue.job(j.id).position for j in later] == [1, 2, 3]
    statuses = [s.status for s in queue.queue.jobs()]
    assert statuses.count(RUNNING) == 1 and statuses.count(QUEUED) == 3
    queue.queue.cancel(first.id, "a")
    finished = [queue.queue.wait(j.id, timeout=120) for j in later]
    assert all(s.status == DONE for s in finished)
    assert [s.finished for s in finished] == sorted(s.finished for s in finished)   # FIFO


def test_identical_requests_share_one_job_and_stored_models_are_reused(q):
    queue = q(0)                                         # no worker: the jobs wait
    a = queue.queue.submit(slow(6), "alice")
    b = queue.queue.submit(slow(6), "bob")
    assert a.id == b.id and len(queue.queue.jobs()) == 1
    assert b.askers == ("alice", "bob") and b.shared_with("bob") == 1
    queue.queue.cancel(a.id, "alice")                    # bob still wants it
    assert queue.queue.job(a.id).active
    queue.queue.cancel(a.id, "bob")                      # nobody does now
    assert queue.queue.wait(a.id, timeout=60).status == CANCELLED
    queue.store.save(spec(7), train_spec(spec(7)), owner="alice")
    again = queue.queue.submit(spec(7), "bob")
    assert again.status == DONE and again.reused and again.model_id == spec(7).key


def test_per_student_cap(q):
    queue = q(0)               # a cap counts jobs: no worker needs to train one to count it
    first = queue.queue.submit(slow(8), "alice")
    for k in (9, 10):
        queue.queue.submit(slow(k), "alice")
    with pytest.raises(JobError, match="limit is 3 per student"):
        queue.queue.submit(slow(11), "alice")
    queue.queue.submit(slow(11), "bob")                 # someone else may still queue
    assert queue.queue.submit(slow(12), SYSTEM)    # the zoo has no cap
    for job in queue.queue.jobs(active_only=True):
        queue.queue.cancel(job.id, job.owner)
    assert queue.queue.wait(first.id, timeout=60).status == CANCELLED


def test_cancel_a_queued_job_and_a_running_one_stores_nothing(q):
    queue = q(1)
    running = queue.queue.submit(slow(13), "alice")
    waiting = queue.queue.submit(slow(14), "alice")
    queue.running(running.id, batches=3)
    with pytest.raises(JobError, match="Only a student who asked"):
        queue.queue.cancel(running.id, "bob")
    assert queue.queue.cancel(waiting.id, "alice").status == CANCELLED     # at once
    asked = time.monotonic()
    queue.queue.cancel(running.id, "alice")
    stopped = queue.queue.wait(running.id, timeout=30)
    # the worker reads the cancel flag after every batch: well within a second here
    assert stopped.status == CANCELLED and time.monotonic() - asked < 5
    assert queue.store.list() == []
    follow = queue.queue.wait(queue.queue.submit(spec(15), "alice").id, timeout=120)
    assert follow.status == DONE                         # the cancelled one never ran
    assert queue.queue.job(waiting.id).status == CANCELLED


def test_a_diverging_job_fails_alone_and_the_queue_goes_on(q):
    queue = q()
    bad = queue.queue.submit(spec(16, epochs=3, lr=1.0), "a")
    good = queue.queue.submit(spec(17), "b")
    failed = queue.queue.wait(bad.id, timeout=120)
    assert failed.status == FAILED and "learning rate" in failed.error
    assert queue.queue.wait(good.id, timeout=120).status == DONE


def test_a_worker_killed_mid_epoch_fails_its_job_plainly_and_a_fresh_worker_goes_on(q):
    queue = q(1)
    job = queue.queue.submit(slow(18), "alice")
    queue.running(job.id, batches=5)
    killed = queue.workers.pids()[0]
    os.kill(killed, signal.SIGKILL)                      # as the kernel's OOM killer does
    failed = wait_for(lambda: (s := queue.queue.job(job.id)).status == FAILED and s, 30,
                      "the job to fail")
    assert "killed, or ran out of memory" in failed.error and "nothing was stored" in failed.error
    assert queue.store.get(slow(18).key) is None         # no partial model
    wait_for(lambda: queue.workers.pids()[0] != killed, 10, "a fresh worker")
    assert queue.queue.wait(queue.queue.submit(spec(19), "bob").id, timeout=120).status == DONE


def test_a_restart_keeps_the_queue_in_order_and_puts_the_interrupted_job_first(q):
    before = q(1)
    first = before.queue.submit(slow(20), "alice")
    before.running(first.id, batches=2)
    waiting = [before.queue.submit(slow(k), "bob").id for k in (21, 22)]
    before.stop()                                        # the server stops: SIGTERM
    before.queue._forget_cache()                         # past the snapshots shared by pages
    interrupted = before.queue.job(first.id)
    assert interrupted.status == QUEUED and "interrupted by a restart" in interrupted.note
    assert before.store.list() == []
    # a new server on the same home: the queue as it was, the interrupted job first
    after = Queue(0)
    assert after.queue.recover() == []                   # the worker put it back itself
    order = [after.queue.job(i).position for i in (first.id, *waiting)]
    assert order == [1, 2, 3]


def test_a_job_left_running_by_a_killed_server_is_requeued_on_the_next_start(q, monkeypatch):
    """The server and its worker killed with SIGKILL: nobody put the job back. The next
    server finds it running with no live worker and puts it at the head of the queue."""
    store = ModelStore()
    queue = JobQueue(store, taskqueue.connect(store.root))
    worker = subprocess.Popen([sys.executable, "-m", "aedemo", "worker"], cwd=REPO)
    try:
        job = queue.submit(slow(23), "alice")
        later = queue.submit(slow(24), "alice")
        wait_for(lambda: batches_done(queue.job(job.id)) >= 2, 90, "the job to run")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    # the dead worker's last heartbeat goes stale: sooner than a class's 8 s, the same rule
    monkeypatch.setattr(job_module, "HEARTBEAT_STALE_S", 1.0)
    restarted = JobQueue(store, taskqueue.connect(store.root))
    wait_for(lambda: not restarted.live_workers(), 10, "the worker's heartbeat to go stale")
    assert restarted.recover() == [job.id]
    again = restarted.job(job.id)
    assert again.status == QUEUED and again.position == 1 and again.note
    assert restarted.job(later.id).position == 2


def test_progress_loss_trace_and_preview_while_running(q):
    queue = q()
    job = queue.queue.submit(spec(25, epochs=100, batch=64), "alice")
    snap = queue.running(job.id)
    wait_for(lambda: len(queue.queue.job(job.id).history) >= 1, 60, "an epoch")
    snap = queue.queue.job(job.id)
    assert snap.epochs == 100 and snap.batches == 23 and 0 < snap.fraction < 1
    assert len(snap.batch_losses) >= 23 and snap.eta_seconds > 0
    assert snap.preview.shape == snap.preview_inputs.shape == (10, 1, 28, 28)
    queue.queue.cancel(job.id, "alice")


def test_the_reasons_a_job_cannot_run_are_said_plainly(q, monkeypatch):
    # no worker at all
    lonely = q(0)
    assert "No training worker is running" in lonely.queue.problem()
    assert "python -m aedemo worker" in lonely.queue.problem()
    # the store read-only (root ignores file modes, so the refusal itself is simulated)
    import errno

    from aedemo import store as store_module

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(store_module.tempfile, "mkstemp", read_only)
    with pytest.raises(JobError, match="read-only, so nothing can be trained now"):
        lonely.queue.submit(spec(26), "alice")
    assert lonely.queue.jobs() == []


def test_an_unreachable_queue_is_a_message_not_a_traceback():
    store = ModelStore()
    gone = JobQueue(store, taskqueue.connect(store.root, "redis://127.0.0.1:1/0"))
    with pytest.raises(JobError, match="cannot be reached") as refused:
        gone.submit(spec(27), "alice")
    # where the queue is: the teacher's and the log's, never in the sentence students read
    assert "127.0.0.1:1" not in str(refused.value) and "Redis at 127.0.0.1:1" in (
        refused.value.detail)
    with pytest.raises(JobError, match="cannot be reached"):
        gone.jobs()
    assert "cannot be reached" in str(gone.problem())


def test_the_queue_and_the_workers_never_import_streamlit():
    code = ("import sys, aedemo.jobs, aedemo.workers, aedemo.local_workers, aedemo.taskqueue\n"
            "assert 'streamlit' not in sys.modules, 'streamlit imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --- one queue in Redis, shared by two app servers and a worker --------------------------------

@pytest.fixture
def shared(redis_server, monkeypatch):
    """Two app servers' views of one queue in Redis and one store, and a worker process."""
    redis_server.flush()
    monkeypatch.setenv("AEDEMO_REDIS_URL", redis_server.url)
    replicas = [JobQueue(store, taskqueue.connect(store.root, redis_server.url))
                for store in (ModelStore(), ModelStore())]      # one folder, two servers
    worker = subprocess.Popen([sys.executable, "-m", "aedemo", "worker"], cwd=REPO)
    yield replicas
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)


def test_two_servers_share_one_redis_queue_its_dedup_and_its_caps(shared):
    a, b = shared
    job = a.submit(slow(30), "alice")
    assert b.submit(slow(30), "bob").id == job.id              # the same job, across servers
    for k in (31, 32):
        b.submit(slow(k), "alice")                             # alice's browser moved servers
    with pytest.raises(JobError, match="limit is 3 per student"):
        a.submit(slow(33), "alice")
    seen = wait_for(lambda: (s := b.job(job.id)).status == RUNNING and s, 120,
                    "the worker to take the job")
    assert seen.owner == "alice" and seen.askers == ("alice", "bob")
    with pytest.raises(JobError, match="Only a student who asked"):
        b.cancel(job.id, "carol")
    assert b.cancel(job.id, "bob").active                      # alice still wants it
    for j in a.jobs(active_only=True):
        a.cancel(j.id, j.owner)
    assert b.wait(job.id, timeout=60).status == CANCELLED


def test_a_model_trained_through_one_server_appears_on_the_other(shared):
    a, b = shared
    done = a.wait(a.submit(spec(34), "alice").id, timeout=120)
    assert done.status == DONE
    assert b.store.get(done.model_id) is not None and b.job(done.id).status == DONE
    assert any(w["device"] in ("cpu", "cuda") for w in b.live_workers())


# --- shared jobs, caps and the teacher, on the queue alone (no worker: jobs stay queued) ---------

def test_a_shared_job_counts_every_student_and_stops_when_nobody_wants_it(q):
    queue = q(0).queue
    job = queue.submit(slow(30), "alice")
    joined = queue.submit(slow(30), "bob")
    assert joined.id == job.id and joined.askers == ("alice", "bob")
    assert [j.id for j in queue.jobs("bob")] == [job.id]          # bob's, for his Cancel
    with pytest.raises(JobError, match="Only a student who asked"):
        queue.cancel(job.id, "carol")
    assert queue.cancel(job.id, "alice").active                    # the first one leaves
    left = queue.job(job.id)
    assert left.status == QUEUED and left.askers == ("bob",) and left.position == 1
    assert queue.cancel(job.id, "bob").status == CANCELLED         # the last one leaves


def test_a_joined_job_counts_against_the_students_cap(q):
    queue = q(0).queue
    for k in (31, 32):
        queue.submit(slow(k), "alice")
    queue.submit(slow(33), "bob")
    queue.submit(slow(33), "alice")                                # her third: a joined one
    with pytest.raises(JobError, match="limit is 3 per student"):
        queue.submit(slow(34), "alice")
    queue.submit(slow(35), "bob")
    with pytest.raises(JobError, match="limit is 3 per student"):
        queue.submit(slow(35), "alice")                            # joining one too


def test_the_queue_cap_holds_for_everyone_but_the_zoo(q):
    store = ModelStore()
    queue = JobQueue(store, taskqueue.connect(store.root), per_student_cap=3, queue_cap=4)
    for k, who in ((40, "a"), (41, "b"), (42, "c"), (43, "d")):
        queue.submit(slow(k), who)
    with pytest.raises(JobError, match="The training queue is full: 4 jobs are waiting"):
        queue.submit(slow(44), "e")
    assert queue.submit(slow(40), "e").askers == ("a", "e")       # joining adds no job
    assert queue.submit(slow(45), SYSTEM).status == QUEUED   # the lesson's own
    queue.cancel(queue.jobs(active_only=True)[1].id, "b")
    assert queue.submit(slow(44), "e").status == QUEUED           # room again


def test_the_teacher_cancels_anyones_job_and_clears_the_queue(q):
    queue = q(0).queue
    shared = queue.submit(slow(50), "alice")
    queue.submit(slow(50), "bob")
    assert queue.cancel(shared.id, "teacher", teacher=True).status == CANCELLED  # for both
    for k, who in ((51, "alice"), (52, "bob"), (53, SYSTEM)):
        queue.submit(slow(k), who)
    assert queue.clear() == 3
    assert queue.jobs(active_only=True) == []


def test_a_shared_jobs_model_belongs_to_a_student_who_still_wants_it(q):
    """The tryout's case: Alice asked first and withdrew, Bob waited for the model; it was
    stored as Alice's, so she could delete it and Bob could not."""
    waiting = q(0).queue
    job = waiting.submit(spec(60), "alice")
    waiting.submit(spec(60), "bob")
    waiting.cancel(job.id, "alice")
    assert waiting.job(job.id).owner == "bob"
    trained = q(1).queue.wait(job.id, timeout=120)          # a worker takes it now
    assert trained.status == DONE
    assert ModelStore().get(trained.model_id).owner == "bob"


def test_one_computer_cannot_take_the_queue_under_ever_new_student_ids(q):
    queue = q(0).queue
    for k, who in ((61, "s1"), (62, "s2"), (63, "s3")):      # cookies cleared in between
        queue.submit(slow(k), who, "10.0.0.5")
    with pytest.raises(JobError, match="This computer already has 3 training jobs"):
        queue.submit(slow(64), "s4", "10.0.0.5")
    with pytest.raises(JobError, match="limit is 3 per computer"):
        queue.submit(slow(61), "s5", "10.0.0.5")           # joining counts too
    assert queue.submit(slow(64), "s6", "10.0.0.6").status == QUEUED   # another laptop
    assert queue.submit(slow(65), "s7", "127.0.0.1").status == QUEUED  # this machine
    queue.cancel(queue.jobs("s1")[0].id, "s1")
    assert queue.submit(slow(66), "s4", "10.0.0.5").status == QUEUED   # room again


def test_a_cancelled_job_takes_nobodys_place_in_the_queue(q):
    """X waits, Y waits, Y is cancelled, Z comes: Z is second in line. Huey still holds Y's
    revoked task until a worker pops it, so a position read from Huey's queue said 3."""
    queue = q(0)
    x = queue.queue.submit(slow(2), "a")
    y = queue.queue.submit(spec(3), "b")
    assert queue.queue.job(y.id).position == 2
    queue.queue.cancel(y.id, "b")
    z = queue.queue.submit(spec(4), "c")
    assert queue.queue.job(z.id).position == 2
    assert [j.id for j in queue.queue.jobs(active_only=True)] == [x.id, z.id]
    queue.queue.clear()


def test_a_cancelled_job_says_who_cancelled_it(q):
    """The teacher's cancel and a student's own are told apart, waiting or running."""
    queue = q(1)
    running = queue.queue.submit(slow(2), "a")
    queue.running(running.id)
    waiting = queue.queue.submit(spec(3), "b")
    mine = queue.queue.submit(spec(4), "c")
    queue.queue.cancel(mine.id, "c")
    queue.queue.cancel(waiting.id, "a", teacher=True)
    queue.queue.cancel(running.id, "a", teacher=True)
    ended = queue.queue.wait(running.id, timeout=120)
    assert ended.status == CANCELLED and ended.cancelled_by == TEACHER
    assert queue.queue.job(waiting.id).cancelled_by == TEACHER
    assert queue.queue.job(mine.id).cancelled_by == "c"
