"""Training workers: processes that take jobs from the queue and train them, apart from the web
server, so a training step never competes with a page for the server's GIL and a crash or an
out-of-memory in training takes down one job, not the class.

``python -m aedemo worker`` is one worker: a Huey consumer with one worker thread, which runs
one job at a time (``train_job``), on CUDA where there is one. It says it is alive on the board
every second, and on SIGTERM (or SIGINT) it stops the job in progress after its current batch
and puts it back at the head of the queue. Started by an app server (``--parent-pid``, see
aedemo.local_workers), it also stops when that server is gone.

The job it trains is the ``Job`` record the app wrote (aedemo.job); while it trains, the worker
writes the job's progress and preview beside it (``_Reporter``) and the latest frame of its
latent map (``latent_frames.recorder_for``; all the frames are stored with the model), and
reads its cancel flag after every batch. This is the only module that runs the trainer for a job.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import replace
from typing import Any

import torch

from aedemo import data as datasets
from aedemo import taskqueue
from aedemo.errors import Explained
from aedemo.job import (
    CANCELLED,
    DONE,
    FAILED,
    HEARTBEAT_EVERY_S,
    OUT_OF_MEMORY,
    QUEUED,
    RUNNING,
    UNEXPECTED,
    Job,
    JobFrame,
    JobPreview,
    JobProgress,
    Status,
    finish,
    read_job,
    register_task,
    requeue,
    worker_id,
    write_job,
)
from aedemo.latent_frames import recorder_for
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore, StoreError, default_home
from aedemo.taskqueue import JobBoard, Key, QueueUnavailable
from aedemo.train import (
    Callback,
    LossTrace,
    Progress,
    TrainingDiverged,
    TrainingStopped,
    pick_device,
)

log = logging.getLogger(__name__)

STOP_WAIT_S = 15.0          # how long a stopping worker waits for its job to stop
WORKER_NICE = 10            # a server's own workers yield the CPU to it
PREVIEW_COUNT = 10          # fixed test items whose reconstructions show training progress
PROGRESS_EVERY_S = 0.5      # how often a worker writes a running job's progress
FINAL_RETRY_MAX_S = 5.0     # the longest wait between a worker's tries of a job's last write

# this worker process's queue, board, store, id and stop event (set_worker), and its job
_context: dict[str, Any] = {}


def set_worker(huey, store: ModelStore, me: str, stopping: threading.Event) -> None:
    """Make this process a worker of ``huey``: the task registered, where it stores models, its
    id in heartbeats and job records, and the event that its shutdown sets."""
    register_task(huey)
    _context.update(huey=huey, board=JobBoard(huey), store=store, worker_id=me,
                    stopping=stopping, job=None)


def training_now() -> str | None:
    """The id of the job this worker process is training, for its heartbeat."""
    return _context.get("job")


# --- one job ---------------------------------------------------------------------------------

def preview_items(spec: ModelSpec) -> torch.Tensor:
    """Fixed test items to reconstruct after each epoch: one image of each class (the first of
    each in the test set), or the first series."""
    d = datasets.load_dataset(spec.dataset, spec.kind)
    if spec.kind != "image":
        return d.x_test[:4]
    firsts = [int(torch.nonzero(d.y_test == c)[0]) for c in torch.unique(d.y_test).tolist()]
    return d.x_test[firsts[:PREVIEW_COUNT]]


def train_job(job_id: str) -> None:
    """Huey's task: run one job in this worker, start to finish; whatever goes wrong stays
    inside this job."""
    board, store = _context["board"], _context["store"]
    with board.lock():
        job = read_job(board, job_id)
        if job is None or job.status is not QUEUED:
            return                                # cancelled while it waited
        # named in this worker's heartbeat before its record says RUNNING: a heartbeat newer
        # than the job's start that names another job means this worker no longer trains it
        _context["job"] = job_id
        job = replace(job, status=RUNNING, worker=_context["worker_id"], started=time.time())
        write_job(board, job)
    try:
        status, error, model_id = _train(board, store, job)
        # Every job ends: its last write is retried until the storage is back (Redis restarting,
        # a full disk), rather than leave a record RUNNING that no one would ever end
        _until_written(job_id, lambda: _end(board, job_id, status, error, model_id))
    finally:
        _context["job"] = None


def _train(board: JobBoard, store: ModelStore, job: Job
           ) -> tuple[Status, str | None, str | None]:
    """Train one job and store its model: how it ended, why it failed, the stored model."""
    stop = threading.Event()
    status, error, model_id = FAILED, None, None
    try:
        inputs = preview_items(job.spec)
        reporter = _Reporter(board, job.id, inputs, stop, _context["stopping"])
        recorder = recorder_for(job.spec, lambda at, points, labels: reporter._quietly(
            board.put, Key.frame(job.id), JobFrame(at, points, labels).to_json()))
        callbacks = (reporter,) if recorder is None else (reporter, recorder)
        trained = train_spec(job.spec, callbacks=callbacks, stop=stop)
        if stop.is_set():
            raise TrainingStopped()
        # the owner now: whoever asked first may have withdrawn while it trained
        try:
            owner = (read_job(board, job.id) or job).owner
        except QueueUnavailable:
            owner = job.owner               # the model is stored all the same
        frames = recorder.frames() if recorder is not None else None
        model_id = store.save(job.spec, trained, owner=owner, frames=frames).id
        status = DONE
    except TrainingStopped:
        status = CANCELLED
    except (TrainingDiverged, StoreError, datasets.DataError) as err:
        error = str(err)              # the plain sentence: the job's panel shows it to students
        if isinstance(err, Explained) and err.detail:
            log.warning("job %s failed: %s", job.id, err.in_full())
    except (MemoryError, torch.OutOfMemoryError):
        log.error("job %s ran out of memory:\n%s", job.id, traceback.format_exc())
        error = OUT_OF_MEMORY
    except Exception:  # a bug must not take the worker, or other jobs, down with it
        log.error("job %s failed:\n%s", job.id, traceback.format_exc())
        error = UNEXPECTED          # its type and words may name the server's folders
    return status, error, model_id


def _end(board: JobBoard, job_id: str, status: Status, error: str | None,
         model_id: str | None) -> None:
    """Write how a job ended, under the board's lock."""
    with board.lock():
        job = read_job(board, job_id)
        if job is None or not job.active:
            # lost with the queue's storage (the app says so), or ended meanwhile by the
            # teacher's Cancel or the reaper: a stored model is listed by the store anyway
            return
        if status is CANCELLED and _context["stopping"].is_set() and not board.get(
                Key.cancel(job_id)):
            requeue(board, job)
        else:
            finish(board, job, status, error=error, model_id=model_id)


