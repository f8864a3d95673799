"""The Class page (issue 22): the class's shared drawings on the lesson model's latent map, each
placed and judged as the Draw page places and judges a drawing (draw.place and its verdict, the
trusted reference); who sees whose drawing; the teacher's Hide and Clear, which a student may
not do; and a share from the Draw page arriving on the map. Pages run as the real scripts by
AppTest on a copy of the lesson's models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from aedemo import preprocess, ui
from aedemo.lessons import class_view, draw
from aedemo.spec import ModelSpec, Trained
from aedemo.viz.class_view import UNUSUAL, USUAL
from page_support import a_drawing, as_browser, classroom_service, figure, no_exception, values
from support import REPO

SECRET = "a passphrase for the class"
ALICE, BOB, TEACHER_BROWSER = "a" * 32, "b" * 32, "c" * 32
CLASS, DRAW = "pages/class_view.py", "pages/draw.py"


def scribble() -> torch.Tensor:
    """A framed picture no digit looks like: ink everywhere in a checkerboard."""
    x = torch.zeros(1, 1, 28, 28)
    x[..., ::2, ::2] = 1.0
    x[..., 1::2, 1::2] = 1.0
    return x


@pytest.fixture
def classroom(isolated_home, lesson_store, monkeypatch):
    """A server with a teacher's passphrase and the lesson's models; ``visit(student, page,
    teacher=...)`` runs app.py and opens the page as that browser."""

    def visit(student: str, page: str = CLASS, *, teacher: bool = False) -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        as_browser(at, student, teacher_passphrase=SECRET if teacher else None)
        at.run()
        at.switch_page(page)
        at.run()
        no_exception(at)
        return at

    with classroom_service(isolated_home, lesson_store, monkeypatch, SECRET):
        yield visit


def class_traces(at: AppTest) -> dict[str, dict]:
    """The map's two traces of shared drawings, by their name without the count."""
    fig = figure(at, 0)
    return {t["name"].split(" (")[0]: t for t in fig["data"]
            if t["name"].startswith((USUAL, UNUSUAL))}


def drawing_ids(at: AppTest) -> list[str]:
    return sorted(i for t in class_traces(at).values() for i in t["customdata"])


def hovers(at: AppTest) -> str:
    return " ".join(h for t in class_traces(at).values() for h in t["text"])


def hide_buttons(at: AppTest) -> dict[str, object]:
    return {b.key: b for b in at.button if b.key and "-hide-" in b.key}


def share(student: str, x: torch.Tensor) -> str:
    return ui.service().class_board.share(student, x)


# --- the lesson, against the Draw page's own placing and verdict ---------------------------

def test_each_drawing_lands_where_the_draw_page_puts_it_and_gets_its_verdict(classroom):
    svc = ui.service()
    stored = next(m for m in svc.models(variant="dense") if m.spec.latent_dim == 16)
    model = svc.load_model(stored.id)
    views = svc.derived(draw.model_views, stored)
    pictures = [a_drawing()[0, 0].numpy(), scribble()[0, 0].numpy(), np.zeros((28, 28))]
    pictures[2][6:22, 13:15] = 1.0                                     # a "1"
    points = class_view.class_points(model, views, ["a", "b", "c"], pictures)
    verdicts = []
    for p, pixels in zip(points, pictures):
        where = draw.place(model, views, torch.tensor(pixels, dtype=torch.float32)[None, None])
        assert p.point == pytest.approx(where.point.reshape(2), abs=1e-4)
        assert p.error == pytest.approx(where.error, rel=1e-4)
        assert p.percentile == pytest.approx(where.percentile)
        # the colour follows the words the Draw page says for the same drawing
        said = draw.describe_percentile(where.percentile, where.ink_kept)
        assert p.unusual == said.startswith("**Unusual.**")
        verdicts.append(p.unusual)
    assert verdicts[1], "a checkerboard must look unusual to the model"
    assert class_view.class_points(model, views, [], []) == []


# --- the page ---------------------------------------------------------------------------------

def test_the_shared_drawings_are_points_on_the_map_and_a_student_sees_nobodys_name(classroom):
    ids = [share(ALICE, a_drawing()), share(BOB, scribble())]
    at = classroom(ALICE)
    assert drawing_ids(at) == sorted(ids)
    traces = class_traces(at)
    assert ids[1] in traces[UNUSUAL]["customdata"]            # the scribble, told apart
    assert len(values(traces[USUAL]["x"])) + len(values(traces[UNUSUAL]["x"])) == 2
    assert "the class's 2 drawings" in figure(at, 0)["layout"]["title"]["text"]
    # the drawing and its copy in the hover, its own marked as hers, nobody's number
    assert "reconstruction" in hovers(at) and "your drawing" in hovers(at)
    assert "student " not in hovers(at)
    shown = " ".join(e.value for e in [*at.markdown, *at.caption, *at.subheader])
    assert "student 1" not in shown and "student 2" not in shown
    # the map in words once: a caption for everyone, not again for screen readers alone
    assert shown.count("2 shared drawings on the map") == 1
    assert not hide_buttons(at) and not [b for b in at.button if b.label == "Clear the map"]


