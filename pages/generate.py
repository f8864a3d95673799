import streamlit as st

from aedemo import links, ui
from aedemo.data import IMAGE_PIXELS
from aedemo.jobs import JobError
from aedemo.lessons import generate, generate_kl, latent_space
from aedemo.models.vae import ACTIVE_KL
from aedemo.viz.generate import (
    kl_per_dimension_figure,
    loss_terms_figure,
    traversal_mosaic,
    vae_rate_distortion_figure,
)
from aedemo.viz.images import image_grid

SAMPLES, COLUMNS = 48, 8     # a grid of new digits: six rows of eight
GRID = 15                    # the 2D manifold: 15 x 15 decoded codes
MAP_POINTS = 1000            # test digits marked on the plane that decodes under the mouse
TRAVERSAL_ROWS = 16          # units in the traversal mosaic; beyond, the first and the last
TRAVERSAL_TAIL = 4           # ... of which this many are the least informative units


def beta_of(m) -> float:
    return float(dict(m.spec.hparams).get("beta", 1.0))


def nats(value: float | None) -> float | None:
    """A table's figure in nats, to one decimal."""
    return None if value is None else round(float(value), 1)


st.title("Generate")
st.markdown(
    "A decoder turns any code into an image, so new digits need only new codes. The "
    "**variational autoencoder** (VAE) adds a KL term to its loss that pulls each image's "
    "code distribution q(z|x) towards a known one, the standard normal N(0, I): draw z from "
    "it, decode, and a new digit appears. What that term buys, against a plain autoencoder "
    "sampled fairly, is the first lesson below; what it costs, and what **β** (its weight) "
    "does, the last.")

svc = ui.service()
link = ui.linked_settings("generate")
# The first choice is a plain VAE (beta = 1) with k > 2. Not k = 2: a plain autoencoder's 2D
# codes spread so widely over the plane that N(0, I) draws land among its digits too, and on the
# zoo its random decodes looked as digit-like as the VAE's (the manifold below has a k = 2 VAE
# of its own). Not another beta: those are the beta section's, which shows every VAE. Both are
# wishes, not needs (every section works with any VAE: the loss says what beta != 1 trained,
# the manifold finds a k = 2 VAE), so a VAE the teacher pins is the default here too.
data, vaes = ui.models_or_wait("variational autoencoder (VAE)", variant="vae",
                               prefer=lambda m: (m.spec.latent_dim == 2, beta_of(m) != 1.0))
stored = ui.pick_model(vaes, key="gen-vae", label="VAE", link=link)
vae = svc.load_model(stored.id)
k = stored.spec.latent_dim
beta = beta_of(stored)
name = f"VAE (k = {k}, β = {beta:g})"

# The plain autoencoder to compare with: the same k if one is stored, else the nearest (the
# lesson's before the student's own on a tie); never an overcomplete one, which has no
# bottleneck to sample from.
dense_stored = min((m for m in ui.models(variant="dense", others=False)
                   if m.spec.latent_dim < IMAGE_PIXELS),
                  key=lambda m: abs(m.spec.latent_dim - k), default=None)
dense = svc.load_model(dense_stored.id) if dense_stored else None
dense_k = dense_stored.spec.latent_dim if dense_stored else None

test_look = svc.derived(generate.look_of_test_set)
spread = svc.derived(generate.spread_on_training_set, stored)

# --- samples from the prior ------------------------------------------------------------------
st.header("Random codes, decoded")
seed_col, temp_col = st.columns([1, 2])
seed = int(seed_col.number_input("Seed", 0, 10**6, 0,
                                 key=link.seed(links.number_param("seed", 0, 10**6), "gen-seed"),
                                 help="Another seed draws other codes"))
temperature = temp_col.slider(
    "Temperature T", 0.1, 2.0, 1.0, 0.1,
    key=link.seed(links.number_param("temperature", 0.1, 2.0, whole=False), "gen-temp"),
    help="Codes are drawn from N(0, T² I); the fitted Gaussian's spread is scaled the same way")
link.update_address()
vae_samples = generate.sample_prior(vae, SAMPLES, temperature=temperature, seed=seed)
draws = f"z ~ N(0, {temperature:g}² I)"
vae_col, plain_col, fair_col = st.columns(3)
with vae_col:
    ui.picture(image_grid(vae_samples, columns=COLUMNS),
               alt=f"{SAMPLES} digits decoded by the {name} from random codes {draws}",
               caption=f"{name}: {SAMPLES} codes {draws}, decoded", width="stretch")
