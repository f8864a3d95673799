"""Classroom capacity, measured on the server: simulated students that speak Streamlit's own
websocket protocol (bench/st_client.py), one real Chromium tab beside them, and one training
job running the whole time.

Twenty Chromium tabs on the same machine as the server (this bench's first form) took most of
a small machine's CPU themselves, so their times measured Chromium more than the server. Here
each student is a websocket client in this one process, doing what the Draw page's tab does:
it opens the page, sends the drawing pad's state after each stroke (a real 280 x 280 PNG of
white strokes on black, and the strokes, as aedemo/assets/drawing_pad.js sends them: once a
stroke, never while the pen moves, whose copies the browser computes itself), sometimes goes
to the Reconstructions page and back, clears the pad, and looks at each result for about
--look seconds; like a tab it answers the sidebar's run_every fragment and keeps Streamlit's
message cache. (The bottleneck sweep's slider repaints in the browser: the server hears
nothing of it.) Levels of --students (10, 30 then 60 by default) join one after the other and
stay, each level measured for --seconds once everyone in it has the page open. What it
reports per level:

* stroke -> reconstructions received: from sending the stroke until the last of the server's
  copies (every variant's in the pad's row and the sweep's at each k, in their components'
  data, each with its "k=.. · MSE" caption) has arrived; p50 and p95, and p95 until any image
  files of the page have been fetched too;
* page changes, the same way;
* errors: actions not answered within --timeout, strokes that brought only some of their
  reconstructions, exceptions or error messages on the page, dropped
  connections, protocol trouble (a cached-message miss), failed image fetches;
* the server's resident memory (its process tree, the highest sample) and CPU share, the
  training job's CPU and how much of the time one was running, this bench's own CPU share
  (the simulated students) and the Chromium tab's;
* the real tab's on-screen time from mouse-up to every copy beside the pad replaced by the
  server's (as a student sees the error arrive), p50 and p95;
* how busy the whole machine was, and how much of that was processes outside this bench
  (other work on a shared machine makes every figure worse: read it beside them).

* the class together (issue 22): after a stroke's copies have come, a student presses Share
  with the class one time in four (SHARE_P; "everyone draws a 3 and shares it"); shares and
  refusals (one share per student every few seconds, said in words: not errors) are counted
  apart. The teacher's Class page is projected in a Chromium tab of its own, watched every
  20 ms: its refresh time is from a share's answer reaching the student to the projected
  map's shared drawings next changing (the map's fragment polls the class's revision every
  3 s), p50 and p95; and what that poll costs the server, its web process's CPU over a quiet
  window with the page open against one without, measured before the students join.

Targets, at 30 students: stroke p95 <= 0.5 s, no errors, server memory <= 1.5 GB.

The training job is a convolutional autoencoder for 100 epochs, started again with a new seed
whenever one ends: by default submitted to the server's job queue (as the Train page submits
one) and trained by the app's own worker process, a child of the server; with --trainer cli,
`python -m aedemo train` in a subprocess of this bench on the server's store. The server's
memory is that of its process tree (web process and workers; the web process's alone beside
it), its CPU that of the web process, the training job's that of the workers.

    .venv/bin/python bench/classroom.py [--students 10,30,60] [--seconds 60] [--look 3]
                                        [--no-browser] [--no-training] [--json] [--debug]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

import st_client  # noqa: E402

from e2e_support import (  # noqa: E402
    CHROMIUM_FLAGS,
    PAD,
    Server,
    cpu_seconds,
    process_tree,
    resident_mb,
)
from support import busy_cpu_seconds  # noqa: E402

P95_TARGET_S = 0.5
MEMORY_TARGET_MB = 1536
TARGET_STUDENTS = 30
LOOK_S = 3.0
ACTION_TIMEOUT_S = 15.0
RAMP_S = 0.25             # between two students opening the page (a class arrives over seconds)
SETTLE_S = 2.0            # after the last of a level has the page, before its window opens
SAMPLE_S = 2.0            # memory and CPU samples
SLIDER_P = 0.5            # after a digit, the chance a student moves the bottleneck slider
PAGE_P = 0.15             # ... and then goes to the Reconstructions page and back
SHARE_P = 0.25            # after a stroke's copies came, the chance a student shares the drawing
SHARE_LABEL = "Share with the class"
SHARED = re.compile(r"^Shared: ")                      # aedemo.ui.class_view.share_button's words
SHARE_REFUSED = re.compile(r"You can share one drawing|could not be shared|map is full")
QUIET_S = 10.0            # the windows that measure the projected Class page's polling
PROJECTOR_TIMEOUT_S = 30.0     # a share not on the projected map by then is an error
BROWSER_NICE = 10         # the real tab, the load generator, yields the CPU to the server
TRAIN_CMD = ["-m", "aedemo", "train", "--variant", "conv", "--epochs", "100", "--json"]
PAD_SIZE, PAD_STROKE = 280, 18           # aedemo/assets/drawing_pad.js, aedemo.ui.PAD_STROKE
# the server's reconstructions of a stroke, by their captions: every variant's copy in the
# row beside the pad, then the bottleneck sweep's at each k (both in their components' data)
RECON = re.compile(r"k=\d+ · MSE")


# --- drawings ---------------------------------------------------------------------------------

def _arc(cx, cy, rx, ry, a0, a1, n=14):
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a))
            for a in np.linspace(math.radians(a0), math.radians(a1), n)]


# Each digit as the strokes a student draws, in a unit box (y down); a stroke is a polyline.
DIGITS = {
    0: [_arc(0.5, 0.5, 0.28, 0.4, -90, 270, 24)],
    1: [[(0.38, 0.25), (0.52, 0.1), (0.52, 0.9)]],
    2: [_arc(0.5, 0.32, 0.26, 0.22, 200, 380, 10) + [(0.25, 0.9), (0.8, 0.9)]],
    3: [_arc(0.47, 0.3, 0.25, 0.2, 200, 450, 12), _arc(0.47, 0.7, 0.28, 0.2, 270, 500, 12)],
    4: [[(0.6, 0.1), (0.2, 0.62), (0.82, 0.62)], [(0.62, 0.35), (0.62, 0.92)]],
    5: [[(0.75, 0.12), (0.32, 0.12), (0.28, 0.45)], _arc(0.48, 0.66, 0.28, 0.24, 230, 520, 14)],
    6: [[(0.68, 0.1), (0.35, 0.45)] + _arc(0.5, 0.68, 0.24, 0.22, 180, 540, 18)],
    7: [[(0.2, 0.14), (0.8, 0.14), (0.42, 0.92)]],
    8: [_arc(0.5, 0.3, 0.2, 0.19, 90, 450, 16), _arc(0.5, 0.7, 0.25, 0.21, -90, 270, 18)],
    9: [_arc(0.5, 0.32, 0.22, 0.2, 0, 360, 18), [(0.72, 0.32), (0.66, 0.92)]],
}


def digit_strokes(rng: random.Random, digit: int | None = None) -> list[list[float]]:
    """One digit (``digit``, else one at random) as the pad's strokes ([x0, y0, x1, y1, ...]
    in its 280 pixels, to 0.1 px), placed, sized, slanted and jittered as a hand would, with
    the points a mouse sends."""
    strokes = DIGITS[rng.randrange(10) if digit is None else digit]
    size = rng.uniform(0.45, 0.85) * PAD_SIZE
    x0 = rng.uniform(0.05, 0.95 - size / PAD_SIZE * 0.8) * PAD_SIZE
    y0 = rng.uniform(0.05, 0.95 - size / PAD_SIZE) * PAD_SIZE
    slant = rng.uniform(-0.2, 0.2)
    out = []
    for poly in strokes:
        pts = []
        for (ax, ay), (bx, by) in zip(poly, poly[1:]):
            steps = max(1, int(math.hypot(bx - ax, by - ay) * size / 8))   # a point every ~8 px
            for i in range(steps):
                u, v = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
                pts.append((u, v))
        pts.append(poly[-1])
        flat = []
        for u, v in pts:
            x = x0 + (u * 0.8 + slant * (0.5 - v)) * size + rng.gauss(0, 1.2)
            y = y0 + v * size + rng.gauss(0, 1.2)
            flat += [round(min(max(x, 0), PAD_SIZE - 1), 1), round(min(max(y, 0), PAD_SIZE - 1), 1)]
        out.append(flat)
    return out


def pad_png(strokes: list[list[float]]) -> str:
    """The pad's canvas.toDataURL("image/png"): white round-capped strokes on opaque black."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (PAD_SIZE, PAD_SIZE), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    r = PAD_STROKE / 2
    for flat in strokes:
        pts = list(zip(flat[::2], flat[1::2]))
        if len(pts) > 1:
            draw.line(pts, fill=(255, 255, 255, 255), width=PAD_STROKE, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# --- what is recorded -------------------------------------------------------------------------

@dataclass
class Action:
    kind: str                 # draw, page, clear, open, share; tab-draw
    sent: float
    recon_s: float | None = None       # reconstructions received (deltas)
    media_s: float | None = None       # ... and their image files fetched
    finished_s: float | None = None    # script_finished
    error: str | None = None


@dataclass
class Record:
    actions: list[Action] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    anomalies: list[tuple[float, str]] = field(default_factory=list)   # Streamlit's, not errors
    auto_reruns: list[float] = field(default_factory=list)   # run_every reruns the tabs sent
    shared: list[float] = field(default_factory=list)        # a share's "Shared:" arrived
    refused: list[float] = field(default_factory=list)       # a share refused in words
    map_changes: list[float] = field(default_factory=list)   # the projected map's drawings

    def error(self, what: str) -> None:
        self.errors.append((time.perf_counter(), what))


# --- a simulated student ------------------------------------------------------------------------

class Student:
    def __init__(self, n: int, url: str, args, record: Record, stop: asyncio.Event):
        self.n, self.url, self.args, self.record, self.stop = n, url, args, record, stop
        self.rng = random.Random(1000 + n)
        self.session: st_client.Session | None = None
        self.opened = asyncio.Event()
        self.expected = 0               # reconstructions a stroke brings (learned on the first)

    def look(self) -> float:
        return self.rng.uniform(0.5, 1.5) * self.args.look

    async def pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await self.connect()
                await self.lesson()
            except ConnectionError as err:
                self.record.error(f"dropped connection: {str(err)[:60]}")
            except Exception as err:          # a student's crash is an error, not the bench's
                self.record.error(f"student crashed: {type(err).__name__}: {str(err)[:80]}")
                await self.pause(2)
            finally:
                if self.session is not None:
                    self.collect_protocol_errors()
                    await self.session.close()
                    self.session = None

    def collect_protocol_errors(self) -> None:
        s = self.session
        for e in s.errors:
            self.record.error(f"protocol: {e}")
        s.errors.clear()
        self.record.anomalies += s.anomalies
        s.anomalies.clear()
        if s.media is not None:
            for e in s.media.failures:
                self.record.error(e)
            s.media.failures.clear()

    async def connect(self) -> None:
        self.session = st_client.Session(self.url, fetch_media=not self.args.no_media,
                                         on_auto_rerun=self.record.auto_reruns.append)
        action = Action("open", time.perf_counter())
        run = await self.session.open("draw")
        await self.settle(action, run, timeout=120)
        self.opened.set()

    async def settle(self, action: Action, run: st_client.Run, *, expect: int = 0,
                     timeout: float | None = None) -> st_client.Run:
        """Wait for ``run`` and time it into ``action``. A run unanswered after --timeout is an
        error (whether the server never started it or never finished it), and the student
        goes on as a student would: with the next stroke."""
        timeout = timeout or self.args.timeout
        s = self.session
        try:
            await asyncio.wait_for(run.done.wait(), timeout)
        except asyncio.TimeoutError:
            if s.closed.is_set():
                raise ConnectionError(s.close_reason or "closed") from None
            action.error = "timeout"
            how = "never started" if run.started is None else "started, never finished"
            self.record.error(f"timeout: {action.kind} unanswered after {timeout:.0f} s "
                              f"({how})")
            if self.args.debug:
                print(f"student {self.n} timed out at {time.perf_counter():.3f} on "
                      f"{action.kind} sent {action.sent:.3f}: {s.describe(action.sent)}",
                      file=sys.stderr)
            # a student gives up waiting and goes on; an answer arriving later is ignored
            if run in s.pending:
                s.pending.remove(run)
            self.record.actions.append(action)
            self.collect_protocol_errors()
            return run
        if s.closed.is_set() and run.finished is None:
            raise ConnectionError(s.close_reason or "closed")
        action.finished_s = run.finished - action.sent
        for e in run.exceptions:
            self.record.error(f"exception on the page: {e}")
        for e in run.alerts:
            self.record.error(f"error on the page: {e}")
        if expect:
            recon = run.texts_matching(RECON)
            if len(recon) < expect:
                if not action.error:
                    self.record.error(f"{action.kind}: only some of its reconstructions came "
                                      f"({len(recon)} of {expect})")
                    action.error = "missing"
                    if self.args.debug:
                        print(f"student {self.n} missing reconstructions at "
                              f"{time.perf_counter():.3f} on {action.kind} sent "
                              f"{action.sent:.3f}: {s.describe(action.sent)}", file=sys.stderr)
            else:
                last = recon[expect - 1][0]
                action.recon_s = last - action.sent
                fetches = [f for (t, _), f in zip(run.images, run.media)
                           if t <= last and f is not None]
                if fetches:
                    try:
                        done = await asyncio.wait_for(asyncio.gather(*fetches), timeout)
                        action.media_s = max(t for _, t in done) - action.sent
                    except asyncio.TimeoutError:
                        self.record.error(f"timeout: {action.kind}'s images not fetched")
                elif not self.args.no_media:
                    action.media_s = action.recon_s
        self.record.actions.append(action)
        self.collect_protocol_errors()
        return run

    def pad(self) -> st_client.Widget:
        pad = self.session.widget("bidi_component", lambda w: w.proto.component_name.endswith(
            "drawing_pad"))
        if pad is None:
            raise RuntimeError("no drawing pad on the Draw page")
        return pad

    async def stroke(self, strokes: list[list[float]]) -> None:
        action = Action("draw", time.perf_counter())
        run = self.session.set_json_state(self.pad(), "drawing",
                                          {"png": pad_png(strokes), "strokes": strokes})
        if not self.expected:                # the first stroke tells how many to expect
            await asyncio.wait_for(run.done.wait(), 120)
            self.expected = len(run.texts_matching(RECON))
            if not self.expected:
                raise RuntimeError("a stroke brought no reconstructions (no models yet?)")
            return
        await self.settle(action, run, expect=self.expected)

    async def share(self) -> None:
        """Press Share with the class; the answer is "Shared: ..." or a refusal in words (one
        share every few seconds per student), which is counted apart, not as an error."""
        button = self.session.widget("button", lambda w: w.label == SHARE_LABEL)
        if button is None or button.proto.disabled:
            self.record.error("share: no Share with the class button to press")
            return
        action = Action("share", time.perf_counter())
        run = await self.settle(action, self.session.click(button))
        said = [(t, body) for t, body in run.notes if SHARED.search(body)]
        if said:
            self.record.shared.append(said[0][0])
        elif any(SHARE_REFUSED.search(body) for _, body in run.notes):
            self.record.refused.append(action.sent)
        elif run.finished is not None:
            self.record.error("share: neither shared nor refused in words")

    async def lesson(self) -> None:
        while not self.stop.is_set():
            strokes: list[list[float]] = []
            for stroke in digit_strokes(self.rng):
                strokes.append(stroke)
                await self.stroke(strokes)
                # "everyone draws a 3 and shares it": now and then the drawing so far
                if self.args.share and self.rng.random() < SHARE_P:
                    await self.share()
                await self.pause(self.look())
                if self.stop.is_set():
                    return
            # the bottleneck sweep's slider: the student moves it and looks, as before issue
            # 21, but it repaints in the browser (drawing_pad.js) and the server hears nothing
            # of it. Then now and then another page, and back
            if self.rng.random() < SLIDER_P:
                await self.pause(self.look())
                if self.rng.random() < PAGE_P / SLIDER_P:
                    for page in ("reconstructions", "draw"):
                        action = Action("page", time.perf_counter())
                        await self.settle(action, self.session.go_to(page))
                        await self.pause(self.look())
            if self.stop.is_set():
                return
            action = Action("clear", time.perf_counter())
            await self.settle(action, self.session.set_json_state(
                self.pad(), "drawing", {"png": None, "strokes": []}))
            await self.pause(self.rng.uniform(0.2, 0.8))


# --- the real tab's view of the page ---------------------------------------------------------

CLEAR = "Clear"                     # the drawing pad's own button
TAB_TIMEOUT_MS = 15_000
# how often the page checks for the update: often enough to time it to within 20 ms, without
# the check itself (every animation frame by default) loading the browser
POLL_MS = 20
# The server's reconstructions on the Draw page, in order: the captions of the row of copies
# beside the pad (canvas.live-recon in the pad component's shadow root). While the pen moves
# the browser paints them ("dense k=16 · in your browser"); after the stroke the server's
# copies are painted into the same canvases, their captions giving its error
# ("dense k=16 · MSE 0.0123"). The sweep's slider repaints in the browser alone.
RECONSTRUCTIONS = """() => { const out = [];
    const deep = root => {
        root.querySelectorAll('canvas.live-recon').forEach(c => {
            const caption = c.parentElement && c.parentElement.querySelector('figcaption');
            out.push(caption ? caption.textContent : ''); });
        root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) deep(e.shadowRoot); });
    };
    deep(document);
    return out; }"""
# true once every copy is the server's and differs from those in ``before``, at least ``n``
ALL_NEW = f"""([before, n]) => {{ const now = ({RECONSTRUCTIONS})();
    return now.length >= n && now.every((caption, i) => caption !== before[i]
                                                       && / · MSE /.test(caption)); }}"""
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


async def first_stroke(open_probe) -> int:
    """Draw one stroke in fresh sessions (``open_probe()``: a Student with the Draw page open)
    until it brings reconstructions, as on a warm server (its dataset loaded, its models read):
    how many reconstructions a stroke brings. The benches measure from there."""
    deadline = time.monotonic() + 180
    while True:
        probe = await open_probe()
        try:
            await probe.stroke(digit_strokes(probe.rng)[:1])
            return probe.expected
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)
        finally:
            await probe.session.close()

