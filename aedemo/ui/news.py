"""What the teacher did, said on every open page (the class's news, aedemo.classroom), and
teacher_act, which does a teacher's action and tells the class."""

from __future__ import annotations

import streamlit as st

from aedemo import classroom
from aedemo.job import TEACHER
from aedemo.jobs import JobError
from aedemo.spec import ModelSpec
from aedemo.store import StoreError
from aedemo.ui.session import for_viewer, is_teacher, service, student_id

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


def deleted_by(model_id: str, me: str) -> str:
    """Who deleted a model, from the class's news: " by the teacher", " by you", or nothing
    when the news does not say (an owner's own model, not pinned, is no news)."""
    item = next((i for i in reversed(service().news.items())
                 if i.kind == classroom.DELETED and i.subject == model_id), None)
    if item is None:
        return ""
    return " by the teacher" if item.by == TEACHER else " by you" if item.by == me else ""


def teacher_act(action) -> None:
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
