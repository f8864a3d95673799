"""The class's models on one chart (aedemo.lessons.class_models, aedemo.viz.class_models), on
the lesson store's real models, each given to a student as the worker would have stored it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from aedemo.lessons.class_models import CLASSMATE, YOURS, class_models
from aedemo.lessons.reconstructions import model_sweep
from aedemo.store import ModelStore
from aedemo.viz.class_models import class_error_figure, class_vae_figure

ALICE, BOB = "a" * 32, "b" * 32           # two students' cookie ids
NUMBERS = {ALICE: 1, BOB: 2}


@pytest.fixture(scope="module")
def stored(lesson_store):
    return [m for m in ModelStore(lesson_store).list() if m.ok]


def given(m, owner, **metrics):
    """A stored model's record as a student's: the same spec and test metrics, that owner."""
    return SimpleNamespace(id=m.id, spec=m.spec, metrics={**m.metrics, **metrics}, owner=owner)


@pytest.fixture(scope="module")
def class_list(stored):
    """Every image model twice over, Alice's then Bob's, Bob's a little worse (his MSE and
    −ELBO 10% higher), plus the LSTM of Alice's, which is no image model."""
    out = []
    for m in stored:
        out.append(given(m, ALICE))
        worse = {k: m.metrics[k] * 1.1 for k in ("mse", "neg_elbo") if k in m.metrics}
        out.append(SimpleNamespace(id=m.id[:-1] + "x", spec=m.spec,
                                   metrics={**m.metrics, **worse}, owner=BOB))
    return out


def test_the_ranking_is_the_lower_error_first_within_each_variant_and_k(class_list):
    cm = class_models(class_list, [], viewer=ALICE, numbers=NUMBERS, teacher=False)
    images = [m for m in class_list if m.spec.kind == "image"]
    assert len(cm.ranking) == len(images)               # the LSTM is left out
    groups: dict[tuple, list] = {}
    for m in images:
        value = m.metrics["neg_elbo" if m.spec.variant == "vae" else "mse"]
        groups.setdefault((m.spec.variant, m.spec.latent_dim), []).append((value, m.id))
    for (variant, k), members in groups.items():
        rows = [r for r in cm.ranking if (r["variant"], r["k"]) == (variant, k)]
        assert [r["model"] for r in rows] == [i for _, i in sorted(members)]
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    # of each pair the same model trained twice, Alice's (the better) ranks above Bob's
    rank = {r["model"]: r["rank"] for r in cm.ranking}
    for m in images:
        if m.owner == ALICE:
            assert rank[m.id] < rank[m.id[:-1] + "x"]


def test_a_student_sees_yours_and_classmates_never_a_number_or_an_id(class_list):
    cm = class_models(class_list, [], viewer=BOB, numbers=NUMBERS, teacher=False)
    assert {r["whose"] for r in cm.ranking} == {YOURS, CLASSMATE}
    assert all((r["whose"] == YOURS) == r["model"].endswith("x") for r in cm.ranking)
    shown = json.dumps([class_error_figure(cm).to_plotly_json(),
                        class_vae_figure(cm).to_plotly_json(), cm.ranking], default=str)
    assert ALICE not in shown and BOB not in shown and "student 1" not in shown


def test_the_teacher_sees_roster_numbers(class_list):
    cm = class_models(class_list, [], viewer=None, numbers=NUMBERS, teacher=True)
    assert {r["whose"] for r in cm.ranking} == {"student 1", "student 2"}


def test_the_error_chart_has_each_students_point_and_the_lessons_curve(class_list, stored):
    zoo = [m for m in stored if m.spec.variant in ("dense", "conv")]
    cm = class_models(class_list, zoo, viewer=ALICE, numbers=NUMBERS, teacher=False)
    assert cm.reference == model_sweep(zoo, ("dense", "conv"))
    fig = class_error_figure(cm)
    traces = {t.name: t for t in fig.data}
    dense = [m for m in class_list if m.spec.variant == "dense"]
    points = traces["dense, the class's models"]
    assert sorted(zip(points.x, points.y)) == sorted(
        (m.spec.latent_dim, m.metrics["mse"]) for m in dense)
    curve = traces["dense, the lesson's models"]
    assert list(curve.x) == [k for k, _, _ in cm.reference["dense"]]
    mine = traces["yours"]
    assert len(mine.x) == sum(1 for m in class_list
                              if m.owner == ALICE and m.spec.variant in ("dense", "conv"))
    assert "vae, the class's models" not in traces        # VAEs go on their own plane


def test_the_vae_plane_rings_only_the_viewers_own(class_list):
    cm = class_models(class_list, [], viewer=ALICE, numbers=NUMBERS, teacher=False)
    vaes = [m for m in class_list if m.spec.variant == "vae"]
    assert sorted(p.model_id for p in cm.vaes) == sorted(m.id for m in vaes)
    ring = next(t for t in class_vae_figure(cm).data if t.name == "yours")
    assert len(ring.x) == sum(1 for m in vaes if m.owner == ALICE)
    assert "yours" not in {t.name for t in class_vae_figure(
        class_models(class_list, [], viewer="c" * 32, numbers=NUMBERS, teacher=False)).data}


def test_a_model_without_a_finite_test_error_is_left_out(stored):
    dense = next(m for m in stored if m.spec.variant == "dense")
    cm = class_models([given(dense, ALICE, mse=float("nan")), given(dense, BOB, mse=None)], [],
                      viewer=ALICE, numbers=NUMBERS, teacher=False)
    assert cm.empty and not cm.errors
