"""The only module in aedemo that imports streamlit: the shared service, session identity, the
sidebar, and widgets that several pages use. Pages call these; nothing here trains on a rerun."""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from aedemo import classroom, menu, roles
from aedemo.data import DataError
from aedemo.estimates import duration_words, wait_estimate
from aedemo.job import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SYSTEM,
    TEACHER,
    Job,
    JobError,
)
from aedemo.metrics import METRIC_LABELS
from aedemo.preprocess import (
    PAD_MAX_POINTS,
    PAD_PEN,
    PAD_SIZE,
    PAD_UNREADABLE,
    escape_markdown,
)
from aedemo.service import Provenance, Service
from aedemo.spec import ModelSpec, and_list
from aedemo.store import StoredModel, StoreError
from aedemo.viz.images import image_grid, to_pixels
from aedemo.viz.series import series_figure
from aedemo.viz.train import loss_curve, loss_summary

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
RUN_LOG = os.environ.get("AEDEMO_RUN_LOG")     # bench/classroom.py sets it: see run_page


def run_page(page) -> None:
    """Run the page st.navigation chose. With AEDEMO_RUN_LOG naming a file, append each full
    run's page and seconds to it: the classroom bench reads it to tell the server's own time
    from the browsers', which share the machine with it there."""
    page_style()
    if not RUN_LOG:
        page.run()
        return
    start = time.perf_counter()
    try:
        page.run()
    finally:                       # st.stop() and st.rerun() end a run by raising
        with open(RUN_LOG, "a") as log:
            log.write(f"{page.url_path or 'home'} {time.perf_counter() - start:.4f}\n")


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


def submit(spec) -> Job:
    """Queue a training job for this student (see Service.submit); raises JobError. The
    teacher's jobs are not held to the class's limit on a job's training time."""
    # the cap per computer counts this machine's browser too, as one computer (Streamlit says
    # no address for loopback), and not the teacher (JobQueue._check_caps)
    teacher = is_teacher()
    address = None if teacher else roles.computer(client_address())
    return service().submit(spec, student_id(), address, teacher=teacher)


def job_cost_note(spec: ModelSpec) -> None:
    """Beside Start: about how long the chosen settings will train, and the class's limit on a
    student's job; above the limit, the sentence Start would refuse with (Service.submit)."""
    svc = service()
    seconds = svc.job_seconds(spec)
    limit = svc.job_limit_words
    said = f"{duration_words(seconds).capitalize()} of training."
    if limit is None:
        st.caption(said)
    elif is_teacher():
        st.caption(f"{said} A student's job may train for at most {limit}; yours may train "
                   f"longer.")
    elif (refusal := svc.job_limit_refusal(spec, seconds)) is not None:
        st.warning(refusal, icon=":material/timer_off:")
    else:
        st.caption(f"{said} A student's job may train for at most {limit}.")


def _passphrase() -> str | None:
    return roles.passphrase(st.secrets)


_TEACHER_TOKEN = "aedemo_teacher"     # the role this session unlocked, before its cookie is set


def _teacher_token() -> str | None:
    """The teacher's role this browser holds: its cookie (set by the sidebar's one-time link,
    so the role survives a reload), else the one unlocked in this session."""
    cookie = st.context.cookies.get(roles.TEACHER_COOKIE)
    if service().teachers.is_teacher(cookie, client_address(), _passphrase()):
        return cookie
    return st.session_state.get(_TEACHER_TOKEN)


def is_teacher() -> bool:
    """Whether this browser may do what only the teacher does: delete anyone's models, cancel
    anyone's job, clear the queue, pin the showcase. Asked again at every click, not only when
    the button was drawn; the role holds only from the computer it was unlocked on."""
    return service().teachers.is_teacher(_teacher_token(), client_address(), _passphrase())


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


# --- sidebar ---------------------------------------------------------------------------------

def sidebar() -> None:
    with st.sidebar:
        # the fragment below runs now, within the page's run, and alone every PROGRESS_EVERY_S
        st.session_state[_FULL_RUN] = True
        _sidebar_status()
        _teacher_box()
        _projector_toggle()


def _teacher_box() -> None:
    """Unlock the teacher's role with the passphrase (or the one-time code a lockout prints in
    the server's terminal); with no passphrase set, the server serves only this machine and its
    user teaches. The role is a fresh secret: this session holds it at once, and the link below
    gives it to the browser's cookie, for this computer and this class only (aedemo.roles)."""
    configured = _passphrase()
    if not configured:
        return
    svc = service()
    if is_teacher():
        st.caption("You are signed in as the teacher.")
        token = _teacher_token()
        if st.context.cookies.get(roles.TEACHER_COOKIE) != token:
            claim = svc.teachers.claim(token)
            page = urlsplit(st.context.url or "").path.strip("/")
            st.link_button("Keep the role after a reload", icon=":material/key:",
                           url=f"{roles.TEACHER_PATH}?claim={claim}&page={page}",
                           help="Opens this page again in a new tab, where the teacher's role "
                                "stays until the class ends, on this computer only.")
        if st.button("Leave the teacher's role", key="teacher-leave", icon=":material/logout:"):
            svc.teachers.leave(token)
            st.session_state.pop(_TEACHER_TOKEN, None)
            st.rerun()
        return
    with st.expander("Teacher", icon=":material/school:"):
        with st.form("teacher-unlock", border=False):
            guess = st.text_input("Passphrase", type="password", key="teacher-passphrase")
            if st.form_submit_button("Unlock the teacher's role"):
                try:
                    st.session_state[_TEACHER_TOKEN] = svc.teachers.unlock(
                        guess, configured, client_address())
                except roles.RoleRefused as refused:
                    st.error(str(refused), icon=":material/lock:")
                else:
                    st.rerun()


def _job_line(job: Job, me: str) -> str:
    who = " (yours)" if job.asked_by(me) else ""
    if job.status is RUNNING:
        again = " (interrupted by a restart: training again)" if job.note else ""
        return f"▶ {job.spec.title}{who}{again}: {progress_text(job)}"
    again = " (interrupted by a restart: first again)" if job.note else ""
    # "1\." so that Markdown shows the number rather than starting a numbered list
    return f"{job.position or '·'}\\. {job.spec.title}{who}{again}"


def progress_text(job: Job, *, detail: bool = False) -> str:
    """A running job's progress in the words both the sidebar and the job panel use, from the
    same fraction, so the two never disagree; "starting" until its first batch is done."""
    if job.batches == 0:
        return "starting (loading the data, building the model)"
    text = f"{job.fraction:.0%}"
    if detail:
        text += f": epoch {job.epoch} of {job.epochs}, batch {job.batch} of {job.batches}"
        if job.eta_seconds is not None:
            text += f", about {job.eta_seconds:.0f} s left"
    return text


