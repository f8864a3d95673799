import numpy as np
import streamlit as st

from aedemo import links, metrics, ui
from aedemo.lessons import generate, latent_space
from aedemo.lessons.latent_space import FITTED, PRIOR, PRIOR_DISC, PRIOR_RADII
from aedemo.service import When
from aedemo.viz.images import image_grid
from aedemo.viz.latent_space import class_label, code_plane_figure, extent, map_figure

# Test images on the map. Each point carries its digit as a text picture for the hover label,
# about 1-2 kB apiece, so 1,000 points keep the chart a couple of megabytes and the clusters clear.
MAP_POINTS = 1000
GRID = 15           # the decoded plane: 15 x 15 digits, as in Kingma & Welling's figure 4
SELECTED_SHOWN = 10
METHODS = {"pca": "PCA", "tsne": "t-SNE"}
MU = "the posterior mean μ of q(z|x), not a sample"
MU_NOTE = f"a VAE's point: {MU}"

st.title("Latent space")
st.markdown(
    "Every test digit becomes a point: its **code**. With a code of k = 2 numbers the code *is* "
    "a point on the plane; for larger k the codes are projected to 2D, by **PCA** (a linear "
    "view that keeps distances along the widest directions) or **t-SNE** (a non-linear map "
    "that keeps neighbours together, and says little about distances between clusters). "
    "Digits the model finds alike land close together, although it never saw a label. "
    "Each digit class has its own colour and marker shape. Hover over a point to see its "
    "digit; click one, or drag a box or lasso, to see those digits and their reconstructions.")


def is_2d(m) -> bool:
    return m.spec.latent_dim == 2


svc = ui.service()
# The first choice needs a 2D code: its map is the code itself, with its decoded plane beside
# it, so a pinned model of a larger k is listed but does not replace it. A VAE's is only a
# wish, which a pinned 2D model of another variant overrides (Service.models' rule).
data, models = ui.models_or_wait("image model", kind="image", need=is_2d,
                                 prefer=lambda m: m.spec.variant != "vae")

st.header("The test digits' codes")
link = ui.linked_settings("latent")
left, right = st.columns([3, 2])
with left:
    stored = ui.pick_model(models, key="latent-model", link=link)
model = svc.load_model(stored.id)
k = stored.spec.latent_dim
is_vae = stored.spec.variant == "vae"
method = "code"
if k != 2:
    method = right.radio("2D map of the codes", list(METHODS), format_func=METHODS.get,
                         horizontal=True,
                         key=link.seed(links.choice_param("method", list(METHODS)),
                                       "latent-method"))
else:
    right.caption("k = 2: the map shows the code's own two axes, z1 and z2.")
link.update_address()


def map_of(how: str, when: When = When.NOW) -> latent_space.LatentMap | None:
    return svc.derived(latent_space.latent_map, stored, how, MAP_POINTS, when=when)


shown = map_of("pca")
if method == "tsne":
    # t-SNE takes seconds to a minute: it runs on a thread, never on this page's rerun path.
    tsne = map_of("tsne", When.BACKGROUND)
    if tsne is None:
        st.info("Computing the t-SNE map in the background; the PCA map is shown meanwhile and "
                "is replaced as soon as t-SNE is ready.", icon=":material/hourglass_top:")

        @st.fragment(run_every=2)
        def pick_up_tsne() -> None:
            if map_of("tsne", When.NEVER) is not None:
                st.rerun(scope="app")

        pick_up_tsne()
    else:
        shown = tsne

# A VAE's map point is the posterior mean mu (its encode), never a sample: say so on the axes.
what = "posterior means μ" if is_vae else "codes"
axes = {"code": ("μ1, the mean of z1", "μ2, the mean of z2") if is_vae else ("z1", "z2"),
        "pca": (f"PC 1 of the {what}", f"PC 2 of the {what}"),
        "tsne": ("t-SNE 1", "t-SNE 2")}[shown.method]
title = (f"{stored.spec.variant}, k = {k}: {len(shown.indices):,} test {what}"
         + ("" if shown.method == "code" else f", {METHODS[shown.method]} view"))


