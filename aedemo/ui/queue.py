"""The training queue as a student and the teacher see it: submitting a job and what it will
cost, a job's line and progress in words, how long a queued job will wait, the jobs a restart
interrupted, and the teacher's view of the whole queue."""

from __future__ import annotations

import streamlit as st

from aedemo import roles
from aedemo.estimates import duration_words, wait_estimate
from aedemo.job import SYSTEM, Job, Status
from aedemo.jobs import JobError
from aedemo.spec import ModelSpec, and_list
from aedemo.ui.news import teacher_act
from aedemo.ui.session import client_address, for_viewer, is_teacher, service, student_id


def submit(spec) -> Job:
    """Queue a training job for this student (see Service.submit); raises JobError. The
    teacher's jobs are not held to the class's limit on a job's training time."""
    # the cap per computer counts this machine's browser too, as one computer (Streamlit says
    # no address for loopback), and not the teacher (JobQueue._check_caps)
    teacher = is_teacher()
    address = None if teacher else roles.computer(client_address())
    return service().submit(spec, student_id(), address, teacher=teacher)


def job_cost_note(spec: ModelSpec) -> None:
    """Beside Start: about how long the chosen settings will train, and the class's limit on a
    student's job; above the limit, the sentence Start would refuse with (Service.submit)."""
    svc = service()
    seconds = svc.job_seconds(spec)
    limit = svc.job_limit_words
    said = f"{duration_words(seconds).capitalize()} of training."
    if limit is None:
        st.caption(said)
    elif is_teacher():
        st.caption(f"{said} A student's job may train for at most {limit}; yours may train "
                   f"longer.")
    elif (refusal := svc.job_limit_refusal(spec, seconds)) is not None:
        st.warning(refusal, icon=":material/timer_off:")
    else:
        st.caption(f"{said} A student's job may train for at most {limit}.")


def job_line(job: Job, me: str) -> str:
    who = " (yours)" if job.asked_by(me) else ""
    if job.status is Status.RUNNING:
        again = " (interrupted by a restart: training again)" if job.note else ""
        return f"▶ {job.spec.title}{who}{again}: {progress_text(job)}"
    again = " (interrupted by a restart: first again)" if job.note else ""
    # "1\." so that Markdown shows the number rather than starting a numbered list
    return f"{job.position or '·'}\\. {job.spec.title}{who}{again}"


def progress_text(job: Job, *, detail: bool = False) -> str:
    """A running job's progress in the words both the sidebar and the job panel use, from the
    same fraction, so the two never disagree; "starting" until its first batch is done."""
    if job.batches == 0:
        return "starting (loading the data, building the model)"
    text = f"{job.fraction:.0%}"
    if detail:
        text += f": epoch {job.epoch} of {job.epochs}, batch {job.batch} of {job.batches}"
        if job.eta_seconds is not None:
            text += f", about {job.eta_seconds:.0f} s left"
    return text


# The sidebar and the job panel refresh at the same pace, so the figures they show move together.
# Every open tab reruns them at this pace: at 1 s, sixty tabs made 57 reruns a second, three
# times the students' own actions, and exposed a Streamlit race that lost runs
# (bench/classroom.py); 2 s halves both.
PROGRESS_EVERY_S = 2


def job_exists(job_id: str) -> bool:
    """Whether the queue knows this job (False too when the queue cannot be reached: the job
    panel is then replaced by the sidebar's message)."""
    try:
        return service().jobs.job(job_id) is not None
    except JobError:
        return False


def interrupted_jobs() -> None:
    """Say which jobs a restart of the server interrupted: they wait at the head of the queue
    and train again from the start (nothing is lost, nothing half-trained was stored)."""
    try:
        again = [j for j in service().jobs.jobs(active_only=True) if j.note]
    except JobError:
        return
    if again:
        names = "; ".join(j.spec.title for j in again)
        goes = "They go first again and train" if len(again) > 1 else (
            "It goes first again and trains")
        st.info(f"The server was restarted while training, so {len(again)} job"
                f"{'s were' if len(again) > 1 else ' was'} interrupted: {names}. {goes} from "
                f"the start; the queued jobs keep their places.", icon=":material/restart_alt:")


def wait_words(ahead: int, seconds: float | None) -> str:
    """A queued job's wait: "2 jobs before yours, about 40 s"; the count alone when no
    estimate can be made."""
    if ahead == 0:
        return "yours is next"
    said = f"{ahead} job{'s' if ahead != 1 else ''} before yours"
    return said if seconds is None else f"{said}, {duration_words(seconds)}"


def queue_wait(job: Job) -> str:
    """How long a queued job will wait, in words (jobs.wait_estimate), from the jobs ahead of
    it, the running jobs' progress and the training times of the stored models."""
    svc = service()
    try:
        active, workers = svc.jobs.jobs(active_only=True), len(svc.jobs.live_workers())
    except JobError:
        active, workers = [], 0
    return wait_words(*wait_estimate(job, active, svc.measured_times(active), workers))


def teacher_queue() -> None:
    """The teacher's view of the whole queue: cancel any job, or all of them."""
    if not is_teacher():
        return
    try:
        active = service().jobs.jobs(active_only=True)
    except JobError as err:
        st.error(for_viewer(err), icon=":material/cloud_off:")
        return
    with st.expander(f"The whole queue (teacher): {len(active)} job"
                     f"{'s' if len(active) != 1 else ''}", icon=":material/school:"):
        if not active:
            st.caption("Nothing is waiting or training.")
            return
        me, numbers = student_id(), service().roster.numbers()
        for job in active:
            left, right = st.columns([4, 1], vertical_alignment="center")
            askers = ["you" if a == me else "the zoo" if a == SYSTEM else
                      f"student {numbers[a]}" if a in numbers else "a student"
                      for a in job.askers]
            left.markdown(f"{job_line(job, me)} · asked by {and_list(askers)}")
            if right.button("Cancel", key=f"teacher-cancel-{job.id}", icon=":material/stop:"):
                teacher_act(lambda j=job: service().cancel(j.id, student_id(), teacher=True))
        with st.popover("Cancel every job", icon=":material/clear_all:"):
            st.markdown(f"Stop all {len(active)} jobs, the zoo's too? Nothing they trained so "
                        f"far is stored.")
            if st.button("Yes, cancel every job", type="primary", key="teacher-clear"):
                teacher_act(service().clear_queue)