if dense is None:
    with plain_col:
        ui.waiting_for_models("plain (dense) autoencoder")
else:
    plain_name = f"plain autoencoder (k = {dense_k})"
    same = ("the very same codes, decoded" if dense_k == k else
            f"no dense model with k = {k} is stored, so the nearest, with codes drawn the same "
            f"way")
    fit = svc.derived(generate.code_gaussian_on_training_set, dense_stored)
    plain_samples = generate.sample_prior(dense, SAMPLES, temperature=temperature, seed=seed)
    fair_samples = generate.sample_fitted(dense, fit, SAMPLES, temperature=temperature,
                                          seed=seed)
    with plain_col:
        ui.picture(image_grid(plain_samples, columns=COLUMNS),
                   alt=f"{SAMPLES} digits decoded by the {plain_name} from random codes {draws}",
                   caption=f"Plain autoencoder (k = {dense_k}): {same}", width="stretch")
    with fair_col:
        ui.picture(image_grid(fair_samples, columns=COLUMNS),
                   alt=(f"{SAMPLES} digits decoded by the {plain_name} from codes drawn from a "
                        f"Gaussian fitted to its own training codes"),
                   caption=(f"Plain autoencoder (k = {dense_k}), the fair test: the same draws "
                            f"from a Gaussian fitted to its {fit.count:,} training codes"),
                   width="stretch")
st.caption("Each picture shows every pixel's probability of being ink (the decoder's Bernoulli "
           "means), not a black-and-white draw from those probabilities, as samples usually "
           "are shown.")
looks = svc.derived(generate.temperature_looks, stored, data=False)
st.markdown("**Temperature** T scales the draws. " + generate.temperature_text(looks, test_look)
            + " (Grey share: the share of inked pixels that are neither faint nor solid, "
              "which is what blur looks like; variety: the mean distance between two "
              "samples.)")

st.subheader("Why the prior matters, and what it does not do")
if dense is not None:
    st.markdown(
        generate.scale_text(dense_k, fit, k, spread.mean_norm)
        + " The fair test, on the right, draws from a Gaussian fitted to the plain "
          "autoencoder's own training codes (their mean and full covariance). "
        + generate.fair_text(generate.look(vae_samples), generate.look(plain_samples),
                             generate.look(fair_samples), test_look))
st.markdown(generate.aggregate_text(spread))
if dense is not None:
    st.markdown(generate.kl_buys_text(spread, fit))

# --- interpolation ---------------------------------------------------------------------------
st.header("Interpolation: a straight line between two codes")
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
vae_path = generate.interpolate(vae, ends[0], ends[1], steps)
st.caption(f"{name}: decoded along z = (1 - t) z_from + t z_to")
ui.show_images(vae_path, [f"t = {t}" for t in fractions],
               alt=f"{name}, decoded between the two codes at")
paths = {"VAE": vae_path}
if dense is not None:
    plain_path = generate.interpolate(dense, ends[0], ends[1], steps)
    st.caption(f"Plain autoencoder, k = {dense_k}")
    ui.show_images(plain_path, [f"t = {t}" for t in fractions],
                   alt="plain autoencoder, decoded between the two codes at")
    paths["plain autoencoder"] = plain_path
distances = svc.derived(generate.path_distances, [stored, dense_stored], a, b, steps)
st.markdown(generate.path_text(distances))

# --- the 2D manifold -------------------------------------------------------------------------
st.header("The whole plane of a 2D VAE")
flat = stored if k == 2 else next((m for m in vaes if m.spec.latent_dim == 2), None)
if flat is None:
    st.caption("Train a VAE with k = 2 to see its whole code plane decoded here.")