# The sidebar and the job panel refresh at the same pace, so the figures they show move together.
# Every open tab reruns them at this pace: at 1 s, sixty tabs made 57 reruns a second, three
# times the students' own actions, and exposed a Streamlit race that lost runs
# (bench/classroom.py); 2 s halves both.
PROGRESS_EVERY_S = 2


@st.fragment(run_every=PROGRESS_EVERY_S)
def _sidebar_status() -> None:
    svc = service()
    class_news(full_run=st.session_state.pop(_FULL_RUN, False))
    data = svc.data
    if svc.data_error:
        st.error(for_viewer(svc.data_error))
    elif data is None:
        st.caption(f"Loading the {svc.settings.dataset} dataset…")
    else:
        st.caption(f"Dataset: **{data.source}** · {len(data.x_train):,} training and "
                   f"{len(data.x_test):,} test images")
        if data.notice:
            offline_notice(data)
        elif data.about:
            st.caption(f"From {data.about}.")
    try:
        active = svc.jobs.jobs(active_only=True)
    except JobError as err:                    # the queue out of reach: say so, no traceback
        st.error(for_viewer(err), icon=":material/cloud_off:")
        return
    st.caption(f"Training queue: {len(active)} job{'s' if len(active) != 1 else ''}"
               if active else "Training queue: empty")
    problem = svc.queue_problem()
    if problem:
        st.warning(for_viewer(problem), icon=":material/engineering:")
    me = student_id()
    for job in active[:6]:
        st.caption(_job_line(job, me))
    if len(active) > 6:
        st.caption(f"… and {len(active) - 6} more")


def offline_notice(data) -> None:
    """What stands in for the dataset asked for, and why: one line on every page, the reason
    and the stand-in's source one click away (the whole notice took a third of the sidebar)."""
    with st.expander(f"Offline: {data.name} stand-in", icon=":material/wifi_off:"):
        st.warning(escape_markdown(data.notice))      # a reason may hold * or _


# --- what the teacher did, said on every open page ------------------------------------------

_FULL_RUN = "aedemo_full_run"        # set by sidebar(): the news is heard within a page's run
NEWS_SEQ = "aedemo_news_seq"         # the last item of the class's news this session has heard
_NEWS_PENDING = "aedemo_news_pending"    # notices to show after the rerun they asked for
# what changes which models a page shows by default: the page must be run again to follow it
_RERUN_FOR = (classroom.PINNED, classroom.UNPINNED, classroom.DELETED)
_NEWS_ICONS = {classroom.PINNED: ":material/push_pin:", classroom.UNPINNED: ":material/push_pin:",
               classroom.DELETED: ":material/delete:", classroom.CANCELLED: ":material/cancel:"}


def news_notice(item: classroom.Item, me: str) -> str | None:
    """What one item of the class's news says to student ``me``, or None when it is nothing
    to them: a pin to everyone; a deleted model or a cancelled job to its owners only (and not
    to whoever did it themselves)."""
    try:
        name = ModelSpec.from_dict(item.spec).title
    except (KeyError, TypeError, ValueError):        # the news file is not trusted
        name = "a model"
    yours = me in item.owners
    if item.kind == classroom.PINNED:
        return (f"The teacher pinned {'your model ' if yours else ''}{name}: it comes first on "
                f"every page it fits.")
    if item.kind == classroom.UNPINNED:
        return f"The teacher took {'your model ' if yours else ''}{name} off the showcase."
    if not yours or item.by == me:
        return None
    if item.kind == classroom.DELETED:
        return f"The teacher deleted your model {name}."
    return f"The teacher cancelled your job {name}: nothing was stored."


def class_news(*, full_run: bool) -> None:
    """Say what the teacher did since this session last asked (the class's news), as notices,
    and when a pin, an unpin or a delete changed what the page shows by default, run the page
    again so that it follows. Within a page's run (``full_run``) the page is drawn after this
    and follows already; in the sidebar fragment's own run the notices wait for the rerun,
    which would end them. A session starts at the news as it is: nothing old is replayed."""
    svc = service()
    heard = st.session_state.setdefault(NEWS_SEQ, svc.news.last_seq())
    new = svc.news.since(heard)
    notices = st.session_state.pop(_NEWS_PENDING, [])
    if new:
        st.session_state[NEWS_SEQ] = new[-1].seq
        me = student_id()
        # the teacher has seen what the teacher did
        said = [] if is_teacher() else [(news_notice(i, me), i.kind) for i in new]
        notices += [(text, kind) for text, kind in said if text]
        if not full_run and any(i.kind in _RERUN_FOR for i in new):
            st.session_state[_NEWS_PENDING] = notices
            st.rerun(scope="app")
    for text, kind in notices:
        st.toast(text, icon=_NEWS_ICONS[kind], duration="long")


def news_heard() -> None:
    """This session has seen what it just did itself (a teacher's action): not news to it."""
    st.session_state[NEWS_SEQ] = service().news.last_seq()


# --- projector mode --------------------------------------------------------------------------

# The toggle's key; the pages read the mode through projector().
PROJECTOR = "aedemo_projector"
PROJECTOR_TEXT_PX = 24     # the root font size: body 24 px, captions and labels 21 px
PROJECTOR_CHART_PX = 22    # every text in a chart: ticks, axis titles, legend, notes
PROJECTOR_ROW = 5          # digits in a row of show_images: twice as large as a row of ROW
PROJECTOR_PICTURE = 1.5    # ui.picture's width, times this


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


def _projector_toggle() -> None:
    # The session's toggle starts from what the browser chose before; a change is written back
    # at once, and only a change: a tab left open with the old value must not undo another's.
    if PROJECTOR not in st.session_state:
        st.session_state[PROJECTOR] = bool(recall(PROJECTOR, False))
    st.toggle("Projector mode", key=PROJECTOR,
              on_change=lambda: remember(PROJECTOR, bool(st.session_state[PROJECTOR]) or None),
              help="For the screen at the front of a room: larger black text, chart text and "
                   "digits. Set once in this browser; it stays on across pages and reloads.")


# --- widgets shared by pages -----------------------------------------------------------------

