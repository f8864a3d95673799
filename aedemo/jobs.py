"""Training jobs through the queue (aedemo.taskqueue): the app submits, watches and cancels them;
worker processes (aedemo.workers) run them. The web server never runs a training step.

One record per job on the shared board (``job:<id>``), written under the board's lock by
whoever changes it: the app server that submits or cancels it, the worker that runs or
finishes it. Beside it the worker keeps the job's progress (``job:<id>:progress``: epoch,
batch, the live loss trace, the finished epochs) and its preview reconstructions
(``job:<id>:preview``), and the app sets ``job:<id>:cancel`` to stop it, which the worker
reads after every batch. ``active:<spec key>`` points to the one active job for a spec, so two
requests for the same settings share a job, across app servers too.

A job records every student who asked for it (``askers``): an identical request joins the
active job and is told it is shared; cancelling takes back only the canceller's own request,
and the job stops once nobody wants it (the teacher may stop any job, or all of them). A student
may have ``per_student_cap`` jobs waiting or running, a joined one included, and the whole queue
holds at most ``queue_cap`` students' jobs; a request identical to a stored model is answered at
once. A failure ends its own job and nothing else: a worker that
dies mid-job (killed, out of memory) fails that job with a plain reason, and the queue goes on
with a fresh worker. A job cut short by a restart goes back to the head of the queue.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aedemo import data as datasets
from aedemo.errors import Explained
from aedemo.spec import ModelSpec, seconds_per_image, train_spec, work_seconds
from aedemo.store import ModelStore, StoreError
from aedemo.taskqueue import Board, QueueUnavailable
from aedemo.train import Callback, LossTrace, Progress, TrainingDiverged, TrainingStopped

log = logging.getLogger(__name__)


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
ACTIVE = (QUEUED, RUNNING)
SYSTEM = "zoo"           # the owner of the first-start zoo's jobs, which no cap limits
TEACHER = "teacher"      # who cancelled a job for everyone (a student's cancel names the student)
PREVIEW_COUNT = 10       # fixed test items whose reconstructions show training progress
FINISHED_KEPT = 200      # jobs remembered for their pages, the oldest finished forgotten first
PROGRESS_EVERY_S = 0.5   # how often a worker writes a running job's progress
HEARTBEAT_EVERY_S = 1.0  # how often a worker says it is alive
HEARTBEAT_STALE_S = 8.0  # a worker silent this long has died
SNAPSHOT_TTL_S = 0.5     # every session polls every second: read the board once for them all
FINAL_RETRY_MAX_S = 5.0  # the longest wait between a worker's tries of a job's last write
LOST_AFTER_S = 20.0      # a waiting job whose task has been out of the queue this long was lost
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


def record_key(job_id: str) -> str:
    return f"job:{job_id}"


def progress_key(job_id: str) -> str:
    return f"job:{job_id}:progress"


def preview_key(job_id: str) -> str:
    return f"job:{job_id}:preview"


def cancel_key(job_id: str) -> str:
    return f"job:{job_id}:cancel"


def worker_key(worker_id: str) -> str:
    return f"worker:{worker_id}"


INDEX_KEY = "jobs"                 # job ids in submission order
WORKERS_KEY = "workers"            # the ids of every worker that has said hello


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for a page to read."""

    id: str
    spec: ModelSpec
    status: Status
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
    note: str | None = None              # e.g. that a restart interrupted it
    askers: tuple[str, ...] = ()         # every student who asked for it and still wants it
    cancelled_by: str | None = None      # TEACHER, or the student who took back the last request

    @property
    def active(self) -> bool:
        return self.status.active

    def asked_by(self, student: str) -> bool:
        return student in self.askers

    def shared_with(self, student: str) -> int:
        """How many others (students, or the zoo) want this job besides ``student``."""
        return len([a for a in self.askers if a != student])


def preview_items(spec: ModelSpec) -> torch.Tensor:
    """Fixed test items to reconstruct after each epoch: one image of each class (the first of
    each in the test set), or the first series."""
    d = datasets.load_dataset(spec.dataset, spec.kind)
    if spec.kind != "image":
        return d.x_test[:4]
    firsts = [int(torch.nonzero(d.y_test == c)[0]) for c in torch.unique(d.y_test).tolist()]
    return d.x_test[firsts[:PREVIEW_COUNT]]


