from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from aedemo import drawing, preprocess, ui, viz
from aedemo.data import DataError
from aedemo.viz.anomaly import error_histogram
from aedemo.viz.latent import latent_scatter

if TYPE_CHECKING:      # torch itself is imported through aedemo, which sets its threading first
    import torch

DRAWING = "aedemo_drawing"             # the latest input, (1, 1, 28, 28): the Anomaly page reads it
STROKES = "aedemo_drawing_strokes"     # the canvas' own JSON, to redraw it on coming back

st.title("Draw")
st.markdown(
    "Draw a digit with the mouse (or a finger) and every stored model tries to copy it through "
    "its bottleneck. Before that, your drawing is framed the way MNIST's digits were: cropped "
    "to its ink, scaled to fit a 20 x 20 box and placed in a 28 x 28 frame with its centre of "
    "mass in the middle, so a digit drawn small in a corner looks like one drawn large. A "
    "digit like the ones the model trained on comes back well; a scribble comes back as the "
    "nearest digit the model knows, and its error is high: that is how an autoencoder spots "
    "the unusual.")

svc = ui.service()


def image_row(images: list[torch.Tensor], captions: list[str], scale: int = 4) -> None:
    """Images side by side in equal columns, each with its caption under it (st.image with a
    list sizes each picture by its caption's width). Only this page needs it, so it is here
    rather than in aedemo.ui."""
    pictures = viz.to_pixels(images, scale)
    for column, pixels, caption in zip(st.columns(len(pictures)), pictures, captions):
        column.image(pixels)
        column.caption(caption)


def clear() -> None:
    st.session_state["draw-clear"] = st.session_state.get("draw-clear", 0) + 1
    for key in (DRAWING, STROKES):
        st.session_state.pop(key, None)


def from_canvas() -> tuple[torch.Tensor | None, str]:
    """The canvas framed as MNIST, and a line saying where it came from. Coming back to the
    page redraws the saved strokes, and the saved input stands for them until the next stroke
    (the canvas sends its picture only when it is drawn on)."""
    key = f"draw-canvas-{st.session_state.get('draw-clear', 0)}"
    if key not in st.session_state:                 # a new canvas: redraw the last strokes
        st.session_state["draw-initial"] = st.session_state.get(STROKES)
    result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                       height=280, width=280, drawing_mode="freedraw",
                       initial_drawing=st.session_state.get("draw-initial"),
                       return_image_data=True, key=key)
    st.button("Clear", on_click=clear, icon=":material/delete:", key="draw-clear-button")
    if result.image_data is None:
        saved = st.session_state.get(DRAWING)
        return saved, "Your last input; draw to replace it." if saved is not None else ""
    x = preprocess.to_mnist(result.image_data)
    if x is not None:
        st.session_state[STROKES] = result.json_data
    return x, ""


