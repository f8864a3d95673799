"""The teacher's role on the pages (AppTest): with a passphrase set, a student may delete only
their own models, after a confirmation, and cannot cancel others' jobs, clear the queue or pin;
the passphrase in the sidebar opens all of that. With none set, the one local user teaches."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from aedemo import roles, ui
from aedemo.jobs import SYSTEM
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from support import REPO

SECRET = "a passphrase for the class"
ALICE, BOB = "a" * 32, "b" * 32


def tiny(k: int) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=1))


@pytest.fixture
def classroom(isolated_home, monkeypatch):
    """A server with a teacher's passphrase and two stored models: the zoo's and Alice's."""
    monkeypatch.setenv(roles.PASSPHRASE_ENV, SECRET)
    monkeypatch.setenv("AEDEMO_ZOO", "0")
    monkeypatch.setenv("AEDEMO_WORKERS", "0")
    monkeypatch.setenv("AEDEMO_DATASET", "digits")
    store = ModelStore(isolated_home)
    lesson = store.save(tiny(2), train_spec(tiny(2)), owner=SYSTEM)
    hers = store.save(tiny(3), train_spec(tiny(3)), owner=ALICE)
    st.cache_resource.clear()
    assert ui.service().wait_ready(60)

    def visit(student: str, page: str | None = "pages/train.py", *,
              teacher: bool = False) -> AppTest:
        if teacher:      # the sidebar's form is driven in a real browser (tests/e2e/test_classroom)
            assert ui.service().teachers.unlock(student, SECRET, SECRET) is None
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.session_state["aedemo_student"] = student
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        return at

    yield visit, lesson.id, hers.id
    ui.service().shutdown()
    st.cache_resource.clear()


def buttons(at: AppTest) -> dict[str, object]:
    return {b.key: b for b in at.button if b.key}


def pick(at: AppTest, model_id: str) -> AppTest:
    return at.selectbox(key="store-pick").set_value(model_id).run()


def test_a_student_cannot_delete_the_lessons_model_or_a_classmates(classroom):
    visit, lesson, hers = classroom
    at = pick(visit(BOB), lesson)
    assert not at.exception
    assert f"store-delete-{lesson}" not in buttons(at)
    assert any("Only the teacher can delete" in c.value for c in at.caption)
    pick(at, hers)
    assert f"store-delete-{hers}" not in buttons(at)
    assert not any(k.startswith("store-pin") for k in buttons(at))
    assert {m.id for m in ModelStore().list()} == {lesson, hers}


def test_a_student_deletes_their_own_model_after_a_confirmation(classroom):
    visit, lesson, hers = classroom
    at = pick(visit(ALICE), hers)
    confirm = buttons(at)[f"store-delete-{hers}"]
    assert confirm.label == "Yes, delete it"              # inside the Delete popover
    confirm.click().run()
    assert not at.exception
    assert {m.id for m in ModelStore().list()} == {lesson}


def test_the_teacher_deletes_and_pins_any_model(classroom):
    visit, lesson, hers = classroom
    assert visit(BOB, None).text_input(key="teacher-passphrase")      # the sidebar's box
    at = pick(visit(BOB, teacher=True), lesson)
    buttons(at)[f"store-pin-{lesson}"].click().run()
    assert ModelStore().pinned() == {lesson}
    pick(at, hers)
    buttons(at)[f"store-delete-{hers}"].click().run()
    assert not at.exception
    assert {m.id for m in ModelStore().list()} == {lesson}
    # the role follows the student, not the tab: a new session of the same browser has it
    assert f"store-delete-{lesson}" in buttons(pick(visit(BOB), lesson))
    assert f"store-delete-{lesson}" not in buttons(pick(visit(ALICE), lesson))


def test_only_the_teacher_sees_the_whole_queue_and_cancels_anyones_job(classroom):
    visit, _, _ = classroom
    queue = ui.service().jobs
    job = queue.submit(tiny(5), ALICE)
    at = visit(BOB)
    assert f"cancel-{job.id}" not in buttons(at) and "teacher-clear" not in buttons(at)
    at = visit(BOB, teacher=True)
    assert "teacher-clear" in buttons(at)
    buttons(at)[f"teacher-cancel-{job.id}"].click().run()
    assert not at.exception
    assert queue.wait(job.id, timeout=10).status == "cancelled"


def test_a_shared_job_says_so_and_cancelling_takes_back_only_your_request(classroom):
    visit, _, _ = classroom
    queue = ui.service().jobs
    job = queue.submit(tiny(6), ALICE)
    at = visit(BOB)
    at.slider(key="train-dense-latent_dim").set_value(6)
    at.slider(key="train-epochs-dense").set_value(1)
    at.select_slider(key="train-batch-dense").set_value(256)
    at.button(key="train-start").click().run()
    assert not at.exception
    assert queue.snapshot(job.id).askers == (ALICE, BOB)  # the same settings: the same job
    assert any("you share this job" in i.value for i in at.info)
    mine = buttons(at)[f"cancel-{job.id}"]
    assert mine.label == "Cancel my request"
    mine.click().run()
    left = queue.snapshot(job.id)
    assert left.active and left.askers == (ALICE,)
    # after a reload Alice still finds her job, with its Cancel
    again = visit(ALICE)
    assert buttons(again)[f"cancel-{job.id}"].label == "Cancel"


def test_with_no_passphrase_the_local_user_teaches(app, isolated_home):
    ModelStore(isolated_home).save(tiny(2), train_spec(tiny(2)), owner=SYSTEM)
    assert not app().text_input                            # no passphrase box to fill in
    at = app("pages/train.py")
    chosen = at.selectbox(key="store-pick").value
    assert {f"store-delete-{chosen}", f"store-pin-{chosen}"} <= set(buttons(at))