def hparam_input(field: Any, key: str, label: str | None = None, default: Any = None) -> Any:
    """A widget for one config field, from the range or choices it declares."""
    meta = field.metadata
    default = field.default if default is None else default
    label = label or field.name.replace("_", " ")
    help_text = meta.get("help") or None
    if meta.get("choices"):
        options = list(meta["choices"])
        return st.selectbox(label, options, index=options.index(default), key=key,
                            help=help_text)
    low, high = meta["low"], meta["high"]
    if meta.get("log"):
        options = log_options(low, high)
        value = min(options, key=lambda v: abs(v - default))
        return st.select_slider(label, options=options, value=value, key=key, help=help_text)
    if isinstance(default, int):
        return st.slider(label, int(low), int(high), int(default), key=key, help=help_text)
    return st.slider(label, float(low), float(high), float(default), key=key, help=help_text)


# The Draw page's pad, a Components v2 component of our own (aedemo/assets/drawing_pad.*): a
# real browser canvas that scales with its column, takes a mouse, a pen or a finger, and keeps
# Clear and Undo visible and finger-sized. Registered once per process, as Streamlit asks.
_drawing_pad = st.components.v2.component(
    "aedemo.drawing_pad", html='<div class="pad-root"></div>',
    js=(ASSETS / "drawing_pad.js").read_text(), css=(ASSETS / "drawing_pad.css").read_text())


def drawing_pad(key: str, strokes: list | None = None) -> dict | None:
    """The drawing pad: None until it has sent something in this session, then
    {"png": a PNG data URL or None when blank, "strokes": [[x0, y0, x1, y1, ...], ...]}.
    ``strokes`` is what a pad mounted afresh shows (the last drawing, coming back to the
    page); a pad already on the screen keeps its own.

    Raises DataError, with a plain sentence, for anything the pad itself never sends
    (``draw.pad_drawing``): a browser is on the other side of the network and may send
    anything. What it sent is then dropped from the session, where Streamlit keeps a widget's
    value as it came."""
    from aedemo.lessons import draw
    from aedemo.widget_states import UNREADABLE_KEY

    result = _drawing_pad(data={"strokeWidth": PAD_PEN, "size": PAD_SIZE,
                                "maxPoints": PAD_MAX_POINTS, "strokes": strokes or []},
                          key=key, default={"drawing": None}, on_drawing_change=lambda: None,
                          width="stretch", height="content")
    sent = result.get("drawing")
    if sent is None and not result.get(UNREADABLE_KEY):
        return None
    drawing = draw.pad_drawing(sent)
    if drawing is None:
        del st.session_state[key]
        raise DataError(PAD_UNREADABLE)
    return drawing


# --- the student's drawing --------------------------------------------------------------------
# Drawn on the Draw page, read by the Anomaly and Reconstructions pages too; kept for the session
# and, since a reload starts a new session, for the browser (Browsers), checked again as it
# comes back from there.

DRAWING = "aedemo_drawing"             # the latest input, (1, 1, 28, 28)
STROKES = "draw-strokes"               # the pad's strokes, for a pad mounted afresh
_INPUT = "draw-input"                  # the latest input as rows of numbers, for the browser


def last_drawing() -> tuple[list | None, torch.Tensor | None]:
    """The pad's last strokes and the last input: this session's, else this browser's."""
    from aedemo.lessons import draw

    if STROKES not in st.session_state and DRAWING not in st.session_state:
        st.session_state[STROKES] = draw.finite_rows(recall(STROKES))
        x = draw.input_from_rows(recall(_INPUT))
        if x is not None:
            st.session_state[DRAWING] = x
    return st.session_state.get(STROKES), st.session_state.get(DRAWING)


def last_input() -> torch.Tensor | None:
    """The student's last drawing or upload, framed as MNIST, on any page, after a reload too."""
    return last_drawing()[1]


def keep_strokes(strokes: list | None) -> None:
    """The pad's strokes for this session and this browser. Over Browsers' bound they are not
    kept, and neither is an older drawing in their place."""
    st.session_state[STROKES] = strokes
    if not remember(STROKES, strokes or None):
        remember(STROKES, None)


def keep_input(x: torch.Tensor | None) -> None:
    """The input for this session and for this browser, which hears of a change only: a tab
    left open must not undo what another tab drew since."""
    from aedemo.lessons import draw

    before = st.session_state.get(DRAWING)
    if x is None:
        st.session_state.pop(DRAWING, None)
        if before is not None:
            remember(_INPUT, None)
        return
    st.session_state[DRAWING] = x
    if before is None or not before.equal(x):
        remember(_INPUT, draw.input_rows(x))


def log_options(low: float, high: float) -> list[float]:
    """1-2-5 steps from low to high, for learning-rate style settings."""
    values, decade = [], 10.0 ** np.floor(np.log10(low))
    while decade <= high:
        values += [m * decade for m in (1, 2, 5) if low <= m * decade <= high]
        decade *= 10
    return [float(f"{v:.6g}") for v in values]


# --- models named for people -----------------------------------------------------------------

LESSON, TEACHERS, CLASSMATE, YOU = "the lesson", "the teacher", "a classmate", "you"


@dataclass(frozen=True)
class Viewer:
    """What naming models for one person needs, read once for a whole list: who they are,
    whether they are the teacher (who sees each student's number), the pins and the zoo."""

    me: str
    teacher: bool
    pinned: frozenset[str]
    zoo: frozenset[str]
    numbers: dict[str, int]

    def owner(self, m: StoredModel) -> str:
        """Who a model belongs to, as this person says it: "you", "the lesson" (the zoo's, and
        any the server itself trained), "the teacher" (from the command line), and another
        student's as "a classmate", or for the teacher "student 3"."""
        if m.owner == self.me:
            return YOU
        if m.id in self.zoo or m.owner == SYSTEM:
            return LESSON
        if m.owner is None:
            return TEACHERS
        number = self.numbers.get(m.owner)
        return f"student {number}" if self.teacher and number else CLASSMATE

    def whose(self, m: StoredModel) -> str:
        """The owner as a label says it: "yours", "the lesson's", "student 3's"; a pinned
        model stays its owner's, with the pin beside it."""
        owner = self.owner(m)
        words = "yours" if owner == YOU else f"{owner}'s"
        return f"{words}, pinned by the teacher" if m.id in self.pinned else words


def viewer() -> Viewer:
    """This browser as the one reading the models' names."""
    svc, teacher = service(), is_teacher()
    numbers = {}
    if teacher:         # students who trained before the roster existed get their number now
        numbers = svc.roster.enrol(m.owner for m in svc.store.list()
                                   if m.ok and m.owner not in (None, SYSTEM))
    return Viewer(me=student_id(), teacher=teacher, pinned=svc.store.pinned(),
                  zoo=frozenset(spec.key for spec in svc.zoo_specs), numbers=numbers)


