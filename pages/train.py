from dataclasses import replace

import streamlit as st

from aedemo import data as datasets
from aedemo import links, ui
from aedemo.jobs import JobError
from aedemo.metrics import training_set_bce_floor
from aedemo.models import REGISTRY, variant_names
from aedemo.models.base import checked_value
from aedemo.spec import ModelSpec, suggested_train
from aedemo.train import TrainConfig
from aedemo.viz.train import curves_note

st.title("Train")
st.markdown(
    "Pick a variant and its settings, then **Start**. Training runs in the background on the "
    "server, one job at a time, so you can switch pages and come back; the model is stored when "
    "it finishes and every page can use it. What its loss curve shows depends on the variant: "
    "see under the settings.")

svc = ui.service()
link = ui.linked_settings("train")
train_fields = {f.name: f for f in TrainConfig.__dataclass_fields__.values()}

# The student's jobs come first, above the settings: on a laptop's screen a panel drawn under
# them appeared below the fold, and students pressed Start again. Filled once Start is handled.
panels = st.container()

# The settings this browser chose last, by widget key: a reload is a new session, and would
# otherwise start from the defaults (ui.remember_changes writes them back as they change).
FORM = "train-form"
kept = ui.recall(FORM) or {}


def kept_or(key: str, default, allowed=None):
    """This browser's last value for a widget, if it is still one the widget takes."""
    value = kept.get(key)
    if value is None or (allowed is not None and not allowed(value)):
        return default
    return value


def kept_field(key: str, field, default):
    """This browser's last value for a config field's widget, through the field's own check
    (the form's, a link's and the CLI's: models.base.checked_value), or ``default``."""
    try:
        return checked_value(field, kept_or(key, default))
    except ValueError:
        return default


