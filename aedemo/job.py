"""A training job in one form: the ``Job`` record that the app (aedemo.jobs) and the workers
(aedemo.workers) both read and write on the job board (aedemo.taskqueue), as JSON of ours.

One record per job (``Key.record``), written under the board's lock by whoever changes it: the
app server that submits or cancels it, the worker that runs or finishes it. Beside it the worker
keeps the job's progress (``JobProgress``: epoch, batch, the live loss trace, the finished epochs)
its preview reconstructions (``JobPreview``) and the latest frame of its latent map
(``JobFrame``), each under a key of its own, as they change
with every batch and need no lock. A ``Job`` read for a page carries both, and its place in the
queue; what is stored under ``Key.record`` is the record alone (``Job.to_json``).

A job records every student who asked for it (``askers``) and whose its model will be
(``owner``: the first of them who still wants it), stored with every change of the askers.
"""

from __future__ import annotations

import base64
import enum
import os
import socket
import time
import uuid
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from aedemo.errors import Explained
from aedemo.spec import ModelSpec
from aedemo.taskqueue import JobBoard, Key


class Status(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (Status.QUEUED, Status.RUNNING)


QUEUED, RUNNING, DONE, FAILED, CANCELLED = Status
SYSTEM = "zoo"           # the owner of the first-start zoo's jobs, which no cap limits
TEACHER = "teacher"      # who cancelled a job for everyone (a student's cancel names the student)
HEARTBEAT_EVERY_S = 1.0  # how often a worker says it is alive
HEARTBEAT_STALE_S = 8.0  # a worker silent this long has died
TASK_NAME = "aedemo.train"
RESTART_PRIORITY = 10    # Huey's priority of a job put back by a restart: it goes first
INTERRUPTED = "interrupted by a restart of the server; it trains again from the start"
WORKER_DIED = ("The training worker stopped in the middle of this job (it was killed, or ran "
               "out of memory), so nothing was stored. The queue goes on with a fresh worker; "
               "start the job again, perhaps with a smaller batch or bottleneck.")
OUT_OF_MEMORY = ("Training ran out of memory, so nothing was stored. Start it again with a "
                 "smaller batch or bottleneck.")
UNEXPECTED = ("Training failed unexpectedly, so nothing was stored; the server's log says why. "
              "Start it again, or tell the teacher.")
LOST = "This job was lost when the job queue restarted; start it again."
NOT_TRAINED = ("The training worker no longer trains this job (it lost touch with the job "
               "queue while it trained), so nothing was stored. Start it again.")


class JobError(Explained):
    """A request the service refuses (queue cap, unknown job, queue down); the message is for
    the user, a ``detail`` (where the queue or the store is) for the teacher and the log."""


class QueueProblem(str, enum.Enum):
    """What keeps jobs from running, when the queue itself is reachable: a sentence for the
    sidebar and the Train page (``str()`` of it), compared by member, never by its words."""

    NO_WORKER = ("No training worker is running, so jobs wait in the queue. Start one on this "
                 "machine or another with `python -m aedemo worker`.")
    WORKER_STARTING = "The training worker is starting…"
    WORKERS_STARTING = "The training workers are starting…"

    def __str__(self) -> str:
        return self.value


def worker_id(pid: int | None = None) -> str:
    """A worker's id in its heartbeat and the records of the jobs it trains: its machine and
    process (this one's by default)."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


@dataclass(frozen=True)
class Heartbeats:
    """The workers' heartbeats (by Key.worker), read with the time the queue's storage last
    started. A worker cannot beat while Redis restarts, so a beat counts from that start if it
    is older: every worker has HEARTBEAT_STALE_S from Redis's return to beat again (a restart
    longer than that used to fail every running job as if its worker had died)."""

    beats: dict[str, dict]
    storage_up_since: float = 0.0

    def fresh(self, beat: dict | None, now: float | None = None) -> bool:
        """Whether a worker's heartbeat says it is alive: written less than HEARTBEAT_STALE_S
        ago, or before a restart of the storage less than that ago."""
        if beat is None:
            return False
        since = max(beat["at"], self.storage_up_since)
        return (now or time.time()) - since < HEARTBEAT_STALE_S

    def of(self, worker: str | None) -> dict | None:
        return self.beats.get(Key.worker(worker or ""))

    def alive(self) -> list[dict]:
        return [b for b in self.beats.values() if self.fresh(b)]


def abandoned(job: Job, heartbeats: Heartbeats) -> bool:
    """Whether no worker trains this RUNNING job: its worker is silent, or its heartbeat,
    newer than the job's start by a beat, names another job or none (the worker lost the
    queue while it trained and has moved on)."""
    beat = heartbeats.of(job.worker)
    if not heartbeats.fresh(beat):
        return True
    if "job" not in beat:
        return False                     # a worker of a version without it: trust it
    started = job.started or job.submitted
    return beat["at"] > started + HEARTBEAT_EVERY_S and beat["job"] != job.id


def _tensor(value: dict) -> torch.Tensor:
    return torch.tensor(value["values"], dtype=torch.float32).view(value["shape"])


def _plain(t: torch.Tensor) -> dict:
    t = t.detach().cpu().float()
    return {"shape": list(t.shape), "values": [round(v, 4) for v in t.flatten().tolist()]}


@dataclass(frozen=True)
class JobProgress:
    """How far a running job is, as its worker last wrote it (train.Progress, made plain)."""

    epoch: int = 0
    batch: int = 0
    batches: int = 0
    seconds: float = 0.0                 # training time so far
    fraction: float = 0.0
    trace: tuple[tuple[float, float], ...] = ()      # (epochs, training loss), for a live chart
    history: tuple[dict[str, Any], ...] = ()         # one row per finished epoch

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "batches": self.batches,
                "seconds": self.seconds, "fraction": self.fraction,
                "trace": [list(p) for p in self.trace], "history": list(self.history)}

    @classmethod
    def from_json(cls, value: dict | None) -> JobProgress:
        if not value:
            return cls()
        return cls(epoch=value.get("epoch", 0), batch=value.get("batch", 0),
                   batches=value.get("batches", 0), seconds=value.get("seconds", 0.0),
                   fraction=value.get("fraction", 0.0),
                   trace=tuple(tuple(p) for p in value.get("trace", ())),
                   history=tuple(value.get("history", ())))


@dataclass(frozen=True)
class JobPreview:
    """The fixed preview items and their reconstructions after the last finished epoch."""

    inputs: torch.Tensor
    recon: torch.Tensor

    def to_json(self) -> dict:
        return {"inputs": _plain(self.inputs), "recon": _plain(self.recon)}

    @classmethod
    def from_json(cls, value: dict | None) -> JobPreview | None:
        if not value:
            return None
        return cls(inputs=_tensor(value["inputs"]), recon=_tensor(value["recon"]))


@dataclass(frozen=True)
class JobFrame:
    """The latest frame of a training job's latent map (aedemo.latent_frames): where the fixed
    sample of test digits lies now, in 2-D, and their digits. Only the latest travels, each
    time over the queue's storage, so it is packed small: float16 points and uint8 labels as
    base64, about 3.4 kB for 500 digits where JSON lists of rounded numbers take 10 kB."""

    at: float                 # epochs of training, fractional
    points: np.ndarray        # (N, 2)
    labels: np.ndarray        # (N,)

    def to_json(self) -> dict:
        return {"at": self.at,
                "points": base64.b64encode(self.points.astype("<f2").tobytes()).decode(),
                "labels": base64.b64encode(self.labels.astype(np.uint8).tobytes()).decode()}

    @classmethod
    def from_json(cls, value: dict | None) -> JobFrame | None:
        """The frame, or None when there is none or it does not hold together."""
        if not value:
            return None
        try:
            points = np.frombuffer(base64.b64decode(value["points"], validate=True),
                                   "<f2").reshape(-1, 2)
            labels = np.frombuffer(base64.b64decode(value["labels"], validate=True), np.uint8)
            at = float(value["at"])
        except (KeyError, TypeError, ValueError):
            return None
        if not len(points) or len(points) != len(labels) or not np.isfinite(points).all():
            return None
        return cls(at=at, points=points.astype(np.float32), labels=labels)


@dataclass(frozen=True)
class Job:
    """One training job. The fields up to ``cancelled_by`` are its record on the board; the
    last four are read beside it for a page (see the module's docstring)."""

    id: str
    spec: ModelSpec
    status: Status
    owner: str                           # whose the model will be: askers[0], kept with them
    askers: tuple[str, ...]              # every student who asked for it and still wants it
    addresses: tuple[tuple[str, str | None], ...]    # (asker, their computer's address)
    submitted: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    model_id: str | None = None
    reused: bool = False                 # answered by a stored model, never queued
    note: str | None = None              # e.g. that a restart interrupted it
    worker: str | None = None            # the worker training it (workers.worker_id)
    cancelled_by: str | None = None      # TEACHER, or the student who took back the last request
    progress: JobProgress = field(default=JobProgress(), compare=False)
    reconstructions: JobPreview | None = field(default=None, compare=False)
    position: int | None = field(default=None, compare=False)   # 1-based, while queued
    latent: JobFrame | None = field(default=None, compare=False)   # the latest map frame

    @classmethod
    def new(cls, spec: ModelSpec, owner: str, address: str | None) -> Job:
        """A job just asked for by ``owner``, from ``address``: queued, with a fresh id."""
        return cls(id=f"job-{uuid.uuid4().hex[:12]}", spec=spec, status=QUEUED, owner=owner,
                   askers=(owner,), addresses=((owner, address),), submitted=time.time())

    def to_json(self) -> dict:
        return {"id": self.id, "spec": self.spec.to_dict(), "status": self.status.value,
                "owner": self.owner, "askers": list(self.askers),
                "addresses": dict(self.addresses), "submitted": self.submitted,
                "started": self.started, "finished": self.finished, "error": self.error,
                "model_id": self.model_id, "reused": self.reused, "note": self.note,
                "worker": self.worker, "cancelled_by": self.cancelled_by}

    @classmethod
    def from_json(cls, value: dict) -> Job:
        askers = tuple(value.get("askers") or (value["owner"],))     # a record from before askers
        # an earlier version kept the first asker as owner after they withdrew
        owner = value["owner"] if value["owner"] in askers else askers[0]
        return cls(id=value["id"], spec=ModelSpec.from_dict(value["spec"]),
                   status=Status(value["status"]), owner=owner, askers=askers,
                   addresses=tuple((value.get("addresses") or {}).items()),
                   submitted=value["submitted"], started=value.get("started"),
                   finished=value.get("finished"), error=value.get("error"),
                   model_id=value.get("model_id"), reused=value.get("reused", False),
                   note=value.get("note"), worker=value.get("worker"),
                   cancelled_by=value.get("cancelled_by"))

    # --- who wants it ----------------------------------------------------------------------

    def joined(self, asker: str, address: str | None) -> Job:
        return replace(self, askers=(*self.askers, asker),
                       addresses=(*self.addresses, (asker, address)))

    def withdrawn(self, asker: str) -> Job:
        """Without ``asker``'s request: the job goes on for the others, and its model is the
        next asker's."""
        askers = tuple(a for a in self.askers if a != asker)
        return replace(self, askers=askers, owner=askers[0],
                       addresses=tuple(p for p in self.addresses if p[0] != asker))

    @property
    def active(self) -> bool:
        return self.status.active

    def asked_by(self, student: str) -> bool:
        return student in self.askers

    def shared_with(self, student: str) -> int:
        """How many others (students, or the zoo) want this job besides ``student``."""
        return len([a for a in self.askers if a != student])

    # --- its progress, as the pages read it --------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.progress.epoch

    @property
    def epochs(self) -> int:
        return self.spec.train.epochs

    @property
    def batch(self) -> int:
        return self.progress.batch

    @property
    def batches(self) -> int:
        return self.progress.batches

    @property
    def fraction(self) -> float:
        return 1.0 if self.status is DONE else self.progress.fraction

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left while it runs, at its pace so far; None before its first batch."""
        if self.status is not RUNNING or self.fraction <= 0:
            return None
        return self.progress.seconds * (1 - self.fraction) / self.fraction

    @property
    def history(self) -> tuple[dict[str, Any], ...]:
        return self.progress.history

    @property
    def batch_losses(self) -> tuple[tuple[float, float], ...]:
        return self.progress.trace

    @property
    def preview(self) -> torch.Tensor | None:
        return self.reconstructions.recon if self.reconstructions else None

    @property
    def preview_inputs(self) -> torch.Tensor | None:
        return self.reconstructions.inputs if self.reconstructions else None


# --- what the app and the workers both do to a record on the board -----------------------------

def read_job(board: JobBoard, job_id: str) -> Job | None:
    value = board.get(Key.record(job_id))
    return Job.from_json(value) if value else None


def write_job(board: JobBoard, job: Job) -> None:
    board.put(Key.record(job.id), job.to_json())


def finish(board: JobBoard, job: Job, status: Status, *, error: str | None = None,
           model_id: str | None = None) -> Job:
    """Record a job's end (call with the board's lock held): its status, and the spec free for
    a new job."""
    job = replace(job, status=status, error=error, model_id=model_id, finished=time.time())
    write_job(board, job)
    board.delete(Key.cancel(job.id))
    if board.get(Key.active(job.spec.key)) == job.id:
        board.delete(Key.active(job.spec.key))
    return job


def requeue(board: JobBoard, job: Job) -> None:
    """Put an interrupted job back at the head of the queue (call with the lock held)."""
    write_job(board, replace(job, status=QUEUED, worker=None, note=INTERRUPTED))
    board.delete(Key.progress(job.id))
    board.delete(Key.preview(job.id))
    board.delete(Key.frame(job.id))
    enqueue(board.huey, job.id, priority=RESTART_PRIORITY)


def enqueue(huey, job_id: str, priority: int | None = None) -> None:
    """Put a job's task on Huey's queue; the task's id is the job's, so that cancelling can
    revoke it by that id."""
    huey.enqueue(register_task(huey).s(job_id, id=job_id, priority=priority))


def _run(job_id: str) -> None:
    """Huey's task: a worker trains the job. Imported here, in the worker only: the app, which
    registers the same task to enqueue it, never loads the trainer for a job."""
    from aedemo.workers import train_job

    train_job(job_id)


_tasks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register_task(huey):
    """The one task, registered once per Huey instance under one name in the app and the
    workers alike."""
    if huey not in _tasks:
        _tasks[huey] = huey.task(name=TASK_NAME)(_run)
    return _tasks[huey]
