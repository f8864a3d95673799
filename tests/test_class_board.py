"""The class's shared state (aedemo.class_board) on the queue's real storage: a SQLite file in a
fresh home, and a real Redis where two boards stand for two app servers of one class."""

from __future__ import annotations

import base64
import json
import threading

import numpy as np
import pytest
from huey.constants import EmptyData

from aedemo import class_board, taskqueue
from aedemo.class_board import (
    FRAME,
    INVITATION_FRESH_S,
    PER_STUDENT,
    PIXELS,
    SHARE_EVERY_S,
    ClassBoard,
    ClassKey,
    Invitation,
    ShareRefused,
)
from aedemo.classroom import Roster
from aedemo.job import SYSTEM
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig

T0 = 1_800_000_000.0      # a fixed clock for the rate bound: shares SHARE_EVERY_S apart


@pytest.fixture(params=["sqlite", "redis"])
def new_board(request, isolated_home):
    """A maker of boards on one storage: each call is another app server of the same class."""
    url = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
        url = server.url

    def make() -> ClassBoard:
        return ClassBoard(taskqueue.connect(isolated_home, url), Roster(isolated_home))

    return make


@pytest.fixture
def board(new_board) -> ClassBoard:
    return new_board()


def picture(seed: int) -> np.ndarray:
    """A framed picture as a page has it: (1, 1, 28, 28) float32 in [0, 1]."""
    return np.random.default_rng(seed).random((1, 1, FRAME, FRAME), dtype=np.float32)


def as_stored(x: np.ndarray) -> np.ndarray:
    """What the class keeps of a picture, read back: round(255 x) / 255."""
    return (np.round(x.reshape(FRAME, FRAME) * 255) / 255).astype(np.float32)


def stored(board: ClassBoard, key: str) -> object:
    raw = board.board.storage.peek_data(key)
    return EmptyData if raw is EmptyData else json.loads(bytes(raw))


def test_a_shared_drawing_is_kept_as_its_framed_picture_in_784_bytes(board):
    x = picture(0)
    drawing_id = board.share("alice", x, now=T0)
    [shown] = board.drawings(viewer_is_teacher=False)
    assert shown.id == drawing_id and shown.pixels.shape == (FRAME, FRAME)
    # quantised to 8 bits: round(255 x) / 255, within half a step of what was drawn
    np.testing.assert_array_equal(shown.pixels, as_stored(x))
    assert np.abs(shown.pixels - x[0, 0]).max() <= 0.5 / 255 + 1e-7
    assert len(base64.b64decode(stored(board, ClassKey.drawing(drawing_id)))) == PIXELS
    # the same picture from a tensor, (28, 28) and a flat row of 784
    import torch

    for same in (torch.from_numpy(x), x[0, 0], x.reshape(-1)):
        board.share(f"s{len(board.drawings(True))}", same, now=T0)
    assert all(np.array_equal(d.pixels, shown.pixels) for d in board.drawings(True))


def test_students_see_nobody_the_teacher_sees_numbers_in_joining_order(board, isolated_home):
    Roster(isolated_home).number("carol")      # carol joined first, training a model
    board.share("alice", picture(1), now=T0)
    board.share("carol", picture(2), now=T0)
    board.share("bob", picture(3), now=T0)
    numbers = Roster(isolated_home).numbers()
    assert numbers == {"carol": 1, "alice": 2, "bob": 3}
    teacher = board.drawings(viewer_is_teacher=True)
    assert [d.student for d in teacher] == [2, 1, 3]
    assert [d.owner_words for d in teacher] == ["student 2", "student 1", "student 3"]
    student = board.drawings(viewer_is_teacher=False, viewer="bob")
    assert [d.student for d in student] == [None, None, None]
    assert [d.owner_words for d in student] == ["a classmate"] * 3
    assert [d.mine for d in student] == [False, False, True]
    # no record carries a student's cookie id, for either audience
    assert not any(name in repr(d) for d in teacher + student
                   for name in ("alice", "bob", "carol"))


