"""``python -m aedemo class``: the class's state as the teacher's terminal sees it (aedemo.cli,
aedemo.class_board), on the queue's storage of a fresh home, and on a real Redis."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import cli as in_a_process
from test_cli import cli_here

from aedemo import taskqueue
from aedemo.class_board import FRAME, INVITATION_FRESH_S, SHARE_EVERY_S, ClassBoard
from aedemo.classroom import Roster
from aedemo.lessons.class_export import class_chart, class_export
from aedemo.preprocess import for_dataset
from aedemo.store import ModelStore
from support import trained_tiny

T0 = 1_800_000_000.0


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 1, FRAME, FRAME), dtype=np.float32)


def as_stored(x: np.ndarray) -> np.ndarray:
    """What the class keeps of a picture: 8 bits a pixel."""
    return np.round(x.reshape(FRAME, FRAME) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trained_map():
    """A tiny model with a 2-D code on the digits, trained once for the module."""
    return trained_tiny("dense", 2)


@pytest.fixture
def lesson(isolated_home, trained_map):
    """A class in the fresh home: carol trained the map's model, alice and carol shared two
    drawings and one, the teacher invited the class to Generate."""
    spec, trained = trained_map
    store = ModelStore(isolated_home)
    model = store.save(spec, trained, owner="carol")
    board = ClassBoard(taskqueue.connect(isolated_home), Roster(isolated_home))
    Roster(isolated_home).number("carol")
    shared = {board.share("alice", picture(0), now=T0): picture(0),
              board.share("alice", picture(1), now=T0 + SHARE_EVERY_S): picture(1),
              board.share("carol", picture(2), now=T0): picture(2)}
    board.invite("pages/generate.py", {"variant": "vae", "k": "16"}, "Generate (VAE, k = 16)")
    return board, store, model, shared


def test_an_empty_class_in_json(capsys):
    code, out, err = cli_here(capsys, "class", "--json")
    assert code == 0, err
    assert json.loads(out) == {"students": 0, "drawings": 0, "models": 0, "hidden": 0,
                               "since": None, "invitation": None, "per_student": 3,
                               "max_students": 500}


def test_the_class_in_json_as_the_teacher_types_it(lesson):
    run = in_a_process("class", "--json")            # a process of its own, once
    assert run.returncode == 0, run.stderr
    state = json.loads(run.stdout)
    assert {k: state[k] for k in ("students", "drawings", "models", "hidden")} == {
        "students": 2, "drawings": 3, "models": 1, "hidden": 0}
    assert state["invitation"]["page"] == "pages/generate.py"
    assert state["invitation"]["label"] == "Generate (VAE, k = 16)"


def test_the_class_in_words(lesson, capsys):
    code, out, _ = cli_here(capsys, "class")
    assert code == 0
    assert "2 student(s), 3 shared drawing(s) (0 hidden), 1 model(s)" in out
    assert "The teacher is on Generate (VAE, k = 16) (pages/generate.py?variant=vae&k=16)" in out


def test_an_old_invitation_is_not_said(lesson, capsys):
    board = lesson[0]
    board.invite("pages/generate.py", {}, "Generate", now=time.time() - INVITATION_FRESH_S - 60)
    code, out, _ = cli_here(capsys, "class", "--json")
    assert code == 0 and json.loads(out)["invitation"] is None
    code, out, _ = cli_here(capsys, "class")
    assert "The teacher is on" not in out


def test_export_writes_the_drawings_the_models_and_an_offline_chart(lesson, tmp_path, capsys):
    board, store, model, shared = lesson
    folder = tmp_path / "class"
    code, out, err = cli_here(capsys, "class", "--export", str(folder), "--json")
    assert code == 0, err
    assert json.loads(out)["exported"] == {"drawings": 3, "models": 1, "chart": "chart.html",
                                           "no_chart": None}
    numbers = Roster(store.root).numbers()          # carol joined first
    assert numbers == {"carol": 1, "alice": 2}
    # oldest first: alice's two, then carol's one
    names = ["drawing-1-student-2.png", "drawing-2-student-2.png", "drawing-3-student-1.png"]
    assert sorted(p.name for p in (folder / "drawings").iterdir()) == names
    for name, x in zip(names, shared.values()):
        with Image.open(folder / "drawings" / name) as img:
            assert img.mode == "L" and img.size == (FRAME, FRAME)
            np.testing.assert_array_equal(np.asarray(img), as_stored(x))

    with (folder / "models.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"id": model.id, "student": "1", "variant": "dense", "latent_dim": "2",
                     "dataset": "digits", "epochs": "1", "created": model.created,
                     "test_mse": str(model.metrics["mse"])}]

    html = (folder / "chart.html").read_text()
    # offline: plotly's own script inside the page, no script fetched from elsewhere (a CDN)
    assert re.search(r"<script[^>]*\ssrc=", html) is None and len(html) > 1_000_000
    figure = html.split("Plotly.newPlot", 1)[1]        # the chart's own part, after plotly.js
    assert "student 1" in figure and "student 2" in figure
    assert "alice" not in figure and "carol" not in figure


def test_the_teachers_download_is_the_folder_the_command_writes(lesson, tmp_path, capsys):
    """The Class page's one zip (ClassExport.zipped) holds the very files of --export DIR."""
    board, store, _, _ = lesson
    folder = tmp_path / "class"
    code, _, err = cli_here(capsys, "class", "--export", str(folder))
    assert code == 0, err
    written = {p.relative_to(folder).as_posix(): p.read_bytes()
               for p in folder.rglob("*") if p.is_file()}
    with zipfile.ZipFile(io.BytesIO(class_export(board, store).zipped())) as z:
        zipped = {name: z.read(name) for name in z.namelist()}
    assert zipped.keys() == written.keys() and len(zipped) == 5
    for name, content in written.items():
        if name != "chart.html":           # plotly names each chart's element afresh
            assert zipped[name] == content, name


