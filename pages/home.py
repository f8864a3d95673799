import streamlit as st

from aedemo import data as datasets
from aedemo import links, menu, ui
from aedemo.models import REGISTRY, variant_names
from aedemo.viz.home import architecture_figure, architecture_summary, scale_note, squeeze

st.title("Autoencoders, hands on")
st.markdown(
    "An **autoencoder** is a network trained to copy its input to its output through a narrow "
    "middle layer, the **bottleneck** or **code**. The *encoder* squeezes a 784-pixel digit "
    "into k numbers; the *decoder* rebuilds the digit from those k numbers alone. When k is "
    "smaller than 784, the network cannot simply pass the pixels through (the identity map): "
    "it has to find what digits have in common (strokes, loops, slants) and keep only what "
    "tells one image from another. The bottleneck stops *copying*, not *memorising*: trained "
    "on too few digits, a narrow network still learns those by heart (the Reconstructions page "
    "shows both). No labels are needed, the image is its own target, so this is "
    "*unsupervised* learning. Changing the loss or the input gives the variants you can try "
    "here: denoising, sparse, variational, convolutional, and an LSTM for time series.")

link = ui.linked_settings("home")
left, right = st.columns([1, 2])
with left:
    variant = st.selectbox("Architecture", variant_names(),
                           format_func=lambda n: f"{n}: {REGISTRY[n].summary}",
                           key=link.seed(links.choice_param("variant", variant_names()),
                                         "home-variant"))
    k_field = next(f for f in REGISTRY[variant].Config.params() if f.name == "latent_dim")
    k = ui.hparam_input(k_field, key="home-k", label="Bottleneck size k", link=link)
link.update_address()
with right:
    layers = ui.architecture(variant, k)
    # a sequence model's sizes are per time step: its series are this long
    steps = datasets.SERIES_LENGTH
    factor = squeeze(layers, steps)
    squeezed = (f": {factor:.0f}x fewer numbers in the code" if factor and factor > 1 else
                ": a code wider than the input" if factor else "")
    ui.chart(architecture_figure(layers, title=f"{variant} autoencoder with k = {k}{squeezed}",
                                 steps=steps),
             key="architecture", summary=architecture_summary(layers, steps))
    st.caption(scale_note(layers, steps))
    if factor is not None and factor <= 1:
        st.caption(f"With k = {k} the code is at least as wide as the input: nothing forces "
                   "the network to do more than copy. The Reconstructions page shows what "
                   "such a network makes of a scribble.")

st.header("The pages")
for page in menu.PAGES[1:]:
    st.page_link(page.path, label=f"**{page.title}**: {page.blurb}", icon=page.icon)
