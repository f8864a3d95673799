"""What a page shows while the models it needs are not there yet: the dataset loading or the
training's progress, and a refresh of the page by itself once they arrive."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aedemo.jobs import Status
from aedemo.store import StoredModel
from aedemo.ui.pickers import models
from aedemo.ui.queue import progress_text
from aedemo.ui.session import service


def models_or_wait(what: str, **filters: Any) -> tuple[Any, list[StoredModel]]:
    """The app's dataset and its stored models that match ``filters`` (see Service.models).
    When there are none yet, show what is coming instead (the dataset loading, or the training
    progress), refresh the page by itself once it arrives, and stop the page here."""
    svc = service()
    data = svc.data
    found = models(**filters)
    if not found:
        if data is None:
            st.info("Loading the dataset…", icon=":material/hourglass_top:")
        else:
            waiting_for_models(what)
        refresh_when_ready(data is not None, {k: v for k, v in filters.items() if k != "prefer"})
        st.stop()
    return data, found


@st.fragment(run_every=3)
def refresh_when_ready(had_data: bool, *queries: dict[str, Any]) -> None:
    """Rerun the whole page once the dataset has loaded (if it had not) or once any of the
    model ``queries`` finds a stored model: the waiting message promised the page fills in."""
    if service().data is not None and (not had_data or any(models(**q) for q in queries)):
        st.rerun(scope="app")


def waiting_for_models(what: str) -> None:
    """What a page shows while the models it needs are still training: progress, not blank."""
    active = service().active_jobs()
    st.info(f"No {what} is ready yet. "
            + (f"{len(active)} model(s) are training in the background; this page fills in as "
               f"they finish." if active else "Train one on the Train page."),
            icon=":material/hourglass_top:")
    running = [j for j in active if j.status is Status.RUNNING]
    if running:
        job = running[0]
        st.progress(job.fraction, text=f"Training {job.spec.title}: {progress_text(job)}")
