"""The Generate page's figures: the VAE's loss as reconstruction and KL stacked into -ELBO on one
axis, the KL of each code unit (an upper bound on what it carries), a latent traversal as one
labelled mosaic, and every stored VAE on the rate-distortion plane."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from aedemo.viz.images import image_grid
from aedemo.viz.style import PALETTE

NATS = "nats per image"
RECON, KL, OPTIMISED, FLOOR = PALETTE[0], PALETTE[4], PALETTE[3], PALETTE[7]
INACTIVE = PALETTE[7]     # grey with 3:1 contrast on white, and hatched: not colour alone


def _fill(hex_colour: str, alpha: float = 0.35) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def loss_terms_figure(train: Mapping[str, Sequence[float]],
                      test: Mapping[str, Sequence[float]] | None = None, *,
                      beta: float = 1.0, floors: Mapping[str, float] | None = None) -> go.Figure:
    """Reconstruction and KL per epoch stacked on one axis, so the top of the stack is -ELBO
    and the two terms' sizes compare honestly: a panel for the training images, one for the
    test images, sharing the axis. ``floors`` (by split) draws the least reconstruction any
    model can reach (``metrics.bce_floor``); with beta != 1 a dashed line marks the loss that
    training minimised, reconstruction + beta x KL, which is not -ELBO."""
    panels = [(split, terms) for split, terms in (("train", train), ("test", test))
              if terms and terms.get("epoch")]
    titles = {"train": "training images", "test": "test images"}
    fig = make_subplots(rows=1, cols=max(len(panels), 1), shared_yaxes=True,
                        subplot_titles=[titles[s] for s, _ in panels] or None,
                        horizontal_spacing=0.04)
    for col, (split, terms) in enumerate(panels, start=1):
        epoch = list(terms["epoch"])
        recon = np.asarray(terms["recon"], dtype=float)
        kl = np.asarray(terms["kl"], dtype=float)
        first = col == 1
        # stacked: the KL band sits on the reconstruction, so its top is recon + KL = -ELBO
        fig.add_trace(go.Scatter(
            x=epoch, y=recon, name="reconstruction", legendgroup="recon", showlegend=first,
            stackgroup=split, mode="lines", line=dict(color=RECON, width=2),
            fillcolor=_fill(RECON), meta=split,
            hovertemplate="epoch %{x}: reconstruction %{y:.1f} nats<extra></extra>"),
            row=1, col=col)
        fig.add_trace(go.Scatter(
            x=epoch, y=kl, name="KL (stacked on top: −ELBO)", legendgroup="kl",
            showlegend=first, stackgroup=split, mode="lines", line=dict(color=KL, width=2),
            fillcolor=_fill(KL), meta=split, customdata=recon + kl,
            hovertemplate=("epoch %{x}: KL %{y:.1f} nats; −ELBO = reconstruction + KL = "
                           "%{customdata:.1f} nats<extra></extra>")),
            row=1, col=col)
        if beta != 1:
            fig.add_trace(go.Scatter(
                x=epoch, y=recon + beta * kl, name=f"minimised: reconstruction + {beta:g} × KL",
                legendgroup="optimised", showlegend=first, mode="lines", meta=split,
                line=dict(color=OPTIMISED, width=2, dash="dash"),
                hovertemplate=(f"epoch %{{x}}: reconstruction + {beta:g} × KL = %{{y:.1f}} "
                               f"nats, the loss training minimised<extra></extra>")),
                row=1, col=col)
        if floors and split in floors:
            fig.add_trace(go.Scatter(
                x=[epoch[0], epoch[-1]], y=[floors[split]] * 2, name="BCE floor",
                legendgroup="floor", showlegend=first, mode="lines", meta=split,
                line=dict(color=FLOOR, width=2, dash="dot"),
                hovertemplate=(f"BCE floor {floors[split]:.1f} nats: no reconstruction of these "
                               f"grey-level images can go lower<extra></extra>")),
                row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    title = "The VAE's loss: reconstruction + KL = −ELBO, stacked"
    if beta != 1:
        title += (f"<br><sup>β = {beta:g}: training minimised reconstruction + {beta:g} × KL "
                  f"(dashed), not −ELBO</sup>")
    fig.update_layout(title=title, height=380 if beta != 1 else 360,
                      margin=dict(l=10, r=10, t=95 if beta != 1 else 70, b=10),
                      legend=dict(orientation="h", y=-0.3))
    fig.update_yaxes(title_text=NATS, rangemode="tozero", row=1, col=1)
    return fig


def kl_per_dimension_figure(kl: np.ndarray, threshold: float) -> go.Figure:
    """One bar per code unit, the active ones (KL above ``threshold``) in colour, the inactive
    ones grey and hatched, each labelled with its KL."""
    kl = np.asarray(kl, dtype=float)
    active = kl > threshold
    names = [f"z{j + 1}" for j in range(len(kl))]
    fig = go.Figure()
    for label, chosen, colour, pattern in (
            ("active", active, PALETTE[0], ""),
            (f"inactive (KL ≤ {threshold:g}: collapsed to the prior)", ~active, INACTIVE, "/")):
        if not chosen.any():
            continue
        fig.add_trace(go.Bar(
            x=[n for n, c in zip(names, chosen) if c], y=kl[chosen], name=label,
            marker=dict(color=colour, pattern_shape=pattern, line=dict(color=colour, width=1)),
            text=[f"{v:.2f}" for v in kl[chosen]], textposition="outside",
            hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    fig.update_layout(
        title=(f"Mean KL per code unit: {int(active.sum())} of {len(kl)} active<br><sup>an "
               f"upper bound on the information each carries</sup>"),
        xaxis=dict(title="code unit", categoryorder="array", categoryarray=names),
        yaxis=dict(title="mean KL (nats)", rangemode="tozero"), height=320,
        margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.3),
        showlegend=True)
    return fig


def traversal_mosaic(images: torch.Tensor, values: Sequence[float], labels: Sequence[str], *,
                     scale: int = 2) -> np.ndarray:
    """A latent traversal as one picture: ``len(labels)`` rows of ``len(values)`` digits, each
    row labelled on its left (the unit and its KL) and each column on top (the unit's value).
    White labels strip on the dark mosaic: black text, readable on a projector."""
    columns = len(values)
    grid = image_grid(images, columns=columns, scale=scale)           # (H, W) uint8
    tile = 28 * scale + 2
    font = ImageFont.load_default(size=max(12, 7 * scale))
    left = max(int(font.getlength(t)) for t in labels) + 12
    top = int(font.size * 1.6)
    out = Image.new("L", (left + grid.shape[1], top + grid.shape[0]), 255)
    out.paste(Image.fromarray(grid), (left, top))
    draw = ImageDraw.Draw(out)
    for c, v in enumerate(values):
        text = f"{v:+g}" if v else "0"
        x = left + 2 + c * tile + (tile - 2) / 2
        draw.text((x, top / 2), text, fill=0, font=font, anchor="mm")
    for r, text in enumerate(labels):
        draw.text((left - 6, top + 2 + r * tile + (tile - 2) / 2), text, fill=0, font=font,
                  anchor="rm")
    return np.asarray(out)


def vae_rate_distortion_figure(points: Sequence, sweeps: Sequence[Sequence] = (), *,
                               floor: float | None = None,
                               chosen: str | None = None) -> go.Figure:
    """Every stored VAE (``lessons.generate_kl.VAEPoint``) on the rate (KL, nats) against
    distortion (reconstruction, nats per image) plane, labelled by beta and k and by its
    collapsed units; each beta sweep joined by a line in beta's order. ``floor`` draws the
    least distortion any model can reach; ``chosen`` (a model id) is ringed. Points on a line
    of slope -1 share one -ELBO (= rate + distortion)."""
    fig = go.Figure()
    swept = {p.model_id for s in sweeps for p in s}

    def hover(p) -> str:
        collapsed = "?" if p.collapsed is None else p.collapsed
        return (f"{p.label}<br>rate (KL) {p.rate:.1f} nats<br>distortion {p.distortion:.1f} "
                f"nats per image<br>−ELBO {p.neg_elbo:.1f}<br>collapsed units {collapsed} of "
                f"{p.k}<br>model {p.model_id}")

    def text(p) -> str:
        return p.label + (f" · {p.collapsed} collapsed" if p.collapsed else "")

    for i, sweep in enumerate(sweeps):
        fig.add_trace(go.Scatter(
            x=[p.rate for p in sweep], y=[p.distortion for p in sweep],
            name=f"β sweep at k = {sweep[0].k}", mode="lines+markers+text",
            text=[text(p) for p in sweep], textposition="top center",
            customdata=[p.model_id for p in sweep], hovertext=[hover(p) for p in sweep],
            hoverinfo="text", marker=dict(size=11, color=PALETTE[i % 3], symbol="circle"),
            line=dict(color=PALETTE[i % 3], width=2)))
    rest = [p for p in points if p.model_id not in swept]
    if rest:
        fig.add_trace(go.Scatter(
            x=[p.rate for p in rest], y=[p.distortion for p in rest], name="other VAEs",
            mode="markers+text", text=[text(p) for p in rest], textposition="top center",
            customdata=[p.model_id for p in rest], hovertext=[hover(p) for p in rest],
            hoverinfo="text", marker=dict(size=11, color=PALETTE[4], symbol="diamond")))
    if chosen is not None:
        mine = [p for p in points if p.model_id == chosen]
        if mine:
            fig.add_trace(go.Scatter(
                x=[mine[0].rate], y=[mine[0].distortion], name="the VAE chosen above",
                mode="markers", hoverinfo="skip",
                marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(color="#000", width=2))))
    if floor is not None:
        fig.add_hline(y=floor, line=dict(color=FLOOR, dash="dot", width=2),
                      annotation_text=f"BCE floor {floor:.1f}: no distortion goes lower",
                      annotation_position="bottom right")
    # room on both sides for the labels over the outermost points
    right = max((p.rate for p in points), default=1.0)
    top = max((p.distortion for p in points), default=1.0)
    fig.update_layout(
        title="Every stored VAE on the rate–distortion plane (lower left is better)",
        xaxis=dict(title="rate: KL (nats)", range=[-0.08 * right, right * 1.15]),
        yaxis=dict(title=f"distortion: reconstruction ({NATS})", range=[0, top * 1.15]),
        height=420, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))
    return fig
