"""Who is who in a class: students, known by a cookie that survives a reload, and the teacher,
who unlocks the role with a passphrase the teacher sets.

- **A student** is a random id in the ``aedemo_student`` cookie, set by ``ClassroomGate`` on
  the first page a browser loads. Streamlit reads cookies when the browser opens its websocket,
  so the id reaches every session the browser opens, after a reload too: caps, ownership and
  Cancel follow the student, not the tab.
- **The teacher** is a student who entered the passphrase (``AEDEMO_TEACHER_PASSPHRASE``, or
  ``teacher_passphrase`` in ``.streamlit/secrets.toml``). With no passphrase configured the
  server answers only this machine (``ClassroomGate`` refuses everyone else), and whoever is at
  this machine is the teacher.

No Streamlit here: app.py mounts the gate, aedemo.ui asks ``Teachers`` who may do what.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any

STUDENT_COOKIE = "aedemo_student"
PASSPHRASE_ENV = "AEDEMO_TEACHER_PASSPHRASE"
PASSPHRASE_SECRET = "teacher_passphrase"
MIN_PASSPHRASE = 8           # a class shares a room: a passphrase short enough to guess is none
COOKIE_DAYS = 180            # a school year's half: a student keeps their models and jobs
WRONG_GUESSES = 5            # then the sidebar refuses guesses from that browser for a while
LOCKED_OUT_S = 60.0
_STUDENT_ID = re.compile(r"[0-9a-f]{32}")


def new_student_id() -> str:
    return secrets.token_hex(16)


def valid_student_id(value: object) -> bool:
    """A cookie's id as we make them: a forged one in any other shape is ignored."""
    return isinstance(value, str) and _STUDENT_ID.fullmatch(value) is not None


def passphrase(secret_store: Mapping[str, Any] | None = None) -> str | None:
    """The teacher's passphrase: the environment's, else the secrets file's; None when unset."""
    value = os.environ.get(PASSPHRASE_ENV)
    if not value and secret_store is not None:
        try:
            value = secret_store.get(PASSPHRASE_SECRET)
        except Exception:  # no secrets file, or one Streamlit cannot parse: no passphrase
            value = None
    return str(value) if value else None


def passphrase_problem(value: str | None) -> str | None:
    """Why this passphrase cannot open a class to the network, or None."""
    if not value:
        return (f"No teacher passphrase is set, so the app serves only this machine. To open it "
                f"to a classroom, set {PASSPHRASE_ENV} (or {PASSPHRASE_SECRET} in "
                f".streamlit/secrets.toml) and use the README's classroom command.")
    if len(value) < MIN_PASSPHRASE:
        return (f"The teacher passphrase is shorter than {MIN_PASSPHRASE} characters; a room "
                f"full of students could guess it. Choose a longer one.")
    return None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or a name) is this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def lan_address() -> str | None:
    """This machine's address on its network, where a student's laptop reaches it, or None.
    Connecting a UDP socket sends nothing: it only makes the system pick the way out."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if is_loopback(address) or address == "0.0.0.0" else address


def where_to_open(address: str | None, port: int) -> str:
    """What the terminal says once the app serves: the address to open, and for the classroom
    command the one the students open."""
    if is_loopback(address):
        return f"aedemo is ready: open http://localhost:{port} in a browser on this machine."
    if address in (None, "", "0.0.0.0", "::"):
        lan = lan_address()
        students = (f"students open http://{lan}:{port}" if lan else
                    f"students open http://<this machine's address>:{port}")
        return (f"aedemo is ready for the class: {students}; on this machine, "
                f"http://localhost:{port}.")
    return f"aedemo is ready for the class: students open http://{address}:{port}."


class Teachers:
    """The students who unlocked the teacher's role on this server, and the wrong guesses
    each browser made: a few, then a pause, so the passphrase cannot be guessed by brute force
    from the sidebar."""

    def __init__(self):
        self._unlocked: set[str] = set()
        self._wrong: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def is_teacher(self, student: str, configured: str | None) -> bool:
        """With no passphrase configured only this machine is served: its user teaches."""
        if not configured:
            return True
        with self._lock:
            return student in self._unlocked

    def unlock(self, student: str, guess: str, configured: str | None,
               address: str | None = None) -> str | None:
        """Try ``guess`` from ``student``'s browser at ``address``: None when it opened the
        role, otherwise why not, for the sidebar. Wrong guesses count per computer, not per
        student: a new cookie is free to make, a new address is not."""
        now = time.monotonic()
        guesser = address if address and not is_loopback(address) else student
        with self._lock:
            recent = [t for t in self._wrong.pop(guesser, []) if now - t < LOCKED_OUT_S]
            if recent:
                self._wrong[guesser] = recent
            if len(recent) >= WRONG_GUESSES:
                wait = LOCKED_OUT_S - (now - recent[0])
                return f"Too many wrong passphrases: try again in {wait:.0f} s."
            if configured and hmac.compare_digest(guess.encode(), configured.encode()):
                self._unlocked.add(student)
                self._wrong.pop(guesser, None)
                return None
            self._wrong[guesser] = [*recent, now]
        return "That is not the teacher's passphrase."

    def leave(self, student: str) -> None:
        with self._lock:
            self._unlocked.discard(student)


# --- the gate in front of the server ------------------------------------------------------------

def _cookies(scope: dict) -> dict[str, str]:
    header = b"; ".join(v for k, v in scope.get("headers", ()) if k == b"cookie")
    jar = SimpleCookie()
    try:
        jar.load(header.decode("latin-1"))
    except Exception:  # a malformed header: as if it carried no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


REFUSED = (b"This aedemo server serves only the machine it runs on, because no teacher "
           b"passphrase is set. The teacher can open it to the class with the README's "
           b"classroom command.\n")


class ClassroomGate:
    """ASGI middleware in front of Streamlit: refuse other machines while the app is not open
    to the network (``open_to_lan()`` is false), and give every browser that has none a student
    cookie with its first page."""

    def __init__(self, app, open_to_lan: Callable[[], bool]):
        self.app = app
        self.open_to_lan = open_to_lan

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("", 0))[0]
        if not is_loopback(client) and not self.open_to_lan():
            await _refuse(scope, receive, send)
            return
        if scope["type"] == "http" and not valid_student_id(_cookies(scope).get(STUDENT_COOKIE)):
            cookie = (f"{STUDENT_COOKIE}={new_student_id()}; Path=/; HttpOnly; SameSite=Lax; "
                      f"Max-Age={COOKIE_DAYS * 86400}").encode()

            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()),
                                                      (b"set-cookie", cookie)]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


async def _refuse(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        await receive()                                    # the connect message
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": REFUSED})
