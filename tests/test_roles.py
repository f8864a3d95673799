"""Students and the teacher (aedemo.roles): the student cookie, the passphrase and its guesses,
and the gate that keeps other machines out until a passphrase opens the app to the class."""

from __future__ import annotations

import time

import pytest

from aedemo import roles
from aedemo.roles import ClassroomGate, Teachers
from support import run_apart


def test_a_student_id_is_a_random_token_and_a_forged_one_is_ignored():
    a, b = roles.new_student_id(), roles.new_student_id()
    assert a != b and roles.valid_student_id(a)
    for forged in ("", "alice", "zoo", a[:-1], a + "0", a.upper(), None, 7, ["x"]):
        assert not roles.valid_student_id(forged)


def test_the_teachers_role_opens_only_with_the_passphrase():
    teachers, secret = Teachers(), "correct horse battery"
    assert teachers.is_teacher(None, None, None)          # this machine only: its user teaches
    assert not teachers.is_teacher(None, "10.0.0.5", secret)
    with pytest.raises(roles.RoleRefused, match="not the teacher's passphrase"):
        teachers.unlock("guess", secret, "10.0.0.5")
    token = teachers.unlock(secret, secret, "10.0.0.5")
    assert teachers.is_teacher(token, "10.0.0.5", secret)
    assert not teachers.is_teacher("forged", "10.0.0.5", secret)
    teachers.leave(token)
    assert not teachers.is_teacher(token, "10.0.0.5", secret)


def test_the_role_is_a_fresh_secret_for_one_computer_and_one_class(monkeypatch):
    """The tryout's case: the role was the 180-day student cookie, and worked from anywhere."""
    teachers, secret = Teachers(), "correct horse battery"
    first, again = (teachers.unlock(secret, secret, "10.0.0.5") for _ in range(2))
    assert first != again and not roles.valid_student_id(first)   # rotated, never the student's
    assert teachers.is_teacher(first, "10.0.0.5", secret)
    assert not teachers.is_teacher(first, "10.0.0.6", secret)     # the cookie copied elsewhere
    # this machine is one computer, whether Streamlit names it or not; 127.0.0.2 is another
    local = teachers.unlock(secret, secret, None)
    assert teachers.is_teacher(local, "127.0.0.1", secret)
    assert not teachers.is_teacher(local, "127.0.0.2", secret)
    later = time.monotonic() + roles.ROLE_HOURS * 3600 + 1
    monkeypatch.setattr(roles.time, "monotonic", lambda: later)
    assert not teachers.is_teacher(first, "10.0.0.5", secret)     # it ends with the class


def test_the_one_time_link_gives_the_role_once_and_only_to_its_computer():
    teachers, secret = Teachers(), "correct horse battery"
    token = teachers.unlock(secret, secret, "10.0.0.5")
    claim = teachers.claim(token)
    assert teachers.redeem(claim, "10.0.0.6") is None             # another computer
    claim = teachers.claim(token)
    assert teachers.redeem(claim, "10.0.0.5") == token
    assert teachers.redeem(claim, "10.0.0.5") is None             # once
    assert teachers.redeem(None, "10.0.0.5") is None and teachers.redeem("x", "10.0.0.5") is None


def test_guessing_the_passphrase_is_stopped_after_a_few_tries():
    teachers, secret = Teachers(say=lambda line: None), "correct horse battery"
    for _ in range(roles.WRONG_GUESSES):
        with pytest.raises(roles.RoleRefused):
            teachers.unlock("wrong", secret, "10.0.0.5")
    with pytest.raises(roles.RoleRefused, match="Too many wrong passphrases"):
        teachers.unlock(secret, secret, "10.0.0.5")
    assert teachers.unlock(secret, secret, "10.0.0.9")           # another computer is not


def test_guesses_from_this_machine_count_too():
    """The tryout's case: from loopback the count was per cookie, so 60 wrong guesses, then the
    right one, went through."""
    teachers, secret = Teachers(say=lambda line: None), "correct horse battery"
    for address in [None, "127.0.0.1", "::1"] * 2:
        with pytest.raises(roles.RoleRefused):
            teachers.unlock("wrong", secret, address)
    with pytest.raises(roles.RoleRefused, match="Too many wrong passphrases"):
        teachers.unlock(secret, secret, None)
    for _ in range(roles.WRONG_GUESSES):                           # 127.0.0.3 is its own
        with pytest.raises(roles.RoleRefused):
            teachers.unlock("wrong", secret, "127.0.0.3")
    with pytest.raises(roles.RoleRefused, match="Too many wrong passphrases"):
        teachers.unlock(secret, secret, "127.0.0.3")