def test_each_student_keeps_their_latest_few(board):
    ids = [board.share("alice", picture(i), now=T0 + i * SHARE_EVERY_S)
           for i in range(PER_STUDENT + 2)]
    bob = board.share("bob", picture(99), now=T0)
    kept = board.drawings(True)
    assert [d.id for d in kept] == [*ids[-PER_STUDENT:], bob]
    np.testing.assert_allclose(kept[-2].pixels, picture(PER_STUDENT + 1)[0, 0], atol=0.5 / 255)
    for gone in ids[:2]:        # the pictures themselves are deleted, not only unlisted
        assert stored(board, ClassKey.drawing(gone)) is EmptyData


def test_a_flood_from_one_browser_is_refused_plainly(board):
    board.share("alice", picture(0), now=T0)
    for late in (0.0, 1.0, SHARE_EVERY_S - 0.01):
        with pytest.raises(ShareRefused, match=f"one drawing every {SHARE_EVERY_S:.0f} seconds"):
            board.share("alice", picture(1), now=T0 + late)
    board.share("bob", picture(2), now=T0 + 1)            # others are not held up
    board.share("alice", picture(3), now=T0 + SHARE_EVERY_S)
    assert len(board.drawings(True)) == 3


def test_the_class_holds_at_most_max_students(board, monkeypatch):
    monkeypatch.setattr(class_board, "MAX_STUDENTS", 3)
    for s in ("a", "b", "c"):
        board.share(s, picture(0), now=T0)
    with pytest.raises(ShareRefused, match="full: 3 students"):
        board.share("d", picture(0), now=T0)
    board.share("a", picture(1), now=T0 + SHARE_EVERY_S)  # those in the class still share
    assert len(board.drawings(True)) == 4


@pytest.mark.parametrize("pixels, why", [
    (np.full((28, 28), np.nan), "between 0 and 1"),
    (np.full((28, 28), np.inf), "between 0 and 1"),
    (np.full((28, 28), 1.5), "between 0 and 1"),
    (np.full((28, 28), -0.01), "between 0 and 1"),
    (np.zeros((27, 28)), "framed 28 x 28"),
    (np.zeros((2, 28, 28)), "framed 28 x 28"),
    (np.zeros((280, 280)), "framed 28 x 28"),       # the pad's own picture, never kept
    (np.zeros(783), "framed 28 x 28"),
    ("a picture", "not a picture"),
    ([[0.5] * 28] * 27 + [[0.5] * 27], "not a picture"),
    (None, "framed 28 x 28"),
    ({"png": "data:image/png;base64,"}, "not a picture"),
])
def test_what_is_not_the_framed_picture_is_refused_plainly(board, pixels, why):
    with pytest.raises(ShareRefused, match=why) as refused:
        board.share("alice", pixels, now=T0)
    assert str(refused.value).startswith("The drawing could not be shared")
    assert board.drawings(True) == [] and board.summary(ModelStore()).students == 0


def test_a_student_id_that_is_not_one_is_refused(board):
    for student in ("", "x" * 65, None, 7):
        with pytest.raises(ShareRefused, match="no student id"):
            board.share(student, picture(0), now=T0)


DEEP = b"[" * 100_000 + b"]" * 100_000       # JSON nested too deep for Python to read


@pytest.mark.parametrize("value", [
    b"not json", DEEP, b"42", b'"AAAA"',
    json.dumps(base64.b64encode(bytes(PIXELS - 1)).decode()).encode(),
    json.dumps(base64.b64encode(bytes(PIXELS + 1)).decode()).encode(),
    json.dumps("*" * 1045).encode(),                 # not base64, the right length
    json.dumps(["A" * 1045]).encode(),
])
def test_a_hostile_stored_picture_is_dropped(new_board, value):
    writer = new_board()
    kept = writer.share("alice", picture(0), now=T0)
    spoilt = writer.share("bob", picture(1), now=T0)
    writer.board.storage.put_data(ClassKey.drawing(spoilt), value)
    assert [d.id for d in new_board().drawings(True)] == [kept]
    assert new_board().summary(ModelStore()).drawings == 1


