"""The showcase belongs to the lesson: pages default to the teacher's pinned models, then the
zoo's, and a student's own models are labelled as theirs and come after them, so nothing one
student trains changes what another sees by default."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from aedemo import metrics, preprocess, ui
from aedemo import store as store_module
from aedemo.jobs import SYSTEM
from aedemo.models import build
from aedemo.service import Provenance, Service
from aedemo.spec import ModelSpec, Trained
from aedemo.store import ModelStore, StoreError
from aedemo.train import TrainConfig
from page_support import a_drawing, no_exception, row_captions
from support import REPO


class _Clock(datetime):
    """The store's clock, at least a second later on every reading, so that models saved one after
    another have creation times that differ (the store writes them to the second) without a
    test waiting a real second per model."""

    _last = datetime.min.replace(tzinfo=timezone.utc)

    @classmethod
    def now(cls, tz=None):
        # the real time, or a second after the last reading if that is later; a real clock
        # still orders these models among those saved without it
        _Clock._last = max(datetime.now(timezone.utc), _Clock._last + timedelta(seconds=1))
        return _Clock._last.astimezone(tz) if tz else _Clock._last


def stored(store: ModelStore, spec: ModelSpec, owner: str | None, seed: int = 0) -> str:
    """Save an untrained model for ``spec`` (the pages' choices, not its quality, are under
    test), later than the last by the store's clock (_Clock)."""
    model = build(spec.variant, dict(spec.hparams), seed=seed)
    with mock.patch.object(store_module, "datetime", _Clock):
        return store.save(spec, Trained(model=model, history=[], metrics={"mse": 0.05},
                                        seconds=0), owner=owner).id


def student_spec(k: int = 16, epochs: int = 3) -> ModelSpec:
    return ModelSpec.create("dense", {"latent_dim": k}, dataset="digits",
                            train=TrainConfig(epochs=epochs))


@pytest.fixture
def svc(quiet_service):
    return quiet_service


def test_a_students_newer_model_does_not_replace_the_zoos(svc):
    zoo = svc.zoo_specs[0]                            # the zoo's dense k = 16
    assert (zoo.variant, zoo.latent_dim) == ("dense", 16)
    zoo_id = stored(svc.store, zoo, SYSTEM)
    mine = stored(svc.store, student_spec(), owner="student-a", seed=1)
    for viewer in ("student-a", "student-b", None):
        assert svc.models(variant="dense", viewer=viewer)[0].id == zoo_id
    entry = svc.store.get(mine)
    assert svc.provenance(entry, "student-a") is Provenance.YOURS
    assert svc.provenance(entry, "student-b") is Provenance.OTHERS
    assert svc.provenance(svc.store.get(zoo_id), "student-b") is Provenance.ZOO


def test_a_pinned_model_comes_before_the_zoos_and_unpinning_restores_it(svc):
    zoo_id = stored(svc.store, svc.zoo_specs[0], SYSTEM)
    teachers = stored(svc.store, student_spec(epochs=30), owner=None, seed=2)
    assert svc.models(variant="dense", viewer="s")[0].id == zoo_id
    svc.store.set_pinned(teachers)
    assert svc.models(variant="dense", viewer="s")[0].id == teachers
    assert svc.provenance(svc.store.get(teachers)) is Provenance.PINNED
    svc.store.set_pinned(teachers, False)
    assert svc.models(variant="dense", viewer="s")[0].id == zoo_id
    with pytest.raises(StoreError, match="No stored model"):
        svc.store.set_pinned("0123456789ab")


def test_deleting_a_pinned_model_unpins_it(svc):
    teachers = stored(svc.store, student_spec(), owner=None)
    svc.store.set_pinned(teachers)
    svc.store.delete(teachers)
    assert teachers not in svc.store.pinned()


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b'{"pinned": "abc"}',
                                     b'{"pinned": [1, null]}'])
