import streamlit as st
import torch

from aedemo import data as datasets
from aedemo import links, metrics, ui
from aedemo.lessons import reconstructions
from aedemo.lessons import reconstructions_bottleneck as bottleneck
from aedemo.metrics import mse_per_item
from aedemo.viz.reconstructions import overfitting_figure, rate_distortion_figure

SHOWN = 10          # digits per row: enough to see a pattern, few enough to stay legible
HARDEST = 10
VARIANT, DEFAULT_K = "dense", 16     # the lesson's model: a clear and typical case
COPY_DIGITS = 3     # test digits beside the non-digits in "Why a bottleneck"
SCRIBBLES = 3

st.title("Reconstructions")
st.markdown(
    "An autoencoder's output is its best redrawing of the input from the **k numbers** of its "
    "code. Compare the originals (top) with what comes back (below), and the error of each, "
    "the mean squared difference per pixel (MSE). Then move the **bottleneck**: a smaller code "
    "is more compression and costs more error. **PCA**, fitted on the same training digits, "
    "is the best any *linear* code of k numbers can do in squared error; a non-linear "
    "autoencoder can beat it at the same k, and the chart below shows where it does.")

svc = ui.service()
# The picker lists every image model, but the page is about the dense autoencoder's bottleneck:
# its default must be dense (a pinned VAE is listed, not shown first), and k near 16 is only a
# wish, which a pinned dense model of another k overrides (Service.models' rule).
data, models = ui.models_or_wait(
    "image model", kind="image", need=lambda m: m.spec.variant == VARIANT,
    prefer=lambda m: abs(m.spec.latent_dim - DEFAULT_K))


def reseed() -> None:
    st.session_state["rec-seed"] = int(st.session_state.get("rec-seed", 0)) + 1


def image_rows(rows: list[tuple[str, object, list[str], list[str]]]) -> None:
    """Rows of pictures under a caption each: (label, images, captions, alternative texts,
    one per picture)."""
    for label, images, captions, alts in rows:
        st.caption(label)
        ui.show_images(images, captions, alt=alts)


def name(spec) -> str:
    return f"{spec.variant} k = {spec.latent_dim}"


def redrawn(what: list[str], by: str, errors) -> list[str]:
    """Alternative texts for the reconstructions of ``what`` by the model ``by``."""
    return [f"{w}, reconstruction by {by}, MSE {e:.4f}" for w, e in zip(what, errors)]


all_classes = list(range(len(data.classes)))
link = ui.linked_settings("reconstructions")
left, mid, right = st.columns([3, 3, 1])
with left:
    stored = ui.pick_model(models, key="rec-model", link=link)
classes = mid.multiselect("Digits to show", all_classes, default=all_classes,
                          format_func=lambda c: data.classes[c],
                          key=link.seed(links.several_param("digits", all_classes), "rec-classes"))
# Reshuffle sets the seed through session state, so the widget takes its start from there too:
# a default given to the widget as well makes Streamlit warn at every Reshuffle.
st.session_state.setdefault("rec-seed", 0)
seed = right.number_input("Seed", 0, 10**6,
                          key=link.seed(links.number_param("seed", 0, 10**6), "rec-seed"),
                          help="Which test digits are drawn: the same seed, the same digits.")
link.update_address()
right.button("Reshuffle", on_click=reseed, icon=":material/shuffle:", key="rec-shuffle")

model = svc.load_model(stored.id)
shown = reconstructions.pick_examples(data.y_test, classes or all_classes, SHOWN, int(seed))
originals = data.x_test[shown]
labels = [data.classes[int(y)] for y in data.y_test[shown]]
digit_names = [f"test digit {label}" for label in labels]
recon = metrics.reconstruct(model, originals)
errors = mse_per_item(recon, originals)
if not classes:
    st.caption("No digit picked: showing all of them.")
image_rows([("Originals", originals, labels, digit_names),
            (f"Reconstructed by {stored.spec.variant} with k = {stored.spec.latent_dim}: mean "
             f"MSE {errors.mean():.4f}", recon, [f"MSE {e:.4f}" for e in errors],
             redrawn(digit_names, name(stored.spec), errors))])

# --- the bottleneck --------------------------------------------------------------------------
st.header("The bottleneck: autoencoder against PCA")
dense_stored_models = ui.models(variant="dense", others=False)
dense = reconstructions.model_sweep(dense_stored_models).get("dense", [])
pca = svc.derived(reconstructions.pca_on_training_set)
k = None
if not dense:
    ui.waiting_for_models("dense autoencoder")
