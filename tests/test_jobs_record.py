"""The job's one form (aedemo.job): the record that the app and the workers write as JSON, what
the pages read of it, and what the queue derives from the board alone (the owner, a waiting
job's place, who stopped it), on the queue with no worker: nothing here trains."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import torch
from huey import MemoryHuey

from aedemo.job import (
    DONE,
    HEARTBEAT_STALE_S,
    QUEUED,
    RUNNING,
    Heartbeats,
    Job,
    JobPreview,
    JobProgress,
    QueueProblem,
    Status,
    abandoned,
    read_job,
    requeue,
    worker_id,
    write_job,
)
from aedemo.jobs import JobQueue
from aedemo.spec import ModelSpec
from aedemo.store import ModelStore
from aedemo.taskqueue import JobBoard, Key
from aedemo.train import TrainConfig


def spec(k: int = 2) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=3, batch_size=64))


@pytest.fixture
def queue() -> JobQueue:
    """The app's side of a queue in memory, with no worker: every job stays queued."""
    return JobQueue(ModelStore(), MemoryHuey("test-jobs-record"))


def test_a_job_record_survives_its_json_round_trip():
    job = replace(Job.new(spec(), "alice", "10.0.0.5").joined("bob", None), status=RUNNING,
                  started=12.5, worker="host:42", note="a note", cancelled_by="teacher")
    stored = json.loads(json.dumps(job.to_json()))          # as the board keeps it
    assert Job.from_json(stored) == job
    assert stored["status"] == "running" and stored["spec"] == spec().to_dict()
    assert stored["addresses"] == {"alice": "10.0.0.5", "bob": None}


def test_progress_and_preview_survive_their_json_round_trips():
    progress = JobProgress(epoch=2, batch=3, batches=23, seconds=4.5, fraction=0.4,
                           trace=((0.1, 0.7), (0.2, 0.6)), history=({"epoch": 1, "train": 0.5},))
    assert JobProgress.from_json(json.loads(json.dumps(progress.to_json()))) == progress
    assert JobProgress.from_json(None) == JobProgress()
    inputs, recon = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    back = JobPreview.from_json(json.loads(json.dumps(JobPreview(inputs, recon).to_json())))
    assert back.inputs.shape == back.recon.shape == (2, 1, 8, 8)
    assert torch.allclose(back.recon, recon, atol=1e-4)      # kept to 4 decimals
    assert JobPreview.from_json(None) is None


def test_a_record_from_before_askers_is_read_with_its_owner_as_the_only_asker():
    old = {"id": "job-1", "spec": spec().to_dict(), "owner": "alice", "status": "queued",
           "submitted": 1.0}
    job = Job.from_json(old)
    assert job.askers == ("alice",) and job.owner == "alice" and job.addresses == ()
    # one where alice had withdrawn, written by the version whose owner went stale
    stale = {**old, "askers": ["bob", "carol"]}
    assert Job.from_json(stale).owner == "bob"


def test_what_a_page_reads_of_a_job_comes_from_its_progress():
    running = replace(Job.new(spec(), "a", None), status=RUNNING,
                      progress=JobProgress(epoch=2, batches=10, seconds=30.0, fraction=0.75))
    assert running.eta_seconds == pytest.approx(10.0)       # 30 s for 3/4: 10 s for the rest
    assert (running.epoch, running.epochs, running.batches) == (2, 3, 10)
    assert replace(running, status=DONE).fraction == 1.0 and not replace(
        running, status=DONE).active
    assert Job.new(spec(), "a", None).eta_seconds is None and running.preview is None


def test_the_stored_owner_follows_the_askers(queue):
    """The record's owner is stored with every change of the askers: on the old code the
    record kept its first asker as "owner" after she withdrew (only a reader that derived it
    from the askers saw the right one)."""
    job = queue.submit(spec(), "alice")
    queue.submit(spec(), "bob")
    queue.submit(spec(), "carol")
    queue.cancel(job.id, "alice")
    assert queue.board.get(Key.record(job.id))["owner"] == "bob"
    assert queue.job(job.id).owner == "bob" and queue.job(job.id).askers == ("bob", "carol")
    queue.cancel(job.id, "bob")
    assert read_job(queue.board, job.id).owner == "carol"


def test_a_waiting_jobs_place_comes_from_the_index_and_a_restarted_one_goes_first(queue):
    first, second, third = (queue.submit(spec(k), who).id
                            for k, who in ((2, "a"), (3, "b"), (4, "c")))
    assert [queue.job(i).position for i in (first, second, third)] == [1, 2, 3]
    # the last one ran and a restart put it back: it goes first, as its task did
    with queue.board.lock():
        requeue(queue.board, replace(read_job(queue.board, third), status=RUNNING))
    queue._forget_cache()
    assert [queue.job(i).position for i in (third, first, second)] == [1, 2, 3]


def test_no_worker_is_a_queue_problem_by_member_with_its_sentence(queue):
    problem = queue.problem()
    assert problem is QueueProblem.NO_WORKER
    assert str(problem).startswith("No training worker is running")     # what the page says
    queue.board.put(Key.WORKERS, [worker_id()])
    queue.board.put(Key.worker(worker_id()), {"id": worker_id(), "at": 1e12, "job": None})
    queue._forget_cache()
    assert queue.problem() is None


def test_heartbeat_freshness_and_an_abandoned_job():
    now = 1000.0
    beats = Heartbeats({})
    assert beats.fresh({"at": now - 1}, now) and not beats.fresh({"at": now - 60}, now)
    assert not beats.fresh(None, now)
    # Redis restarted 2 s ago: no worker could beat while it was down, so an old beat is
    # given HEARTBEAT_STALE_S from the restart, and no longer than that
    restarted = Heartbeats({}, storage_up_since=now - 2)
    assert restarted.fresh({"at": now - 60}, now)
    assert not restarted.fresh({"at": now - 60}, now + HEARTBEAT_STALE_S)
    job = replace(Job.new(spec(), "a", None), status=RUNNING, worker="w", started=900.0)
    assert not abandoned(job, Heartbeats({Key.worker("w"): {"at": 10**12, "job": job.id}}))
    assert abandoned(job, Heartbeats({Key.worker("w"): {"at": 10**12, "job": None}}))  # moved on
    assert abandoned(job, Heartbeats({}))                                  # never heard of
    silent = {Key.worker("w"): {"at": time.time() - 60, "job": job.id}}
    assert abandoned(job, Heartbeats(silent))                              # died
    assert not abandoned(job, Heartbeats(silent, storage_up_since=time.time() - 1))


def test_the_board_keys_are_one_namespace():
    board = JobBoard(MemoryHuey("test-keys"))
    job = Job.new(spec(), "a", None)
    write_job(board, job)
    assert read_job(board, job.id) == job and Key.record(job.id) != Key.progress(job.id)
    assert len({Key.record("x"), Key.progress("x"), Key.preview("x"), Key.cancel("x"),
                Key.active("x"), Key.worker("x"), Key.INDEX, Key.WORKERS}) == 8
    assert Status(read_job(board, job.id).status) is QUEUED