def test_a_broken_showcase_file_pins_nothing_and_raises_nowhere(isolated_home, garbage):
    store = ModelStore(isolated_home)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "showcase.json").write_bytes(garbage)
    assert store.pinned() == frozenset()


@pytest.fixture
def page_with_two_dense_models(isolated_home, monkeypatch):
    """The zoo's dense k = 16, then a student's newer 3-epoch one of the same k: what a class
    has a few minutes in."""
    monkeypatch.setenv("AEDEMO_ZOO", "0")
    monkeypatch.setenv("AEDEMO_WORKERS", "0")          # no training here: no worker process
    monkeypatch.setenv("AEDEMO_DATASET", "digits")
    st.cache_resource.clear()
    svc = ui.service()
    assert svc.wait_ready(60)
    zoo_id = stored(svc.store, svc.zoo_specs[0], SYSTEM)
    mine = stored(svc.store, student_spec(), owner="student-a", seed=1)

    def run(page: str, session: str) -> AppTest:
        # through app.py's navigation, as a browser gets it: a page that links to another
        # (st.page_link) finds that page only among those st.navigation was given
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.session_state["aedemo_student"] = session
        at.session_state["aedemo_drawing"] = a_drawing()
        at.run()
        at.switch_page(page)
        at.run()
        no_exception(at)
        return at

    yield run, zoo_id, mine
    svc.shutdown()
    st.cache_resource.clear()


def test_reconstructions_default_to_the_zoos_model_for_everyone(page_with_two_dense_models):
    run, zoo_id, mine = page_with_two_dense_models
    for session in ("student-a", "student-b"):
        at = run("pages/reconstructions.py", session)
        assert at.selectbox(key="rec-model").value.id == zoo_id
    labels = at.selectbox(key="rec-model").options
    assert labels[0] == "dense autoencoder, k = 16 (the lesson's)"
    # with no passphrase whoever sits at this machine teaches: a student's model is named by
    # the student's number in the class's roster
    assert labels[1] == "dense autoencoder, k = 16 (student 1's)", labels
    at = run("pages/reconstructions.py", "student-a")
    assert any(label.endswith("(yours)") for label in at.selectbox(key="rec-model").options)
    # what tells two models apart is in the tooltip: the data, the training and the id
    assert zoo_id in at.selectbox(key="rec-model").help


def test_the_draw_page_shows_the_zoos_model_and_the_students_own_apart(
        page_with_two_dense_models):
    run, zoo_id, mine = page_with_two_dense_models
    svc = ui.service()
    x = preprocess.for_dataset(a_drawing(), "digits")         # what the models are given

    def caption_of(model_id: str) -> str:
        error = metrics.mse_per_item(metrics.reconstruct(svc.load_model(model_id), x), x)
        return f"dense k=16 · MSE {float(error[0]):.4f}"

    other = run("pages/draw.py", "student-b")
    assert row_captions(other) == [caption_of(zoo_id)]
    assert caption_of(mine) not in " ".join(c.value for c in other.caption)
    own = run("pages/draw.py", "student-a")
    assert row_captions(own) == [caption_of(zoo_id)]      # the row is the lesson's
    assert f"yours: {caption_of(mine)}" in [c.value for c in own.caption]


def test_the_dataset_is_published_only_once_the_zoos_ids_are_known(isolated_home, monkeypatch):
    """A page that finds the data must also know which models are the zoo's, or it labels
    them "the teacher's" and orders them as such for a moment on a fresh server."""
    import threading

    from aedemo import zoo

    monkeypatch.setenv("AEDEMO_ZOO", "0")

    monkeypatch.setenv("AEDEMO_WORKERS", "0")          # no training here: no worker process
    monkeypatch.setenv("AEDEMO_DATASET", "digits")
    computing, release = threading.Event(), threading.Event()
    real = zoo.zoo_specs

    def slow(name):
        computing.set()
        release.wait(30)
        return real(name)

    monkeypatch.setattr(zoo, "zoo_specs", slow)
    service = Service()
    assert computing.wait(30)
    assert service.data is None
    release.set()
    assert service.wait_ready(60) and service.data is not None and service.zoo_specs
    service.shutdown()


