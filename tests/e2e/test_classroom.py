"""A class on the network, in real browsers: the README's classroom command with a teacher's
passphrase, reached at this machine's network address as a student's laptop reaches it."""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest

from aedemo.jobs import SYSTEM
from aedemo.roles import PASSPHRASE_ENV, ROLE_HOURS, STUDENT_COOKIE, TEACHER_COOKIE
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from e2e_support import (
    ARTIFACTS,
    Server,
    no_exception,
    open_page,
    reload_page,
    sign_in_as_teacher,
    wait_idle,
)
from support import REPO, app_command, classroom_command, free_port, lan_address

SECRET = "a passphrase for the class"
TRAIN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A class's server with the lesson's model stored: one the zoo made, which no student may
    delete."""
    home = tmp_path_factory.mktemp("classroom-home")
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=1))
    lesson = ModelStore(home).save(spec, train_spec(spec), owner=SYSTEM).id
    srv = Server(home, {"AEDEMO_ZOO": "0", PASSPHRASE_ENV: SECRET}, command=classroom_command(),
                 host=lan_address())
    srv.lesson = lesson
    yield srv
    srv.stop()


@pytest.fixture
def student(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, pg in enumerate(context.pages):
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
    context.close()


def test_a_students_browser_has_no_way_to_delete_the_lessons_model(classroom, student):
    open_page(student, classroom, "train")
    student.get_by_text("Only the teacher can delete this model").wait_for()
    assert student.get_by_role("button", name="Delete").count() == 0
    assert student.get_by_role("button", name="Pin to the showcase").count() == 0
    assert student.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert ModelStore(classroom.home).get(classroom.lesson) is not None
    no_exception(student)


def test_a_students_job_and_its_cancel_survive_a_reload(classroom, student):
    open_page(student, classroom, "train")
    cookies = {c["name"]: c for c in student.context.cookies()}
    assert cookies[STUDENT_COOKIE]["httpOnly"]
    student.get_by_role("button", name="Start training").click()
    student.get_by_role("button", name="Cancel").wait_for(timeout=TRAIN_TIMEOUT_MS)
    reload_page(student)
    cancel = student.get_by_role("button", name="Cancel")
    cancel.wait_for(timeout=30_000)                     # the same student, after a reload
    cancel.click()
    student.get_by_text("Cancelled: nothing was stored.").wait_for(timeout=30_000)
    no_exception(student)


def test_the_teacher_unlocks_the_role_in_the_sidebar_and_deletes_the_model(classroom, student):
    open_page(student, classroom, "train")
    sidebar = student.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Teacher", exact=True).click()
    sidebar.get_by_label("Passphrase").fill("not the passphrase")
    sidebar.get_by_role("button", name="Unlock the teacher's role").click()
    sidebar.get_by_text("That is not the teacher's passphrase.").wait_for()
    sidebar.get_by_label("Passphrase").fill(SECRET)
    sidebar.get_by_role("button", name="Unlock the teacher's role").click()
    sidebar.get_by_text("You are signed in as the teacher.").wait_for()
    student.get_by_role("button", name="Delete").click()
    student.get_by_role("button", name="Yes, delete it").click()
    student.get_by_text("No models stored yet").wait_for(timeout=30_000)
    assert ModelStore(classroom.home).get(classroom.lesson) is None
    no_exception(student)


def test_the_teachers_role_is_a_cookie_of_its_own_for_this_computer_only(classroom, student,
                                                                          browser):
    """The tryout's case: the role was the 180-day student cookie, sent over plain HTTP, and it
    worked from another address and browser."""
    open_page(student, classroom, "train")
    sidebar = sign_in_as_teacher(student, SECRET)
    with student.context.expect_page() as opened:     # the one-time link sets the cookie
        sidebar.get_by_role("link", name="Keep the role after a reload").click()
    teacher = opened.value
    teacher.wait_for_url("**/train")
    wait_idle(teacher)
    cookies = {c["name"]: c for c in student.context.cookies()}
    role = cookies[TEACHER_COOKIE]
    assert role["value"] != cookies[STUDENT_COOKIE]["value"]           # a fresh secret
    assert role["httpOnly"] and role["sameSite"] == "Strict" and not role["secure"]  # plain HTTP
    assert role["expires"] - time.time() <= ROLE_HOURS * 3600 + 60     # a class, not months
    reload_page(teacher)
    teacher.locator('[data-testid="stSidebar"]').get_by_text(
        "You are signed in as the teacher.").wait_for()
    # both cookies, copied into another browser on another address (this machine's own)
    elsewhere = browser.new_context()
    try:
        here = classroom.url.replace(lan_address(), "127.0.0.1")
        elsewhere.add_cookies([{"name": c["name"], "value": c["value"], "url": here}
                               for c in cookies.values()])
        tab = elsewhere.new_page()
        tab.goto(f"{here}/train")
        tab.locator("h1").first.wait_for(timeout=60_000)
        wait_idle(tab)
        tab.locator('[data-testid="stSidebar"]').get_by_text("Teacher", exact=True).wait_for()
        assert tab.get_by_text("You are signed in as the teacher.").count() == 0
        assert {c["name"]: c["value"] for c in elsewhere.cookies()}[TEACHER_COOKIE] == role[
            "value"]                                          # sent, and refused
    finally:
        elsewhere.close()
    no_exception(teacher)


def test_the_classroom_command_refuses_to_start_without_a_passphrase(tmp_path):
    """Refused with one sentence, as the last thing the terminal shows: it once came inside a
    traceback of Streamlit's failed start-up, followed by "Application startup failed"."""
    env = {"AEDEMO_HOME": str(tmp_path), "STREAMLIT_SERVER_PORT": str(free_port()),
           "AEDEMO_ZOO": "0", "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    # one stream, unbuffered: in the order a terminal shows it
    done = subprocess.run(classroom_command(), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    said = done.stdout
    assert done.returncode != 0
    assert "Traceback" not in said, said
    refusal = said.strip().splitlines()[-1]
    assert refusal.startswith("aedemo will not serve the network: No teacher passphrase is set")
    assert said.count("will not serve the network") == 1
    assert "You can now view" not in said and "http://" not in said      # never said it serves


def test_the_readme_app_command_answers_this_machine_only(tmp_path, student):
    srv = Server(tmp_path, {"AEDEMO_ZOO": "0"})
    try:
        assert srv.proc.args == app_command()
        # the address to open, said once the app serves it (Streamlit's own welcome is off)
        assert f"open http://localhost:{srv.port} in a browser" in srv.log.read_text()
        with pytest.raises(OSError):                     # refused: nothing listens there
            urllib.request.urlopen(f"http://{lan_address()}:{srv.port}/_stcore/health",
                                   timeout=5)
        # even on this machine, where Streamlit shows developers its Deploy button by default
        open_page(student, srv)
        student.locator('[data-testid="stToolbar"]').first.wait_for(state="attached")
        assert student.locator('[data-testid="stAppDeployButton"]').count() == 0
    finally:
        srv.stop()
