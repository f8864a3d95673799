import streamlit as st

from aedemo import ui
from aedemo.lessons import denoising
from aedemo.lessons.reconstructions import pick_examples
from aedemo.noise import NOISE_KINDS
from aedemo.viz.denoising import psnr_by_level_figure
from aedemo.viz.images import to_pixels

SHOWN = 5
SCALE = 5           # 140-pixel digits: wider than their PSNR/SSIM captions, so all columns match
DENOISING, PLAIN = "denoising AE", "plain AE"

st.title("Denoising")
st.markdown(
    "A **denoising autoencoder** is shown a corrupted digit and trained to output the clean "
    "one (Vincent et al., 2008). It cannot just copy its input, so it has to learn what digits "
    "look like, and it uses that to fill in what the noise hid. Compare it with a **plain "
    "autoencoder** of the same size that never saw noise, and with a **3x3 median filter**, the "
    "classical fix that knows nothing about digits. Each output is scored against the clean "
    "image: **PSNR** (in dB, higher is closer) and **SSIM** (structural similarity, 1 is "
    "identical).")

svc = ui.service()
data, denoisers = ui.models_or_wait("denoising autoencoder", variant="denoising")



cols = st.columns([3, 2, 2, 1])
with cols[0]:
    entry = ui.pick_model(denoisers, key="den-model", label="Denoising autoencoder")
trained = dict(entry.spec.hparams)
kind = cols[1].selectbox("Noise", NOISE_KINDS, index=NOISE_KINDS.index(trained["noise_kind"]),
                         key="den-kind")
levels = list(denoising.NOISE_LEVELS[kind])
start = (min(levels, key=lambda v: abs(v - trained["noise_level"]))
         if kind == trained["noise_kind"] else levels[len(levels) // 2])
# one slider per kind: each kind has its own levels (a sigma, or a fraction of pixels)
level = cols[2].select_slider("Noise level", levels, value=start, key=f"den-level-{kind}",
                              help="Gaussian: the noise's sigma. Salt-and-pepper and masking: "
                                   "the fraction of pixels hit.")
seed = int(cols[3].number_input("Seed", 0, 10**6, 0, key="den-seed"))
st.caption(f"This model was trained on {trained['noise_kind']} noise at level "
           f"{trained['noise_level']:g}; try the other kinds to see how far that carries.")

k = entry.spec.latent_dim
plain_models = ui.models(variant="dense", others=False)
plain_entry = min(plain_models, key=lambda m: abs(m.spec.latent_dim - k), default=None)


def named(denoiser, plain) -> dict:
    """The autoencoders to compare, by the names the table and the chart show."""
    return {DENOISING: denoiser, **({PLAIN: plain} if plain is not None else {})}


models = named(svc.load_model(entry.id),
               svc.load_model(plain_entry.id) if plain_entry is not None else None)
if plain_entry is None:
    st.caption("No plain dense autoencoder is stored yet, so that column is left out.")

# --- a few digits, every method --------------------------------------------------------------
shown = pick_examples(data.y_test, range(len(data.classes)), SHOWN, seed)
result = denoising.compare_denoisers(models, data.x_test[shown], kind, level, seed=seed)
titles = {"clean": "Clean", denoising.NOISY: "Noisy input",
          DENOISING: f"Denoising AE (k = {k})", denoising.MEDIAN: "Median filter 3x3"}
if plain_entry is not None:
    titles[PLAIN] = f"Plain AE (k = {plain_entry.spec.latent_dim})"
order = ["clean", denoising.NOISY, DENOISING, *([PLAIN] if PLAIN in models else []),
         denoising.MEDIAN]
for col, name in zip(st.columns(len(order)), order):
    col.markdown(f"**{titles[name]}**")
for i in range(len(shown)):
    for col, name in zip(st.columns(len(order)), order):
        if name == "clean":
            col.image(to_pixels(result.clean[i:i + 1], SCALE)[0],
                      caption=f"digit {data.classes[int(data.y_test[shown[i]])]}",
                      output_format="PNG")
        else:
            col.image(to_pixels(result.outputs[name][i:i + 1], SCALE)[0],
                      caption=f"PSNR {result.psnr[name][i]:.1f} dB · SSIM "
                              f"{result.ssim[name][i]:.2f}", output_format="PNG")

# --- averages and the level sweep -----------------------------------------------------------
items = min(denoising.SCORE_ITEMS, len(data.x_test))
# once per pair of models and kind of noise, for every session: about a second on a laptop
with st.spinner(f"Scoring {items} test digits at {len(levels)} noise levels…"):
    scores = svc.derived("den-scores", (entry, plain_entry),
                         lambda den, plain, data, kind, n: denoising.score_levels(
                             named(den, plain), data.x_test[:n], kind), kind, items)
table_col, chart_col = st.columns([2, 3])
with table_col:
    st.markdown(f"**Averages over {items} test digits**, {kind} noise at level {level:g}")
    st.dataframe(scores.table(level), hide_index=True, key="den-table")
    st.caption("A denoiser helps where it scores above the noisy input. An autoencoder "
               "can only draw what its small code holds, so on light noise it may score below "
               "the input itself. The median filter shines on light salt-and-pepper noise, "
               "whose isolated outliers it simply drops.")
chart_col.plotly_chart(psnr_by_level_figure(scores.levels, scores.psnr, kind=kind,
                                            marked_level=level, baseline=denoising.NOISY),
                       key="den-chart")
