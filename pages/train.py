import streamlit as st

from aedemo import data as datasets
from aedemo import ui
from aedemo.jobs import JobError
from aedemo.metrics import bce_floor
from aedemo.models import REGISTRY, variant_names
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
train_fields = {f.name: f for f in TrainConfig.__dataclass_fields__.values()}

with st.container(border=True):
    left, mid, right = st.columns(3)
    variant = left.selectbox("Variant", variant_names(),
                             format_func=lambda n: f"{n}: {REGISTRY[n].summary}")
    cls = REGISTRY[variant]
    if cls.kind == "sequence":
        dataset = left.selectbox("Dataset", [datasets.SERIES],
                                 help="Generated noisy sine mixtures (see the Sequences page)")
    else:
        default_set = svc.data.source if svc.data else "mnist"
        options = list(dict.fromkeys([default_set, *datasets.IMAGE_DATASETS]))
        dataset = left.selectbox("Dataset", options,
                                 help="MNIST, Fashion-MNIST and KMNIST are downloaded; "
                                      "mnist-5k and digits ship with the installed packages")
        if svc.data and svc.data.notice and dataset not in datasets.DIGIT_SETS:
            left.warning(f"No network here, and {dataset} has no offline copy: training on it "
                         f"will fail. {svc.data.source} holds real MNIST digits.",
                         icon=":material/wifi_off:")
        n_train = len(svc.data.x_train) if svc.data else 60_000
    hparams = {f.name: ui.hparam_input(f, key=f"train-{variant}-{f.name}", label=(
        "Bottleneck size k" if f.name == "latent_dim" else None)) for f in cls.Config.params()}
    # the variant's own preferences; a small set like the offline digits needs more epochs
    # and smaller batches
    suggested = suggested_train(variant, n_train if cls.kind == "image" else None)
    epochs_field = train_fields["epochs"]
    epochs = mid.slider("Epochs", epochs_field.metadata["low"], epochs_field.metadata["high"],
                        suggested.epochs, key=f"train-epochs-{variant}",
                        help="Passes over the training set; a small dataset needs more")
    with mid:
        lr = ui.hparam_input(train_fields["lr"], key=f"train-lr-{variant}",
                             label="Learning rate", default=suggested.lr)
    batch_sizes = [b for b in (16, 32, 64, 128, 256, 512, 1024, 2048)
                   if train_fields["batch_size"].metadata["low"] <= b
                   <= train_fields["batch_size"].metadata["high"]]
    batch_size = right.select_slider("Batch size", batch_sizes, value=suggested.batch_size,
                                     key=f"train-batch-{variant}")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="train-seed",
                              help=train_fields["seed"].metadata["help"])
    start = st.button("Start training", type="primary", icon=":material/play_arrow:",
                      key="train-start")

train_cfg = TrainConfig(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr),
                        seed=int(seed))
if start:
    try:
        spec = ModelSpec.create(variant, hparams, dataset=dataset, train=train_cfg)
        job = ui.submit(spec)
        st.session_state["train-job"] = job.id
    except (JobError, ValueError) as err:
        st.error(str(err), icon=":material/error:")

# The least BCE any model can reach on the app's training images, once per dataset: the loss
# chart's floor. Another dataset's floor is not known here without loading it, so none is said.
floor = (svc.derived("bce-floor", None, lambda data: bce_floor(data.x_train))
         if cls.kind == "image" and svc.data is not None and dataset == svc.data.source
         else None)
st.markdown(curves_note(variant, hparams, kind=cls.kind, floor=floor, dataset=dataset))

ui.interrupted_jobs()
for job_id in ui.my_job_ids(st.session_state.get("train-job")):
    ui.job_panel(job_id)
ui.teacher_queue()

with st.expander("Show the code: the same training as a plain PyTorch script"):
    ui.code_for(variant, hparams, dataset, train_cfg)

st.header("Stored models")
ui.stored_models_table()
