import streamlit as st

from aedemo import ui
from aedemo.lessons import generate
from aedemo.models.vae import ACTIVE_KL
from aedemo.viz.generate import kl_per_dimension_figure, loss_terms_figure
from aedemo.viz.images import image_grid

SAMPLES, COLUMNS = 48, 8     # a grid of new digits: six rows of eight
GRID = 15                    # the 2D manifold: 15 x 15 decoded codes

st.title("Generate")
st.markdown(
    "A decoder turns any code into an image, so new digits need only new codes. The "
    "**variational autoencoder** (VAE) is trained so that its codes follow a known "
    "distribution, the standard normal N(0, I): draw z from it, decode, and a new digit appears. "
    "**Temperature** scales the draws: below 1 they stay near the centre (typical, safe digits), "
    "above 1 they reach the edges (varied, sometimes broken ones).")

svc = ui.service()
# A k = 2 VAE is not the first choice: a plain autoencoder's 2D codes spread so widely over the
# plane that N(0, I) draws land among its digits too, and on the zoo its random decodes looked
# as digit-like as the VAE's; at k = 16 they are smudges, which is this page's lesson. The
# manifold below has a k = 2 VAE of its own.
data, vaes = ui.models_or_wait("variational autoencoder (VAE)", variant="vae",
                               prefer=lambda m: m.spec.latent_dim == 2)

left, mid, right = st.columns([3, 1, 2])
with left:
    entry = ui.pick_model(vaes, key="gen-vae", label="VAE")
seed = int(mid.number_input("Seed", 0, 10**6, 0, key="gen-seed"))
temperature = right.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="gen-temp",
                           help="Codes are drawn from N(0, T² I)")
vae = svc.load_model(entry.id)
k = entry.spec.latent_dim
beta = dict(entry.spec.hparams).get("beta", 1.0)

# The plain autoencoder to compare with: the same k if one is stored, else the nearest (the
# lesson's before the student's own on a tie).
dense_entry = min(ui.models(variant="dense", others=False),
                  key=lambda m: abs(m.spec.latent_dim - k), default=None)
dense = svc.load_model(dense_entry.id) if dense_entry else None

# --- samples from the prior ------------------------------------------------------------------
st.subheader("Random codes, decoded")
vae_col, dense_col = st.columns(2)
vae_col.image(image_grid(generate.sample_prior(vae, SAMPLES, temperature=temperature,
                                               seed=seed), columns=COLUMNS),
              caption=f"VAE (k = {k}, beta = {beta:g}): {SAMPLES} codes z ~ N(0, "
                      f"{temperature:g}² I), decoded", width="stretch",
              output_format="PNG")
if dense is None:
    with dense_col:
        ui.waiting_for_models("plain (dense) autoencoder")
else:
    dense_k = dense_entry.spec.latent_dim
    same = ("the very same codes, decoded" if dense_k == k else
            f"no dense model with k = {k} is stored, so the nearest, with codes drawn the same "
            f"way")
    dense_col.image(image_grid(generate.sample_prior(dense, SAMPLES,
                                                     temperature=temperature, seed=seed),
                               columns=COLUMNS),
                    caption=f"Plain autoencoder (k = {dense_k}): {same}", width="stretch",
                    output_format="PNG")
st.markdown(
    "**Why the prior matters:** the VAE's KL term pulls every code towards N(0, I), so random "
    "draws from N(0, I) land where its decoder has learned to draw digits; the plain "
    "autoencoder was never asked to put its codes there, so many random codes fall where its "
    "decoder has seen nothing, and it draws smudges.")

# --- interpolation ---------------------------------------------------------------------------
st.subheader("Interpolation: a straight line between two codes")
n_test = len(data.x_test)
other = next((i for i in range(n_test) if data.y_test[i] != data.y_test[0]), min(1, n_test - 1))
a_col, b_col, s_col = st.columns(3)
a = int(a_col.number_input("From test digit #", 0, n_test - 1, 0, key="gen-from"))
b = int(b_col.number_input("To test digit #", 0, n_test - 1, other, key="gen-to"))
steps = s_col.slider("Steps", 3, 15, 10, key="gen-steps")
ends = data.x_test[[a, b]]
ui.show_images(ends, [f"from #{a}: {data.classes[int(data.y_test[a])]}",
                      f"to #{b}: {data.classes[int(data.y_test[b])]}"],
               alt="an end of the interpolation, test digit")