# What may tell two models of the same title apart, in this order: one title is one variant
# with the same settings, so only the data and the training can differ (the same spec would
# be the same model), and last the id, which always does.
_DIFFERENCES = (
    lambda m: f"{m.spec.train.epochs} epoch{'s' if m.spec.train.epochs != 1 else ''}",
    lambda m: f"on {m.spec.dataset}",
    lambda m: f"batch {m.spec.train.batch_size}",
    lambda m: f"learning rate {m.spec.train.lr:g}",
    lambda m: f"seed {m.spec.train.seed}",
    lambda m: f"model {m.id}",
)


def model_labels(entries: Sequence[StoredModel], who: Viewer | None = None) -> dict[str, str]:
    """Each usable model's name for a picker, by id: its title and whose it is ("dense
    autoencoder, k = 16 (the lesson's)", "VAE, k = 8 (yours, pinned by the teacher)"). Models
    of one name get what differs between them ("…, 38 epochs (a classmate's)")."""
    who = who or viewer()
    entries = [m for m in entries if m.ok]
    extra: dict[str, list[str]] = {m.id: [] for m in entries}
    groups: dict[tuple[str, str], list[StoredModel]] = {}
    for m in entries:             # a pin tells two apart, but not what differs between them
        groups.setdefault((m.spec.title, who.owner(m)), []).append(m)
    for group in (g for g in groups.values() if len(g) > 1):
        for differ in _DIFFERENCES:
            said = [differ(m) for m in group]
            if len(set(said)) > 1:
                for m, words in zip(group, said):
                    extra[m.id].append(words)
            told = {tuple(extra[m.id]) for m in group}
            if len(told) == len(group):
                break
    return {m.id: ", ".join([m.spec.title, *extra[m.id]]) + f" ({who.whose(m)})"
            for m in entries}


def training_words(spec: ModelSpec) -> str:
    """What a model is trained on and how: "mnist-5k: 38 epochs, batch 64, learning rate
    0.001, seed 0"."""
    t = spec.train
    return (f"{spec.dataset}: {t.epochs} epoch{'s' if t.epochs != 1 else ''}, batch "
            f"{t.batch_size}, learning rate {t.lr:g}, seed {t.seed}")


def model_help(m: StoredModel) -> str:
    """What a picker's tooltip says of the chosen model: its data, its training and its id."""
    return f"Trained on {training_words(m.spec)}. Model `{m.id}`."


def models(*, others: bool = True, **filters: Any) -> list[StoredModel]:
    """The stored models on the app's dataset that match ``filters`` (see Service.models), in
    this student's order: the teacher's pins, the zoo, their own, then everyone else's, which
    ``others=False`` leaves out (for sweeps and comparisons, which stay the lesson's)."""
    svc = service()
    if svc.data is None:
        return []
    me = student_id()
    found = svc.models(dataset=filters.pop("dataset", svc.data.source), viewer=me, **filters)
    if others:
        return found
    return [m for m in found if svc.provenance(m, me) is not Provenance.OTHERS]


ROW = 10          # digits in a full row: a short row keeps the cells of a full one


def alt_texts(alt: str | Sequence[str], n: int, captions: Sequence[str] | None = None
              ) -> list[str]:
    """One alternative text per picture: ``alt`` as given when it is one per picture, else
    the group's description once, with each picture's caption (or its place) after it."""
    if not isinstance(alt, str):
        texts = list(alt)
        if len(texts) != n:
            raise ValueError(f"{len(texts)} alternative texts for {n} pictures")
        return texts
    return [f"{alt}: {captions[i]}" if captions else f"{alt}, {i + 1} of {n}"
            for i in range(n)]


def show_images(images: torch.Tensor | list[torch.Tensor], captions: list[str] | None = None, *,
                alt: str | Sequence[str], scale: int = 8, per_row: int | None = None,
                min_width: int | None = None) -> None:
    """28x28 images side by side in a grid, ``per_row`` to a row (at least ROW cells, so two
    digits are not drawn half a page wide), each with its caption under it. Each fills its
    cell, so the digits grow with the window on a projector, and the grid keeps its columns
    however narrow, so on a phone a row stays a row; with ``min_width`` (pixels) it wraps to
    fewer columns instead once its cells would be narrower. In projector mode a row holds at
    most PROJECTOR_ROW digits, each twice as large as in a row of ROW. ``alt`` says what the
    pictures are to a student who cannot see them: one text per picture ("test digit 7,
    reconstruction by dense k = 16, MSE 0.012"), or one for the whole row, which each
    picture's caption completes."""
    pictures = to_pixels(images, scale)
    texts = alt_texts(alt, len(pictures), captions)
    columns = per_row or max(len(pictures), ROW)
    if projector():
        columns = min(columns, PROJECTOR_ROW)
    if min_width:
        grid = st.grid(columns, wrap=True, min_column_width=min_width, gap="xsmall")
    else:
        grid = st.grid(columns, wrap=False, min_column_width=28, gap="xsmall")
    for i, pixels in enumerate(pictures):
        with grid.cell():
            # PNG: Streamlit's default JPEG blurs the edges of a 28x28 digit
            st.image(pixels, width="stretch", output_format="PNG", alt=texts[i])
            if captions:
                st.caption(captions[i])


def picture(pixels: np.ndarray, *, alt: str, caption: str | None = None,
            width: int | str = "content") -> None:
    """One picture (a digit, or a mosaic of them from viz.images) with its alternative text:
    a mosaic describes itself once ("48 digits decoded from random codes"). In projector mode
    a picture of a given size ("content": its own pixels, or a width in pixels) is drawn
    PROJECTOR_PICTURE times as wide, as far as its column allows."""
    if projector() and width != "stretch":
        own = pixels.shape[1] if width == "content" else int(width)
        width = round(own * PROJECTOR_PICTURE)
    st.image(pixels, caption=caption, width=width, output_format="PNG", alt=alt)


def chart(figure, *, key: str, summary: str, **options: Any):
    """A plotly chart with what it shows in words, for a student who cannot see it: the
    summary is read by screen readers and hidden from the screen (the chart's title says the
    same to those who see it). In projector mode every text in the chart is drawn at
    PROJECTOR_CHART_PX or more. Returns what st.plotly_chart returns (a selection event when
    ``on_select`` is given)."""
    if projector():
        figure = projected(figure)
    event = st.plotly_chart(figure, key=key, **options)
    st.markdown(f'<p class="aedemo-sr-only">{html.escape(summary)}</p>', unsafe_allow_html=True)
    return event


