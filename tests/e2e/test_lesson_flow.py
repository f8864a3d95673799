"""The lesson's flow in real browsers on a laptop's screen (1366 x 768), on the classroom
command's server (test_classroom's fixtures): after Start the job's state is in view at once, a
finished job links to the pages that show its model, and what the teacher does (a pin, a
cancel) reaches a student's open page within seconds, without a reload.

With AEDEMO_SCREENSHOTS=1 each of these is also saved in artifacts/issue18/."""

from __future__ import annotations

import os
import re

import test_classroom
from playwright.sync_api import expect

from e2e_support import (
    ARTIFACTS,
    no_exception,
    open_page,
    sign_in_as_teacher,
    start_training,
    wait_idle,
)

# test_classroom's fixtures, for this module too: the classroom command's server with a
# teacher's passphrase and the lesson's model, and a student's browser
classroom = test_classroom.classroom
student = test_classroom.student
SECRET, TRAIN_TIMEOUT_MS = test_classroom.SECRET, test_classroom.TRAIN_TIMEOUT_MS
LAPTOP = {"width": 1366, "height": 768}
SHOTS = ARTIFACTS.parent / "issue18"
# the sidebar asks for the class's news every 2 s, and a pin reruns the page after that
NOTICE_TIMEOUT_MS = 15_000
JOB_STATE = re.compile(r"Waiting in the queue|Training:|Done: stored as model")


def shoot(tab, name: str) -> None:
    if os.environ.get("AEDEMO_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{name}.png"))


def test_on_a_laptop_the_job_is_in_view_after_start_and_done_links_to_its_pages(
        classroom, student):
    student.set_viewport_size(LAPTOP)
    open_page(student, classroom, "train")
    start_training(student, "dense", epochs_key="Home")            # the fewest epochs
    state = student.get_by_text(JOB_STATE).first
    state.wait_for(timeout=30_000)
    expect(state).to_be_in_viewport(ratio=1)                       # no scrolling to find it
    shoot(student, "train-after-start")
    student.get_by_text("Done: stored as model").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_idle(student)
    for title in ("Reconstructions", "Latent space", "Draw"):
        expect(student.get_by_role("link", name=f"See it on {title}")).to_be_in_viewport()
    assert student.get_by_role("link", name="See it on Generate").count() == 0   # not a VAE
    shoot(student, "train-done-links")
    no_exception(student)


def unlock(tab) -> None:
    sign_in_as_teacher(tab, SECRET)
    wait_idle(tab)


def test_the_teachers_pin_and_cancel_reach_a_students_open_page(classroom, student, browser):
    student.set_viewport_size(LAPTOP)
    open_page(student, classroom, "train")
    start_training(student, "conv")            # the most epochs: it trains until it is stopped
    student.get_by_role("button", name="Cancel").wait_for(timeout=TRAIN_TIMEOUT_MS)
    context = browser.new_context(viewport=LAPTOP)
    try:
        teacher = context.new_page()
        open_page(teacher, classroom, "train")
        unlock(teacher)
        teacher.get_by_role("button", name="Pin to the showcase").click()   # the newest model
        # the student's page, left open, hears it: no reload
        student.get_by_text("The teacher pinned").wait_for(timeout=NOTICE_TIMEOUT_MS)
        shoot(student, "pin-notice")
        teacher.get_by_role("heading", name="Stored models").scroll_into_view_if_needed()
        teacher.mouse.move(0, 0)                    # no tooltip over the table
        wait_idle(teacher)
        shoot(teacher, "teacher-stored-models")

        queue = teacher.locator('[data-testid="stExpander"]', has_text="The whole queue")
        queue.get_by_text("The whole queue").click()
        queue.get_by_role("button", name="Cancel", exact=True).first.click()
        student.get_by_text("The teacher cancelled this job: nothing was stored.").wait_for(
            timeout=NOTICE_TIMEOUT_MS)
        student.get_by_text("The teacher cancelled your job").wait_for(timeout=NOTICE_TIMEOUT_MS)
        shoot(student, "cancelled-by-teacher")
        no_exception(student)
        no_exception(teacher)
    finally:
        context.close()
