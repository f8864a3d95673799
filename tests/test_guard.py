"""The server's guards (aedemo.guard) on their own: the middleware in front of a tiny ASGI app,
the connection caps on a real socket, the log's repeat limit with a clock of the test's own.
The README's server meets them in tests/e2e/test_hostile_http.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aedemo import guard
from support import run_apart


async def _ok(scope, receive, send):
    if scope["type"] == "websocket":
        await send({"type": "websocket.accept"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(middleware, *, kind="http", method="GET", path="/", headers=(),
          client="127.0.0.1") -> int | str:
    """The status a request gets, or for a websocket "accept" or "close"."""
    scope = {"type": kind, "method": method, "path": path, "client": (client, 5000),
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    sent = []

    async def receive():
        return {"type": "websocket.connect"} if kind == "websocket" else {"type": "http.request"}

    async def send(message):
        sent.append(message)

    run_apart(middleware(scope, receive, send))
    first = sent[0]
    return first.get("status") or first["type"].split(".")[1]


HOST = ("host", "127.0.0.1:8501")


@pytest.mark.parametrize("kind,method", [("websocket", "GET"), ("http", "POST"),
                                         ("http", "PUT"), ("http", "DELETE")])
def test_another_ports_page_can_change_nothing(kind, method):
    gate = guard.OwnOriginOnly(_ok)
    other = _call(gate, kind=kind, method=method, headers=[HOST, ("origin", "http://127.0.0.1:9")])
    own = _call(gate, kind=kind, method=method,
                headers=[HOST, ("origin", "http://127.0.0.1:8501")])
    no_origin = _call(gate, kind=kind, method=method, headers=[HOST])
    assert (other, own, no_origin) == ((403, 200, 200) if kind == "http"
                                       else ("close", "accept", "accept"))


def test_another_sites_page_may_still_read_and_link():
    gate = guard.OwnOriginOnly(_ok)
    assert _call(gate, headers=[HOST, ("origin", "http://elsewhere.example")]) == 200


def test_the_metrics_are_for_this_machine_only():
    gate = guard.OwnOriginOnly(_ok)
    assert _call(gate, path="/_stcore/metrics", client="192.168.1.23") == 403
    assert _call(gate, path="/_stcore/metrics", client="127.0.0.1") == 200
    assert _call(gate, path="/_stcore/health", client="192.168.1.23") == 200


def test_a_session_holds_at_most_its_budget_of_uploads():
    held: dict[str, int] = {}

    async def store(scope, receive, send):
        held[scope["path"].rsplit("/", 1)[1]] = 1000
        await _ok(scope, receive, send)

    budget = guard.UploadBudget(store, held=lambda session: held)

    def put(file_id, size=1000):
        return _call(budget, method="PUT", path=f"/_stcore/upload_file/s1/{file_id}",
                     headers=[("content-length", str(size))])

    assert [put(f"f{i}") for i in range(guard.UPLOAD_FILES_PER_SESSION + 2)] == \
        [200] * guard.UPLOAD_FILES_PER_SESSION + [429, 429]
    assert put("f0") == 200                     # the same file again replaces it
    held.clear()
    assert put("big", guard.UPLOAD_BYTES_PER_SESSION + 1) == 413
    assert _call(budget, method="GET", path="/_stcore/upload_file/s1/f9") == 200


def test_uploads_in_flight_count_against_the_budget():
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_store(scope, receive, send):
        started.set()
        await release.wait()
        await _ok(scope, receive, send)

    budget = guard.UploadBudget(slow_store, held=lambda session: {})

    async def put(file_id) -> int:
        sent = []

        async def send(m):
            sent.append(m)

        scope = {"type": "http", "method": "PUT", "headers": [(b"content-length", b"10")],
                 "path": f"/_stcore/upload_file/s1/{file_id}", "client": ("127.0.0.1", 1)}
        await budget(scope, lambda: {"type": "http.request"}, send)
        return sent[0]["status"]

    async def scenario():
        first = [asyncio.create_task(put(f"f{i}")) for i in range(guard.UPLOAD_FILES_PER_SESSION)]
        await started.wait()
        await asyncio.sleep(0)
        refused = await put("one-more")
        release.set()
        return refused, await asyncio.gather(*first)

    refused, statuses = run_apart(scenario())
    assert refused == 429 and statuses == [200] * guard.UPLOAD_FILES_PER_SESSION
    assert budget.sending == {}


def test_connections_over_the_cap_and_silent_ones_are_closed():
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def scenario():
        config = Config(_ok)
        config.load()
        protocol = guard.guarded_protocol(config.http_protocol_class, per_address=3, total=100,
                                          header_timeout=0.5)
        state, loop = ServerState(), asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: protocol(config=config, server_state=state, app_state={}, _loop=loop),
            "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]

        async def closed(reader) -> bool:     # read() returns once the server has closed
            await asyncio.wait_for(reader.read(), 10)
            return reader.at_eof()

        # the two over the cap are closed at once, while the three silent ones still wait
        # for their header timeout (0.5 s)
        await asyncio.gather(*(closed(reader) for reader, _ in streams[3:]))
        at_once = [reader.at_eof() for reader, _ in streams]
        later = list(await asyncio.gather(*(closed(reader) for reader, _ in streams)))
        for _, writer in streams:
            writer.close()
        server.close()
        return at_once, later

    at_once, later = run_apart(scenario())
    assert at_once == [False, False, False, True, True]
    assert later == [True] * 5


def _record(msg="a failing rerun %s", args=("x",)):
    return logging.LogRecord("streamlit.error_util", logging.ERROR, __file__, 1, msg, args, None)


def test_a_repeated_log_line_is_written_a_few_times_then_counted():
    now = [0.0]
    limit = guard.RepeatLimit(repeats=3, window_s=60, clock=lambda: now[0])
    records = [_record(args=(i,)) for i in range(100)]
    passed = [r for r in records if limit.filter(r)]
    assert len(passed) == 4
    assert "held back" in passed[-1].getMessage()
    assert limit.filter(_record("another line"))          # other lines are not held back
    now[0] = 61
    next_window = _record()
    assert limit.filter(next_window)
    assert "96 more like this were held back" in next_window.getMessage()


def test_the_limit_is_on_the_loggers_that_flood():
    logging.getLogger("streamlit.error_util")
    guard.limit_repeated_log_lines()
    try:
        for name in ("asyncio", "streamlit.error_util", ""):
            assert any(isinstance(f, guard.RepeatLimit) for f in logging.getLogger(name).filters)
    finally:
        # the server's filter, not the test run's: later tests count their own log lines
        for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for f in [f for f in getattr(lg, "filters", []) if isinstance(f, guard.RepeatLimit)]:
                lg.removeFilter(f)
