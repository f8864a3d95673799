"""The first-start zoo teaches what the pages say."""

from __future__ import annotations

from test_showcase import stored

from aedemo import data as datasets
from aedemo import ui, zoo
from aedemo.jobs import SYSTEM
from page_support import no_exception


def test_every_k_of_the_dense_sweep_gets_the_same_training_budget():
    # a sweep whose small ks trained longer would show error falling with k for the wrong
    # reason (it once gave k = 2 and 16 five epochs and the rest four)
    for name in (datasets.MNIST_SUBSET, datasets.SKLEARN_DIGITS):
        dense = [s for s in zoo.zoo_specs(name) if s.variant == "dense" and not s.normal
                 and not s.subset and s.latent_dim < datasets.IMAGE_PIXELS]
        assert sorted(s.latent_dim for s in dense) == list(zoo.BOTTLENECK_SWEEP)
        assert len({s.train for s in dense}) == 1, name


def test_the_zoo_has_the_anomaly_pages_default_detector(app):
    """The Anomaly page has a detector on first open, and training its default settings finds
    the zoo's stored at once instead of queueing the same model again."""
    specs = zoo.zoo_specs("digits")
    detector, = [s for s in specs if s.normal]
    images = datasets.load_images("digits")
    assert detector == zoo.detector_spec(images, (0,), "dense", 16)
    at = app()                           # the service, on the digits, with no zoo training
    stored(ui.service().store, detector, SYSTEM)
    at.switch_page("pages/anomaly.py").run()
    no_exception(at)
    assert at.selectbox(key="anomaly-model").value == detector.key
    at.button(key="anomaly-train").click().run()
    job, = ui.service().jobs.jobs()
    assert job.reused and job.model_id == detector.key


def test_the_zoos_sparse_model_keeps_most_units_alive_and_each_draws_a_stroke():
    """Trained as the zoo trains it on the offline MNIST digits (about 3 s): most of its 64
    units fire, each digit uses few of them, and each unit's atom is a stroke of a few pixels,
    not a whole digit (the dense decoder with L1 = 1 kept 9 units, each atom a whole digit)."""
    from aedemo.lessons import insights
    from aedemo.spec import train_spec

    spec, = [s for s in zoo.zoo_specs(datasets.MNIST_SUBSET)
             if s.variant == "sparse" and dict(s.hparams)["l1"] == zoo.SPARSE_L1]
    model = train_spec(spec).model
    stats = insights.code_stats(model, datasets.load_mnist_subset().x_test)
    live = stats.firing_rate() >= 0.01
    assert live.sum() >= 40 and stats.active_per_image <= 20
    atoms = insights.atoms(model, stats.activation_scale())[live]
    ink = atoms - insights.empty_code_image(model)
    pixels = (ink > 0.3).flatten(1).sum(dim=1).float()
    assert pixels.median() < 40, pixels.median()       # a digit has over 100 inked pixels


def test_the_zoos_vae_with_beta_above_one_has_inactive_units():
    """The Generate page's inactive units must be there to see: the zoo's beta = 1 VAE at
    k = 16 uses all 16 units, so the zoo trains one with beta > 1 beside it; trained as the zoo
    trains it on the offline MNIST digits (about 8 s), some of its units carry no information
    (mean KL under ACTIVE_KL), and most still do."""
    from aedemo.models.vae import ACTIVE_KL
    from aedemo.spec import train_spec

    specs = zoo.zoo_specs(datasets.MNIST_SUBSET)
    betas = {dict(s.hparams)["beta"] for s in specs if s.variant == "vae" and s.latent_dim == 16}
    assert {0.25, 1.0, 4.0} <= betas
    spec, = [s for s in specs if s.variant == "vae" and dict(s.hparams)["beta"] > 1]
    metrics = train_spec(spec).metrics
    assert 0 < metrics["active_units"] < spec.latent_dim, metrics
    assert metrics["active_units"] >= spec.latent_dim // 2
    assert ACTIVE_KL > 0


def test_the_zoo_has_the_controls_the_pages_compare_with():
    """The sparse network without its penalty, a code wider than the image, and the dense
    k = 16 on fewer digits with the same steps as on all of them."""
    specs = zoo.zoo_specs(datasets.MNIST_SUBSET)
    l1s = {dict(s.hparams)["l1"] for s in specs if s.variant == "sparse"}
    assert {0.0, zoo.SPARSE_L1} <= l1s
    assert any(s.variant == "dense" and s.latent_dim >= datasets.IMAGE_PIXELS for s in specs)
    full, = [s for s in specs if s.variant == "dense" and s.latent_dim == 16 and not s.normal
             and not s.subset]
    subsets = [s for s in specs if s.subset]
    assert sorted(s.subset for s in subsets) == list(zoo.OVERFIT_SUBSETS)
    assert all(s.train == full.train and s.latent_dim == 16 for s in subsets)
