"""The shared palette is readable by every student: the digit classes stay apart under the common
colour-vision deficiencies, each has its own marker shape, and the line colours stand out from
the white page (WCAG 2.1's 3:1 for graphics)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage import color

from aedemo.viz.latent_space import latent_scatter
from aedemo.viz.style import DIGIT_COLOURS, DIGIT_SYMBOLS, PALETTE

# Machado, Oliveira & Fernandes (2009), "A Physiologically-based Model for Simulation of Color
# Vision Deficiency", the matrices for severity 1.0 (dichromacy), applied to linear sRGB.
MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868],
                   [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968],
                     [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779],
                   [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}
VISIONS = ("normal", *MACHADO)
# CIEDE2000 differences: about 2 is just noticeable side by side; small markers scattered over a
# map need far more. Tol's muted scheme keeps 11 or more under every simulation; tab10, the
# palette before it, falls to 1.3 (orange against green under protanopia).
CLASSES_APART = 10.0
PAIRS_APART = 15.0        # the line colours the pages draw against each other
WCAG_GRAPHICS = 3.0       # WCAG 2.1 success criterion 1.4.11, non-text contrast


def srgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])


def to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def from_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def seen(colours, vision: str) -> np.ndarray:
    """The colours (n, 3) in CIELAB as a reader with that vision sees them."""
    rgb = np.array([srgb(c) for c in colours])
    if vision != "normal":
        rgb = from_linear(np.clip(to_linear(rgb) @ np.array(MACHADO[vision]).T, 0, 1))
    return color.rgb2lab(rgb[None]).reshape(-1, 3)


def closest_pair(colours, vision: str) -> tuple[float, int, int]:
    lab = seen(colours, vision)
    return min((float(color.deltaE_ciede2000(lab[i], lab[j])), i, j)
               for i, j in itertools.combinations(range(len(colours)), 2))


def contrast_with_white(hex_colour: str) -> float:
    """WCAG 2.1's contrast ratio (L1 + 0.05) / (L2 + 0.05) against white (luminance 1)."""
    luminance = float(to_linear(srgb(hex_colour)) @ [0.2126, 0.7152, 0.0722])
    return 1.05 / (luminance + 0.05)


def test_the_simulation_matches_published_values():
    # the simulation itself, held to known points: white and black stay, and pure red under
    # deuteranopia becomes a dark olive (Machado's matrix row sums are 1, so greys stay grey)
    for vision in MACHADO:
        assert np.allclose(seen(["#FFFFFF", "#000000", "#777777"], vision),
                           seen(["#FFFFFF", "#000000", "#777777"], "normal"), atol=0.05)
    red = from_linear(np.clip(np.array(MACHADO["deuteranopia"]) @ [1.0, 0, 0], 0, 1))
    assert red[0] > red[2] and red[1] > red[2]          # yellowish-brown, as in the paper's fig.
    # CIEDE2000 against Sharma, Wu & Dalal (2005)'s test data, pair 1
    assert color.deltaE_ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485]) == pytest.approx(
        2.0425, abs=1e-4)
    # WCAG's own anchors: black on white is 21:1, and #767676 is the lightest grey at 4.5:1
    assert contrast_with_white("#000000") == pytest.approx(21.0)
    assert contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("vision", VISIONS)
def test_every_two_digit_classes_stay_apart(vision):
    assert len(DIGIT_COLOURS) == 10
    gap, i, j = closest_pair(DIGIT_COLOURS, vision)
    assert gap >= CLASSES_APART, f"digits {i} and {j} look alike under {vision} (ΔE00 {gap:.1f})"


def test_tab10_would_fail_the_colour_blind():
    # the check can fail: matplotlib's tab10, the classes' colours before, does under protanopia
    tab10 = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
             "#7f7f7f", "#bcbd22", "#17becf")
    assert closest_pair(tab10, "protanopia")[0] < CLASSES_APART
    assert min(contrast_with_white(c) for c in tab10) < WCAG_GRAPHICS


def test_every_digit_class_has_its_own_shape():
    assert len(set(DIGIT_SYMBOLS)) == len(DIGIT_SYMBOLS) == len(DIGIT_COLOURS)
    assert "star" not in DIGIT_SYMBOLS          # kept for the marks drawn over a map


def test_the_map_gives_each_class_its_colour_shape_and_name():
    points = np.random.default_rng(0).normal(size=(100, 2))
    labels = np.arange(100) % 10
    fig = latent_scatter(points, labels, [str(d) for d in range(10)], title="map")
    classes = [t for t in fig.data if t.name.startswith("digit")]
    assert [t.name for t in classes] == [f"digit {d}" for d in range(10)]
    assert [t.marker.color for t in classes] == list(DIGIT_COLOURS)
    assert [t.marker.symbol for t in classes] == list(DIGIT_SYMBOLS)
    assert all(t.marker.line.width > 0 for t in classes)      # light colours keep an edge
    # a class that is not a digit is named as it is
    other = latent_scatter(points[:2], np.array([0, 1]), ["T-shirt", "Trouser"])
    assert [t.name for t in other.data] == ["T-shirt", "Trouser"]


@pytest.mark.parametrize("colour", PALETTE)
def test_every_line_colour_stands_out_from_the_page(colour):
    assert contrast_with_white(colour) >= WCAG_GRAPHICS


@pytest.mark.parametrize("vision", VISIONS)
@pytest.mark.parametrize("pair", [(0, 4), (2, 1)], ids=["train-test", "normal-anomalous"])
def test_the_lines_drawn_against_each_other_stay_apart(pair, vision):
    # PALETTE[0] and [4] are the train and test curves (viz.train), [2] and [1] the normal and
    # anomalous histograms (viz.anomaly): the pairs a student must tell apart
    lab = seen([PALETTE[i] for i in pair], vision)
    assert color.deltaE_ciede2000(lab[0], lab[1]) >= PAIRS_APART


def test_the_line_palette_keeps_its_hues_in_order():
    # other modules index PALETTE by position (0 blue, 1 red, 2 green, 4 orange): the hue at
    # each place stays, only its shade changed
    hues = [color.rgb2hsv(srgb(c)[None, None])[0, 0, 0] * 360 for c in PALETTE]
    assert 190 <= hues[0] <= 230          # blue
    assert hues[1] <= 20 or hues[1] >= 340      # red
    assert 120 <= hues[2] <= 170          # green
    assert 260 <= hues[3] <= 300          # purple
    assert 20 <= hues[4] <= 45            # orange