def test_many_wrong_guesses_from_many_computers_pause_all_guessing():
    teachers, secret = Teachers(say=lambda line: None), "correct horse battery"
    for i in range(roles.CLASS_WRONG_GUESSES):                     # a new address each time
        with pytest.raises(roles.RoleRefused, match="not the teacher's passphrase"):
            teachers.unlock("wrong", secret, f"10.0.{i}.1")
    with pytest.raises(roles.RoleRefused, match="Too many wrong passphrases"):
        teachers.unlock(secret, secret, "10.9.9.9")


def test_a_lockout_prints_a_one_time_code_that_lets_the_teacher_in_once():
    """The tryout's case: behind one address, a student's five wrong guesses refused the
    teacher's right passphrase too, and the teacher had no way in."""
    said = []
    teachers, secret = Teachers(say=said.append), "correct horse battery"
    for _ in range(roles.WRONG_GUESSES):
        with pytest.raises(roles.RoleRefused):
            teachers.unlock("wrong", secret, "10.0.0.5")
    with pytest.raises(roles.RoleRefused, match="one-time code printed in the server's terminal"):
        teachers.unlock("still guessing", secret, "10.0.0.5")
    with pytest.raises(roles.RoleRefused):
        teachers.unlock("and again", secret, "10.0.0.5")
    (line,) = said                                                  # printed once
    code = line.rsplit(" ", 1)[-1]
    assert len(code) >= 16
    token = teachers.unlock(code, secret, "10.0.0.5")
    assert teachers.is_teacher(token, "10.0.0.5", secret)
    with pytest.raises(roles.RoleRefused, match="Too many wrong passphrases"):
        teachers.unlock(code, secret, "10.0.0.5")                   # used: a new one is printed
    assert len(said) == 2 and said[1].rsplit(" ", 1)[-1] != code


@pytest.mark.parametrize("weak", [" " * 8, " " * 12 + "ab", "12345678", "87654321",
                                  "abcdefgh", "qwertyui", "aaaaaaaaaa", "abababab",
                                  "password1", "MyPassword", "11112222"])
def test_obvious_passphrases_are_refused(weak):
    problem = roles.passphrase_problem(weak)
    assert problem is not None and "students would guess" in problem


@pytest.mark.parametrize("fine", ["correct horse battery", "a passphrase for the class",
                                  "Tr0mb0ne-42!"])
def test_a_passphrase_of_ones_own_is_taken(fine):
    assert roles.passphrase_problem(fine) is None


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

    run_apart(gate(scope, receive, send))
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


def test_the_gate_answers_the_teachers_link_with_the_roles_cookie():
    gate = ClassroomGate(_streamlit, open_to_lan=lambda: True)
    secret = "correct horse battery"
    token = roles.TEACHERS.unlock(secret, secret, "10.0.0.5")

    def follow(claim, host="10.0.0.5", scheme="http"):
        scope = {**_http(host), "path": roles.TEACHER_PATH, "scheme": scheme,
                 "query_string": f"claim={claim}&page=train".encode()}
        return _call(gate, scope)

    sent = follow(roles.TEACHERS.claim(token))
    assert sent[0]["status"] == 303 and (b"location", b"/train") in sent[0]["headers"]
    cookie = _set_cookie(sent)
    assert cookie.startswith(f"{roles.TEACHER_COOKIE}={token};")
    assert {"HttpOnly", "SameSite=Strict", f"Max-Age={roles.ROLE_HOURS * 3600}"} <= {
        part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie
    assert "Secure" in _set_cookie(follow(roles.TEACHERS.claim(token), scheme="https"))
    refused = follow(roles.TEACHERS.claim(token), host="10.0.0.6")
    assert refused[0]["status"] == 403 and b"expired" in refused[1]["body"]
    roles.TEACHERS.leave(token)


def test_the_terminal_says_where_to_open_the_app():
    assert roles.where_to_open("127.0.0.1", 8501) == (
        "aedemo is ready: open http://localhost:8501 in a browser on this machine.")
    lan = roles.lan_address()
    said = roles.where_to_open("0.0.0.0", 8502)
    assert f"students open http://{lan or '<this machine' + chr(39) + 's address>'}:8502" in said
    assert "http://localhost:8502" in said
    assert roles.where_to_open("192.168.1.20", 80).endswith("students open http://192.168.1.20:80.")
