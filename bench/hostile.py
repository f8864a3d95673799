"""A hostile student against the README's server: the high findings of issue 19 replayed one
after the other, while a bystander student draws on the Draw page the whole time.

The server is started as the README starts it (tests/e2e/e2e_support.Server) on a store with one
small model, and with the usual 1,024 open files (a login shell's soft limit, whatever this
bench's own is): the limit is part of what finding 3 is about. The attacks, each short:

1. pad value: three sessions each send the Draw page's pad a 24 MB value of empty lists
   (``{"strokes": [[],[],...], "png": null}``) at once;
2. uploads: one session PUTs 60 files of 5.2 MB to /_stcore/upload_file/<its session>/<new id>,
   with the XSRF cookie and header as Streamlit's frontend sends them;
3. slow clients: 1,100 connections that send "GET / HTTP/1.1" and never the rest, held
   open for a while; meanwhile a fresh connection is tried every second;
4. a job that never ends: a tiny job on the server's own SQLite queue, whose storage fails for a
   few seconds as the job ends (this bench holds the queue file's write lock, so that every
   write fails as during a Redis restart or with a full disk), then comes back: does the job
   end within a minute, and does the teacher's Cancel end it?

The bystander (bench/classroom.py's simulated student) times stroke -> reconstructions; its
p95 with no attack is the reference each attack's is compared with. After each attack the class
"recovered without a restart" when a fresh session opens the Draw page and gets its
reconstructions within RECOVERY_TIMEOUT_S. The server's memory is its process tree's RSS, before
each attack, at its highest during it, and a few seconds after the attacker has gone.

    .venv/bin/python bench/hostile.py [--only pad,uploads,slow,job] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

import st_client  # noqa: E402
from classroom import Record, Student, digit_strokes, first_stroke, pct  # noqa: E402

from e2e_support import Server, resident_mb  # noqa: E402

USUAL_OPEN_FILES = 1024          # a login shell's soft limit: what a class's server usually gets
REFERENCE_S = 15.0               # the bystander alone, before any attack
SETTLE_S = 3.0                   # after an attacker has gone, before "after" is measured
RECOVERY_TIMEOUT_S = 30.0
LOOK_S = 0.5                     # the bystander looks at each result this long (x0.5-1.5)
ACTION_TIMEOUT_S = 15.0
SAMPLE_S = 0.5

PAD_VALUE_BYTES = 24_000_000     # the value: under Streamlit's 25 MB maxWidgetStateSize
PAD_ATTACKERS = 3
PAD_HOLD_S = 12.0                # how long the attackers stay after sending it
UPLOADS = 60
UPLOAD_BYTES = 5_200_000         # under the app's maxUploadSize of 5 MB (5,242,880 bytes)
SLOW_CLIENTS = 1100
ATTACKER_ADDRESS = "127.0.0.2"
SLOW_HOLD_S = 15.0
JOB_TRAIN = ["--variant", "dense", "--epochs", "2"]
STORAGE_DOWN_S = 7.0             # over SQLite's 5 s busy wait, under a heartbeat's 8 s to stale
JOB_END_WAIT_S = 60.0            # after storage is back, the job should end within this
CANCEL_WAIT_S = 20.0             # after the teacher's Cancel
XSRF_COOKIE = "_streamlit_xsrf"
ATTACKS = ("pad", "uploads", "slow", "job")

# A job on the server's queue, driven from a separate process so that this bench never imports
# PyTorch. It submits the job; when the worker has written the last epoch's progress (what is
# left is the test metrics, storing the model and the final status write), it takes the queue
# file's write lock for STORAGE_DOWN_S: every write of the app and its worker then fails after
# SQLite's 5 s busy wait, as every write fails while Redis restarts or the disk is full, while
# reads still work. The outage is shorter than a worker's heartbeat takes to go stale, as a
# quick Redis restart is. Then it reports whether the job ended by itself within JOB_END_WAIT_S,
# and if not, cancels it as the teacher and reports whether that ended it.
JOB = """
import json, sqlite3, sys, time
from pathlib import Path
from aedemo import jobs, taskqueue
from aedemo.cli import _spec_from_args, build_parser
from aedemo.store import ModelStore
home, argv = Path(sys.argv[1]), sys.argv[5:]
down, end_wait, cancel_wait = (float(a) for a in sys.argv[2:5])
ATTEMPTS = 3
queue = jobs.JobQueue(ModelStore(home), taskqueue.connect(home))
def say(**what):
    print(json.dumps(what), flush=True)
