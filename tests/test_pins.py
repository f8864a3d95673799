"""A pin means one thing on every page (Service.models: what the page needs, then the teacher's
pins, then the page's wishes): a pinned model is the default wherever its variant and kind fit
the page, and never replaces a page's model of another variant or a map that needs k = 2. Each
page runs as the real script (AppTest) on small untrained models: the choice is under test,
not the models' quality."""

from __future__ import annotations

import pytest

from aedemo import ui
from aedemo.jobs import SYSTEM
from aedemo.models import build
from aedemo.spec import ModelSpec, Trained
from aedemo.train import TrainConfig
from aedemo.zoo import SPARSE_L1
from page_support import no_exception


def stored(store, spec: ModelSpec, owner: str | None) -> str:
    """An untrained model for ``spec``, saved at once: what these pages choose depends on
    needs, pins and wishes, never on which was stored last (test_showcase's ``stored`` waits
    a second between models for that)."""
    model = build(spec.variant, dict(spec.hparams), seed=0)
    return store.save(spec, Trained(model=model, history=[], metrics={"mse": 0.05}, seconds=0),
                      owner=owner).id


@pytest.fixture
def classroom(app):
    """The zoo's models that the pages default to, stored; ``pin(variant, **hparams)`` stores
    the teacher's own model and pins it; ``run(page)`` runs a page through app.py's menu (the
    pages link to each other)."""
    svc = ui.service()
    assert svc.wait_ready(60)

    def zoo(variant: str, **hparams) -> str:
        spec = next(s for s in svc.zoo_specs if s.variant == variant
                    and all(dict(s.hparams).get(k) == v for k, v in hparams.items()))
        return stored(svc.store, spec, SYSTEM)

    def pin(variant: str, **hparams) -> str:
        spec = ModelSpec.create(variant, hparams, dataset=svc.data.source,
                                train=TrainConfig(epochs=30))
        model_id = stored(svc.store, spec, owner=None)
        svc.set_pinned(model_id, True)
        return model_id

    def listed(at, key: str, model_id: str) -> bool:
        """Whether the picker ``key`` offers the model (named for people, by its title)."""
        title = svc.store.get(model_id).spec.title
        return any(title in label for label in at.selectbox(key=key).options)

    def run(page: str):
        at = app(page)
        no_exception(at)
        return at

    return zoo, pin, run, listed


def test_a_pinned_vae_is_offered_on_reconstructions_but_the_default_stays_dense(classroom):
    zoo, pin, run, listed = classroom
    dense16 = zoo("dense", latent_dim=16)
    pinned = pin("vae", latent_dim=8)
    at = run("pages/reconstructions.py")
    assert at.selectbox(key="rec-model").value.id == dense16     # the lesson's variant, dense
    assert listed(at, "rec-model", pinned)


def test_a_pinned_vae_of_another_k_does_not_replace_latent_spaces_2d_maps(classroom):
    zoo, pin, run, listed = classroom
    vae2 = zoo("vae", latent_dim=2)
    zoo("dense", latent_dim=2)                  # the plain half of the 2D pair
    pinned = pin("vae", latent_dim=8)
    at = run("pages/latent_space.py")
    assert at.selectbox(key="latent-model").value.id == vae2     # its map needs k = 2
    assert listed(at, "latent-model", pinned)
    assert "VAE (k = 2)" in [h.value for h in at.subheader]      # the pair, both 2D


def test_a_pinned_dense_model_of_another_k_is_the_reconstructions_default(classroom):
    zoo, pin, run, listed = classroom
    zoo("dense", latent_dim=16)
    pinned = pin("dense", latent_dim=8)
    at = run("pages/reconstructions.py")
    assert at.selectbox(key="rec-model").value.id == pinned     # k = 16 was only a wish
    assert at.select_slider(key="rec-k").value == 8


def test_a_pinned_2d_vae_of_another_beta_is_the_default_where_a_vae_fits(classroom):
    """Generate needs only a VAE (its sections work for any k and beta), and Latent space a
    k = 2 code: beta = 1 and a k above 2 are wishes, which the teacher's pin overrides."""
    zoo, pin, run, listed = classroom
    zoo("vae", latent_dim=16)
    zoo("vae", latent_dim=2)
    pinned = pin("vae", latent_dim=2, beta=4.0)
    assert run("pages/generate.py").selectbox(key="gen-vae").value.id == pinned
    assert run("pages/latent_space.py").selectbox(key="latent-model").value.id == pinned


def test_a_pinned_sparse_control_is_listed_but_the_default_has_a_penalty(classroom):
    zoo, pin, run, listed = classroom
    penalised = zoo("sparse", latent_dim=64, l1=SPARSE_L1)
    control = pin("sparse", latent_dim=64, l1=0.0)
    at = run("pages/insights.py")
    assert at.selectbox(key="ins-sparse").value.id == penalised
    assert listed(at, "ins-sparse", control)


def test_a_pinned_vae_whose_weights_are_not_numbers_breaks_no_page(classroom):
    """Its weights turned NaN after the pin (a file the store never wrote): the store lists it
    as unusable, so Latent space shows the zoo's VAE to every student, with no traceback."""
    import math

    from safetensors.torch import load_file, save_file

    zoo, pin, run, listed = classroom
    vae2 = zoo("vae", latent_dim=2)
    zoo("dense", latent_dim=2)
    pinned = pin("vae", latent_dim=2, beta=4.0)
    store = ui.service().store
    weights = store.dir / f"{pinned}.safetensors"
    state = load_file(weights)
    save_file({k: v.fill_(math.nan) if v.is_floating_point() else v for k, v in state.items()},
              weights)
    at = run("pages/latent_space.py")
    assert at.selectbox(key="latent-model").value.id == vae2
    assert not listed(at, "latent-model", pinned)
    assert "VAE (k = 2)" in [h.value for h in at.subheader]


def test_a_stroke_on_the_draw_page_reads_the_pins_at_most_once(classroom, monkeypatch):
    """The Draw page asks for the pins some 30 times a run (every picker, the row, each
    provenance): the showcase file is read again only once it has changed, so a stroke reads
    it at most once, and a pin the teacher makes between two strokes is in the next one."""
    from aedemo import store as store_module
    from page_support import a_drawing

    zoo, pin, run, listed = classroom
    zoo("dense", latent_dim=16)
    zoo("vae", latent_dim=16)
    reads = []
    real_read = store_module.read_regular_file

    def counted(path, limit):
        if path.name == "showcase.json":
            reads.append(path)
        return real_read(path, limit)

    monkeypatch.setattr(store_module, "read_regular_file", counted)
    at = run("pages/draw.py")
    at.session_state["aedemo_drawing"] = a_drawing()
    pinned = pin("dense", latent_dim=8)              # the teacher pins between two strokes
    reads.clear()
    at.run()
    no_exception(at)
    assert at.selectbox(key="draw-model").value == pinned
    assert len(reads) == 1                           # the new pin, read once for the whole run
    at.run()                                         # another stroke, nothing pinned since
    no_exception(at)
    assert len(reads) == 1
