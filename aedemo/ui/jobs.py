"""One job's panel (progress, live loss curve, live latent map, reconstructions, Cancel, and how
it ended, with the replay of how its map formed) and the jobs a page follows for this student
(follow_job)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from aedemo import menu
from aedemo.data import DataError
from aedemo.job import SYSTEM, TEACHER, Job, Status
from aedemo.jobs import JobError
from aedemo.latent_frames import describe_formation, epochs_text, separation
from aedemo.spec import ModelSpec
from aedemo.store import StoreError
from aedemo.ui.news import deleted_by
from aedemo.ui.pickers import training_words
from aedemo.ui.queue import PROGRESS_EVERY_S, progress_text, queue_wait
from aedemo.ui.session import for_viewer, is_teacher, service, student_id
from aedemo.ui.widgets import chart, picture
from aedemo.viz.images import image_grid
from aedemo.viz.series import series_figure
from aedemo.viz.train import latent_frame_figure, loss_curve, loss_summary


def training_floor(spec) -> float | None:
    """The least BCE per image any model can reach on what ``spec`` trains on (its own images:
    a one-class or subset model's are not the whole set's), computed once per spec; None for
    sequence models, whose loss is not a BCE, or when the data cannot be had."""
    if spec.kind != "image":
        return None
    from aedemo.metrics import spec_bce_floor

    try:
        return service().derived(spec_bce_floor, None, spec.key, given=(spec,), data=False)
    except DataError:
        return None


# Which pages show a model, from what it is, for the links of a finished job: every image
# model is on Reconstructions, Latent space and Draw, and some variants have a page of their
# own besides; a one-class detector is only on Anomaly detection, a model trained on a few
# digits only in Reconstructions' lesson on memorising, a sequence model only on Sequences.
# Pages by their script's name (menu.PAGES lists the scripts).
SHOWN_ON = {
    "image": ("reconstructions", "latent_space", "draw"),
    "vae": ("generate",),
    "denoising": ("denoising",),
    "sparse": ("insights",),
    "conv": ("insights",),
    "one-class": ("anomaly",),
    "subset": ("reconstructions",),
    "sequence": ("sequences",),
}


def pages_showing(spec: ModelSpec) -> list[menu.PageInfo]:
    """The pages where a model of ``spec`` appears (SHOWN_ON), in the menu's order."""
    if spec.kind != "image":
        names = SHOWN_ON[spec.kind]
    elif spec.normal:
        names = SHOWN_ON["one-class"]
    elif spec.subset:
        names = SHOWN_ON["subset"]
    else:
        names = SHOWN_ON["image"] + SHOWN_ON.get(spec.variant, ())
    return [p for p in menu.PAGES if Path(p.path).stem in names]


def _job_done(job: Job, me: str) -> None:
    """A finished job: its model and the pages that show it, or that the model is gone."""
    svc = service()
    stored = svc.store.get(job.model_id) if job.model_id else None
    if stored is not None and not stored.ok:
        st.warning(f"Trained, but its model {job.model_id} cannot be read now: {stored.problem}",
                   icon=":material/error:")
        return
    if stored is None:
        by = deleted_by(job.model_id or "", me)
        st.warning(f"Trained, but its model has since been deleted{by}: no page shows it any "
                   f"more.", icon=":material/delete:")
        return
    st.success(("Already trained: reusing the stored model " if job.reused else
                "Done: stored as model ") + f"{job.model_id}.", icon=":material/check:")
    data = svc.data
    if stored.spec.kind == "image" and data is not None and stored.spec.dataset != data.source:
        st.caption(f"The pages show models trained on {data.source}, and this one was trained "
                   f"on {stored.spec.dataset}: the table of stored models lists it.")
        return
    shows = pages_showing(stored.spec)
    for column, page in zip(st.columns(len(shows)), shows):
        column.page_link(page.path, label=f"See it on {page.title}", icon=page.icon)


def cancelled_text(job: Job, me: str) -> str:
    """Who cancelled a job, as its panel says it: the teacher, or the other student who was
    still asking for it; a student's own cancel (and the teacher's own) needs no name."""
    if job.cancelled_by == TEACHER and not is_teacher():
        return "The teacher cancelled this job: nothing was stored."
    if job.cancelled_by not in (None, me, TEACHER):
        return "Cancelled by the other student who asked for it: nothing was stored."
    return "Cancelled: nothing was stored."



LATENT_MAP_KEY = "train-latent"    # the first panel's latent map, live then replayed