def from_upload() -> tuple[torch.Tensor | None, str]:
    upload = st.file_uploader(
        "A photo or scan of one handwritten digit (PNG or JPEG)", type=["png", "jpg", "jpeg"],
        max_upload_size=max(1, preprocess.UPLOAD_MAX_BYTES // 1_000_000), key="draw-upload",
        help="Dark ink on light paper or light on dark both work; crop to the one digit.")
    if upload is None:
        return None, ""
    try:
        x = preprocess.upload_to_mnist(upload.getvalue())
    except DataError as err:
        st.error(f"{upload.name}: {err}", icon=":material/error:")
        return None, "error"
    if x is None:
        st.info(f"{upload.name}: no ink found; the image is all one shade.",
                icon=":material/image_not_supported:")
        return None, "error"
    return x, f"From {upload.name}."


left, right = st.columns([1, 1])
with left:
    source = st.radio("Input", ["Draw on the canvas", "Upload an image"], horizontal=True,
                      key="draw-source", label_visibility="collapsed")
    drawn = source == "Draw on the canvas"
    st.space("small")                    # room for the canvas' toolbar, which sits above it
    x, note = from_canvas() if drawn else from_upload()
if x is not None:
    st.session_state[DRAWING] = x
    if not drawn:
        st.session_state.pop(STROKES, None)          # the canvas' old strokes are not it now
elif drawn:
    st.session_state.pop(DRAWING, None)              # a blank canvas: no drawing any more
seen = x                                          # what the models are given
if x is not None and svc.data is not None:
    seen = preprocess.for_dataset(x, svc.data.source)
with right:
    if x is not None:
        st.caption(("What the models see: your" if seen is x else "Your") + " input framed as "
                   "an MNIST digit, 28 x 28 pixels. " + note)
        if seen is x:
            ui.show_images(x, scale=8)
        else:
            ui.show_images([x, seen], ["framed as MNIST", "as the models see it"],
                           scale=6)
            st.caption("Offline, the models learned scikit-learn's 8 x 8 digits blown up to "
                       "28 x 28, so your drawing is coarsened the same way first. Sharp, thin "
                       "strokes still look unusual to them; with MNIST they would not.")
    elif note != "error":
        st.info("Draw a digit on the black square, in white, as large or small as you like. "
                "**Clear** starts again." if drawn else
                "Upload a photo or scan of one digit; it is cropped and framed like the canvas.",
                icon=":material/draw:")

if svc.data is None:
    st.info("Loading the dataset…", icon=":material/hourglass_top:")
    st.stop()
entries = svc.models(kind="image", dataset=svc.data.source)
if not entries:
    ui.waiting_for_models("image model")
    st.stop()
if x is None:
    st.stop()

st.subheader("Every variant's reconstruction")
shown = drawing.one_per_variant(entries)
recons = drawing.reconstruct_with_each([(m, svc.load_model(m.id)) for m in shown], seen)
st.caption("One stored model per variant, with the mean squared error between your input and "
           "its copy: lower is a closer copy.")
image_row([r.image for r in recons], [r.caption for r in recons])

sweep = drawing.dense_sweep(entries)
if len(sweep) > 1:
    st.subheader("A narrower or wider bottleneck")
    ks = list(sweep)
    k = st.select_slider("Bottleneck size k of the dense autoencoder", ks,
                         value=drawing.PREFERRED_K if drawing.PREFERRED_K in ks else ks[0],
                         key="draw-k")
    (r,) = drawing.reconstruct_with_each([(sweep[k], svc.load_model(sweep[k].id))], seen)
    left, _ = st.columns([2, 3])
    with left:
        image_row([seen, r.image], ["your input", r.caption])
    st.caption("With k = 2 the model can keep only the rough shape of the nearest typical "
               "digit; the larger k, the more of your own strokes survive the bottleneck.")

st.subheader("Your drawing among the dataset")
labels = {m.id: ui.model_label(m) for m in shown}
chosen = st.selectbox("Seen through", list(labels), format_func=labels.get, key="draw-model")
entry = next(m for m in shown if m.id == chosen)
model = svc.load_model(entry.id)
with st.spinner("Encoding the dataset with this model (once per model)…"):
    views = drawing.views_for(svc, entry)
where = drawing.place(model, views, seen)

map_col, score_col = st.columns([3, 2])
with map_col:
    latent = views.latent
    axes = ("z1", "z2") if latent.method == "code" else ("PC 1", "PC 2")
    how = ("its two code numbers" if latent.method == "code" else
           "their first two principal components")
    st.plotly_chart(latent_scatter(latent.points, latent.labels, svc.data.classes,
                                   indices=latent.indices, marked={"your drawing": where.point},
                                   title="Test digits' codes, and yours",
                                   axis_names=axes), key="draw-map")
    st.caption(f"Each dot is a test digit's code, placed by {how}; the star is your drawing. "
               "Hide a digit by clicking it in the legend.")
with score_col:
    st.metric("Reconstruction error (MSE)", f"{where.error:.4f}",
              help="Mean squared difference between your input and the model's copy")
    st.markdown(drawing.describe_percentile(where.percentile))
    st.plotly_chart(error_histogram(views.test_errors, names=("test digits",),
                                    marks={"your drawing": where.error},
                                    title="Your error among the test digits'"),
                    key="draw-errors")

st.markdown("**The nearest training digits in this model's code space**")
left, _ = st.columns([4, 1])
with left:
    image_row([svc.data.x_train[list(where.neighbours)]],
              [f"a {svc.data.classes[int(svc.data.y_train[i])]} · distance {d:.2f}"
               for i, d in zip(where.neighbours, where.distances)], scale=3)