@pytest.mark.parametrize("value", [
    b"not json", DEEP, b"[1, 2]", b'{"drawings": "all of them"}',
    json.dumps({"drawings": [["a" * 12, "alice", "NaN"], [True, "bob", 1.0],
                             ["b" * 12, 42, 1.0], ["c" * 12, "x" * 65, 1.0],
                             ["../../etc", "dan", 1.0], [12345678901, "dan", 1.0],
                             ["d" * 12, "eve"], "e" * 12],
                "last_share": [1], "hidden": -3, "since": "yesterday"}).encode(),
])
def test_a_hostile_index_reads_as_what_holds_together(new_board, value):
    writer, watcher = new_board(), new_board()
    writer.share("alice", picture(0), now=T0)
    assert len(watcher.drawings(True)) == 1          # a server that read the class before
    writer.board.storage.put_data(ClassKey.INDEX, value)
    writer.board.storage.put_data(ClassKey.REVISION, b"not json either")
    reader = new_board()
    assert reader.drawings(True) == [] and reader.drawings(False) == []
    summary = reader.summary(ModelStore())
    assert (summary.drawings, summary.hidden, summary.since) == (0, 0, None)
    # the class goes on: a share writes a fresh index, under an id never used before
    again = reader.share("alice", picture(1), now=T0)
    for server in (new_board(), watcher):
        [shown] = server.drawings(True)
        assert shown.id == again and np.array_equal(shown.pixels, as_stored(picture(1)))


def test_hostile_entries_are_dropped_one_by_one(new_board):
    writer = new_board()
    first = writer.share("alice", picture(0), now=T0)
    index = stored(writer, ClassKey.INDEX)
    index["drawings"] += [[first, "alice", T0], ["0" * 12, None, T0],
                          ["a" * 12, "bob", float("inf")], ["B" * 12, "bob", T0]]
    writer.board.storage.put_data(ClassKey.INDEX, json.dumps(index).encode())
    for spoilt in ("a" * 12, "B" * 12):       # pictures there, their entries not as written
        writer.board.storage.put_data(ClassKey.drawing(spoilt), json.dumps(
            base64.b64encode(bytes(PIXELS)).decode()).encode())
    assert [d.id for d in new_board().drawings(True)] == [first]


@pytest.mark.parametrize("value", [
    b"not json", DEEP, b"[]",
    json.dumps({"page": "../../etc/passwd.py", "query": [], "label": "x", "at": 1}).encode(),
    json.dumps({"page": "https://elsewhere.example/x.py", "query": [], "label": "x",
                "at": 1}).encode(),
    json.dumps({"page": "pages/generate.py", "query": [["k"]], "label": "x", "at": 1}).encode(),
    json.dumps({"page": "pages/generate.py", "query": [], "label": "x\n" * 99,
                "at": 1}).encode(),
    json.dumps({"page": "pages/generate.py", "query": [], "label": "x", "at": "now"}).encode(),
])
def test_a_hostile_invitation_is_no_invitation(board, value):
    board.board.storage.put_data(ClassKey.INVITATION, value)
    assert board.invitation() is None
    assert board.summary(ModelStore()).invitation is None


def test_hiding_takes_a_drawing_off_every_server(new_board):
    server_a, server_b = new_board(), new_board()
    rude = server_a.share("alice", picture(0), now=T0)
    kind = server_a.share("bob", picture(1), now=T0)
    assert [d.id for d in server_b.drawings(False)] == [rude, kind]     # B has read (cached) it
    revision = server_b.revision()
    assert server_a.hide(rude) is True
    assert server_b.revision() != revision
    assert [d.id for d in server_b.drawings(False)] == [kind]
    assert [d.id for d in server_b.drawings(True)] == [kind]
    assert stored(server_a, ClassKey.drawing(rude)) is EmptyData        # deleted, not kept
    assert server_a.hide(rude) is False and server_a.hide("0" * 12) is False
    assert server_b.summary(ModelStore()).hidden == 1


def test_the_invitation_is_the_teachers_to_give_and_withdraw(new_board):
    teacher_server, student_server = new_board(), new_board()
    assert student_server.invitation() is None
    given = teacher_server.invite("pages/generate.py", {"variant": "vae", "k": "16"},
                                  "Generate (VAE, k = 16)", now=T0)
    seen = student_server.invitation(now=T0 + 1)
    assert seen == given == Invitation("pages/generate.py", (("variant", "vae"), ("k", "16")),
                                       "Generate (VAE, k = 16)", T0)
    assert seen.words == "The teacher is on Generate (VAE, k = 16)"
    assert seen.query_string == "variant=vae&k=16"
    assert student_server.summary(ModelStore(), now=T0 + 1).invitation == given
    teacher_server.withdraw()
    assert student_server.invitation(now=T0 + 1) is None


