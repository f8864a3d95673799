"""Bring the class here (issue 22): the teacher's button invites the class to the page the
teacher is on, with its settings; a student's sidebar then says where, with a link to it (and
never moves them); a withdrawn, stale or hostile invitation shows nothing, or a sentence; the
teacher's QR code holds the link a student's laptop can open. The app runs as the real script
by AppTest on a copy of the lesson's models; the browser's address is what st.context.url
says (AppTest's context, as a browser sends it)."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import segno
from streamlit.testing.v1 import AppTest

from aedemo import menu, roles, taskqueue, ui
from aedemo.class_board import INVITATION_FRESH_S, ClassBoard, ClassKey
from aedemo.ui import invitation
from page_support import as_browser, classroom_service, model_id, no_exception
from support import REPO

SECRET = "a passphrase for the class"
ALICE, TEACHER_BROWSER = "a" * 32, "c" * 32
HOME, GENERATE = "pages/home.py", "pages/generate.py"
SERVER = "http://192.0.2.7:8501"          # where the class reaches the server (TEST-NET-1)


def sidebar_only() -> None:
    """An AppTest script: the sidebar every page has (app.py's, whose sidebar AppTest keeps only
    from the first page it runs, Home): the teacher's, on the page st.context.url names."""
    from aedemo import ui

    ui.sidebar()


@pytest.fixture
def classroom(isolated_home, lesson_store, monkeypatch):
    """A server with a teacher's passphrase and the lesson's models. ``visit(browser)`` runs
    app.py on its first page (Home) as that browser; ``visit(browser, page, query)`` runs the
    sidebar on that page (its address in st.context.url, its query string), as the teacher's
    browser at ``server``, the address it reaches the server at, says them."""

    def visit(browser: str, page: str | None = None, query: dict[str, str] | None = None, *,
              teacher: bool = False, server: str | None = SERVER) -> AppTest:
        if page is None:
            at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        else:
            at = AppTest.from_function(sidebar_only, default_timeout=120)
        as_browser(at, browser, teacher_passphrase=SECRET if teacher else None)
        if server:
            url_name = next(p.url_name for i, p in enumerate(menu.PAGES)
                            if p.path == (page or HOME))
            at.context = {"url": server if page in (None, HOME) else f"{server}/{url_name}"}
        at.query_params = dict(query or {})
        at.run()
        no_exception(at)
        return at

    with classroom_service(isolated_home, lesson_store, monkeypatch, SECRET):
        yield visit


def unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def sidebar_words(at: AppTest) -> str:
    return " ".join(unescaped(e.value) for e in [*at.sidebar.markdown, *at.sidebar.info])


def teacher_links(at: AppTest) -> list:
    return [p for p in at.get("page_link") if p.value == "Open the teacher's page"]


def qr_images(at: AppTest) -> list:
    return [i for img in at.sidebar.get("image") for i in img.proto.imgs]


def svg_of(image) -> str:
    head, _, data = image.url.partition(",")
    assert head == "data:image/svg+xml;base64", head
    return base64.b64decode(data).decode()


def modules(svg: str) -> list[str]:
    """An SVG QR code's dark modules, as segno draws them: one path of lines a row."""
    (dark,) = re.findall(r'<path class="qrline"[^>]* d="([^"]+)"', svg)
    return dark.split("m")


def bring(at: AppTest) -> AppTest:
    at.button(key="class-bring").click().run()
    no_exception(at)
    return at


def board() -> ClassBoard:
    return ui.service().class_board


# --- the teacher invites, the student sees ------------------------------------------------------