def _until_written(job_id: str, write) -> None:
    """``write()`` again, after 0.2 s, then twice as long each time up to FINAL_RETRY_MAX_S,
    while the queue's storage cannot be reached; logged once."""
    delay = 0.2
    while True:
        try:
            write()
            return
        except QueueUnavailable as err:
            if _context["stopping"].is_set():
                # the worker is going: a record left RUNNING by a silent worker is failed by
                # the app's reaper, or put back on the queue by the next server's start-up
                log.warning("job %s: its end was not written, the worker stops: %s", job_id, err)
                return
            if delay == 0.2:
                log.warning("job %s: cannot write its end yet, retrying until the queue is "
                            "back: %s", job_id, err)
            time.sleep(delay)
            delay = min(delay * 2, FINAL_RETRY_MAX_S)


class _Reporter(Callback):
    """Writes a running job's progress to the board after its first batch, then at most every
    PROGRESS_EVERY_S and after every epoch (with the preview), and stops training after the
    batch in progress once the job is cancelled or the worker is shutting down."""

    def __init__(self, board: JobBoard, job_id: str, inputs: torch.Tensor,
                 stop: threading.Event, stopping: threading.Event):
        self.board, self.job_id, self.inputs = board, job_id, inputs
        self.stop, self.stopping = stop, stopping
        self.trace = LossTrace()
        self.written = 0.0

    def _write(self, p: Progress) -> None:
        progress = JobProgress(epoch=p.epoch, batch=p.batch, batches=p.batches,
                               seconds=p.seconds, fraction=p.fraction,
                               trace=tuple(self.trace.points()), history=tuple(p.history))
        self.board.put(Key.progress(self.job_id), progress.to_json())
        self.written = time.monotonic()

    def on_batch(self, p: Progress) -> None:
        self.trace.add(p.epoch - 1 + p.batch / p.batches, p.loss)
        # one small read per batch: a cancel takes effect before the next batch
        if self.stopping.is_set() or self._quietly(self.board.get, Key.cancel(self.job_id)):
            self.stop.set()
        if time.monotonic() - self.written >= PROGRESS_EVERY_S or not self.written:
            self._quietly(self._write, p)

    def on_epoch(self, p: Progress) -> None:
        device = next(p.model.parameters()).device
        recon = p.model.reconstruct(self.inputs.to(device)).cpu()
        self._quietly(self.board.put, Key.preview(self.job_id),
                      JobPreview(inputs=self.inputs, recon=recon).to_json())
        self._quietly(self._write, p)

    def _quietly(self, call, *args):
        """``call(*args)``, or None while the queue's storage is out: progress is for the
        page's chart, and training goes on through a restart of Redis (the job's end is
        written once it is back)."""
        try:
            return call(*args)
        except QueueUnavailable:
            return None


