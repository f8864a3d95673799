"""Two servers of one class on one real Redis show one class (issue 22): the README's classroom
command twice, on one store and one queue. A student on server A shares a drawing from the
Draw page; the teacher's Class page on server B shows it; the teacher hides it on B and it
leaves the student's open Class page on A by itself."""

from __future__ import annotations

import pytest
import test_class_view

from e2e_support import (
    Server,
    classroom_on_lesson_models,
    no_exception,
    open_page,
    sign_in_as_teacher,
)

SECRET = test_class_view.SECRET
VERDICT_MS, GONE_MS = test_class_view.VERDICT_MS, test_class_view.GONE_MS
map_says, share_a_seven = test_class_view.map_says, test_class_view.share_a_seven


@pytest.fixture
def two_servers(tmp_path_factory, lesson_store, redis_server):
    """Server A, as classroom_on_lesson_models starts it but on the Redis, and server B: the
    same command, store and Redis on a port of its own."""
    redis_server.flush()
    shared_queue = {"AEDEMO_REDIS_URL": redis_server.url}
    a = classroom_on_lesson_models(tmp_path_factory, lesson_store, "class-replicas", SECRET,
                                   extra_env=shared_queue)
    b = Server(a.home, a.env, command=a.command, host=a.host)
    yield a, b
    b.stop()
    a.stop()


def test_a_drawing_shared_on_one_server_is_on_the_others_map_and_hidden_from_both(
        two_servers, three):
    a, b = two_servers
    alice, _, teacher = three
    share_a_seven(alice, a)

    open_page(teacher, b, "class")
    sign_in_as_teacher(teacher, SECRET)
    map_says(teacher, "1 shared drawing on the map", VERDICT_MS)
    teacher.locator('[data-testid="stMain"]').get_by_text("student 1", exact=True).wait_for()

    open_page(alice, a, "class")
    map_says(alice, "1 shared drawing on the map", VERDICT_MS)
    teacher.get_by_role("button", name="Hide").first.click()
    map_says(teacher, "no drawing is shared yet", GONE_MS)
    map_says(alice, "no drawing is shared yet", GONE_MS)        # on A, untouched
    no_exception(alice)
    no_exception(teacher)
