import numpy as np
import pandas as pd
import streamlit as st

from aedemo import data as datasets
from aedemo import links, ui
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


def offer_training() -> None:
    """While no LSTM model is stored: a button that trains the lesson's, and its panel."""
    started = None
    if st.button("Train the LSTM model", icon=":material/play_arrow:", key="seq-train"):
        try:
            started = ui.submit(sequences.default_lstm_spec()).id
        except (JobError, ValueError) as err:
            st.error(ui.for_viewer(err), icon=":material/error:")
    for job in ui.follow_job("sequences", started):
        ui.job_panel(job.id)


_, models = ui.models_or_wait("LSTM model", kind="sequence", dataset=datasets.SERIES,
                              meanwhile=offer_training)

link = ui.linked_settings("sequences")
left, right = st.columns([2, 1])
stored = ui.pick_model_id(models, key="seq-model", where=left, link=link)
seed = right.number_input("Test set seed", 0, 10_000, 0,
                          key=link.seed(links.number_param("seed", 0, 10_000), "seq-seed"),
                          help="Another seed generates another test set")
kinds = st.multiselect("Anomalies in the test set", list(datasets.ANOMALY_KINDS),
                       default=list(datasets.ANOMALY_KINDS),
                       key=link.seed(links.several_param("anomalies", list(datasets.ANOMALY_KINDS)),
                                     "seq-kinds"),
                       help="30% of the test series carry one anomaly each, of these kinds in "
                            "turn")
link.update_address()
with st.spinner("Scoring the test series…"):
    scores = svc.derived(sequences.score_test_series, stored,
                         sequences.kinds_in_order(kinds), int(seed), data=False)
    reference = svc.derived(sequences.normal_reference, stored, data=False)

st.header("Inputs and reconstructions")
shown = scores.examples()
titles = [f"{scores.kinds[i]} · MSE {scores.errors[i]:.3f}" for i in shown]
ui.chart(series_with_error(scores.x[shown], scores.recon[shown], titles,
                           title="A test series of each kind and its reconstruction"),
         key="seq-examples",
         summary=sequences.series_summary([scores.kinds[i] for i in shown], scores.errors[shown]))

st.header("A threshold chosen without labels")
rate, threshold = ui.false_alarm_threshold(
    reference, key="seq-rate", what="series", one="series",
    note=" They come from a generator of their own, so neither the training series nor any "
         "test set holds them.")

st.header("Finding the anomalous series")
if scores.auc is None:
    st.info("Pick at least one kind of anomaly to measure how well the error finds them.",
            icon=":material/info:")
else:
    report = anomaly.threshold_report(scores.errors, scores.is_anomaly, threshold)
    everything = anomaly.flag_everything(scores.is_anomaly)
    left, right = st.columns(2)
    with left:
        ui.chart(error_histogram(scores.errors, scores.is_anomaly, threshold=threshold,
                                 title="Test errors, one per series"), key="seq-hist",
                 summary=anomaly.histogram_summary(scores.errors, scores.is_anomaly, threshold,
                                                   what="series"))
    with right:
        ui.chart(roc_figure(scores.fpr, scores.tpr, scores.auc,
                            point=(report.false_alarm_rate, report.recall),
                            title=f"ROC curve: AUC {scores.auc:.3f}"), key="seq-roc",
                 summary=anomaly.roc_summary(scores.auc, report))
    st.markdown(anomaly.outcome_sentence(report, rate, what="series"))
    cols = st.columns(6)
    cols[0].metric("AUC", f"{scores.auc:.3f}")
    cols[1].metric("Base rate", f"{scores.is_anomaly.mean():.1%}",
                   help="The share of anomalous series in the test set")
    cols[2].metric("Precision", f"{report.precision:.3f}",
                   help="Of the flagged series, the share that are anomalous")
    cols[3].metric("Recall", f"{report.recall:.3f}",
                   help="Of the anomalous series, the share flagged")
    cols[4].metric("F1", f"{report.f1:.3f}")
    cols[5].metric("False alarms", f"{report.false_alarm_rate:.1%}",
                   help="Of the normal test series, the share flagged")
    st.markdown(anomaly.base_rate_sentence(report, everything, what="series", one="series"))
    st.table(anomaly.comparison_table(report, everything))
    st.caption(sequences.by_kind(scores, threshold))

