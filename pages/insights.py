import streamlit as st

from aedemo import links, ui
from aedemo.lessons import insights
from aedemo.models.sparse import NEAR_ZERO
from aedemo.viz.images import to_pixels
from aedemo.viz.insights import (
    activation_histogram,
    activation_summary,
    feature_maps_figure,
    feature_maps_summary,
    filters_figure,
    filters_summary,
)

CODE_ITEMS = 1000     # test images whose codes make the histogram and the atoms' scales
ATOMS_PER_ROW = 10      # wide enough cells for "unit 59: 70%" on one line

st.title("Sparse and conv")
st.markdown(
    "Two ways of shaping what happens inside. A **sparse** autoencoder adds an **L1 penalty**, "
    "λ·Σ|a|, to its loss: it charges each code unit for *how strongly* it fires, so the "
    "cheapest code leaves most units at exactly zero and describes each digit with a few. "
    "(A fixed price for every active unit would be L0, which gives no gradient to train with.) "
    "Its code is a ReLU, which is zero for every negative input, so some units are off even "
    "without the penalty: the **control**, the same network trained with λ = 0, tells the two "
    "apart. Its decoder is **one non-negative linear layer** (before the output's sigmoid): "
    "each unit adds its own fixed image, its **atom**, scaled by how strongly it fires. Atoms "
    "that can only add ink, all of one length and each charged for the pixels it uses, become "
    "parts of digits, strokes, rather than whole-digit templates (parts from non-negativity: "
    "Lee & Seung, 1999; from sparse atoms: Hoyer, 2004).\n\n"
    "A **convolutional** autoencoder slides small 3x3 filters over the image: each filter is "
    "a detector for a local pattern (an edge, a stroke end), and its **feature map** shows "
    "where in the digit it fires.")

svc = ui.service()
data = ui.data_or_wait()
link = ui.linked_settings("insights")
# The default needs an L1 penalty: the l1 = 0 control is what it is compared with, not the
# lesson, so even a pinned control is listed after the penalised models.
sparse_models = ui.models(variant="sparse", need=lambda m: insights.l1_of(m) > 0)
conv_models = ui.models(variant="conv")
missing = [{"variant": v} for v, found in (("sparse", sparse_models), ("conv", conv_models))
           if not found]
if missing:                           # each half of the page says what it is waiting for
    ui.refresh_when_ready(True, *missing)


def codes_of(stored) -> insights.CodeStats:
    return svc.derived(insights.code_stats_on_test_set, stored, min(CODE_ITEMS, len(data.x_test)))


def l1_name(l1: float, chosen: float) -> str:
    role = "chosen" if l1 == chosen else "control, no penalty" if l1 == 0 else "same network"
    return f"λ = {l1:g} ({role})"


# --- sparse ----------------------------------------------------------------------------------
st.header("Sparse codes")
if not sparse_models:
    ui.waiting_for_models("sparse autoencoder")
