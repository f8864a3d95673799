import pandas as pd
import streamlit as st

from aedemo import links, preprocess, ui
from aedemo.jobs import JobError
from aedemo.lessons import anomaly
from aedemo.models import REGISTRY, variant_names
from aedemo.viz.anomaly import error_histogram, per_class_figure, roc_figure
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
    "0.5 is chance). The command line gives the same numbers: "
    "`python -m aedemo anomaly --normal 3 --variant dense --latent 16`.")

svc = ui.service()
data = ui.data_or_wait()
image_variants = [n for n in variant_names() if REGISTRY[n].kind == "image"]

link = ui.linked_settings("anomaly")
with st.container(border=True):
    st.header("Train a detector")
    left, mid, right = st.columns(3)
    all_classes = list(range(len(data.classes)))
    digits = left.multiselect("Normal digit(s)", all_classes,
                              default=list(DETECTOR["normal"]),
                              format_func=lambda c: data.classes[c],
                              key=link.seed(links.several_param("normal", all_classes),
                                            "anomaly-digits"),
                              help="The model trains on these only; every other class is an "
                                   "anomaly")
    variant = mid.selectbox("Variant", image_variants,
                            key=link.seed(links.choice_param("variant", image_variants),
                                          "anomaly-variant"),
                            index=image_variants.index(DETECTOR["variant"]),
                            help="\n".join(f"- **{n}**: {REGISTRY[n].summary}"
                                           for n in image_variants))
    k_field = next(f for f in REGISTRY[variant].Config.params() if f.name == "latent_dim")
    with right:
        k = ui.hparam_input(k_field, key="anomaly-k", label="Bottleneck size k",
                            default=DETECTOR["latent_dim"], link=link)
    n_normal = anomaly.count_of_classes(data.y_train, digits)
    # the defaults are the zoo's own detector: training them again finds it stored at once
    spec = detector_spec(data, tuple(digits), variant, k) if digits else None
    if spec is not None:
        held = round(n_normal * spec.holdout)
        st.caption(f"{n_normal - held:,} training images of the normal digit(s), {held:,} more "
                   f"held out to set the threshold on, {spec.train.epochs} epochs. Training runs "
                   f"in the background; you can leave the page and come back.")
    started = None
    if st.button("Train detector", type="primary", icon=":material/play_arrow:",
                 key="anomaly-train", disabled=not digits):
        try:
            started = ui.submit(spec).id
        except (JobError, ValueError) as err:
            st.error(ui.for_viewer(err), icon=":material/error:")
    if len(digits) == len(data.classes):
        st.warning("With every digit normal there is nothing left to detect.")

link.update_address()       # the form's settings, before the page may wait for a detector
job = next(iter(ui.follow_job("anomaly", started)), None)
if job is not None:
    ui.job_panel(job.id)
    # a detector that has just finished becomes the one shown, once
    if (landed := ui.landed_model("anomaly", job)) is not None:
        st.session_state["anomaly-model"] = landed

_, detectors = ui.models_or_wait(
    "detector", kind="image", one_class=True,
    said="Your detector appears here when its training ends." if job and job.active else
         "No detector is stored yet: the zoo's is on its way, or pick the normal digit(s) "
         "above and **Train detector**.")

st.header("How well it separates")
stored = ui.pick_model_id(detectors, key="anomaly-model", label="Detector", link=link)
link.update_address()
normal_names = ", ".join(data.classes[c] for c in stored.spec.normal)
try:
    with st.spinner("Scoring every test image (once per detector)…"):
        scores = svc.derived(anomaly.score_test_set, stored, stored.spec.normal,
                             stored.spec.holdout)
except ValueError as err:
    st.error(f"This detector cannot be scored: {err}", icon=":material/error:")
    st.stop()
model = svc.load_model(stored.id)
charts = st.container()          # filled below, once the threshold is chosen

drawing = ui.last_input()
drawing_error = None
if drawing is not None and tuple(drawing.shape[1:]) == (1, 28, 28):
    # as the detector's training images were made (coarsened for the offline digits)
    drawing_error = anomaly.error_of(model, preprocess.for_dataset(drawing, stored.spec.dataset))

st.header("Anomaly detection done right")
st.markdown(
    "Three habits separate a detector you can trust from a good-looking number. **Choose the "
    "threshold without the test set's labels**: a threshold tuned to the test set's share of "
    "anomalies has seen the answers, and no one knows that share in practice. Set it instead on "
    "*normal* images held out of training, at a false-alarm rate you can live with. **Read "
    "precision and F1 against the base rate**: when most test images are anomalies, flagging "
    "everything already scores high. **Ask what the score measures**: reconstruction error "
    "also grows with the amount of ink, so compare each class with what ink alone would do.")