# --- how long a wait in the queue is ------------------------------------------------------------

def measured_seconds(job: JobSnapshot) -> float | None:
    """A running job's whole training time as measured so far: its seconds per batch times its
    batches (what its ETA is computed from); None before its first batch."""
    if job.status is not RUNNING or job.eta_seconds is None or not 0 < job.fraction < 1:
        return None
    # eta = elapsed * (1 - f) / f, so the whole time, elapsed / f, is eta / (1 - f)
    return job.eta_seconds / (1 - job.fraction)


def duration_estimate(spec: ModelSpec, measured: Sequence[tuple[ModelSpec, float]]
                      ) -> float | None:
    """Seconds that training ``spec`` will take, from the most alike of ``measured`` (spec,
    seconds) pairs: stored models (their "seconds") and running jobs (measured_seconds), scaled
    by their work (its epochs, and per image the batch's share of a step and the network's
    size: spec.seconds_per_image). Alike means the same variant, dataset and one-class-ness
    (what sets the images per epoch), then the same batch size, then the nearest bottleneck.
    None when nothing alike was measured: a guess from another variant would be a number in
    the wrong units."""
    alike = [(other, seconds) for other, seconds in measured
             if other.variant == spec.variant and other.dataset == spec.dataset
             and bool(other.normal) == bool(spec.normal) and seconds > 0]
    if not alike:
        return None
    other, seconds = min(alike, key=lambda pair: (
        pair[0].train.batch_size != spec.train.batch_size,
        abs(math.log2(pair[0].latent_dim / spec.latent_dim))))
    return (seconds / (other.train.epochs * seconds_per_image(other))
            * spec.train.epochs * seconds_per_image(spec))



def cost_estimate(spec: ModelSpec, measured: Sequence[tuple[ModelSpec, float]],
                  n_train: int) -> float:
    """Seconds that training ``spec`` on ``n_train`` images will take on this worker: from
    what it measured of alike jobs (duration_estimate), else from the work alone at the
    reference machine's speed (spec.work_seconds), so a job never goes unbounded for lack of
    a measurement."""
    estimate = duration_estimate(spec, measured)
    return estimate if estimate is not None else work_seconds(spec, n_train)


def duration_words(seconds: float) -> str:
    """A coming wait as a person says it: "about 40 s", "about 3 min", "about 1 h 5 min"."""
    if seconds < 60:
        return f"about {max(5, math.ceil(seconds / 5) * 5)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")

def wait_estimate(job: JobSnapshot, active: Sequence[JobSnapshot],
                  measured: Sequence[tuple[ModelSpec, float]], workers: int = 1
                  ) -> tuple[int, float | None]:
    """For a queued ``job``: how many jobs will train before it starts (the running ones and
    those ahead of it in the queue, from ``active``), and about how many seconds until it
    starts: each running job's own ETA, plus for each waiting job ahead the duration_estimate
    from ``measured``, shared among ``workers``. The seconds are None when any of those jobs
    has no estimate, or no worker is there: then only the number of jobs can be said."""
    ahead = [j for j in active if j.id != job.id and (
        j.status is RUNNING or (j.status is QUEUED and j.position is not None
                                and job.position is not None and j.position < job.position))]
    left = []
    for j in ahead:
        seconds = j.eta_seconds if j.status is RUNNING else None
        left.append(seconds if seconds is not None else duration_estimate(j.spec, measured))
    if workers < 1 or any(s is None for s in left):
        return len(ahead), None
    return len(ahead), sum(left) / workers


def _tensor(value: dict | None) -> torch.Tensor | None:
    if not value:
        return None
    return torch.tensor(value["values"], dtype=torch.float32).view(value["shape"])


def _plain(t: torch.Tensor) -> dict:
    t = t.detach().cpu().float()
    return {"shape": list(t.shape), "values": [round(v, 4) for v in t.flatten().tolist()]}


