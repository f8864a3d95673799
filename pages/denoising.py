import streamlit as st

from aedemo import links, ui
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



link = ui.linked_settings("denoising")
cols = st.columns([3, 2, 2, 1])
with cols[0]:
    stored = ui.pick_model(denoisers, key="den-model", label="Denoising autoencoder",
                           link=link)
trained = dict(stored.spec.hparams)
# named as the CLI's flags for the noise a denoising model trains on (--noise-kind, --noise-level)
kind = cols[1].selectbox("Noise", NOISE_KINDS, index=NOISE_KINDS.index(trained["noise_kind"]),
                         key=link.seed(links.choice_param("noise-kind", NOISE_KINDS), "den-kind"))
levels = list(denoising.NOISE_LEVELS[kind])
start = (min(levels, key=lambda v: abs(v - trained["noise_level"]))
         if kind == trained["noise_kind"] else levels[len(levels) // 2])
# one slider per kind: each kind has its own levels (a sigma, or a fraction of pixels)
level = cols[2].select_slider("Noise level", levels, value=start,
                              key=link.seed(links.step_param("noise-level", levels),
                                            f"den-level-{kind}"),
                              help="Gaussian: the noise's sigma. Salt-and-pepper and masking: "
                                   "the fraction of pixels hit.")
seed = int(cols[3].number_input("Seed", 0, 10**6, 0,
                                key=link.seed(links.number_param("seed", 0, 10**6), "den-seed"),
                                help="Which test digits are shown and which noise they get"))
link.update_address()
same_kind = kind == trained["noise_kind"]
st.caption(f"This model was trained on "
           f"{denoising.describe_noise(trained['noise_kind'], trained['noise_level'])}"
           + ("; the chart below marks that level." if same_kind else
              "; try the other kinds to see how far that carries."))
if kind == "gaussian":
    st.markdown(
        f"Gaussian noise is added to every pixel and the result **clipped to [0, 1]**. On the "
        f"black background, most of a digit, the negative half of the noise is cut off: there "
        f"the noise is rectified, and at sigma {level:g} it brightens a black pixel by "
        f"{denoising.rectified_mean(level):.2f} on average instead of averaging out. A "
        f"denoiser must remove that grey veil as well as the speckle.")

k = stored.spec.latent_dim
plain_models = ui.models(variant="dense", others=False)
plain_stored = min(plain_models, key=lambda m: abs(m.spec.latent_dim - k), default=None)


def named(denoiser, plain) -> dict:
    """The autoencoders to compare, by the names the table and the chart show."""
    return {DENOISING: denoiser, **({PLAIN: plain} if plain is not None else {})}


models = named(svc.load_model(stored.id),
               svc.load_model(plain_stored.id) if plain_stored is not None else None)
if plain_stored is None:
    st.caption("No plain dense autoencoder is stored yet, so that column is left out.")

# --- a few digits, every method --------------------------------------------------------------
st.header("A few test digits, every method")
shown = pick_examples(data.y_test, range(len(data.classes)), SHOWN, seed)
result = denoising.compare_denoisers(models, data.x_test[shown], kind, level, seed=seed)
titles = {"clean": "Clean", denoising.NOISY: "Noisy input",
          DENOISING: f"Denoising AE (k = {k})", denoising.MEDIAN: "Median filter 3x3"}
# what each column's pictures are, for the alternative texts
doers = {DENOISING: f"cleaned by the denoising AE k = {k}",
         denoising.MEDIAN: "cleaned by a 3x3 median filter"}
if plain_stored is not None:
    titles[PLAIN] = f"Plain AE (k = {plain_stored.spec.latent_dim})"
    doers[PLAIN] = f"reconstructed by the plain AE k = {plain_stored.spec.latent_dim}"
order = ["clean", denoising.NOISY, DENOISING, *([PLAIN] if PLAIN in models else []),
         denoising.MEDIAN]
noise = denoising.describe_noise(kind, level)
for col, name in zip(st.columns(len(order)), order):
    col.markdown(f"**{titles[name]}**")
for i in range(len(shown)):
    digit = data.classes[int(data.y_test[shown[i]])]
    for col, name in zip(st.columns(len(order)), order):
        with col:
            if name == "clean":
                ui.picture(to_pixels(result.clean[i:i + 1], SCALE)[0],
                           alt=f"test digit {digit}, clean", caption=f"digit {digit}")
                continue
            score = f"PSNR {result.psnr[name][i]:.1f} dB, SSIM {result.ssim[name][i]:.2f}"
            what = "the noisy input" if name == denoising.NOISY else doers[name]
            ui.picture(to_pixels(result.outputs[name][i:i + 1], SCALE)[0],
                       alt=f"test digit {digit} with {noise}, {what}, {score}",
                       caption=score.replace(", ", " · "))

# --- averages and the level sweep -----------------------------------------------------------
st.header("Averages, and PSNR against the noise level")
items = min(denoising.SCORE_ITEMS, len(data.x_test))
# once per pair of models and kind of noise, for every session: about a second on a laptop
with st.spinner(f"Scoring {items} test digits at {len(levels)} noise levels…"):
    scores = svc.derived(denoising.levels_on_test_set, (stored, plain_stored), kind, items,
                         (DENOISING, PLAIN))
table_col, chart_col = st.columns([2, 3])
with table_col:
    st.markdown(f"**Averages over {items} test digits**, {noise}")
    st.dataframe(scores.table(level), hide_index=True, key="den-table")
    st.caption(scores.gains(level) + " A denoiser helps where it scores above the noisy "
               "input. An autoencoder can only draw what its small code holds, so where the "
               "noise is light it can score below the input itself. The median filter drops "
               "isolated outliers, which is what salt-and-pepper noise is made of.")
trained_level = trained["noise_level"] if same_kind else None
with chart_col:
    ui.chart(psnr_by_level_figure(scores.levels, scores.psnr, kind=kind, marked_level=level,
                                  baseline=denoising.NOISY, trained_level=trained_level),
             key="den-chart", summary=f"Over {items} test digits. "
                                      + scores.summary(trained_level))