def test_an_old_invitation_is_forgotten_on_every_server_and_in_the_summary(new_board):
    teacher_server, student_server = new_board(), new_board()
    teacher_server.invite("pages/generate.py", {}, "Generate", now=T0)
    assert student_server.invitation(now=T0 + INVITATION_FRESH_S) is not None
    for now in (T0 + INVITATION_FRESH_S + 1, T0 - INVITATION_FRESH_S - 1):   # or a clock behind
        assert student_server.invitation(now=now) is None
        assert student_server.summary(ModelStore(), now=now).invitation is None


@pytest.mark.parametrize("page, query, label", [
    ("../secrets.py", {}, "x"), ("/etc/x.py", {}, "x"), ("https://x.example/y.py", {}, "x"),
    ("pages/generate", {}, "x"), ("pages/nope.py", {}, "x"), ("app.py", {}, "x"),
    ("pages/generate.py", {"k": 16}, "x"),
    ("pages/generate.py", {str(i): "1" for i in range(21)}, "x"),
    ("pages/generate.py", {"k": "1" * 101}, "x"), ("pages/generate.py", {}, ""),
    ("pages/generate.py", {}, "x" * 121), ("pages/generate.py", {}, "a\nb"),
    # Streamlit's own embed mode, which would hide the students' menu and sidebar
    ("pages/generate.py", {"embed": "true"}, "x"),
    ("pages/generate.py", {"EMBED_options": "hide_sidebar"}, "x"),
])
def test_an_invitation_that_is_not_one_is_refused(board, page, query, label):
    with pytest.raises(ValueError):
        board.invite(page, query, label)
    assert board.invitation() is None


@pytest.fixture(scope="module")
def trained_dense():
    """One tiny model, stored below under several specs (its seed differs) and owners."""
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=1))
    return train_spec(spec)


def stored_as(store: ModelStore, trained, seed: int, owner: str | None):
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=1, seed=seed))
    return store.save(spec, trained, owner=owner)


def test_clear_starts_the_next_lesson_and_keeps_the_models(board, trained_dense):
    store = ModelStore()
    alices = stored_as(store, trained_dense, 0, "alice")
    stored_as(store, trained_dense, 1, SYSTEM)       # the zoo's: never the class's
    stored_as(store, trained_dense, 2, None)         # the command line's: never the class's
    assert [m.id for m in board.models(store)] == [alices.id]
    for student in ("alice", "bob"):
        board.share(student, picture(0), now=T0)
    board.hide(board.share("carol", picture(1), now=T0))
    board.invite("pages/generate.py", {}, "Generate", now=T0)
    before = board.summary(store)
    assert (before.students, before.drawings, before.models, before.hidden) == (3, 2, 1, 1)

    created = class_board._timestamp(alices.created)
    assert board.clear(now=created + 1) == 2
    after = board.summary(store)
    assert after.to_json() == {"students": 0, "drawings": 0, "models": 0, "hidden": 0,
                               "since": created + 1, "invitation": None,
                               "per_student": PER_STUDENT, "max_students": 500}
    assert len(store.list()) == 3                     # stored models stay
    # a new lesson's share: not held by the last lesson's rate bound, and a fresh id
    again = board.share("alice", picture(2), now=T0 + 1)
    assert [d.id for d in board.drawings(True)] == [again]
    # a model of the clear's own second, kept to the second: the last lesson's
    board.clear(now=created + 0.5)
    assert board.models(store) == []
    # a model stored after the clear is the class's
    board.clear(now=created - 1)
    assert [m.id for m in board.models(store)] == [alices.id]


def test_shares_from_two_servers_at_once_are_all_kept(new_board):
    """The lock holds across servers: 2 x 15 students sharing at once lose no share."""
    servers = [new_board(), new_board()]

    def share_all(server: ClassBoard, names: list[str]) -> None:
        for name in names:
            server.share(name, picture(len(name)), now=T0)

    threads = [threading.Thread(target=share_all, args=(s, [f"{i}-{n}" for n in range(15)]))
               for i, s in enumerate(servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shown = new_board().drawings(True)
    assert len(shown) == 30 and len({d.id for d in shown}) == 30
    assert sorted(d.student for d in shown) == list(range(1, 31))