def record():
    try:
        return queue.board.get(taskqueue.Key.record(job.id)) or {}
    except Exception:
        return {}
def status():
    return record().get("status", "unreadable")
unended = ("running", "queued", "unreadable")
lock = sqlite3.connect(home / "queue.sqlite3", timeout=10, isolation_level=None)
# the job's end is a race (the test metrics and storing the model take a moment): a job that
# ended before the lock was taken is tried again with another seed
for attempt in range(ATTEMPTS):
    spec = _spec_from_args(build_parser().parse_args(["train", *argv, "--seed", str(attempt)]))
    job = queue.submit(spec, "hostile-student")
    while status() in unended:
        progress = queue.board.get(taskqueue.Key.progress(job.id)) or {}
        if len(progress.get("history", [])) >= spec.train.epochs:
            break
        time.sleep(0.005)
    lock.execute("BEGIN EXCLUSIVE")
    if status() == "running":
        break
    lock.rollback()
else:
    say(event="skipped", why=f"the job ended before its storage could fail, {ATTEMPTS} times")
    sys.exit()
time.sleep(down)
lock.rollback()
lock.close()
start = time.monotonic()
while time.monotonic() - start < end_wait and status() in unended:
    time.sleep(0.5)
say(event="after storage came back", status=status(), error=record().get("error") or "",
    waited=round(time.monotonic() - start, 1))
if status() in unended:
    try:
        queue.cancel(job.id, "teacher", teacher=True)
    except Exception as err:
        say(event="cancel refused", error=str(err))
    start = time.monotonic()
    while time.monotonic() - start < cancel_wait and status() in unended:
        time.sleep(0.5)
    say(event="after the teacher's cancel", status=status())
"""


@dataclass
class Outcome:
    attack: str
    rss_before: float
    rss_peak: float = 0.0
    rss_after: float = 0.0
    p95: float | None = None
    strokes: int = 0
    errors: list[str] = field(default_factory=list)      # the bystander's, and what failed
    notes: list[str] = field(default_factory=list)       # what the attack got
    recovered: bool = False


class Memory:
    """The server tree's highest RSS since ``reset``, sampled every SAMPLE_S."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0.0

    def reset(self) -> float:
        self.peak = resident_mb(self.pid)
        return self.peak

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak = max(self.peak, resident_mb(self.pid))
            await asyncio.sleep(SAMPLE_S)


def student_args() -> SimpleNamespace:
    """What classroom.Student reads from its command line."""
    return SimpleNamespace(look=LOOK_S, timeout=ACTION_TIMEOUT_S, debug=False, no_media=False)


async def draw_page(url: str) -> tuple[Student, st_client.Run]:
    """A fresh session with the Draw page open."""
    student = Student(random.randrange(10_000, 99_999), url, student_args(), Record(),
                      asyncio.Event())
    student.session = st_client.Session(url, fetch_media=False)
    try:
        run = await student.session.open("draw")
        await asyncio.wait_for(run.done.wait(), RECOVERY_TIMEOUT_S)
    except BaseException:
        await student.session.close()
        raise
    return student, run


