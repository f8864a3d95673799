from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from aedemo import preprocess, ui
from aedemo.data import DataError
from aedemo.lessons import draw
from aedemo.service import Provenance
from aedemo.viz.draw import test_set_figures, with_marks, with_stars

if TYPE_CHECKING:      # torch itself is imported through aedemo, which sets its threading first
    import torch

PAD = "draw-pad"
SHARE = "draw-share"
COPY_MIN_PX = 90                       # a copy's least width before its row wraps

st.title("Draw")
st.markdown(
    "Draw a digit with the mouse (or a finger), or upload a photo of one, and every stored "
    "model tries to copy it through its bottleneck. Before that, your drawing is framed the "
    "way MNIST's digits were: cropped to its ink, scaled to fit a 20 x 20 box and placed in a "
    "28 x 28 frame with its centre of mass in the middle, so a digit drawn small in a corner "
    "looks like one drawn large. A digit like the ones the model trained on comes back well; a "
    "scribble comes back as the nearest digit the model knows, and its error is high: that is "
    "how an autoencoder spots the unusual.")

svc = ui.service()


def from_pad() -> tuple[torch.Tensor | None, str]:
    """The drawing pad's digit framed as MNIST, and a line saying where it came from. Until
    the pad sends something in this session (coming back to the page, or a reload), it shows
    the last drawing and the page uses the saved input. The pad itself is drawn at the end of
    the run (draw_pad), with the server's copies of what it sent.

    Clear and Undo are the pad's own buttons: they act in the browser at once and then send
    the result. A Clear button in Python would have to replace the pad on a rerun, and under a
    classroom's load a stroke begun before that rerun arrived was wiped with it."""
    kept, saved = ui.last_drawing()
    try:
        sent = ui.pad_sent(PAD)
    except DataError as err:
        st.error(str(err), icon=":material/error:")
        return None, "error"
    if sent is None:
        return saved, "Your last input; draw to replace it." if saved is not None else ""
    if sent["strokes"] != kept:
        ui.keep_strokes(sent["strokes"])
    if not sent["png"]:
        return None, ""                                     # cleared
    try:
        return preprocess.pad_to_mnist(sent["png"]), ""
    except preprocess.NotADigit as err:
        st.warning(str(err), icon=":material/draw:")
        return None, "error"
    except DataError as err:
        st.error(str(err), icon=":material/error:")
        return None, "error"