async def wait_for(page, condition: str, before: list[str], n: int) -> None:
    await page.wait_for_function(condition, arg=[before, n], timeout=TAB_TIMEOUT_MS,
                                 polling=POLL_MS)


async def draw_stroke(page, canvas, rng: random.Random) -> tuple[list[str], float]:
    """A random downward stroke; returns the reconstructions shown before the mouse-up, and
    the moment of the mouse-up."""
    box = await canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * rng.uniform(0.3, 0.7), box["y"] + box["height"] * 0.2
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    for i in range(1, 12):
        await page.mouse.move(x0 + rng.uniform(-60, 60) * i / 11,
                              y0 + box["height"] * 0.6 * i / 11, steps=2)
    before = await page.evaluate(RECONSTRUCTIONS)
    await page.mouse.up()
    return before, time.perf_counter()


# --- the real tab ---------------------------------------------------------------------------------

async def niced_tab(p, args, others, width: int, height: int):
    """A Chromium of its own and a tab in it, the browser's processes yielding the CPU to the
    server (``others()``: the server's and the trainer's processes, left as they are). Returns
    (browser, context, page)."""
    browser = await p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
    skip = set(others()) | {os.getpid()}
    for pid in process_tree(os.getpid()):
        if pid not in skip:
            try:
                os.setpriority(os.PRIO_PROCESS, pid, args.browser_nice)
            except OSError:
                pass
    context = await browser.new_context(viewport={"width": width, "height": height})
    return browser, context, await context.new_page()


