"""Paths and commands the tests share (importable as `support`; pytest puts tests/ on sys.path,
and the benches put it there themselves)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def readme_command(marker: str) -> str:
    """The shell command in README.md's ```sh block under ``<!-- marker -->``: the tests and
    benches run what a user is told to run, not a variant of their own."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {re.escape(marker)} -->\s*```sh\n(.+?)\n```", text, re.S)
    if found is None:
        raise LookupError(f"README.md has no ```sh block under <!-- {marker} -->")
    return found.group(1).strip()


def app_command() -> list[str]:
    """The README's command that starts the app, without the install steps before it: the
    server is started exactly as a user starts it, with no flags of the tests' own. Only its
    port (STREAMLIT_SERVER_PORT) differs, so that tests can run side by side."""
    return shlex.split(readme_command("app-command").split("&&")[-1])


def classroom_command() -> list[str]:
    """The README's classroom command: the app served to the network, with a passphrase."""
    return shlex.split(readme_command("classroom-command"))


def lan_address() -> str:
    """This machine's first address that is not loopback: where a student's laptop would
    reach the server."""
    import subprocess

    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return next(a for a in found if ":" not in a)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


APT_LOCK = Path("/tmp/aedemo-tests-apt.lock")


def debian_program(program: str, package: str) -> str | None:
    """The path of ``program``, first installing Debian's ``package`` when it is missing and
    this is root with apt-get (as on CI: the test command installs everything its tests
    need); None when it cannot be. The suite's two processes (pytest-xdist) may both want one
    at once, and apt refuses a second apt: they take turns on a lock file, and the second
    finds what the first installed."""
    import fcntl
    import shutil
    import subprocess

    found = shutil.which(program)
    if found or not (shutil.which("apt-get") and os.geteuid() == 0):
        return found
    with APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which(program):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                           capture_output=True, env=env)
    return shutil.which(program)


def redis_server_binary() -> str:
    """Debian's redis-server, installed first when it is missing."""
    found = debian_program("redis-server", "redis-server")
    if not found:
        raise RuntimeError("redis-server is missing and cannot be installed here")
    return found


class Redis:
    """A private redis-server on a free localhost port, nothing saved to disk."""

    def __init__(self, folder: Path):
        import subprocess
        import time

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_apart(coroutine):
    """``asyncio.run(coroutine)`` on a thread of its own: Playwright's sync API, once a browser
    test of the session has started it, keeps an event loop running on the main thread, where
    asyncio.run refuses to start another."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def inline_worker(huey, store, *, consume: bool = True):
    """A training worker in this process, so a test can change what a job meets (a failing
    save, a callback that raises, Redis restarting): the worker's heartbeat and, unless
    ``consume`` is False, Huey's execution of the real task, as a worker's consumer does. Set
    the returned event to stop it."""
    import os
    import threading
    import time

    from aedemo import taskqueue, workers

    stopping = threading.Event()
    me = f"inline:{os.getpid()}:{id(stopping)}"
    workers.set_worker(huey, store, me, stopping)
    threading.Thread(target=workers._heartbeat, args=(taskqueue.JobBoard(huey), me, stopping, None),
                     daemon=True).start()

    def run():
        while not stopping.is_set():
            try:
                task = huey.dequeue()
            except Exception:        # Redis restarting: a real consumer waits and tries again
                task = None
            if task is None:
                time.sleep(0.05)
            else:
                huey.execute(task)

    if consume:
        threading.Thread(target=run, daemon=True).start()
    return stopping


# --- processes, from /proc ---------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its descendants so far, the ones that have
    ended too (a closed tab's renderer is counted in the parent that waited for it)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])     # utime, stime, cutime, cstime
    return total / tick


def own_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of this one process, none of its children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, from /proc."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024

def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (all cores, Linux /proc/stat),
    else None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def trained_tiny(variant: str, latent_dim: int):
    """(spec, Trained): a real model of ``variant`` trained for one epoch on the offline
    digits, what a worker would store, in a second or so; for tests that need stored models
    of a given shape (torch is imported here, not at the top, for the tests that need none)."""
    from aedemo.spec import ModelSpec, train_spec
    from aedemo.train import TrainConfig

    spec = ModelSpec.create(variant, {"latent_dim": latent_dim}, dataset="digits",
                            train=TrainConfig(epochs=1))
    return spec, train_spec(spec)