# --- the app's side ----------------------------------------------------------------------------

class JobQueue:
    """What an app server does with jobs: submit, watch, cancel. Workers run them."""

    def __init__(self, store: ModelStore, huey, *, per_student_cap: int = 3,
                 queue_cap: int = 20, per_address_cap: int = 3):
        self.store = store
        self.huey = huey
        self.board = Board(huey)
        self.task = register_task(huey)            # for enqueueing; it runs in the workers
        self.per_student_cap = per_student_cap
        self.queue_cap = queue_cap
        self.per_address_cap = per_address_cap
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()
        # the active jobs this server's sessions asked for, by id, as they were submitted: a
        # queue's storage that restarts without persistence forgets them silently, and their
        # students must hear it (_find_lost); in memory, as it is what the storage may lose
        self._submitted: dict[str, dict] = {}
        self._missing_since: dict[str, float] = {}     # job id: when first seen out of the queue

    # --- requests from sessions ------------------------------------------------------------

    def submit(self, spec: ModelSpec, owner: str, address: str | None = None) -> JobSnapshot:
        """Queue a training job for ``spec`` on behalf of student ``owner``, whose browser is
        at ``address`` (roles.THIS_MACHINE for the server's own; None: no computer's, the teacher's,
        the zoo's or the command line's, which the cap per computer does not count). An
        identical active job is joined instead (``owner`` is added to its askers); a stored
        model ends the request at once."""
        stored = self.store.find(spec)
        with self._queue_errors(), self.board.lock():
            active_id = self.board.get(f"active:{spec.key}")
            active = self.board.get(record_key(active_id)) if active_id else None
            if active is not None and Status(active["status"]).active:
                if owner not in _askers(active):
                    self._check_caps(owner, address, joining=True)
                    active["askers"] = [*_askers(active), owner]
                    active["addresses"] = {**active.get("addresses", {}), owner: address}
                    self.board.put(record_key(active["id"]), active)
                    self._forget_cache()
                self._submitted.setdefault(active["id"], active)
                return self._snapshot(active)
            job = {"id": f"job-{uuid.uuid4().hex[:12]}", "spec": spec.to_dict(), "owner": owner,
                   "askers": [owner], "addresses": {owner: address},
                   "status": QUEUED, "submitted": time.time(),
                   "finished": None, "error": None, "model_id": None, "reused": False,
                   "note": None, "worker": None}
            if stored is not None:
                job.update(status=DONE, model_id=stored.id, reused=True, finished=time.time())
                self._remember(job)
                return self._snapshot(job)
            self._check_caps(owner, address)
            self._remember(job)
            self._submitted[job["id"]] = job
            self.board.put(f"active:{spec.key}", job["id"])
            # the Huey task's id is the job's, so that cancelling can revoke it by that id
            self.huey.enqueue(self.task.s(job["id"], id=job["id"]))
        self._forget_cache()
        return self._snapshot(job)

    def _check_caps(self, owner: str, address: str | None = None, *,
                    joining: bool = False) -> None:
        """Refuse a student's request (call with the board's lock held) when the store cannot
        take a model, the student (or the machine they use) already has their share of jobs, or
        the queue is full. The student is a cookie, which a browser can clear: the cap per
        address keeps one laptop from taking the whole queue under ever new ids. The
        zoo's jobs are the lesson's own: no cap applies to them, but a store that cannot take
        their models refuses them too, rather than let them train for nothing."""
        problem = self.store.unwritable()
        if problem:
            raise JobError(problem)
        if owner == SYSTEM:
            return
        active = [r for r in self._records() if Status(r["status"]).active]
        mine = [r for r in active if owner in _askers(r)]
        if len(mine) >= self.per_student_cap:
            raise JobError(
                f"You already have {len(mine)} training jobs waiting or running; the limit is "
                f"{self.per_student_cap} per student so everyone gets a turn. Cancel one or "
                f"wait for it to finish.")
        # Every address counts, loopback too: this machine's browser is one computer, and a
        # proxy on it must forward the client's address (see the README). No address: the
        # teacher, whom students behind the same address (a proxy, a shared laptop) must not
        # keep from showing a job to the class; the per-student cap still holds for them.
        if address and self.per_address_cap:
            here = [r for r in active if address in r.get("addresses", {}).values()]
            if len(here) >= self.per_address_cap:
                raise JobError(
                    f"This computer already has {len(here)} training jobs waiting or running; "
                    f"the limit is {self.per_address_cap} per computer so everyone gets a "
                    f"turn. Cancel one or wait for it to finish.")
        students = [r for r in active if r["status"] == QUEUED and _owner(r) != SYSTEM]
        if not joining and len(students) >= self.queue_cap:
            raise JobError(
                f"The training queue is full: {len(students)} jobs are waiting. Try again when "
                f"some have finished, or pick a model that is already stored.")

    def cancel(self, job_id: str, owner: str, *, teacher: bool = False) -> JobSnapshot:
        """Take back ``owner``'s request for a job. A job that nobody else wants any more is
        cancelled: a queued job is taken off the queue, a running one stops after the batch in
        progress, and nothing is stored. The teacher cancels it for everyone."""
        with self._queue_errors():
            job = self.board.get(record_key(job_id))
            if job is None:
                raise JobError(f"There is no job {job_id}.")
            if not teacher and owner not in _askers(job):
                raise JobError("Only a student who asked for this job, or the teacher, can "
                               "cancel it.")
            with self.board.lock():
                job = self.board.get(record_key(job_id))
                if not Status(job["status"]).active:
                    pass                                  # it ended meanwhile
                elif not teacher and [a for a in _askers(job) if a != owner]:
                    # others want it: it goes on for them, and its model will be theirs
                    job["askers"] = [a for a in _askers(job) if a != owner]
                    job["addresses"] = {k: v for k, v in job.get("addresses", {}).items()
                                        if k != owner}
                    self.board.put(record_key(job_id), job)
                else:
                    self._stop(job, TEACHER if teacher else owner)
        self._forget_cache()
        return self._snapshot(job)

    def clear(self) -> int:
        """The teacher empties the queue: every waiting job is cancelled and the running ones
        stop after their batch in progress. How many jobs were stopped."""
        with self._queue_errors(), self.board.lock():
            active = [r for r in self._records() if Status(r["status"]).active]
            for job in active:
                self._stop(job, TEACHER)
        self._forget_cache()
        return len(active)

    def _stop(self, job: dict, by: str) -> None:
        """Cancel a job for everyone on behalf of ``by`` (TEACHER or a student), which its
        record keeps so its page can say who stopped it (call with the board's lock held)."""
        job["cancelled_by"] = by
        if job["status"] == QUEUED:
            self.huey.revoke_by_id(job["id"])            # never started, then
            _finish(self.board, job, CANCELLED)
        elif job["status"] == RUNNING and not self._abandoned(job, self._heartbeats()):
            self.board.put(record_key(job["id"]), job)     # the worker finishes this record
            self.board.put(cancel_key(job["id"]), True)
        elif job["status"] == RUNNING:
            # no worker trains it any more, so none would read a cancel flag: it ends now
            _finish(self.board, job, CANCELLED)

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        with self._queue_errors():
            self._cached("reaped", self._reap_silent_workers)
            job = self._cached(("job", job_id), lambda: self.board.get(record_key(job_id)))
            return self._snapshot(job) if job else None

    def jobs(self, owner: str | None = None, *, active_only: bool = False) -> list[JobSnapshot]:
        """Jobs in submission order, optionally only those one student asked for or only
        waiting/running ones."""
        with self._queue_errors():
            self._cached("reaped", self._reap_silent_workers)
            records = self._cached("records", self._records)
            return [self._snapshot(j) for j in records
                    if (owner is None or owner in _askers(j))
                    and (not active_only or Status(j["status"]).active)]

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job has finished (for the CLI and the tests, never for a page)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._forget_cache()
            snap = self.snapshot(job_id)
            if snap is None or not snap.active or (deadline and time.monotonic() > deadline):
                return snap
            time.sleep(0.1)

    # --- the workers, as the app sees them -------------------------------------------------

    def live_workers(self) -> list[dict]:
        """The workers that said they were alive in the last HEARTBEAT_STALE_S seconds."""
        with self._queue_errors():
            beats = self._cached("workers", self._heartbeats)
        return [b for b in beats.values() if time.time() - b["at"] < HEARTBEAT_STALE_S]

    def _heartbeats(self) -> dict[str, dict]:
        ids = self.board.get(WORKERS_KEY) or []
        return self.board.get_many([worker_key(w) for w in ids])

    def problem(self) -> str | JobError | None:
        """What keeps jobs from running, for the sidebar and the Train page: the queue out of
        reach (an error, with its detail for the teacher), or no worker to take the jobs."""
        try:
            if not self.live_workers():
                return ("No training worker is running, so jobs wait in the queue. Start one "
                        "on this machine or another with `python -m aedemo worker`.")
        except JobError as err:
            return err
        return None

    def worker_died(self, worker_id: str) -> None:
        """A worker process ended without finishing its job: fail the job, plainly."""
        with self._queue_errors(), self.board.lock():
            for job in self._records():
                if job["status"] == RUNNING and job.get("worker") == worker_id:
                    _finish(self.board, job, FAILED, error=WORKER_DIED)
        self._forget_cache()

    def recover(self) -> list[str]:
        """At start-up: jobs left running by a server that stopped, whose worker is gone, go
        back to the head of the queue, marked as interrupted. The ids of those jobs."""
        alive = {b["id"] for b in self.live_workers()}
        moved = []
        with self._queue_errors(), self.board.lock():
            for job in self._records():
                if job["status"] == RUNNING and job.get("worker") not in alive:
                    _requeue(self.board, self.huey, self.task, job)
                    moved.append(job["id"])
        self._forget_cache()
        return moved

    # --- inside ----------------------------------------------------------------------------

    def _records(self) -> list[dict]:
        ids = self.board.get(INDEX_KEY) or []
        found = self.board.get_many([record_key(i) for i in ids])
        return [found[record_key(i)] for i in ids if record_key(i) in found]

    def _reap_silent_workers(self) -> bool:
        """Fail the running jobs whose worker has fallen silent (a worker on another machine
        that died, which no supervisor of ours saw end) or no longer trains them (it lost the
        queue while it trained), and the jobs lost with the queue's storage (_find_lost)."""
        records = self._records()
        lost = self._find_lost(records)
        running = [j for j in records if j["status"] == RUNNING and j.get("worker")]
        beats = self._heartbeats() if running else {}
        ended = [j["id"] for j in running if self._abandoned(j, beats)]
        if ended or lost:
            with self.board.lock():
                beats = self._heartbeats() if ended else {}
                for job_id in ended:
                    job = self.board.get(record_key(job_id))
                    if job and job["status"] == RUNNING and self._abandoned(job, beats):
                        alive = time.time() - beats.get(worker_key(job["worker"]), {}).get(
                            "at", 0) < HEARTBEAT_STALE_S
                        _finish(self.board, job, FAILED,
                                error=NOT_TRAINED if alive else WORKER_DIED)
                for job in lost:
                    now = self.board.get(record_key(job["id"]))
                    if now is None:
                        # gone with the storage: put back, so its student's pages can say so
                        self._remember({**job, "status": FAILED})
                        now = {**job, "status": QUEUED}
                    if now["status"] == QUEUED and job["id"] not in self.board.queued_ids():
                        _finish(self.board, now, FAILED, error=LOST)
                        log.warning("job %s was lost by the job queue's storage (a restart "
                                    "without persistence?); its student is told", job["id"])
            self._forget_cache()
        return bool(ended or lost)

    @staticmethod
    def _abandoned(job: dict, beats: dict[str, dict]) -> bool:
        """Whether no worker trains this RUNNING job: its worker is silent, or its heartbeat,
        newer than the job's start by a beat, names another job or none (the worker lost the
        queue while it trained and has moved on)."""
        beat = beats.get(worker_key(job.get("worker") or ""))
        if beat is None or time.time() - beat["at"] >= HEARTBEAT_STALE_S:
            return True
        if "job" not in beat:
            return False                     # a worker of a version without it: trust it
        started = job.get("started", job["submitted"])
        return beat["at"] > started + HEARTBEAT_EVERY_S and beat["job"] != job["id"]

    def _find_lost(self, records: list[dict]) -> list[dict]:
        """The jobs this server submitted that the queue's storage lost (Redis restarted
        without persistence, or flushed): a waiting job whose record has vanished, or whose
        Huey task has been out of the queue for LOST_AFTER_S with no worker running it."""
        now = time.monotonic()
        seen = {r["id"]: r for r in records}
        waiting = {r["id"] for r in records if r["status"] == QUEUED}
        queued = set(self.board.queued_ids()) if waiting or self._submitted else set()
        lost = []
        for job_id, job in list(self._submitted.items()):
            current = seen.get(job_id)
            if current is not None and not Status(current["status"]).active:
                self._submitted.pop(job_id, None)     # it ended: nothing to watch
                continue
            missing = current is None or (current["status"] == QUEUED and job_id not in queued)
            if not missing:
                self._missing_since.pop(job_id, None)
                continue
            # a worker takes a task off the queue a moment before its record says RUNNING
            since = self._missing_since.setdefault(job_id, now)
            if current is None or now - since >= LOST_AFTER_S:
                lost.append(current or job)
                self._submitted.pop(job_id, None)
                self._missing_since.pop(job_id, None)
        return lost

    def _remember(self, job: dict) -> None:
        """Store a new job's record and add it to the index, forgetting the oldest finished
        jobs beyond FINISHED_KEPT (with their progress)."""
        self.board.put(record_key(job["id"]), job)
        ids = [*(self.board.get(INDEX_KEY) or []), job["id"]]
        if len(ids) > FINISHED_KEPT:
            records = self.board.get_many([record_key(i) for i in ids])
            finished = [i for i in ids if record_key(i) in records
                        and not Status(records[record_key(i)]["status"]).active]
            for old in finished[:len(ids) - FINISHED_KEPT]:
                ids.remove(old)
                for key in (record_key(old), progress_key(old), preview_key(old)):
                    self.board.delete(key)
        self.board.put(INDEX_KEY, ids)

    def _snapshot(self, job: dict) -> JobSnapshot:
        status = Status(job["status"])
        progress = preview = {}
        if status is not QUEUED or job.get("note"):
            progress = self._cached(("progress", job["id"], status),
                                    lambda: self.board.get(progress_key(job["id"]))) or {}
            preview = self._cached(("preview", job["id"], status),
                                   lambda: self.board.get(preview_key(job["id"]))) or {}
        position = None
        if status is QUEUED:
            order = self._cached("order", self._waiting_order)
            position = order.index(job["id"]) + 1 if job["id"] in order else None
        spec = ModelSpec.from_dict(job["spec"])
        fraction = 1.0 if status is DONE else progress.get("fraction", 0.0)
        seconds = progress.get("seconds", 0.0)
        eta = (seconds * (1 - fraction) / fraction
               if status is RUNNING and fraction > 0 else None)
        return JobSnapshot(
            id=job["id"], spec=spec, status=status, owner=_owner(job), position=position,
            epoch=progress.get("epoch", 0), epochs=spec.train.epochs,
            batch=progress.get("batch", 0), batches=progress.get("batches", 0),
            fraction=fraction, eta_seconds=eta, history=tuple(progress.get("history", ())),
            batch_losses=tuple(tuple(p) for p in progress.get("trace", ())),
            preview=_tensor(preview.get("recon")), preview_inputs=_tensor(preview.get("inputs")),
            error=job.get("error"), model_id=job.get("model_id"), reused=job.get("reused", False),
            submitted=job["submitted"], finished=job.get("finished"), note=job.get("note"),
            askers=tuple(_askers(job)), cancelled_by=job.get("cancelled_by"))

    def _waiting_order(self) -> list[str]:
        """The waiting jobs in the order they will run. Huey's queue keeps a cancelled job's
        task until a worker pops and drops it: it takes nobody's turn, so it is not counted."""
        waiting = {r["id"] for r in self._cached("records", self._records)
                   if r["status"] == QUEUED}
        return [i for i in self.board.queued_ids() if i in waiting]

    def _cached(self, key: Any, read):
        """``read()``, shared by every session for SNAPSHOT_TTL_S: thirty browsers polling every
        second read the board twice a second, not thirty times."""
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < SNAPSHOT_TTL_S:
                return hit[1]
        value = read()
        with self._cache_lock:
            self._cache[key] = (now, value)
            if len(self._cache) > 4096:
                self._cache.clear()
        return value

    def _forget_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    class _QueueErrors:
        def __enter__(self):
            return self

        def __exit__(self, kind, err, tb):
            if isinstance(err, QueueUnavailable):
                raise JobError(err) from None
            return False

    def _queue_errors(self):
        """The queue out of reach becomes a JobError with its message, never a traceback."""
        return self._QueueErrors()