async def recovered(url: str, expected: int) -> tuple[bool, str]:
    """Whether a fresh session opens the Draw page and gets its reconstructions of a stroke."""
    student = None
    try:
        student, _ = await draw_page(url)
        student.expected = expected
        await asyncio.wait_for(student.stroke(digit_strokes(student.rng)[:1]),
                               RECOVERY_TIMEOUT_S)
        draws = [a for a in student.record.actions if a.kind == "draw"]
        if draws and draws[-1].recon_s is not None and not student.record.errors:
            return True, ""
        return False, "; ".join(e for _, e in student.record.errors)[:120] or "no reconstructions"
    except Exception as err:
        return False, f"{type(err).__name__}: {str(err)[:100]}"
    finally:
        if student is not None and student.session is not None:
            await student.session.close()


def window(record: Record, t0: float, t1: float) -> tuple[list[float], list[str]]:
    strokes = [a.recon_s for a in record.actions
               if a.kind == "draw" and t0 <= a.sent < t1 and a.recon_s is not None]
    return strokes, [e for t, e in record.errors if t0 <= t < t1]


# --- the attacks --------------------------------------------------------------------------------

async def pad_value(server: Server, out: Outcome) -> None:
    value = '{"drawing": {"strokes": [' + "[]," * ((PAD_VALUE_BYTES - 40) // 3) + \
        '[]], "png": null}}'
    attackers = [await draw_page(server.url) for _ in range(PAD_ATTACKERS)]
    runs = [s.session.set_raw_json_state(s.pad(), value) for s, _ in attackers]
    await asyncio.sleep(PAD_HOLD_S)
    for (s, _), run in zip(attackers, runs):
        session = s.session
        if session.closed.is_set():
            out.notes.append(f"closed: {session.close_reason[:60]}")
        elif run.finished is not None:
            out.notes.append(f"error shown: {run.alerts[0][:60]}" if run.alerts else
                             "the page ran")
        else:
            out.notes.append(f"no answer within {PAD_HOLD_S:.0f} s")
        await session.close()
    out.notes = [f"{out.notes.count(n)} x {n}" for n in dict.fromkeys(out.notes)]


async def uploads(server: Server, out: Outcome) -> None:
    student, _ = await draw_page(server.url)
    session_id = student.session.session_id
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as r:
        cookie = SimpleCookie(r.headers.get("Set-Cookie", ""))
    token = cookie[XSRF_COOKIE].value if XSRF_COOKIE in cookie else ""
    data = os.urandom(UPLOAD_BYTES)
    statuses: dict[str, int] = {}

    def put(n: int) -> str:
        boundary = f"hostile{n:04d}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"digit{n}.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + \
            data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"{server.url}/_stcore/upload_file/{session_id}/hostile-{n}", data=body,
            method="PUT", headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                   "X-Xsrftoken": token, "Cookie": f"{XSRF_COOKIE}={token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return str(r.status)
        except urllib.error.HTTPError as err:
            return str(err.code)
        except OSError as err:
            return type(err).__name__

    for n in range(UPLOADS):
        got = await asyncio.to_thread(put, n)
        statuses[got] = statuses.get(got, 0) + 1
    accepted = statuses.pop("204", 0)
    out.notes.append(f"{accepted} of {UPLOADS} files accepted "
                     f"({accepted * UPLOAD_BYTES / 1e6:.0f} MB held)")
    out.notes += [f"{n} x {code}" for code, n in statuses.items()]
    out.rss_after = resident_mb(server.proc.pid)     # while the session, and its files, live
    await student.session.close()


async def slow_clients(server: Server, out: Outcome) -> None:
    log_before = server.log.stat().st_size
    host, port = server.url.split("//")[1].split(":")
    writers, refused = [], 0

    async def half_open():
        # from a computer of its own (127.0.0.2), as the student's laptop is: the bystander's
        # fresh loads come from 127.0.0.1, and the server caps connections per address
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), local_addr=(ATTACKER_ADDRESS, 0)), 5)
        writer.write(b"GET / HTTP/1.1\r\n")
        await writer.drain()
        return writer

    for got in await asyncio.gather(*(half_open() for _ in range(SLOW_CLIENTS)),
                                    return_exceptions=True):
        if isinstance(got, BaseException):
            refused += 1
        else:
            writers.append(got)

    def fresh_load() -> bool:
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=3) as r:
                return r.status == 200
        except OSError:
            return False

    tries = failures = 0
    end = time.monotonic() + SLOW_HOLD_S
    while time.monotonic() < end:
        tries += 1
        failures += not await asyncio.to_thread(fresh_load)
        await asyncio.sleep(1)
    for w in writers:
        w.close()
    out.notes.append(f"{len(writers)} held open ({refused} not)")
    out.notes.append(f"fresh loads failed {failures} of {tries}")
    out.notes.append(f"log +{(server.log.stat().st_size - log_before) / 1e6:.1f} MB")
    if failures:
        out.errors.append(f"{failures} fresh page loads failed")


