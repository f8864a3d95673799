"""The table of stored models on the Train page: every model with its metrics, its download,
and Delete and the showcase pin for whoever may."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from aedemo import classroom
from aedemo.job import TEACHER
from aedemo.metrics import METRIC_LABELS
from aedemo.store import StoredModel, StoreError
from aedemo.ui.news import news_heard, teacher_act
from aedemo.ui.pickers import model_help, model_labels, viewer
from aedemo.ui.session import for_viewer, is_teacher, service, student_id


def when_words(stamp: str, now: datetime | None = None) -> str:
    """When something was made, as a person reads it, in the server's time zone (the class's):
    "just now", "3 min ago", "today 14:05", "yesterday 09:12", "4 Mar 14:05", "4 Mar 2025".
    A stamp that is no ISO date is given as it is."""
    try:
        then = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)       # the store writes UTC
    now = (now or datetime.now(timezone.utc)).astimezone()
    then = then.astimezone()
    ago = (now - then).total_seconds()
    if -60 < ago < 60:
        return "just now"
    if 0 < ago < 3600:
        return f"{int(ago // 60)} min ago"
    if then.date() == now.date():
        return f"today {then:%H:%M}"
    if then.date() == now.date() - timedelta(days=1):
        return f"yesterday {then:%H:%M}"
    if then.year == now.year:
        return f"{then.day} {then:%b %H:%M}"
    return f"{then.day} {then:%b %Y}"


def stored_models_table() -> None:
    """Every stored model with its test metrics; delete or download one; unreadable files are
    listed with the reason and can be deleted too."""
    svc = service()
    stored_models = svc.store.list()
    if not stored_models:
        # where the store lives is the teacher's business, not a student's
        st.caption(f"No models stored yet in {svc.store.dir}." if is_teacher() else
                   "No models stored yet.")
        return
    who = viewer()
    rows = []
    for m in stored_models:
        if not m.ok:
            rows.append({"model": f"unreadable: {m.problem}", "id": m.id})
            continue
        rows.append({"model": m.spec.title, "owner": who.owner(m), "pinned": m.id in who.pinned,
                     "trained": when_words(m.created), "dataset": m.spec.dataset,
                     "epochs": m.spec.train.epochs,
                     **{METRIC_LABELS.get(name, name): v for name, v in m.metrics.items()},
                     "id": m.id})
    # a metric a variant does not have (KL for all but the VAE) is an empty cell, not "None"
    table = pd.DataFrame(rows).dropna(axis="columns", how="all")
    table = table[[c for c in table.columns if c != "id"] + ["id"]]      # the id last
    if "epochs" in table:            # whole numbers, though an unreadable row has none
        table["epochs"] = table["epochs"].astype("Int64")
    st.dataframe(table.style.format(precision=4, na_rep=""), hide_index=True,
                 key="stored-models",
                 column_config={"pinned": st.column_config.CheckboxColumn(
                     "pinned", help="Pinned by the teacher: it comes first on every page it fits")})
    labels = {**{m.id: f"{m.id} (unreadable: {m.problem[:60]})" for m in stored_models if not m.ok},
              **model_labels(stored_models, who)}
    picked = st.session_state.get("store-pick")
    stored = next((m for m in stored_models if m.id == picked), stored_models[0])
    chosen = st.selectbox("Model", [m.id for m in stored_models], format_func=labels.get,
                          key="store-pick", help=model_help(stored) if stored.ok else None)
    left, right = st.columns(2)
    stored = next(m for m in stored_models if m.id == chosen)
    if stored.ok:
        # The bytes themselves, not a function that reads them on the click: Streamlit names a
        # deferred download afresh on every run and forgets the old name at the end of the
        # next one, so a click as a job ended (the page reruns then) asked for a file that was
        # gone. Bytes are named by their content and served by plain HTTP, whatever reruns.
        # The click needs no rerun either ("ignore").
        try:
            weights = svc.store.weights_bytes(chosen)
        except StoreError as err:
            right.error(for_viewer(err), icon=":material/error:")
        else:
            right.download_button("Download weights (.safetensors)", weights,
                                  file_name=f"aedemo-{chosen}.safetensors",
                                  mime="application/octet-stream", on_click="ignore",
                                  icon=":material/download:", key="store-download")
    with left:
        model_actions(stored)


def may_delete(stored: StoredModel) -> bool:
    """The teacher may delete any model, an unreadable file too; a student only their own, and
    not once the teacher pinned it (classroom.delete_model refuses it too)."""
    return is_teacher() or _own_unpinned(stored)


def _own_unpinned(stored: StoredModel) -> bool:
    return (stored.ok and stored.owner == student_id()
            and stored.id not in service().store.pinned())


def model_actions(stored: StoredModel) -> None:
    """Delete (after a confirmation) for whoever may, and the showcase pin for the teacher."""
    svc = service()
    if not may_delete(stored):
        st.caption(classroom.PINNED_IS_THE_TEACHERS if stored.ok and stored.id in viewer().pinned
                   else f"Only the teacher can delete this model: it is {viewer().whose(stored)}."
                   if stored.ok else
                   "Only the teacher can delete an unreadable file.")
    else:
        with st.popover("Delete", icon=":material/delete:"):
            st.markdown(f"Delete model `{stored.id}` for good? Every page stops offering it.")
            if st.button("Yes, delete it", type="primary", key=f"store-delete-{stored.id}"):
                if not may_delete(stored):             # the role may have changed since
                    st.error("Only the teacher can delete this model.", icon=":material/lock:")
                else:
                    # the teacher's own model, once pinned, is deleted as the teacher's
                    by = student_id() if _own_unpinned(stored) else TEACHER
                    try:
                        svc.delete_model(stored.id, by=by)
                        news_heard()
                        st.rerun()
                    except StoreError as err:
                        st.error(for_viewer(err))
    if stored.ok and is_teacher():
        pinned = stored.id in svc.store.pinned()
        if st.button("Take off the showcase" if pinned else "Pin to the showcase",
                     icon=":material/push_pin:", key=f"store-pin-{stored.id}",
                     help="A pinned model comes first, before the zoo's, on every page it "
                          "fits (of its variant, and with the k a page needs)"):
            teacher_act(lambda: svc.set_pinned(stored.id, not pinned))
