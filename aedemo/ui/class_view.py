"""The class's shared drawings on the pages (aedemo.class_board, issue 22): the Draw page's
"Share with the class" button, and the Class page's map, which follows the class by itself
(a fragment that polls the board's revision every REFRESH_S seconds), with the teacher's Hide
and Clear beside it."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from aedemo.class_board import SharedDrawing, ShareRefused
from aedemo.job import JobError
from aedemo.lessons import class_models, class_view, draw
from aedemo.lessons.class_export import class_export
from aedemo.store import StoredModel
from aedemo.taskqueue import QueueUnavailable
from aedemo.ui.news import teacher_act
from aedemo.ui.session import for_viewer, is_teacher, service, student_id
from aedemo.ui.widgets import chart, show_images
from aedemo.viz.class_models import class_error_figure, class_vae_figure
from aedemo.viz.class_view import class_map_figure

REFRESH_S = 3             # a hidden drawing leaves every screen within this, plus a page's draw
MODELS_REFRESH_S = 10     # a student's new model reaches the chart within this (they take minutes)
SELECTED_SHOWN = 6        # drawings a selection shows as pictures
_KEPT = "aedemo_class_map"      # session_state: the map as last drawn, per key
_KEPT_MODELS = "aedemo_class_models"    # session_state: the models' section as last built
_CLEAR_ASKED = "aedemo_class_clear_asked"


@st.fragment
def share_button(framed, *, key: str) -> None:
    """"Share with the class": puts ``framed``, the framed 28 x 28 input the models were given
    (never the upload or the pad's picture), on the Class page's map. Off while there is no
    drawing; a refusal (a flood, a full class) or an unreachable queue is said in a sentence.
    A fragment: the click reruns the button alone, with the drawing of the page's last run,
    not the whole Draw page (a class sharing at once cost the students' strokes a second at
    the p95, bench/classroom.py)."""
    clicked = st.button("Share with the class", key=key, icon=":material/group:",
                        disabled=framed is None,
                        help="Puts this drawing, as the models see it, on the Class page's "
                             "map for everyone; nobody sees that it is yours.")
    if not clicked or framed is None:
        return
    try:
        service().class_board.share(student_id(), framed)
    except ShareRefused as err:
        st.warning(str(err), icon=":material/block:")
    except QueueUnavailable as err:
        st.warning(for_viewer(err), icon=":material/cloud_off:")
    else:
        st.success("Shared: your drawing is on the Class page's map.", icon=":material/group:")


def _batch(pictures: list[np.ndarray]) -> torch.Tensor:
    """(28, 28) pictures as the (B, 1, 28, 28) batch show_images takes."""
    return torch.from_numpy(np.stack(pictures).astype(np.float32))[:, None]


def _on_the_board(action):
    """A board action as teacher_act takes one: the queue out of reach is a JobError there, as
    in aedemo.jobs."""
    def run() -> None:
        try:
            action()
        except QueueUnavailable as err:
            raise JobError(err) from None
    return run


@st.fragment(run_every=REFRESH_S)
def class_map(stored: StoredModel, *, key: str) -> None:
    """The class's drawings on ``stored``'s latent map, drawn again only when the board's
    revision (or the viewer's role) has changed; in between, each poll reads a few bytes and
    puts the kept map back. The teacher gets the list of drawings to hide and Clear."""
    svc = service()
    board = svc.class_board
    teacher = is_teacher()
    try:
        revision = board.revision()
        kept = st.session_state.setdefault(_KEPT, {}).get(key)
        state = (revision, teacher, stored.id, stored.created)
        if kept is None or kept[0] != state:
            drawings = board.drawings(teacher, student_id())
        else:
            drawings = kept[1]
    except (QueueUnavailable, JobError) as err:
        st.warning(for_viewer(err), icon=":material/cloud_off:")
        return
    if kept is None or kept[0] != state:
        with st.spinner("Placing the drawings on the map (the dataset's codes once per "
                        "model)…"):
            views = svc.derived(draw.model_views, stored)
            points = svc.derived(class_view.placed, stored, tuple(d.id for d in drawings),
                                 given=(views, [d.pixels for d in drawings]))
        latent = views.latent
        axes = (("z1", "z2") if latent.method == "code" else
                ("PC 1 of the codes", "PC 2 of the codes"))
        title = (f"{stored.spec.variant}, k = {stored.spec.latent_dim}: the class's "
                 f"{len(drawings)} drawing{'s' if len(drawings) != 1 else ''} among "
                 f"{len(latent.points):,} test digits")
        figure = class_map_figure(latent, svc.data.classes, drawings, points, title=title,
                                  axis_names=axes, show_owner=teacher)
        summary = class_view.describe([points[d.id] for d in drawings if d.id in points],
                                      len(latent.points))
        kept = st.session_state[_KEPT][key] = (state, drawings, points, figure, summary)
    _, drawings, points, figure, summary = kept

    event = chart(figure, key=f"{key}-chart", summary=summary, on_select="rerun",
                  selection_mode="points",
                  shown="Hover over a point to see the drawing and the model's copy; click one "
                        "to see them larger.")
    _selected(event, drawings, points)
    if teacher:
        _teacher_list(drawings, key=key)


def _selected(event, drawings: list[SharedDrawing], points: dict) -> None:
    """The clicked drawings, each above its reconstruction."""
    ids = [p.get("customdata") for p in (event or {}).get("selection", {}).get("points", [])]
    chosen = [d for d in drawings if d.id in ids and d.id in points][:SELECTED_SHOWN]
    if not chosen:
        return
    show_images(_batch([d.pixels for d in chosen]),
                [f"{'unusual' if points[d.id].unusual else 'usual'} · MSE "
                 f"{points[d.id].error:.4f}" for d in chosen],
                alt="a shared drawing, as the models see it", per_row=SELECTED_SHOWN)
    show_images(_batch([points[d.id].reconstruction for d in chosen]),
                alt="the model's reconstruction of the shared drawing above it",
                per_row=SELECTED_SHOWN)


def _teacher_list(drawings: list[SharedDrawing], *, key: str) -> None:
    """The teacher's: every drawing, newest first, with whose it is and Hide; Clear the map,
    after a confirmation. Each click asks for the role again (teacher_act)."""
    board = service().class_board
    st.subheader("The shared drawings (only you see whose)")
    if not drawings:
        st.caption("No drawing is shared yet.")
    for d in reversed(drawings):
        # a thumbnail, not a picture to study: the map above is where drawings are looked at
        picture, who, hide, _ = st.columns([1, 3, 2, 4], vertical_alignment="center")
        with picture:
            show_images(_batch([d.pixels]), alt=f"the drawing {d.owner_words} shared", per_row=1)
        who.markdown(d.owner_words)
        if hide.button("Hide", key=f"{key}-hide-{d.id}", icon=":material/visibility_off:",
                       help="Takes this drawing off every screen within seconds."):
            teacher_act(_on_the_board(lambda drawing_id=d.id: board.hide(drawing_id)))
    _download(key=key)
    if not drawings:
        return
    if not st.session_state.get(_CLEAR_ASKED):
        st.button("Clear the map", key=f"{key}-clear", icon=":material/delete_sweep:",
                  on_click=_ask_to_clear, args=(True,))
        return
    st.warning(f"Clear the class for the next lesson? All {len(drawings)} drawings leave every "
               f"screen and cannot be brought back, and only models trained from now on count "
               f"as this lesson's (stored models stay).", icon=":material/delete_sweep:")
    yes, no = st.columns(2)
    if yes.button("Yes, clear the map", key=f"{key}-clear-yes", type="primary"):
        st.session_state[_CLEAR_ASKED] = False
        teacher_act(_on_the_board(board.clear))
    no.button("Keep them", key=f"{key}-clear-no", on_click=_ask_to_clear, args=(False,))


def _download(*, key: str) -> None:
    """The teacher's "Download the class": the files `python -m aedemo class --export` writes
    (lessons.class_export), as one zip, built when clicked."""
    def zipped() -> bytes:
        svc = service()
        return class_export(svc.class_board, svc.store).zipped()

    st.download_button("Download the class", zipped, file_name="class.zip",
                       mime="application/zip", key=f"{key}-download",
                       icon=":material/download:",
                       help="The shared drawings (PNG), the models the class trained this "
                            "lesson (CSV) and the drawings' map (HTML), in one zip.")


def _ask_to_clear(asked: bool) -> None:
    # a callback: the click's own run (the fragment's, or the page's) draws the question
    st.session_state[_CLEAR_ASKED] = asked



@st.fragment(run_every=MODELS_REFRESH_S)
def class_models_section(lesson: list[StoredModel], *, key: str) -> None:
    """Every model the students trained this lesson (ClassBoard.models) on one chart against
    the ``lesson``'s own models, and ranked per variant and k: the viewer's own marked "yours",
    whose the others are said only to the teacher ("student 3"). Built again only when the
    class's models (or the viewer's role) changed; a poll in between lists the store."""
    svc = service()
    board = svc.class_board
    teacher = is_teacher()
    st.header("The class's models")
    try:
        models = board.models(svc.store)
        numbers = board.roster.numbers() if teacher else {}
    except (QueueUnavailable, JobError) as err:
        st.warning(for_viewer(err), icon=":material/cloud_off:")
        return
    state = (tuple(m.id for m in models), teacher, tuple(m.id for m in lesson))
    kept = st.session_state.setdefault(_KEPT_MODELS, {}).get(key)
    if kept is None or kept[0] != state:
        cm = class_models.class_models(models, lesson, viewer=student_id(), numbers=numbers,
                                       teacher=teacher)
        figures = []
        if cm.errors:
            figures.append(("errors", class_error_figure(cm)))
        if cm.vaes:
            figures.append(("vaes", class_vae_figure(cm)))
        kept = st.session_state[_KEPT_MODELS][key] = (state, cm, figures,
                                                       class_models.describe(cm))
    _, cm, figures, summary = kept
    st.caption(summary)
    for name, figure in figures:
        chart(figure, key=f"{key}-{name}", summary=summary)
    if not cm.empty:
        columns = ("rank", "variant", "k", "measure", "value", "whose", "model")
        st.dataframe([{c: r[c] for c in columns} for r in cm.ranking], hide_index=True,
                     key=f"{key}-table")
