"""What a page shows while the models it needs are not there yet: the dataset loading or the
training's progress, and a refresh of the page by itself once they arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from aedemo.job import Status
from aedemo.store import StoredModel
from aedemo.ui.pickers import models
from aedemo.ui.queue import progress_text
from aedemo.ui.session import service

LOADING = "Loading the dataset…"


def data_or_wait() -> Any:
    """The app's dataset. While it loads, say so, refresh the page by itself once it has
    loaded, and stop the page here."""
    data = service().data
    if data is None:
        st.info(LOADING, icon=":material/hourglass_top:")
        refresh_when_ready(False)
        st.stop()
    return data


def models_or_wait(what: str, *, said: str | None = None,
                   meanwhile: Callable[[], None] | None = None,
                   **filters: Any) -> tuple[Any, list[StoredModel]]:
    """The app's dataset and its stored models that match ``filters`` (see Service.models).
    When there are none yet, show what is coming instead (the dataset loading, or the training
    progress; ``said``, the page's own words, in place of the progress), draw what the page
    offers ``meanwhile`` (a button that trains one), refresh the page by itself once they
    arrive, and stop the page here."""
    svc = service()
    data = svc.data
    found = models(**filters)
    if not found:
        if data is None:
            st.info(LOADING, icon=":material/hourglass_top:")
        elif said:
            st.info(said, icon=":material/troubleshoot:")
        else:
            waiting_for_models(what)
        refresh_when_ready(data is not None, {k: v for k, v in filters.items() if k != "prefer"})
        if meanwhile is not None:
            meanwhile()
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
    active = service().jobs.jobs(active_only=True)
    st.info(f"No {what} is ready yet. "
            + (f"{len(active)} model(s) are training in the background; this page fills in as "
               f"they finish." if active else "Train one on the Train page."),
            icon=":material/hourglass_top:")
    running = [j for j in active if j.status is Status.RUNNING]
    if running:
        job = running[0]
        st.progress(job.fraction, text=f"Training {job.spec.title}: {progress_text(job)}")