st.subheader("A threshold chosen without labels")
rate, threshold = ui.false_alarm_threshold(scores.reference, key="anomaly-rate")
report = anomaly.threshold_report(scores.scores, scores.is_anomaly, threshold)
everything = anomaly.flag_everything(scores.is_anomaly)
st.markdown(anomaly.outcome_sentence(report, rate))
if drawing_error is not None:
    flagged = "flagged as anomalous" if drawing_error >= threshold else "passed as normal"
    st.markdown(f"**Your drawing** from the Draw page scores {drawing_error:.4f}: "
                f"{flagged} at this threshold (the line on the histogram above).")

st.subheader("Against the base rate")
cols = st.columns(5)
cols[0].metric("Base rate", f"{scores.base_rate:.1%}", help="The share of anomalies in the "
               "test set: the precision of flagging everything")
cols[1].metric("Precision", f"{report.precision:.3f}", help="Of the flagged, the share that "
               "are anomalies")
cols[2].metric("Recall", f"{report.recall:.3f}", help="Of the anomalies, the share flagged")
cols[3].metric("F1", f"{report.f1:.3f}", help="Harmonic mean of precision and recall")
cols[4].metric("False alarms", f"{report.false_alarm_rate:.1%}", help="Of the normal test "
               "images, the share flagged")
st.markdown(anomaly.base_rate_sentence(report, everything))
st.table(anomaly.comparison_table(report, everything))
# a named index, so the table's corner cell is a header a screen reader can say
st.table(pd.DataFrame(report.confusion,
                      index=pd.Index([f"actually normal ({normal_names})", "actually anomalous"],
                                     name="test images"),
                      columns=["not flagged", "flagged"]))

st.subheader("Per class, beside ink alone")
per_class = scores.per_class
ui.chart(per_class_figure([data.classes[r.label] for r in per_class], [r.auc for r in per_class],
                          [r.ink_auc for r in per_class],
                          title="AUC per anomalous class: the detector and ink alone"),
         key="anomaly-per-class", summary=anomaly.per_class_summary(per_class, data.classes))
st.markdown(anomaly.ink_confound(scores, data.classes))
st.caption("Ink is the sum of an image's grey levels. Each AUC separates one class from the "
           "normal test images; ink's is below 0.5 where that class usually has less ink than the "
           "normal digits.")

with charts:
    marks = {"your drawing": drawing_error} if drawing_error is not None else {}
    left, right = st.columns(2)
    with left:
        ui.chart(error_histogram(scores.scores, scores.is_anomaly, threshold=threshold,
                                 marks=marks, names=(f"normal ({normal_names})", "anomalous"),
                                 title="Test reconstruction errors"), key="anomaly-hist",
                 summary=anomaly.histogram_summary(scores.scores, scores.is_anomaly, threshold))
    with right:
        ui.chart(roc_figure(scores.fpr, scores.tpr, scores.auc,
                            point=(report.false_alarm_rate, report.recall),
                            title=f"ROC curve: AUC {scores.auc:.3f}"), key="anomaly-roc",
                 summary=anomaly.roc_summary(scores.auc, report))
    st.metric("AUC", f"{scores.auc:.3f}", help="Threshold-free: the chance that a random "
              "anomaly scores higher than a random normal image")

st.header("The most anomalous test images")
worst = anomaly.most_anomalous(scores.scores, 10)
worst_normal = anomaly.most_anomalous(scores.scores, 10, among=~scores.is_anomaly)
for title, what, idx in (
        ("The test images with the highest error (top) and their reconstructions",
         "test images with the highest error", worst),
        ("The worst-reconstructed normal images: the false alarms to expect",
         f"normal test images ({normal_names}) with the highest error", worst_normal)):
    st.subheader(title)
    listed = ", ".join(f"{data.classes[int(scores.labels[i])]} ({scores.scores[i]:.3f})"
                       for i in idx)
    ui.picture(image_grid(anomaly.gallery(model, data, idx), columns=len(idx), scale=3),
               alt=f"The {len(idx)} {what} (top row) and their reconstructions by the detector "
                   f"(bottom row); their digits and errors, left to right: {listed}",
               caption=" · ".join(f"{data.classes[int(scores.labels[i])]}: "
                                  f"{scores.scores[i]:.3f}" for i in idx))
