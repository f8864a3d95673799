"""The student's drawing, kept across pages: drawn on the Draw page, read by the Anomaly and
Reconstructions pages too; kept for the session and, since a reload starts a new session, for
the browser (session.Browsers), checked again as it comes back from there."""

from __future__ import annotations

import streamlit as st
import torch

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