async def real_tab(url: str, args, record: Record, stop: asyncio.Event, ready: asyncio.Event,
                   others) -> None:
    """One Chromium tab drawing on the pad as a student does, timing
    mouse-up (or key press) to every reconstruction that should change changed on screen."""
    from playwright.async_api import async_playwright

    rng = random.Random(7)
    async with async_playwright() as p:
        browser, context, page = await niced_tab(p, args, others, 1300, 1000)
        try:
            await page.goto(f"{url}/draw", timeout=120_000)
            canvas = page.locator(PAD)
            clear = page.get_by_role("button", name=CLEAR)
            await canvas.wait_for(timeout=120_000)
            await draw_stroke(page, canvas, rng)
            await page.wait_for_function(
                f"() => ({RECONSTRUCTIONS})().some(c => / · MSE /.test(c))", timeout=120_000)
            await page.wait_for_function(IDLE, timeout=120_000)
            shown = len(await page.evaluate(RECONSTRUCTIONS))
            ready.set()

            async def timed(kind, condition, before, n, start):
                action = Action(kind, start)
                try:
                    await wait_for(page, condition, before, n)
                    action.recon_s = time.perf_counter() - start
                except Exception as err:
                    action.error = type(err).__name__
                    record.error(f"{kind}: {type(err).__name__}")
                record.actions.append(action)

            while not stop.is_set():
                await clear.click()
                await asyncio.sleep(rng.uniform(0.2, 0.8))
                for _ in range(2):
                    before, up = await draw_stroke(page, canvas, rng)
                    await timed("tab-draw", ALL_NEW, before, shown, up)
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * args.look)
                if await page.locator('[data-testid="stException"]').count():
                    record.error("tab: exception on the page")
                await asyncio.sleep(rng.uniform(0.5, 1.5) * args.look)
        except Exception as err:
            record.error(f"tab: {type(err).__name__}: {str(err)[:80]}")
            ready.set()
        finally:
            await context.close()
            await browser.close()


