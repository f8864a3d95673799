"""The Home page's architecture diagram (aedemo.viz.home) drawn to a linear scale, and what the
page says about the bottleneck: it stops copying, not memorising."""

from __future__ import annotations

import json

import pytest
import torch

from aedemo import data as datasets
from aedemo.models import get_variant, variant_names
from aedemo.viz import home
from page_support import no_exception, texts

DENSE_16 = [("input", "784"), ("encoder", "256"), ("encoder", "128"), ("code", "16"),
            ("decoder", "128"), ("decoder", "256"), ("output", "784")]


def architecture(variant: str, k: int) -> list[tuple[str, str]]:
    cls = get_variant(variant)
    with torch.device("meta"):
        return cls(cls.Config.from_dict({"latent_dim": k})).architecture()


@pytest.mark.parametrize(("label", "size"), [("784", 784), ("32x7x7", 1568),
                                             ("1x28x28", 784), ("16 (mu, sigma)", 16),
                                             ("T x 64", 128 * 64), ("T x 1", 128)])
def test_layer_sizes_count_the_numbers_a_layer_holds(label, size):
    assert home.layer_size(label, steps=128) == size


def test_a_sequence_without_its_length_has_no_size():
    assert home.layer_size("T x 1") is None
    assert home.squeeze(architecture("lstm", 8)) is None
    assert home.squeeze(architecture("lstm", 8), datasets.SERIES_LENGTH) == (
        datasets.SERIES_LENGTH / 8)


def test_boxes_are_to_scale_with_a_stated_minimum():
    fig = home.architecture_figure(DENSE_16, title="dense autoencoder with k = 16")
    bars, = fig.data
    heights = list(bars.y)
    # linear: the input box is 784/256 times the first encoder's, not log2(785)/log2(257)
    assert heights[0] / heights[1] == pytest.approx(784 / 256)
    assert heights[0] / heights[2] == pytest.approx(784 / 128)
    assert heights[0] == 1.0 and heights[3] == home.MIN_HEIGHT        # 16/784 is below it
    assert list(bars.base) == pytest.approx([-h / 2 for h in heights])
    assert list(bars.customdata) == [size for _, size in DENSE_16]
    note = home.scale_note(DENSE_16)
    assert "to scale (linear)" in note
    assert f"code (16) is drawn at {home.MIN_HEIGHT:.0%} of the tallest box" in note
    # the code box stands out by its colour and is named as well
    assert bars.marker.color[3] == home.CODE and bars.marker.color[2] != home.CODE
    assert [a.text for a in fig.layout.annotations][::2] == [f"<b>{n}</b>" for n, _ in DENSE_16]


def test_nothing_is_raised_when_every_layer_is_visible_to_scale():
    layers = [("input", "784"), ("code", "1024"), ("output", "784")]
    assert home.box_heights([784, 1024, 784]) == pytest.approx([784 / 1024, 1, 784 / 1024])
    assert "drawn at" not in home.scale_note(layers)


@pytest.mark.parametrize("variant", [v for v in variant_names() if v != "lstm"])
def test_the_squeeze_is_input_over_code_for_every_image_variant(variant):
    layers = architecture(variant, 16)
    assert home.squeeze(layers) == pytest.approx(784 / 16)
    assert "The code holds 49 times fewer numbers than the input." in (
        home.architecture_summary(layers))


def test_a_code_wider_than_the_image_is_said_to_be_no_bottleneck():
    layers = architecture("dense", 1024)
    assert home.squeeze(layers) == pytest.approx(784 / 1024)
    summary = home.architecture_summary(layers)
    assert summary.startswith("Layers: input 784 → code 1024 → output 784.")
    assert "no bottleneck at all" in summary


# --- the page --------------------------------------------------------------------------------

def _title(at) -> str:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]


def test_home_says_the_squeeze_and_the_scale(app):
    at = app("pages/home.py")
    no_exception(at)
    assert _title(at) == "dense autoencoder with k = 16: 49x fewer numbers in the code"
    assert any("The code holds 49 times fewer numbers than the input." in m.value
               for m in at.markdown if "aedemo-sr-only" in m.value)
    assert "Box heights are to scale (linear)" in texts(at, "caption")
    at.slider(key="home-k").set_value(2).run()
    assert _title(at) == "dense autoencoder with k = 2: 392x fewer numbers in the code"
    at.slider(key="home-k").set_value(1024).run()
    assert _title(at) == "dense autoencoder with k = 1024: a code wider than the input"
    assert "nothing forces the network to do more than copy" in texts(at, "caption")
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["customdata"] == ["784", "1024", "784"]


def test_home_says_the_bottleneck_stops_copying_not_memorising(app):
    at = app("pages/home.py")
    intro = texts(at, "markdown")
    assert "the identity map" in intro
    assert "The bottleneck stops *copying*, not *memorising*" in intro
    assert "cannot simply memorise" not in intro
    assert [h.value for h in at.title] == ["Autoencoders, hands on"]
    assert [h.value for h in at.header] == ["The pages"]