# the title and the axes name the map (its method and size) in the key
figure = svc.derived(map_figure, stored, title, axes, MU_NOTE if is_vae else "", given=(shown,))
summary = latent_space.describe_map(shown, data.classes)

map_col, grid_col = st.columns([3, 2]) if k == 2 else (st.container(), None)
with map_col:
    event = ui.chart(figure, key="latent-scatter", on_select="rerun",
                     selection_mode=("points", "box", "lasso"),
                     summary=f"{title}. {summary}" + (f" Each point is {MU}." if is_vae else ""))
    if is_vae:
        sigma = svc.derived(latent_space.posterior_sigma_on_test_set, stored, MAP_POINTS)
        st.caption(f"A VAE encodes a distribution q(z|x) = N(μ, σ²): each point is its mean μ, "
                   f"not a sample. A sample z ~ q(z|x) would lie about σ = {sigma:.2f} from μ "
                   f"along each of the code's {k} axes (root mean square over these digits and "
                   f"units).")

if grid_col is not None:
    grid = svc.derived(generate.plane_grid, stored, GRID, data=False,
                       given=(None if is_vae else shown.codes,))
    span = (f"z1 left to right from {grid.z1[0]:.2f} to {grid.z1[-1]:.2f}, z2 bottom to top "
            f"from {grid.z2[0]:.2f} to {grid.z2[-1]:.2f}")
    how = (" (a linear grid of probabilities through the Gaussian's inverse CDF, as in "
           "Kingma & Welling's figure 4, so each cell holds equal prior mass; the crop to the "
           "quantiles 5% to 95% is the Keras VAE example's)." if is_vae
           else " (the middle 98% of the codes).")
    with grid_col:
        ui.picture(image_grid(grid.images, columns=grid.n, scale=2, pad=0),
                   alt=(f"{GRID} by {GRID} digits decoded from a grid of the code plane of "
                        f"{stored.spec.variant} k = 2, {span}"),
                   caption=(f"The learned manifold: the decoder's output over a {GRID} x {GRID} "
                            f"grid of the plane, {span}{how}"),
                   width="stretch")

# The decoder under the pointer (aedemo.ui.latent_hover): any point of the k = 2 plane, decoded
# in the browser as the mouse or the arrow keys move it.
if k == 2:
    st.markdown("**Decode any point of the plane.** Point anywhere on this plane, between the "
                "dots too, and the decoder draws the digit for that code at once: your browser "
                "runs the model's decoder itself.")
    ui.latent_hover(stored, shown.points, shown.labels, data.classes, key="latent-hover",
                 axis_names=axes)

# --- what was selected -----------------------------------------------------------------------
selection = event["selection"] if event else {}
picked = []
for point in selection.get("points", []):
    custom = point.get("customdata")
    if custom is not None:
        picked.append(int(np.ravel(custom)[0]))
picked = sorted(set(picked))      # in test-set order: the traces would group them by class
if picked:
    st.subheader(f"{len(picked)} selected digit{'s' if len(picked) != 1 else ''}")
    chosen = picked[:SELECTED_SHOWN]
    originals = data.x_test[chosen]
    st.caption("The selected test digits (number: label), and below, their reconstructions")
    ui.show_images(originals, [f"#{i}: {data.classes[int(data.y_test[i])]}" for i in chosen],
                   alt="selected test digit")
    ui.show_images(metrics.reconstruct(model, originals),
                   alt=[f"reconstruction of test digit #{i}, a {data.classes[int(data.y_test[i])]}"
                        for i in chosen])
    if len(picked) > SELECTED_SHOWN:
        st.caption(f"The first {SELECTED_SHOWN} of {len(picked)} are shown.")
else:
    st.caption("Click a point, or drag a box or lasso on the map, to see the digits and their "
               "reconstructions.")

