"""Students and the teacher (aedemo.roles): the student cookie, the passphrase and its guesses,
and the gate that keeps other machines out until a passphrase opens the app to the class."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from aedemo import roles
from aedemo.roles import ClassroomGate, Teachers


def test_a_student_id_is_a_random_token_and_a_forged_one_is_ignored():
    a, b = roles.new_student_id(), roles.new_student_id()
    assert a != b and roles.valid_student_id(a)
    for forged in ("", "alice", "zoo", a[:-1], a + "0", a.upper(), None, 7, ["x"]):
        assert not roles.valid_student_id(forged)


def test_the_teachers_role_opens_only_with_the_passphrase():
    teachers, secret = Teachers(), "correct horse battery"
    assert teachers.is_teacher("anyone", None)            # this machine only: its user teaches
    assert not teachers.is_teacher("s1", secret)
    assert "not the teacher's passphrase" in teachers.unlock("s1", "guess", secret)
    assert teachers.unlock("s1", secret, secret) is None
    assert teachers.is_teacher("s1", secret) and not teachers.is_teacher("s2", secret)
    teachers.leave("s1")
    assert not teachers.is_teacher("s1", secret)


def test_guessing_the_passphrase_is_stopped_after_a_few_tries():
    teachers, secret = Teachers(), "correct horse battery"
    for _ in range(roles.WRONG_GUESSES):
        teachers.unlock("s1", "wrong", secret)
    assert "Too many wrong passphrases" in teachers.unlock("s1", secret, secret)
    assert not teachers.is_teacher("s1", secret)
    assert teachers.unlock("s2", secret, secret) is None  # another browser is not locked out


def test_passphrase_from_the_environment_or_the_secrets_file(monkeypatch):
    monkeypatch.delenv(roles.PASSPHRASE_ENV, raising=False)
    assert roles.passphrase({}) is None
    assert roles.passphrase({"teacher_passphrase": "from the file"}) == "from the file"

    class Broken:
        def get(self, key):
            raise FileNotFoundError("no secrets.toml")

    assert roles.passphrase(Broken()) is None
    monkeypatch.setenv(roles.PASSPHRASE_ENV, "from the env")
    assert roles.passphrase({"teacher_passphrase": "from the file"}) == "from the env"
    assert "No teacher passphrase" in roles.passphrase_problem(None)
    assert "shorter than 8" in roles.passphrase_problem("1234")
    assert roles.passphrase_problem("a long enough one") is None


@pytest.mark.parametrize("host, local", [("127.0.0.1", True), ("::1", True), ("[::1]", True),
                                         ("localhost", True), ("10.0.0.5", False),
                                         ("0.0.0.0", False), ("", False), (None, False),
                                         ("192.168.1.20", False), ("example.org", False)])
def test_loopback(host, local):
    assert roles.is_loopback(host) is local


# --- the gate, as an ASGI middleware in front of a stand-in for Streamlit -----------------------

def _call(gate, scope, messages=({"type": "http.request"},)):
    sent, incoming = [], list(messages)

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    # on a thread of its own: Playwright's sync API keeps a loop running on this one when the
    # browser tests share the session
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, gate(scope, receive, send)).result()
    return sent


async def _streamlit(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"the app"})


def _http(host, cookie: str | None = None):
    headers = [(b"cookie", cookie.encode())] if cookie else []
    return {"type": "http", "path": "/", "client": (host, 5000), "headers": headers}


def _set_cookie(sent) -> str | None:
    start = next(m for m in sent if m["type"] == "http.response.start")
    found = [v.decode() for k, v in start["headers"] if k == b"set-cookie"]
    return found[0] if found else None


def test_the_gate_refuses_other_machines_until_a_passphrase_opens_the_app():
    closed = ClassroomGate(_streamlit, open_to_lan=lambda: False)
    refused = _call(closed, _http("10.0.0.5"))
    assert refused[0]["status"] == 403 and b"no teacher passphrase" in refused[1]["body"]
    ws = {"type": "websocket", "path": "/_stcore/stream", "client": ("10.0.0.5", 1),
          "headers": []}
    assert _call(closed, ws, [{"type": "websocket.connect"}]) == [
        {"type": "websocket.close", "code": 1008}]
    assert _call(closed, _http("127.0.0.1"))[0]["status"] == 200
    opened = ClassroomGate(_streamlit, open_to_lan=lambda: True)
    assert _call(opened, _http("10.0.0.5"))[0]["status"] == 200
    assert _call(opened, ws, [{"type": "websocket.connect"}]) == [{"type": "websocket.accept"}]


def test_the_gate_gives_a_browser_its_student_cookie_once():
    gate = ClassroomGate(_streamlit, open_to_lan=lambda: True)
    cookie = _set_cookie(_call(gate, _http("10.0.0.5")))
    name, value = cookie.split(";")[0].split("=")
    assert name == roles.STUDENT_COOKIE and roles.valid_student_id(value)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert _set_cookie(_call(gate, _http("10.0.0.5", f"other=1; {name}={value}"))) is None
    # a forged or broken cookie is replaced by a real one
    assert _set_cookie(_call(gate, _http("10.0.0.5", f"{name}=alice"))) is not None
    assert _set_cookie(_call(gate, _http("10.0.0.5", "\x00;;=="))) is not None


def test_wrong_guesses_count_per_computer_not_per_cookie():
    """The tryout's case: clearing the cookie gave five fresh guesses every time."""
    teachers, secret = Teachers(), "correct horse battery"
    for _ in range(roles.WRONG_GUESSES):
        teachers.unlock(roles.new_student_id(), "wrong", secret, "10.0.0.5")
    assert "Too many wrong passphrases" in teachers.unlock(roles.new_student_id(), secret,
                                                           secret, "10.0.0.5")
    assert teachers.unlock("teacher", secret, secret, "10.0.0.9") is None   # another laptop


def test_the_terminal_says_where_to_open_the_app():
    assert roles.where_to_open("127.0.0.1", 8501) == (
        "aedemo is ready: open http://localhost:8501 in a browser on this machine.")
    lan = roles.lan_address()
    said = roles.where_to_open("0.0.0.0", 8502)
    assert f"students open http://{lan or '<this machine' + chr(39) + 's address>'}:8502" in said
    assert "http://localhost:8502" in said
    assert roles.where_to_open("192.168.1.20", 80).endswith("students open http://192.168.1.20:80.")
