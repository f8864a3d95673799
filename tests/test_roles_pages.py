"""The teacher's role on the pages (AppTest): with a passphrase set, a student may delete only
their own models, after a confirmation, and cannot cancel others' jobs, clear the queue or pin;
the passphrase in the sidebar opens all of that. With none set, the one local user teaches."""

from __future__ import annotations

import pandas as pd
import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from aedemo import roles, ui
from aedemo.jobs import SYSTEM, TEACHER
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from support import REPO

SECRET = "a passphrase for the class"
ALICE, BOB = "a" * 32, "b" * 32


def tiny(k: int, epochs: int = 1) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs))


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
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.session_state["aedemo_student"] = student
        if teacher:      # the sidebar's form is driven in a real browser (tests/e2e/test_classroom)
            at.session_state["aedemo_teacher"] = ui.service().teachers.unlock(SECRET, SECRET)
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
    # the role is a secret of its own, not the student's cookie: a session with Bob's student
    # cookie but not the role's (a copied cookie, another browser) is a student's
    assert f"store-delete-{lesson}" not in buttons(pick(visit(BOB), lesson))
    assert f"store-delete-{lesson}" not in buttons(pick(visit(ALICE), lesson))


def test_the_passphrase_in_the_sidebar_gives_this_session_the_role_and_a_link_for_its_cookie(
        classroom):
    """The sidebar's form: the session is the teacher's at once, and its one-time link sets the
    role's cookie in the browser (tests/e2e/test_classroom follows it in Chromium)."""
    at = open_tab(BOB)
    at.text_input(key="teacher-passphrase").input(SECRET)
    next(b for b in at.button if b.label == "Unlock the teacher's role").click().run()
    assert not at.exception
    assert any("signed in as the teacher" in c.value for c in at.caption)
    (link,) = at.get("link_button")
    assert link.proto.url.startswith(f"{roles.TEACHER_PATH}?claim=")
    token = at.session_state["aedemo_teacher"]
    assert token != BOB and not roles.valid_student_id(token)     # a fresh secret
    buttons(at)["teacher-leave"].click().run()
    assert not ui.service().teachers.is_teacher(token, None, SECRET)   # leaving ends it
    assert at.text_input(key="teacher-passphrase")


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
    assert queue.job(job.id).askers == (ALICE, BOB)  # the same settings: the same job
    assert any("you share this job" in i.value for i in at.info)
    mine = buttons(at)[f"cancel-{job.id}"]
    assert mine.label == "Cancel my request"
    mine.click().run()
    left = queue.job(job.id)
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


# --- what the teacher does is said, and models are named for people --------------------------

def start(at: AppTest, k: int) -> AppTest:
    """Start the tiny(k) job from the Train page, as a student does."""
    at.slider(key="train-dense-latent_dim").set_value(k)
    at.slider(key="train-epochs-dense").set_value(1)
    at.select_slider(key="train-batch-dense").set_value(256)
    at.button(key="train-start").click().run()
    assert not at.exception
    return at


def sidebar_only() -> None:
    """An AppTest script: the sidebar every page has (app.py's, which AppTest runs only on the
    first run of app.py, so a notice that comes later is read here)."""
    from aedemo import ui

    ui.sidebar()


def open_tab(student: str) -> AppTest:
    """A student's open page, run once: the session has heard the news until now."""
    at = AppTest.from_function(sidebar_only, default_timeout=60)
    at.session_state["aedemo_student"] = student
    return at.run()


def toasts(at: AppTest) -> list[str]:
    return [t.value for t in at.toast]


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_a_job_the_teacher_cancelled_says_so_in_its_panel_and_a_notice(classroom):
    visit, _, _ = classroom
    at, home = start(visit(ALICE), 5), open_tab(ALICE)
    (job,) = ui.service().jobs.jobs(ALICE, active_only=True)
    assert "Cancelled" not in warnings(at) and not toasts(home)
    ui.service().cancel(job.id, BOB, teacher=True)           # Bob is the teacher here
    at.run()
    assert not at.exception
    assert "The teacher cancelled this job: nothing was stored." in warnings(at)
    home.run()
    assert toasts(home) == ["The teacher cancelled your job dense autoencoder, k = 5: nothing "
                            "was stored."]
    home.run()
    assert not toasts(home)                                  # said once