with st.container(border=True):
    left, mid, right = st.columns(3)
    names = variant_names()
    variant = left.selectbox(
        "Variant", names, index=names.index(kept_or("train-variant", names[0], names.__contains__)),
        format_func=lambda n: f"{n}: {REGISTRY[n].summary}",
        key=link.seed(links.choice_param("variant", names), "train-variant"))
    cls = REGISTRY[variant]
    refused = None             # why Start is off: the dataset loading, or one not here
    dataset_key = "train-series"
    if cls.kind == "sequence":
        dataset = left.selectbox("Dataset", [datasets.SERIES],
                                 key=link.seed(links.choice_param("dataset", [datasets.SERIES]),
                                               dataset_key),
                                 help="Generated noisy sine mixtures (see the Sequences page)")
    else:
        data = svc.data            # read once: it may arrive while this run draws the form
        dataset_key = "train-dataset" if data else "train-dataset-loading"
        default_set = data.source if data else "mnist"
        options = list(dict.fromkeys([default_set, *datasets.IMAGE_DATASETS]))
        dataset = left.selectbox(
            "Dataset", options,
            index=options.index(kept_or("train-dataset", default_set, options.__contains__)),
            # until the app's dataset has loaded its name is not known: that first widget is
            # replaced (a key of its own) by one that starts on it; a link's dataset waits for it
            key=link.seed(links.choice_param("dataset", options), dataset_key) if data else
            dataset_key,
            help="MNIST, Fashion-MNIST and KMNIST are downloaded; mnist-5k and digits ship "
                 "with the installed packages")
        if data and dataset == data.name:
            # the store knows the app's own set by its source ("mnist" offline is "mnist-5k");
            # another is named as chosen, and only the worker loads it (ModelSpec.checked)
            dataset = data.source
        if data is None:
            # the app's dataset has not loaded: what "mnist" is here (offline, its stand-in
            # mnist-5k) is not known yet, and a job named for a set that is not here would
            # fail in the worker. Start waits a few seconds; the page refreshes by itself.
            refused = "The dataset is still loading; Start is ready in a few seconds."
            left.info(refused, icon=":material/hourglass_top:")
            ui.refresh_when_ready(False)
        elif data.notice and dataset not in datasets.DIGIT_SETS:
            refused = (f"No network here, and {dataset} has no offline copy, so it cannot be "
                       f"trained on now. {data.source} holds real MNIST digits.")
            left.warning(refused, icon=":material/wifi_off:")
        n_train = len(data.x_train) if data else 60_000
    hparams = {f.name: ui.hparam_input(
        f, key=f"train-{variant}-{f.name}",
        label="Bottleneck size k" if f.name == "latent_dim" else None,
        default=kept_field(f"train-{variant}-{f.name}", f, None), link=link)
        for f in cls.Config.params()}
    # the variant's own preferences; a small set like the offline digits needs more epochs
    # and smaller batches
    suggested = suggested_train(variant, n_train if cls.kind == "image" else None)
    epochs_field = train_fields["epochs"]
    with mid:
        epochs = ui.hparam_input(epochs_field, key=f"train-epochs-{variant}", label="Epochs",
                                 default=kept_field(f"train-epochs-{variant}", epochs_field,
                                                    suggested.epochs), link=link)
        lr = ui.hparam_input(train_fields["lr"], key=f"train-lr-{variant}",
                             label="Learning rate",
                             default=kept_field(f"train-lr-{variant}", train_fields["lr"],
                                                suggested.lr), link=link)
    batch_sizes = [b for b in (16, 32, 64, 128, 256, 512, 1024, 2048)
                   if train_fields["batch_size"].metadata["low"] <= b
                   <= train_fields["batch_size"].metadata["high"]]
    batch_size = right.select_slider(
        "Batch size", batch_sizes,
        key=link.seed(links.step_param("batch-size", batch_sizes), f"train-batch-{variant}"),
        value=kept_or(f"train-batch-{variant}", suggested.batch_size, batch_sizes.__contains__))
    # A float field, though a seed is whole: Streamlit makes an int field's value an int before
    # any check, so a NaN sent by hand (no browser sends one) raised in every run of the page.
    # A float field's value that is not finite or not in its range becomes its default, None,
    # which the check below names; so its starting value is set as the session's instead.
    seed_field = train_fields["seed"]
    seed_link = links.field_param(seed_field)
    link.seed(replace(seed_link, parse=lambda text: float(seed_link.parse(text))), "train-seed")
    if "train-seed" not in st.session_state:
        st.session_state["train-seed"] = float(kept_field("train-seed", seed_field, 0))
    seed = right.number_input("Seed", float(seed_field.metadata["low"]),
                              float(seed_field.metadata["high"]), None, step=1.0, format="%.0f",
                              key="train-seed", help=seed_field.metadata["help"])
    # Every number the form sends, checked in one place against its field's range
    # (CheckedConfig.from_dict): a value outside it is said in a sentence, and Start waits.
    try:
        train_cfg = TrainConfig.from_dict({"epochs": epochs, "batch_size": batch_size,
                                           "lr": lr, "seed": seed})
        chosen = ModelSpec.checked(variant, hparams, dataset=dataset, train=train_cfg)
    except ValueError as err:
        train_cfg = chosen = None
        said = str(err)                        # "seed must be a whole number between ..."
        right.error(f"{said[:1].upper()}{said[1:]}.", icon=":material/error:")
    start = st.button("Start training", type="primary", icon=":material/play_arrow:",
                      key="train-start", disabled=refused is not None or chosen is None,
                      help=refused)
    if chosen is not None and refused is None:
        ui.job_cost_note(chosen)
link.update_address()

form_keys = ["train-variant", dataset_key, *(f"train-{variant}-{name}" for name in hparams),
             f"train-epochs-{variant}", f"train-lr-{variant}", f"train-batch-{variant}",
             "train-seed"]
ui.remember_changes(FORM, {key: st.session_state[key] for key in form_keys})

started = None
if start and refused is None and chosen is not None:
    try:
        started = ui.submit(chosen).id
    except (JobError, ValueError) as err:
        st.error(ui.for_viewer(err), icon=":material/error:")

with panels:
    ui.interrupted_jobs()
    # the first panel's latent map is "train-latent", whether it trains or is done
    for i, job in enumerate(ui.follow_job("train", started, all_mine=True,
                                          keep=ui.FOLLOWED_JOBS)):
        ui.job_panel(job.id, map_key=ui.LATENT_MAP_KEY if i == 0 else None)

# The least BCE any model can reach on the app's training images, once per dataset: the loss
# chart's floor. Another dataset's floor is not known here without loading it, so none is said.
floor = (svc.derived(training_set_bce_floor)
         if cls.kind == "image" and svc.data is not None and dataset == svc.data.source
         else None)
st.markdown(curves_note(variant, hparams, kind=cls.kind, floor=floor, dataset=dataset))

ui.teacher_queue()

with st.expander("Show the code: the same training as a plain PyTorch script"):
    ui.code_for(variant, hparams, dataset, train_cfg or suggested)

st.header("Stored models")
ui.stored_models_table()