def job_panel(job_id: str, *, map_key: str | None = None) -> None:
    """Progress, live loss curve, reconstruction strip and Cancel for one job. While the job
    waits or trains the panel refreshes itself every PROGRESS_EVERY_S, and reruns the page once
    when it ends; a finished job's panel is drawn with the page and left alone: it no longer
    changes, and every open tab redrew its chart and pictures every 2 s for nothing.

    ``map_key`` keys the job's latent map, the live one while it trains and the replay once it
    is done (one chart a student follows from the first frame to the last); by default it is
    the job's own, as several panels may share a page."""
    job = _job_or_say(job_id)
    if job is None:
        return
    map_key = map_key or f"{LATENT_MAP_KEY}-{job_id}"
    if job.active:
        _live_job_panel(job_id, map_key)
    else:
        _job_panel_body(job, map_key)


def _job_or_say(job_id: str) -> Job | None:
    """The job, or None (said, when the queue cannot be reached)."""
    try:
        return service().jobs.job(job_id)
    except JobError as err:
        st.error(for_viewer(err), icon=":material/cloud_off:")
        return None


@st.fragment(run_every=PROGRESS_EVERY_S)
def _live_job_panel(job_id: str, map_key: str) -> None:
    job = _job_or_say(job_id)
    if job is None:
        return
    if not job.active:
        # it ended: the whole page again, so tables and pickers include the new model and
        # the panel is drawn as a finished one
        st.rerun(scope="app")
    _job_panel_body(job, map_key)


def _job_panel_body(job: Job, map_key: str) -> None:
    svc = service()
    me = student_id()
    spec = job.spec
    st.markdown(f"**{spec.title}**")
    st.caption(f"On {training_words(spec)}")
    if job.note:
        st.warning(f"This job was {job.note}.", icon=":material/restart_alt:")
    if job.status is Status.QUEUED:
        st.info(f"Waiting in the queue: {queue_wait(job)}.", icon=":material/schedule:")
        problem = svc.queue_problem()
        if problem:
            st.warning(for_viewer(problem), icon=":material/engineering:")
    elif job.status is Status.RUNNING:
        st.progress(job.fraction, text=f"Training: {progress_text(job, detail=True)}")
    elif job.status is Status.DONE:
        _job_done(job, me)
    elif job.status is Status.FAILED:
        st.error(job.error, icon=":material/error:")
    elif job.status is Status.CANCELLED:
        st.warning(cancelled_text(job, me), icon=":material/cancel:")
    if job.active:
        _job_controls(job, me)
    if job.batch_losses or job.history:
        live_map = (job.status is Status.RUNNING and job.latent is not None
                    and spec.kind == "image")
        # the live map beside the loss curve while it trains, the reconstructions below them
        left, right = st.columns(2) if live_map else st.columns([3, 2])
        kind, floor = job.spec.kind, training_floor(job.spec)
        with left:
            chart(loss_curve(job.history, job.batch_losses, kind=kind, floor=floor),
                  key=f"loss-{job.id}",
                  summary=loss_summary(job.history, job.batch_losses, kind=kind, floor=floor))
        if live_map:
            with right:
                _live_map(job, map_key)
            right = st.columns([2, 3])[0]
        if job.preview is not None and job.spec.kind == "image":
            what = (f"Fixed test digits (top) and their reconstructions after epoch "
                    f"{len(job.history)} (bottom)")
            with right:
                st.caption(what)
                picture(image_grid(torch.cat([job.preview_inputs, job.preview]),
                                   columns=len(job.preview)),
                        alt=f"{len(job.preview)} {what[0].lower()}{what[1:]}")
        elif job.preview is not None:
            with right:
                chart(series_figure(job.preview_inputs[:2], job.preview[:2],
                                    title="Two test series and their reconstructions"),
                      key=f"series-{job.id}",
                      summary="Two fixed test series (solid) and the model's reconstructions "
                              f"of them (dashed) after epoch {len(job.history)}.")
    if job.status is Status.DONE and job.model_id and spec.kind == "image":
        stored = svc.store.get(job.model_id)
        if stored is not None and stored.ok:
            st.markdown("**How its latent map formed while it trained**")
            latent_replay(job.model_id, k=spec.latent_dim, key=map_key)


def _classes() -> tuple[str, ...]:
    data = service().data
    return getattr(data, "classes", ()) if data is not None else ()


def _live_map(job: Job, key: str) -> None:
    """The latest frame of a training job's latent map (aedemo.latent_frames), redrawn with
    the panel: the test digits' codes as they are now."""
    frame = job.latent
    k = job.spec.latent_dim
    how = "" if k == 2 else " (their principal axes, turned to match the frame before)"
    chart(latent_frame_figure(frame.points, frame.labels, _classes(), at=frame.at, k=k),
          key=key,
          summary=f"The codes of {len(frame.points)} fixed test digits after "
                  f"{epochs_text(frame.at)} epochs{how}: the digit classes' clusters lie "
                  f"{separation(frame.points, frame.labels):.1f} times as far apart as they "
                  f"are wide.")
    st.caption("The same test digits' codes, redrawn as the model trains: watch each digit's "
               "points gather into a cluster of their own, although the model never sees a "
               "label.")


