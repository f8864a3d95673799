import numpy as np
import pandas as pd
import streamlit as st

from aedemo import data as datasets
from aedemo import ui
from aedemo.jobs import JobError
from aedemo.lessons import anomaly, sequences
from aedemo.preprocess import escape_markdown
from aedemo.viz.anomaly import error_histogram, roc_figure
from aedemo.viz.sequences import series_with_error

st.title("Sequences")
st.markdown(
    "The same idea on time series: an **LSTM autoencoder** reads a series of 128 values step by "
    "step into a code of a few numbers and writes it back. It was trained on normal series only "
    "(noisy mixtures of two sine waves), so a series with something unusual in it (a spike, a "
    "jump in level, a burst of noise, a stretch where the signal goes flat or changes "
    "frequency) is copied badly *where the unusual thing is*. The mean squared error over the "
    "series is its anomaly score; the error at each step shows where.")

svc = ui.service()
models = sequences.usable_models(ui.models(kind="sequence", dataset=None))
if not models:
    ui.waiting_for_models("LSTM model")
    ui.refresh_when_ready(True, {"kind": "sequence", "dataset": datasets.SERIES})
    if st.button("Train the LSTM model", icon=":material/play_arrow:", key="seq-train"):
        try:
            st.session_state["seq-job"] = ui.submit(sequences.default_lstm_spec()).id
        except (JobError, ValueError) as err:
            st.error(str(err), icon=":material/error:")
    if st.session_state.get("seq-job") and svc.job(st.session_state["seq-job"]):
        ui.job_panel(st.session_state["seq-job"])
    st.stop()

labels = {m.id: ui.model_label(m) for m in models}
left, right = st.columns([2, 1])
chosen = left.selectbox("Model", list(labels), format_func=labels.get, key="seq-model")
seed = right.number_input("Test set seed", 0, 10_000, 0, key="seq-seed",
                          help="Another seed generates another test set")
kinds = st.multiselect("Anomalies in the test set", list(datasets.ANOMALY_KINDS),
                       default=list(datasets.ANOMALY_KINDS), key="seq-kinds",
                       help="30% of the test series carry one anomaly each, of these kinds in "
                            "turn")
entry = next(m for m in models if m.id == chosen)
with st.spinner("Scoring the test series…"):
    scores = svc.derived("series-scores", entry, sequences.score_test_series,
                         sequences.kinds_in_order(kinds), int(seed), data=False)

st.subheader("Inputs and reconstructions")
shown = scores.examples()
st.plotly_chart(series_with_error(scores.x[shown], scores.recon[shown],
                                  [f"{scores.kinds[i]} · MSE {scores.errors[i]:.3f}"
                                   for i in shown]), key="seq-examples")

if scores.auc is None:
    st.info("Pick at least one kind of anomaly to measure how well the error finds them.",
            icon=":material/info:")
else:
    st.subheader("Finding the anomalous series")
    anomalous_share = 100 * scores.is_anomaly.mean()
    percentile = st.slider(
        "Threshold: flag the series whose error is above this percentile of all test errors",
        1, 99, int(round(100 - anomalous_share)), key="seq-threshold",
        help="The default flags as many series as there are anomalies.")
    threshold = anomaly.quantile_threshold(scores.errors, percentile)
    report = anomaly.threshold_report(scores.errors, scores.is_anomaly, threshold)
    left, right = st.columns(2)
    left.plotly_chart(error_histogram(scores.errors, scores.is_anomaly, threshold=threshold,
                                      title="Test errors, one per series"), key="seq-hist")
    right.plotly_chart(roc_figure(scores.fpr, scores.tpr, scores.auc,
                                  point=(report.false_alarm_rate, report.recall),
                                  title=f"ROC curve: AUC {scores.auc:.3f}"), key="seq-roc")
    cols = st.columns(4)
    cols[0].metric("AUC", f"{scores.auc:.3f}")
    cols[1].metric("Precision", f"{report.precision:.2f}",
                   help="Of the flagged series, the share that are anomalous")
    cols[2].metric("Recall", f"{report.recall:.2f}",
                   help="Of the anomalous series, the share flagged")
    cols[3].metric("F1", f"{report.f1:.2f}")
    by_kind = pd.DataFrame({"kind": scores.kinds, "error": scores.errors}).groupby("kind")
    st.caption("Median error by kind: " + ", ".join(
        f"{k} {v:.3f}" for k, v in by_kind["error"].median().sort_values().items()))

st.subheader("Your own series")
st.markdown(
    "Upload a CSV with one series per row, numbers only, every row the same length (at least "
    f"{datasets.CSV_MIN_LENGTH} values; the model was trained on {datasets.SERIES_LENGTH}). "
    "Each row is shifted and stretched to the mean and spread of the training series before "
    "scoring, since yours may be in any unit; so a whole row at an unusual level is not an "
    "anomaly here, but its shape is judged.")
upload = st.file_uploader(
    "CSV of series", type=["csv", "txt"], key="seq-upload",
    max_upload_size=max(1, datasets.CSV_MAX_BYTES // 1_000_000),
    help=f"At most {datasets.CSV_MAX_BYTES / 1e6:.0f} MB, {sequences.UPLOAD_MAX_ROWS:,} rows, "
         f"{sequences.UPLOAD_MAX_LENGTH:,} values a row and {sequences.UPLOAD_MAX_VALUES:,} values "
         f"in all; each value between -{datasets.CSV_MAX_MAGNITUDE:g} and "
         f"{datasets.CSV_MAX_MAGNITUDE:g}.")
if upload is not None:
    try:
        mine = svc.derived("series-upload", entry, sequences.score_upload, upload.getvalue(),
                           data=False)
    except datasets.DataError as err:
        # the message may quote the file's own cells, so it is escaped with the name
        st.error(escape_markdown(f"{upload.name}: {err}"), icon=":material/error:")
        st.stop()
    percentiles = [anomaly.percentile_of(e, scores.errors[~scores.is_anomaly])
                   for e in mine.errors]
    marks = {f"row {i + 1}": float(e) for i, e in enumerate(mine.errors[:10])}
    st.plotly_chart(error_histogram(scores.errors, scores.is_anomaly if scores.auc else None,
                                    marks=marks, names=("test: normal", "test: anomalous"),
                                    title="Your rows' errors against the test series'"),
                    key="seq-mine-hist")
    st.dataframe(pd.DataFrame({"row": np.arange(1, len(mine.errors) + 1), "error": mine.errors,
                               "percentile among normal test series": np.round(percentiles, 1)}),
                 hide_index=True, key="seq-mine-table")
    first = list(range(min(3, len(mine.x))))
    st.plotly_chart(series_with_error(mine.x[first], mine.recon[first],
                                      [f"row {i + 1} · MSE {mine.errors[i]:.3f}" for i in first],
                                      title="Your first rows, at the training scale"),
                    key="seq-mine-series")