fractions = [f"{t / (steps - 1):.2f}" for t in range(steps)]
st.caption(f"VAE, k = {k}: decoded along z = (1 - t) z_from + t z_to")
ui.show_images(generate.interpolate(vae, ends[0], ends[1], steps),
               [f"t = {t}" for t in fractions],
               alt=f"VAE k = {k}, decoded between the two codes at")
if dense is not None:
    st.caption(f"Plain autoencoder, k = {dense_entry.spec.latent_dim}")
    ui.show_images(generate.interpolate(dense, ends[0], ends[1], steps),
                   [f"t = {t}" for t in fractions],
                   alt="plain autoencoder, decoded between the two codes at")
    st.caption("The VAE's path tends to pass through plausible digits all the way; the plain "
               "autoencoder's middle steps can cross empty regions of its code space and look "
               "like two digits laid over each other.")

# --- the 2D manifold -------------------------------------------------------------------------
st.subheader("The whole plane of a 2D VAE")
flat = entry if k == 2 else next((m for m in vaes if m.spec.latent_dim == 2), None)
if flat is None:
    st.caption("Train a VAE with k = 2 to see its whole code plane decoded here.")
else:
    grid = svc.derived("gen-grid", flat, generate.manifold_grid, GRID, data=False)
    grid_col, text_col = st.columns(2)
    grid_col.image(image_grid(grid.images, columns=grid.n, scale=2, pad=0),
                   caption=f"{flat.spec.describe()}: a {GRID} x {GRID} grid of z, each axis the "
                           f"N(0, 1) quantiles from 5% to 95%", width="stretch",
                   output_format="PNG")
    text_col.markdown(
        "Each cell holds the same share of the prior, so the picture is the **learned "
        "manifold** the way Kingma & Welling drew it (2014, figure 4): digits morph smoothly "
        "into one another, and every region of the plane decodes to something digit-like.")

# --- the loss, taken apart -------------------------------------------------------------------
st.subheader("The loss: reconstruction + beta x KL")
history = entry.meta.get("history", [])
st.plotly_chart(loss_terms_figure(generate.loss_terms(history, "train"),
                                  generate.loss_terms(history, "test"), beta=beta),
                key="gen-loss")
kl = svc.derived("gen-kl", entry, lambda model, data: generate.kl_per_dimension(model, data.x_test))
active = int((kl > ACTIVE_KL).sum())
chart_col, metric_col = st.columns([3, 1])
chart_col.plotly_chart(kl_per_dimension_figure(kl, ACTIVE_KL), key="gen-kl")
metric_col.metric("Active code units", f"{active} of {k}",
                  help=f"Units whose mean KL over the test set exceeds {ACTIVE_KL} nats")
metric_col.metric("KL per image (test)", f"{kl.sum():.1f} nats")
st.markdown(
    "The KL term is the price of each code unit that carries information: a unit whose KL is "
    "near zero outputs the prior whatever the image, so the decoder learns to ignore it "
    "(it is *inactive*). **Beta** sets that price: a larger beta switches off more units, gives "
    "smoother samples and blurrier reconstructions; beta = 1 is the plain VAE.")
rows = [{"model": m.id, "k": m.spec.latent_dim, "beta": dict(m.spec.hparams).get("beta"),
         "epochs": m.spec.train.epochs, "reconstruction MSE": m.metrics.get("mse"),
         "KL (nats)": m.metrics.get("kl"), "active units": m.metrics.get("active_units")}
        for m in vaes]
st.caption("Every stored VAE, to compare betas (train more on the Train page):")
st.dataframe(rows, hide_index=True, key="gen-vaes")
