"""Training workers: processes that take jobs from the queue and train them, apart from the web
server, so a training step never competes with a page for the server's GIL and a crash or an
out-of-memory in training takes down one job, not the class.

``python -m aedemo worker`` is one worker: a Huey consumer with one worker thread, which runs
one job at a time, on CUDA where there is one. It says it is alive on the board every second,
and on SIGTERM (or SIGINT) it stops the job in progress after its current batch and puts it
back at the head of the queue. Started by an app server (``--parent-pid``), it also stops when
that server is gone.

``LocalWorkers`` is how an app server keeps its own workers (AEDEMO_WORKERS of them; with the
embedded SQLite queue, one by default): it starts them with the server, starts a fresh one
when one dies (after failing the job it was running), and stops them with the server.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from aedemo import jobs, taskqueue
from aedemo.store import ModelStore, default_home

log = logging.getLogger(__name__)

STOP_WAIT_S = 15.0          # how long a stopping server waits for its workers
STARTING_S = 30.0           # a fresh worker's time to import PyTorch and say hello
WORKER_NICE = 10            # a server's own workers yield the CPU to it


# --- one worker process ----------------------------------------------------------------------

def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _heartbeat(board: taskqueue.Board, me: str, stopping: threading.Event,
               parent: int | None) -> None:
    """Say this worker is alive every second; stop the worker when its parent has gone."""
    from aedemo.train import pick_device

    device = str(pick_device())
    _hello(board, me)
    while not stopping.is_set():
        try:
            # the time first, then the job: a beat newer than a job's start names that job
            # for as long as this worker trains it (JobQueue._reap_silent_workers)
            at = time.time()
            board.put(jobs.worker_key(me), {"id": me, "pid": os.getpid(),
                                            "host": socket.gethostname(), "device": device,
                                            "at": at, "job": jobs.training_now()})
            if me not in (board.get(jobs.WORKERS_KEY) or []):
                _hello(board, me)       # the list was lost with the queue's storage (a restart)
        except taskqueue.QueueUnavailable as err:
            log.warning("%s", err.in_full())
        if parent is not None and os.getppid() != parent:
            log.warning("the app server that started this worker is gone; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
        stopping.wait(jobs.HEARTBEAT_EVERY_S)


def _hello(board: taskqueue.Board, me: str) -> None:
    """Add this worker to the board's list of workers."""
    with board.lock():
        known = board.get(jobs.WORKERS_KEY) or []
        # forget the workers that have been silent for a minute: the list stays short
        beats = board.get_many([jobs.worker_key(w) for w in known])
        known = [w for w in known
                 if time.time() - beats.get(jobs.worker_key(w), {}).get("at", 0) < 60]
        board.put(jobs.WORKERS_KEY, [*known, me])


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
    jobs.set_worker(huey, ModelStore(), me, stopping)
    board = taskqueue.Board(huey)
    try:
        board.get(jobs.WORKERS_KEY)
    except taskqueue.QueueUnavailable as err:
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
        board.delete(jobs.worker_key(me))
    except taskqueue.QueueUnavailable:
        pass
    return 0


# --- an app server's own workers -----------------------------------------------------------

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
                    dead = f"{socket.gethostname()}:{proc.pid}"
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
