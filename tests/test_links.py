"""aedemo.links: a link's settings read as the widgets' values. Every variant's settings are read
from the registry and held to the trusted reference, the config fields' own check
(models.base.checked_value, what the Train form and the CLI use): a link takes a value exactly
when the form would. The names are the CLI's flags; hostile text is refused with what it takes."""

from __future__ import annotations

import dataclasses

import pytest

from aedemo import links
from aedemo.cli import build_parser
from aedemo.models import REGISTRY
from aedemo.models.base import checked_value, log_options
from aedemo.train import TrainConfig

FIELDS = {(name, f.name): f for name, cls in REGISTRY.items() for f in cls.Config.params()}
TRAIN_FIELDS = {("train", f.name): f for f in dataclasses.fields(TrainConfig)}

# Text a link may carry: fine values, edges, and what a hostile or careless sender types
PROBES = ["0", "1", "2", "8", "16", "16.0", "2.5", "1e2", "-1", "0.4", "1e-3", "0.001", "0.0015",
          "10", "11", "128", "129", "1024", "2048", "4096", "nan", "NaN", "inf", "-inf", "",
          " 8 ", "abc", "0x10", "1" * 80, "8;drop", "gaussian", "salt-pepper", "<script>",
          "2147483647", "2147483648", "True"]


def accepted_by_form(f: dataclasses.Field, text: str):
    """What the form's own check makes of ``text``: the value, or None when it refuses it."""
    try:
        return checked_value(f, text.strip())
    except ValueError:
        return None


@pytest.mark.parametrize("where,field", sorted({**FIELDS, **TRAIN_FIELDS}))
def test_a_link_takes_exactly_what_the_form_takes(where, field):
    f = {**FIELDS, **TRAIN_FIELDS}[(where, field)]
    param = links.field_param(f)
    for text in PROBES:
        want = accepted_by_form(f, text)
        if f.metadata.get("log") and want is not None:
            # a log field's widget offers only its steps: a link takes those alone
            want = want if want in log_options(f.metadata["low"], f.metadata["high"]) else None
        if want is not None and len(text) > links.MAX_CHARS:
            want = None
        try:
            got = param.read(text)
        except links.Refused as why:
            assert want is None, (text, want)
            assert str(why) == param.takes
        else:
            assert got == want and type(got) is type(want), (text, got, want)


@pytest.mark.parametrize("where,field", sorted({**FIELDS, **TRAIN_FIELDS}))
def test_a_fields_default_goes_round_the_address(where, field):
    f = {**FIELDS, **TRAIN_FIELDS}[(where, field)]
    param = links.field_param(f)
    for value in [f.default, *(f.metadata.get("choices") or ()),
                  *(v for v in (f.metadata.get("low"), f.metadata.get("high")) if v is not None
                    and not f.metadata.get("log"))]:
        assert param.read(param.format(value)) == value


def test_the_names_are_the_command_lines_flags():
    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.values()
                 if a.prog.endswith(" train"))
    flags = {s for action in train._actions for s in action.option_strings}
    names = {links.param_name(f.name) for f in FIELDS.values()}
    names |= {links.param_name(f.name) for f in TRAIN_FIELDS.values()}
    assert names == {"latent", "noise-kind", "noise-level", "l1", "beta", "hidden", "epochs",
                     "batch-size", "lr", "seed"}
    assert {f"--{n}" for n in names} <= flags


def test_the_learning_rate_takes_its_sliders_steps_however_written():
    lr = links.field_param(TrainConfig.__dataclass_fields__["lr"])
    assert lr.read("1e-3") == lr.read("0.001") == 0.001
    assert lr.read("5e-05") == 5e-5
    assert lr.format(0.001) == "0.001"
    for bad in ("0.003", "2", "1e-9", "nan"):
        with pytest.raises(links.Refused, match="one of 1e-05, 2e-05, 5e-05"):
            lr.read(bad)


def test_numbers_within_their_range():
    seed = links.number_param("seed", 0, 10**6)
    assert seed.read("7") == 7 and type(seed.read("7.0")) is int
    temperature = links.number_param("temperature", 0.1, 2.0, whole=False)
    assert temperature.read("0.5") == 0.5 and temperature.format(0.5) == "0.5"
    for bad in ("-1", "1000001", "2.5", "nan", "inf", "", "seven"):
        with pytest.raises(links.Refused, match="a whole number from 0 to 1000000"):
            seed.read(bad)
    for bad in ("0", "2.01", "nan", "-inf"):
        with pytest.raises(links.Refused, match="a number from 0.1 to 2"):
            temperature.read(bad)


def test_choices_and_several_of_them():
    method = links.choice_param("method", ["pca", "tsne"])
    assert method.read("tsne") == "tsne"
    with pytest.raises(links.Refused, match="one of pca, tsne"):
        method.read("umap")
    digits = links.several_param("normal", list(range(10)))
    assert digits.read("3") == [3] and digits.read("0,1") == [0, 1]
    assert digits.read("5, 2") == [5, 2]
    assert digits.format([0, 1]) == "0,1"
    for bad in ("", "10", "3,3", "a", ",", "1,,2", "-1"):
        with pytest.raises(links.Refused, match="one or more of 0, 1, 2"):
            digits.read(bad)


def test_a_model_is_one_the_page_lists():
    models = {"abc123": object(), "def456": object()}
    param = links.model_param(list(models), models.get, lambda m: next(
        i for i, v in models.items() if v is m))
    assert param.name == links.MODEL
    assert param.read("def456") is models["def456"]
    assert param.format(models["abc123"]) == "abc123"
    for bad in ("zzz", "../../etc/passwd", "ABC123", "abc123" * 20):
        with pytest.raises(links.Refused, match="a model this page lists"):
            param.read(bad)
    assert links.model_param(["a"], name="conv-model").name == "conv-model"


def test_a_refusal_note_quotes_the_value_short_and_on_one_line():
    note = links.refusal_note("latent", "999", "a whole number from 2 to 128")
    assert note == ("This link's latent = “999” is not used: latent takes a whole number from 2 "
                    "to 128. The page uses its own setting instead.")
    hostile = links.refusal_note("model", "x" * 500 + "\n# big", "an id")
    assert "\n" not in hostile and "x" * 23 + "…" in hostile and "x" * 24 not in hostile
