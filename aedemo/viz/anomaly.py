"""Anomaly detection charts: reconstruction errors of normal against anomalous items, and the ROC
curve with the point the chosen threshold gives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from aedemo.viz.style import PALETTE, layout, vline

BINS = 60


def error_histogram(scores: np.ndarray, is_anomaly: np.ndarray | None = None, *,
                    threshold: float | None = None, marks: dict[str, float] | None = None,
                    names: Sequence[str] = ("normal", "anomalous"), title: str = "",
                    x_title: str = "reconstruction error (MSE)") -> go.Figure:
    """Overlaid histograms of ``scores``, one per group, each as a share of its own group (the
    normal digits are often a tenth of the test set, and counts would hide them). ``threshold``
    draws a dashed line; ``marks`` adds named vertical lines, such as the user's drawing."""
    scores = np.asarray(scores, dtype=float)
    groups = ([(names[0], np.ones(len(scores), bool))] if is_anomaly is None else
              [(names[0], ~np.asarray(is_anomaly, bool)), (names[1], np.asarray(is_anomaly, bool))])
    # The range ends at three times the normal group's 99th percentile (or at a line beyond
    # it): that is where the threshold is chosen, and a few huge errors (a level shift in a
    # series) would otherwise squeeze everything else into the first bars. Larger errors are
    # counted in the last bar.
    largest = float(scores.max()) if scores.size else 1.0
    typical = 3 * float(np.percentile(scores[groups[0][1]], 99)) if groups[0][1].any() else largest
    top = max(min(largest, typical), *(marks or {}).values(), threshold or 0.0)
    if largest > top:
        x_title += "; the last bar holds all larger ones"
    size = top / BINS if top > 0 else 1.0
    fig = go.Figure()
    for i, (name, mask) in enumerate(groups):
        if not mask.any():
            continue
        fig.add_trace(go.Histogram(x=np.minimum(scores[mask], top), name=name, opacity=0.6,
                                   histnorm="percent", marker_color=PALETTE[2 if i == 0 else 1],
                                   xbins=dict(start=0.0, end=top + size, size=size)))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, top * 1.08])       # a line at the largest value stays visible
    # The threshold's label reads rightwards from its line and a mark's leftwards from its own,
    # so a mark below the threshold points away from it; a mark at or beyond the threshold
    # would run into the threshold's label, so its label goes a line lower.
    lines = [mark_line(name, value, lower=threshold is not None and value >= threshold)
             for name, value in (marks or {}).items()]
    if threshold is not None:
        lines.insert(0, vline(threshold, "threshold", "black", width=2, dash="dash",
                              position="right"))
    fig.update_layout(shapes=[shape for shape, _ in lines],
                      annotations=[note for _, note in lines])
    return layout(fig, title, x_title, "share of the group (%)")


def mark_line(name: str, value: float, lower: bool = False) -> tuple[dict, dict]:
    """The line that marks one named error, such as the user's drawing; ``lower`` puts its
    label a line below the top, under the threshold's."""
    shape, note = vline(value, name, PALETTE[3])
    if lower:
        # A blank first line (plotly drops an empty one), not a shift in pixels: projector
        # mode enlarges every chart's text (ui.projected), and the label must still clear the
        # one above it.
        note["text"] = f" <br>{name}"
    return shape, note


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float, *,
               point: tuple[float, float] | None = None, title: str = "") -> go.Figure:
    """The ROC curve with its AUC in the legend, chance as a dotted diagonal, and ``point``
    (false alarm rate, recall) for the current threshold."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                             line=dict(color="grey", dash="dot")))
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC, AUC {auc:.3f}",
                             line=dict(color=PALETTE[0], width=3)))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers",
                                 name="at the threshold",
                                 marker=dict(size=13, color="black", symbol="x")))
    fig.update_xaxes(range=[-0.01, 1.01])
    fig.update_yaxes(range=[-0.01, 1.01])
    return layout(fig, title, "false alarm rate (normal flagged)",
                  "recall (anomalies flagged)")


def per_class_figure(classes: Sequence[str], detector: Sequence[float], ink: Sequence[float], *,
                     title: str = "") -> go.Figure:
    """One pair of bars per anomalous class: the detector's AUC against the normal test images
    and the AUC of the image's ink alone, with chance (0.5) as a dotted line. The ink bars are
    grey and hatched, so the pair reads apart without colour."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=list(classes), y=list(detector), name="detector (reconstruction error)",
                         marker_color=PALETTE[0]))
    fig.add_trace(go.Bar(x=list(classes), y=list(ink), name="ink alone",
                         marker=dict(color=PALETTE[7], pattern=dict(shape="/"))))
    fig.add_hline(y=0.5, line=dict(color="black", dash="dot"), annotation_text="chance",
                  annotation_position="top right")
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.02])
    fig.update_xaxes(type="category")
    return layout(fig, title, "anomalous class", "AUC against the normal test images")