# --- the teacher's Class page, projected ---------------------------------------------------------

# The shared drawings on the projected Class page's map, as plotly holds them: each trace named
# "shared: ..." (aedemo.viz.class_view), its points. A new share, or one replacing a student's
# oldest, changes them.
SHARED_POINTS = """() => { const out = [];
    document.querySelectorAll('.js-plotly-plot').forEach(gd => (gd._fullData || []).forEach(t => {
        if ((t.name || '').startsWith('shared:'))
            out.push(t.name + ':' + Array.from(t.x || []).map(v => (+v).toFixed(4)).join(',')
                     + ';' + Array.from(t.y || []).map(v => (+v).toFixed(4)).join(','));
    }));
    return out.join('|'); }"""


async def projected_class_page(url: str, args, record: Record, stop: asyncio.Event,
                               ready: asyncio.Event, others) -> None:
    """The teacher's Class page on the projector: a Chromium tab of its own at /class (on the
    app's own command every browser of this machine teaches), watched every POLL_MS for a
    change of the shared drawings on its map; each change's time goes in the record."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser, context, page = await niced_tab(p, args, others, 1280, 800)
        try:
            await page.goto(f"{url}/class", timeout=120_000)
            await page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            await page.wait_for_function(IDLE, timeout=120_000)
            last = await page.evaluate(SHARED_POINTS)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(POLL_MS / 1000)
                now = await page.evaluate(SHARED_POINTS)
                if now != last:
                    record.map_changes.append(time.perf_counter())
                    last = now
            if await page.locator('[data-testid="stException"]').count():
                record.error("projector: exception on the page")
        except Exception as err:
            record.error(f"projector: {type(err).__name__}: {str(err)[:80]}")
            ready.set()
        finally:
            await context.close()
            await browser.close()


def refresh_times(shared: list[float], changes: list[float], t0: float, t1: float
                  ) -> tuple[list[float], int]:
    """For each share answered in [t0, t1): the time until the projected map's drawings next
    changed (the poll that read it, and the redraw); and how many never showed within
    PROJECTOR_TIMEOUT_S."""
    times, missed = [], 0
    for t in (t for t in shared if t0 <= t < t1):
        after = next((c for c in changes if c > t), None)
        if after is None or after - t > PROJECTOR_TIMEOUT_S:
            missed += 1
        else:
            times.append(after - t)
    return times, missed


# --- the training job ------------------------------------------------------------------------

# A job for the app's own training worker, submitted to the server's queue as the Train page
# submits one, and waited for; a separate process, so that this bench never imports PyTorch.
# It prints "running" once a worker has taken the job, and cancels it when terminated.
SUBMIT = """
import json, signal, sys, time
from pathlib import Path
from aedemo import jobs, taskqueue
from aedemo.cli import _spec_from_args, build_parser
from aedemo.store import ModelStore
home, argv = Path(sys.argv[1]), sys.argv[2:]
queue = jobs.JobQueue(ModelStore(home), taskqueue.connect(home))
job = queue.submit(_spec_from_args(build_parser().parse_args(argv)), "bench-teacher")
def cancel(*_):
    queue.cancel(job.id, "bench-teacher")
    sys.exit(0)