else:
    stored = ui.pick_model(sparse_models, key="ins-sparse", label="Sparse autoencoder",
                           link=link)
    k, chosen = stored.spec.latent_dim, insights.l1_of(stored)
    family = insights.same_network(stored, ui.models(variant="sparse", others=False))
    stats = {l1: codes_of(m) for l1, m in family.items()}
    mine, control = stats[chosen], stats.get(0.0)
    items = len(mine.codes)
    # the others first and the chosen model last, so on top: its spike at zero stays visible
    values = {l1_name(l1, chosen): s.values for l1, s in stats.items() if l1 != chosen}
    values[l1_name(chosen, chosen)] = mine.values
    hist_col, metric_col = st.columns([3, 1])
    with hist_col:
        ui.chart(activation_histogram(
            values, f"Code activations of sparse k = {k} over {items:,} test digits, by L1 "
                    f"weight λ"), key="ins-histogram",
                 summary=f"Sparse k = {k} over {items:,} test digits. "
                         + activation_summary(values))
    compare = control is not None and chosen != 0
    metric_col.metric("Near-zero activations", f"{mine.near_zero:.0%}",
                      delta=f"{(mine.near_zero - control.near_zero) * 100:+.0f} points "
                            f"against λ = 0" if compare else None, delta_color="off",
                      help=f"|activation| < {NEAR_ZERO:g}, over {items:,} test digits")
    metric_col.metric("Units on per digit", f"{mine.active_per_image:.1f} of {k}",
                      delta=f"{mine.active_per_image - control.active_per_image:+.1f} "
                            f"against λ = 0" if compare else None, delta_color="off")
    st.markdown(insights.what_the_penalty_adds(stats, chosen))
    st.dataframe(insights.l1_table(stats, chosen), hide_index=True, key="ins-l1-table")
    st.caption(f"The same network (sparse, k = {k}) at every L1 weight stored, on the same "
               f"{items:,} test digits. Train it at another λ on the Train page to add a row.")

    st.subheader("Atoms: what each unit draws")
    live = mine.live_units()
    if len(live) == 0:
        st.caption("No unit fires on these test digits: the code is switched off entirely. "
                   + ("Train with a smaller L1 weight." if chosen > 0 else ""))
    else:
        scale = mine.activation_scale()
        atoms = svc.derived(insights.atoms, stored, given=(scale,), data=False)
        empty = insights.empty_code_image(svc.load_model(stored.id))
        rate = mine.firing_rate()
        shares = [f"{rate[j]:.0%}" if rate[j] >= 0.01 else "<1%" for j in live]
        ui.show_images(
            [empty, atoms[live]], ["empty code"] + [f"unit {j + 1}: {s}"
                                                    for j, s in zip(live, shares)],
            alt=["the empty code: what the decoder draws with every unit off"]
            + [f"atom of unit {j + 1}: what the decoder draws with only unit {j + 1} on, at "
               f"activation {scale[j]:.2f}; the unit is on for {s} of the test digits"
               for j, s in zip(live, shares)],
            scale=3, per_row=ATOMS_PER_ROW)
        never = (f"{mine.dead_units} of the {k} units never fire on these digits, so the code "
                 f"uses only the rest")
        if control is not None and chosen != 0:
            never += f" (without the penalty, {control.dead_units} never fire)"
        st.caption(
            f"First what the decoder draws from an all-zero code, then each unit that fires "
            f"switched on alone, at a strong activation (the 95th percentile of its activations "
            f"when on), most used first, with the share of digits it is on for. {never}.")

# --- convolutional ---------------------------------------------------------------------------
st.header("Convolutional filters and feature maps")
if not conv_models:
    ui.waiting_for_models("convolutional autoencoder")
else:
    left, right = st.columns([3, 1])
    with left:
        conv_stored = ui.pick_model(conv_models, key="ins-conv", label="Convolutional autoencoder",
                                    link=link, link_as="conv-model")
    index = int(right.number_input(
        "Test digit #", 0, len(data.x_test) - 1, 0,
        key=link.seed(links.number_param("digit", 0, len(data.x_test) - 1), "ins-digit")))
    conv = svc.load_model(conv_stored.id)
    weights = insights.first_layer_filters(conv)
    ui.chart(filters_figure(weights), key="ins-filters", summary=filters_summary(weights))
    digit = data.x_test[index]
    label = data.classes[int(data.y_test[index])]
    maps = insights.feature_maps(conv, digit)
    digit_col, maps_col = st.columns([1, 5])
    with digit_col:
        ui.picture(to_pixels(digit[None], 4)[0], alt=f"test digit #{index}, a {label}",
                   caption=f"#{index}: {label}")
    with maps_col:
        for depth, m in enumerate(maps, start=1):
            what = f"Layer {depth}: {m.shape[0]} feature maps of {m.shape[1]}x{m.shape[2]}"
            ui.chart(feature_maps_figure(m, what), key=f"ins-maps-{depth}",
                     summary=feature_maps_summary(m, f"Layer {depth} for test digit #{index}, "
                                                     f"a {label}"))
    st.caption("Layer 1 maps are the digit seen through each filter above (stride 2 halves the "
               "size); layer 2 combines them into larger, more abstract parts at a quarter of "
               "the resolution. Each map is scaled to its own strongest response (white), so a "
               "map that barely fires looks as bright as one that fires hard: hover over a map "
               "for its raw activation.")
link.update_address()
