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
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

STUDENT_COOKIE = "aedemo_student"
PASSPHRASE_ENV = "AEDEMO_TEACHER_PASSPHRASE"
PASSPHRASE_SECRET = "teacher_passphrase"
MIN_PASSPHRASE = 8           # a class shares a room: a passphrase short enough to guess is none
COOKIE_DAYS = 180            # a school year's half: a student keeps their models and jobs
TEACHER_COOKIE = "aedemo_teacher"
TEACHER_PATH = "/_aedemo/teacher"    # the one-time link that sets the teacher's cookie
# Stored models' files for the browser (aedemo.export): the same for everyone and cached for a
# year, by the browser and by any proxy, so their answers carry no student cookie: a cached
# cookie would give every student behind that proxy one id
NET_PATH = "/aedemo/net"
NET_ROUTE = f"{NET_PATH}/{{model_id}}/{{version}}.safetensors"     # app.py's route to them
# The components' own JavaScript (aedemo.ui.browser_models), likewise the same for everyone
SCRIPT_PATH = "/aedemo/js"
SCRIPT_ROUTE = f"{SCRIPT_PATH}/{{version}}/{{name}}"
SHARED_FILES = (f"{NET_PATH}/", f"{SCRIPT_PATH}/")
ROLE_HOURS = 8               # a school day: the teacher's role ends with the class
CLAIM_S = 120.0
WRONG_GUESSES = 5            # then the sidebar refuses guesses from that computer for a while
LOCKED_OUT_S = 60.0
CLASS_WRONG_GUESSES = 30     # from all computers together: then all guessing pauses
CLASS_WINDOW_S = 600.0
CODE_S = 600.0               # the one-time code printed in the terminal during a lockout
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
    if _obvious(value):
        return ("The teacher passphrase is one that students would guess first (a run of keys, "
                "one character repeated, mostly spaces or the word password). Choose words "
                "of your own.")
    return None


_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm",
         "azertyuiop", "qwertzuiop")
MIN_DISTINCT = 5


def _obvious(value: str) -> bool:
    """The passphrases that guessing tries first: few distinct characters ("aaaaaaaa", eight
    spaces, "abababab"), mostly spaces, a keyboard or alphabet run forwards or backwards
    ("12345678", "qwertyui"), or the word password."""
    letters = value.strip().lower()
    if len(set(letters)) < MIN_DISTINCT or value.count(" ") * 2 > len(value):
        return True
    if "password" in letters or "passwort" in letters or "motdepasse" in letters:
        return True
    return any(letters in run or letters in run[::-1] for run in _RUNS)


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


class RoleRefused(Exception):
    """Why the teacher's role was not given: a plain sentence for the sidebar."""


@dataclass(frozen=True)
class _Role:
    computer: str
    expires: float


def computer(address: str | None) -> str:
    """Whom wrong guesses and a teacher's role are counted for: the client's address, and one
    key for this machine, which Streamlit reports as no address at all (127.0.0.1 and ::1)."""
    return THIS_MACHINE if address in (None, "", "127.0.0.1", "::1") else address


THIS_MACHINE = "this machine"