signal.signal(signal.SIGTERM, cancel)
said = False
while True:
    snap = queue.wait(job.id, timeout=0.5)
    if snap.status.value == "running" and not said:
        print("running", flush=True)
        said = True
    if not snap.active:
        print(json.dumps({"status": snap.status.value, "error": snap.error,
                          "reused": snap.reused}), flush=True)
        sys.exit(0 if snap.status.value == "done" and not snap.reused else 1)
"""


class Trainer:
    """Keeps one training job running until stopped, the next one started (with a new seed)
    when one ends, and remembers when one was training. ``worker``: a job on the server's
    queue, trained by the app's own worker process (in the server's process tree);
    ``cli``: `aedemo train` in a subprocess of this bench on the server's store. The CPU of
    the subprocesses themselves comes from their rusage (wait4)."""

    def __init__(self, env: dict, mode: str, home: Path, seed: int | None = None):
        # seeds a store kept from an earlier run (--home) will not hold a model for already
        self.seed = seed if seed is not None else int(time.time()) % 1_000_000 * 100
        self.env, self.mode, self.home = env, mode, home
        self.intervals: list[list[float]] = []      # [start, end or None]: a job training
        self.done_cpu = 0.0
        self.proc: subprocess.Popen | None = None
        self.failures: list[str] = []
        self.finished = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _command(self) -> list[str]:
        args = [a for a in TRAIN_CMD[2:] if a != "--json"] + ["--seed", str(self.seed)]
        if self.mode == "worker":
            return [sys.executable, "-c", SUBMIT, str(self.home), *args]
        return [sys.executable, *TRAIN_CMD, "--seed", str(self.seed)]

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.seed += 1
            log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(self._command(), cwd=REPO, env=self.env,
                                         stdout=subprocess.PIPE, stderr=log, text=True)
            if self.mode == "cli":
                self.intervals.append([time.perf_counter(), None])
            out = []
            for line in self.proc.stdout:               # until the subprocess ends
                out.append(line)
                if line.strip() == "running":
                    self.intervals.append([time.perf_counter(), None])
            _, status, usage = os.wait4(self.proc.pid, 0)
            if self.intervals and self.intervals[-1][1] is None:
                self.intervals[-1][1] = time.perf_counter()
            self.done_cpu += usage.ru_utime + usage.ru_stime
            log.seek(0)
            err = log.read().decode(errors="replace").strip()
            log.close()
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            if self.proc.returncode == 0:
                self.finished += 1
            elif not self.stopping.is_set():
                last = (err.splitlines() or out or [f"exit {self.proc.returncode}"])[-1]
                self.failures.append(last.strip()[:160])
                time.sleep(2)

    def cpu(self) -> float:
        """This bench's training subprocesses' CPU (the cli trainer; the worker's is the
        server tree's)."""
        proc = self.proc
        alive = cpu_seconds(proc.pid) if proc is not None and proc.returncode is None else 0.0
        return self.done_cpu + alive

    def pids(self) -> list[int]:
        proc = self.proc
        return process_tree(proc.pid) if proc is not None and proc.returncode is None else []

    def share(self, t0: float, t1: float) -> float:
        now = time.perf_counter()
        busy = sum(max(0.0, min(end or now, t1) - max(start, t0))
                   for start, end in self.intervals)
        return busy / (t1 - t0) if t1 > t0 else 0.0

    def stop(self) -> None:
        self.stopping.set()
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
        self.thread.join(30)


# --- measuring -----------------------------------------------------------------------------------

def own_cpu_of(pid: int) -> float:
    """A process's own user and system time (its threads, not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss_mb(pids) -> float:
    """The proportional set size of these processes together: a page of memory that several
    share (PyTorch's libraries in the web process and its worker) is counted once, split
    between them, where RSS counts it in each."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def tree_cpu(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / tick


class Meter:
    """CPU of the server's web process and of its workers (the rest of its process tree), of
    this bench's training subprocesses, of this process and of the rest of its children (the
    browser), and the server's memory, sampled over a window."""

    def __init__(self, server_pid: int, trainer: Trainer | None):
        self.server_pid, self.trainer = server_pid, trainer
        self.rss: list[float] = []          # the server's process tree: web and workers
        self.rss_web: list[float] = []      # the web process alone
        self.pss: list[float] = []          # the process tree, shared pages counted once

    def browser_pids(self) -> list[int]:
        skip = set(process_tree(self.server_pid)) | {os.getpid()}
        if self.trainer is not None:
            skip |= set(self.trainer.pids())
        return [p for p in process_tree(os.getpid()) if p not in skip]

    def snapshot(self) -> dict:
        web = own_cpu_of(self.server_pid)
        return {"t": time.perf_counter(), "server": web,
                "workers": cpu_seconds(self.server_pid) - web,
                "trainer": self.trainer.cpu() if self.trainer else 0.0, "bench": own_cpu(),
                "browser": tree_cpu(self.browser_pids()), "machine": busy_cpu_seconds()}

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.rss.append(resident_mb(self.server_pid))
            self.rss_web.append(rss_of(self.server_pid))
            self.pss.append(pss_mb(process_tree(self.server_pid)))
            try:
                await asyncio.wait_for(stop.wait(), SAMPLE_S)
            except asyncio.TimeoutError:
                pass


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


# --- the run ---------------------------------------------------------------------------------

async def measure(args) -> dict:
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="aedemo-classroom-"))
    env = {**os.environ, "AEDEMO_HOME": str(home), "AEDEMO_DATA_DIR": str(home / "data")}
    extra = {}
    if args.dataset:
        env["AEDEMO_DATASET"] = extra["AEDEMO_DATASET"] = args.dataset
    else:
        env.pop("AEDEMO_DATASET", None)        # the app's own default (offline: mnist-5k)
        os.environ.pop("AEDEMO_DATASET", None)
    load_before = os.getloadavg()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aedemo", "pretrain", "--json"]
                   + (["--dataset", args.dataset] if args.dataset else []),
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    pretrain_s = time.perf_counter() - t
    server = Server(home, extra)
    record = Record()
    stop = asyncio.Event()
    trainer = Trainer(env, args.trainer, home) if not args.no_training else None
    meter = Meter(server.proc.pid, trainer)
    students: list[Student] = []
    tasks: list[asyncio.Task] = []
    levels = []
    try:
        # the server is up; wait until a first student's stroke brings reconstructions (the
        # dataset loaded and the models read), so the levels measure a warm server
        probe = Student(-1, server.url, args, Record(), asyncio.Event())

        async def open_probe() -> Student:
            probe.session = st_client.Session(server.url, fetch_media=False)
            await asyncio.wait_for((await probe.session.open("draw")).done.wait(), 120)
            return probe

        expected = await first_stroke(open_probe)
        rss_idle = resident_mb(server.proc.pid)
        rss_web_idle = rss_of(server.proc.pid)

        if trainer is not None:
            trainer.start()
        tab_task = None
        if not args.no_browser:
            tab_ready = asyncio.Event()
            tab_task = asyncio.create_task(real_tab(
                server.url, args, record, stop, tab_ready,
                lambda: process_tree(server.proc.pid) + (trainer.pids() if trainer else [])))
            await asyncio.wait_for(tab_ready.wait(), 180)
        projector = {}
        projector_task = None
        if args.projector:
            # what the projected page's own polling costs the server: its web process's CPU
            # over a quiet window without it, then one with it open, nobody drawing (the real
            # tab's first stroke and the job's start settled first)
            await asyncio.sleep(QUIET_S)
            before = own_cpu_of(server.proc.pid)
            await asyncio.sleep(QUIET_S)
            without = own_cpu_of(server.proc.pid) - before
            projector_ready = asyncio.Event()
            projector_task = asyncio.create_task(projected_class_page(
                server.url, args, record, stop, projector_ready,
                lambda: process_tree(server.proc.pid) + (trainer.pids() if trainer else [])))
            await asyncio.wait_for(projector_ready.wait(), 180)
            await asyncio.sleep(SETTLE_S)
            before = own_cpu_of(server.proc.pid)
            await asyncio.sleep(QUIET_S)
            with_it = own_cpu_of(server.proc.pid) - before
            projector = {"quiet_s": QUIET_S, "server_cpu_s_without": round(without, 3),
                         "server_cpu_s_with": round(with_it, 3),
                         "poll_cost_ms_per_s": round(1000 * (with_it - without) / QUIET_S, 1)}
        sampler = asyncio.create_task(meter.sample(stop))

        for level in args.students:
            ramp_start = time.perf_counter()
            new = [Student(len(students) + i, server.url, args, record, stop)
                   for i in range(level - len(students))]
            for s in new:
                s.expected = expected
                students.append(s)
                tasks.append(asyncio.create_task(s.run()))
                await asyncio.sleep(RAMP_S)
            try:
                await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in students)), 180)
            except asyncio.TimeoutError:
                record.error("some students could not open the page within 180 s")
            await asyncio.sleep(SETTLE_S)
            meter.rss.clear()
            meter.rss_web.clear()
            meter.pss.clear()
            start = meter.snapshot()
            load_start = os.getloadavg()
            await asyncio.sleep(args.seconds)
            end = meter.snapshot()
            levels.append(summarise(level, record, start, end, meter, trainer, load_start,
                                    sessions=sum(s.session is not None for s in students),
                                    ramp_start=ramp_start))
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tab_task is not None:
            await asyncio.gather(tab_task, return_exceptions=True)
        if projector_task is not None:
            await asyncio.gather(projector_task, return_exceptions=True)
        await sampler
    finally:
        stop.set()
        if trainer is not None:
            trainer.stop()
        server.stop()
    return {"levels": levels, "look_s": args.look, "seconds": args.seconds,
            "timeout_s": args.timeout, "dataset": args.dataset or "(the app's default)",
            "reconstructions_per_stroke": expected, "pretrain_s": round(pretrain_s, 1),
            "server_rss_mb_idle": round(rss_idle), "server_web_rss_mb_idle": round(rss_web_idle),
            "trainer": "none" if args.no_training else args.trainer,
            "cores": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
            "real_tab": not args.no_browser, "media": not args.no_media,
            "projector": projector, "share_p": SHARE_P if args.share else 0.0,
            "trainings_finished": trainer.finished if trainer else 0,
            "training_failures": trainer.failures[:5] if trainer else []}


