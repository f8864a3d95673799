"""The background training service: one per server process, shared by every browser session.

Plain threads and a lock, nothing from Streamlit (Streamlit's docs on threading, option 1: worker
threads write into a lock-guarded object and the page polls ``snapshot()``). A bounded number of
workers takes jobs from a FIFO queue; a session may have only ``per_session_cap`` jobs waiting or
running; a request identical to a queued or running job attaches to it, and one identical to a
stored model is answered at once. A failure ends its own job and nothing else.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from aedemo import data as datasets
from aedemo.spec import ModelSpec, Trained, train_spec
from aedemo.store import ModelStore, StoreError
from aedemo.train import Callback, LossTrace, Progress, TrainingDiverged, TrainingStopped

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
SYSTEM = "zoo"           # the owner of the first-start zoo's jobs, which no cap limits
PREVIEW_COUNT = 10       # fixed test items whose reconstructions show training progress
FINISHED_KEPT = 200      # finished jobs remembered for their pages, oldest forgotten first


class JobError(RuntimeError):
    """A request the service refuses (queue cap, unknown job); the message is for the user."""


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for a page to read without holding any lock."""

    id: str
    spec: ModelSpec
    status: str
    owner: str
    position: int | None                 # 1-based place in the queue while queued
    epoch: int
    epochs: int
    batch: int
    batches: int
    fraction: float
    eta_seconds: float | None
    history: tuple[dict[str, Any], ...]
    batch_losses: tuple[tuple[float, float], ...]    # (epochs, training loss), for a live chart
    preview: torch.Tensor | None         # reconstructions of the fixed preview items, last epoch
    preview_inputs: torch.Tensor | None
    error: str | None
    model_id: str | None
    reused: bool
    submitted: float
    finished: float | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class _Job:
    id: str
    spec: ModelSpec
    owner: str
    submitted: float = field(default_factory=time.time)
    status: str = QUEUED
    stop: threading.Event = field(default_factory=threading.Event)
    epoch: int = 0
    batch: int = 0
    batches: int = 0
    seconds: float = 0.0
    fraction: float = 0.0
    history: tuple = ()
    trace: LossTrace = field(default_factory=LossTrace)
    preview: torch.Tensor | None = None
    preview_inputs: torch.Tensor | None = None
    error: str | None = None
    model_id: str | None = None
    reused: bool = False
    finished: float | None = None


def preview_items(spec: ModelSpec) -> torch.Tensor:
    """Fixed test items to reconstruct after each epoch: one image of each class (the first of
    each in the test set), or the first series."""
    d = datasets.load_dataset(spec.dataset, spec.kind)
    if spec.kind != "image":
        return d.x_test[:4]
    firsts = [int(torch.nonzero(d.y_test == c)[0]) for c in torch.unique(d.y_test).tolist()]
    return d.x_test[firsts[:PREVIEW_COUNT]]


class _Reporter(Callback):
    """Copies the trainer's progress into the job, under the manager's lock."""

    def __init__(self, manager: JobManager, job: _Job, inputs: torch.Tensor):
        self.manager, self.job, self.inputs = manager, job, inputs

    def on_batch(self, p: Progress) -> None:
        with self.manager._lock:
            j = self.job
            j.epoch, j.batch, j.batches, j.seconds, j.fraction = (
                p.epoch, p.batch, p.batches, p.seconds, p.fraction)
            j.trace.add(p.epoch - 1 + p.batch / p.batches, p.loss)

    def on_epoch(self, p: Progress) -> None:
        device = next(p.model.parameters()).device
        recon = p.model.reconstruct(self.inputs.to(device)).cpu()
        with self.manager._lock:
            self.job.history = tuple(p.history)
            self.job.preview = recon


Trainer = Callable[..., Trained]


