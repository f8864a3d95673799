"""The frame around every page: the sidebar (the teacher's invitation, the dataset, the queue's
jobs, the class's news, the teacher's box, the projector toggle) and run_page, which draws a
page in the app's styles."""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from aedemo import roles
from aedemo.jobs import JobError
from aedemo.preprocess import escape_markdown
from aedemo.ui.invitation import bring_the_class, invitation_notice
from aedemo.ui.links import page_opened
from aedemo.ui.news import class_news
from aedemo.ui.queue import PROGRESS_EVERY_S, job_line
from aedemo.ui.session import (
    PROJECTOR,
    TEACHER_TOKEN,
    client_address,
    for_viewer,
    is_teacher,
    passphrase,
    recall,
    remember,
    service,
    student_id,
    teacher_token,
)
from aedemo.ui.widgets import page_style


def run_page(page) -> None:
    """Run the page st.navigation chose, in the app's styles. (A bench that times the pages
    measures them from outside, as a browser waits for them: nothing here writes a log.)"""
    page_opened(page.url_path)
    page_style()
    page.run()


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
    configured = passphrase()
    if not configured:
        return
    svc = service()
    if is_teacher():
        st.caption("You are signed in as the teacher.")
        bring_the_class()
        token = teacher_token()
        if st.context.cookies.get(roles.TEACHER_COOKIE) != token:
            claim = svc.teachers.claim(token)
            page = urlsplit(st.context.url or "").path.strip("/")
            st.link_button("Keep the role after a reload", icon=":material/key:",
                           url=f"{roles.TEACHER_PATH}?claim={claim}&page={page}",
                           help="Opens this page again in a new tab, where the teacher's role "
                                "stays until the class ends, on this computer only.")
        if st.button("Leave the teacher's role", key="teacher-leave", icon=":material/logout:"):
            svc.teachers.leave(token)
            st.session_state.pop(TEACHER_TOKEN, None)
            st.rerun()
        return
    with st.expander("Teacher", icon=":material/school:"):
        with st.form("teacher-unlock", border=False):
            guess = st.text_input("Passphrase", type="password", key="teacher-passphrase")
            if st.form_submit_button("Unlock the teacher's role"):
                try:
                    st.session_state[TEACHER_TOKEN] = svc.teachers.unlock(
                        guess, configured, client_address())
                except roles.RoleRefused as refused:
                    st.error(str(refused), icon=":material/lock:")
                else:
                    st.rerun()


@st.fragment(run_every=PROGRESS_EVERY_S)
def _sidebar_status() -> None:
    svc = service()
    class_news(full_run=st.session_state.pop(_FULL_RUN, False))
    invitation_notice()          # heard at this poll: the teacher's click reaches every sidebar
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
        st.caption(job_line(job, me))
    if len(active) > 6:
        st.caption(f"… and {len(active) - 6} more")


def offline_notice(data) -> None:
    """What stands in for the dataset asked for, and why: one line on every page, the reason
    and the stand-in's source one click away (the whole notice took a third of the sidebar)."""
    with st.expander(f"Offline: {data.name} stand-in", icon=":material/wifi_off:"):
        st.warning(escape_markdown(data.notice))      # a reason may hold * or _


_FULL_RUN = "aedemo_full_run"        # set by sidebar(): the news is heard within a page's run


def _projector_toggle() -> None:
    # The session's toggle starts from what the browser chose before; a change is written back
    # at once, and only a change: a tab left open with the old value must not undo another's.
    if PROJECTOR not in st.session_state:
        st.session_state[PROJECTOR] = bool(recall(PROJECTOR, False))
    st.toggle("Projector mode", key=PROJECTOR,
              on_change=lambda: remember(PROJECTOR, bool(st.session_state[PROJECTOR]) or None),
              help="For the screen at the front of a room: larger black text, chart text and "
                   "digits. Set once in this browser; it stays on across pages and reloads.")