# --- the worker process ----------------------------------------------------------------------

def _heartbeat(board: JobBoard, me: str, stopping: threading.Event,
               parent: int | None) -> None:
    """Say this worker is alive every second; stop the worker when its parent has gone."""
    device = str(pick_device())
    _hello(board, me)
    while not stopping.is_set():
        try:
            # the time first, then the job: a beat newer than a job's start names that job
            # for as long as this worker trains it (JobQueue._reap_silent_workers)
            at = time.time()
            board.put(Key.worker(me), {"id": me, "pid": os.getpid(),
                                       "host": socket.gethostname(), "device": device,
                                       "at": at, "job": training_now()})
            if me not in (board.get(Key.WORKERS) or []):
                _hello(board, me)       # the list was lost with the queue's storage (a restart)
        except QueueUnavailable as err:
            log.warning("%s", err.in_full())
        if parent is not None and os.getppid() != parent:
            log.warning("the app server that started this worker is gone; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
        stopping.wait(HEARTBEAT_EVERY_S)


def _hello(board: JobBoard, me: str) -> None:
    """Add this worker to the board's list of workers."""
    with board.lock():
        known = board.get(Key.WORKERS) or []
        # forget the workers that have been silent for a minute: the list stays short
        beats = board.get_many([Key.worker(w) for w in known])
        known = [w for w in known
                 if time.time() - beats.get(Key.worker(w), {}).get("at", 0) < 60]
        board.put(Key.WORKERS, [*known, me])


def run_worker(parent: int | None = None) -> int:
    """This process becomes one worker of the queue in AEDEMO_HOME (or AEDEMO_REDIS_URL),
    until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    if parent is not None:
        # beside its app server, on the same cores: the students' pages first, training in
        # what they leave (a process of its own, so this does not hold the server's GIL)
        os.nice(WORKER_NICE)
    logging.getLogger("huey").setLevel(logging.WARNING)
    huey = taskqueue.connect(default_home(), taskqueue.redis_url())
    stopping = threading.Event()
    me = worker_id()
    set_worker(huey, ModelStore(), me, stopping)
    board = _context["board"]
    try:
        board.get(Key.WORKERS)
    except QueueUnavailable as err:
        print(f"error: {err.in_full()}", file=sys.stderr)      # the teacher's own terminal
        return 1
    # SIGTERM (and SIGINT) stop the consumer gracefully: it waits for the job in progress,
    # which stops after its batch once ``stopping`` is set and goes back to the queue
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False,
                                    graceful_signal="TERM", initial_delay=0.05, max_delay=0.5)

    def stop_with_the_consumer() -> None:
        consumer.stop_flag.wait()
        stopping.set()

    threading.Thread(target=stop_with_the_consumer, daemon=True, name="aedemo-stop").start()
    threading.Thread(target=_heartbeat, args=(board, me, stopping, parent), daemon=True,
                     name="aedemo-heartbeat").start()
    log.info("%s ready, queue: %s", me, taskqueue.describe(huey))
    problem = taskqueue.persistence_problem(huey)
    if problem:
        log.warning("%s", problem)
    consumer.run()
    stopping.set()
    # Huey stops gracefully on SIGTERM only: on SIGINT (Ctrl-C in the worker's own terminal)
    # its run() returns at once and leaves its worker thread, a daemon, in the middle of a
    # batch. Wait for the job to stop after that batch and go back to the queue: a process that
    # exits under a running torch aborts ("terminate called without an active exception").
    for _, thread in consumer.worker_threads:
        thread.join(STOP_WAIT_S)
    try:
        board.delete(Key.worker(me))
    except QueueUnavailable:
        pass
    return 0
