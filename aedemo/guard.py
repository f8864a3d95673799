"""Guards on the HTTP server that ``streamlit run app.py`` starts, so that one hostile student
with a script cannot take the class down (issue 19). Each bounds one thing:

* ``OwnOriginOnly`` (ASGI middleware): a websocket, or a request that changes something (PUT,
  POST, DELETE...), is refused unless its Origin, when a browser sends one, is the app's own
  host and port. Streamlit accepts the server's host on ANY port, and the teacher's cookie is
  sent to it: a page served on another port of the same machine could act as the teacher.
* ``OwnOriginOnly`` also answers ``/_stcore/metrics`` only to this machine (the server's caches
  and sessions are nobody else's business).
* ``UploadBudget`` (ASGI middleware): the files and bytes one session may hold in Streamlit's
  upload store, and may be sending at once. Streamlit's upload endpoint accepts any file id, so
  one session could store hundreds of megabytes; the pages need one upload at a time.
* ``harden_server``: uvicorn's connection handling, which ``streamlit run`` offers no option
  for. A connection whose request headers have not arrived within ``HEADER_TIMEOUT_S`` is
  closed (uvicorn has no such timeout: 1,100 half-open connections used every file the process
  may open), one address may hold at most ``CONNECTIONS_PER_ADDRESS`` open connections, the
  whole server at most ``MAX_CONNECTIONS``, and the soft open-file limit is raised to the hard
  one.
* ``RepeatLimit`` (logging filter): the first ``REPEATS_LOGGED`` copies of one log line (same
  logger, same message template) in ``REPEAT_WINDOW_S`` pass, then one line says the rest are
  held back, and the next window's first copy says how many were. A flood of connections, or a
  student's rerun that fails again and again, writes a few lines, not gigabytes.

Nothing here imports streamlit: what the guards need from it (which files a session holds) is
passed in by app.py.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import os
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from aedemo import roles

logger = logging.getLogger(__name__)

UPLOAD_FILES_PER_SESSION = 3
UPLOAD_BYTES_PER_SESSION = 12 * 1024 * 1024
HEADER_TIMEOUT_S = 10.0
# A class behind one proxy or NAT shares one address: a tab keeps a websocket and up to six
# connections for images, so 512 leaves room for a class of 60 (bench/classroom.py's students
# all come from this machine: at 256 a third of its image fetches at 60 were refused) and
# still stops a flood long before the server's files run out.
CONNECTIONS_PER_ADDRESS = int(os.environ.get("AEDEMO_CONNECTIONS_PER_ADDRESS", "512"))
FILES_KEPT_FREE = 128        # for the worker pipes, the store's files, Redis and the log
MAX_CONNECTIONS_CEILING = 4096
REPEATS_LOGGED = 5
REPEAT_WINDOW_S = 60.0

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OTHER_ORIGIN = b"This request came from another site, and the app answers only its own pages.\n"
METRICS_REFUSED = b"The server's metrics are shown only on the machine that runs it.\n"
UPLOAD_PATH = re.compile(r"/_stcore/upload_file/(?P<session>[^/]+)/(?P<file>[^/]+)$")


# --- HTTP and websocket requests -----------------------------------------------------------------

def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope, receive, send, status: int, body: bytes) -> None:
    if scope["type"] == "websocket":
        await receive()                                    # the connect message
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})


def is_own_origin(scope) -> bool:
    """Whether the request's Origin, if it has one, is the host and port it was sent to. Only
    the host and port are compared: behind a proxy that ends TLS the scheme differs, and a
    page of another scheme cannot share a port with the app anyway."""
    origin = _header(scope, b"origin")
    if origin is None:                 # not a browser, or a same-origin GET: nothing to forge
        return True
    return urlsplit(origin).netloc.lower() == (_header(scope, b"host") or "").lower()


class OwnOriginOnly:
    """ASGI middleware: refuse websockets and state-changing requests from another origin, and
    the metrics to other machines."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        changes_state = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if changes_state and not is_own_origin(scope):
            await _refuse(scope, receive, send, 403, OTHER_ORIGIN)
            return
        client = (scope.get("client") or ("", 0))[0]
        if scope["path"].endswith("/_stcore/metrics") and not roles.is_loopback(client):
            await _refuse(scope, receive, send, 403, METRICS_REFUSED)
            return
        await self.app(scope, receive, send)