def test_the_chart_puts_each_drawing_at_its_code(lesson):
    """The stars sit where the model itself encodes the stored pictures (k = 2: the code's
    own axes), the framing for the digits re-made as the Draw page does."""
    board, store, model, shared = lesson
    figure, why, _ = class_chart(store, board.drawings(viewer_is_teacher=True), None)
    assert why is None
    net, _ = store.load(model.id)
    stars = {t.name: np.column_stack([t.x, t.y]) for t in figure.data if t.mode ==
             "markers+text"}
    assert stars.keys() == {"student 1", "student 2"}
    alices, carols = list(shared.values())[:2], list(shared.values())[2:]
    for name, pictures in (("student 2", alices), ("student 1", carols)):
        x = torch.from_numpy(np.stack([as_stored(p) / np.float32(255) for p in pictures])
                             ).float().unsqueeze(1)
        with torch.no_grad():
            codes = net.encode(for_dataset(x, "digits")).numpy()
        np.testing.assert_allclose(stars[name], codes, rtol=1e-5, atol=1e-6)


def test_no_chart_without_a_model_says_why(isolated_home, tmp_path, capsys):
    board = ClassBoard(taskqueue.connect(isolated_home), Roster(isolated_home))
    board.share("alice", picture(0), now=T0)
    code, out, _ = cli_here(capsys, "class", "--export", str(tmp_path / "out"))
    assert code == 0
    assert "wrote 1 drawing(s), 0 model(s) in models.csv to" in out
    assert "no chart: no stored image model has a 2-D code" in out
    assert not (tmp_path / "out" / "chart.html").exists()


def test_export_then_clear_empties_the_class_and_keeps_the_models(lesson, tmp_path, capsys):
    board, store, model, _ = lesson
    code, out, _ = cli_here(capsys, "class", "--clear", "--export", str(tmp_path), "--json")
    state = json.loads(out)
    assert code == 0 and state["cleared"] == 3
    # the lesson was written before it was cleared
    assert state["exported"]["drawings"] == 3 and len(list((tmp_path / "drawings").iterdir())) == 3
    assert (state["drawings"], state["invitation"], state["students"]) == (0, None, 0)
    assert state["models"] == 0 and state["since"] is not None
    assert [m.id for m in store.list()] == [model.id]       # the model stays stored
    assert board.drawings(viewer_is_teacher=True) == []


def test_model_without_export_is_a_usage_error(capsys):
    code, _, err = cli_here(capsys, "class", "--model", "0123456789ab")
    assert code == 2 and "--model names the chart's model: it goes with --export DIR" in err


@pytest.mark.parametrize("args, message", [
    (["--model", "0123456789ab"], "no stored image model 0123456789ab"),
    (["--model", "../../etc"], "no stored image model"),
])
def test_bad_export_arguments_exit_2_with_a_sentence(lesson, tmp_path, capsys, args, message):
    code, _, err = cli_here(capsys, "class", "--export", str(tmp_path / "out"), *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()                  # nothing half written


def test_an_export_folder_that_cannot_be_written_is_said(lesson, tmp_path, capsys):
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    code, _, err = cli_here(capsys, "class", "--export", str(taken))
    assert code == 2 and f"cannot write the class to {taken}" in err


def test_two_servers_on_one_redis_are_one_class(redis_server, isolated_home, monkeypatch,
                                                capsys):
    redis_server.flush()
    monkeypatch.setenv("AEDEMO_REDIS_URL", redis_server.url)
    for student in ("alice", "bob"):        # each on a server of its own
        ClassBoard(taskqueue.connect(isolated_home, redis_server.url),
                   Roster(isolated_home)).share(student, picture(0), now=T0)
    code, out, _ = cli_here(capsys, "class", "--json")
    assert code == 0 and json.loads(out)["drawings"] == 2
    # and nothing of it in the SQLite file beside the store
    assert ClassBoard(taskqueue.connect(isolated_home), Roster(isolated_home)).drawings(
        True) == []


def test_a_queue_out_of_reach_is_said_not_raised(isolated_home, monkeypatch, capsys):
    from support import free_port

    monkeypatch.setenv("AEDEMO_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code, out, err = cli_here(capsys, "class", "--json")
    assert code == 1 and not out
    assert err.startswith("error: The job queue cannot be reached") and "Traceback" not in err