def projected(figure: go.Figure | dict, px: int = PROJECTOR_CHART_PX) -> go.Figure:
    """A copy of ``figure`` with every text at ``px`` or more (the title larger still), the
    margins grown to hold it: what the back of a room can read. The figure itself is left as
    it is (it may be kept and shared by every session)."""
    fig = figure.to_dict() if isinstance(figure, go.Figure) else copy.deepcopy(figure)
    lay = fig.setdefault("layout", {})

    def at_least(holder: dict, name: str, size: int = px) -> None:
        font = holder.setdefault(name, {})
        font["size"] = max(font.get("size") or 0, size)

    at_least(lay, "font")
    title = lay.setdefault("title", {})
    if isinstance(title, str):
        title = lay["title"] = {"text": title}
    at_least(title, "font", round(px * 1.2))
    for name in [k for k in lay if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]:
        axis = lay.setdefault(name, {})
        at_least(axis, "tickfont")
        axis_title = axis.setdefault("title", {})
        if isinstance(axis_title, str):
            axis_title = axis["title"] = {"text": axis_title}
        at_least(axis_title, "font")
        axis["automargin"] = True
    at_least(lay.setdefault("legend", {}), "font")
    at_least(lay.setdefault("hoverlabel", {}), "font")
    for note in lay.get("annotations", ()):
        at_least(note, "font")
    for trace in fig.get("data", ()):
        for holder in (trace, trace.get("marker") or {}):
            if "colorbar" in holder:
                at_least(holder["colorbar"], "tickfont")
    margin = lay.setdefault("margin", {})
    margin["t"] = max(margin.get("t") or 0, round(px * 3.5))      # the title's two lines
    if lay.get("height"):
        lay["height"] = round(lay["height"] * 1.25)                # room for the larger text
    return go.Figure(fig, _validate=False)


# Text for screen readers only: the usual visually hidden pattern, kept off the screen and out
# of the layout without display:none, which would hide it from screen readers too. And the
# charts' axis labels and titles in black: Streamlit's plotly theme draws them #808495, 3.8:1
# on white, under WCAG AA's 4.5:1 for text (a style on the page, not on each figure: the pages'
# figures are kept and shared, and some are marked again on every stroke).
PAGE_STYLE = """<style>
.aedemo-sr-only {position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;}
.js-plotly-plot .xaxislayer-above text, .js-plotly-plot .yaxislayer-above text,
.js-plotly-plot [class*="title"] text, .js-plotly-plot .colorbar text,
.js-plotly-plot .legendtext {fill: #000 !important;}
</style>"""

# Projector mode, for the back of a room: Streamlit sizes its text in rem, so a larger root
# font makes every text larger at once (body 24 px, captions and labels 21 px); captions, drawn
# at 60% opacity, and the sidebar's grey become black on white; the sidebar widens for its
# larger words; digits scaled up by the browser keep their square pixels.
PROJECTOR_STYLE = f"""<style>
html {{font-size: {PROJECTOR_TEXT_PX}px !important;}}
.stApp, .stApp p, .stApp li, .stApp label {{color: #000;}}
.stApp [data-testid="stCaptionContainer"] {{color: #000; opacity: 1; font-size: max(1rem, 20px);}}
.stApp [data-testid="stSidebar"] {{background: #fff; border-right: 2px solid #000;
  width: 420px !important; min-width: 420px !important;}}
.stApp [data-testid="stImage"] img {{image-rendering: pixelated;}}
</style>"""


@st.cache_data(show_spinner=False)
def _asset_text(name: str) -> str:
    return (ASSETS / name).read_text()


def stylesheet(name: str) -> None:
    """A page's own styles, from aedemo/assets/``name`` (its layout on a phone, say)."""
    st.html(f"<style>{_asset_text(name)}</style>")


def page_style() -> None:
    """The app's own styles, once per run of every page (and the projector's where it is on)."""
    st.html(PAGE_STYLE + (PROJECTOR_STYLE if projector() else ""))


def pick_model(models: list[StoredModel], key: str, label: str = "Model") -> StoredModel:
    """A selectbox over stored models in the order given: the first, the lesson's own model,
    is the default. Each is named for people; the chosen one's data, training and id are in
    its tooltip."""
    labels = model_labels(models)
    before = st.session_state.get(key)         # this run's choice: the widget's state is set
    chosen = next((m for m in models if m.id == getattr(before, "id", None)), models[0])
    return st.selectbox(label, models, format_func=lambda m: labels[m.id], key=key,
                        help=model_help(chosen))


def pick_model_id(models: list[StoredModel], key: str, label: str = "Model",
                  where: Any = None) -> StoredModel:
    """pick_model for a picker whose state is the chosen model's id (Draw, Anomaly and
    Sequences): named for people the same way, the tooltip the same; a chosen model deleted
    since is forgotten and the first, the lesson's, is chosen instead."""
    labels, by_id = model_labels(models), {m.id: m for m in models}
    if st.session_state.get(key) not in labels:
        st.session_state.pop(key, None)
    current = by_id[st.session_state.get(key, models[0].id)]
    chosen = (where or st).selectbox(label, list(labels), format_func=labels.get, key=key,
                                     help=model_help(current))
    return by_id[chosen]


def models_or_wait(what: str, **filters: Any) -> tuple[Any, list[StoredModel]]:
    """The app's dataset and its stored models that match ``filters`` (see Service.models).
    When there are none yet, show what is coming instead (the dataset loading, or the training
    progress), refresh the page by itself once it arrives, and stop the page here."""
    svc = service()
    data = svc.data
    found = models(**filters)
    if not found:
        if data is None:
            st.info("Loading the dataset…", icon=":material/hourglass_top:")
        else:
            waiting_for_models(what)
        refresh_when_ready(data is not None, {k: v for k, v in filters.items() if k != "prefer"})
        st.stop()
    return data, found


@st.fragment(run_every=3)
def refresh_when_ready(had_data: bool, *queries: dict[str, Any]) -> None:
    """Rerun the whole page once the dataset has loaded (if it had not) or once any of the
    model ``queries`` finds a stored model: the waiting message promised the page fills in."""
    if service().data is not None and (not had_data or any(models(**q) for q in queries)):
        st.rerun(scope="app")


def waiting_for_models(what: str) -> None:
    """What a page shows while the models it needs are still training: progress, not blank."""
    active = service().jobs.jobs(active_only=True)
    st.info(f"No {what} is ready yet. "
            + (f"{len(active)} model(s) are training in the background; this page fills in as "
               f"they finish." if active else "Train one on the Train page."),
            icon=":material/hourglass_top:")
    running = [j for j in active if j.status is RUNNING]
    if running:
        job = running[0]
        st.progress(job.fraction, text=f"Training {job.spec.title}: {progress_text(job)}")