# A box or lasso on the code plane (k = 2) names a region of codes: decode its centre.
regions = list(selection.get("box", [])) + list(selection.get("lasso", []))
if k == 2 and regions:
    region = regions[-1]
    centre = np.array([[np.mean(region["x"]), np.mean(region["y"])]], dtype=np.float32)
    decoded = generate.decode(model, centre)
    picture_col, text_col = st.columns([1, 6])
    with picture_col:
        ui.picture(image_grid(decoded, columns=1, scale=4, pad=0),
                   alt=f"the digit decoded at z = ({centre[0, 0]:.2f}, {centre[0, 1]:.2f})")
    text_col.markdown(f"**Decoded at the centre of the selection**, z = ({centre[0, 0]:.2f}, "
                      f"{centre[0, 1]:.2f}): a code no test digit has, drawn by the decoder.")

# --- how this map formed while the model trained (aedemo.latent_frames) -------------------------
st.header("How this map formed while it trained")
st.markdown(
    "While a model trains on the Train page, its worker codes the same 500 test digits (all "
    "of them on a smaller test set) every "
    "second or so and keeps these frames with the model. Drag the slider back to the start: "
    "the untrained encoder's codes, every colour mixed. Move it forward and watch the points "
    "of each digit gather and the clusters part, though the model never sees a label; digits "
    "that look alike stay close. The words beside the map measure it: how far apart the "
    "clusters lie for how wide they are."
    + ("" if k == 2 else " For k > 2 each frame is the codes' PCA, turned to match the frame "
       "before it, so the map does not flip or jump as the axes are refitted."))
ui.latent_replay(stored.id, k=k, key=f"latent-replay-{stored.id}")   # its own slider per model

# --- a plain autoencoder's map beside a VAE's --------------------------------------------------
st.header("A plain autoencoder's map beside a VAE's, k = 2")
st.markdown(
    "Both models squeeze a digit into two numbers. The VAE's loss adds a KL term that pulls "
    "each digit's posterior q(z|x) towards the prior N(0, I), so its codes gather at the "
    "prior's scale, and decoding z ~ N(0, I) makes digits with nothing fitted after training. "
    "A plain autoencoder's codes sit wherever training put them, so decoding N(0, I) through "
    "its decoder is an **unfair** test: nothing in its loss put its codes where those draws "
    "fall. The **fair** test draws from a Gaussian fitted to its own training codes (their "
    "mean and covariance); "
    "what is left is whether the draws land among the codes or in the **holes** between them. "
    "On both maps the black circles are the prior's 1σ (solid) and 2σ (dashed); the "
    "decoded digits below each map are "
    "Bernoulli means (each pixel's probability of ink), not draws.")


def first_2d(variant: str, **filters):
    """The first model of ``variant`` for a map that needs k = 2, or None when none has it."""
    found = ui.models(variant=variant, others=False, need=is_2d, **filters)
    return found[0] if found and is_2d(found[0]) else None


plain_stored = first_2d("dense")
# beta = 1 is a wish: a pinned 2D VAE of another beta still shows what a KL term does
vae_stored = first_2d("vae", prefer=lambda m: dict(m.spec.hparams).get("beta", 1.0) != 1.0)
if plain_stored is None or vae_stored is None:
    missing = " and ".join(name for name, e in (("a dense", plain_stored), ("a VAE", vae_stored))
                           if e is None)
    st.info(f"This comparison needs {missing} model with k = 2 on these digits; the zoo trains "
            "both, and the Train page can too.", icon=":material/hourglass_top:")
    st.stop()

plain, vae = (svc.derived(latent_space.code_plane, e, MAP_POINTS)
              for e in (plain_stored, vae_stored))
same_scale = st.toggle("Draw both maps on the same scale", value=True, key="pair-same-scale",
                       help="Off: each map is drawn on its own scale, to see its clusters.")
half = extent(plain.map.codes, vae.map.codes) if same_scale else None
ratio = plain.mean_norm / vae.mean_norm if vae.mean_norm > 0 else float("inf")
compared = (f"{ratio:.1f} times as far" if ratio >= 1.1 else
            "about as far" if ratio > 1 / 1.1 else f"{1 / ratio:.1f} times closer")
st.markdown(f"On average the plain autoencoder's test codes lie **{plain.mean_norm:.2f}** from "
            f"the origin and the VAE's posterior means **{vae.mean_norm:.2f}**: {compared}.")