def _askers(job: dict) -> list[str]:
    """Who wants this job: the students who asked for it and have not cancelled."""
    return job.get("askers") or [job["owner"]]      # a record from before askers


def _owner(job: dict) -> str:
    """Whose the job's model will be: the first student who asked and still wants it."""
    return _askers(job)[0]


# --- the workers' side -------------------------------------------------------------------------

TASK_NAME = "aedemo.train"
_context: dict[str, Any] = {}      # the worker process's store, id and stop event (set_worker)


_tasks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register_task(huey):
    """The one task, registered on ``huey`` under one name in the app and the workers (once
    per Huey instance): train the job with this id. The app only enqueues it; a worker runs
    it."""
    if huey not in _tasks:
        _tasks[huey] = huey.task(name=TASK_NAME)(train_job)
    return _tasks[huey]


def set_worker(huey, store: ModelStore, worker_id: str, stopping: threading.Event) -> None:
    """Make this process a worker of ``huey``: the task registered, where it stores models, its
    id in heartbeats and job records, and the event that its shutdown sets."""
    _context.update(huey=huey, task=register_task(huey), board=Board(huey), store=store,
                    worker_id=worker_id, stopping=stopping, job=None)


def training_now() -> str | None:
    """The id of the job this worker process is training, for its heartbeat."""
    return _context.get("job")


