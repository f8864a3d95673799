import streamlit as st

from aedemo import ui
from aedemo.lessons import insights
from aedemo.models.sparse import NEAR_ZERO
from aedemo.viz.images import to_pixels
from aedemo.viz.insights import activation_histogram, feature_maps_figure, filters_figure

CODE_ITEMS = 1000     # test images whose codes make the histogram and the atoms' scales

st.title("Sparse and conv")
st.markdown(
    "Two ways of shaping what happens inside. A **sparse** autoencoder pays a penalty (L1) for "
    "every active code unit, so each digit is described by a few units out of many; what each "
    "unit stands for can be seen by decoding it alone, its **atom**. A **convolutional** "
    "autoencoder slides small 3x3 filters over the image: each filter is a detector for a "
    "local pattern (an edge, a stroke end), and its **feature map** shows where in the digit "
    "it fires.")

svc = ui.service()
data = svc.data
if data is None:
    st.info("Loading the dataset…", icon=":material/hourglass_top:")
    ui.refresh_when_ready(False)
    st.stop()
sparse_models = ui.models(variant="sparse")
conv_models = ui.models(variant="conv")
missing = [{"variant": v} for v, found in (("sparse", sparse_models), ("conv", conv_models))
           if not found]
if missing:                           # each half of the page says what it is waiting for
    ui.refresh_when_ready(True, *missing)



def codes_of(entry) -> insights.CodeStats:
    return svc.derived("ins-codes", entry,
                       lambda model, data, n: insights.code_stats(model, data.x_test[:n]),
                       min(CODE_ITEMS, len(data.x_test)))


# --- sparse ----------------------------------------------------------------------------------
st.header("Sparse codes")
if not sparse_models:
    ui.waiting_for_models("sparse autoencoder")
else:
    entry = ui.pick_model(sparse_models, key="ins-sparse", label="Sparse autoencoder")
    k = entry.spec.latent_dim
    dense_models = ui.models(variant="dense", others=False)
    dense_entry = min(dense_models, key=lambda m: abs(m.spec.latent_dim - k), default=None)
    sparse_stats = codes_of(entry)
    values = {}
    hist_col, metric_col = st.columns([3, 1])
    metric_col.metric("Near-zero activations, sparse", f"{sparse_stats.near_zero:.0%}",
                      help=f"|activation| < {NEAR_ZERO:g}")
    metric_col.metric("Units on per digit, sparse",
                      f"{sparse_stats.active_per_image:.1f} of {k}")
    if dense_entry is not None:
        dense_stats = codes_of(dense_entry)
        values[f"dense (k = {dense_entry.spec.latent_dim})"] = dense_stats.values
        metric_col.metric("Near-zero activations, dense", f"{dense_stats.near_zero:.0%}")
    else:
        metric_col.caption("No dense autoencoder is stored yet to compare with.")
    # drawn last, so on top: the sparse code's spike at zero stays visible over the dense one
    values[f"sparse (k = {k}, L1 = {dict(entry.spec.hparams)['l1']:g})"] = sparse_stats.values
    hist_col.plotly_chart(activation_histogram(values), key="ins-histogram")

    st.subheader("Atoms: what each unit draws")
    live = sparse_stats.live_units()
    if len(live) == 0:
        st.caption("No unit fires on these test digits: the L1 penalty has switched the whole "
                   "code off. Train with a smaller L1 weight.")
    else:
        scale = sparse_stats.activation_scale()
        atoms = svc.derived("ins-atoms", entry, lambda model: insights.atoms(model, scale),
                            data=False)
        empty = insights.empty_code_image(svc.load_model(entry.id))
        rate = sparse_stats.firing_rate()
        pictures = to_pixels([empty, atoms[live]], 3)
        st.image(pictures, output_format="PNG",
                 caption=["empty code"] + [f"unit {j + 1}: {rate[j]:.0%}" if rate[j] >= 0.01
                                           else f"unit {j + 1}: <1%" for j in live])
        st.caption(
            f"First what the decoder draws from an all-zero code, then each unit that fires "
            f"switched on alone, at a strong activation (the 95th percentile of its activations "
            f"when on), most used first, with the share of digits it is on for. "
            f"{k - len(live)} of the {k} units never fire on these digits: the L1 penalty has "
            f"switched them off, and the code uses only the rest.")

# --- convolutional ---------------------------------------------------------------------------
st.header("Convolutional filters and feature maps")
if not conv_models:
    ui.waiting_for_models("convolutional autoencoder")
else:
    left, right = st.columns([3, 1])
    with left:
        conv_entry = ui.pick_model(conv_models, key="ins-conv", label="Convolutional autoencoder")
    index = int(right.number_input("Test digit #", 0, len(data.x_test) - 1, 0,
                                   key="ins-digit"))
    conv = svc.load_model(conv_entry.id)
    st.plotly_chart(filters_figure(insights.first_layer_filters(conv)),
                    key="ins-filters")
    digit = data.x_test[index]
    maps = insights.feature_maps(conv, digit)
    digit_col, maps_col = st.columns([1, 5])
    digit_col.image(to_pixels(digit[None], 4)[0],
                    caption=f"#{index}: {data.classes[int(data.y_test[index])]}",
                    output_format="PNG")
    with maps_col:
        for depth, m in enumerate(maps, start=1):
            st.plotly_chart(feature_maps_figure(
                m, f"Layer {depth}: {m.shape[0]} feature maps of {m.shape[1]}x{m.shape[2]}"),
                key=f"ins-maps-{depth}")
    st.caption("Layer 1 maps are the digit seen through each filter above (stride 2 halves the "
               "size); layer 2 combines them into larger, more abstract parts at a quarter of "
               "the resolution.")