def test_the_teacher_sees_whose_each_drawing_is_and_hides_one(classroom):
    first, second = share(ALICE, a_drawing()), share(BOB, scribble())
    at = classroom(TEACHER_BROWSER, teacher=True)
    assert "student 1" in hovers(at) and "student 2" in hovers(at)
    assert {m.value for m in at.markdown} >= {"student 1", "student 2"}
    assert set(hide_buttons(at)) == {f"class-map-hide-{first}", f"class-map-hide-{second}"}
    hide_buttons(at)[f"class-map-hide-{second}"].click().run()
    no_exception(at)
    assert [d.id for d in ui.service().class_board.drawings(False)] == [first]
    assert drawing_ids(at) == [first]
    # and it leaves a student's page at the next run of its map
    assert drawing_ids(classroom(ALICE)) == [first]


def test_a_student_cannot_hide_a_drawing(classroom):
    kept = share(BOB, scribble())
    at = classroom(ALICE)
    assert not hide_buttons(at)
    # a browser that held the role when the button was drawn, and lost it: the role is asked
    # again with the click's run, which hides nothing and takes the buttons away
    at = classroom(ALICE, teacher=True)
    at.session_state["aedemo_teacher"] = "not the teacher's token"
    hide_buttons(at)[f"class-map-hide-{kept}"].click().run()
    no_exception(at)
    assert [d.id for d in ui.service().class_board.drawings(False)] == [kept]
    assert drawing_ids(at) == [kept] and not hide_buttons(at)
    assert "student " not in hovers(at)


def test_the_teacher_clears_the_map_after_saying_yes(classroom):
    share(ALICE, a_drawing())
    share(BOB, scribble())
    at = classroom(TEACHER_BROWSER, teacher=True)
    next(b for b in at.button if b.label == "Clear the map").click().run()
    assert ui.service().class_board.drawings(False), "nothing goes before the confirmation"
    assert any("All 2 drawings leave every screen" in w.value for w in at.warning)
    at.button(key="class-map-clear-yes").click().run()
    no_exception(at)
    assert ui.service().class_board.drawings(False) == []
    assert drawing_ids(at) == []


def test_a_share_from_the_draw_page_arrives_on_the_class_map(classroom):
    at = classroom(ALICE, DRAW)
    assert at.button(key="draw-share").disabled                    # no drawing yet
    x = a_drawing()
    at.session_state["aedemo_drawing"] = x
    at.run()
    assert not at.button(key="draw-share").disabled
    at.button(key="draw-share").click().run()
    no_exception(at)
    assert any("Shared" in s.value for s in at.success)
    (shared,) = ui.service().class_board.drawings(False, ALICE)
    assert shared.mine
    # the framed input the verdict judged, as the models were given it (8-bit as stored)
    given = ui.service().data.source
    expected = preprocess.for_dataset(x, given)[0, 0].numpy()
    assert np.abs(shared.pixels - expected).max() <= 0.5 / 255 + 1e-6
    # a second share at once is refused in a sentence, not a traceback
    at.button(key="draw-share").click().run()
    no_exception(at)
    assert any("one drawing every" in w.value for w in at.warning)
    assert drawing_ids(classroom(BOB)) == [shared.id]


# --- the class's models -----------------------------------------------------------------------

def models_table(at: AppTest) -> list[dict]:
    """The ranking table of the class's models, as rows."""
    frames = [d for d in at.dataframe if "whose" in d.value.columns]
    return frames[0].value.to_dict("records") if frames else []


def test_a_students_model_this_lesson_is_on_the_class_chart_theirs_to_them_numbered_to_the_teacher(
        classroom):
    svc = ui.service()
    stored = next(m for m in svc.models(variant="dense") if m.spec.latent_dim == 16)
    model, record = svc.store.load(stored.id)
    at = classroom(ALICE)
    assert not models_table(at)
    assert any("No student has trained" in c.value for c in at.caption)
    # Alice's own dense k = 16, trained this lesson: stored as the worker stores a model
    spec = ModelSpec.create("dense", {"latent_dim": 16}, dataset=record.spec.dataset,
                            train=dataclasses.replace(record.spec.train, seed=12345))
    mine = svc.store.save(spec, Trained(model=model, history=list(record.history),
                                        metrics=dict(record.metrics), seconds=1.0),
                          owner=ALICE)
    svc.class_board.roster.enrol([BOB, ALICE])
    rows = models_table(classroom(ALICE))
    assert [(r["variant"], r["k"], r["whose"], r["model"]) for r in rows] == \
        [("dense", 16, "yours", mine.id)]
    assert rows[0]["value"] == pytest.approx(record.metrics["mse"])
    assert [r["whose"] for r in models_table(classroom(BOB))] == ["a classmate's"]
    assert [r["whose"] for r in models_table(classroom(TEACHER_BROWSER, teacher=True))] == \
        ["student 2"]


def test_only_the_teacher_is_offered_the_class_as_a_download(classroom):
    share(ALICE, a_drawing())
    teacher = classroom(TEACHER_BROWSER, teacher=True)
    labels = [b.proto.label for b in teacher.get("download_button")]
    assert labels == ["Download the class"]
    assert not classroom(ALICE).get("download_button")
