"""A hostile student's script against the README's classroom server, in raw HTTP and
Streamlit's own protocol (issue 19): uploads past a session's budget, a flood of half-open
connections, a websocket from a page on another port, the server's metrics. The student is
this machine's network address, as a laptop in the room would be, or another loopback address
where the test needs two clients."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest
import websockets
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

from aedemo import guard
from aedemo.roles import PASSPHRASE_ENV
from e2e_support import Server, run_apart
from support import REPO, classroom_command, lan_address

sys.path.insert(0, str(REPO / "bench"))
import st_client  # noqa: E402

FLOOD = 300
PER_ADDRESS = 100              # the cap under test, set low so that a flood of 300 passes it
ATTACKER = "127.0.0.2"         # loopback too, but another address than the bystander's


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("hostile-home"),
                 {"AEDEMO_ZOO": "0", "AEDEMO_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
                  PASSPHRASE_ENV: "a passphrase for the class"},
                 command=classroom_command(), host=lan_address())
    yield srv
    srv.stop()


def _status(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _upload(server: Server, session_id: str, file_id: str, size: int, xsrf: str) -> int:
    boundary = "aedemo-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{file_id}.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    body += b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    return _status(urllib.request.Request(
        f"{server.url}/_stcore/upload_file/{session_id}/{file_id}", data=body, method="PUT",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "X-Xsrftoken": xsrf, "Cookie": f"_streamlit_xsrf={xsrf}"}))


def test_a_session_holds_no_more_uploads_than_its_budget(server):
    async def attack() -> list[int]:
        tab = st_client.Session(server.url, fetch_media=False, auto_rerun=False)
        run = await tab.open("")
        await asyncio.wait_for(run.done.wait(), 60)
        xsrf = generate_xsrf_token_string()
        try:
            return [await asyncio.to_thread(_upload, server, tab.session_id, f"f{i}",
                                            64 * 1024, xsrf)
                    for i in range(guard.UPLOAD_FILES_PER_SESSION + 3)]
        finally:
            await tab.close()

    statuses = run_apart(attack())
    accepted = statuses.count(204)
    assert accepted == guard.UPLOAD_FILES_PER_SESSION, statuses
    assert set(statuses[accepted:]) == {429}, statuses


def _health(server: Server) -> bytes:
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=30) as r:
        return r.read().strip()


def test_half_open_connections_are_capped_and_closed_and_logged_once(server):
    log_before = server.log.stat().st_size
    flood = []
    for _ in range(FLOOD):
        s = socket.socket()
        s.bind((ATTACKER, 0))
        s.connect(("127.0.0.1", server.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")            # never the blank line
        flood.append(s)
    try:
        assert _health(server) == b"ok"                        # a bystander still gets in
        deadline = time.monotonic() + guard.HEADER_TIMEOUT_S + 20
        open_ones = flood
        while open_ones and time.monotonic() < deadline:
            time.sleep(0.5)
            open_ones = [s for s in open_ones if not _closed_by_server(s)]
        assert open_ones == [], f"{len(open_ones)} half-open connections were never closed"
        assert _health(server) == b"ok"
    finally:
        for s in flood:
            s.close()
    grown = server.log.read_text()[log_before:]
    assert len(grown.splitlines()) <= 2 * guard.REPEATS_LOGGED + 4, grown


def _closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def _stream_opens(server: Server, origin: str) -> bool:
    """Whether the server accepts a websocket to its stream from a page at ``origin``."""
    try:
        async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/_stcore/stream", origin=origin,
                subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"], open_timeout=30):
            return True
    except websockets.exceptions.InvalidStatus:
        return False


def test_only_the_apps_own_origin_opens_its_websocket(server):
    other_port = server.port + 1 if server.port < 65535 else server.port - 1
    assert run_apart(_stream_opens(server, f"http://127.0.0.1:{server.port}"))
    assert not run_apart(_stream_opens(server, f"http://127.0.0.1:{other_port}"))


def test_metrics_are_answered_to_this_machine_only(server):
    assert _status(urllib.request.Request(f"{server.url}/_stcore/metrics")) == 403
    assert _status(urllib.request.Request(f"http://127.0.0.1:{server.port}/_stcore/metrics")) \
        == 200
