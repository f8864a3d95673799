"""The Train page's figure: the loss curve as a model trains (its job panel shows on the
Anomaly detection and Sequences pages too), and the words that go with it: what the two curves
mean for each variant, and the chart in a sentence for a student who cannot see it. And the
latent map as it forms (aedemo.latent_frames): live while the model trains, replayed after."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from aedemo.latent_frames import epochs_text
from aedemo.models.sparse import ATOM_L1
from aedemo.viz.latent_space import latent_scatter
from aedemo.viz.style import PALETTE, layout

TRAIN_COLOUR, TEST_COLOUR = PALETTE[0], PALETTE[4]       # blue and orange, apart for everyone
FLOOR_COLOUR = "#444"
SMOOTHING = 0.9          # the smoothed line's exponential moving average, as TensorBoard's
# What the loss is measured in, by the kind of model (Autoencoder.kind): an image model's loss
# is binary cross-entropy summed over its pixels (plus the variant's own terms), the LSTM's the
# mean squared error per value of the series (aedemo.models.lstm.series_loss).
LOSS_UNITS = {"image": "nats per image", "sequence": "squared error per value"}


def smoothed(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """An exponential moving average with its start-up bias taken out (the first values are
    not pulled towards zero), as TensorBoard smooths a training curve."""
    out, average = [], 0.0
    for i, v in enumerate(values, start=1):
        average = weight * average + (1 - weight) * v
        out.append(average / (1 - weight ** i))
    return out


def loss_axis_title(kind: str | None) -> str:
    """The y axis's name: the loss in its unit, for a model of ``kind`` ("image", "sequence";
    None when the caller does not say, which names no unit)."""
    unit = LOSS_UNITS.get(kind or "")
    return f"loss ({unit})" if unit else "loss per item"


def loss_curve(history: Sequence[dict[str, Any]],
               batch_losses: Sequence[tuple[float, float]] = (),
               title: str = "Loss as it trains", *, kind: str | None = None,
               floor: float | None = None) -> go.Figure:
    """The training loss after every batch, faint, with its smoothed line over it, and the test
    loss after every epoch as points: a 3-epoch run already has a curve to watch. The x axis
    counts epochs, so 2.5 is half-way through the third. ``kind`` names the loss's unit on the
    y axis; ``floor`` (an image model's: aedemo.metrics.bce_floor of its training images) is
    drawn as a labelled dashed line, the least BCE any model can reach there."""
    fig = go.Figure()
    unit = LOSS_UNITS.get(kind or "", "per item")
    if batch_losses:
        x, y = zip(*batch_losses)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="train, each batch",
                                 line=dict(color=TRAIN_COLOUR, width=1), opacity=0.3,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=smoothed(y), mode="lines", name="train, smoothed",
                                 line=dict(color=TRAIN_COLOUR, width=3)))
    else:          # a stored model's history: the training loss per epoch
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in history],
                                 y=[e["train"].get("loss") for e in history],
                                 mode="lines+markers", name="train",
                                 line=dict(color=TRAIN_COLOUR, width=3)))
    tested = [e for e in history if e.get("test")]
    if tested:
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in tested],
                                 y=[e["test"]["loss"] for e in tested], mode="lines+markers",
                                 name="test, after each epoch",
                                 # a sample of the test set per epoch, all of it after the last
                                 # (aedemo.train.EVAL_ITEMS); older histories do not say
                                 customdata=[e.get("test_items", "the") for e in tested],
                                 hovertemplate="epoch %{x}: %{y:.4g} on %{customdata} test "
                                               "items<extra></extra>",
                                 line=dict(color=TEST_COLOUR, width=2, dash="dot"),
                                 marker=dict(size=10, color=TEST_COLOUR)))
    if floor is not None:
        # a shape is part of plotly's autorange, so the floor stays in view below the curves
        fig.add_hline(y=floor, line=dict(color=FLOOR_COLOUR, width=2, dash="dash"),
                      annotation_text=f"BCE floor: {floor:.0f} {unit}, no model goes below",
                      annotation_position="bottom left",
                      annotation_font=dict(color=FLOOR_COLOUR))
    return layout(fig, title, "epoch", loss_axis_title(kind))


def loss_summary(history: Sequence[dict[str, Any]],
                 batch_losses: Sequence[tuple[float, float]] = (), *,
                 kind: str | None = None, floor: float | None = None) -> str:
    """The loss chart in words, from the same numbers: where the training curve started and
    where it is, the last test point, and the floor when there is one."""
    unit = LOSS_UNITS.get(kind or "", "per item")
    if batch_losses:
        x, y = zip(*batch_losses)
        line = smoothed(y)
        parts = [f"Training loss, smoothed, from {line[0]:.4g} to {line[-1]:.4g} {unit} "
                 f"over {x[-1]:.1f} epochs"]
    elif history:
        parts = [f"Training loss from {history[0]['train']['loss']:.4g} to "
                 f"{history[-1]['train']['loss']:.4g} {unit} over {len(history)} epochs"]
    else:
        parts = ["No loss measured yet"]
    tested = [e for e in history if e.get("test")]
    if tested:
        last = tested[-1]
        items = last.get("test_items")
        parts.append(f"test loss after epoch {last['epoch']}: {last['test']['loss']:.4g}"
                     + (f" on {items:,} test items" if isinstance(items, int) else ""))
    if floor is not None:
        parts.append(f"the BCE floor, which no model goes below, is {floor:.0f} {unit}")
    return "; ".join(parts) + "."


def curves_note(variant: str, hparams: Mapping[str, Any], *, kind: str = "image",
                floor: float | None = None, dataset: str | None = None) -> str:
    """What the loss chart's two curves mean for ``variant`` with these settings: what each
    curve measures, whether their parting means memorising, and the loss's unit and floor
    (``floor``: aedemo.metrics.bce_floor of ``dataset``'s training images, None if unknown).
    Markdown, for the Train page."""
    lines = [
        "The loss curve shows the training loss after every batch (blue, smoothed over the "
        "faint raw line) and, after every epoch, the loss on test images the model never "
        "trained on (orange points). Early on a test point can sit below the training line: "
        "each batch's loss is measured before the step that learns from it, and the line "
        "averages the last batches, so it lags behind the model the test point measures."]
    same = ("Both curves are the same loss on different images, so when the test curve levels "
            "off or rises while the training one keeps falling, the model has started to "
            "memorise its training images.")
    if variant == "denoising":
        lines.append(
            f"**For the denoising autoencoder the two curves measure different tasks**: the "
            f"training loss is on corrupted inputs ({hparams.get('noise_kind', 'noise')} "
            f"noise at level {hparams.get('noise_level', 0):g}), the test loss on clean ones, "
            f"both scored against the clean digit. Their gap mixes the two tasks with any "
            f"memorising, so it cannot tell memorising apart; a model trained only on noisy "
            f"inputs may even do worse on clean ones, which it never saw.")
    elif variant == "sparse":
        lines.append(
            f"**For the sparse autoencoder both curves include its penalties**: λ = "
            f"{hparams.get('l1', 0):g} times the code's L1 norm and {ATOM_L1:g} times the "
            f"atoms' L1 norm, so they sit above the reconstruction error alone. " + same)
    elif variant == "vae":
        beta = float(hparams.get("beta", 1.0))
        lines.append(
            "**For the VAE both curves are the −ELBO**"
            + (f" with its KL weighted by β = {beta:g} (so not the ELBO itself)"
               if beta != 1 else "")
            + ": the reconstruction of a code *sampled* from q(z|x), plus the KL. The sampling "
              "makes each batch's loss noisy, and a sampled code typically reconstructs worse "
              "than the mean code the other pages decode; the test points use the same seeded "
              "draws every epoch. "
            + same)
    else:
        lines.append(same)
    if kind == "sequence":
        lines.append("The LSTM's loss is the mean squared error per value of the series read "
                     "back (the series are numbers, not pixels: no nats here). Training and "
                     "test series come from the same generator.")
    else:
        where = f"the {dataset} training images" if dataset else "these images"
        floor_said = (f": on {where} the least any model can reach is **{floor:.0f} nats per "
                      f"image** (the dashed line), the entropy of their grey pixels"
                      if floor is not None else
                      ": it levels off at the entropy of the images' grey pixels")
        lines.append(
            "Image losses are binary cross-entropy summed over each image's pixels, in **nats "
            "per image**. Against grey-level targets it has a floor above zero" + floor_said
            + (", with the penalties or the KL on top" if variant in ("sparse", "vae") else "")
            + ".")
    lines.append("A one-class detector (trained on the Anomaly detection page) is tested on "
                 "its normal digits' test images only: the anomalies are what it must find, "
                 "not what it learns, so there too a parting means memorising.")
    return "\n\n".join(lines)


def latent_frame_figure(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                        at: float, k: int, height: int = 420) -> go.Figure:
    """One frame of the latent map: the fixed test digits' codes after ``at`` epochs, each
    class in its colour and shape. k = 2 shows the code's own axes; a larger k its PCA,
    turned to match the frame before (aedemo.projection.plane), whose axes mean nothing
    alone: they are named for what they are."""
    axes = ("z1", "z2") if k == 2 else ("first principal axis", "second principal axis")
    title = f"{len(points)} test digits' codes after {epochs_text(at)} epochs"
    return latent_scatter(np.asarray(points, np.float32), np.asarray(labels), class_names,
                          title=title, axis_names=axes, height=height)