def train_job(job_id: str) -> None:
    """Huey's task: run one job in this worker, start to finish; whatever goes wrong stays
    inside this job."""
    board, store = _context["board"], _context["store"]
    with board.lock():
        job = board.get(record_key(job_id))
        if job is None or job["status"] != QUEUED:
            return                                # cancelled while it waited
        # named in this worker's heartbeat before its record says RUNNING: a heartbeat newer
        # than the job's start that names another job means this worker no longer trains it
        _context["job"] = job_id
        job.update(status=RUNNING, worker=_context["worker_id"], started=time.time())
        board.put(record_key(job_id), job)
    try:
        status, error, model_id = _train(board, store, job)
        # Every job ends: its last write is retried until the storage is back (Redis restarting,
        # a full disk), rather than leave a record RUNNING that no one would ever end
        _until_written(job_id, lambda: _end(board, job_id, status, error, model_id))
    finally:
        _context["job"] = None


def _train(board: Board, store: ModelStore, job: dict) -> tuple[Status, str | None, str | None]:
    """Train one job and store its model: how it ended, why it failed, the stored model."""
    job_id = job["id"]
    spec = ModelSpec.from_dict(job["spec"])
    stop = threading.Event()
    status, error, model_id = FAILED, None, None
    try:
        inputs = preview_items(spec)
        reporter = _Reporter(board, job_id, inputs, stop, _context["stopping"])
        trained = train_spec(spec, callbacks=(reporter,), stop=stop)
        if stop.is_set():
            raise TrainingStopped()
        # the owner now: whoever asked first may have withdrawn while it trained
        try:
            owner = _owner(board.get(record_key(job_id)) or job)
        except QueueUnavailable:
            owner = _owner(job)             # the model is stored all the same
        model_id = store.save(spec, trained, owner=owner).id
        status = DONE
    except TrainingStopped:
        status = CANCELLED
    except (TrainingDiverged, StoreError, datasets.DataError) as err:
        error = str(err)              # the plain sentence: the job's panel shows it to students
        if isinstance(err, Explained) and err.detail:
            log.warning("job %s failed: %s", job_id, err.in_full())
    except (MemoryError, torch.OutOfMemoryError):
        log.error("job %s ran out of memory:\n%s", job_id, traceback.format_exc())
        error = OUT_OF_MEMORY
    except Exception:  # a bug must not take the worker, or other jobs, down with it
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        error = UNEXPECTED          # its type and words may name the server's folders
    return status, error, model_id