def test_a_pin_comes_first_where_it_fits_and_never_displaces_what_a_page_needs(svc):
    """One rule for every page (Service.models): a pinned model leads among the models that
    meet the page's need, over the page's wishes, and never takes the place of what the page
    needs (a k = 2 map's k = 2, a page's variant)."""
    two = stored(svc.store, student_spec(k=2), SYSTEM)
    zoo16 = stored(svc.store, svc.zoo_specs[0], SYSTEM)
    pinned8 = stored(svc.store, student_spec(k=8), owner=None, seed=3)
    vae8 = stored(svc.store, ModelSpec.create("vae", {"latent_dim": 8}, dataset="digits"),
                  owner=None, seed=4)
    for model_id in (pinned8, vae8):
        svc.store.set_pinned(model_id)
    near16 = {"prefer": lambda m: abs(m.spec.latent_dim - 16)}
    # a wish (k near 16) gives way to the pin of the same variant
    assert svc.models(variant="dense", viewer="s", **near16)[0].id == pinned8
    # a need (a k = 2 map) does not: the pinned k = 8 comes after every k = 2
    needs_two = {"need": lambda m: m.spec.latent_dim == 2}
    assert svc.models(kind="image", viewer="s", **needs_two)[0].id == two
    # a page of dense models is not given the pinned VAE
    assert vae8 not in [m.id for m in svc.models(variant="dense", viewer="s")]
    # with no need, the pinned come first, then the zoo's
    assert [m.id for m in svc.models(variant="dense", viewer="s", **near16)] == [
        pinned8, zoo16, two]


def test_the_teachers_pins_deletes_and_cancels_become_news_for_the_class(svc):
    mine = stored(svc.store, student_spec(k=8), owner="student-a")
    start = svc.news.last_seq()
    svc.set_pinned(mine, True)
    svc.set_pinned(mine, False)
    svc.delete_model(mine, by="teacher")
    own = stored(svc.store, student_spec(k=4), owner="student-a")
    svc.delete_model(own, by="student-a")         # a student deleting their own: no news
    news = svc.news.since(start)
    assert [(i.kind, i.subject, i.owners, i.by) for i in news] == [
        ("pinned", mine, ("student-a",), "teacher"),
        ("unpinned", mine, ("student-a",), "teacher"),
        ("deleted", mine, ("student-a",), "teacher")]
    assert ModelSpec.from_dict(news[-1].spec).title == "dense autoencoder, k = 8"
    assert svc.news.since(news[-1].seq) == []


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b'{"items": "abc"}',
                                     b'{"items": [1, null, {"seq": "x"}]}',
                                     b'{"students": [1, null]}'])
def test_broken_news_and_roster_files_say_nothing_and_raise_nowhere(isolated_home, garbage):
    from aedemo.classroom import News, Roster

    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "news.json").write_bytes(garbage)
    (isolated_home / "roster.json").write_bytes(garbage)
    news, roster = News(isolated_home), Roster(isolated_home)
    assert news.items() == [] and news.last_seq() == 0
    assert roster.numbers() == {}
    assert news.add("pinned", "0123456789ab", {}, ["a"], "teacher").seq == 1
    assert roster.number("b") == 1 and roster.number("c") == 2 and roster.number("b") == 1


def test_students_are_numbered_in_the_order_they_first_asked(svc):
    svc.submit(student_spec(k=3), "student-b")
    svc.submit(student_spec(k=4), "student-a")
    svc.submit(student_spec(k=5), "student-b")
    assert svc.roster.numbers() == {"student-b": 1, "student-a": 2}
    svc.clear_queue()
