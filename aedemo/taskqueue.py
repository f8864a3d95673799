"""The job queue: Huey (https://huey.readthedocs.io), with its queue and storage in a SQLite file
in AEDEMO_HOME by default, or in Redis when AEDEMO_REDIS_URL is set, so that several app servers
and training workers on several machines share one queue.

Huey carries the tasks: one per training job, whose only argument is the job's id. Beside them,
in Huey's key/value storage, the app and the workers share what they know about each job, as
JSON of ours (``JobBoard``, under the keys of ``Key``): its record, its progress, its preview,
a cancel flag, and each worker's heartbeat. Huey's own task messages are pickles, as in every
Huey queue: the queue must be reachable by the app and its workers only (see the README's
Security section).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from huey import PriorityRedisHuey, SqliteHuey
from huey.constants import EmptyData
from huey.storage import RedisStorage

from aedemo.errors import Explained

HUEY_NAME = "aedemo"
QUEUE_FILE = "queue.sqlite3"
LOCK_WAIT_S = 10.0        # how long to wait for the board's lock before giving up
LOCK_STALE_S = 15.0       # a lock older than this was left by a process that died holding it


class QueueUnavailable(Explained):
    """The queue's storage cannot be reached (Redis down, an unreadable file); the message is
    meant for the user, where the queue is and why it failed are its ``detail``."""


def redis_url() -> str | None:
    return os.environ.get("AEDEMO_REDIS_URL") or None


def connect(home: Path, url: str | None = None):
    """The Huey instance of the app and its workers: Redis at ``url`` if given, else the SQLite
    file in ``home``. Priority queues in both, so a job interrupted by a restart goes first."""
    if url:
        return PriorityRedisHuey(HUEY_NAME, url=url, results=False, utc=True)
    home.mkdir(parents=True, exist_ok=True)
    # strict FIFO: without it SQLite may reuse a finished task's row id and reorder the queue
    return SqliteHuey(HUEY_NAME, filename=str(home / QUEUE_FILE), results=False, utc=True,
                      strict_fifo=True)


def describe(huey) -> str:
    """Where the queue is, for the log and the teacher: the Redis address or the SQLite file."""
    storage = huey.storage
    if hasattr(storage, "filename"):
        return f"the queue file {storage.filename}"
    kwargs = storage.conn.connection_pool.connection_kwargs
    return f"Redis at {kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def persistence_problem(huey) -> str | None:
    """For a queue in Redis that keeps no append-only file, a sentence for the log: a restart
    of Redis then forgets every job submitted since its last snapshot (the app tells their
    students, JobQueue._find_lost). None for SQLite, a Redis with one, or one that refuses to
    say (a managed Redis may refuse CONFIG)."""
    if hasattr(huey.storage, "filename"):
        return None
    try:
        appendonly = huey.storage.conn.config_get("appendonly").get("appendonly")
    except Exception:
        return None
    if appendonly in ("yes", b"yes"):
        return None
    return (f"{describe(huey)} keeps no append-only file: a restart of Redis loses the jobs "
            f"submitted since its last snapshot. Start it with `appendonly yes` (see the "
            f"README).")


class Key:
    """Every key on the job board, each spelled here once: the app and the workers read and
    write them (aedemo.job's records, aedemo.workers' heartbeats)."""

    INDEX = "jobs"              # job ids in submission order
    WORKERS = "workers"         # the ids of every worker that has said hello

    @staticmethod
    def record(job_id: str) -> str:
        return f"job:{job_id}"

    @staticmethod
    def progress(job_id: str) -> str:
        return f"job:{job_id}:progress"

    @staticmethod
    def preview(job_id: str) -> str:
        return f"job:{job_id}:preview"

    @staticmethod
    def frame(job_id: str) -> str:
        """The latest frame of a running job's latent map (aedemo.job.JobFrame)."""
        return f"job:{job_id}:frame"

    @staticmethod
    def cancel(job_id: str) -> str:
        """Set by the app to stop a running job; its worker reads it after every batch."""
        return f"job:{job_id}:cancel"

    @staticmethod
    def active(spec_key: str) -> str:
        """The one active job for a spec: two requests for the same settings share it."""
        return f"active:{spec_key}"

    @staticmethod
    def worker(worker_id: str) -> str:
        """A worker's heartbeat."""
        return f"worker:{worker_id}"