st.header("What normal means here")
st.markdown(sequences.normal_description())
probes = svc.derived(sequences.score_probes, stored, data=False)
ui.chart(series_with_error(probes.x, probes.recon,
                           [f"{n} · MSE {e:.3f}" for n, e in zip(probes.names, probes.errors)],
                           title="Series a student might try, at the training scale"),
         key="seq-probes", summary=sequences.series_summary(probes.names, probes.errors))
st.markdown(sequences.probe_sentence(probes, reference.errors, threshold))

st.header("Your own series")
st.markdown(
    "Upload a CSV of series, as a spreadsheet exports it: one series per row or per column, "
    "separated by commas, semicolons or tabs, with decimal points or decimal commas, and a "
    "header row naming the columns if you like. Every series has the same length (at least "
    f"{datasets.CSV_MIN_LENGTH} values; the model was trained on {datasets.SERIES_LENGTH}). "
    "Each series is shifted and stretched to the mean and spread of the training series before "
    "scoring, since yours may be in any unit; so a whole series at an unusual level is not an "
    "anomaly here, but its shape is judged, against the normal series above.")
upload = st.file_uploader(
    "CSV of series", type=["csv", "txt"], key="seq-upload",
    max_upload_size=max(1, datasets.CSV_MAX_BYTES // 1_000_000),
    help=f"At most {datasets.CSV_MAX_BYTES / 1e6:.0f} MB, {sequences.UPLOAD_MAX_ROWS:,} series, "
         f"{sequences.UPLOAD_MAX_LENGTH:,} values a series and {sequences.UPLOAD_MAX_VALUES:,} "
         f"values in all; each value between -{datasets.CSV_MAX_MAGNITUDE:g} and "
         f"{datasets.CSV_MAX_MAGNITUDE:g}.")
if upload is not None:
    raw = upload.getvalue()
    try:
        layout = svc.derived(sequences.sniff_upload, None, raw, data=False)
        orientation = st.radio(
            "Each series in the file is a", datasets.ORIENTATIONS,
            index=datasets.ORIENTATIONS.index(layout.orientation), horizontal=True,
            format_func=lambda o: "row" if o == "rows" else "column",
            key=f"seq-orientation-{upload.file_id}",
            help=f"Detected: {layout.orientation} ({layout.why}). Change it if the file was read "
                 f"the wrong way round.")
        mine = svc.derived(sequences.score_upload, stored, raw, orientation, data=False)
    except datasets.DataError as err:
        # the message may quote the file's own cells, so it is escaped with the name
        st.error(escape_markdown(f"{upload.name}: {err}"), icon=":material/error:")
        st.stop()
    table = mine.table
    why = f" (as detected: {layout.why})" if orientation == layout.orientation else ""
    st.caption(f"{table.describe()}{why}.")
    flagged = mine.errors >= threshold
    marks = {label: float(e) for label, e in zip(table.labels[:10], mine.errors[:10])}
    ui.chart(error_histogram(scores.errors, scores.is_anomaly if scores.auc else None,
                             threshold=threshold, marks=marks,
                             names=("test: normal", "test: anomalous"),
                             title="Your series' errors against the test series'"),
             key="seq-mine-hist",
             summary=sequences.upload_summary(table.labels, mine.errors, threshold))
    st.markdown(f"At the threshold {threshold:.4f} ({rate:.0%} false alarms on the held-out "
                f"normal series), **{int(flagged.sum())} of your {len(flagged)} series** "
                f"{'is' if flagged.sum() == 1 else 'are'} flagged as anomalous.")
    columns = {"series": table.labels}
    if table.names:
        columns["name"] = table.names
    columns |= {"error": mine.errors,
                "percentile among held-out normal series": np.round(
                    [anomaly.percentile_of(e, reference.errors) for e in mine.errors], 1),
                "verdict": [sequences.verdict(e, threshold) for e in mine.errors]}
    st.dataframe(pd.DataFrame(columns), hide_index=True, key="seq-mine-table")
    first = list(range(min(3, len(mine.x))))
    ui.chart(series_with_error(mine.x[first], mine.recon[first],
                               [f"{table.labels[i]} · MSE {mine.errors[i]:.3f}" for i in first],
                               title="Your first series, at the training scale"),
             key="seq-mine-series",
             summary=sequences.series_summary([table.labels[i] for i in first],
                                              mine.errors[first]))