def test_the_teachers_click_reaches_a_students_sidebar_with_the_words_and_the_link(classroom):
    vae = model_id("vae", 4)
    student = classroom(ALICE)
    assert not teacher_links(student) and "The teacher is on" not in sidebar_words(student)
    assert not [b for b in student.button if b.key == "class-bring"]     # the teacher's only

    teacher = bring(classroom(TEACHER_BROWSER, GENERATE, {"model": vae, "n": "48"},
                              teacher=True))
    standing = board().invitation()
    assert standing.page == GENERATE
    assert standing.query == (("model", vae), ("n", "48"))
    assert standing.label == "Generate (VAE, k = 4)"          # the pickers' words for it
    assert "The class is invited to Generate (VAE, k = 4)" in sidebar_words(teacher)
    assert not teacher_links(teacher)             # the teacher has it in the teacher's box

    # the student's sidebar as its next run draws it (AppTest keeps a sidebar fragment from
    # the first run only: the poll itself is seen in Chromium, tests/e2e/test_bring_here.py)
    student = classroom(ALICE)
    assert "The teacher is on Generate (VAE, k = 4)" in sidebar_words(student)
    # and said once in a toast, for a phone's closed sidebar
    assert [unescaped(t.value) for t in student.toast] == [
        "The teacher is on Generate (VAE, k = 4). The link to that page is in the sidebar."]
    (link,) = teacher_links(student)
    assert link.proto.page == "generate" and not link.proto.external     # this tab, this app
    assert link.proto.query_string == f"model={vae}&n=48"
    # never moved by force: the address holds the student's own page's settings (Home's)
    assert "model" not in student.query_params and "n" not in student.query_params

    # a student already there, with those settings (and more of the page's own), is told so
    there = classroom(ALICE, GENERATE, {"model": vae, "n": "48", "seed": "3"})
    assert "You are on that page, with the teacher's settings." in [
        c.value for c in there.sidebar.caption]
    assert not teacher_links(there) and not there.toast


def test_the_qr_code_holds_the_link_a_students_laptop_opens(classroom):
    vae = model_id("vae", 2)
    teacher = bring(classroom(TEACHER_BROWSER, GENERATE, {"model": vae}, teacher=True))
    link = f"{SERVER}/generate?model={vae}"
    (qr,) = qr_images(teacher)
    assert qr.alt == f"QR code of the link to Generate (VAE, k = 2): {link}"
    assert qr.caption == link
    # the same link's QR code as segno draws it, the module's own way, is the one shown
    reference = segno.make(link, error="m").svg_inline(
        scale=invitation.QR_SCALE, border=4, dark="#000", light="#fff")
    assert modules(svg_of(qr)) == modules(reference)


def test_the_link_of_a_teacher_on_localhost_is_the_machines_network_address(classroom,
                                                                             monkeypatch):
    monkeypatch.setattr(roles, "lan_address", lambda: "192.0.2.44")
    teacher = bring(classroom(TEACHER_BROWSER, "pages/class_view.py", teacher=True,
                              server="http://localhost:8501"))
    (qr,) = qr_images(teacher)
    assert qr.caption == "http://192.0.2.44:8501/class"
    # and a machine with no network address says so, with no QR code
    monkeypatch.setattr(roles, "lan_address", lambda: None)
    teacher.run()
    assert not qr_images(teacher)
    assert any("network address is unknown" in c.value for c in teacher.sidebar.caption)


def test_a_page_with_no_model_is_named_by_its_title_and_its_first_settings_kept(classroom):
    query = {f"s{i}": str(i) for i in range(30)} | {"model": "nosuchmodel0", "long": "x" * 101}
    bring(classroom(TEACHER_BROWSER, "pages/draw.py", query, teacher=True))
    standing = board().invitation()
    assert standing.label == "Draw"                # a model that is not there adds nothing
    assert standing.query == tuple((f"s{i}", str(i)) for i in range(20))


# --- what shows nothing -------------------------------------------------------------------------

def test_stop_bringing_them_takes_the_link_off_the_students_sidebars(classroom):
    teacher = bring(classroom(TEACHER_BROWSER, GENERATE, teacher=True))
    student = classroom(ALICE)
    assert teacher_links(student)
    teacher.button(key="class-bring-stop").click().run()
    no_exception(teacher)
    assert board().invitation() is None and not qr_images(teacher)
    assert "The class is invited" not in sidebar_words(teacher)
    student = classroom(ALICE)
    assert not teacher_links(student) and "The teacher is on" not in sidebar_words(student)


@pytest.mark.parametrize("age", [INVITATION_FRESH_S + 5, -INVITATION_FRESH_S - 5])
def test_a_stale_invitation_shows_nothing(classroom, age):
    board().invite(GENERATE, {}, "Generate", now=time.time() - age)
    student = classroom(ALICE)
    assert not teacher_links(student) and "The teacher is on" not in sidebar_words(student)
    teacher = classroom(TEACHER_BROWSER, GENERATE, teacher=True)
    assert "The class is invited" not in sidebar_words(teacher) and not qr_images(teacher)
    # and one a moment old does
    board().invite(GENERATE, {}, "Generate", now=time.time() - 5)
    assert teacher_links(classroom(ALICE))


