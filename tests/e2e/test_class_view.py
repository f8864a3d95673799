"""The Class page in real browsers (issue 22): the classroom command with a teacher's
passphrase, two students and the teacher in three browser contexts. The students share their
drawings from the Draw page, the teacher's map shows both with whose each is, the teacher hides
one, and it leaves a student's open Class page by itself within seconds."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from e2e_support import (
    classroom_on_lesson_models,
    draw_seven,
    no_exception,
    open_page,
    sign_in_as_teacher,
    wait_idle,
)

SECRET = "a passphrase for the class"
VERDICT_MS = 60_000
GONE_MS = 15_000          # the map polls every 3 s (aedemo.ui.class_view.REFRESH_S)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, lesson_store):
    srv = classroom_on_lesson_models(tmp_path_factory, lesson_store, "class-view-home", SECRET)
    yield srv
    srv.stop()


def map_says(tab, words: str, timeout: float) -> None:
    """Wait for the map's caption (its summary, also read to screen readers) to say it."""
    tab.locator('[data-testid="stCaptionContainer"]', has_text=words).first.wait_for(
        timeout=timeout)


def share_a_seven(tab, classroom) -> None:
    open_page(tab, classroom, "draw")
    draw_seven(tab)
    share = tab.get_by_role("button", name="Share with the class")
    expect(share).to_be_enabled(timeout=VERDICT_MS)
    wait_idle(tab, VERDICT_MS / 1000)
    share.click()
    tab.get_by_text("Shared: your drawing is on the Class page's map.").wait_for(
        timeout=VERDICT_MS)
    no_exception(tab)


def test_two_students_share_the_teacher_sees_both_and_hides_one(classroom, three):
    alice, bob, teacher = three
    share_a_seven(alice, classroom)
    share_a_seven(bob, classroom)

    open_page(teacher, classroom, "class")
    assert urlsplit(teacher.url).path.endswith("/class")
    sign_in_as_teacher(teacher, SECRET)
    map_says(teacher, "2 shared drawings on the map", VERDICT_MS)
    main = teacher.locator('[data-testid="stMain"]')
    main.get_by_text("student 1", exact=True).wait_for()
    main.get_by_text("student 2", exact=True).wait_for()

    open_page(alice, classroom, "class")
    map_says(alice, "2 shared drawings on the map", VERDICT_MS)
    assert alice.get_by_text("student 1", exact=True).count() == 0    # nobody's name
    assert alice.get_by_role("button", name="Hide").count() == 0

    teacher.get_by_role("button", name="Hide").first.click()
    map_says(teacher, "1 shared drawing on the map", GONE_MS)
    # Alice's tab, untouched, follows by itself
    map_says(alice, "1 shared drawing on the map", GONE_MS)
    no_exception(alice)
    no_exception(teacher)