# --- a job in progress -----------------------------------------------------------------------

def job_exists(job_id: str) -> bool:
    """Whether the queue knows this job (False too when the queue cannot be reached: the job
    panel is then replaced by the sidebar's message)."""
    try:
        return service().jobs.job(job_id) is not None
    except JobError:
        return False


def interrupted_jobs() -> None:
    """Say which jobs a restart of the server interrupted: they wait at the head of the queue
    and train again from the start (nothing is lost, nothing half-trained was stored)."""
    try:
        again = [j for j in service().jobs.jobs(active_only=True) if j.note]
    except JobError:
        return
    if again:
        names = "; ".join(j.spec.title for j in again)
        goes = "They go first again and train" if len(again) > 1 else (
            "It goes first again and trains")
        st.info(f"The server was restarted while training, so {len(again)} job"
                f"{'s were' if len(again) > 1 else ' was'} interrupted: {names}. {goes} from "
                f"the start; the queued jobs keep their places.", icon=":material/restart_alt:")


def training_floor(spec) -> float | None:
    """The least BCE per image any model can reach on what ``spec`` trains on (its own images:
    a one-class or subset model's are not the whole set's), computed once per spec; None for
    sequence models, whose loss is not a BCE, or when the data cannot be had."""
    if spec.kind != "image":
        return None
    from aedemo.data import DataError
    from aedemo.metrics import bce_floor
    from aedemo.spec import training_data

    try:
        return service().derived("bce-floor", None,
                                 lambda _key: bce_floor(training_data(spec)[0]), spec.key,
                                 data=False)
    except DataError:
        return None


def wait_words(ahead: int, seconds: float | None) -> str:
    """A queued job's wait: "2 jobs before yours, about 40 s"; the count alone when no
    estimate can be made."""
    if ahead == 0:
        return "yours is next"
    said = f"{ahead} job{'s' if ahead != 1 else ''} before yours"
    return said if seconds is None else f"{said}, {duration_words(seconds)}"


def queue_wait(job: Job) -> str:
    """How long a queued job will wait, in words (jobs.wait_estimate), from the jobs ahead of
    it, the running jobs' progress and the training times of the stored models."""
    svc = service()
    try:
        active, workers = svc.jobs.jobs(active_only=True), len(svc.jobs.live_workers())
    except JobError:
        active, workers = [], 0
    return wait_words(*wait_estimate(job, active, svc.measured_times(active), workers))


# Which pages show a model, from what it is, for the links of a finished job: every image
# model is on Reconstructions, Latent space and Draw, and some variants have a page of their
# own besides; a one-class detector is only on Anomaly detection, a model trained on a few
# digits only in Reconstructions' lesson on memorising, a sequence model only on Sequences.
# Pages by their script's name (menu.PAGES lists the scripts).
SHOWN_ON = {
    "image": ("reconstructions", "latent_space", "draw"),
    "vae": ("generate",),
    "denoising": ("denoising",),
    "sparse": ("insights",),
    "conv": ("insights",),
    "one-class": ("anomaly",),
    "subset": ("reconstructions",),
    "sequence": ("sequences",),
}


def pages_showing(spec: ModelSpec) -> list[menu.PageInfo]:
    """The pages where a model of ``spec`` appears (SHOWN_ON), in the menu's order."""
    if spec.kind != "image":
        names = SHOWN_ON[spec.kind]
    elif spec.normal:
        names = SHOWN_ON["one-class"]
    elif spec.subset:
        names = SHOWN_ON["subset"]
    else:
        names = SHOWN_ON["image"] + SHOWN_ON.get(spec.variant, ())
    return [p for p in menu.PAGES if Path(p.path).stem in names]


def deleted_by(model_id: str, me: str) -> str:
    """Who deleted a model, from the class's news: " by the teacher", " by you", or nothing
    when the news does not say (an owner's own model, not pinned, is no news)."""
    item = next((i for i in reversed(service().news.items())
                 if i.kind == classroom.DELETED and i.subject == model_id), None)
    if item is None:
        return ""
    return " by the teacher" if item.by == TEACHER else " by you" if item.by == me else ""


def _job_done(job: Job, me: str) -> None:
    """A finished job: its model and the pages that show it, or that the model is gone."""
    svc = service()
    entry = svc.store.get(job.model_id) if job.model_id else None
    if entry is not None and not entry.ok:
        st.warning(f"Trained, but its model {job.model_id} cannot be read now: {entry.problem}",
                   icon=":material/error:")
        return
    if entry is None:
        by = deleted_by(job.model_id or "", me)
        st.warning(f"Trained, but its model has since been deleted{by}: no page shows it any "
                   f"more.", icon=":material/delete:")
        return
    st.success(("Already trained: reusing the stored model " if job.reused else
                "Done: stored as model ") + f"{job.model_id}.", icon=":material/check:")
    data = svc.data
    if entry.spec.kind == "image" and data is not None and entry.spec.dataset != data.source:
        st.caption(f"The pages show models trained on {data.source}, and this one was trained "
                   f"on {entry.spec.dataset}: the table of stored models lists it.")
        return
    shows = pages_showing(entry.spec)
    for column, page in zip(st.columns(len(shows)), shows):
        column.page_link(page.path, label=f"See it on {page.title}", icon=page.icon)


def cancelled_text(job: Job, me: str) -> str:
    """Who cancelled a job, as its panel says it: the teacher, or the other student who was
    still asking for it; a student's own cancel (and the teacher's own) needs no name."""
    if job.cancelled_by == TEACHER and not is_teacher():
        return "The teacher cancelled this job: nothing was stored."
    if job.cancelled_by not in (None, me, TEACHER):
        return "Cancelled by the other student who asked for it: nothing was stored."
    return "Cancelled: nothing was stored."



def job_panel(job_id: str) -> None:
    """Progress, live loss curve, reconstruction strip and Cancel for one job. While the job
    waits or trains the panel refreshes itself every PROGRESS_EVERY_S, and reruns the page once
    when it ends; a finished job's panel is drawn with the page and left alone: it no longer
    changes, and every open tab redrew its chart and pictures every 2 s for nothing."""
    job = _job_or_say(job_id)
    if job is None:
        return
    if job.active:
        _live_job_panel(job_id)
    else:
        _job_panel_body(job)


def _job_or_say(job_id: str) -> Job | None:
    """The job, or None (said, when the queue cannot be reached)."""
    try:
        return service().jobs.job(job_id)
    except JobError as err:
        st.error(for_viewer(err), icon=":material/cloud_off:")
        return None