@pytest.mark.parametrize("stored", [
    b"not json at all {",
    json.dumps({"page": "https://evil.example/x.py", "query": [], "label": "Generate",
                "at": time.time()}).encode(),
    json.dumps({"page": "pages/generate.py", "query": [["model", {"$gt": ""}]],
                "label": "Generate", "at": time.time()}).encode(),
    json.dumps(["pages/generate.py", [], "Generate", time.time()]).encode(),
], ids=["not JSON", "a page elsewhere", "a query of objects", "a list, not an object"])
# (named: each process of a parallel run collects its own time.time(), and ids must agree)
def test_a_hostile_stored_invitation_shows_nothing(classroom, stored):
    board().board.storage.put_data(ClassKey.INVITATION, stored)
    student = classroom(ALICE)
    assert not teacher_links(student) and "The teacher is on" not in sidebar_words(student)
    teacher = classroom(TEACHER_BROWSER, GENERATE, teacher=True)
    assert not qr_images(teacher) and "The class is invited" not in sidebar_words(teacher)
    # the teacher's next click writes over it, and the class sees that one
    bring(teacher)
    assert teacher_links(classroom(ALICE))


def test_a_label_written_as_markdown_is_shown_as_text(classroom):
    rude = "**[Click me](http://evil.example)** <b>now</b>"
    board().invite(GENERATE, {}, rude)
    student = classroom(ALICE)
    (said,) = [m.value for m in student.sidebar.markdown if "The teacher is on" in m.value]
    assert unescaped(said).endswith(f"The teacher is on {rude}")
    assert "](" not in said and "**[" not in said          # every mark escaped: no link


def test_an_unreachable_queue_is_a_sentence_for_the_teacher_and_nothing_for_a_student(
        classroom, isolated_home):
    teacher = classroom(TEACHER_BROWSER, GENERATE, teacher=True)
    svc = ui.service()
    svc.class_board = ClassBoard(taskqueue.connect(isolated_home, "redis://127.0.0.1:1/0"),
                                 svc.roster)
    student = classroom(ALICE)
    assert not teacher_links(student)
    bring(teacher)
    said = " ".join(e.value for e in [*teacher.sidebar.error, *teacher.sidebar.warning])
    assert "cannot be reached" in said


def test_a_click_from_a_browser_that_lost_the_role_invites_nobody(classroom):
    at = classroom(ALICE, GENERATE, teacher=True)
    at.session_state["aedemo_teacher"] = "not the teacher's token"
    bring(at)
    assert board().invitation() is None
    assert [t.value for t in at.toast] == ["Only the teacher can bring the class to a page."]
    assert not [b for b in at.button if b.key == "class-bring"]


def test_a_browser_that_does_not_say_its_address_is_told_to_reload(classroom):
    at = bring(classroom(TEACHER_BROWSER, GENERATE, teacher=True, server=None))
    assert board().invitation() is None
    assert any("did not say which page it is on" in e.value for e in at.sidebar.error)




@pytest.mark.parametrize("url, base, app, page", [
    ("http://h:8501/", "", "http://h:8501", 0),
    ("http://h:8501/draw", "", "http://h:8501", "draw"),
    ("http://h:8501/class/draw/", "", "http://h:8501/class", "draw"),     # a proxy's prefix
    # a server whose base path is a page's name: its first page is at that path
    ("http://h:8501/draw", "draw", "http://h:8501/draw", 0),
    ("http://h:8501/draw/draw", "/draw/", "http://h:8501/draw", "draw"),
    ("http://h:8501/draw/train?seed=3", "draw", "http://h:8501/draw", "train"),
])
def test_an_address_splits_into_the_app_and_the_page_past_the_base_path(url, base, app, page):
    """The teacher's QR code links to the app's address and the invitation names the page:
    a server whose base path (server.baseUrlPath) is a page's name is not taken for that page
    (it was, which invited the class to Draw from the first page)."""
    found = invitation.split_address(url, base_path=base)
    assert found is not None and found[0] == app
    pages = menu.PAGES
    assert found[1] is (pages[0] if page == 0 else next(p for p in pages if p.url_name == page))
