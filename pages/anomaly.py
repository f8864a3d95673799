import pandas as pd
import streamlit as st

from aedemo import preprocess, ui
from aedemo.jobs import JobError
from aedemo.lessons import anomaly
from aedemo.models import REGISTRY, variant_names
from aedemo.viz.anomaly import error_histogram, roc_figure
from aedemo.viz.images import image_grid
from aedemo.zoo import DETECTOR, detector_spec

st.title("Anomaly detection")
st.markdown(
    "Train an autoencoder on **some digits only**, the *normal* ones. It learns to rebuild "
    "those well and never sees the others, so it rebuilds them badly: the reconstruction error "
    "becomes an anomaly score. This is the **one-class protocol** of Ruff et al., *Deep "
    "One-Class Classification* (ICML 2018): train on the normal class(es) of the training set, "
    "score every image of the test set, count every other class as an anomaly, and measure how "
    "well the score separates the two with the area under the ROC curve (AUC: 1 is perfect, "
    "0.5 is chance). The command line gives the same number: "
    "`python -m aedemo anomaly --normal 3 --variant dense --latent 16`.")

svc = ui.service()
if svc.data is None:
    st.info("Loading the dataset…", icon=":material/hourglass_top:")
    ui.refresh_when_ready(False)
    st.stop()
data = svc.data
image_variants = [n for n in variant_names() if REGISTRY[n].kind == "image"]

with st.container(border=True):
    st.markdown("**Train a detector**")
    left, mid, right = st.columns(3)
    digits = left.multiselect("Normal digit(s)", list(range(len(data.classes))),
                              default=list(DETECTOR["normal"]),
                              format_func=lambda c: data.classes[c], key="anomaly-digits",
                              help="The model trains on these only; every other class is an "
                                   "anomaly")
    variant = mid.selectbox("Variant", image_variants, key="anomaly-variant",
                            index=image_variants.index(DETECTOR["variant"]),
                            help="\n".join(f"- **{n}**: {REGISTRY[n].summary}"
                                           for n in image_variants))
    k_field = next(f for f in REGISTRY[variant].Config.params() if f.name == "latent_dim")
    k = right.slider("Bottleneck size k", k_field.metadata["low"], k_field.metadata["high"],
                     DETECTOR["latent_dim"], key="anomaly-k")
    n_normal = anomaly.count_of_classes(data.y_train, digits)
    # the defaults are the zoo's own detector: training them again finds it stored at once
    spec = detector_spec(data, tuple(digits), variant, k) if digits else None
    if spec is not None:
        st.caption(f"{n_normal:,} training images of the normal digit(s), "
                   f"{spec.train.epochs} epochs. Training runs in the background; you can "
                   f"leave the page and come back.")
    if st.button("Train detector", type="primary", icon=":material/play_arrow:",
                 key="anomaly-train", disabled=not digits):
        try:
            job = ui.submit(spec)
            st.session_state["anomaly-job"] = job.id
        except (JobError, ValueError) as err:
            st.error(str(err), icon=":material/error:")
    if len(digits) == len(data.classes):
        st.warning("With every digit normal there is nothing left to detect.")

job_id = st.session_state.get("anomaly-job")
job = svc.job(job_id) if job_id else None
if job is not None:
    ui.job_panel(job_id)
    # a detector that has just finished becomes the one shown, once
    if job.model_id and st.session_state.get("anomaly-shown-job") != job_id:
        st.session_state["anomaly-shown-job"] = job_id
        st.session_state["anomaly-model"] = job.model_id

detectors = ui.models(kind="image", one_class=True)
if not detectors:
    st.info("Your detector appears here when its training ends." if job and job.active else
            "No detector is stored yet: the zoo's is on its way, or pick the normal digit(s) "
            "above and **Train detector**.", icon=":material/troubleshoot:")
    ui.refresh_when_ready(True, {"kind": "image", "one_class": True})
    st.stop()