class JobBoard:
    """JSON values in Huey's key/value storage, shared by the app servers and the workers, and
    one lock over them for the changes that must not interleave (submit, finish, cancel)."""

    def __init__(self, huey):
        self.huey = huey
        self.storage = huey.storage
        self._unreleased: set[bytes] = set()    # this board's locks that a failed write left

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except QueueUnavailable:
            raise
        except Exception as err:    # redis.ConnectionError, sqlite3.OperationalError...
            if type(err).__module__.split(".")[0] not in ("redis", "sqlite3"):
                raise
            raise QueueUnavailable("The job queue cannot be reached. Training is unavailable "
                                   "until it is back; the stored models still work.",
                                   f"{describe(self.huey)}: {err}") from None

    def get(self, key: str) -> Any | None:
        with self._reachable():
            raw = self.storage.peek_data(key)
        return None if raw is EmptyData else json.loads(bytes(raw))

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        with self._reachable():
            found = self.storage.peek_many(keys)
        return {k.decode() if isinstance(k, bytes) else k: json.loads(bytes(v))
                for k, v in found.items()}

    def put(self, key: str, value: Any) -> None:
        with self._reachable():
            self.storage.put_data(key, json.dumps(value).encode())

    def delete(self, key: str) -> None:
        with self._reachable():
            self.storage.delete_data(key)

    @contextlib.contextmanager
    def lock(self, name: str = "jobs") -> Iterator[None]:
        """Held by one process at a time, across every app server and worker. A lock left by a
        process that died holding it is broken after LOCK_STALE_S."""
        key = f"lock:{name}"
        mine = json.dumps({"pid": os.getpid(), "at": time.time()}).encode()
        deadline = time.monotonic() + LOCK_WAIT_S
        with self._reachable():
            while not self.storage.put_if_empty(key, mine):
                held = self.get(key)
                left = json.dumps(held).encode() if held is not None else None
                if left in self._unreleased:
                    # ours, left by a release that failed while the storage was out: free it
                    # now rather than wait LOCK_STALE_S for it to look stale
                    self._unreleased.discard(left)
                    self.storage.delete_data(key)
                    continue
                if held is not None and time.time() - held.get("at", 0) > LOCK_STALE_S:
                    self.storage.delete_data(key)
                    continue
                if time.monotonic() > deadline:
                    raise QueueUnavailable("The job queue is busy (its lock was not free for "
                                           f"{LOCK_WAIT_S:.0f} s); try again in a moment.")
                time.sleep(0.005)
        try:
            yield
        finally:
            try:
                with self._reachable():
                    self.storage.delete_data(key)
            except QueueUnavailable:
                # the storage went out while we held the lock: the next lock() of this board
                # frees it, another process's after LOCK_STALE_S
                self._unreleased.add(mine)
                raise

    def up_since(self) -> float:
        """When the storage last started, in seconds since the epoch: Redis's start, from its
        uptime; 0 for the SQLite file, which has no server to restart, and for a Redis that will
        not say (a managed one may refuse INFO)."""
        if not isinstance(self.storage, RedisStorage):
            return 0.0
        with self._reachable():
            try:
                uptime = self.storage.conn.info("server")["uptime_in_seconds"]
            except redis.ResponseError:
                return 0.0
        return time.time() - float(uptime)

    def queued_ids(self) -> list[str]:
        """The ids of the jobs waiting in Huey's queue, in the order they will run."""
        with self._reachable():
            items = self.storage.enqueued_items()
        ids = []
        for data in items:
            try:
                ids.append(self.huey.deserialize_task(data).args[0])
            except Exception:     # a task of another version of aedemo: not one of ours
                continue
        return ids
