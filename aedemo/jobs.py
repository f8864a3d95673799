"""Training jobs through the queue (aedemo.taskqueue): the app submits, watches and cancels them;
worker processes (aedemo.workers) run them. The web server never runs a training step.

A job is one ``Job`` record (aedemo.job) on the shared board, and ``Key.active`` points to the one
active job for a spec, so two requests for the same settings share a job, across app servers too. An
identical request joins the active job and is told it is shared; cancelling takes back only the
canceller's own request, and the job stops once nobody wants it (the teacher may stop any job, or
all of them). A student may have ``per_student_cap`` jobs waiting or running, a joined one included,
and the whole queue holds at most ``queue_cap`` students' jobs; a request identical to a stored
model is answered at once. A failure ends its own job and nothing else: a worker that dies mid-job
(killed, out of memory) fails that job with a plain reason, and the queue goes on with a fresh
worker. A job cut short by a restart goes back to the head of the queue.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from aedemo.job import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    LOST,
    NOT_TRAINED,
    QUEUED,
    RUNNING,
    SYSTEM,
    TEACHER,
    WORKER_DIED,
    Heartbeats,
    Job,
    JobError,
    JobFrame,
    JobPreview,
    JobProgress,
    QueueProblem,
    Status,
    abandoned,
    enqueue,
    finish,
    read_job,
    requeue,
    write_job,
)
from aedemo.spec import ModelSpec
from aedemo.store import ModelStore
from aedemo.taskqueue import JobBoard, Key, QueueUnavailable

log = logging.getLogger(__name__)

FINISHED_KEPT = 200      # jobs remembered for their pages, the oldest finished forgotten first
SNAPSHOT_TTL_S = 0.5     # every session polls every second: read the board once for them all
LOST_AFTER_S = 20.0      # a waiting job whose task has been out of the queue this long was lost


class JobQueue:
    """What an app server does with jobs: submit, watch, cancel. Workers run them."""

    def __init__(self, store: ModelStore, huey, *, per_student_cap: int = 3,
                 queue_cap: int = 20, per_address_cap: int = 3):
        self.store = store
        self.huey = huey
        self.board = JobBoard(huey)
        self.per_student_cap = per_student_cap
        self.queue_cap = queue_cap
        self.per_address_cap = per_address_cap
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()
        # the active jobs this server's sessions asked for, by id, as they were submitted: a
        # queue's storage that restarts without persistence forgets them silently, and their
        # students must hear it (_find_lost); in memory, as it is what the storage may lose
        self._submitted: dict[str, Job] = {}
        self._missing_since: dict[str, float] = {}     # job id: when first seen out of the queue

    # --- requests from sessions ------------------------------------------------------------

    def submit(self, spec: ModelSpec, owner: str, address: str | None = None) -> Job:
        """Queue a training job for ``spec`` on behalf of student ``owner``, whose browser is
        at ``address`` (roles.THIS_MACHINE for the server's own; None: no computer's, the teacher's,
        the zoo's or the command line's, which the cap per computer does not count). An
        identical active job is joined instead (``owner`` is added to its askers); a stored
        model ends the request at once."""
        stored = self.store.find(spec)
        with self._queue_errors(), self.board.lock():
            active_id = self.board.get(Key.active(spec.key))
            active = read_job(self.board, active_id) if active_id else None
            if active is not None and active.active:
                if not active.asked_by(owner):
                    self._check_caps(owner, address, joining=True)
                    active = active.joined(owner, address)
                    write_job(self.board, active)
                    self._forget_cache()
                self._submitted.setdefault(active.id, active)
                return self._for_page(active)
            job = Job.new(spec, owner, address)
            if stored is not None:
                job = replace(job, status=DONE, model_id=stored.id, reused=True,
                              finished=time.time())
                self._remember(job)
                self._forget_cache()
                return self._for_page(job)
            self._check_caps(owner, address)
            self._remember(job)
            self._submitted[job.id] = job
            self.board.put(Key.active(spec.key), job.id)
            enqueue(self.huey, job.id)
        self._forget_cache()
        return self._for_page(job)

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
        active = [j for j in self._records() if j.active]
        mine = [j for j in active if j.asked_by(owner)]
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
            here = [j for j in active if address in dict(j.addresses).values()]
            if len(here) >= self.per_address_cap:
                raise JobError(
                    f"This computer already has {len(here)} training jobs waiting or running; "
                    f"the limit is {self.per_address_cap} per computer so everyone gets a "
                    f"turn. Cancel one or wait for it to finish.")
        students = [j for j in active if j.status is QUEUED and j.owner != SYSTEM]
        if not joining and len(students) >= self.queue_cap:
            raise JobError(
                f"The training queue is full: {len(students)} jobs are waiting. Try again when "
                f"some have finished, or pick a model that is already stored.")

    def cancel(self, job_id: str, owner: str, *, teacher: bool = False) -> Job:
        """Take back ``owner``'s request for a job. A job that nobody else wants any more is
        cancelled: a queued job is taken off the queue, a running one stops after the batch in
        progress, and nothing is stored. The teacher cancels it for everyone."""
        with self._queue_errors():
            job = read_job(self.board, job_id)
            if job is None:
                raise JobError(f"There is no job {job_id}.")
            if not teacher and not job.asked_by(owner):
                raise JobError("Only a student who asked for this job, or the teacher, can "
                               "cancel it.")
            with self.board.lock():
                job = read_job(self.board, job_id)
                if not job.active:
                    pass                                  # it ended meanwhile
                elif not teacher and job.shared_with(owner):
                    # others want it: it goes on for them, and its model will be theirs
                    job = job.withdrawn(owner)
                    write_job(self.board, job)
                else:
                    job = self._stop(job, TEACHER if teacher else owner)
        self._forget_cache()
        return self._for_page(job)

    def clear(self) -> int:
        """The teacher empties the queue: every waiting job is cancelled and the running ones
        stop after their batch in progress. How many jobs were stopped."""
        with self._queue_errors(), self.board.lock():
            active = [j for j in self._records() if j.active]
            for job in active:
                self._stop(job, TEACHER)
        self._forget_cache()
        return len(active)

    def _stop(self, job: Job, by: str) -> Job:
        """Cancel a job for everyone on behalf of ``by`` (TEACHER or a student), which its
        record keeps so its page can say who stopped it (call with the board's lock held)."""
        job = replace(job, cancelled_by=by)
        if job.status is QUEUED:
            self.huey.revoke_by_id(job.id)                 # never started, then
            return finish(self.board, job, CANCELLED)
        if not abandoned(job, self._heartbeats()):
            write_job(self.board, job)                     # the worker finishes this record
            self.board.put(Key.cancel(job.id), True)
            return job
        # no worker trains it any more, so none would read a cancel flag: it ends now
        return finish(self.board, job, CANCELLED)

    # --- what the pages read ---------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        """One job as it is now, or None for a job the queue does not know (JobError when the
        queue cannot be reached)."""
        with self._queue_errors():
            self._cached("reaped", self._reap_silent_workers)
            job = self._cached(("job", job_id), lambda: read_job(self.board, job_id))
            return self._for_page(job) if job else None

    def jobs(self, owner: str | None = None, *, active_only: bool = False) -> list[Job]:
        """Jobs in submission order, optionally only those one student asked for or only
        waiting/running ones."""
        with self._queue_errors():
            self._cached("reaped", self._reap_silent_workers)
            return [self._for_page(j) for j in self._cached("records", self._records)
                    if (owner is None or j.asked_by(owner)) and (not active_only or j.active)]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Block until the job has finished (for the CLI and the tests, never for a page)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._forget_cache()
            job = self.job(job_id)
            if job is None or not job.active or (deadline and time.monotonic() > deadline):
                return job
            time.sleep(0.1)

    def _for_page(self, job: Job) -> Job:
        """The record with what is read beside it: its progress, preview and map frame once it
        has run, its place in the queue while it waits."""
        if job.status is not QUEUED or job.note:
            job = replace(job, progress=self._beside(job, Key.progress, JobProgress.from_json),
                          reconstructions=self._beside(job, Key.preview, JobPreview.from_json),
                          latent=self._beside(job, Key.frame, JobFrame.from_json))
        if job.status is QUEUED:
            order = self._cached("order", self._waiting_order)
            job = replace(job, position=order.index(job.id) + 1 if job.id in order else None)
        return job

    def _beside(self, job: Job, key, parse):
        """What the worker writes beside a job's record (under ``key(job.id)``), parsed once
        for every session that polls it (the preview's tensors too)."""
        return self._cached((key, job.id, job.status), lambda: parse(self.board.get(key(job.id))))

    def _waiting_order(self) -> list[str]:
        """The waiting jobs in the order they will run, from the index (submission order):
        those a restart put back go first, as their task went to the head of Huey's queue."""
        waiting = [j for j in self._cached("records", self._records) if j.status is QUEUED]
        return [j.id for j in sorted(waiting, key=lambda j: j.note != INTERRUPTED)]

    # --- the workers, as the app sees them -------------------------------------------------

    def live_workers(self) -> list[dict]:
        """The heartbeats of the workers that said they were alive in the last
        HEARTBEAT_STALE_S seconds (or before a restart of Redis as recent as that)."""
        with self._queue_errors():
            beats = self._cached("workers", self._heartbeats)
        return beats.alive()

    def _heartbeats(self) -> Heartbeats:
        ids = self.board.get(Key.WORKERS) or []
        return Heartbeats(self.board.get_many([Key.worker(w) for w in ids]),
                          self.board.up_since())

    def problem(self) -> QueueProblem | JobError | None:
        """What keeps jobs from running, for the sidebar and the Train page: the queue out of
        reach (an error, with its detail for the teacher), or no worker to take the jobs."""
        try:
            if not self.live_workers():
                return QueueProblem.NO_WORKER
        except JobError as err:
            return err
        return None

    def worker_died(self, worker_id: str) -> None:
        """A worker process ended without finishing its job: fail the job, plainly."""
        with self._queue_errors(), self.board.lock():
            for job in self._records():
                if job.status is RUNNING and job.worker == worker_id:
                    finish(self.board, job, FAILED, error=WORKER_DIED)
        self._forget_cache()

    def recover(self) -> list[str]:
        """At start-up: jobs left running by a server that stopped, whose worker is gone, go
        back to the head of the queue, marked as interrupted. The ids of those jobs."""
        # the beats as written, not counted from a restart of Redis (Heartbeats): a server
        # starting just after one (the machine rebooted) puts back the jobs of the workers that
        # did not come back; a worker that did has beaten again by then (every second)
        with self._queue_errors():
            alive = {b["id"] for b in Heartbeats(self._heartbeats().beats).alive()}
        moved = []
        with self._queue_errors(), self.board.lock():
            for job in self._records():
                if job.status is RUNNING and job.worker not in alive:
                    requeue(self.board, job)
                    moved.append(job.id)
        self._forget_cache()
        return moved

    # --- inside ----------------------------------------------------------------------------

    def _records(self) -> list[Job]:
        ids = self.board.get(Key.INDEX) or []
        found = self.board.get_many([Key.record(i) for i in ids])
        return [Job.from_json(found[Key.record(i)]) for i in ids if Key.record(i) in found]

    def _reap_silent_workers(self) -> bool:
        """Fail the running jobs whose worker has fallen silent (a worker on another machine
        that died, which no supervisor of ours saw end) or no longer trains them (it lost the
        queue while it trained), and the jobs lost with the queue's storage (_find_lost)."""
        records = self._records()
        lost = self._find_lost(records)
        running = [j for j in records if j.status is RUNNING and j.worker]
        beats = self._heartbeats() if running else Heartbeats({})
        ended = [j.id for j in running if abandoned(j, beats)]
        if ended or lost:
            with self.board.lock():
                beats = self._heartbeats() if ended else Heartbeats({})
                for job_id in ended:
                    job = read_job(self.board, job_id)
                    if job and job.status is RUNNING and abandoned(job, beats):
                        alive = beats.fresh(beats.of(job.worker))
                        finish(self.board, job, FAILED, error=NOT_TRAINED if alive else WORKER_DIED)
                for job in lost:
                    now = read_job(self.board, job.id)
                    if now is None:
                        # gone with the storage: put back, so its student's pages can say so
                        self._remember(replace(job, status=FAILED))
                        now = replace(job, status=QUEUED)
                    if now.status is QUEUED and job.id not in self.board.queued_ids():
                        finish(self.board, now, FAILED, error=LOST)
                        log.warning("job %s was lost by the job queue's storage (a restart "
                                    "without persistence?); its student is told", job.id)
            self._forget_cache()
        return bool(ended or lost)

    def _find_lost(self, records: list[Job]) -> list[Job]:
        """The jobs this server submitted that the queue's storage lost (Redis restarted
        without persistence, or flushed): a waiting job whose record has vanished, or whose
        Huey task has been out of the queue for LOST_AFTER_S with no worker running it."""
        now = time.monotonic()
        seen = {j.id: j for j in records}
        waiting = any(j.status is QUEUED for j in records)
        queued = set(self.board.queued_ids()) if waiting or self._submitted else set()
        lost = []
        for job_id, job in list(self._submitted.items()):
            current = seen.get(job_id)
            if current is not None and not current.active:
                self._submitted.pop(job_id, None)     # it ended: nothing to watch
                continue
            missing = current is None or (current.status is QUEUED and job_id not in queued)
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

    def _remember(self, job: Job) -> None:
        """Store a new job's record and add it to the index, forgetting the oldest finished
        jobs beyond FINISHED_KEPT (with their progress)."""
        write_job(self.board, job)
        ids = [*(self.board.get(Key.INDEX) or []), job.id]
        if len(ids) > FINISHED_KEPT:
            records = self.board.get_many([Key.record(i) for i in ids])
            finished = [i for i in ids if Key.record(i) in records
                        and not Status(records[Key.record(i)]["status"]).active]
            for old in finished[:len(ids) - FINISHED_KEPT]:
                ids.remove(old)
                for key in (Key.record(old), Key.progress(old), Key.preview(old),
                            Key.frame(old)):
                    self.board.delete(key)
        self.board.put(Key.INDEX, ids)

    def _cached(self, key: Any, read):
        """``read()``, shared by every session for SNAPSHOT_TTL_S: thirty browsers polling every
        second read the board twice a second, not thirty times."""
        now = time.monotonic()
        with self._cache_lock:
            cache = self._cache
            hit = cache.get(key)
            if hit and now - hit[0] < SNAPSHOT_TTL_S:
                return hit[1]
        value = read()
        with self._cache_lock:
            # into the cache of when the read began: once a write forgot it, pages see the write
            cache[key] = (now, value)
            if len(cache) > 4096:
                cache.clear()
        return value

    def _forget_cache(self) -> None:
        with self._cache_lock:
            self._cache = {}

    @contextlib.contextmanager
    def _queue_errors(self) -> Iterator[None]:
        """The queue out of reach becomes a JobError with its message, never a traceback."""
        try:
            yield
        except QueueUnavailable as err:
            raise JobError(err) from None