st.subheader("How well it separates")
labels = {m.id: ui.model_label(m) for m in detectors}
if st.session_state.get("anomaly-model") not in labels:
    st.session_state.pop("anomaly-model", None)
chosen = st.selectbox("Detector", list(labels), format_func=labels.get, key="anomaly-model")
entry = next(m for m in detectors if m.id == chosen)
normal_names = ", ".join(data.classes[c] for c in entry.spec.normal)
try:
    with st.spinner("Scoring every test image (once per detector)…"):
        scores = svc.derived("anomaly-scores", entry, anomaly.score_test_set,
                             entry.spec.normal)
except ValueError as err:
    st.error(f"This detector cannot be scored: {err}", icon=":material/error:")
    st.stop()
model = svc.load_model(entry.id)

normal_share = 100 * (1 - scores.is_anomaly.mean())
percentile = st.slider(
    "Threshold: flag the test images whose error is above this percentile of all test errors",
    1, 99, int(min(99, max(1, round(normal_share)))), key="anomaly-threshold",
    help="The default flags as many images as there are anomalies. Lower it to catch more "
         "anomalies at the cost of more false alarms.")
threshold = anomaly.quantile_threshold(scores.scores, percentile)
report = anomaly.threshold_report(scores.scores, scores.is_anomaly, threshold)

marks = {}
drawing = st.session_state.get("aedemo_drawing")
drawing_error = None
if drawing is not None and tuple(drawing.shape[1:]) == (1, 28, 28):
    # as the detector's training images were made (coarsened for the offline digits)
    drawing_error = anomaly.error_of(model, preprocess.for_dataset(drawing, entry.spec.dataset))
    marks["your drawing"] = drawing_error

left, right = st.columns(2)
left.plotly_chart(error_histogram(scores.scores, scores.is_anomaly, threshold=threshold,
                                  marks=marks, names=(f"normal ({normal_names})", "anomalous"),
                                  title="Test reconstruction errors"), key="anomaly-hist")
right.plotly_chart(roc_figure(scores.fpr, scores.tpr, scores.auc,
                              point=(report.false_alarm_rate, report.recall),
                              title=f"ROC curve: AUC {scores.auc:.3f}"), key="anomaly-roc")

cols = st.columns(5)
cols[0].metric("AUC", f"{scores.auc:.3f}", help="Threshold-free: the chance that a random "
               "anomaly scores higher than a random normal image")
cols[1].metric("Precision", f"{report.precision:.2f}", help="Of the flagged, the share that "
               "are anomalies")
cols[2].metric("Recall", f"{report.recall:.2f}", help="Of the anomalies, the share flagged")
cols[3].metric("F1", f"{report.f1:.2f}", help="Harmonic mean of precision and recall")
cols[4].metric("False alarms", f"{report.false_alarm_rate:.0%}", help="Of the normal images, "
               "the share flagged")
st.caption(f"Threshold {report.threshold:.4f}: the {percentile}th percentile of the test errors.")
st.table(pd.DataFrame(report.confusion,
                      index=[f"actually normal ({normal_names})", "actually anomalous"],
                      columns=["not flagged", "flagged"]))
if drawing_error is not None:
    flagged = "flagged as anomalous" if drawing_error >= threshold else "passed as normal"
    st.markdown(f"**Your drawing** from the Draw page scores {drawing_error:.4f}: "
                f"{flagged} at this threshold (the line on the histogram).")

worst = anomaly.most_anomalous(scores.scores, 10)
worst_normal = anomaly.most_anomalous(scores.scores, 10, among=~scores.is_anomaly)
for title, idx in (("The most anomalous test images (top) and their reconstructions", worst),
                   ("The worst-reconstructed normal images: the false alarms to expect",
                    worst_normal)):
    st.markdown(f"**{title}**")
    st.caption(" · ".join(f"{data.classes[int(scores.labels[i])]}: {scores.scores[i]:.3f}"
                          for i in idx))
    st.image(image_grid(anomaly.gallery(model, data, idx), columns=len(idx), scale=3))