def _end(board: Board, job_id: str, status: Status, error: str | None,
         model_id: str | None) -> None:
    """Write how a job ended, under the board's lock."""
    with board.lock():
        job = board.get(record_key(job_id))
        if job is None or not Status(job["status"]).active:
            # lost with the queue's storage (the app says so), or ended meanwhile by the
            # teacher's Cancel or the reaper: a stored model is listed by the store anyway
            return
        if status is CANCELLED and _context["stopping"].is_set() and not board.get(
                cancel_key(job_id)):
            _requeue(board, _context["huey"], _context["task"], job)
        else:
            _finish(board, job, status, error=error, model_id=model_id)


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


def _finish(board: Board, job: dict, status: Status, *, error: str | None = None,
            model_id: str | None = None) -> None:
    """Record a job's end (call with the board's lock held): its status, and the spec free for
    a new job."""
    job.update(status=status, error=error, model_id=model_id, finished=time.time())
    board.put(record_key(job["id"]), job)
    board.delete(cancel_key(job["id"]))
    spec_key = ModelSpec.from_dict(job["spec"]).key
    if board.get(f"active:{spec_key}") == job["id"]:
        board.delete(f"active:{spec_key}")


def _requeue(board: Board, huey, task, job: dict) -> None:
    """Put an interrupted job back at the head of the queue (call with the lock held)."""
    job.update(status=QUEUED, worker=None, note=INTERRUPTED)
    board.put(record_key(job["id"]), job)
    board.delete(progress_key(job["id"]))
    board.delete(preview_key(job["id"]))
    huey.enqueue(task.s(job["id"], id=job["id"], priority=10))


