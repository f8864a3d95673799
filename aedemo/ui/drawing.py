"""The student's drawing, kept across pages: drawn on the Draw page, read by the Anomaly and
Reconstructions pages too; kept for the session and, since a reload starts a new session, for
the browser (session.Browsers), checked again as it comes back from there."""

from __future__ import annotations

import streamlit as st
import torch

from aedemo.data import SKLEARN_DIGITS
from aedemo.ui.session import recall, remember

DRAWING = "aedemo_drawing"             # the latest input, (1, 1, 28, 28)
STROKES = "draw-strokes"               # the pad's strokes, for a pad mounted afresh
_INPUT = "draw-input"                  # the latest input as rows of numbers, for the browser


def last_drawing() -> tuple[list | None, torch.Tensor | None]:
    """The pad's last strokes and the last input: this session's, else this browser's."""
    from aedemo.lessons import draw

    if STROKES not in st.session_state and DRAWING not in st.session_state:
        st.session_state[STROKES] = draw.finite_rows(recall(STROKES))
        x = draw.input_from_rows(recall(_INPUT))
        if x is not None:
            st.session_state[DRAWING] = x
    return st.session_state.get(STROKES), st.session_state.get(DRAWING)


def last_input() -> torch.Tensor | None:
    """The student's last drawing or upload, framed as MNIST, on any page, after a reload too."""
    return last_drawing()[1]


def keep_strokes(strokes: list | None) -> None:
    """The pad's strokes for this session and this browser. Over Browsers' bound they are not
    kept, and neither is an older drawing in their place."""
    st.session_state[STROKES] = strokes
    if not remember(STROKES, strokes or None):
        remember(STROKES, None)


def keep_input(x: torch.Tensor | None) -> None:
    """The input for this session and for this browser, which hears of a change only: a tab
    left open must not undo what another tab drew since."""
    from aedemo.lessons import draw

    before = st.session_state.get(DRAWING)
    if x is None:
        st.session_state.pop(DRAWING, None)
        if before is not None:
            remember(_INPUT, None)
        return
    st.session_state[DRAWING] = x
    if before is None or not before.equal(x):
        remember(_INPUT, draw.input_rows(x))


def pad_row(shown: list, recons: list | None, model_input: torch.Tensor | None,
            dataset: str) -> dict:
    """The drawing pad's row of copies (aedemo/assets/drawing_pad.js): for each of ``shown``
    its URL for the browser's interpreter (None when it cannot run there: then the server's copy
    is all it shows, as its words say) and its texts, while drawing and once the server has
    answered; with ``recons`` (the server's copies of ``model_input``, one per model of
    ``shown``) the server's pictures that replace or confirm the browser's."""
    from aedemo import export
    from aedemo.ui.widgets import grey_levels

    by_id = {r.entry.id: r for r in recons or ()}
    models = []
    for m in shown:
        name = f"{m.spec.variant} k={m.spec.latent_dim}"
        spoken = f"{m.spec.variant} k = {m.spec.latent_dim}"
        url = export.net_url(m)
        entry = {"id": m.id, "url": url,
                 "live_caption": f"{name} · in your browser",
                 "live_alt": f"your drawing reconstructed by {spoken} in your browser, as you "
                             f"draw; its error follows from the server after the stroke",
                 "only_caption": f"{name} · from the server only",
                 "only_alt": f"{spoken} cannot run in your browser: its reconstruction of your "
                             f"drawing comes from the server after each stroke",
                 "server": None}
        r = by_id.get(m.id)
        if r is not None:
            entry["server"] = {"pixels": grey_levels(r.image), "caption": r.caption,
                               "alt": r.alt, "only_caption": f"{r.caption} · server only",
                               "only_alt": f"{r.alt}, computed on the server only"}
        models.append(entry)
    framed = ("your input as the models see it, coarsened like their 8 x 8 digits"
              if dataset == SKLEARN_DIGITS else "your input, framed as MNIST")
    return {"dataset": dataset, "title": "Every variant's reconstruction",
            "input": {"caption": framed, "alt": framed,
                      "pixels": None if model_input is None else grey_levels(model_input)},
            "models": models}


def sweep_models(recons: list) -> list[dict]:
    """The bottleneck sweep's models for the browser (ui.bottleneck_sweep), k ascending as
    ``recons`` are: each one's URL for the interpreter (None when it cannot run there) and the
    server's copy of the input, which the sweep shows until the browser has its own."""
    from aedemo import export
    from aedemo.ui.widgets import grey_levels

    return [{"k": r.entry.spec.latent_dim, "id": r.entry.id, "url": export.net_url(r.entry),
             "name": f"{r.entry.spec.variant} k={r.entry.spec.latent_dim}",
             "server": {"pixels": grey_levels(r.image), "caption": r.caption, "alt": r.alt}}
            for r in recons]
