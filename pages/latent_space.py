import numpy as np
import streamlit as st

from aedemo import metrics, ui
from aedemo.lessons import generate, latent_space
from aedemo.service import When
from aedemo.viz.images import image_grid, to_pixels
from aedemo.viz.latent_space import latent_scatter

# Test images on the map. Each point carries its digit as a text picture for the hover label,
# about 1-2 kB apiece, so 1,000 points keep the chart a couple of megabytes and the clusters clear.
MAP_POINTS = 1000
GRID = 15           # the decoded plane: 15 x 15 digits, as in Kingma & Welling's figure 4
SELECTED_SHOWN = 10
METHODS = {"pca": "PCA", "tsne": "t-SNE"}

st.title("Latent space")
st.markdown(
    "Every test digit becomes a point: its **code**. With a code of k = 2 numbers the code *is* "
    "a point on the plane; for larger k the codes are projected to 2D, by **PCA** (a linear "
    "view that keeps distances along the widest directions) or **t-SNE** (a non-linear map "
    "that keeps neighbours together, and says little about distances between clusters). "
    "Digits the model finds alike land close together, although it never saw a label. "
    "Hover over a point to see its digit; click one, or drag a box or lasso, to see those "
    "digits and their reconstructions.")

svc = ui.service()
# The first choice has a 2D code, a VAE's if there is one: its map is the code itself, and its
# decoded plane is shown beside it.
data, models = ui.models_or_wait(
    "image model", kind="image", prefer=lambda m: (m.spec.latent_dim != 2, m.spec.variant != "vae"))

left, right = st.columns([3, 2])
with left:
    entry = ui.pick_model(models, key="latent-model")
model = svc.load_model(entry.id)
k = entry.spec.latent_dim
method = "code"
if k != 2:
    method = right.radio("2D map of the codes", list(METHODS), format_func=METHODS.get,
                         horizontal=True, key="latent-method")
else:
    right.caption("k = 2: the map shows the code's own two axes, z1 and z2.")


def map_of(how: str, when: When = When.NOW) -> latent_space.LatentMap | None:
    return svc.derived("latent-map", entry, latent_space.latent_map, how, MAP_POINTS, when=when)


shown = map_of("pca")
if method == "tsne":
    # t-SNE takes seconds to a minute: it runs on a thread, never on this page's rerun path.
    tsne = map_of("tsne", When.BACKGROUND)
    if tsne is None:
        st.info("Computing the t-SNE map in the background; the PCA map is shown meanwhile and "
                "is replaced as soon as t-SNE is ready.", icon=":material/hourglass_top:")

        @st.fragment(run_every=2)
        def pick_up_tsne() -> None:
            if map_of("tsne", When.READY) is not None:
                st.rerun(scope="app")

        pick_up_tsne()
    else:
        shown = tsne

axes = {"code": ("z1", "z2"), "pca": ("PC 1 of the codes", "PC 2 of the codes"),
        "tsne": ("t-SNE 1", "t-SNE 2")}[shown.method]
title = (f"{entry.spec.variant}, k = {k}: {len(shown.indices)} test codes"
         + ("" if shown.method == "code" else f", {METHODS[shown.method]} view"))


def scatter(_model, data, _method: str, _items: int):
    """The shown map as a chart, kept per model and map: each point's hover picture is slow."""
    return latent_scatter(shown.points, shown.labels, data.classes, images=data.x_test,
                          indices=shown.indices, title=title, axis_names=axes)


figure = svc.derived("latent-figure", entry, scatter, shown.method, MAP_POINTS)

map_col, grid_col = st.columns([3, 2]) if k == 2 else (st.container(), None)
with map_col:
    event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"),
                            key="latent-scatter")

if grid_col is not None:
    is_vae = entry.spec.variant == "vae"
    grid = svc.derived("latent-grid", entry, lambda model, n: generate.manifold_grid(
        model, n, codes=None if is_vae else shown.codes), GRID, data=False)
    with grid_col:
        st.image(image_grid(grid.images, columns=grid.n, scale=2, pad=0),
                 caption=(f"The learned manifold: the decoder's output over a {GRID} x {GRID} "
                          f"grid of the plane, z1 left to right from {grid.z1[0]:.2f} to "
                          f"{grid.z1[-1]:.2f}, z2 bottom to top from {grid.z2[0]:.2f} to "
                          f"{grid.z2[-1]:.2f}"
                          + (" (the N(0, 1) quantiles 5% to 95%, as in Kingma & Welling's "
                             "figure 4)." if is_vae else " (the middle 98% of the codes).")),
                 width="stretch", output_format="PNG")

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
    picture_col, text_col = st.columns([1, 6])
    picture_col.image(to_pixels(generate.decode(model, centre), 4), output_format="PNG")
    text_col.markdown(f"**Decoded at the centre of the selection**, z = ({centre[0, 0]:.2f}, "
                      f"{centre[0, 1]:.2f}): a code no test digit has, drawn by the decoder.")