class _Reporter(Callback):
    """Writes a running job's progress to the board after its first batch, then at most every
    PROGRESS_EVERY_S and after every epoch (with the preview), and stops training after the
    batch in progress once the job is cancelled or the worker is shutting down."""

    def __init__(self, board: Board, job_id: str, inputs: torch.Tensor,
                 stop: threading.Event, stopping: threading.Event):
        self.board, self.job_id, self.inputs = board, job_id, inputs
        self.stop, self.stopping = stop, stopping
        self.trace = LossTrace()
        self.written = 0.0

    def _write(self, p: Progress) -> None:
        self.board.put(progress_key(self.job_id), {
            "epoch": p.epoch, "batch": p.batch, "batches": p.batches, "seconds": p.seconds,
            "fraction": p.fraction, "trace": self.trace.points(), "history": p.history})
        self.written = time.monotonic()

    def on_batch(self, p: Progress) -> None:
        self.trace.add(p.epoch - 1 + p.batch / p.batches, p.loss)
        # one small read per batch: a cancel takes effect before the next batch
        if self.stopping.is_set() or self._quietly(self.board.get, cancel_key(self.job_id)):
            self.stop.set()
        if time.monotonic() - self.written >= PROGRESS_EVERY_S or not self.written:
            self._quietly(self._write, p)

    def on_epoch(self, p: Progress) -> None:
        device = next(p.model.parameters()).device
        recon = p.model.reconstruct(self.inputs.to(device)).cpu()
        self._quietly(self.board.put, preview_key(self.job_id),
                      {"inputs": _plain(self.inputs), "recon": _plain(recon)})
        self._quietly(self._write, p)

    def _quietly(self, call, *args):
        """``call(*args)``, or None while the queue's storage is out: progress is for the
        page's chart, and training goes on through a restart of Redis (the job's end is
        written once it is back)."""
        try:
            return call(*args)
        except QueueUnavailable:
            return None
