"""Bring the class here (issue 22): the teacher asks every student to open the page the teacher
is on, with its settings. Each student's sidebar then says "The teacher is on Generate (VAE,
k = 16)" with a link that opens it in the same tab; nobody is moved by force. The teacher's
sidebar shows a QR code of the same link, for the projector, and takes the invitation back.

The invitation itself is kept by aedemo.class_board (the queue's storage, so every server of
the class shows it, and an old one is forgotten there); this module only reads and writes it
for a browser.

A page's settings are its query string (``st.query_params``: a stored model is ``model=<id>``),
so the invitation is the teacher's query string as it is, bounded as the class keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import segno
import streamlit as st

from aedemo import links, roles
from aedemo.class_board import LABEL_CHARS, QUERY_CHARS, QUERY_ITEMS, Invitation
from aedemo.menu import PAGES, PageInfo
from aedemo.preprocess import escape_markdown
from aedemo.store import StoreError, is_model_id
from aedemo.taskqueue import QueueUnavailable
from aedemo.ui.session import for_viewer, is_teacher, service

QR_SCALE = 8                    # pixels a module in the SVG's own size; it is drawn stretched
# the QR code's side in the projector's dialog: large, and with the dialog's title and the link
# under it, within a 1024 x 768 projector's screen
QR_PROJECTED_PX = 520
_PROBLEM = "aedemo_bring_problem"    # what a click of the teacher's could not do, said once
_TOLD = "aedemo_invitation_told"     # the invitation (its time) this session had a toast of
_BY_PATH = {p.path: p for p in PAGES}


# --- where a browser is ----------------------------------------------------------------------

def split_address(url: str | None, base_path: str | None = None) -> tuple[str, PageInfo] | None:
    """(the app's address, the page) from the address the browser shows, as st.context.url
    gives it: the server's address with its base path (``server.baseUrlPath``, read from the
    config unless given), then the page's url_name, except for the first page, which is at the
    bare address. None when the browser did not say (an old client)."""
    if not url:
        return None
    if base_path is None:
        base_path = st.get_option("server.baseUrlPath") or ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    # the base path first: a server at /draw shows its first page at /draw, not the Draw page
    base = f"/{base_path.strip('/')}" if base_path.strip("/") else ""
    within = base and (path == base or path.startswith(base + "/"))
    head, _, last = path[len(base) if within else 0:].rpartition("/")
    head = (base if within else "") + head
    page = next((p for p in PAGES[1:] if p.url_name == last), None)
    if page is None:
        page, head = PAGES[0], path
    return urlunsplit((parts.scheme, parts.netloc, head, "", "")), page


def page_address(app: str, page: PageInfo, query_string: str = "") -> str:
    """The address of ``page`` on the app at ``app``, with ``query_string``."""
    parts = urlsplit(app)
    path = parts.path if page is PAGES[0] else f"{parts.path}/{page.url_name}"
    return urlunsplit((parts.scheme, parts.netloc, path, query_string, ""))


def for_the_class(app: str) -> str | None:
    """The app's address as a student's laptop reaches it: the teacher who browses it on the
    server's own machine (localhost) sees an address no other computer can open, so its host
    becomes the machine's network address. None when this machine has none."""
    parts = urlsplit(app)
    if not roles.is_loopback(parts.hostname):
        return app
    lan = roles.lan_address()
    if lan is None:
        return None
    netloc = f"{lan}:{parts.port}" if parts.port else lan
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- the invitation ----------------------------------------------------------------------------

def settings_here() -> list[tuple[str, str]]:
    """This page's settings as the class keeps them: the query string's names and values in
    order (a name given twice, twice), the first QUERY_ITEMS that fit its bounds."""
    pairs = [(name, value) for name in st.query_params
             for value in st.query_params.get_all(name)]
    return [(n, v) for n, v in pairs
            if 0 < len(n) <= QUERY_CHARS and 0 < len(v) <= QUERY_CHARS][:QUERY_ITEMS]


def label_for(page: PageInfo, query: list[tuple[str, str]]) -> str:
    """What the students' sidebars call the page: its title, and the stored model the settings
    name in the words the pickers use ("Generate (VAE, k = 16)"). A model that is not there,
    or not usable, adds nothing."""
    model_id = dict(query).get(links.MODEL)
    words = ""
    if is_model_id(model_id):
        try:
            stored = service().store.get(model_id)
        except StoreError:
            stored = None
        if stored is not None and stored.ok:
            words = f" ({stored.spec.title})"
    label = f"{page.title}{words}"
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 2].rstrip() + "…)"


# --- the student's side ------------------------------------------------------------------------

def already_there(invitation: Invitation) -> bool:
    """Whether this browser is on the invited page with every one of its settings (the link
    would change nothing)."""
    here = split_address(st.context.url)
    return (here is not None and here[1].path == invitation.page
            and set(invitation.query) <= set(settings_here()))