class JobManager:
    def __init__(self, store: ModelStore, *, workers: int = 1, per_session_cap: int = 3,
                 trainer: Trainer = train_spec):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store = store
        self.workers = workers
        self.per_session_cap = per_session_cap
        self._trainer = trainer
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._queue: deque[_Job] = deque()
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self._closed = False

    # --- requests from sessions ------------------------------------------------------------

    def submit(self, spec: ModelSpec, owner: str) -> JobSnapshot:
        """Queue a training job for ``spec`` on behalf of session ``owner``. An identical
        active job is returned instead of a new one; a stored model ends the request at once."""
        stored = self.store.find(spec)
        with self._lock:
            if self._closed:
                raise JobError("The training service is shutting down.")
            for job in self._jobs.values():
                if job.status in ACTIVE and job.spec == spec:
                    return self._snapshot(job)
            job = _Job(id=f"job{next(self._ids)}", spec=spec, owner=owner)
            if stored is not None:
                job.status, job.model_id, job.reused = DONE, stored.id, True
                job.finished = time.time()
                self._remember(job)
                return self._snapshot(job)
            mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.status in ACTIVE)
            if owner != SYSTEM and mine >= self.per_session_cap:
                raise JobError(f"You already have {mine} training jobs waiting or running; the "
                               f"limit is {self.per_session_cap} per browser so everyone gets a "
                               f"turn. Cancel one or wait for it to finish.")
            self._remember(job)
            self._queue.append(job)
            self._start_workers()
            self._wakeup.notify()
            return self._snapshot(job)

    def cancel(self, job_id: str, owner: str) -> JobSnapshot:
        """Cancel a queued or running job; only the session that queued it may. A cancelled
        job stores nothing."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobError(f"There is no job {job_id}.")
            if job.owner != owner:
                raise JobError("Only the browser that started this job can cancel it.")
            if job.status == QUEUED:
                self._queue.remove(job)
                job.status, job.finished = CANCELLED, time.time()
                self._wakeup.notify_all()
            elif job.status == RUNNING:
                job.stop.set()        # the worker ends it between two batches
            return self._snapshot(job)

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return self._snapshot(job) if job else None

    def jobs(self, owner: str | None = None, *, active_only: bool = False) -> list[JobSnapshot]:
        """Jobs in submission order, optionally one session's or only waiting/running ones."""
        with self._lock:
            return [self._snapshot(j) for j in self._jobs.values()
                    if (owner is None or j.owner == owner)
                    and (not active_only or j.status in ACTIVE)]

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job has finished (for the CLI and the tests, never for a page)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._jobs[job_id].status in ACTIVE:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._wakeup.wait(timeout=left if left is not None else 1.0)
            return self._snapshot(self._jobs[job_id])

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the running jobs and the workers (tests; the app runs until the process ends)."""
        with self._lock:
            self._closed = True
            for job in self._queue:
                job.status, job.finished = CANCELLED, time.time()
            self._queue.clear()
            for job in self._jobs.values():
                job.stop.set()
            self._wakeup.notify_all()
        for t in self._threads:
            t.join(timeout)

    # --- inside (call with the lock held) ---------------------------------------------------

    def _remember(self, job: _Job) -> None:
        self._jobs[job.id] = job
        finished = [j for j in self._jobs.values() if j.status not in ACTIVE]
        for old in finished[:max(0, len(finished) - FINISHED_KEPT)]:
            del self._jobs[old.id]

    def _snapshot(self, job: _Job) -> JobSnapshot:
        position = None
        if job.status == QUEUED:
            position = next(i for i, j in enumerate(self._queue, 1) if j is job)
        eta = None
        if job.status == RUNNING and job.fraction > 0:
            eta = job.seconds * (1 - job.fraction) / job.fraction
        return JobSnapshot(
            id=job.id, spec=job.spec, status=job.status, owner=job.owner, position=position,
            epoch=job.epoch, epochs=job.spec.train.epochs, batch=job.batch, batches=job.batches,
            fraction=1.0 if job.status == DONE else job.fraction, eta_seconds=eta,
            history=job.history, batch_losses=job.trace.points(), preview=job.preview,
            preview_inputs=job.preview_inputs,
            error=job.error, model_id=job.model_id, reused=job.reused, submitted=job.submitted,
            finished=job.finished)

    def _start_workers(self) -> None:
        # Started on the first submit, never per page rerun: the manager itself is created once.
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._work, name=f"aedemo-worker-{len(self._threads)}",
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wakeup.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                job.status = RUNNING
            self._run(job)
            with self._lock:
                job.finished = time.time()
                self._wakeup.notify_all()

    def _run(self, job: _Job) -> None:
        """Train, store, and record the outcome; whatever goes wrong stays inside this job."""
        status, error, model_id = FAILED, None, None
        try:
            inputs = preview_items(job.spec)
            with self._lock:
                job.preview_inputs = inputs
            trained = self._trainer(job.spec, callbacks=(_Reporter(self, job, inputs),),
                                    stop=job.stop)
            if job.stop.is_set():
                raise TrainingStopped()
            model_id = self.store.save(job.spec, trained, owner=job.owner).id
            status = DONE
        except TrainingStopped:
            status = CANCELLED
        except (TrainingDiverged, StoreError, datasets.DataError) as err:
            error = str(err)
        except Exception as err:  # a bug must not take the worker, or other jobs, down with it
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            error = f"Training failed unexpectedly: {type(err).__name__}: {err}"
        with self._lock:
            job.status, job.error, job.model_id = status, error, model_id
