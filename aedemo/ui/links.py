"""A page's settings in the browser's address bar, both ways (issue 22): a link with settings
opens the page with them, and the address follows as the student changes them, so copying it,
bookmarking it or the teacher's Bring the class here gives the same view. Which settings and
how a link's text is read: aedemo.links.

A page makes one LinkedSettings near its top, links each widget's key to its Param before the
widget is drawn (``seed``: Streamlit takes a keyed widget's value from the session's state),
and calls ``update_address`` once its settings are drawn.

Streamlit's widgets keep their values in the session, so the address is read only when it says
something new: when the browser arrived on the page (a link, a reload, the page opened from
the menu: ``page_opened``), or when the address changed under the page (a link to the page it
is on). Otherwise the address holds what this session wrote there last, and the widgets are
newer: a student's change is never undone by the address it has not reached yet.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from aedemo import links
from aedemo.preprocess import escape_markdown

_WRITTEN = "aedemo_links_written"    # {page: {name: text}}: the address this session last wrote
_PAGE = "aedemo_links_page"          # the page this session's last full run drew


def page_opened(page: str) -> None:
    """Tell the links which page this full run draws (the frame does, for every page): a page
    the browser has just arrived on reads its whole address afresh."""
    if st.session_state.get(_PAGE) != page:
        st.session_state[_PAGE] = page
        st.session_state.pop(_WRITTEN, None)


class LinkedSettings:
    """One run of a page's linked settings: what its address says, the widgets linked so far,
    and the notes on values it did not take."""

    def __init__(self, page: str):
        self.page = page
        self.written: dict[str, str] = dict(st.session_state.get(_WRITTEN, {}).get(page, {}))
        self.address = {name: st.query_params.get(name) for name in st.query_params}
        self.linked: dict[str, tuple[str, links.Param]] = {}
        self.notes: list[str] = []
        self.note_slot = st.empty()         # the notes, near the top of the page

    def seed(self, param: links.Param, key: str) -> str:
        """Link the widget of ``key`` to ``param``: when the address says something new for it,
        the widget starts from that (or, for a value it does not offer, keeps its own, and the
        page says why). Call before the widget is drawn; returns ``key``."""
        text = self.address.get(param.name)
        if text is not None and text != self.written.get(param.name):
            # read once: a page that stops before update_address (still waiting for its
            # models) must not set the widget back to the link's value at every run
            self.written[param.name] = text
            st.session_state.setdefault(_WRITTEN, {})[self.page] = self.written
            try:
                value = param.read(text)
            except links.Refused as why:
                self.notes.append(links.refusal_note(param.name, text, str(why)))
                # said at once: the page may stop before its address is written (waiting)
                self.note_slot.info("\n\n".join(escape_markdown(n) for n in self.notes),
                                    icon=":material/link_off:")
            else:
                if st.session_state.get(key) != value:
                    st.session_state[key] = value
        self.linked[param.name] = (key, param)
        return key

    def update_address(self) -> None:
        """Write the linked widgets' values into the address, only when they changed (each
        write is a message to the browser); names no longer linked (a setting of another
        variant) leave it. A page that may stop early (waiting for its models) calls it before,
        and again after its later settings."""
        query = {}
        for name, (key, param) in self.linked.items():
            value: Any = st.session_state.get(key)
            if value is not None and value != []:
                query[name] = param.format(value)
        if {name: st.query_params.get(name) for name in st.query_params} != query:
            st.query_params.from_dict(query)
        st.session_state.setdefault(_WRITTEN, {})[self.page] = query


def linked_settings(page: str) -> LinkedSettings:
    """The linked settings of ``page`` (a name of its own: "train", "generate") for this run."""
    return LinkedSettings(page)