class UploadBudget:
    """ASGI middleware: before an upload reaches Streamlit, check that its session holds and is
    sending at most ``UPLOAD_FILES_PER_SESSION`` files and ``UPLOAD_BYTES_PER_SESSION`` bytes
    with it. ``held(session_id)`` gives the sizes of the files the session holds, by file id.
    An upload without a Content-Length is counted at the whole budget."""

    def __init__(self, app, held: Callable[[str], dict[str, int]]):
        self.app = app
        self.held = held
        self.sending: dict[str, list[int]] = collections.defaultdict(list)   # bytes per upload

    async def __call__(self, scope, receive, send):
        match = UPLOAD_PATH.search(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "PUT":
            await self.app(scope, receive, send)
            return
        session, file_id = match["session"], match["file"]
        try:
            size = int(_header(scope, b"content-length") or UPLOAD_BYTES_PER_SESSION)
        except ValueError:
            size = UPLOAD_BYTES_PER_SESSION
        held = {f: n for f, n in self.held(session).items() if f != file_id}  # a replacement
        sending = self.sending[session]
        if len(held) + len(sending) + 1 > UPLOAD_FILES_PER_SESSION:
            await _refuse(scope, receive, send, 429, upload_refusal(len(held) + len(sending)))
            return
        if sum(held.values()) + sum(sending) + size > UPLOAD_BYTES_PER_SESSION:
            await _refuse(scope, receive, send, 413, UPLOAD_TOO_MUCH)
            return
        sending.append(size)
        try:
            await self.app(scope, receive, send)
        finally:
            sending.remove(size)
            if not sending:
                del self.sending[session]


def upload_refusal(files: int) -> bytes:
    return (f"This page already holds {files} uploaded files, the most it may: remove one "
            "before uploading another.\n").encode()


UPLOAD_TOO_MUCH = (f"This page's uploads would pass {UPLOAD_BYTES_PER_SESSION // 2**20} MB, the "
                   "most it may hold: remove a file before uploading another.\n").encode()


# --- connections -----------------------------------------------------------------------------

def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one, where the process may; the soft
    limit it then has."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            logger.warning("Could not raise the open-file limit from %d to %d.", soft, hard)
    return soft


class OpenConnections:
    """The transports open per client address. Transports, not protocols: after a websocket
    upgrade the transport is handed to another protocol, and the HTTP protocol hears nothing
    more of it, so the ones closed since are dropped as an address is counted."""

    def __init__(self):
        self.by_address: dict[str, set[asyncio.BaseTransport]] = {}

    def open(self, address: str) -> set[asyncio.BaseTransport]:
        transports = self.by_address.setdefault(address, set())
        transports.difference_update([t for t in transports if t.is_closing()])
        return transports

    def total(self, limit: int) -> int:
        """How many are open. A websocket's transport, closed, stays listed until its address
        connects again: all addresses are looked over only once the count reaches ``limit``."""
        count = sum(map(len, self.by_address.values()))
        if count >= limit:
            for address in list(self.by_address):
                if not self.open(address):
                    del self.by_address[address]
            count = sum(map(len, self.by_address.values()))
        return count

    def close(self, address: str, transport: asyncio.BaseTransport) -> None:
        self.by_address.get(address, set()).discard(transport)


def guarded_protocol(base: type, *, per_address: int, total: int,
                     header_timeout: float = HEADER_TIMEOUT_S) -> type:
    """A subclass of uvicorn's HTTP protocol ``base`` (h11 or httptools; both keep ``cycle``,
    ``transport`` and ``on_response_complete``) that closes a connection over the caps at once,
    and one whose request headers have not come within ``header_timeout`` of its opening or of
    its last response."""
    connections = OpenConnections()

    class GuardedProtocol(base):
        def connection_made(self, transport):
            super().connection_made(transport)
            address = self._address = (transport.get_extra_info("peername") or ("",))[0]
            self._header_timer = None
            everyone = connections.total(total)
            mine = connections.open(address)
            if len(mine) >= per_address or everyone >= total:
                logger.warning("Refused connections over the limit (%d from one address, %d "
                               "in all).", per_address, total)
                transport.close()
                return
            mine.add(transport)
            self._wait_for_headers()

        def _wait_for_headers(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = asyncio.get_running_loop().call_later(
                header_timeout, self._headers_late)

        def _headers_late(self):
            if self.transport.get_protocol() is not self:     # a websocket now: not ours
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return                                        # the headers came
            logger.warning("Closed connections whose request headers had not arrived in %g s.",
                           header_timeout)
            self.transport.close()

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._wait_for_headers()

        def connection_lost(self, exc):
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            connections.close(self._address, self.transport)
            super().connection_lost(exc)

    return GuardedProtocol


def running_uvicorn_config():
    """The uvicorn Config of the server that is importing this app, or None. ``streamlit run``
    makes it inside its UvicornRunner and keeps no reference we could import; uvicorn then
    imports app.py from ``Config.load()``, so the Config is the ``self`` of a frame up the
    stack. Reading it there (rather than searching the garbage collector for any Config) finds
    the one that serves us, and only while it has not yet read its settings to serve."""
    from uvicorn.config import Config

    for frame_info in inspect.stack(0):
        candidate = frame_info.frame.f_locals.get("self")
        if isinstance(candidate, Config) and frame_info.function == "load":
            return candidate
    return None


def harden_server() -> None:
    """Set the caps and timeouts above on the uvicorn server that is importing the app. Said
    once in the log if it cannot be found (the app then runs without them)."""
    config = running_uvicorn_config()
    if config is None:
        logger.error("The server's connection guards are off: no uvicorn server is loading "
                     "the app (aedemo.guard.harden_server).")
        return
    limit = max(min(raise_open_file_limit() - FILES_KEPT_FREE, MAX_CONNECTIONS_CEILING), 64)
    config.http_protocol_class = guarded_protocol(
        config.http_protocol_class, per_address=min(CONNECTIONS_PER_ADDRESS, limit), total=limit)
    config.limit_concurrency = limit      # uvicorn answers 503 past it rather than fail


# --- the log ---------------------------------------------------------------------------------

class RepeatLimit(logging.Filter):
    """Let the first ``REPEATS_LOGGED`` copies of a line (same logger, same message template)
    in ``REPEAT_WINDOW_S`` through, then hold the others back; the first held back becomes a
    line that says so, and the next window's first copy says how many were."""

    def __init__(self, repeats: int = REPEATS_LOGGED, window_s: float = REPEAT_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.repeats, self.window_s, self.clock = repeats, window_s, clock
        self.seen: dict[tuple[str, str], list] = {}   # key -> [window start, count, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        seen = self.seen.get(key)
        if seen is None or now - seen[0] >= self.window_s:
            held_back = seen[2] if seen else 0
            self.seen[key] = [now, 1, 0]
            if len(self.seen) > 10_000:               # messages with their data in the template
                self.seen = {key: self.seen[key]}
            if held_back:
                _append(record, f"[{held_back} more like this were held back in the last "
                                f"{self.window_s:g} s]")
            return True
        seen[1] += 1
        if seen[1] <= self.repeats:
            return True
        if seen[1] == self.repeats + 1:
            _append(record, f"[repeated {self.repeats} times in {self.window_s:g} s: more like "
                            "this are held back]")
            record.exc_info = record.exc_text = record.stack_info = None
            return True
        seen[2] += 1
        return False


def _append(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} {note}"
    record.args = None


def limit_repeated_log_lines() -> None:
    """Put a RepeatLimit on every logger that exists now (Streamlit's loggers do not pass their
    lines on to the root logger, so each needs its own), and on the root and asyncio ones.
    Called again once the server has started, for the loggers made meanwhile."""
    names = [name for name, lg in logging.Logger.manager.loggerDict.items()
             if isinstance(lg, logging.Logger)]
    for lg in [logging.getLogger(), logging.getLogger("asyncio"), *map(logging.getLogger, names)]:
        if not any(isinstance(f, RepeatLimit) for f in lg.filters):
            lg.addFilter(RepeatLimit())