else:
    grid = svc.derived(generate.manifold_grid, flat, GRID, data=False)
    grid_col, text_col = st.columns(2)
    with grid_col:
        ui.picture(image_grid(grid.images, columns=grid.n, scale=2, pad=0),
                   alt=(f"{GRID} x {GRID} digits decoded by the {flat.spec.describe()} from a "
                        f"grid of codes, each axis the N(0, 1) quantiles from 5% to 95%"),
                   caption=(f"{flat.spec.describe()}: a {GRID} x {GRID} grid of z, each axis "
                            f"the N(0, 1) quantiles from 5% to 95%"), width="stretch")
    text_col.markdown(
        "The grid is Kingma & Welling's (2014, figure 4): a linear grid of the unit square "
        "mapped through the Gaussian's inverse CDF, so each cell holds the same share of the "
        "prior. The crop to the 5%–95% quantiles, which leaves out the tails, comes from the "
        "Keras VAE example. Neighbouring codes decode to similar pictures, so the digits morph "
        "into one another across the plane: this is the **learned manifold**.")
    # the same plane, any point of it decoded in the browser under the mouse or the arrow keys
    st.markdown("**Between the grid's codes.** Point anywhere on the plane below (or focus it "
                "and use the arrow keys) and the decoder draws that code's digit at once, in "
                "your browser; each mark is a test digit's posterior mean μ, in its class's "
                "colour.")
    means = svc.derived(latent_space.latent_map, flat, "code", MAP_POINTS)
    ui.latent_hover(flat, means.points, means.labels, data.classes, key="gen-hover",
                 axis_names=("μ1, the mean of z1", "μ2, the mean of z2"))

# --- the loss, taken apart -------------------------------------------------------------------
st.header("The loss: reconstruction + KL = −ELBO")
history = stored.history
train_terms = generate_kl.loss_terms(history, "train")
test_terms = generate_kl.loss_terms(history, "test")
floors = svc.derived(generate_kl.bce_floors)
ui.chart(loss_terms_figure(train_terms, test_terms, beta=beta, floors=floors), key="gen-loss",
         summary=generate_kl.loss_text(train_terms, test_terms, beta=beta, floors=floors))
st.markdown(
    "Both terms are in **nats per image**, on one axis, the KL stacked on the reconstruction so "
    "the top of the stack is **−ELBO**, the negative evidence lower bound: the number the VAE "
    "drives down. The reconstruction term is a binary cross-entropy (BCE) against grey-level "
    "digits, and that has a floor above zero: against a grey target t the best output is t "
    "itself, which still costs t's own entropy, so no model gets below "
    f"{floors['test']:.1f} nats per test image (the dotted line). "
    + (f"With β = {beta:g} training minimised reconstruction + {beta:g} × KL (dashed), not "
       f"−ELBO; −ELBO is what the table below compares across β." if beta != 1 else
       "With β = 1 the loss training minimised is −ELBO itself."))

# --- what each unit carries --------------------------------------------------------------------
st.header("What each code unit carries")
kl = svc.derived(generate_kl.kl_per_dimension_on_test_set, stored)
active = int((kl > ACTIVE_KL).sum())
points = generate_kl.vae_points(vaes)
bars_col, trav_col = st.columns(2)
with bars_col:
    st.subheader("KL per unit")
    ui.chart(kl_per_dimension_figure(kl, ACTIVE_KL), key="gen-kl",
             summary=generate_kl.kl_text(kl, ACTIVE_KL))
    metric_a, metric_b = st.columns(2)
    metric_a.metric("Active code units", f"{active} of {k}",
                    help=f"Units whose mean KL over the test set exceeds {ACTIVE_KL} nats")
    metric_b.metric("KL per image (test)", f"{kl.sum():.1f} nats")
    st.markdown(
        "A unit's mean KL is an **upper bound** on the information it carries about the "
        "image, in nats (Hoffman & Johnson, 2016): it is that information plus how far the "
        "unit's codes, all images together, sit from N(0, 1). A unit whose KL is near zero "
        "outputs the prior whatever the image, so it carries nothing and the decoder learns "
        "to ignore it: it is *inactive*.")
    if active == k:
        collapsing = [p for p in points if p.collapsed]
        st.markdown(
            "Every unit of this VAE is active. "
            + (f"Choose the {collapsing[0].label} VAE above to see inactive units: "
               f"{collapsing[0].collapsed} of its {collapsing[0].k} have collapsed."
               if collapsing else "No stored VAE has an inactive unit yet."))
