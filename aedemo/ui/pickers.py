"""Stored models named for people ("VAE, k = 8 (yours)") and picked from: which models a page
offers this student and in what order, their labels and tooltips, the pickers, and a
variant's layers and its code for the Train page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch

from aedemo.job import SYSTEM
from aedemo.links import MODEL, model_param
from aedemo.service import Provenance
from aedemo.spec import ModelSpec
from aedemo.store import StoredModel
from aedemo.ui.links import LinkedSettings
from aedemo.ui.session import is_teacher, service, student_id

LESSON, TEACHERS, CLASSMATE, YOU = "the lesson", "the teacher", "a classmate", "you"


@dataclass(frozen=True)
class Viewer:
    """What naming models for one person needs, read once for a whole list: who they are,
    whether they are the teacher (who sees each student's number), the pins and the zoo."""

    me: str
    teacher: bool
    pinned: frozenset[str]
    zoo: frozenset[str]
    numbers: dict[str, int]

    def owner(self, m: StoredModel) -> str:
        """Who a model belongs to, as this person says it: "you", "the lesson" (the zoo's, and
        any the server itself trained), "the teacher" (from the command line), and another
        student's as "a classmate", or for the teacher "student 3"."""
        if m.owner == self.me:
            return YOU
        if m.id in self.zoo or m.owner == SYSTEM:
            return LESSON
        if m.owner is None:
            return TEACHERS
        number = self.numbers.get(m.owner)
        return f"student {number}" if self.teacher and number else CLASSMATE

    def whose(self, m: StoredModel) -> str:
        """The owner as a label says it: "yours", "the lesson's", "student 3's"; a pinned
        model stays its owner's, with the pin beside it."""
        owner = self.owner(m)
        words = "yours" if owner == YOU else f"{owner}'s"
        return f"{words}, pinned by the teacher" if m.id in self.pinned else words


def viewer() -> Viewer:
    """This browser as the one reading the models' names."""
    svc, teacher = service(), is_teacher()
    numbers = {}
    if teacher:         # students who trained before the roster existed get their number now
        numbers = svc.roster.enrol(m.owner for m in svc.store.list()
                                   if m.ok and m.owner not in (None, SYSTEM))
    return Viewer(me=student_id(), teacher=teacher, pinned=svc.store.pinned(),
                  zoo=svc.zoo_keys, numbers=numbers)


# What may tell two models of the same title apart, in this order: one title is one variant
# with the same settings, so only the data and the training can differ (the same spec would
# be the same model), and last the id, which always does.
_DIFFERENCES = (
    lambda m: f"{m.spec.train.epochs} epoch{'s' if m.spec.train.epochs != 1 else ''}",
    lambda m: f"on {m.spec.dataset}",
    lambda m: f"batch {m.spec.train.batch_size}",
    lambda m: f"learning rate {m.spec.train.lr:g}",
    lambda m: f"seed {m.spec.train.seed}",
    lambda m: f"model {m.id}",
)


def model_labels(stored_models: Sequence[StoredModel], who: Viewer | None = None) -> dict[str, str]:
    """Each usable model's name for a picker, by id: its title and whose it is ("dense
    autoencoder, k = 16 (the lesson's)", "VAE, k = 8 (yours, pinned by the teacher)"). Models
    of one name get what differs between them ("…, 38 epochs (a classmate's)")."""
    who = who or viewer()
    stored_models = [m for m in stored_models if m.ok]
    extra: dict[str, list[str]] = {m.id: [] for m in stored_models}
    groups: dict[tuple[str, str], list[StoredModel]] = {}
    for m in stored_models:             # a pin tells two apart, but not what differs between them
        groups.setdefault((m.spec.title, who.owner(m)), []).append(m)
    for group in (g for g in groups.values() if len(g) > 1):
        for differ in _DIFFERENCES:
            said = [differ(m) for m in group]
            if len(set(said)) > 1:
                for m, words in zip(group, said):
                    extra[m.id].append(words)
            told = {tuple(extra[m.id]) for m in group}
            if len(told) == len(group):
                break
    return {m.id: ", ".join([m.spec.title, *extra[m.id]]) + f" ({who.whose(m)})"
            for m in stored_models}


def training_words(spec: ModelSpec) -> str:
    """What a model is trained on and how: "mnist-5k: 38 epochs, batch 64, learning rate
    0.001, seed 0"."""
    t = spec.train
    return (f"{spec.dataset}: {t.epochs} epoch{'s' if t.epochs != 1 else ''}, batch "
            f"{t.batch_size}, learning rate {t.lr:g}, seed {t.seed}")


def model_help(m: StoredModel) -> str:
    """What a picker's tooltip says of the chosen model: its data, its training and its id."""
    return f"Trained on {training_words(m.spec)}. Model `{m.id}`."


def models(*, others: bool = True, **filters: Any) -> list[StoredModel]:
    """The stored models on the app's dataset that match ``filters`` (see Service.models), in
    this student's order: the teacher's pins, the zoo, their own, then everyone else's, which
    ``others=False`` leaves out (for sweeps and comparisons, which stay the lesson's)."""
    svc = service()
    if svc.data is None:
        return []
    me = student_id()
    found = svc.models(dataset=filters.pop("dataset", svc.data.source), viewer=me, **filters)
    if others:
        return found
    return [m for m in found if svc.provenance(m, me) is not Provenance.OTHERS]


def pick_model(models: list[StoredModel], key: str, label: str = "Model",
               link: LinkedSettings | None = None, link_as: str = MODEL) -> StoredModel:
    """A selectbox over stored models in the order given: the first, the lesson's own model,
    is the default. Each is named for people; the chosen one's data, training and id are in
    its tooltip. With ``link``, the chosen model is in the page's address (``model=<id>``, or
    ``link_as`` for a page's second picker)."""
    if link is not None:
        by_id = {m.id: m for m in models}
        link.seed(model_param(list(by_id), by_id.get, lambda m: m.id, link_as), key)
    labels = model_labels(models)
    before = st.session_state.get(key)         # this run's choice: the widget's state is set
    chosen = next((m for m in models if m.id == getattr(before, "id", None)), models[0])
    return st.selectbox(label, models, format_func=lambda m: labels[m.id], key=key,
                        help=model_help(chosen))


def pick_model_id(models: list[StoredModel], key: str, label: str = "Model",
                  where: Any = None, link: LinkedSettings | None = None) -> StoredModel:
    """pick_model for a picker whose state is the chosen model's id (Draw, Anomaly and
    Sequences): named for people the same way, the tooltip the same, linked the same; a
    chosen model deleted since is forgotten and the first, the lesson's, is chosen instead."""
    labels, by_id = model_labels(models), {m.id: m for m in models}
    if link is not None:
        link.seed(model_param(list(by_id)), key)
    if st.session_state.get(key) not in labels:
        st.session_state.pop(key, None)
    current = by_id[st.session_state.get(key, models[0].id)]
    chosen = (where or st).selectbox(label, list(labels), format_func=labels.get, key=key,
                                     help=model_help(current))
    return by_id[chosen]


@st.cache_data(show_spinner=False, max_entries=256)
def architecture(variant: str, latent_dim: int) -> list[tuple[str, str]]:
    """The layer list of a variant at bottleneck k, from a model built on the meta device
    (shapes only, no memory, no weights initialised)."""
    from aedemo.models import get_variant

    cls = get_variant(variant)
    with torch.device("meta"):
        return cls(cls.Config.from_dict({"latent_dim": latent_dim})).architecture()


def code_for(variant: str, hparams: dict[str, Any], dataset: str, train: Any) -> None:
    """The runnable PyTorch script equivalent to the chosen settings, with a download button."""
    from aedemo.codegen import pytorch_script
    from aedemo.spec import ModelSpec

    try:
        # the dataset name as chosen: the script itself falls back when it cannot download
        spec = ModelSpec.checked(variant, hparams, dataset=dataset, train=train)
        script = pytorch_script(spec)
    except ValueError as err:
        st.error(str(err))
        return
    st.code(script, language="python")
    st.download_button("Download the script", script, file_name=f"train_{variant}.py",
                       mime="text/x-python", icon=":material/download:")