def summarise(level: int, record: Record, start: dict, end: dict, meter: Meter,
              trainer: Trainer | None, load: tuple, sessions: int,
              ramp_start: float) -> dict:
    t0, t1 = start["t"], end["t"]
    inside = [a for a in record.actions if t0 <= a.sent < t1]
    of = lambda kind, key="recon_s": [getattr(a, key) for a in inside  # noqa: E731
                                       if a.kind == kind and getattr(a, key) is not None]
    errors = [e for t, e in record.errors if t0 <= t < t1]
    anomalies: dict[str, int] = {}
    for t, what in record.anomalies:
        if t0 <= t < t1:
            anomalies[what] = anomalies.get(what, 0) + 1
    kinds: dict[str, int] = {}
    for e in errors:
        k = re.sub(r"\d+(\.\d+)?", "N", re.sub(r" \(\d+ of \d+\)", "", e))[:90]
        kinds[k] = kinds.get(k, 0) + 1
    wall, cores = t1 - t0, os.cpu_count()
    share = lambda who: round((end[who] - start[who]) / (wall * cores), 3)  # noqa: E731
    # a draw-page run as the browser sees it: from the stroke sent to the server's
    # script_finished (measured from outside; the app keeps no log for a bench)
    draw_runs = of("draw", "finished_s")
    return {
        "students": level, "connected": sessions, "window_s": round(wall, 1),
        "actions": len(inside), "strokes": len(of("draw")),
        "actions_per_s": round(len(inside) / wall, 2),
        "auto_reruns_per_s": round(sum(t0 <= t < t1 for t in record.auto_reruns) / wall, 1),
        "stroke_p50_s": pct(of("draw"), 50), "stroke_p95_s": pct(of("draw"), 95),
        "stroke_max_s": round(max(of("draw")), 3) if of("draw") else None,
        "stroke_images_p95_s": pct(of("draw", "media_s"), 95),
        "stroke_finished_p95_s": pct(of("draw", "finished_s"), 95),
        "page_p95_s": pct(of("page", "finished_s"), 95), "page_n": len(of("page", "finished_s")),
        "clear_p95_s": pct(of("clear", "finished_s"), 95),
        # the students who joined for this level opening the page, during the ramp before it
        "open_p95_s": pct([a.finished_s for a in record.actions if a.kind == "open"
                           and ramp_start <= a.sent < t1 and a.finished_s is not None], 95),
        "errors": len(errors), "error_kinds": kinds, "protocol_anomalies": anomalies,
        "server_rss_mb": round(max(meter.rss)) if meter.rss else None,
        "server_web_rss_mb": round(max(meter.rss_web)) if meter.rss_web else None,
        "server_pss_mb": round(max(meter.pss)) if meter.pss else None,
        "server_cpu_share": share("server"), "workers_cpu_share": share("workers"),
        # the training job's CPU: the app's worker's (worker mode) or the subprocess's (cli)
        "trainer_cpu_share": round(share("workers") + share("trainer"), 3),
        "bench_cpu_share": share("bench"), "browser_cpu_share": share("browser"),
        "machine_cpu_share": share("machine"),
        "others_cpu_share": round(share("machine") - sum(share(k) for k in (
            "server", "workers", "trainer", "bench", "browser")), 3),
        "training_share": round(trainer.share(t0, t1), 2) if trainer else 0.0,
        "server_draw_runs": len(draw_runs), "server_draw_run_p50_s": pct(draw_runs, 50),
        "server_draw_run_p95_s": pct(draw_runs, 95),
        "tab_strokes": len(of("tab-draw")), "tab_p50_s": pct(of("tab-draw"), 50),
        "tab_p95_s": pct(of("tab-draw"), 95),
        "load_avg_1m_at_start": round(load[0], 2),
        **shares_and_projector(record, t0, t1),
    }