@st.fragment(run_every=PROGRESS_EVERY_S)
def _live_job_panel(job_id: str) -> None:
    job = _job_or_say(job_id)
    if job is None:
        return
    if not job.active:
        # it ended: the whole page again, so tables and pickers include the new model and
        # the panel is drawn as a finished one
        st.rerun(scope="app")
    _job_panel_body(job)


def _job_panel_body(job: Job) -> None:
    svc = service()
    me = student_id()
    spec = job.spec
    st.markdown(f"**{spec.title}**")
    st.caption(f"On {training_words(spec)}")
    if job.note:
        st.warning(f"This job was {job.note}.", icon=":material/restart_alt:")
    if job.status is QUEUED:
        st.info(f"Waiting in the queue: {queue_wait(job)}.", icon=":material/schedule:")
        problem = svc.queue_problem()
        if problem:
            st.warning(for_viewer(problem), icon=":material/engineering:")
    elif job.status is RUNNING:
        st.progress(job.fraction, text=f"Training: {progress_text(job, detail=True)}")
    elif job.status == DONE:
        _job_done(job, me)
    elif job.status == FAILED:
        st.error(job.error, icon=":material/error:")
    elif job.status == CANCELLED:
        st.warning(cancelled_text(job, me), icon=":material/cancel:")
    if job.active:
        _job_controls(job, me)
    if job.batch_losses or job.history:
        left, right = st.columns([3, 2])
        kind, floor = job.spec.kind, training_floor(job.spec)
        with left:
            chart(loss_curve(job.history, job.batch_losses, kind=kind, floor=floor),
                  key=f"loss-{job.id}",
                  summary=loss_summary(job.history, job.batch_losses, kind=kind, floor=floor))
        if job.preview is not None and job.spec.kind == "image":
            what = (f"Fixed test digits (top) and their reconstructions after epoch "
                    f"{len(job.history)} (bottom)")
            with right:
                st.caption(what)
                picture(image_grid(torch.cat([job.preview_inputs, job.preview]),
                                   columns=len(job.preview)),
                        alt=f"{len(job.preview)} {what[0].lower()}{what[1:]}")
        elif job.preview is not None:
            with right:
                chart(series_figure(job.preview_inputs[:2], job.preview[:2],
                                    title="Two test series and their reconstructions"),
                      key=f"series-{job.id}",
                      summary="Two fixed test series (solid) and the model's reconstructions "
                              f"of them (dashed) after epoch {len(job.history)}.")


def _job_controls(job: Job, me: str) -> None:
    """Who else wants this job, and Cancel for the students who asked for it and the teacher.
    A student's Cancel takes back only their own request: the job goes on for the others."""
    others = job.shared_with(me)
    if job.asked_by(me) and others:
        who = ("the zoo the pages teach with" if job.askers == (SYSTEM, me) else
               f"{others} other student{'s' if others > 1 else ''}")
        st.info(f"Shared: {who} asked for the same settings, so you share this job. Cancelling "
                f"takes back only your request; it stops when nobody wants it any more.",
                icon=":material/group:")
    mine, teacher = job.asked_by(me), is_teacher()
    if not (mine or teacher):
        st.caption("You took back your request: the job goes on for the others who asked for "
                   "it, and its model will be theirs.")
        return
    # the teacher stops a job others want for all of them; a student takes back their own
    for_everyone = teacher and bool(others)
    label = ("Cancel for everyone" if for_everyone else
             "Cancel my request" if others else "Cancel")
    if st.button(label, key=f"cancel-{job.id}", icon=":material/stop:"):
        try:
            service().cancel(job.id, me, teacher=for_everyone and is_teacher())
            st.rerun(scope="fragment")
        except JobError as err:
            st.error(for_viewer(err))


def my_job_ids(chosen: str | None) -> list[str]:
    """The jobs the Train page follows for this student: the one just started, every other
    waiting or running job they asked for (so a reload finds them all, with Cancel), and the
    ones this tab has followed, which keep their panel to show how they ended."""
    try:
        mine = [j.id for j in service().jobs.jobs(student_id(), active_only=True)]
    except JobError:
        mine = []
    followed = st.session_state.setdefault("aedemo_followed", [])
    followed[:] = [i for i in dict.fromkeys([*([chosen] if chosen else []), *mine, *followed])
                   if job_exists(i)][:FOLLOWED_JOBS]
    return list(followed)


FOLLOWED_JOBS = 4          # panels on the Train page: a student's cap of jobs, and one more


def teacher_queue() -> None:
    """The teacher's view of the whole queue: cancel any job, or all of them."""
    if not is_teacher():
        return
    try:
        active = service().jobs.jobs(active_only=True)
    except JobError as err:
        st.error(for_viewer(err), icon=":material/cloud_off:")
        return
    with st.expander(f"The whole queue (teacher): {len(active)} job"
                     f"{'s' if len(active) != 1 else ''}", icon=":material/school:"):
        if not active:
            st.caption("Nothing is waiting or training.")
            return
        me, numbers = student_id(), service().roster.numbers()
        for job in active:
            left, right = st.columns([4, 1], vertical_alignment="center")
            askers = ["you" if a == me else "the zoo" if a == SYSTEM else
                      f"student {numbers[a]}" if a in numbers else "a student"
                      for a in job.askers]
            left.markdown(f"{_job_line(job, me)} · asked by {and_list(askers)}")
            if right.button("Cancel", key=f"teacher-cancel-{job.id}", icon=":material/stop:"):
                _teacher_act(lambda j=job: service().cancel(j.id, student_id(), teacher=True))
        with st.popover("Cancel every job", icon=":material/clear_all:"):
            st.markdown(f"Stop all {len(active)} jobs, the zoo's too? Nothing they trained so "
                        f"far is stored.")
            if st.button("Yes, cancel every job", type="primary", key="teacher-clear"):
                _teacher_act(service().clear_queue)


def _teacher_act(action) -> None:
    """Do a teacher's action if this browser is still the teacher's, then redraw the page."""
    if not is_teacher():
        st.error("Only the teacher can do that.", icon=":material/lock:")
        return
    try:
        action()
    except (JobError, StoreError) as err:
        st.error(for_viewer(err), icon=":material/error:")
        return
    news_heard()
    st.rerun()


@st.cache_data(show_spinner=False, max_entries=256)
def architecture(variant: str, latent_dim: int) -> list[tuple[str, str]]:
    """The layer list of a variant at bottleneck k, from a model built on the meta device
    (shapes only, no memory, no weights initialised)."""
    from aedemo.models import get_variant

    cls = get_variant(variant)
    with torch.device("meta"):
        return cls(cls.Config.from_dict({"latent_dim": latent_dim})).architecture()