with trav_col:
    st.subheader("Latent traversals")
    index = int(st.number_input("Test digit #", 0, n_test - 1, 0, key="gen-trav-digit",
                                help="The digit whose code the traversal starts from"))
    trav = svc.derived(generate_kl.traversal_of_test_digit, stored, index, given=(kl,))
    n_values = len(trav.values)
    trav_rows = list(range(k))
    if k > TRAVERSAL_ROWS:
        trav_rows = trav_rows[:TRAVERSAL_ROWS - TRAVERSAL_TAIL] + trav_rows[-TRAVERSAL_TAIL:]
    labels = [f"z{trav.units[r] + 1} · KL {trav.kl[r]:.2f}" for r in trav_rows]
    shown = trav.images.reshape(k, n_values, *trav.images.shape[1:])[trav_rows].flatten(0, 1)
    digit = data.classes[int(data.y_test[index])]
    values = ", ".join(f"{v:g}" for v in trav.values)
    ui.picture(traversal_mosaic(shown, trav.values, labels),
               alt=(f"Latent traversals of test digit #{index}, a {digit}, by the {name}: "
                    f"{len(trav_rows)} rows, one per code unit from the largest KL "
                    f"({labels[0]}) to the least ({labels[-1]}); in each row that unit is set "
                    f"to {values} with the others at the digit's code. "
                    + generate_kl.traversal_text(trav)),
               caption=(f"Each row sets one unit to {trav.values[0]:g} … {trav.values[-1]:g}, "
                        f"the others at test digit #{index}'s code; rows by KL, largest first"
                        + (f" ({len(trav_rows)} of {k} shown)" if len(trav_rows) < k else "")),
               width="stretch")
    st.markdown(generate_kl.traversal_text(trav)
                + " Higgins et al. (2017) found that with β > 1 each unit tends to one kind of "
                  "change (slant, width, stroke): compare the rows of the β = 4 and β = 1 "
                  "VAEs.")

# --- beta on the rate-distortion plane -------------------------------------------------------
st.header("β: rate against distortion")
sweeps = generate_kl.beta_sweeps(points)
rd_text = generate_kl.rate_distortion_text(points, sweeps)
ui.chart(vae_rate_distortion_figure(points, sweeps, floor=floors["test"], chosen=stored.id),
         key="gen-rd", summary=generate_kl.plane_summary(points, sweeps))
st.markdown(
    "Each VAE spends a **rate**, its KL in nats (what its codes carry about the image, at "
    "most), to buy a **distortion**, its reconstruction loss; −ELBO is their sum, so points "
    "on one line of slope −1 tie (Alemi et al., \"Fixing a Broken ELBO\", 2018). **β** sets "
    "the exchange rate: a larger β makes each nat of KL dearer, so the model spends fewer and "
    "reconstructs worse, and units that no longer pay their way collapse to the prior. "
    + rd_text)
missing = [s for s in generate_kl.zoo_beta_specs(data) if svc.store.find(s) is None]
if missing:
    st.markdown("Not all of the lesson's β sweep is stored yet. Train what is missing (it "
                "trains in the background; the plane fills in when it is done):")
    for spec in missing:
        b_ = dict(spec.hparams).get("beta", 1.0)
        if st.button(f"Train the VAE with β = {b_:g} (k = {spec.latent_dim}, "
                     f"{spec.train.epochs} epochs)", key=f"gen-train-beta-{b_:g}",
                     icon=":material/play_arrow:"):
            try:
                job = ui.submit(spec)
                jobs = st.session_state.setdefault("gen-beta-jobs", [])
                if job.id not in jobs:
                    jobs.append(job.id)
            except (JobError, ValueError) as err:
                st.error(ui.for_viewer(err), icon=":material/error:")
for job_id in st.session_state.get("gen-beta-jobs", []):
    ui.job_panel(job_id)

rows = [{"model": m.id, "k": m.spec.latent_dim, "β": beta_of(m),
         "epochs": m.spec.train.epochs, "−ELBO (nats)": nats(m.metrics.get("neg_elbo")),
         "reconstruction (nats)": (nats(m.metrics["neg_elbo"] - m.metrics["kl"])
                                   if {"neg_elbo", "kl"} <= m.metrics.keys() else None),
         "KL (nats)": nats(m.metrics.get("kl")), "active units": m.metrics.get("active_units")}
        for m in vaes]
st.caption("Every stored VAE, measured on the test images (train more on the Train page):")
st.dataframe(rows, hide_index=True, key="gen-vaes")
