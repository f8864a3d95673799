import streamlit as st

from aedemo import data as datasets
from aedemo import metrics, ui
from aedemo.lessons import reconstructions
from aedemo.metrics import mse_per_item
from aedemo.viz.reconstructions import rate_distortion_figure

SHOWN = 10          # digits per row: enough to see a pattern, few enough to stay legible
HARDEST = 10
DEFAULT_MODEL = ("dense", 16)

st.title("Reconstructions")
st.markdown(
    "An autoencoder's output is its best redrawing of the input from the **k numbers** of its "
    "code. Compare the originals (top) with what comes back (below), and the error of each, "
    "the mean squared difference per pixel (MSE). Then move the **bottleneck**: a smaller code "
    "is more compression and costs more error. **PCA** is the best any *linear* code of k "
    "numbers can do; a non-linear autoencoder should beat it at the same k.")

svc = ui.service()
# The first choice is the lesson's dense k = 16, a clear and typical case.
data, models = ui.models_or_wait(
    "image model", kind="image",
    prefer=lambda m: (m.spec.variant, m.spec.latent_dim) != DEFAULT_MODEL)



def reseed() -> None:
    st.session_state["rec-seed"] = int(st.session_state.get("rec-seed", 0)) + 1


def image_rows(rows: list[tuple[str, object, list[str]]]) -> None:
    for label, images, captions in rows:
        st.caption(label)
        ui.show_images(images, captions, alt=label)


all_classes = list(range(len(data.classes)))
left, mid, right = st.columns([3, 3, 1])
with left:
    entry = ui.pick_model(models, key="rec-model")
classes = mid.multiselect("Digits to show", all_classes, default=all_classes,
                          format_func=lambda c: data.classes[c], key="rec-classes")
# Reshuffle sets the seed through session state, so the widget takes its start from there too:
# a default given to the widget as well makes Streamlit warn at every Reshuffle.
st.session_state.setdefault("rec-seed", 0)
seed = right.number_input("Seed", 0, 10**6, key="rec-seed")
right.button("Reshuffle", on_click=reseed, icon=":material/shuffle:", key="rec-shuffle")

model = svc.load_model(entry.id)
shown = reconstructions.pick_examples(data.y_test, classes or all_classes, SHOWN, int(seed))
originals = data.x_test[shown]
labels = [data.classes[int(y)] for y in data.y_test[shown]]
recon = metrics.reconstruct(model, originals)
errors = mse_per_item(recon, originals)
if not classes:
    st.caption("No digit picked: showing all of them.")
image_rows([("Originals", originals, labels),
            (f"Reconstructed by {entry.spec.variant} with k = {entry.spec.latent_dim}: mean "
             f"MSE {errors.mean():.4f}", recon, [f"MSE {e:.4f}" for e in errors])])

# --- the bottleneck --------------------------------------------------------------------------
st.subheader("The bottleneck: autoencoder against PCA")
dense = reconstructions.model_sweep(ui.models(variant="dense", others=False)).get("dense", [])
pca = svc.derived("pca-baseline", None,
                  lambda data: reconstructions.fit_pca_baseline(data.x_train))
k = None
if not dense:
    ui.waiting_for_models("dense autoencoder")
else:
    ks = [k for k, _, _ in dense]
    default_k = entry.spec.latent_dim if entry.spec.latent_dim in ks else ks[len(ks) // 2]
    k = st.select_slider("Bottleneck size k (the stored dense models)", ks, value=default_k,
                         key="rec-k")
    dense_id = next(model_id for kk, _, model_id in dense if kk == k)
    dense_recon = metrics.reconstruct(svc.load_model(dense_id), originals)
    dense_err = mse_per_item(dense_recon, originals)
    pca_recon = pca.reconstruct(originals, min(k, pca.max_k))
    pca_err = mse_per_item(pca_recon, originals)
    image_rows([("Originals", originals, labels),
                (f"Dense autoencoder, k = {k}: mean MSE {dense_err.mean():.4f}", dense_recon,
                 [f"MSE {e:.4f}" for e in dense_err]),
                (f"PCA, k = {k}: mean MSE {pca_err.mean():.4f}", pca_recon,
                 [f"MSE {e:.4f}" for e in pca_err])])

# --- rate-distortion -------------------------------------------------------------------------
sweep = reconstructions.model_sweep(ui.models(kind="image", others=False))
stored_ks = {p[0] for points in sweep.values() for p in points}
pca_ks = tuple(sorted(stored_ks | {1, 2, 4, 8, 16, 32, 64, 128}))
pca_points = svc.derived("pca-curve", None,
                         lambda data, ks: reconstructions.pca_curve(pca, data.x_test, ks), pca_ks)
st.plotly_chart(rate_distortion_figure(pca_points, sweep, marked_k=k), key="rec-rate-distortion")
st.caption("Each marker is a stored model's error on the whole test set; the dashed line is "
           "PCA at every k. Left is more compression, up is more error.")
# What this sweep shows, in words, where it departs from the textbook picture
n_train = f"{len(data.x_train):,}"
flat_from = reconstructions.where_the_curve_flattens(dense)
pca_wins = reconstructions.where_pca_wins(dense, pca_points)
if flat_from is not None:
    st.caption(f"From k = {flat_from} on, the autoencoder's error hardly falls any more: with "
               f"{n_train} training digits, a wider code has little left to learn.")
if pca_wins:
    st.caption(f"At k = {', '.join(map(str, pca_wins))}, PCA does better than the stored "
               f"autoencoder: trained on {n_train} digits it cannot yet make use of so large a "
               f"code, while PCA needs no training. (Hinton and Salakhutdinov's, trained on "
               f"60,000, beat PCA at k = 30.)")
if data.source == datasets.SKLEARN_DIGITS:
    st.caption("These digits are 8x8 images enlarged to 28x28, a linear map, so they span only "
               "64 dimensions: PCA does unusually well on them and rebuilds them exactly with 64 "
               "components. MNIST's digits are no such linear picture, and PCA has no such "
               "advantage there.")

# --- hardest examples ------------------------------------------------------------------------
st.subheader("The hardest test digits for this model")
hard_idx, hard_err = svc.derived(
    "rec-hardest", entry, lambda model, data, n: reconstructions.hardest(model, data.x_test, n),
    HARDEST)
hard = data.x_test[hard_idx]
image_rows([("Originals with the highest reconstruction error",
             hard, [data.classes[int(y)] for y in data.y_test[hard_idx]]),
            ("Their reconstructions", metrics.reconstruct(model, hard),
             [f"MSE {e:.4f}" for e in hard_err])])
st.caption("Unusual shapes, thick strokes and digits that look like another class are where "
           "the code runs out of room.")
