"""The Home page's figure: the architecture diagram, redrawn as the bottleneck moves. Each box
is as tall as its layer is wide, on a linear scale, so 784 -> 16 looks like the 49-fold squeeze
it is (a log scale made it look like 2.3-fold)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

# A layer much narrower than the widest would be a hairline to scale: it is drawn at this share
# of the tallest box instead, and the figure says so.
MIN_HEIGHT = 0.03

# Okabe and Ito's colour-blind-safe palette: blue, vermillion and bluish green stay distinct
# for every kind of colour vision; each box is named as well, so colour is never the only cue.
ENCODER, CODE, DECODER = "#0072B2", "#D55E00", "#009E73"


def layer_size(label: str, steps: int | None = None) -> int | None:
    """How many numbers a layer's size label stands for: "784" -> 784, "32x7x7" -> 1568,
    "16 (mu, sigma)" -> 16, "T x 64" -> steps * 64 (a sequence of T steps; None without
    ``steps``)."""
    tokens = label.replace("x", " ").replace("(", " ").split()
    if tokens and tokens[0] == "T":
        if steps is None:
            return None
        tokens[0] = str(steps)
    numbers = []
    for t in tokens:
        if not t.isdigit():
            break
        numbers.append(int(t))
    return math.prod(numbers) if numbers else None


def squeeze(layers: Sequence[tuple[str, str]], steps: int | None = None) -> float | None:
    """How many times fewer numbers the code holds than the input (below 1: a code wider than
    the input), or None when a size is unknown."""
    sizes = dict((name, layer_size(size, steps)) for name, size in layers
                 if name in ("input", "code"))
    if not sizes.get("input") or not sizes.get("code"):
        return None
    return sizes["input"] / sizes["code"]


def box_heights(sizes: Sequence[float]) -> list[float]:
    """Heights proportional to the sizes, the tallest 1, none below MIN_HEIGHT."""
    top = max(sizes)
    return [max(s / top, MIN_HEIGHT) for s in sizes]


def architecture_summary(layers: Sequence[tuple[str, str]], steps: int | None = None) -> str:
    """The diagram in words: each layer and its size, and the squeeze at the code."""
    chain = " → ".join(f"{name} {size}" for name, size in layers)
    factor = squeeze(layers, steps)
    if factor is None:
        return f"Layers: {chain}."
    if factor > 1:
        return f"Layers: {chain}. The code holds {factor:.0f} times fewer numbers than the input."
    return (f"Layers: {chain}. The code holds {1 / factor:.2g} times as many numbers as the "
            "input: no bottleneck at all.")


def _sizes(layers: Sequence[tuple[str, str]], steps: int | None) -> list[float]:
    sizes = [layer_size(size, steps) for _, size in layers]
    known = [s for s in sizes if s]
    # a layer of unknown size (a sequence without its length) is drawn as wide as the input
    return [float(s) if s else float(known[0] if known else 1) for s in sizes]


def scale_note(layers: Sequence[tuple[str, str]], steps: int | None = None) -> str:
    """The diagram's scale in words, and which boxes are drawn taller than to scale."""
    sizes = _sizes(layers, steps)
    raised = [f"{name} ({size})" for (name, size), s, h in zip(layers, sizes, box_heights(sizes))
              if h > s / max(sizes) + 1e-12]
    note = "Box heights are to scale (linear): each box is as tall as its layer has numbers"
    note += (f", with T = {steps} time steps." if steps and any(size.startswith("T")
                                                              for _, size in layers) else ".")
    if raised:
        note += (f" Too thin to see at that scale, {', '.join(raised)} "
                 f"{'is' if len(raised) == 1 else 'are'} drawn at {MIN_HEIGHT:.0%} of the "
                 "tallest box.")
    return note


def architecture_figure(layers: Sequence[tuple[str, str]], title: str = "",
                        steps: int | None = None) -> go.Figure:
    """Encoder, code and decoder as boxes centred on one line, each as tall as its layer has
    numbers (linear scale, MIN_HEIGHT of the tallest at least: scale_note says which), named
    above and sized below; the code is highlighted."""
    sizes = _sizes(layers, steps)
    heights = box_heights(sizes)
    colours = [CODE if name == "code" else (ENCODER if i < len(layers) / 2 else DECODER)
               for i, (name, _) in enumerate(layers)]
    fig = go.Figure(go.Bar(
        x=list(range(len(layers))), y=heights, base=[-h / 2 for h in heights],
        marker=dict(color=colours, line=dict(width=0)), width=0.7, showlegend=False,
        customdata=[size for _, size in layers],
        hovertemplate="%{customdata}<extra></extra>"))
    for i, (name, size) in enumerate(layers):
        fig.add_annotation(x=i, y=0.6, text=f"<b>{name}</b>", showarrow=False)
        fig.add_annotation(x=i, y=-0.6, text=size, showarrow=False)
    fig.update_xaxes(visible=False, range=[-0.6, len(layers) - 0.4])
    fig.update_yaxes(visible=False, range=[-0.7, 0.7])
    fig.update_layout(title=title, height=280, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="rgba(0,0,0,0)", bargap=0)
    return fig
