"""A page's settings as its address (issue 22): ``/generate?model=ab12cd&seed=3&temperature=0.8``
opens the same view with the same settings, so a teacher's link, or a student's bookmark, shows
what its sender saw. The names are the CLI's flags without their dashes (``--latent 8`` is
``latent=8``, ``--noise-level`` is ``noise-level``), so one vocabulary serves both.

A link is text typed or sent by anyone, so each value is read by a ``Param``, which takes the
value only when it is one the page's widget offers, and otherwise says in words what it takes;
the page then keeps its own setting and tells the reader why (``refusal_note``). The ranges are
the config fields' own (``field_param``), never a second list. Nothing here imports Streamlit:
aedemo.ui.links holds the glue that reads and writes the address.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aedemo.models.base import checked_value, log_options

MODEL = "model"          # a stored model, by its id: model=<id>
LATENT = "latent"        # latent_dim's flag, as the CLI names it
MAX_CHARS = 64           # a value longer than this is refused unread
SHOWN_CHARS = 24         # what a note quotes of a refused value


class Refused(ValueError):
    """A link's value that the page does not take; its text says what the page takes ("a
    whole number from 2 to 128")."""


@dataclass(frozen=True)
class Param:
    """One setting of a page in its address: its ``name`` there, what it ``takes`` in words,
    ``parse`` from the address's text to the widget's value (any ValueError: not one it takes)
    and ``format`` back."""

    name: str
    takes: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str

    def read(self, text: str) -> Any:
        """``text`` as the widget's value; Refused, saying what it takes, when it is not one
        the widget offers."""
        try:
            if len(text) > MAX_CHARS:
                raise ValueError("too long to be a setting")
            return self.parse(text.strip())
        except ValueError:
            raise Refused(self.takes) from None


def param_name(field_name: str) -> str:
    """A config field's name in a link and on the command line (without the CLI's dashes)."""
    return LATENT if field_name == "latent_dim" else field_name.replace("_", "-")


def number_text(value: float) -> str:
    """A number as a link writes it: 0.001, 16, 0.5 (never 16.0 or 0.0010000)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_param(field: Any, name: str | None = None) -> Param:
    """The Param of an ``hparam`` config field (models.base): its choices, its log steps (the
    select slider's, models.base.log_options) or its range, as its widget offers them."""
    meta = field.metadata
    name = name or param_name(field.name)
    if meta.get("choices"):
        return choice_param(name, list(meta["choices"]))
    if meta.get("log"):
        return step_param(name, log_options(meta["low"], meta["high"]))
    whole = type(field.default) is int
    # checked_value: the same check as a form's or a CLI flag's value, from the field's range
    return Param(name, _range_words(meta["low"], meta["high"], whole),
                 lambda text: checked_value(field, text), number_text)


def _range_words(low: float, high: float, whole: bool) -> str:
    return f"{'a whole' if whole else 'a'} number from {number_text(low)} to {number_text(high)}"


def number_param(name: str, low: float, high: float, *, whole: bool = True) -> Param:
    """A number widget's Param (a seed, a temperature): a finite number from low to high."""

    def parse(text: str) -> float | int:
        number = float(text)
        if not math.isfinite(number) or not low <= number <= high or (
                whole and not number.is_integer()):
            raise ValueError(text)
        return int(number) if whole else number

    return Param(name, _range_words(low, high, whole), parse, number_text)


def step_param(name: str, steps: Sequence[float]) -> Param:
    """A select slider's Param: one of its steps (a learning rate of 1, 2 or 5 times a power
    of ten), matched as a number, so 1e-3 and 0.001 are the same step."""

    def parse(text: str) -> float:
        number = float(text)
        step = next((s for s in steps if math.isclose(s, number, rel_tol=1e-9)), None)
        if step is None:
            raise ValueError(text)
        return step

    return Param(name, f"one of {', '.join(number_text(s) for s in steps)}", parse, number_text)


def choice_param(name: str, options: Sequence[Any], label: Callable[[Any], str] = str) -> Param:
    """A selectbox's or radio's Param: one of its options, written as ``label`` writes it."""
    by_text = {label(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in by_text:
            raise ValueError(text)
        return by_text[text]

    return Param(name, f"one of {', '.join(by_text)}", parse, label)


def several_param(name: str, options: Sequence[Any], label: Callable[[Any], str] = str) -> Param:
    """A multiselect's Param: one or more of its options, comma-separated (``normal=3`` or
    ``normal=0,1``), each once, in the order given."""
    by_text = {label(o): o for o in options}

    def parse(text: str) -> list[Any]:
        parts = [p.strip() for p in text.split(",")]
        if any(p not in by_text for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(text)
        return [by_text[p] for p in parts]

    return Param(name, f"one or more of {', '.join(by_text)}, separated by commas", parse,
                 lambda values: ",".join(label(v) for v in values))


def model_param(ids: Sequence[str], value: Callable[[str], Any] = lambda i: i,
                id_of: Callable[[Any], str] = lambda v: v, name: str = MODEL) -> Param:
    """A model picker's Param: ``model=<id>`` of one of the models the picker lists (``ids``);
    ``value`` makes the widget's value from an id (the stored model itself, for pickers that
    hold one) and ``id_of`` reads the id back. A page's second picker has a ``name`` of its
    own."""
    known = set(ids)

    def parse(text: str) -> Any:
        if text not in known:
            raise ValueError(text)
        return value(text)

    return Param(name, "the id of a model this page lists (it may have been deleted, or be "
                        "another student's)", parse, id_of)


def refusal_note(name: str, text: str, takes: str) -> str:
    """What the page says of a value its link gave that it does not take."""
    shown = " ".join(text.split())
    if len(shown) > SHOWN_CHARS:
        shown = shown[:SHOWN_CHARS - 1] + "…"
    return (f"This link's {name} = “{shown}” is not used: {name} takes {takes}. "
            f"The page uses its own setting instead.")
