import streamlit as st

from aedemo import menu, ui
from aedemo.models import REGISTRY, variant_names
from aedemo.viz.home import architecture_figure

st.title("Autoencoders, hands on")
st.markdown(
    "An **autoencoder** is a network trained to copy its input to its output through a narrow "
    "middle layer, the **bottleneck** or **code**. The *encoder* squeezes a 784-pixel digit "
    "into k numbers; the *decoder* rebuilds the digit from those k numbers alone. Because k is "
    "far smaller than 784, the network cannot simply memorise pixels: it has to find what "
    "digits have in common (strokes, loops, slants) and keep only what tells one image from "
    "another. No labels are needed, the image is its own target, so this is *unsupervised* "
    "learning. Changing the loss or the input gives the variants you can try here: denoising, "
    "sparse, variational, convolutional, and an LSTM for time series.")

left, right = st.columns([1, 2])
with left:
    variant = st.selectbox("Architecture", variant_names(),
                           format_func=lambda n: f"{n}: {REGISTRY[n].summary}")
    k_field = next(f for f in REGISTRY[variant].Config.params() if f.name == "latent_dim")
    k = st.slider("Bottleneck size k", k_field.metadata["low"], k_field.metadata["high"],
                  k_field.default, key="home-k")
with right:
    st.plotly_chart(architecture_figure(ui.architecture(variant, k),
                                        title=f"{variant} autoencoder with k = {k}"),
                    key="architecture")

st.subheader("The pages")
for page in menu.PAGES[1:]:
    st.page_link(page.path, label=f"**{page.title}**: {page.blurb}", icon=page.icon)