fair, unfair, own = plain.draws_from(FITTED), plain.draws_from(PRIOR), vae.draws_from(PRIOR)


def decoded_row(draws, who: str) -> None:
    ui.show_images(draws.images, alt=[
        f"digit decoded by {who} from z = ({z[0]:.2f}, {z[1]:.2f}) drawn from {draws.source}; "
        f"its nearest test code is a {data.classes[int(c)]}"
        for z, c in zip(draws.codes[:len(draws.images)], draws.near_class)])


left, right = st.columns(2)
with left:
    st.subheader("Plain autoencoder (dense, k = 2)")
    fig = code_plane_figure(
        plain.map.points, plain.map.labels, data.classes, radii=PRIOR_RADII,
        title=f"dense, k = 2: {len(plain.map.points):,} test codes", axis_names=("z1", "z2"),
        fitted=(plain.mean, plain.cov), fitted_radius=PRIOR_DISC, half_width=half,
        indices=plain.map.indices)
    ui.chart(fig, key="pair-plain", summary=(
        f"The plain autoencoder's {len(plain.map.points):,} test codes with the prior's 1σ and "
        f"2σ circles and the 2σ ellipse of a Gaussian fitted to its training codes. "
        f"{latent_space.describe_plane(plain)} "
        f"{latent_space.describe_map(plain.map, data.classes)}"))
    st.caption(latent_space.describe_plane(plain))
    st.markdown(f"**Fair**: decoded from a Gaussian fitted to its {plain.train_count:,} training "
                f"codes (the dotted ellipse is its 2σ).")
    st.caption(latent_space.describe_draws(fair, plain, data.classes))
    decoded_row(fair, "the plain autoencoder")
    st.markdown("**Unfair**: decoded from z ~ N(0, I), a prior it was never trained towards.")
    st.caption(latent_space.describe_draws(unfair, plain, data.classes))
    decoded_row(unfair, "the plain autoencoder")
with right:
    st.subheader("VAE (k = 2)")
    fig = code_plane_figure(
        vae.map.points, vae.map.labels, data.classes, radii=PRIOR_RADII,
        title=f"VAE, k = 2: {len(vae.map.points):,} posterior means μ",
        axis_names=("μ1, the mean of z1", "μ2, the mean of z2"), point_note=MU_NOTE,
        half_width=half, indices=vae.map.indices)
    ui.chart(fig, key="pair-vae", summary=(
        f"The VAE's {len(vae.map.points):,} test digits, each at its posterior mean μ, with the "
        f"prior's 1σ and 2σ circles. {latent_space.describe_plane(vae)} "
        f"{latent_space.describe_map(vae.map, data.classes)}"))
    st.caption(latent_space.describe_plane(vae))
    st.markdown("**Its own prior**: decoded from z ~ N(0, I), the prior its KL term pulls "
                "towards.")
    st.caption(latent_space.describe_draws(own, vae, data.classes))
    decoded_row(own, "the VAE")

# the comparison in words follows the measured shares, whichever way they fall
if round(fair.holes, 2) > round(own.holes, 2):
    holes = (f"puts {fair.holes:.0%} of its draws in holes, more than the VAE's prior "
             f"({own.holes:.0%}): a plain autoencoder's codes need not be Gaussian, and nothing "
             f"in its loss asked them to be")
elif round(fair.holes, 2) < round(own.holes, 2):
    holes = (f"puts {fair.holes:.0%} of its draws in holes, fewer than the VAE's prior "
             f"({own.holes:.0%})")
else:
    holes = f"puts about as many of its draws in holes as the VAE's prior ({own.holes:.0%})"
rare = ", ".join(class_label(data.classes, c) for c in unfair.rare)
st.markdown(
    f"**What the KL term buys.** Fitted to its own codes after training, the plain model's "
    f"Gaussian {holes}. The VAE needs no fit at all: its prior is known before training, and "
    f"the KL term holds the codes to it."
    + (f" Without the fit, N(0, I) draws rarely reach some classes of the plain model "
       f"({rare})." if rare else ""))