def invitation_notice() -> None:
    """In a student's sidebar, while the teacher's invitation stands: where the teacher is, and
    a link that opens it in this tab, and once a toast that says so. Run by the sidebar's
    polling fragment, so it comes and goes within seconds of the teacher's click. The teacher
    has it in the teacher's box."""
    if is_teacher():
        return
    try:
        invitation = service().class_board.invitation()
    except QueueUnavailable:
        return          # the sidebar's queue line says the queue is out of reach
    if invitation is None:
        return
    there = already_there(invitation)
    if st.session_state.get(_TOLD) != invitation.at:
        # said once per invitation in a toast too: on a phone the sidebar is closed, and a
        # student there would never see the invitation in it
        st.session_state[_TOLD] = invitation.at
        if not there:
            st.toast(f"{escape_markdown(invitation.words)}. The link to that page is in the "
                     f"sidebar.", icon=":material/campaign:", duration="long")
    with st.container(border=True, key="class-invitation"):
        st.markdown(f":material/campaign: {escape_markdown(invitation.words)}")
        if there:
            st.caption("You are on that page, with the teacher's settings.")
            return
        st.page_link(invitation.page, label="Open the teacher's page",
                     icon=":material/arrow_forward:", query_params=list(invitation.query),
                     help="Opens the page the teacher is on, with the teacher's settings, in "
                          "this tab. Nothing moves you there unless you click.")


# --- the teacher's side ------------------------------------------------------------------------

def bring_the_class() -> None:
    """The teacher's part of the sidebar: Bring the class here, and while the invitation stands
    what it says, its QR code and Stop bringing them."""
    board = service().class_board
    here = split_address(st.context.url)
    st.button("Bring the class here", key="class-bring", icon=":material/campaign:",
              on_click=_invite,
              help="Every student's sidebar then says which page you are on, with a link that "
                   "opens it with your settings. Nobody is moved there by force.")
    problem = st.session_state.pop(_PROBLEM, None)
    if problem:
        st.error(problem, icon=":material/error:")
    try:
        invitation = board.invitation()
    except QueueUnavailable as err:
        st.warning(for_viewer(err), icon=":material/cloud_off:")
        return
    if invitation is None:
        return
    st.info(f"The class is invited to {escape_markdown(invitation.label)}: each student's "
            f"sidebar offers a link to it.", icon=":material/campaign:")
    st.button("Stop bringing them", key="class-bring-stop", icon=":material/cancel:",
              on_click=_withdraw, help="The students' sidebars stop offering the page.")
    _qr_code(invitation, here[0] if here else None)


def _invite() -> None:
    """The click on Bring the class here: the role is asked again, and the page and its
    settings are read as the click's address holds them. Not from the run that drew the
    button: the sidebar is drawn before the page, which writes its settings into the address
    after, so that run's address lacks the teacher's last change."""
    if not is_teacher():        # a toast: the teacher's box, where problems show, is gone
        st.toast("Only the teacher can bring the class to a page.", icon=":material/lock:")
        return
    here = split_address(st.context.url)
    if here is None:
        st.session_state[_PROBLEM] = ("This browser did not say which page it is on; reload "
                                      "the page and try again.")
        return
    path, query = here[1].path, settings_here()
    try:
        service().class_board.invite(path, query, label_for(_BY_PATH[path], query))
    except QueueUnavailable as err:
        st.session_state[_PROBLEM] = for_viewer(err)
    except ValueError as err:           # a part the class does not keep: said, not raised
        st.session_state[_PROBLEM] = f"The class could not be brought here: {err}."


def _withdraw() -> None:
    if not is_teacher():
        st.toast("Only the teacher can stop bringing the class.", icon=":material/lock:")
        return
    try:
        service().class_board.withdraw()
    except QueueUnavailable as err:
        st.session_state[_PROBLEM] = for_viewer(err)


@st.cache_data(show_spinner=False, max_entries=16)
def qr_svg(link: str) -> str | None:
    """The QR code of ``link`` as SVG, black on white with the quiet zone scanners need; None
    when the link is too long for any QR code."""
    try:
        code = segno.make(link, error="m")
    except segno.DataOverflowError:
        return None
    return code.svg_inline(scale=QR_SCALE, border=4, dark="#000", light="#fff")


def _qr_code(invitation: Invitation, app_here: str | None) -> None:
    """The invitation's link and its QR code, stretched to the sidebar, and large in a dialog,
    for the projector; or a sentence when there is none to show.
    ``app_here``: the app's address as the teacher's browser shows it."""
    app = for_the_class(app_here) if app_here else None
    if app is None:
        st.caption("No QR code: this computer's network address is unknown. Students can "
                   "still open the page from their sidebars.")
        return
    link = page_address(app, _BY_PATH[invitation.page], invitation.query_string)
    svg = qr_svg(link)
    if svg is None:
        st.caption("No QR code: the page's address is too long for one. Students can still "
                   "open the page from their sidebars.")
        return
    alt = f"QR code of the link to {invitation.label}: {link}"
    st.image(svg, alt=alt, caption=link, width="stretch")
    if st.button("Show the QR code large", key="class-bring-qr", icon=":material/qr_code_2:",
                 help="For the projector: the QR code large, in a window of its own."):
        _qr_dialog(svg, alt, link)


@st.dialog("Scan to open the teacher's page", width="large")
def _qr_dialog(svg: str, alt: str, link: str) -> None:
    st.image(svg, alt=alt, caption=link, width=QR_PROJECTED_PX)