NO_FRAMES = ("No replay for this model: its map was not recorded while it trained (it was "
             "stored before the app recorded maps).")


@st.fragment
def latent_replay(model_id: str, *, k: int, key: str) -> None:
    """A slider over the frames of a stored model's latent map while it trained, and the frame
    it points at: a student scrubs through training and sees the clusters form. Only this
    fragment reruns as the slider moves. A model without frames says so; a bad frames file
    says why the replay is unavailable, and the model is used as ever."""
    try:
        frames = service().store.frames(model_id)
    except StoreError as err:
        st.info(str(err), icon=":material/movie:")
        return
    if frames is None:
        st.caption(NO_FRAMES)
        return
    last = len(frames) - 1
    shown = st.select_slider(
        "Replay: the map after this much training", options=range(len(frames)),
        value=last, key=f"{key}-at", format_func=lambda i: f"epoch {epochs_text(frames.at[i])}",
        help="Drag to scrub through training, from its first batches to its end.")
    words = describe_formation(frames, shown)
    left, right = st.columns([3, 2])
    with left:
        chart(latent_frame_figure(frames.points[shown], frames.labels, _classes(),
                                  at=float(frames.at[shown]), k=k),
              key=key, summary=words)
    right.caption(words)


def _job_controls(job: Job, me: str) -> None:
    """Who else wants this job, and Cancel for the students who asked for it and the teacher.
    A student's Cancel takes back only their own request: the job goes on for the others."""
    others = job.shared_with(me)
    if job.asked_by(me) and others:
        who = ("the zoo the pages teach with" if job.askers == (SYSTEM, me) else
               f"{others} other student{'s' if others > 1 else ''}")
        st.info(f"Shared: {who} asked for the same settings, so you share this job. Cancelling "
                f"takes back only your request; it stops when nobody wants it any more.",
                icon=":material/group:")
    mine, teacher = job.asked_by(me), is_teacher()
    if not (mine or teacher):
        st.caption("You took back your request: the job goes on for the others who asked for "
                   "it, and its model will be theirs.")
        return
    # the teacher stops a job others want for all of them; a student takes back their own
    for_everyone = teacher and bool(others)
    label = ("Cancel for everyone" if for_everyone else
             "Cancel my request" if others else "Cancel")
    if st.button(label, key=f"cancel-{job.id}", icon=":material/stop:"):
        try:
            service().cancel(job.id, me, teacher=for_everyone and is_teacher())
            st.rerun(scope="fragment")
        except JobError as err:
            st.error(for_viewer(err))


FOLLOWED = "aedemo_followed"   # by page: the jobs this tab follows there, the newest first
FOLLOWED_JOBS = 4          # panels on the Train page: a student's cap of jobs, and one more


def follow_job(page: str, started: str | None = None, *, all_mine: bool = False,
               keep: int = 1) -> list[Job]:
    """The jobs ``page`` follows in this tab, for their panels: ``started``, the job just
    submitted there; the ones followed before, which keep their panel to show how they ended;
    and with ``all_mine`` every other job this student waits for (the Train page: a reload
    finds them all, with Cancel). At most ``keep`` of them; a job the queue forgot is dropped,
    and so are they all when the queue cannot be reached (the sidebar says why)."""
    followed = st.session_state.setdefault(FOLLOWED, {})
    mine: list[str] = []
    if all_mine:
        try:
            mine = [j.id for j in service().jobs.jobs(student_id(), active_only=True)]
        except JobError:
            pass
    jobs = []
    for job_id in dict.fromkeys([*([started] if started else []), *followed.get(page, ()),
                                 *mine]):
        try:
            job = service().jobs.job(job_id)
        except JobError:
            job = None
        if job is not None:
            jobs.append(job)
        if len(jobs) == keep:
            break
    followed[page] = [j.id for j in jobs]
    return jobs


def landed_model(page: str, job: Job) -> str | None:
    """The model a job that ``page`` follows has just stored, the first time it is asked (the
    page then shows it, once: the student may pick another afterwards); else None."""
    landed = st.session_state.setdefault(f"{FOLLOWED}_landed", {})
    if job.model_id is None or landed.get(page) == job.id:
        return None
    landed[page] = job.id
    return job.model_id