def test_a_model_the_teacher_deleted_is_said_and_its_done_panel_loses_its_links(classroom):
    visit, _, hers = classroom
    at = start(visit(ALICE), 3)                 # the same settings as her stored model
    assert f"reusing the stored model {hers}" in " ".join(s.value for s in at.success)
    links = [link.proto.label for link in at.get("page_link")]
    assert {"See it on Reconstructions", "See it on Latent space", "See it on Draw"} <= set(
        links)
    home, bob = open_tab(ALICE), open_tab(BOB)
    ui.service().delete_model(hers, by=TEACHER)
    at.run()
    assert not at.exception
    assert "its model has since been deleted by the teacher" in warnings(at)
    assert not at.success and not [link for link in at.get("page_link")
                                   if link.proto.label.startswith("See it on")]
    home.run()
    assert toasts(home) == ["The teacher deleted your model dense autoencoder, k = 3."]
    bob.run()
    assert not toasts(bob)                    # not Bob's model: nothing to say to him


def test_a_pin_reaches_an_open_page_with_a_notice_and_old_news_is_not_replayed(classroom):
    visit, lesson, hers = classroom
    alice, bob = open_tab(ALICE), open_tab(BOB)
    ui.service().set_pinned(hers, True)
    bob.run()
    assert toasts(bob) == ["The teacher pinned dense autoencoder, k = 3: it comes first on "
                           "every page it fits."]
    alice.run()
    assert toasts(alice) == ["The teacher pinned your model dense autoencoder, k = 3: it comes "
                             "first on every page it fits."]
    # her model stays hers, with the pin beside it; a page opened now hears nothing old
    labels = pick(visit(ALICE), hers).selectbox(key="store-pick").options
    assert "dense autoencoder, k = 3 (yours, pinned by the teacher)" in labels
    assert not toasts(open_tab(BOB))


def test_the_wait_in_the_queue_is_said_in_jobs_before_yours(classroom):
    visit, _, _ = classroom
    ui.service().jobs.submit(tiny(5), ALICE)
    at = start(visit(BOB), 6)
    # no worker here, so no estimate of the time: the number of jobs alone
    assert "Waiting in the queue: 1 job before yours." in " ".join(i.value for i in at.info)


def displayed(at: AppTest) -> pd.DataFrame:
    """The stored-models table as the browser shows it (its display values)."""
    (table,) = at.dataframe
    return convert_arrow_bytes_to_pandas_df(table.proto.arrow_data.styler.display_values)


def test_models_are_named_for_people_in_pickers_and_the_table(classroom, isolated_home):
    visit, lesson, hers = classroom
    longer = ModelStore(isolated_home).save(tiny(3, epochs=2), train_spec(tiny(3, epochs=2)),
                                            owner=ALICE).id
    bob = pick(visit(BOB), hers)
    assert set(bob.selectbox(key="store-pick").options) == {
        "dense autoencoder, k = 2 (the lesson's)",
        "dense autoencoder, k = 3, 1 epoch (a classmate's)",
        "dense autoencoder, k = 3, 2 epochs (a classmate's)"}
    # what else the chosen model is, in its tooltip
    assert "digits: 1 epoch" in bob.selectbox(key="store-pick").help
    assert hers in bob.selectbox(key="store-pick").help
    table = bob.dataframe[0].value
    assert list(table.columns[:6]) == ["model", "owner", "pinned", "trained", "dataset",
                                       "epochs"]
    assert table.columns[-1] == "id"
    by_id = table.set_index("id")
    assert by_id.loc[lesson, "model"] == "dense autoencoder, k = 2"
    assert by_id.loc[lesson, "owner"] == "the lesson" and by_id.loc[hers, "owner"] == "a classmate"
    assert set(by_id["trained"]) <= {"just now", "1 min ago"}          # not an ISO stamp
    assert not by_id["pinned"].any()
    shown = displayed(bob)
    assert not shown.isin(["None", "nan", "<NA>", "NaN"]).any().any(), shown
    assert set(visit(ALICE).dataframe[0].value.set_index("id").loc[[hers, longer], "owner"]) == {
        "you"}
    # the teacher sees which student: numbers, not "a classmate" for everyone
    teacher = visit(BOB, teacher=True).dataframe[0].value.set_index("id")
    number = ui.service().roster.numbers()[ALICE]
    assert teacher.loc[hers, "owner"] == f"student {number}"


