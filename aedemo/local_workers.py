"""An app server's own training workers: ``LocalWorkers`` keeps AEDEMO_WORKERS worker
processes (``python -m aedemo worker``, aedemo.workers; with the embedded SQLite queue, one by
default) beside the server: it starts them with the server, starts a fresh one when one dies
(after failing the job it was running), and stops them with the server.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from aedemo.job import worker_id
from aedemo.store import default_home

log = logging.getLogger(__name__)

STOP_WAIT_S = 15.0          # how long a stopping server waits for its workers
STARTING_S = 30.0           # a fresh worker's time to import PyTorch and say hello


_running: list[LocalWorkers] = []
_all_stopped = threading.Event()    # stop_all() ran: this process starts no more workers


class LocalWorkers:
    """``count`` worker processes beside this app server, kept running while it runs."""

    def __init__(self, count: int, on_death: Callable[[str], None]):
        self.count = count
        self.on_death = on_death            # called with a dead worker's id
        self.procs: list[subprocess.Popen] = []
        # Starting from now: the server creates these with its service and starts them a moment
        # later, after its start-up checks of the store and the queue (starting()).
        self._spawned_at = time.monotonic()
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> LocalWorkers:
        if not self.count:
            return self
        _running.append(self)       # before the check below: stop_all() sees these, or they it
        with self._lock:
            if _all_stopped.is_set():
                # the server was stopped in its first seconds, before its start-up got here:
                # a worker started now would outlive it
                return self
            self.procs = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, daemon=True, name="aedemo-workers").start()
        return self

    def _spawn(self) -> subprocess.Popen:
        # the worker finds the same store and queue through the environment
        env = {**os.environ, "AEDEMO_HOME": str(default_home().resolve())}
        self._spawned_at = time.monotonic()
        # In a session of its own: Ctrl-C in the server's terminal signals the terminal's whole
        # process group, and a worker that got it too died in the middle of importing torch or
        # of a batch (a KeyboardInterrupt traceback, or an abort) and lost its job. The server
        # stops its workers itself, with SIGTERM, and each puts its job back on the queue.
        return subprocess.Popen([sys.executable, "-m", "aedemo", "worker", "--parent-pid",
                                 str(os.getpid())], env=env, start_new_session=True)

    def _watch(self) -> None:
        """A worker that ends while the server runs has died (killed, out of memory): fail its
        job and start a fresh one in its place."""
        while not self._stopping.wait(0.3):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    if proc.poll() is None or self._stopping.is_set():
                        continue
                    dead = worker_id(proc.pid)
                    log.warning("training worker %s ended (%s); starting a fresh one", dead,
                                proc.returncode)
                    try:
                        self.on_death(dead)
                    except Exception:
                        log.exception("could not record the end of worker %s", dead)
                    self.procs[i] = self._spawn()

    def starting(self) -> bool:
        """Whether these workers may still be starting: from the server's start, or from a
        worker's (re)start, for STARTING_S. A worker says hello on the board once it has
        imported PyTorch (JobQueue.live_workers); one still silent by then is not starting."""
        return (self.count > 0 and not self._stopping.is_set()
                and time.monotonic() - self._spawned_at < STARTING_S)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self.procs]

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """SIGTERM every worker (each puts its job back on the queue), then wait."""
        self._stopping.set()
        with self._lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if self in _running:
            _running.remove(self)


def stop_all() -> None:
    """Stop every worker this process started, and start no more (the app server's shutdown,
    and at exit)."""
    _all_stopped.set()
    for workers in list(_running):
        workers.stop()


atexit.register(stop_all)