else:
    ks = [k for k, _, _ in dense]
    default_k = stored.spec.latent_dim if stored.spec.latent_dim in ks else ks[len(ks) // 2]
    k = st.select_slider("Bottleneck size k (the stored dense models)", ks, value=default_k,
                         key="rec-k")
    dense_id = next(model_id for kk, _, model_id in dense if kk == k)
    dense_recon = metrics.reconstruct(svc.load_model(dense_id), originals)
    dense_err = mse_per_item(dense_recon, originals)
    pca_recon = pca.reconstruct(originals, min(k, pca.max_k))
    pca_err = mse_per_item(pca_recon, originals)
    image_rows([("Originals", originals, labels, digit_names),
                (f"Dense autoencoder, k = {k}: mean MSE {dense_err.mean():.4f}", dense_recon,
                 [f"MSE {e:.4f}" for e in dense_err],
                 redrawn(digit_names, f"dense k = {k}", dense_err)),
                (f"PCA, k = {k}: mean MSE {pca_err.mean():.4f}", pca_recon,
                 [f"MSE {e:.4f}" for e in pca_err],
                 redrawn(digit_names, f"PCA k = {k}", pca_err))])
    clipping = svc.derived(reconstructions.clipping_on_test_set, None, k, given=(pca,))
    st.caption(reconstructions.pca_caveats(clipping))

# --- rate-distortion: the variants whose k is the size of their code -------------------------
st.subheader("Test error against k")
image_stored_models = ui.models(kind="image", others=False)
sweep = reconstructions.model_sweep(image_stored_models, reconstructions.K_AXIS_VARIANTS)
stored_ks = {p[0] for points in sweep.values() for p in points}
pca_ks = tuple(sorted(stored_ks | {1, 2, 4, 8, 16, 32, 64, 128}))
pca_points = svc.derived(reconstructions.pca_curve_on_test_set, None, pca_ks, given=(pca,))
ui.chart(rate_distortion_figure(pca_points, sweep, marked_k=k), key="rec-rate-distortion",
         summary=reconstructions.sweep_summary(pca_points, sweep))
st.caption("Each marker is a stored model's error on the whole test set; the dashed line is "
           "PCA at every k. Left is more compression, up is more error.")
# What this sweep shows, in words whose numbers are the chart's
by_id = {m.id: m for m in dense_stored_models}
train_loss, epochs = {}, {}
for kk, _, model_id in dense:
    losses = reconstructions.final_losses(by_id[model_id].history)
    if losses is not None:
        train_loss[kk] = losses[0]
    epochs[kk] = by_id[model_id].spec.train.epochs
for sentence in reconstructions.bottleneck_findings(dense, pca_points, train_loss, epochs,
                                                    len(data.x_train)):
    st.caption(sentence)
if reconstructions.where_pca_wins(dense, pca_points):
    st.caption("(Hinton and Salakhutdinov's deep autoencoder, trained on 60,000 digits, beat "
               "PCA at k = 30.)")
if data.source == datasets.SKLEARN_DIGITS:
    st.caption("These digits are 8x8 images enlarged to 28x28, a linear map, so they span only "
               "64 dimensions: PCA does unusually well on them and rebuilds them exactly with 64 "
               "components. MNIST's digits are no such linear picture, and PCA has no such "
               "advantage there.")
sparse = next((m for m in image_stored_models if m.spec.variant == "sparse"
               and dict(m.spec.hparams).get("l1", 0) > 0 and "sparsity" in m.metrics), None)
sparse_note = ""
if sparse is not None:
    share = sparse.metrics["sparsity"]
    sparse_note = (f" (the stored sparse k = {sparse.spec.latent_dim}, l1 = "
                   f"{dict(sparse.spec.hparams)['l1']:g}: {share:.0%} of its units near zero, "
                   f"about {sparse.spec.latent_dim * (1 - share):.0f} in use per digit)")
st.caption("Only the dense and convolutional models are on this axis: their k is the number "
           "of values their code holds. A sparse model's k counts the units it *may* use, and "
           f"its L1 penalty keeps most of them near zero{sparse_note}; a VAE's code is noisy, "
           "so what it carries about a digit is bounded by its KL term (in nats), not by k; "
           "and the denoising model is trained for another task, cleaning corrupted inputs.")
st.page_link("pages/generate.py", icon=":material/auto_awesome:",
             label="The VAEs are compared on a rate (KL) against distortion plane instead, on "
                   "the Generate page")

# --- hardest examples ------------------------------------------------------------------------
st.header("The hardest test digits for this model")
hard = svc.derived(reconstructions.hardest_on_test_set, stored, HARDEST)
hard_x = data.x_test[hard.indices]
hard_names = [f"test digit {data.classes[int(y)]}" for y in data.y_test[hard.indices]]
image_rows([("Originals with the highest reconstruction error", hard_x,
             [data.classes[int(y)] for y in data.y_test[hard.indices]],
             [f"{n}, among the hardest for {name(stored.spec)}" for n in hard_names]),
            ("Their reconstructions", metrics.reconstruct(model, hard_x),
             [f"MSE {e:.4f}" for e in hard.errors],
             redrawn(hard_names, name(stored.spec), hard.errors))])
st.caption("Unusual shapes, thick strokes and digits that look like another class are where "
           "the code runs out of room. " + reconstructions.ink_caveat(hard))

# --- why a bottleneck ------------------------------------------------------------------------
st.header("Why a bottleneck")
st.markdown(
    "Take the bottleneck away and a plain autoencoder has an easy way out: with a code at "
    f"least as wide as the image (k ≥ {datasets.IMAGE_PIXELS}) and no regulariser, passing "
    "the input straight through is a perfect answer, and nothing makes it learn what digits "
    "have in common. Below, the same test digits and a few inputs that are no digits at all "
    "go through the narrow code and through a wide one.")
narrow = next((m for m in dense_stored_models if m.spec.latent_dim == DEFAULT_K), None)
if narrow is None and dense:
    narrow = by_id[dense[len(dense) // 2][2]]
wide = next((m for m in dense_stored_models
             if reconstructions.is_overcomplete(m.spec.latent_dim)), None)

st.subheader("A code wider than the image copies")
if narrow is None or wide is None:
    ui.waiting_for_models(f"dense autoencoder with a code wider than the image "
                          f"(k ≥ {datasets.IMAGE_PIXELS})")
else:
    inputs = [originals[:COPY_DIGITS], bottleneck.scribbles(SCRIBBLES),
              bottleneck.uniform_noise(1)]
    what = (digit_names[:COPY_DIGITS] + [f"scribble {i + 1}" for i in range(SCRIBBLES)]
            + ["uniform noise"])
    kinds = ["digit"] * len(originals[:COPY_DIGITS]) + ["scribble"] * SCRIBBLES + ["noise"]
    drawing = ui.last_input()
    if isinstance(drawing, torch.Tensor) and tuple(drawing.shape) == (1, 1, 28, 28):
        inputs.append(drawing.float())
        what.append("your drawing")
        kinds.append("drawing")
    inputs = torch.cat(inputs)
    rows = [("Inputs: test digits, scribbles, noise"
             + (" and your drawing from the Draw page" if "drawing" in kinds else ""),
             inputs, [w.removeprefix("test ") for w in what], what)]
    tests = {}
    for m in (narrow, wide):
        out = metrics.reconstruct(svc.load_model(m.id), inputs)
        err = mse_per_item(out, inputs).numpy()
        test_errors = svc.derived(reconstructions.errors_on_test_set, m)
        tests[m.spec.latent_dim] = bottleneck.CopyTest(test_errors, err)
        rows.append((f"Through dense k = {m.spec.latent_dim}", out, [f"MSE {e:.4f}" for e in err],
                     redrawn(what, name(m.spec), err)))
    image_rows(rows)
    shares = svc.derived(bottleneck.pca_shares, given=(pca,))
    narrow_k, wide_k = narrow.spec.latent_dim, wide.spec.latent_dim
    for sentence in bottleneck.copy_findings(narrow_k, tests[narrow_k], wide_k,
                                                  tests[wide_k], kinds, shares, pca.max_k):
        st.markdown(sentence)
    st.markdown("So a plain autoencoder needs a bottleneck, or a regulariser that stands in "
                "for one (an L1 penalty on the code, noise on the input, a KL term), before it "
                "has to learn something about digits rather than copy.")

st.subheader("Too few digits: memorising")
if narrow is None:
    ui.waiting_for_models("dense autoencoder")
else:
    on_subsets = {}
    for m in ui.models(variant="dense", subset=True, others=False):
        if m.spec.latent_dim == narrow.spec.latent_dim:
            on_subsets.setdefault(m.spec.subset, m)       # newest first: the newest speaks
    if not on_subsets:
        ui.waiting_for_models(f"dense k = {narrow.spec.latent_dim} trained on fewer digits")
    else:
        n_all = len(data.x_train)
        curves = [(n, bottleneck.loss_curve(f"{n:,} digits", m.history))
                  for n, m in sorted(on_subsets.items())]
        curves.append((n_all, bottleneck.loss_curve(f"all {n_all:,} digits",
                                                         narrow.history)))
        said = bottleneck.overfitting_findings(curves, narrow.spec.latent_dim)
        st.markdown(f"The same dense k = {narrow.spec.latent_dim} network, trained for as many "
                    "steps on fewer of the training digits (repeated to fill the epochs). "
                    "Training loss solid, test loss dashed.")
        ui.chart(overfitting_figure([c for _, c in curves],
                                    title=f"Dense k = {narrow.spec.latent_dim}: training and "
                                          "test loss on fewer digits"),
                 key="rec-overfitting", summary=" ".join(said))
        for sentence in said:
            st.caption(sentence)