def shares_and_projector(record: Record, t0: float, t1: float) -> dict:
    """A level's shares, refusals, and the projected Class page's refresh after a share."""
    refresh, missed = refresh_times(record.shared, record.map_changes, t0, t1)
    answers = [a.finished_s for a in record.actions
               if a.kind == "share" and t0 <= a.sent < t1 and a.finished_s is not None]
    return {"shares": sum(t0 <= t < t1 for t in record.shared),
            "share_refusals": sum(t0 <= t < t1 for t in record.refused),
            "share_p95_s": pct(answers, 95),
            "projector_refresh_n": len(refresh), "projector_missed": missed,
            "projector_refresh_p50_s": pct(refresh, 50),
            "projector_refresh_p95_s": pct(refresh, 95)}


def fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def report(result: dict) -> None:
    levels = result["levels"]
    print(f"aedemo classroom over Streamlit's websocket: {result['cores']} cores, load average "
          f"{result['load_before'][0]} before the bench started; zoo pretrained in "
          f"{result['pretrain_s']} s on {result['dataset']}; {result['reconstructions_per_stroke']}"
          f" reconstructions per stroke; look {result['look_s']} s (x0.5-1.5); "
          f"{result['seconds']:.0f} s per level; simulated students "
          f"{'fetch' if result['media'] else 'do not fetch'} the images; "
          f"{'one real Chromium tab beside them' if result['real_tab'] else 'no real tab'}.")
    print()
    print("| students | actions (strokes) | stroke → reconstructions p50 / p95 (s) | + images "
          "p95 | page change p95 | errors | server RSS: tree (web process) "
          "[tree PSS] | server CPU "
          "(web) | training job CPU (running) | bench CPU | tab CPU | real tab on screen p50 / "
          "p95 (strokes) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for lv in levels:
        print(f"| {lv['students']} | {lv['actions']} ({lv['strokes']}) | "
              f"{fmt(lv['stroke_p50_s'])} / {fmt(lv['stroke_p95_s'])} | "
              f"{fmt(lv['stroke_images_p95_s'])} | "
              f"{fmt(lv['page_p95_s'])} | {lv['errors']} | {lv['server_rss_mb']} MB "
              f"({lv['server_web_rss_mb']}) [{lv['server_pss_mb']}] | "
              f"{lv['server_cpu_share']:.0%} | {lv['trainer_cpu_share']:.0%} "
              f"({lv['training_share']:.0%}) | {lv['bench_cpu_share']:.1%} | "
              f"{lv['browser_cpu_share']:.0%} | "
              f"{fmt(lv['tab_p50_s'])} / {fmt(lv['tab_p95_s'])} ({lv['tab_strokes']}) |")
    print()
    print("CPU shares are of all cores over the level's window; the whole machine was busy " +
          ", ".join(f"{lv['machine_cpu_share']:.0%} at {lv['students']}" for lv in levels) +
          " (processes outside this bench: " + ", ".join(
              f"{max(lv['others_cpu_share'], 0):.0%}" for lv in levels) + ").")
    how = {"worker": "on the queue, trained by the app's worker", "cli": "`aedemo train` in a "
           "subprocess", "none": "none"}[result["trainer"]]
    print(f"Training job: {how}; {result['trainings_finished']} finished during the run. "
          "Server RSS is its process tree (the web process and its training workers); server "
          "CPU is the web process's, the training job's the workers' (and the subprocess's).")
    print(f"Server memory with no student yet: {result['server_rss_mb_idle']} MB "
          f"({result['server_web_rss_mb_idle']} MB the web process). Reruns the "
          "sidebar's run_every fragment asks for, per second, beside the students' actions: " +
          ", ".join(f"{lv['auto_reruns_per_s']} ({lv['actions_per_s']} actions/s) at "
                    f"{lv['students']}" for lv in levels) + ".")
    print("Draw-page runs (a stroke sent to its script_finished, as a browser sees it): "
          + "; ".join(
              f"{lv['students']}: {lv['server_draw_runs']} runs, p50 "
              f"{fmt(lv['server_draw_run_p50_s'])} s, p95 {fmt(lv['server_draw_run_p95_s'])} s"
              for lv in levels))
    if result["share_p"]:
        print(f"Sharing (a student shares after a stroke with chance {result['share_p']:g}): " +
              "; ".join(f"{lv['students']}: {lv['shares']} shared, {lv['share_refusals']} "
                        f"refused in words (one share per student every few seconds), answer "
                        f"p95 {fmt(lv['share_p95_s'])} s" for lv in levels) + ".")
    proj = result["projector"]
    if proj:
        print("The teacher's Class page projected (a Chromium tab at /class): from a share's "
              "answer to the projected map's drawings changing, " + "; ".join(
                  f"{lv['students']}: p50 {fmt(lv['projector_refresh_p50_s'])} s, p95 "
                  f"{fmt(lv['projector_refresh_p95_s'])} s ({lv['projector_refresh_n']} shares, "
                  f"{lv['projector_missed']} not shown within {PROJECTOR_TIMEOUT_S:.0f} s)"
                  for lv in levels) + f". Its poll costs the server's web process "
              f"{proj['poll_cost_ms_per_s']} ms of CPU a second (over {proj['quiet_s']:.0f} s "
              f"with nobody drawing: {proj['server_cpu_s_with']} s with it open, "
              f"{proj['server_cpu_s_without']} s without).")
    for lv in levels:
        if lv["error_kinds"]:
            print(f"errors at {lv['students']}: " + "; ".join(
                f"{n} x {k}" for k, n in sorted(lv["error_kinds"].items(), key=lambda i: -i[1])))
    for lv in levels:
        if lv["protocol_anomalies"]:
            print(f"Streamlit run-lifecycle anomalies at {lv['students']} (content arrived; not "
                  "counted as errors): " + "; ".join(
                      f"{n} x {k}" for k, n in lv["protocol_anomalies"].items()))
    if result["training_failures"]:
        print("training job failures:", "; ".join(result["training_failures"]))
    target = next((lv for lv in levels if lv["students"] == TARGET_STUDENTS), None)
    if target is None:
        print(f"targets: no level of {TARGET_STUDENTS} students measured")
        return
    ok = lambda good: "met" if good else "MISSED"  # noqa: E731
    p95 = target["stroke_p95_s"]
    print(f"targets at {TARGET_STUDENTS} students: stroke p95 {fmt(p95)} s <= {P95_TARGET_S} s "
          f"{ok(p95 is not None and p95 <= P95_TARGET_S)}; errors {target['errors']} = 0 "
          f"{ok(target['errors'] == 0)}; the web server's RSS {target['server_web_rss_mb']} MB <= "
          f"{MEMORY_TARGET_MB} MB "
          f"{ok((target['server_web_rss_mb'] or 0) <= MEMORY_TARGET_MB)}; with its training "
          f"worker {target['server_rss_mb']} MB RSS "
          f"{ok((target['server_rss_mb'] or 0) <= MEMORY_TARGET_MB)} "
          f"({target['server_pss_mb']} MB PSS, the pages both map counted once)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Classroom capacity: simulated students over Streamlit's websocket "
                    "protocol, one real Chromium tab and a training job, at several class sizes")
    parser.add_argument("--students", default="10,30,60",
                        help="the levels, students in all at each (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured per level")
    parser.add_argument("--look", type=float, default=LOOK_S,
                        help=f"seconds a student looks at each result (default {LOOK_S}, "
                             "times 0.5-1.5)")
    parser.add_argument("--timeout", type=float, default=ACTION_TIMEOUT_S,
                        help="an action unanswered this long is an error")
    parser.add_argument("--dataset", default=None,
                        help="AEDEMO_DATASET for the server (default: unset, the app's own)")
    parser.add_argument("--home", default=None,
                        help="the store to use (default: a fresh one); pretrain then reuses "
                             "what it holds")
    parser.add_argument("--no-browser", action="store_true", help="no real Chromium tab")
    parser.add_argument("--trainer", choices=["worker", "cli"], default="worker",
                        help="the training job: on the server's queue, trained by the app's "
                             "own worker (default), or `aedemo train` in a subprocess")
    parser.add_argument("--no-training", action="store_true", help="no training job")
    parser.add_argument("--no-share", dest="share", action="store_false",
                        help="students never press Share with the class")
    parser.add_argument("--no-projector", dest="projector", action="store_false",
                        help="no projected Class page")
    parser.add_argument("--no-media", action="store_true",
                        help="simulated students do not fetch the images")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--browser-nice", type=int, default=BROWSER_NICE)
    parser.add_argument("--debug", action="store_true",
                        help="print what a timed-out student was waiting for, to stderr")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--save", default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    try:
        args.students = sorted({int(n) for n in args.students.split(",") if n.strip()})
    except ValueError:
        parser.error("--students takes numbers separated by commas, like 10,30,60")
    if not (args.students and 1 <= args.students[0] and args.students[-1] <= 150
            and 1 <= args.seconds <= 600 and 0 <= args.look <= 60):
        parser.error("--students must be 1-150, --seconds 1-600 and --look 0-60 (bounded on "
                     "purpose)")
    result = asyncio.run(measure(args))
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
    else:
        report(result)


if __name__ == "__main__":
    main()