def code_for(variant: str, hparams: dict[str, Any], dataset: str, train: Any) -> None:
    """The runnable PyTorch script equivalent to the chosen settings, with a download button."""
    from aedemo.codegen import pytorch_script
    from aedemo.spec import ModelSpec

    try:
        # the dataset name as chosen: the script itself falls back when it cannot download
        spec = ModelSpec(variant=variant, hparams=tuple(sorted(hparams.items())),
                         dataset=dataset, train=train)
        script = pytorch_script(spec)
    except ValueError as err:
        st.error(str(err))
        return
    st.code(script, language="python")
    st.download_button("Download the script", script, file_name=f"train_{variant}.py",
                       mime="text/x-python", icon=":material/download:")


def when_words(stamp: str, now: datetime | None = None) -> str:
    """When something was made, as a person reads it, in the server's time zone (the class's):
    "just now", "3 min ago", "today 14:05", "yesterday 09:12", "4 Mar 14:05", "4 Mar 2025".
    A stamp that is no ISO date is given as it is."""
    try:
        then = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)       # the store writes UTC
    now = (now or datetime.now(timezone.utc)).astimezone()
    then = then.astimezone()
    ago = (now - then).total_seconds()
    if -60 < ago < 60:
        return "just now"
    if 0 < ago < 3600:
        return f"{int(ago // 60)} min ago"
    if then.date() == now.date():
        return f"today {then:%H:%M}"
    if then.date() == now.date() - timedelta(days=1):
        return f"yesterday {then:%H:%M}"
    if then.year == now.year:
        return f"{then.day} {then:%b %H:%M}"
    return f"{then.day} {then:%b %Y}"


def stored_models_table() -> None:
    """Every stored model with its test metrics; delete or download one; unreadable files are
    listed with the reason and can be deleted too."""
    svc = service()
    entries = svc.store.list()
    if not entries:
        # where the store lives is the teacher's business, not a student's
        st.caption(f"No models stored yet in {svc.store.dir}." if is_teacher() else
                   "No models stored yet.")
        return
    who = viewer()
    rows = []
    for m in entries:
        if not m.ok:
            rows.append({"model": f"unreadable: {m.problem}", "id": m.id})
            continue
        rows.append({"model": m.spec.title, "owner": who.owner(m), "pinned": m.id in who.pinned,
                     "trained": when_words(m.meta["created"]), "dataset": m.spec.dataset,
                     "epochs": m.spec.train.epochs,
                     **{METRIC_LABELS.get(name, name): v for name, v in m.metrics.items()},
                     "id": m.id})
    # a metric a variant does not have (KL for all but the VAE) is an empty cell, not "None"
    table = pd.DataFrame(rows).dropna(axis="columns", how="all")
    table = table[[c for c in table.columns if c != "id"] + ["id"]]      # the id last
    if "epochs" in table:            # whole numbers, though an unreadable row has none
        table["epochs"] = table["epochs"].astype("Int64")
    st.dataframe(table.style.format(precision=4, na_rep=""), hide_index=True,
                 key="stored-models",
                 column_config={"pinned": st.column_config.CheckboxColumn(
                     "pinned", help="Pinned by the teacher: it comes first on every page it fits")})
    labels = {**{m.id: f"{m.id} (unreadable: {m.problem[:60]})" for m in entries if not m.ok},
              **model_labels(entries, who)}
    picked = st.session_state.get("store-pick")
    entry = next((m for m in entries if m.id == picked), entries[0])
    chosen = st.selectbox("Model", [m.id for m in entries], format_func=labels.get,
                          key="store-pick", help=model_help(entry) if entry.ok else None)
    left, right = st.columns(2)
    entry = next(m for m in entries if m.id == chosen)
    if entry.ok:
        # The bytes themselves, not a function that reads them on the click: Streamlit names a
        # deferred download afresh on every run and forgets the old name at the end of the
        # next one, so a click as a job ended (the page reruns then) asked for a file that was
        # gone. Bytes are named by their content and served by plain HTTP, whatever reruns.
        # The click needs no rerun either ("ignore").
        try:
            weights = svc.store.weights_bytes(chosen)
        except StoreError as err:
            right.error(for_viewer(err), icon=":material/error:")
        else:
            right.download_button("Download weights (.safetensors)", weights,
                                  file_name=f"aedemo-{chosen}.safetensors",
                                  mime="application/octet-stream", on_click="ignore",
                                  icon=":material/download:", key="store-download")
    with left:
        model_actions(entry)


def may_delete(entry: StoredModel) -> bool:
    """The teacher may delete any model, an unreadable file too; a student only their own, and
    not once the teacher pinned it (classroom.delete_model refuses it too)."""
    return is_teacher() or _own_unpinned(entry)


def _own_unpinned(entry: StoredModel) -> bool:
    return (entry.ok and entry.owner == student_id()
            and entry.id not in service().store.pinned())


def model_actions(entry: StoredModel) -> None:
    """Delete (after a confirmation) for whoever may, and the showcase pin for the teacher."""
    svc = service()
    if not may_delete(entry):
        st.caption(classroom.PINNED_IS_THE_TEACHERS if entry.ok and entry.id in viewer().pinned
                   else f"Only the teacher can delete this model: it is {viewer().whose(entry)}."
                   if entry.ok else
                   "Only the teacher can delete an unreadable file.")
    else:
        with st.popover("Delete", icon=":material/delete:"):
            st.markdown(f"Delete model `{entry.id}` for good? Every page stops offering it.")
            if st.button("Yes, delete it", type="primary", key=f"store-delete-{entry.id}"):
                if not may_delete(entry):             # the role may have changed since
                    st.error("Only the teacher can delete this model.", icon=":material/lock:")
                else:
                    # the teacher's own model, once pinned, is deleted as the teacher's
                    by = student_id() if _own_unpinned(entry) else TEACHER
                    try:
                        svc.delete_model(entry.id, by=by)
                        news_heard()
                        st.rerun()
                    except StoreError as err:
                        st.error(for_viewer(err))
    if entry.ok and is_teacher():
        pinned = entry.id in svc.store.pinned()
        if st.button("Take off the showcase" if pinned else "Pin to the showcase",
                     icon=":material/push_pin:", key=f"store-pin-{entry.id}",
                     help="A pinned model comes first, before the zoo's, on every page it "
                          "fits (of its variant, and with the k a page needs)"):
            _teacher_act(lambda: svc.set_pinned(entry.id, not pinned))

