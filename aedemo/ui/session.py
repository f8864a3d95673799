"""Who is asking, and what the server keeps for them: the one Service of the server process,
this browser's student id and address, the teacher's role, the problems as this browser may
read them (for_viewer), and what each browser chose (Browsers: projector mode, the Train
page's settings, the drawing), which a reload finds again."""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

import streamlit as st

from aedemo import roles
from aedemo.preprocess import escape_markdown
from aedemo.service import Service

log = logging.getLogger(__package__)


@st.cache_resource(show_spinner=False)
def service() -> Service:
    """One Service per server process, shared by every browser session."""
    return Service()


def student_id() -> str:
    """Who this browser is: the id in its student cookie, which the server's gate set with the
    first page (aedemo.roles), so it survives a reload; a client that never loaded a page (a
    test's) gets one for its session."""
    cookie = st.context.cookies.get(roles.STUDENT_COOKIE)
    if roles.valid_student_id(cookie):
        return cookie
    if "aedemo_student" not in st.session_state:
        st.session_state["aedemo_student"] = roles.new_student_id()
    return st.session_state["aedemo_student"]


def client_address() -> str | None:
    """The address this browser connects from (None where Streamlit does not say it: on the
    server's own machine, 127.0.0.1 or ::1)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def passphrase() -> str | None:
    """The teacher's passphrase from the server's secrets; None when none is set."""
    return roles.passphrase(st.secrets)


TEACHER_TOKEN = "aedemo_teacher"     # the role this session unlocked, before its cookie is set


def teacher_token() -> str | None:
    """The teacher's role this browser holds: its cookie (set by the sidebar's one-time link,
    so the role survives a reload), else the one unlocked in this session."""
    cookie = st.context.cookies.get(roles.TEACHER_COOKIE)
    if service().teachers.is_teacher(cookie, client_address(), passphrase()):
        return cookie
    return st.session_state.get(TEACHER_TOKEN)


def is_teacher() -> bool:
    """Whether this browser may do what only the teacher does: delete anyone's models, cancel
    anyone's job, clear the queue, pin the showcase. Asked again at every click, not only when
    the button was drawn; the role holds only from the computer it was unlocked on."""
    return service().teachers.is_teacher(teacher_token(), client_address(), passphrase())


_LOGGED_DETAILS: set[str] = set()     # what for_viewer has logged: once per server, not per rerun
LOGGED_DETAILS_KEPT = 256             # then forgotten, and logged again once each


def for_viewer(problem: str | Exception) -> str:
    """A problem as this browser may read it: the plain sentence for everyone; for the teacher,
    with the detail that the store's and the queue's errors carry (aedemo.errors: folders, the
    Redis address), which the README promises students never see. The detail goes to the log
    once, not with every rerun of every open tab that shows it."""
    detail = getattr(problem, "detail", None)
    if not detail:
        return str(problem)
    said = problem.in_full()
    if said not in _LOGGED_DETAILS:
        if len(_LOGGED_DETAILS) >= LOGGED_DETAILS_KEPT:
            _LOGGED_DETAILS.clear()
        _LOGGED_DETAILS.add(said)
        log.warning("%s", said)
    return f"{problem} ({escape_markdown(detail)})" if is_teacher() else str(problem)


# The toggle's key; the pages read the mode through projector().
PROJECTOR = "aedemo_projector"


class Browsers:
    """What each browser (its student cookie) chose, kept by the server so that a reload, or
    another tab, finds it: projector mode, the Train page's settings, the drawing on the pad.
    A reload starts a new Streamlit session, whose session_state is empty. Bounded: only the
    browsers that chose something are kept, the oldest dropped beyond ``cap``, and a value over
    ``max_bytes`` (as JSON) is not kept."""

    def __init__(self, cap: int = 1000, max_bytes: int = 256_000):
        self._kept: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cap = cap
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def recall(self, browser: str, name: str, default: Any = None) -> Any:
        with self._lock:
            return copy.deepcopy(self._kept.get(browser, {}).get(name, default))

    def remember(self, browser: str, name: str, value: Any) -> bool:
        """Keep ``value`` for the browser (None forgets it); False when it is too large."""
        if value is not None and len(json.dumps(value, default=str)) > self._max_bytes:
            return False
        with self._lock:
            kept = self._kept.pop(browser, {})
            if value is None:
                kept.pop(name, None)
            else:
                kept[name] = copy.deepcopy(value)
            if kept:
                self._kept[browser] = kept
                while len(self._kept) > self._cap:
                    self._kept.popitem(last=False)
        return True


@st.cache_resource(show_spinner=False)
def browsers() -> Browsers:
    """One memory of the browsers' choices per server process, as the teachers' is."""
    return Browsers()


def recall(name: str, default: Any = None) -> Any:
    """What this browser chose for ``name`` before (see Browsers)."""
    return browsers().recall(student_id(), name, default)


def remember(name: str, value: Any) -> bool:
    """Keep this browser's choice for ``name`` across reloads (see Browsers)."""
    return browsers().remember(student_id(), name, value)


def remember_changes(name: str, values: dict[str, Any]) -> None:
    """Keep, under ``name`` for this browser, the ``values`` (a form's widgets by key) that
    changed in this session since they were first drawn: only a change is written, so a tab
    left open does not undo what another tab of the same browser chose since."""
    seen = st.session_state.setdefault(f"aedemo_seen_{name}", {})
    changed = {k: v for k, v in values.items() if k in seen and seen[k] != v}
    seen.update(values)
    if changed:
        remember(name, {**(recall(name) or {}), **changed})


def projector() -> bool:
    """Whether this browser shows the projector mode: large black text on white, large chart
    text and larger digits, for the back of a room. This session's toggle once it has been
    drawn, else what this browser chose before (a reload, another tab)."""
    if PROJECTOR in st.session_state:
        return bool(st.session_state[PROJECTOR])
    return bool(recall(PROJECTOR, False))