def from_upload() -> tuple[torch.Tensor | None, str]:
    upload = st.file_uploader(
        "A photo or scan of one handwritten digit (PNG or JPEG)", type=["png", "jpg", "jpeg"],
        max_upload_size=max(1, preprocess.UPLOAD_MAX_BYTES // 1_000_000), key="draw-upload",
        help="Dark ink on light paper or light on dark both work; crop to the one digit.")
    if upload is None:
        return None, ""
    name = preprocess.escape_markdown(upload.name)     # a file may be named "# **big**"
    try:
        x = preprocess.upload_to_mnist(upload.getvalue())
    except DataError as err:
        st.error(preprocess.escape_markdown(f"{upload.name}: {err}"), icon=":material/error:")
        return None, "error"
    if x is None:
        st.info(f"{name}: no ink found; the image is all one shade.",
                icon=":material/image_not_supported:")
        return None, "error"
    return x, f"From {name}."


# The pad and what the models make of it side by side, on a phone too. Drawing, both are one
# component (aedemo/assets/drawing_pad.*): the copies follow the pen in the browser, and the
# server's replace them after the stroke in the same canvases; the component lays itself out
# as two halves, or on a phone as the pad at 70% with the copies one under another beside it,
# the first level with the pad. An upload has no pad: its copies sit in the right-hand column,
# the framed input below them on a phone (assets/draw_page.css).
ui.stylesheet("draw_page.css")
with st.container(key="draw-row"):
    source = st.radio("Input", ["Draw on the pad", "Upload an image"], horizontal=True,
                      key="draw-source", label_visibility="collapsed")
    drawn = source == "Draw on the pad"
    if drawn:
        # a container, not st.empty: an empty slot is cleared the moment a run starts, so the
        # pad left the page (and a stroke in progress with it) until the run drew it again;
        # in a container the pad on the screen is kept and updated in place
        pad_slot, right = st.container(), st.container()
        left = right
    else:
        left, right = st.columns([1, 1], wrap=False)
# The sections under the row are laid out before anything is computed, so that a new drawing's
# run reaches them at once. Streamlit keeps the last run's elements on the screen, faded, until
# this run redraws them: your models and the sweep are redrawn moments after the row (and the
# sweep shows the input it judged), but the verdict comes later, and a student read the last
# drawing's verdict as this one's. So the verdict says it is being computed until it is there,
# and the last one's numbers and words are hidden meanwhile, keeping their place
# (assets/draw_page.css); its charts stay, faded, until the new ones are drawn. (Emptying the
# whole section instead shrank it to one line for the run, and the page under it jumped up
# and back after every stroke.)
own_section, sweep_section = st.container(), st.container()
verdict_note, verdict_section = st.empty(), st.container(key="draw-verdict")
# Under the pad (beside the upload): the input's own words (the upload itself, a refusal), then
# the Share button, in a place of its own that is the same in every run. Streamlit keeps a run's
# elements until a later run completes: a run cut short once left an earlier run's Share
# button, disabled, one element further down beside the new one.
with left:
    input_slot, share_slot = st.container(), st.container()
# the hint and the note on where the input came from: above the button under the pad, at the
# top of the copies' column beside an upload
input_words = input_slot if drawn else right
with input_slot:
    x, note = from_pad() if drawn else from_upload()
if x is not None or drawn:           # from the pad, None is a blank pad: no drawing any more
    ui.keep_input(x)


def draw_pad(row: dict | None = None) -> None:
    """The pad, drawn once the run knows what to show beside it (``ui.pad_row``): drawn last,
    its row holds the server's copies of the drawing it sent. Each run must draw it, whatever
    stops the page first."""
    if drawn:
        with pad_slot:
            ui.drawing_pad(PAD, ui.last_drawing()[0], row)


with right:
    if x is None and note != "error":
        input_words.info(
            "Draw a digit on the black square, in white, as large or small as you like; the "
            "models answer as you draw." if drawn else
            "Upload a photo or scan of one digit; it is cropped and framed like the pad.",
            icon=":material/draw:")
    # Until the dataset and a first model are there, say what is coming; the page fills in
    # by itself when they arrive, with the drawing still on the pad.
    data, stored_models = ui.models_or_wait("image model", kind="image", prefer=draw.nearest_k,
                                            meanwhile=draw_pad)
    me = ui.student_id()
    # The lesson's models (the teacher's pins, then the zoo) speak first, the same for
    # everyone; a student's own models come after them, marked as theirs. For each variant the
    # row shows the first in Service's order: a pinned model where the teacher pinned one,
    # else the one with k nearest 16.
    whose = svc.provenance_of(me)
    lesson = [m for m in stored_models if whose(m).showcase] or stored_models
    shown = draw.one_per_variant(lesson)
    if x is None:
        draw_pad(ui.pad_row(shown, None, None, data.source))     # empty copies, ready to draw
        with share_slot:
            ui.share_button(None, key=SHARE)                     # off until there is a drawing
        st.stop()
    verdict_note.info("Computing the verdict for this drawing…",
                      icon=":material/hourglass_top:")
    model_input = preprocess.for_dataset(x, data.source)      # what the models are given
    yours = [m for m in stored_models if whose(m) is Provenance.YOURS]
    recons = draw.reconstruct_with_each([(m, svc.load_model(m.id)) for m in shown], model_input)
    if drawn:
        draw_pad(ui.pad_row(shown, recons, model_input, data.source))
    else:
        st.markdown("**Every variant's reconstruction**")
    if note:
        input_words.caption(note)
    if not drawn:
        inputs, labels = [x], ["your input, framed as MNIST"]
        if model_input is not x:
            inputs, labels = [x, model_input], ["your input, framed as MNIST",
                                                "as the models see it"]
        # the input as the models get it, then their copies, three to a row; in a phone's
        # narrow column one under another, the input moved below the copies
        with st.container(key="draw-input"):
            ui.show_images(inputs, labels, alt=labels, per_row=3, min_width=COPY_MIN_PX)
        ui.show_images([r.image for r in recons], [r.caption for r in recons],
                       alt=[r.alt for r in recons], per_row=3, min_width=COPY_MIN_PX)
with share_slot:
    # what the class's map shows is what the verdict below judged: the framed input as the
    # models were given it, never the upload or the pad's picture
    ui.share_button(model_input, key=SHARE)
with left:     # under the pad: the words that would make the copies' narrow column long
    st.caption(("Beside the pad: one model per variant, drawn in your browser as you draw; "
                if drawn else "Beside the upload: one model per variant; ") +
               "after each stroke the server's copy, with the mean squared error (MSE) "
               "between your input and it; lower is a closer copy.")
    if model_input is not x:
        st.caption("Offline without MNIST, the models learned scikit-learn's 8 x 8 digits "
                   "blown up to 28 x 28, so your drawing is coarsened the same way first. "
                   "Sharp, thin strokes still look unusual to them; with MNIST they would not.")


def bottleneck_sweep(model_input: torch.Tensor, sweep: dict) -> None:
    """The sweep runs in the browser (ui.bottleneck_sweep): its slider sends nothing, and its
    picture follows the pad's pen as the row does. The server's copies at every k come with
    it, for a model the browser cannot run."""
    st.header("A narrower or wider bottleneck")
    ks = list(sweep)
    recons = draw.reconstruct_with_each([(m, svc.load_model(m.id)) for m in sweep.values()],
                                        model_input)
    left, _ = st.columns([2, 3])
    with left:
        ui.bottleneck_sweep("draw-sweep", ui.sweep_models(recons), model_input,
                            k=draw.PREFERRED_K if draw.PREFERRED_K in ks else ks[0],
                            label="Bottleneck size k of the dense autoencoder")
    st.caption(f"With k = {ks[0]} the model can keep only the rough shape of the nearest "
               "typical digit; the larger k, the more of your own strokes survive the "
               "bottleneck.")


# The section below is a fragment: choosing another model reruns only its own section, not the
# whole page (under a classroom's load most actions are these).
@st.fragment
def among_the_dataset(model_input: torch.Tensor, shown: list) -> None:
    st.header("Your drawing among the dataset")
    # the model is the page's one setting in its address: linked inside the fragment, which
    # reruns alone when it changes
    link = ui.linked_settings("draw")
    stored = ui.pick_model_id(shown, key="draw-model", label="Seen through", link=link)
    link.update_address()
    model = svc.load_model(stored.id)
    with st.spinner("Encoding the dataset with this model (once per model)…"):
        views = svc.derived(draw.model_views, stored)
    where = draw.place(model, views, model_input)
    # the test set's map and error histogram are the same for every drawing: built once per
    # model and kept, then only the drawing's star and line are added
    latent = views.latent
    maps = svc.derived(test_set_figures, stored, given=(views,))

    map_col, score_col = st.columns([3, 2])
    with map_col:
        how = ("its two code numbers" if latent.method == "code" else
               "their first two principal components")
        ui.chart(with_stars(maps[0], {"your drawing": where.point}), key="draw-map",
                 summary=draw.map_summary(latent, where.point, svc.data.classes))
        st.caption(f"Each dot is a test digit's code, placed by {how}; the star is your "
                   "drawing. Hide a digit by clicking it in the legend.")
    with score_col:
        st.metric("Reconstruction error (MSE)", f"{where.error:.4f}",
                  help="Mean squared difference between your input and the model's copy")
        st.markdown(draw.describe_percentile(where.percentile, where.ink_kept))
        ui.chart(with_marks(maps[1], {"your drawing": where.error}), key="draw-errors",
                 summary=draw.errors_summary(views.test_errors, where.error,
                                             where.percentile))

    st.subheader("The nearest training digits in this model's code space")
    left, _ = st.columns([4, 1])
    with left:
        classes = svc.data.classes
        names = [classes[int(svc.data.y_train[i])] for i in where.neighbours]
        ui.show_images([svc.data.x_train[list(where.neighbours)]],
                       [f"a {name} · distance {d:.2f}"
                        for name, d in zip(names, where.distances)],
                       alt=[f"training digit {name}, the {draw.ordinal(i)} nearest your "
                            f"drawing in code space, distance {d:.2f}"
                            for i, (name, d) in enumerate(zip(names, where.distances), 1)],
                       per_row=5)


with own_section:
    if yours:
        st.header("Your own models")
        mine = draw.reconstruct_with_each([(m, svc.load_model(m.id)) for m in yours[:6]],
                                          model_input)
        left, _ = st.columns([2, 1])
        with left:
            ui.show_images([r.image for r in mine], [f"yours: {r.caption}" for r in mine],
                           alt=[f"{r.alt}, your own model" for r in mine], per_row=6)

sweep = draw.dense_sweep(lesson)
with sweep_section:
    if len(sweep) > 1:
        bottleneck_sweep(model_input, sweep)
with verdict_section:
    among_the_dataset(model_input, shown + [m for m in yours if m not in shown])
verdict_note.empty()
