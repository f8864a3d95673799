"""The only package in aedemo that imports streamlit: what the pages call, one flat list of
names (``ui.chart``, ``ui.models_or_wait``), from modules a newcomer can find them in:

- ``session``: the one Service, who this browser is (student id, address, the teacher's role),
  problems as this browser may read them, and what each browser chose (Browsers)
- ``frame``: the frame of every page (the sidebar, projector mode's toggle, run_page)
- ``news``: what the teacher did, said on every open page; a teacher's action
- ``queue``: submitting a job, its line and its wait, the teacher's view of the queue
- ``jobs``: one job's panel, and the jobs a page follows (follow_job)
- ``pickers``: stored models named for people and picked from; ``stored``: the Train page's table
- ``waiting``: a page waiting for its models; ``drawing``: the student's drawing across pages
- ``class_view``: sharing a drawing with the class, and the Class page's map of them
- ``invitation``: the teacher's Bring the class here, its QR code, and each student's link
- ``links``: a page's settings in its address, read from a link and written back as they change
- ``widgets``: settings widgets, the drawing pad, digits, pictures, charts and the styles

Nothing here trains on a rerun: the pages submit jobs, and workers train them (aedemo.workers).
"""

from aedemo.ui.class_view import class_map, class_models_section, share_button
from aedemo.ui.drawing import (
    DRAWING,
    keep_input,
    keep_strokes,
    last_drawing,
    last_input,
    pad_row,
    sweep_models,
)
from aedemo.ui.frame import offline_notice, run_page, sidebar
from aedemo.ui.invitation import bring_the_class, invitation_notice
from aedemo.ui.jobs import (
    FOLLOWED_JOBS,
    LATENT_MAP_KEY,
    SHOWN_ON,
    cancelled_text,
    follow_job,
    job_panel,
    landed_model,
    latent_replay,
    pages_showing,
    training_floor,
)
from aedemo.ui.latent_hover import latent_hover
from aedemo.ui.links import LinkedSettings, linked_settings
from aedemo.ui.news import NEWS_SEQ, class_news, deleted_by, news_heard, news_notice
from aedemo.ui.pickers import (
    CLASSMATE,
    LESSON,
    TEACHERS,
    YOU,
    Viewer,
    architecture,
    code_for,
    model_help,
    model_labels,
    models,
    pick_model,
    pick_model_id,
    training_words,
    viewer,
)
from aedemo.ui.queue import (
    PROGRESS_EVERY_S,
    interrupted_jobs,
    job_cost_note,
    job_exists,
    progress_text,
    queue_wait,
    submit,
    teacher_queue,
    wait_words,
)
from aedemo.ui.session import (
    PROJECTOR,
    Browsers,
    browsers,
    client_address,
    for_viewer,
    is_teacher,
    projector,
    recall,
    remember,
    remember_changes,
    service,
    student_id,
)
from aedemo.ui.stored import may_delete, model_actions, stored_models_table, when_words
from aedemo.ui.waiting import data_or_wait, models_or_wait, refresh_when_ready, waiting_for_models
from aedemo.ui.widgets import (
    PROJECTOR_CHART_PX,
    PROJECTOR_ROW,
    ROW,
    alt_texts,
    bottleneck_sweep,
    chart,
    drawing_pad,
    false_alarm_threshold,
    hparam_input,
    pad_sent,
    page_style,
    picture,
    projected,
    show_images,
    stylesheet,
)

__all__ = [
    "CLASSMATE", "DRAWING", "FOLLOWED_JOBS", "LATENT_MAP_KEY", "LESSON", "NEWS_SEQ",
    "PROGRESS_EVERY_S", "PROJECTOR", "PROJECTOR_CHART_PX", "PROJECTOR_ROW", "ROW", "SHOWN_ON",
    "TEACHERS", "YOU", "Browsers", "Viewer", "alt_texts", "architecture", "bottleneck_sweep",
    "browsers", "cancelled_text", "chart",
    "class_map",
    "class_models_section",
    "bring_the_class", "invitation_notice",
    "class_news", "client_address", "code_for",
    "data_or_wait", "deleted_by", "drawing_pad", "false_alarm_threshold", "follow_job",
    "for_viewer", "hparam_input", "interrupted_jobs", "is_teacher", "job_cost_note", "job_exists",
    "job_panel", "keep_input", "keep_strokes", "landed_model", "last_drawing", "last_input",
    "latent_hover", "latent_replay", "LinkedSettings", "linked_settings", "may_delete",
    "model_actions", "model_help",
    "model_labels", "models", "models_or_wait", "news_heard", "news_notice", "offline_notice",
    "pad_row", "pad_sent", "page_style", "pages_showing", "pick_model", "pick_model_id", "picture",
    "progress_text", "projected", "projector", "queue_wait", "recall", "refresh_when_ready",
    "remember", "remember_changes", "run_page", "service",
    "share_button",
    "show_images", "sidebar",
    "stored_models_table", "student_id", "stylesheet", "submit", "sweep_models", "teacher_queue",
    "training_floor", "training_words", "viewer", "wait_words", "waiting_for_models", "when_words"
]
