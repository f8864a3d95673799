"""The last minute: Ctrl-C in the terminal that runs the README's app command, or a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from aedemo import taskqueue
from aedemo.jobs import INTERRUPTED, SYSTEM, JobQueue
from aedemo.spec import ModelSpec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from e2e_support import Server, process_tree
from support import REPO


def training_job(queue: JobQueue, timeout: float = 120.0) -> str:
    """The id of the job a worker is training, once it is past its first batch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        training = [job for job in queue.jobs() if job.status == "running" and job.batch]
        if training:
            return training[0].id
        time.sleep(0.3)
    raise AssertionError("no job started training")


def test_ctrl_c_stops_the_server_and_its_worker_with_no_traceback(tmp_path):
    """Ctrl-C reaches every process of the terminal's foreground job, the server's worker too
    when it shares the server's process group: the worker died in the middle of importing torch
    (a KeyboardInterrupt traceback) or of a batch (an abort, "terminate called without an
    active exception", and its job failed). A clean stop prints nothing of the kind, ends the
    worker, and puts the job it was training back at the head of the queue, as the README says
    a stop does."""
    home = tmp_path / "home"
    server = Server(home)                        # the zoo trains: a job will be running
    try:
        queue = JobQueue(ModelStore(home), taskqueue.connect(home))
        job = training_job(queue)
        tree = process_tree(server.proc.pid)
        # what a terminal's Ctrl-C reaches: the server and whatever of it is in its group
        group = os.getpgid(server.proc.pid)
        for pid in tree:
            if os.getpgid(pid) == group:
                os.kill(pid, signal.SIGINT)
        server.proc.wait(30)
    finally:
        server.stop()
    log = server.log.read_text()
    for sign in ("Traceback", "KeyboardInterrupt", "terminate called", "starting a fresh one"):
        assert sign not in log, log[-3000:]
    # uvicorn re-raises the SIGINT it handled once it has shut down, and click, which runs
    # `streamlit run`, ends on that KeyboardInterrupt with "Aborted!" and status 1
    assert server.proc.returncode in (0, 1), log[-3000:]
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in tree):
        assert time.monotonic() < deadline, "a worker outlived its server"
        time.sleep(0.1)
    after = JobQueue(ModelStore(home), taskqueue.connect(home)).job(job)    # read afresh
    assert (after.status, after.note, after.position) == ("queued", INTERRUPTED, 1)


def test_ctrl_c_in_a_workers_own_terminal_puts_its_job_back(isolated_home):
    """``python -m aedemo worker`` in a terminal of its own: Huey stops gracefully only on
    SIGTERM, and on Ctrl-C the process exited under its training thread (an abort, and the job
    lost). It finishes the batch and puts the job back at the head of the queue instead."""
    queue = JobQueue(ModelStore(isolated_home), taskqueue.connect(isolated_home))
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=100))
    job = queue.submit(spec, SYSTEM).id
    worker = subprocess.Popen([sys.executable, "-m", "aedemo", "worker"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        training_job(queue)
        os.killpg(worker.pid, signal.SIGINT)              # the terminal's Ctrl-C
        said, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, said
    assert "Traceback" not in said and "terminate called" not in said, said
    after = JobQueue(ModelStore(isolated_home), taskqueue.connect(isolated_home)).job(job)
    assert (after.status, after.note, after.position) == ("queued", INTERRUPTED, 1)
