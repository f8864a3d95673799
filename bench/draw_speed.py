"""How fast the Draw page answers one student, measured in Chromium: the README's server on the
lesson's models (the zoo, trained first with ``python -m aedemo pretrain`` as bench/classroom.py
does), one tab drawing real digit shapes stroke by stroke. What it prints, in one run:

* live reconstructions: from each pointer move with the pen down (each move Chromium
  coalesced into a pointermove, timed when it happened) to every ``canvas.live-recon`` of the
  pad having painted a frame after it (their ``data-painted-ms``, set at the paint by
  aedemo/assets/drawing_pad.js), all the lesson's models together: p50 and p95 over the
  moves (not those the pad answers with nothing to copy yet: a stroke's first pixels are a
  dot, which no model is given, here or on the server). Target: p95 under 16 ms (one frame
  at 60 Hz). Measured twice: in the tab at
  127.0.0.1 (a secure context, where the pad hears pointerrawupdate), then in a tab as a
  student's laptop comes, the README's classroom command reached over plain http at this
  machine's network address (pointermove only, which Chromium delivers once a frame);
* the server's verdict: from the mouse-up to the verdict's metric (the reconstruction error)
  showing this drawing's value and the map's star moved ("Your drawing among the dataset"),
  p50 and p95. Target: p50 under 0.3 s;
* the server's reconstructions: from the mouse-up to every copy in the row beside the pad
  replaced (the round trip issue 21 measured at 0.73 s median), for reference;
* the bytes the browser downloaded for the models (the responses of /aedemo/net/). Target:
  under 5 MB;
* the server's CPU per stroke (its whole process tree), and how busy the machine was.

Each figure is printed with its ratio to its target (under 1 meets it); the verdict also as a
ratio to the server's reconstructions in the same run. Each stroke is drawn once the last has
been answered and the page is idle, so the times are one student's on a quiet server; other
work on a shared machine makes every figure worse (the load is printed beside them).

    .venv/bin/python bench/draw_speed.py [--strokes 20] [--dataset digits] [--home DIR]
                                         [--app OTHER/app.py] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

from classroom import CLEAR, PAD_SIZE, digit_strokes  # noqa: E402

from aedemo.roles import PASSPHRASE_ENV  # noqa: E402
from e2e_support import CHROMIUM_FLAGS, PAD, Server, cpu_seconds, wait_idle  # noqa: E402
from support import app_command, busy_cpu_seconds, classroom_command, lan_address  # noqa: E402

LIVE_P95_TARGET_MS = 16.0
VERDICT_P50_TARGET_S = 0.3
MODEL_BYTES_TARGET = 5_000_000
ANSWER_TIMEOUT_S = 30.0
NET_ROUTE = "/aedemo/net/"

# What the page shows, recorded by the browser itself with performance.now() each time it
# changes (a MutationObserver, so the time is that of the change, not of a poll): the verdict's
# metric, the map's star, the row's copies (their images' URLs change with each new picture),
# and whether the page says it is computing. The pad's live canvases are in its component's
# shadow root, where no observer of the document reaches: they are read every animation frame.
INSTRUMENT = """() => {
    const rec = (window.__drawSpeed = {ups: [], moves: [], paints: [], states: []});
    // the pad's pointer events are composed: they reach window from inside its shadow root.
    // Chromium delivers pointermove once a frame, with the moves since the last one coalesced
    // into it: each of those is a move of the pointer, timed when it happened
    addEventListener('pointermove', e => {
        if (!e.buttons) return;
        const all = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
        for (const m of (all.length ? all : [e])) rec.moves.push(m.timeStamp);
    }, true);
    addEventListener('pointerup', e => rec.ups.push(e.timeStamp), true);
    const deep = (root, out, selector) => {
        root.querySelectorAll(selector).forEach(c => out.push(c));
        root.querySelectorAll('*').forEach(e => {
            if (e.shadowRoot) deep(e.shadowRoot, out, selector); });
        return out;
    };
    let canvases = [], inputs = [], looked = 0, row = '';
    const frames = new Map(), unframed = new Map();
    rec.rowStates = [];
    rec.unframed = [];
    const poll = () => {
        const now = performance.now();
        if (now - looked > 500 || canvases.some(c => !c.isConnected)) {
            canvases = deep(document, [], 'canvas.live-recon');
            inputs = deep(document, [], 'canvas.live-input');
            looked = now;
        }
        // a move answered with nothing to copy yet (the stroke's first pixels, a dot)
        for (const c of inputs) {
            const n = c.getAttribute('data-unframed');
            if (n !== null && unframed.get(c) !== n) {
                unframed.set(c, n);
                rec.unframed.push(Number(c.getAttribute('data-unframed-ms')));
            }
        }
        for (const c of canvases) {
            const frame = c.getAttribute('data-frame');
            const key = c.getAttribute('data-model');
            if (frame !== null && frames.get(c) !== frame) {
                frames.set(c, frame);
                rec.paints.push([key, Number(c.getAttribute('data-painted-ms'))]);
            }
        }
        rec.liveModels = canvases.length;
        // the server's copies are painted into the same canvases, their captions then giving
        // the server's error ("dense k=16 · MSE 0.0123") in place of "in your browser"
        const captions = canvases.map(c => {
            const caption = c.parentElement && c.parentElement.querySelector('figcaption');
            return caption ? caption.textContent : ''; });
        const text = JSON.stringify(captions);
        if (text !== row) { row = text; rec.rowStates.push({t: now, copies: captions}); }
        requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
    const star = () => {
        const gd = document.querySelector('.st-key-draw-map .js-plotly-plot');
        const trace = gd && (gd._fullData || gd.data || []).find(t => t.name === 'your drawing');
        return trace ? `${Array.from(trace.x || []).join()};${Array.from(trace.y || []).join()}`
                     : null;
    };
    const read = () => {
        const metric = document.querySelector('[data-testid="stMetricValue"]');
        const copies = Array.from(document.querySelectorAll(
                '.st-key-draw-row [data-testid="stCaptionContainer"]'))
            .filter(c => /k=\\d+ · MSE/.test(c.textContent))
            .map(c => { let cell = c.parentElement;
                        while (cell && !cell.querySelector('img')) cell = cell.parentElement;
                        return cell ? cell.querySelector('img').src : ''; });
        return {metric: metric ? metric.textContent : null, star: star(), copies,
                computing: document.body.textContent.includes('Computing the verdict')};
    };
    let last = '';
    const look = () => {
        const state = read();
        const text = JSON.stringify(state);
        if (text !== last) { last = text; rec.states.push({t: performance.now(), ...state}); }
    };
    look();
    new MutationObserver(look).observe(document.body,
        {subtree: true, childList: true, characterData: true, attributes: true});
}"""

RECORD = "() => window.__drawSpeed"
# every net the page asked for is here (the interpreter's shared cache holds their promises)
NETS_HERE = """async () => {
    const nets = globalThis.__aedemoNets;
    if (!nets || nets.size === 0) return false;
    await Promise.allSettled([...nets.values()]);
    return true;
}"""
NET_BYTES = f"""() => performance.getEntriesByType('resource')
    .filter(e => e.name.includes('{NET_ROUTE}'))
    .map(e => [e.name, e.encodedBodySize || e.transferSize || 0])"""


def percentiles(values: list[float]) -> tuple[float, float] | None:
    return (float(np.percentile(values, 50)), float(np.percentile(values, 95))) if values else None


def answered(states: list[dict], up: float, before: dict,
             row_states: list[dict] = ()) -> tuple[float | None, float | None]:
    """(verdict, copies): seconds from the mouse-up at ``up`` (ms) until the verdict's metric
    showed a new value with the map's star moved, and until every copy in the row was
    replaced by the server's (in the pad's canvases, ``row_states``: every caption with the
    server's error; else the pictures of the page's own row, every one a new image); None
    where that never happened."""
    verdict = copies = None
    for s in row_states:
        if s["t"] >= up and s["copies"] and all(" · MSE " in c for c in s["copies"]):
            copies = (s["t"] - up) / 1000
            break
    metric_at = star_at = None
    for s in states:
        if s["t"] < up:
            continue
        if metric_at is None and s["metric"] is not None and not s["computing"] and (
                s["metric"] != before["metric"]):
            metric_at = s["t"]
        if star_at is None and s["star"] is not None and s["star"] != before["star"]:
            star_at = s["t"]
        if copies is None and s["copies"] and len(s["copies"]) >= len(before["copies"]) and all(
                a != b for a, b in zip(s["copies"], before["copies"])):
            copies = (s["t"] - up) / 1000
    if metric_at is not None and star_at is not None:
        verdict = (max(metric_at, star_at) - up) / 1000
        answered.parts.append(((metric_at - up) / 1000, (star_at - up) / 1000))
    return verdict, copies


answered.parts = []       # (metric, star) seconds of the last verdict seen


def live_latencies(moves: list[float], paints: list[tuple[str, float]],
                   unframed: list[float] = ()) -> list[float]:
    """Per pointer move (ms), the time until every live canvas had painted after it: the
    slowest model's next paint. Moves after a canvas's last paint are left out (a stroke's
    last moves may share the frame that the mouse-up ended), and so are moves the pad answered
    before that with nothing to copy (``unframed``: the stroke's first pixels, a dot, which
    no model is given, here or on the server)."""
    by_model: dict[str, list[float]] = {}
    for model, t in paints:
        by_model.setdefault(model, []).append(t)
    if not by_model:
        return []
    times = {m: np.sort(np.array(ts)) for m, ts in by_model.items()}
    nothing = np.sort(np.array(unframed, dtype=float))
    out = []
    for t in moves:
        nexts = []
        for ts in times.values():
            i = np.searchsorted(ts, t)
            if i == len(ts):
                break
            nexts.append(ts[i])
        else:
            j = np.searchsorted(nothing, t)
            if j < len(nothing) and nothing[j] < min(nexts):
                continue
            out.append(max(nexts) - t)
    return out


def zoo_home(args) -> tuple[Path, dict[str, str]]:
    """The store the server starts on: --home as it is, else a fresh one with the lesson's
    zoo trained on it first (the server would train the same models itself on first start)."""
    extra = {"AEDEMO_DATASET": args.dataset} if args.dataset else {}
    if args.home and any(Path(args.home, "models").glob("*.json")):
        return Path(args.home), extra
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="aedemo-draw-speed-"))
    env = {**os.environ, "AEDEMO_HOME": str(home), "AEDEMO_DATA_DIR": str(home / "data"),
           **extra}
    subprocess.run([sys.executable, "-m", "aedemo", "pretrain", "--json"]
                   + (["--dataset", args.dataset] if args.dataset else []),
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return home, extra


def draw(page, box: dict, strokes: list[list[float]]):
    """Each stroke of one digit as a hand draws it; yields after each mouse-up."""
    scale = box["width"] / PAD_SIZE
    for flat in strokes:
        points = [(box["x"] + x * scale, box["y"] + y * scale)
                  for x, y in zip(flat[::2], flat[1::2])]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y)
        page.mouse.up()
        yield


def live_over_http(home: Path, extra: dict[str, str], address: str, args,
                   rng: random.Random) -> list[float]:
    """The live copies' latencies (ms) as a student's tab gets them: the README's classroom
    command on the same models, reached over plain http at this machine's ``address`` on the
    network, where the page is not a secure context and Chromium gives it pointermove only,
    once a frame. As many strokes as the main run."""
    from playwright.sync_api import sync_playwright

    server = Server(home, {**extra, PASSPHRASE_ENV: "draw-speed " + os.urandom(8).hex()},
                    command=classroom_command(), host=address)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            return _live_in_tab(browser, server.url, rng, args.strokes)
    finally:
        server.stop()


def _live_in_tab(browser, url: str, rng: random.Random, strokes: int) -> list[float]:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/draw", timeout=120_000)
    pad = page.locator(PAD)
    pad.wait_for(timeout=120_000)
    wait_idle(page, 120)
    assert not page.evaluate("isSecureContext"), url
    page.evaluate(INSTRUMENT)
    box = pad.bounding_box()
    for _ in draw(page, box, digit_strokes(rng)):        # not measured: the nets arrive
        wait_idle(page, 120)
    page.wait_for_function(NETS_HERE, timeout=120_000)
    first_move, first_paint = page.evaluate(
        "() => [window.__drawSpeed.moves.length, window.__drawSpeed.paints.length]")
    clear = page.get_by_role("button", name=CLEAR)
    drawn = 0
    while drawn < strokes:
        clear.click()
        wait_idle(page)
        for _ in draw(page, box, digit_strokes(rng)):
            wait_idle(page)
            drawn += 1
            if drawn >= strokes:
                break
    rec = page.evaluate(RECORD)
    page.close()
    return live_latencies(rec["moves"][first_move:],
                          [tuple(x) for x in rec["paints"][first_paint:]], rec["unframed"])


def measure(args) -> dict:
    from playwright.sync_api import sync_playwright

    home, extra = zoo_home(args)
    command = app_command()
    if args.app:          # another checkout's app (an older commit, to compare), same command
        command = [str(Path(args.app).resolve()) if c == "app.py" else c for c in command]
    server = Server(home, extra, command=command)
    rng = random.Random(args.seed)
    verdicts: list[float] = []
    copies: list[float] = []
    parts: list[tuple[float, float]] = []
    unanswered = 0
    load_before = os.getloadavg()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{server.url}/draw", timeout=120_000)
            pad = page.locator(PAD)
            pad.wait_for(timeout=120_000)
            wait_idle(page, 120)
            page.evaluate(INSTRUMENT)
            # a first digit, not measured: the server reads its models and encodes the
            # dataset once per model, and the browser fetches the models
            box = pad.bounding_box()
            for _ in draw(page, box, digit_strokes(rng)):
                wait_idle(page, 120)
            page.wait_for_selector('[data-testid="stMetricValue"]', timeout=120_000)
            page.wait_for_function(NETS_HERE, timeout=120_000)
            wait_idle(page, 120)
            clear = page.get_by_role("button", name=CLEAR)
            # the live frames from here on: the first digit's waited for the nets to arrive
            first_move, first_paint = page.evaluate(
                "() => [window.__drawSpeed.moves.length, window.__drawSpeed.paints.length]")
            server_cpu, busy, t0 = cpu_seconds(server.proc.pid), busy_cpu_seconds(), time.time()
            strokes = 0
            while strokes < args.strokes:
                clear.click()
                wait_idle(page)
                for _ in draw(page, box, digit_strokes(rng)):
                    rec = page.evaluate(RECORD)
                    up = rec["ups"][-1]
                    before = next((s for s in reversed(rec["states"]) if s["t"] < up),
                                  rec["states"][0])
                    deadline = time.monotonic() + ANSWER_TIMEOUT_S
                    verdict = None
                    while time.monotonic() < deadline:
                        page.wait_for_timeout(50)
                        now = page.evaluate(RECORD)
                        verdict, copy = answered(now["states"], up, before, now["rowStates"])
                        if verdict is not None and copy is not None:
                            break
                    wait_idle(page)
                    answered.parts.clear()
                    now = page.evaluate(RECORD)
                    verdict, copy = answered(now["states"], up, before, now["rowStates"])
                    if answered.parts:
                        parts.append(answered.parts[-1])
                        if args.debug:
                            print(f"metric {parts[-1][0]:.3f} s, star {parts[-1][1]:.3f} s")
                    if verdict is None:
                        unanswered += 1
                    else:
                        verdicts.append(verdict)
                    if copy is not None:
                        copies.append(copy)
                    strokes += 1
                    if strokes >= args.strokes:
                        break
            elapsed = time.time() - t0
            server_cpu = cpu_seconds(server.proc.pid) - server_cpu
            busy_after = busy_cpu_seconds()
            rec = page.evaluate(RECORD)
            nets = page.evaluate(NET_BYTES)
            browser.close()
    finally:
        server.stop()
    try:                      # an older checkout (--app) is measured at 127.0.0.1 only
        network = None if args.app else lan_address()
    except StopIteration:     # no network here
        network = None
    over_http = live_over_http(home, extra, network, args, rng) if network else None
    live = live_latencies(rec["moves"][first_move:],
                          [tuple(x) for x in rec["paints"][first_paint:]], rec["unframed"])
    return {
        "strokes": strokes, "dataset": args.dataset or "the app's default",
        "live_models": rec.get("liveModels", 0), "live_ms": percentiles(live),
        "live_moves": len(live),
        "live_http_ms": percentiles(over_http) if over_http else None,
        "live_http_moves": len(over_http or []), "network_address": network,
        "verdict_s": percentiles(verdicts), "copies_s": percentiles(copies),
        "metric_s": percentiles([m for m, _ in parts]),
        "star_s": percentiles([s for _, s in parts]),
        "unanswered": unanswered,
        "model_bytes": sum(size for _, size in nets), "model_files": len(nets),
        "server_cpu_ms_per_stroke": 1000 * server_cpu / max(strokes, 1),
        "machine_busy": (busy_after - busy) / elapsed / (os.cpu_count() or 1)
        if busy is not None and busy_after is not None else None,
        "load_before": load_before[0],
    }


def report(r: dict) -> str:
    def pair(p, unit, scale=1.0):
        return f"p50 {p[0] * scale:.0f} {unit}, p95 {p[1] * scale:.0f} {unit}"

    lines = [f"Draw page, one Chromium tab, {r['strokes']} strokes of real digit shapes, server "
             f"on {r['dataset']} started as the README does"]
    if r["live_ms"] is None:
        lines.append("live reconstructions: no live canvases on this page")
    else:
        p50, p95 = r["live_ms"]
        lines.append(f"live reconstructions (pointer move -> all {r['live_models']} models' "
                     f"canvases repainted, {r['live_moves']} moves): p50 {p50:.1f} ms, "
                     f"p95 {p95:.1f} ms = {p95 / LIVE_P95_TARGET_MS:.2f} x the 16 ms target"
                     " (at 127.0.0.1: a secure context, pointerrawupdate)")
    if r["live_http_ms"]:
        p50, p95 = r["live_http_ms"]
        lines.append(f"  a student's tab over plain http at {r['network_address']} "
                     f"({r['live_http_moves']} moves, pointermove once a frame): p50 {p50:.1f} "
                     f"ms, p95 {p95:.1f} ms = {p95 / LIVE_P95_TARGET_MS:.2f} x the target")
    if r["verdict_s"] is None:
        lines.append("server verdict: never seen")
    else:
        v50, _ = r["verdict_s"]
        line = (f"server verdict (mouse-up -> metric and map's star new): "
                f"{pair(r['verdict_s'], 'ms', 1000)} = {v50 / VERDICT_P50_TARGET_S:.2f} x the "
                f"0.3 s target (p50)")
        if r["copies_s"]:
            line += f", {v50 / r['copies_s'][0]:.2f} x the row's copies below"
        lines.append(line)
    if r["metric_s"]:
        lines.append(f"  of which the metric: {pair(r['metric_s'], 'ms', 1000)}; the map's star: "
                     f"{pair(r['star_s'], 'ms', 1000)}")
    if r["unanswered"]:
        lines.append(f"  {r['unanswered']} stroke(s) brought no new verdict within "
                     f"{ANSWER_TIMEOUT_S:.0f} s (or the same error to 4 decimals)")
    if r["copies_s"]:
        lines.append(f"server's copies in the row (mouse-up -> every copy replaced; 0.73 s median "
                     f"before issue 21): {pair(r['copies_s'], 'ms', 1000)}")
    lines.append(f"models downloaded: {r['model_bytes']:,} bytes in {r['model_files']} file(s) "
                 f"= {r['model_bytes'] / MODEL_BYTES_TARGET:.2f} x the 5 MB target"
                 + ("" if r["model_files"] else " (no /aedemo/net/ responses on this page)"))
    busy = (f"; the machine {100 * r['machine_busy']:.0f}% busy meanwhile (all processes)"
            if r["machine_busy"] is not None else "")
    lines.append(f"server CPU per stroke: {r['server_cpu_ms_per_stroke']:.0f} ms (its process "
                 f"tree){busy}; load average {r['load_before']:.1f} before the run")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strokes", type=int, default=20, help="strokes measured")
    parser.add_argument("--dataset", default=None,
                        help="the server's AEDEMO_DATASET (default: the app's own)")
    parser.add_argument("--home", default=None,
                        help="a store to start on; trained with the zoo first when empty")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--app", default=None,
                        help="serve this app.py instead (another checkout, to compare with)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--debug", action="store_true", help="print each stroke's times")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()
    result = measure(args)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
