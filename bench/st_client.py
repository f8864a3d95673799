"""A headless Streamlit client: one browser tab's side of Streamlit's websocket protocol, enough
for a benchmark to load a server with simulated students that cost it what a tab costs it, and
cost the benchmark itself almost nothing (no browser, no rendering).

What a Streamlit 1.67 tab does, read from its frontend (static/js/index.*.js) and from the
server (web/server/starlette/starlette_websocket.py, runtime/app_session.py), and what this
client does the same way:

* It opens ``ws://HOST/_stcore/stream`` with the subprotocols ``["streamlit", XSRF token or
  "PLACEHOLDER_AUTH_TOKEN", last session id]``; the server selects "streamlit". The XSRF token is
  checked only when the request has an Origin header and only to read auth cookies; this client
  sends no Origin (as any non-browser client), so it needs neither the cookie nor the token.
* Its first message is a ``BackMsg.rerun_script`` (a ``ClientState``): ``page_name`` is the URL
  path ("draw"), ``page_script_hash`` empty, the widget states it has, the hashes of the cached
  messages it holds, and ``context_info`` (time zone, locale, URL, colour scheme).
* Every run the server makes begins with a ``ForwardMsg.new_session`` and ends with a
  ``script_finished``, both tagged with ``metadata.run`` (the run's id and, for a fragment run,
  its fragment ids); the deltas between them belong to that run. ``navigation`` carries the
  pages (``app_pages``: ``url_pathname`` and ``page_script_hash``).
* A delta whose ``metadata.cacheable`` is set is kept by its ``hash``; the tab lists those hashes
  in ``cached_message_hashes`` of each rerun, and the server then sends a ``ref_hash`` message in
  place of each copy it knows the tab holds. Kept messages expire after
  ``new_session.config.max_cached_message_age`` runs, counted per script_finished as the
  frontend does (a fragment run ages only its own fragment's messages).
* A widget's value travels as a ``WidgetState`` in every rerun (the frontend sends all the
  values it holds), ``id`` being the element's id: a Components v2 component's state is
  ``json_value`` holding all its keys (``setStateValue(k, v)`` merges ``{k: v}`` into it), a
  select_slider's is ``string_array_value`` of its formatted option. A widget inside an
  ``@st.fragment`` carries its fragment's id in ``Delta.fragment_id``, and changing it sends
  ``rerun_script`` with ``fragment_id`` set: only that fragment runs.
* ``ForwardMsg.auto_rerun`` (``interval``, ``fragment_id``: an ``@st.fragment(run_every=...)``)
  makes the tab send ``rerun_script`` with that ``fragment_id`` and ``is_auto_rerun`` every
  ``interval`` seconds, whether a run is in progress or not, until ``stop_auto_rerun`` or a page
  change. That is part of what an open tab costs the server, so this client does it too.
* Changing page sends ``rerun_script`` with the page's ``page_script_hash`` and the widget states
  outside the page (the page's own are dropped). After a full run the states of widgets it did
  not draw are dropped too (``removeInactiveWidgetState``).
* Images are ``ImageList`` elements whose URLs (``/media/...``) the tab then fetches over HTTP;
  this client fetches them too, over up to 6 keep-alive connections as Chromium does
  (``fetch_media``).
* A Components v2 element (``bidi_component``) carries its data as JSON (``json``, or
  ``mixed.json`` beside binary blobs); the Draw page's reconstructions travel in it (the pad's
  row, the sweep's copies at each k), and the texts the server wrote there (each copy's
  caption) are collected as any caption's.
* There is no heartbeat to answer: ``app_heartbeat`` is sent only when a host page embedding the
  app asks for it. Websocket pings from the server are answered by the websocket library.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FULL_RUN_DONE = ForwardMsg.FINISHED_SUCCESSFULLY
FRAGMENT_RUN_DONE = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN


class ProtocolError(RuntimeError):
    """Something a real tab would also have failed on (a cache miss, a page not found)."""


@dataclass
class Widget:
    """A widget as the last run drew it: its element type (the ``Element`` oneof: "slider",
    "bidi_component", ...), id, label, the fragment it lives in ("" for none) and its proto."""
    kind: str
    id: str
    label: str
    fragment_id: str
    proto: Any
    script_hash: str = ""                     # the script that drew it: app.py's or a page's


@dataclass
class Run:
    """One rerun this client asked for, and what the server sent for it. Times are
    ``time.perf_counter()`` seconds."""
    sent: float
    fragment_id: str = ""                     # "" for a full run
    tracked: bool = True                      # False: a run this client did not ask for
    run_id: str | None = None
    started: float | None = None              # its new_session arrived
    finished: float | None = None             # its script_finished arrived
    status: int | None = None
    images: list[tuple[float, str]] = field(default_factory=list)     # (arrival, url)
    texts: list[tuple[float, str]] = field(default_factory=list)      # markdown/caption bodies
    exceptions: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)                   # st.error bodies
    notes: list[tuple[float, str]] = field(default_factory=list)      # st.success, st.warning
    widget_ids: set[str] = field(default_factory=set)
    media: list[asyncio.Future | None] = field(default_factory=list)  # each image's fetch
    done: asyncio.Event = field(default_factory=asyncio.Event)
    on_delta: Callable[[Run], None] | None = None

    def texts_matching(self, pattern) -> list[tuple[float, str]]:
        return [(t, s) for t, s in self.texts if pattern.search(s)]


def server_captions(proto) -> list[str]:
    """The captions of the server's pictures inside a Components v2 element's JSON data:
    every ``{"server": {"caption": ...}}`` at any depth (the Draw page's copies)."""
    text = proto.json or (proto.mixed.json if proto.HasField("mixed") else "")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return []
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            server = value.get("server")
            if isinstance(server, dict) and isinstance(server.get("caption"), str):
                found.append(server["caption"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return found


class MediaFetcher:
    """GETs ``/media/...`` URLs as a tab's image loads do: over up to ``connections`` keep-alive
    HTTP/1.1 connections at once (Chromium's limit per host is 6), each opened when first
    needed. Each fetch is a future that resolves to (body length, the moment its last byte
    arrived); the same URL twice is fetched once, as from a browser's cache."""

    def __init__(self, host: str, port: int, connections: int = 6):
        self.host, self.port = host, port
        self.queue: asyncio.Queue = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(connections)]
        self.seen: dict[str, asyncio.Future] = {}
        self.failures: list[str] = []

    def fetch(self, url: str) -> asyncio.Future:
        if url in self.seen:
            return self.seen[url]
        fut = asyncio.get_running_loop().create_future()
        self.seen[url] = fut
        self.queue.put_nowait((url, fut))
        return fut

    async def _worker(self) -> None:
        reader = writer = None
        try:
            while True:
                url, fut = await self.queue.get()
                for attempt in (1, 2):                      # once more on a closed keep-alive
                    try:
                        if writer is None:
                            reader, writer = await asyncio.open_connection(self.host, self.port)
                        writer.write(f"GET {url} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                                     "Accept: image/*\r\n\r\n".encode())
                        status, body = await self._response(reader)
                        if status != 200:
                            self.failures.append(f"media {status}")
                        if not fut.done():
                            fut.set_result((len(body), time.perf_counter()))
                        break
                    except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                        if writer is not None:
                            writer.close()
                        reader = writer = None
                        if attempt == 2:
                            self.failures.append(f"media {type(err).__name__}")
                            if not fut.done():
                                fut.set_result((0, time.perf_counter()))
        finally:
            if writer is not None:
                writer.close()

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in head[1:] if ":" in line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readline()).strip().split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    return status, body
                body += chunk[:-2]
        return status, await reader.readexactly(int(headers.get("content-length", 0)))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Session:
    """One tab. ``await open("draw")`` connects and runs the page; ``rerun(...)`` sends a rerun
    and returns its Run, whose ``done`` is set when its script_finished arrives."""

    def __init__(self, base_url: str, *, fetch_media: bool = True, auto_rerun: bool = True,
                 locale: str = "en-US", timezone: str = "Europe/Berlin",
                 on_auto_rerun: Callable[[float], None] | None = None):
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port = parts.hostname, parts.port or 80
        self.fetch_media, self.auto_rerun = fetch_media, auto_rerun
        self.context = {"timezone": timezone, "timezone_offset": -60, "locale": locale,
                        "is_embedded": False, "color_scheme": "light"}
        self.ws = None
        self.reader_task: asyncio.Task | None = None
        self.media: MediaFetcher | None = None
        self.session_id: str | None = None
        self.page_hash = ""                    # the page the last full run ran
        self.main_hash = ""                    # app.py's: what it draws stays on a page change
        self.page_url = ""                     # its url_pathname
        self.pages: dict[str, str] = {}        # url_pathname -> page_script_hash
        self.widgets: dict[str, Widget] = {}
        self.states: dict[str, WidgetState] = {}
        self.cache: dict[str, tuple[ForwardMsg, int, str]] = {}    # hash -> (msg, run, fragment)
        self.cache_runs = 0
        self.max_cache_age = 2
        self.pending: list[Run] = []           # asked for, not started yet
        self.current: Run | None = None        # the run whose messages are arriving
        self.early: Run | None = None          # ended FINISHED_EARLY_FOR_RERUN: carried on?
        self.anomalies: list[tuple[float, str]] = []     # see _on_new_session
        self.untracked = 0                     # runs nobody asked for here (auto-reruns)
        self.auto: dict[str, tuple[float, asyncio.Task]] = {}
        self.auto_reruns_sent = 0
        self.on_auto_rerun = on_auto_rerun
        self.errors: list[str] = []            # protocol trouble: cache misses, bad pages
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.bytes_in = 0
        self.messages_in = 0
        self.trail: collections.deque = collections.deque(maxlen=400)   # for diagnosing a hang

    # --- connection ------------------------------------------------------------------------

    async def open(self, page_name: str = "") -> Run:
        """Connect and ask for ``page_name`` as a tab opened at /page_name does."""
        ws_url = f"ws://{self.host}:{self.port}/_stcore/stream"
        self.ws = await websockets.connect(
            ws_url, subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"],
            max_size=None, ping_interval=None, open_timeout=60,
            user_agent_header="aedemo-bench-st-client")
        if self.fetch_media:
            self.media = MediaFetcher(self.host, self.port)
        self.reader_task = asyncio.create_task(self._reader())
        self.page_url = page_name
        return self._send_rerun(page_name=page_name)

    async def close(self) -> None:
        for _, task in self.auto.values():
            task.cancel()
        self.auto.clear()
        if self.ws is not None:
            await self.ws.close()
        if self.reader_task is not None:
            try:
                await asyncio.wait_for(self.reader_task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self.reader_task.cancel()
        if self.media is not None:
            await self.media.close()

    # --- what a student does -----------------------------------------------------------------

    def widget(self, kind: str, where: Callable[[Widget], bool] = lambda w: True) -> Widget | None:
        for w in self.widgets.values():
            if w.kind == kind and where(w):
                return w
        return None

    def set_json_state(self, widget: Widget, key: str, value: Any) -> Run:
        """A Components v2 ``setStateValue(key, value)``: merge into the component's JSON state
        and rerun (the whole page, or the component's fragment)."""
        old = self.states.get(widget.id)
        merged = json.loads(old.json_value) if old is not None and old.json_value else {}
        merged[key] = value
        self.states[widget.id] = WidgetState(id=widget.id, json_value=json.dumps(merged))
        return self._send_rerun(fragment_id=widget.fragment_id)

    def set_raw_json_state(self, widget: Widget, text: str) -> Run:
        """The component's JSON state replaced by ``text`` as it is, which need not be anything
        a browser's setStateValue would make (a hostile client's): and rerun."""
        self.states[widget.id] = WidgetState(id=widget.id, json_value=text)
        return self._send_rerun(fragment_id=widget.fragment_id)

    def click(self, widget: Widget) -> Run:
        """Press a button: its trigger goes with this rerun only (the frontend's
        setTriggerValue), then it is gone from the states again."""
        self.states[widget.id] = WidgetState(id=widget.id, trigger_value=True)
        run = self._send_rerun(fragment_id=widget.fragment_id)
        self.states.pop(widget.id, None)
        return run

    def set_select_slider(self, widget: Widget, option: str) -> Run:
        self.states[widget.id] = WidgetState(id=widget.id, string_array_value={"data": [option]})
        return self._send_rerun(fragment_id=widget.fragment_id)

    def select_slider_value(self, widget: Widget) -> str:
        """The option the slider shows: this tab's value, else the element's default."""
        state = self.states.get(widget.id)
        if state is not None and state.string_array_value.data:
            return state.string_array_value.data[0]
        return widget.proto.options[int(widget.proto.default[0])]

    def go_to(self, url_pathname: str) -> Run:
        """Click a page in the menu: rerun with its hash and only the states outside the page
        (the frontend's clearPageElements + getActiveWidgetStates)."""
        target = self.pages[url_pathname]
        for wid, info in list(self.widgets.items()):
            if info.script_hash != self.main_hash:             # the page's, not app.py's
                self.states.pop(wid, None)
                self.widgets.pop(wid)
        for _, task in self.auto.values():                    # cleanupAutoReruns
            task.cancel()
        self.auto.clear()
        self.page_url = url_pathname
        return self._send_rerun(page_hash=target)

    # --- sending -----------------------------------------------------------------------------

    def _client_state(self, *, page_name: str = "", page_hash: str | None = None,
                      fragment_id: str = "", auto: bool = False) -> BackMsg:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.widget_states.widgets.extend(self.states.values())
        cs.page_script_hash = self.page_hash if page_hash is None else page_hash
        cs.page_name = page_name
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        cs.cached_message_hashes.extend(self.cache)
        info = cs.context_info
        info.timezone = self.context["timezone"]
        info.timezone_offset = self.context["timezone_offset"]
        info.locale = self.context["locale"]
        info.url = f"{self.base_url}/{self.page_url}"
        info.is_embedded = self.context["is_embedded"]
        info.color_scheme = self.context["color_scheme"]
        return msg

    def _send_rerun(self, *, page_name: str = "", page_hash: str | None = None,
                    fragment_id: str = "") -> Run:
        run = Run(sent=time.perf_counter(), fragment_id=fragment_id)
        self.pending.append(run)
        payload = self._client_state(page_name=page_name, page_hash=page_hash,
                                     fragment_id=fragment_id).SerializeToString()
        asyncio.ensure_future(self._send(payload))
        return run

    async def _send(self, payload: bytes) -> None:
        self.trail.append((round(time.perf_counter(), 3), "sent", len(payload)))
        try:
            await self.ws.send(payload)
        except websockets.ConnectionClosed as err:
            self._closed(f"send: {err}")

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.closed.is_set():
                return
            self.auto_reruns_sent += 1
            if self.on_auto_rerun is not None:
                self.on_auto_rerun(time.perf_counter())
            await self._send(self._client_state(fragment_id=fragment_id, auto=True)
                             .SerializeToString())

    # --- receiving ---------------------------------------------------------------------------

    def _closed(self, reason: str) -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()
            for run in self.pending + ([self.current] if self.current else []):
                run.done.set()

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                self.bytes_in += len(raw)
                self.messages_in += 1
                self._handle(ForwardMsg.FromString(raw), time.perf_counter())
            self._closed(f"closed by the server: {self.ws.close_code} {self.ws.close_reason}")
        except websockets.ConnectionClosed as err:
            self._closed(f"connection closed: {err}")
        except Exception as err:           # a bug here must not pass as a slow server
            self._closed(f"client error: {type(err).__name__}: {err}")
            raise

    def _handle(self, msg: ForwardMsg, now: float) -> None:
        kind = msg.WhichOneof("type")
        self.trail.append((round(now, 3), kind, msg.metadata.run.script_run_id[:8],
                           list(msg.metadata.run.fragment_ids)) if kind in (
            "new_session", "script_finished") else (round(now, 3), kind))
        if kind == "ref_hash":
            kept = self.cache.get(msg.ref_hash)
            if kept is None:
                self.errors.append("cached ForwardMsg miss")
                return
            full = ForwardMsg()
            full.CopyFrom(kept[0])
            full.metadata.CopyFrom(msg.metadata)
            msg, kind = full, full.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash and msg.hash not in self.cache:
            fragment = msg.delta.fragment_id if kind == "delta" else ""
            self.cache[msg.hash] = (msg, self.cache_runs, fragment)

        if kind == "new_session":
            self._on_new_session(msg, now)
        elif kind == "delta":
            self._on_delta(msg, now)
        elif kind == "script_finished":
            self._on_finished(msg, now)
        elif kind == "navigation":
            # st.navigation's pages, and the one this run shows (new_session's hash is app.py's)
            for page in msg.navigation.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
            if msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash
        elif kind == "auto_rerun" and self.auto_rerun:
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid and self.auto.get(fid, (None,))[0] != interval:
                if fid in self.auto:
                    self.auto[fid][1].cancel()
                self.auto[fid] = (interval, asyncio.create_task(self._auto_rerun(fid, interval)))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                if fid in self.auto:
                    self.auto.pop(fid)[1].cancel()
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name}")
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == \
                "script_compilation_exception":
            self.errors.append("script compilation exception")

    def _on_new_session(self, msg: ForwardMsg, now: float) -> None:
        ns = msg.new_session
        if ns.HasField("initialize") and ns.initialize.session_id:
            self.session_id = ns.initialize.session_id
        self.max_cache_age = ns.config.max_cached_message_age or self.max_cache_age
        self.main_hash = ns.main_script_hash or self.main_hash
        fragments = list(msg.metadata.run.fragment_ids)

        def answers(run: Run) -> bool:
            # a full run answers a full request, a fragment run a request for its fragment
            return (not fragments and not run.fragment_id) or run.fragment_id in fragments

        # A run that had not finished ends here, as in the frontend, whose view of it ends
        # when the next one starts. Two ways Streamlit 1.67 ends a run early in the
        # protocol though it ran to its end, both when the next run (here the sidebar's
        # run_every fragment) starts before the finished run's messages are flushed:
        # (1) that next request reached the event loop before the run's end was handled, so
        #     the end came from a runner no longer current and was dropped: no
        #     script_finished at all (AppSession._handle_scriptrunner_event_on_event_loop);
        # (2) the queued script_finished of a fragment run was rewritten to
        #     FINISHED_EARLY_FOR_RERUN (forward_msg_queue._update_script_finished_message).
        # Either way its deltas had arrived. A run really cut short for a rerun is followed
        # by that rerun, which then carries on for the same request.
        for ended in (self.current, self.early):
            if ended is None or not ended.tracked or ended.done.is_set():
                continue
            if ended is self.early and answers(ended) and not any(map(answers, self.pending)):
                self.pending.insert(0, ended)                       # its rerun: carry on
                continue
            if ended is self.current:
                self.anomalies.append((now, "a run's script_finished never came"))
                ended.finished = now
            else:
                self.anomalies.append((now, "a complete run ended FINISHED_EARLY_FOR_RERUN"))
            ended.done.set()
        self.current = self.early = None
        match = next((run for run in self.pending if answers(run)), None)
        if match is None:
            self.untracked += 1
            match = Run(sent=now, fragment_id=fragments[0] if fragments else "", tracked=False)
        else:
            self.pending.remove(match)
            self.trail.append((round(now, 3), "bound", round(match.sent, 3)))
        match.run_id, match.started = msg.metadata.run.script_run_id, now
        self.current = match

    def _on_delta(self, msg: ForwardMsg, now: float) -> None:
        run = self.current
        if run is None:
            return
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        which = el.WhichOneof("type")
        proto = getattr(el, which) if which else None
        if which == "imgs":
            for img in proto.imgs:
                run.images.append((now, img.url))
                run.media.append(self.media.fetch(img.url) if self.media is not None
                                 and img.url.startswith("/") else None)
        elif which == "markdown":
            run.texts.append((now, proto.body))
        elif which == "bidi_component":
            run.texts.extend((now, text) for text in server_captions(proto))
        elif which == "exception":
            run.exceptions.append(f"{proto.type}: {proto.message[:120]}")
        elif which == "alert" and proto.format == proto.ERROR:
            run.alerts.append(proto.body[:120])
        elif which == "alert":              # a success or a warning, said in words
            run.notes.append((now, proto.body))
        if proto is not None and isinstance(getattr(proto, "id", None), str) and proto.id:
            label = getattr(proto, "label", "")
            self.widgets[proto.id] = Widget(which, proto.id, label, delta.fragment_id, proto,
                                            msg.metadata.active_script_hash)
            run.widget_ids.add(proto.id)
        if run.on_delta is not None:
            run.on_delta(run)

    def describe(self, since: float = 0.0) -> str:
        """What this tab is waiting for and what it received since ``since``: for a report of
        a hang."""
        trail = [t for t in self.trail if t[0] >= since - 0.5 and t[1] != "delta"][:40]
        return (f"session {(self.session_id or '')[:8]}, "
                f"pending {[(round(r.sent, 3), r.fragment_id[:8]) for r in self.pending]}, "
                f"current {self.current.run_id if self.current else None}, trail {trail}")

    def _on_finished(self, msg: ForwardMsg, now: float) -> None:
        status = msg.script_finished
        fragments = list(msg.metadata.run.fragment_ids)
        run = self.current
        self.current = None
        if status != EARLY_FOR_RERUN:
            # the frontend's message cache ages by one run, a fragment run only its own
            self.cache_runs += 1
            for h, (_, born, fragment) in list(self.cache.items()):
                if fragments and (not fragment or fragment not in fragments):
                    continue
                if self.cache_runs - born > self.max_cache_age:
                    del self.cache[h]
        if run is None:
            return
        run.finished, run.status = now, status
        if status == EARLY_FOR_RERUN and run.tracked:
            self.early = run          # decided when the next run starts (_on_new_session)
            return
        if status == FULL_RUN_DONE and not fragments:
            # removeInactiveWidgetState: a value whose widget this full run did not draw goes
            for wid in list(self.states):
                if wid not in run.widget_ids:
                    self.states.pop(wid)
            for wid in list(self.widgets):
                if wid not in run.widget_ids:
                    self.widgets.pop(wid)
        run.done.set()
        if run.tracked:
            self.trail.append((round(now, 3), "done", round(run.sent, 3), status))