async def endless_job(server: Server, out: Outcome, env: dict) -> None:
    job = await asyncio.create_subprocess_exec(
        sys.executable, "-c", JOB, str(server.home), str(STORAGE_DOWN_S), str(JOB_END_WAIT_S),
        str(CANCEL_WAIT_S), *JOB_TRAIN, cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        said, err = await asyncio.wait_for(job.communicate(), 240)
    except asyncio.TimeoutError:
        job.kill()
        said, err = await job.communicate()
    events = [json.loads(line) for line in said.decode().splitlines() if line.startswith("{")]
    if not events:
        out.notes.append("skipped: the job could not be driven ("
                         f"{(err.decode().strip().splitlines() or ['no output'])[-1][:80]})")
        return
    for event in events:
        if event["event"] == "skipped":
            out.notes.append(f"skipped: {event['why']}")
        elif event["event"] == "after storage came back":
            why = f" ({event['error'][:50]})" if event["error"] else ""
            out.notes.append(f"{event['status']}{why} {event['waited']:.0f} s after storage "
                             "came back")
            if event["status"] in ("running", "queued"):
                out.errors.append("the job never ended")
        elif event["event"] == "cancel refused":
            out.notes.append(f"the teacher's Cancel refused: {event['error'][:60]}")
        else:
            out.notes.append(f"{event['status']} after the teacher's Cancel")
            if event["status"] in ("running", "queued"):
                out.errors.append("the teacher's Cancel did nothing")


# --- the run ----------------------------------------------------------------------------------

def prepare(home: Path, env: dict) -> None:
    """One small model for the Draw page to reconstruct with (the zoo would take minutes)."""
    subprocess.run([sys.executable, "-m", "aedemo", "train", "--variant", "dense", "--epochs",
                    "1", "--json"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def start_server(home: Path) -> Server:
    """The README's server, with the usual soft limit of open files (it inherits this bench's);
    this bench then takes back its own, for the attacker's connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(USUAL_OPEN_FILES, hard), hard))
    try:
        return Server(home, {"AEDEMO_ZOO": "0"})
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, SLOW_CLIENTS * 2)),
                                                    hard))


async def measure(args) -> dict:
    home = Path(tempfile.mkdtemp(prefix="aedemo-hostile-"))
    env = {**os.environ, "AEDEMO_HOME": str(home), "AEDEMO_DATA_DIR": str(home / "data"),
           "AEDEMO_ZOO": "0"}
    prepare(home, env)
    server = start_server(home)
    stop = asyncio.Event()
    memory = Memory(server.proc.pid)
    outcomes: list[Outcome] = []
    tasks = []
    try:
        # a first stroke warms the server (dataset loaded, model read) and says how many
        # reconstructions a stroke brings
        async def open_probe() -> Student:
            return (await draw_page(server.url))[0]

        expected = await first_stroke(open_probe)

        record = Record()
        bystander = Student(0, server.url, student_args(), record, stop)
        bystander.expected = expected
        tasks = [asyncio.create_task(bystander.run()), asyncio.create_task(memory.sample(stop))]
        await asyncio.wait_for(bystander.opened.wait(), 120)

        reference = Outcome("none (reference)", memory.reset())
        t0 = time.perf_counter()
        await asyncio.sleep(REFERENCE_S)
        strokes, errors = window(record, t0, time.perf_counter())
        reference.p95, reference.strokes, reference.errors = pct(strokes, 95), len(strokes), errors
        reference.rss_peak = reference.rss_after = memory.peak
        reference.recovered = True
        outcomes.append(reference)

        attacks = {"pad": ("1 pad value: 3 x 24 MB of empty lists", pad_value),
                   "uploads": ("2 uploads: 60 x 5.2 MB in one session", uploads),
                   "slow": ("3 slow clients: 1,100 half-open", slow_clients),
                   "job": ("4 a job whose storage fails", None)}
        for name in args.only:
            title, attack = attacks[name]
            out = Outcome(title, memory.reset())
            t0 = time.perf_counter()
            try:
                if name == "job":
                    await endless_job(server, out, env)
                else:
                    await attack(server, out)
            except Exception as err:
                out.notes.append(f"the attack failed: {type(err).__name__}: {str(err)[:80]}")
            t1 = time.perf_counter()
            await asyncio.sleep(SETTLE_S)
            out.rss_peak = memory.peak
            out.rss_after = out.rss_after or resident_mb(server.proc.pid)
            strokes, errors = window(record, t0, t1)
            out.p95, out.strokes = pct(strokes, 95), len(strokes)
            out.errors = errors + out.errors
            out.recovered, why = await recovered(server.url, expected)
            if why:
                out.notes.append(f"fresh session: {why}")
            if name == "job":      # and the job ended, by itself or by the teacher's Cancel
                out.recovered = out.recovered and not any(
                    n.startswith("skipped") for n in out.notes) and not any(
                    "did nothing" in e for e in out.errors)
            outcomes.append(out)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()
    return {"outcomes": [o.__dict__ for o in outcomes], "cores": os.cpu_count(),
            "server_open_files": USUAL_OPEN_FILES, "log": str(server.log)}


def report(result: dict) -> None:
    outcomes = result["outcomes"]
    ref = outcomes[0]
    print(f"aedemo against a hostile student: the README's server ({result['server_open_files']} "
          f"open files), {result['cores']} cores; a bystander student draws throughout "
          f"(stroke -> reconstructions). The server's log: {result['log']}")
    print()
    print("| attack | server RSS before → peak → after (MB) | bystander p95 (s, × reference) "
          "[strokes] | errors | what happened | recovered |")
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        ratio = (f" ({o['p95'] / ref['p95']:.1f}×)" if o["p95"] is not None and ref["p95"]
                 else "")
        p95 = "–" if o["p95"] is None else f"{o['p95']:.3f}"
        errors = len(o["errors"])
        counted: dict[str, int] = {}
        for e in o["errors"]:
            kind = re.sub(r"\d+(\.\d+)?", "N", e)[:70]
            counted[kind] = counted.get(kind, 0) + 1
        kinds = [f"{n} x {k}" for k, n in counted.items()]
        print(f"| {o['attack']} | {o['rss_before']:.0f} → {o['rss_peak']:.0f} → "
              f"{o['rss_after']:.0f} ({o['rss_after'] / o['rss_before']:.2f}×) | "
              f"{p95}{ratio} [{o['strokes']}] | {errors}{': ' + '; '.join(kinds) if kinds else ''}"
              f" | {'; '.join(o['notes']) or '–'} | {'yes' if o['recovered'] else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Replay issue 19's high findings against the README's server, with a "
                    "bystander student drawing throughout")
    parser.add_argument("--only", default=",".join(ATTACKS),
                        help="the attacks to run, in order (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()
    args.only = [a.strip() for a in args.only.split(",") if a.strip()]
    if not args.only or any(a not in ATTACKS for a in args.only):
        parser.error(f"--only takes some of {','.join(ATTACKS)}")
    result = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(result))
    else:
        report(result)


if __name__ == "__main__":
    main()
