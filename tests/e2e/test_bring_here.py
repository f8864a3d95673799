"""Bring the class here (issue 22) in real browsers: the classroom command with a teacher's
passphrase, the teacher and two students in three browser contexts. The teacher, on the
Generate page with a stored VAE in its address, clicks Bring the class here: both students'
open sidebars say so by themselves within seconds (and a phone's, its sidebar closed, in a
toast), one follows the link in the same tab to the
teacher's page and settings, the other is never moved. The teacher's QR code holds the link a
student's laptop opens, with its alternative text, in the sidebar and large in a dialog, and
both pass axe-core. Stop
bringing them takes the link off the students' sidebars."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from aedemo.store import ModelStore
from e2e_support import (
    SIDEBAR,
    classroom_on_lesson_models,
    no_exception,
    open_page,
    sign_in_as_teacher,
)

SECRET = "a passphrase for the class"
POLL_MS = 15_000          # the sidebar's fragment polls every 2 s (aedemo.ui.PROGRESS_EVERY_S)
FAILING = ("critical", "serious")        # as tests/e2e/test_accessibility.py
INVITED = "The teacher is on Generate (VAE, k = 4)"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, lesson_store):
    srv = classroom_on_lesson_models(tmp_path_factory, lesson_store, "bring-here-home", SECRET)
    yield srv
    srv.stop()


def audit(tab, where: str, part: str = SIDEBAR) -> list[str]:
    """axe-core's critical and serious violations in a part of the page (the sidebar), one
    line each."""
    found = Axe().run(tab, context=part).response["violations"]
    return [f"{where}: {v['id']} ({v['impact']}) at {' > '.join(map(str, node['target']))}: "
            f"{v['help']} ({node['html'][:120]})"
            for v in found if v["impact"] in FAILING for node in v["nodes"]]


def toasts(tab, words: str):
    return tab.locator('[data-testid="stToast"]', has_text=words)


def test_bring_the_class_here_reaches_the_students_sidebars(classroom, three, browser):
    alice, bob, teacher = three
    # and Carol, on a phone, whose sidebar is closed
    carol = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True).new_page()
    vae = next(m.id for m in ModelStore(classroom.home).list()
               if m.ok and m.spec.variant == "vae" and m.spec.latent_dim == 4)
    for student in (alice, bob, carol):
        open_page(student, classroom)
    home_url = bob.url

    open_page(teacher, classroom, f"generate?model={vae}&seed=5")
    sidebar = sign_in_as_teacher(teacher, SECRET)
    sidebar.get_by_role("button", name="Bring the class here").click()
    sidebar.get_by_text("The class is invited to Generate (VAE, k = 4)").wait_for()

    # the QR code for the projector: the link a student's laptop opens, said in its alt text
    # the page's settings as its address holds them: the link's, and the page's own after
    link = f"{classroom.url}/generate?model={vae}&seed=5&temperature=1"
    qr = sidebar.get_by_role("img", name=re.compile("^QR code of the link"))
    assert qr.get_attribute("alt") == f"QR code of the link to Generate (VAE, k = 4): {link}"
    assert qr.bounding_box()["width"] >= 200, "large enough to scan from the projector"

    # both students' sidebars hear it by themselves, untouched
    for student in (alice, bob):
        student.locator(SIDEBAR).get_by_text(INVITED).wait_for(timeout=POLL_MS)
    problems = audit(teacher, "teacher") + audit(alice, "student")
    # Carol's phone shows it in a toast, her sidebar closed; said once, not at every poll
    toasts(carol, INVITED).wait_for(timeout=POLL_MS)
    closed = carol.locator(SIDEBAR).bounding_box()
    assert closed["x"] + closed["width"] <= 1, closed                # off the screen
    bob.wait_for_timeout(5000)                                  # two more polls
    assert toasts(bob, INVITED).count() <= 1
    no_exception(carol)
    carol.context.close()

    # and large in a dialog of its own, for the projector: all of it on a 1400 x 1000 screen
    sidebar.get_by_role("button", name="Show the QR code large").click()
    dialog = teacher.get_by_role("dialog")
    large = dialog.get_by_role("img", name=re.compile("^QR code of the link"))
    assert large.get_attribute("alt") == qr.get_attribute("alt")
    box = large.bounding_box()
    assert box["width"] >= 2 * qr.bounding_box()["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= 1000
    problems += audit(teacher, "the QR code's dialog", '[role="dialog"]')
    assert not problems, "\n".join(problems)
    teacher.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    # Alice follows the link, in the same tab, to the teacher's page and settings
    alice.locator(SIDEBAR).get_by_role("link", name="Open the teacher's page").click()
    alice.wait_for_url(re.compile(rf"/generate\?model={vae}&seed=5&temperature=1$"))
    alice.locator("h1", has_text="Generate").wait_for()
    expect(alice.get_by_role("spinbutton", name="Seed")).to_have_value("5", timeout=60_000)
    assert len(alice.context.pages) == 1
    # Bob, who did not click, is where he was
    bob.wait_for_timeout(3000)
    assert urlsplit(bob.url).path == urlsplit(home_url).path

    sidebar.get_by_role("button", name="Stop bringing them").click()
    bob.locator(SIDEBAR).get_by_text(INVITED).wait_for(state="detached", timeout=POLL_MS)
    assert urlsplit(bob.url).path == urlsplit(home_url).path
    for tab in (alice, bob, teacher):
        no_exception(tab)