# --- the showcase is the teacher's -----------------------------------------------------------

def test_a_student_cannot_delete_their_own_model_once_the_teacher_pinned_it(classroom):
    """Deleting it would change what every page shows the class: refused where the delete
    happens, and not offered on the page."""
    from aedemo import classroom as class_news
    from aedemo.store import StoreError

    visit, lesson, hers = classroom
    svc = ui.service()
    svc.set_pinned(hers, True)
    with pytest.raises(StoreError, match="only the teacher can remove it"):
        svc.delete_model(hers, ALICE)
    assert ModelStore().pinned() == {hers} and ModelStore().get(hers).ok
    at = pick(visit(ALICE), hers)
    assert not at.exception
    assert f"store-delete-{hers}" not in buttons(at)
    assert class_news.PINNED_IS_THE_TEACHERS in [c.value for c in at.caption]
    # the teacher can
    at = pick(visit(BOB, teacher=True), hers)
    buttons(at)[f"store-delete-{hers}"].click().run()
    assert not at.exception
    assert ModelStore().get(hers) is None and ModelStore().pinned() == set()


# --- what a student sees of the server's faults ----------------------------------------------

def said(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.error, *at.warning])


@pytest.mark.parametrize("fault", ["read-only", "full", "redis down"])
def test_a_student_sees_a_fault_without_the_servers_folders_or_address(
        classroom, isolated_home, monkeypatch, caplog, fault):
    """The README promises students never see where the server keeps its files or how to
    reach Redis; the teacher sees both, to fix it, and the log has it once, not per rerun."""
    import errno
    import os
    import shutil

    from aedemo import store as store_module

    visit, lesson, hers = classroom
    monkeypatch.setattr(ui.session, "_LOGGED_DETAILS", set())     # what earlier tests logged
    if fault == "read-only":
        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(store_module.tempfile, "mkstemp", read_only)
        plain, detail = "read-only, so nothing can be trained now", str(isolated_home)
    elif fault == "full":
        monkeypatch.setattr(store_module.shutil, "disk_usage",
                            lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
        plain, detail = "is full (no space left on the disk)", str(isolated_home)
    else:
        ui.service().shutdown()
        monkeypatch.setenv("AEDEMO_REDIS_URL", "redis://127.0.0.1:1/0")     # nothing listens
        st.cache_resource.clear()
        assert ui.service().wait_ready(60)
        plain, detail = "cannot be reached", "127.0.0.1:1"
    # on Home: AppTest keeps the sidebar's fragment only from the first page it runs
    student = said(visit(ALICE, None))
    assert detail not in student and "/" not in student and "Redis" not in student
    assert plain in student
    teacher = said(visit(BOB, None, teacher=True))
    assert plain in teacher and detail in teacher.replace("\\", "")     # Markdown's escapes
    logged = [r for r in caplog.records if r.name == "aedemo.ui" and detail in r.getMessage()]
    assert len(logged) == 1


def test_students_on_the_servers_own_machine_share_the_cap_per_computer(classroom):
    """Streamlit says no address for a browser on 127.0.0.1 or ::1: those students count as
    one computer (the old cap skipped them), the teacher toward none."""
    visit, _, _ = classroom
    for k, student in zip((4, 5, 6), ("c", "d", "e")):
        start(visit(student * 32), k)
    refused = visit("f" * 32)
    refused.slider(key="train-dense-latent_dim").set_value(7)
    refused.slider(key="train-epochs-dense").set_value(1)
    refused.button(key="train-start").click().run()
    assert any("limit is 3 per computer" in e.value for e in refused.error)
    start(visit(BOB, teacher=True), 8)
    assert len(ui.service().jobs.jobs(active_only=True)) == 4