class Teachers:
    """The teacher's roles given on this server, and the wrong guesses that paused guessing.

    - **A role is a fresh secret** (``aedemo_teacher`` cookie), made when the passphrase is
      entered, never the student cookie a browser had before: it lasts a class (``ROLE_HOURS``),
      holds only from the computer it was unlocked on, and ends when the teacher leaves it.
    - **Guesses are counted per computer and for the whole class**: a few wrong ones pause one
      computer's guessing, loopback included (a new cookie is free to make, an address is not);
      many from anywhere pause all guessing, as no class mistypes that often.
    - **The teacher cannot be locked out**: a lockout prints a one-time code in the server's
      terminal, which the sidebar's box takes instead of the passphrase, once.
    """

    def __init__(self, say: Callable[[str], None] = print):
        self._roles: dict[str, _Role] = {}
        self._claims: dict[str, tuple[str, float]] = {}   # claim -> (role's secret, expiry)
        self._wrong: dict[str, list[float]] = {}
        self._class_wrong: list[float] = []
        self._code: tuple[str, float] | None = None       # the one-time code and its expiry
        self._say = say
        self._lock = threading.Lock()

    def is_teacher(self, token: str | None, address: str | None, configured: str | None) -> bool:
        """With no passphrase configured only this machine is served: its user teaches."""
        if not configured:
            return True
        with self._lock:
            role = self._roles.get(token) if isinstance(token, str) else None
            if role is None or role.expires <= time.monotonic():
                return False
            return role.computer == computer(address)

    def unlock(self, guess: str, configured: str | None, address: str | None = None) -> str:
        """Try ``guess`` (the passphrase, or the one-time code) from ``address``: the new role's
        secret, or RoleRefused with why not, for the sidebar."""
        now, who = time.monotonic(), computer(address)
        with self._lock:
            self._forget_before(now)
            if self._code and hmac.compare_digest(guess.encode(), self._code[0].encode()):
                self._code = None                          # single use
                return self._give(who, now)
            mine = self._wrong.get(who, [])
            if len(mine) >= WRONG_GUESSES or len(self._class_wrong) >= CLASS_WRONG_GUESSES:
                # the right passphrase too: a lockout answers nothing about a guess
                paused = (mine[0] + LOCKED_OUT_S if len(mine) >= WRONG_GUESSES else
                          self._class_wrong[0] + CLASS_WINDOW_S)
                self._new_code(now)
                raise RoleRefused(f"Too many wrong passphrases: try again in {paused - now:.0f} s. "
                                  f"The teacher can use the one-time code printed in the "
                                  f"server's terminal.")
            if configured and hmac.compare_digest(guess.encode(), configured.encode()):
                self._wrong.pop(who, None)
                return self._give(who, now)
            self._wrong[who] = [*mine, now]
            self._class_wrong.append(now)
        raise RoleRefused("That is not the teacher's passphrase.")

    def claim(self, token: str) -> str:
        """A one-time link's secret that sets ``token``'s cookie in the browser (a websocket
        cannot set cookies): short-lived, and worth nothing but to the role's own computer."""
        claim = secrets.token_urlsafe(32)
        with self._lock:
            self._forget_before(time.monotonic())
            self._claims[claim] = (token, time.monotonic() + CLAIM_S)
        return claim

    def redeem(self, claim: str | None, address: str | None) -> str | None:
        """The role's secret for a claim made for it, from its computer, once; else None."""
        with self._lock:
            token, expires = self._claims.pop(claim, (None, 0.0)) if claim else (None, 0.0)
            role = self._roles.get(token) if token else None
            if role is None or expires <= time.monotonic() or role.computer != computer(address):
                return None
            return token

    def leave(self, token: str | None) -> None:
        with self._lock:
            self._roles.pop(token, None)

    def _give(self, who: str, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._roles[token] = _Role(who, now + ROLE_HOURS * 3600)
        return token

    def _new_code(self, now: float) -> None:
        """A lockout's way in for the teacher, printed once while it is valid."""
        if self._code is None:
            self._code = (secrets.token_hex(8), now + CODE_S)
            self._say(f"aedemo: guessing the teacher's passphrase is paused. The teacher can "
                      f"enter this one-time code instead, within {CODE_S // 60:.0f} minutes: "
                      f"{self._code[0]}")

    def _forget_before(self, now: float) -> None:
        for who, times in list(self._wrong.items()):
            recent = [t for t in times if now - t < LOCKED_OUT_S]
            if recent:
                self._wrong[who] = recent
            else:
                del self._wrong[who]
        self._class_wrong = [t for t in self._class_wrong if now - t < CLASS_WINDOW_S]
        if self._code and self._code[1] <= now:
            self._code = None
        for token, role in list(self._roles.items()):
            if role.expires <= now:
                del self._roles[token]
        for claim, (_, expires) in list(self._claims.items()):
            if expires <= now:
                del self._claims[claim]


# One per server process: the gate sets the role's cookie that the pages then check.
TEACHERS = Teachers()


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


EXPIRED_LINK = (b"This link has been used or has expired. Enter the teacher's passphrase again "
                b"in the sidebar.\n")


class ClassroomGate:
    """ASGI middleware in front of Streamlit: refuse other machines while the app is not open
    to the network (``open_to_lan()`` is false), and give every browser that has none a student
    cookie with its first page; the teacher's one-time link (``TEACHER_PATH``) is answered here,
    in front of Streamlit's routes."""

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
        if scope["type"] == "http" and scope.get("path") == TEACHER_PATH:
            await _teachers_link(scope, send)
            return
        if (scope["type"] == "http" and not scope.get("path", "").startswith(SHARED_FILES)
                and not valid_student_id(_cookies(scope).get(STUDENT_COOKIE))):
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


_PAGE = re.compile(r"[A-Za-z0-9_-]{0,64}")


async def _teachers_link(scope, send) -> None:
    """The sidebar's one-time link after the passphrase: set the role's cookie and go back to
    the page. HttpOnly, so no script reads it; SameSite=Strict, so no other site's page sends
    it; Secure where the class is served over HTTPS (uvicorn takes the scheme from a proxy on
    this machine); gone with the class, as the role is."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    client = (scope.get("client") or ("", 0))[0]
    token = TEACHERS.redeem(query.get("claim", [None])[0], client)
    if token is None:
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": EXPIRED_LINK})
        return
    page = query.get("page", [""])[0]
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    cookie = (f"{TEACHER_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; "
              f"Max-Age={ROLE_HOURS * 3600}{secure}")
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", f"/{page if _PAGE.fullmatch(page) else ''}".encode()),
                            (b"set-cookie", cookie.encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        await receive()                                    # the connect message
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": REFUSED})
