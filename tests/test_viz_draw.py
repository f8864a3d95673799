"""Figures marked again on every stroke (the Draw page's map and error histogram) are built
once, kept as plain data and marked without plotly validating them again. The reference is
the same figure built the slow way, with the marks, by the validated builders."""

from __future__ import annotations

import numpy as np
import plotly.io as pio
import pytest

from aedemo.lessons.latent_space import LatentMap
from aedemo.viz.anomaly import error_histogram
from aedemo.viz.draw import FIXED_MARGIN, kept_figures, with_marks, with_stars
from aedemo.viz.latent_space import latent_scatter
from aedemo.viz.style import frozen

CLASSES = [str(i) for i in range(10)]


@pytest.fixture
def codes():
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 2)), rng.integers(0, 10, 300)


def as_sent(fig) -> dict:
    """What st.plotly_chart sends the browser."""
    return pio.from_json(pio.to_json(fig, validate=False)).to_dict()


def test_a_starred_map_from_the_kept_one_is_the_same_figure(codes):
    points, labels = codes
    star = {"your drawing": np.array([[0.5, -1.0]])}
    slow = latent_scatter(points, labels, CLASSES, marked=star, title="t")
    fast = with_stars(frozen(latent_scatter(points, labels, CLASSES, title="t")), star)
    assert as_sent(fast) == as_sent(slow)


def test_the_kept_map_is_not_changed_by_marking_it(codes):
    points, labels = codes
    base = frozen(latent_scatter(points, labels, CLASSES))
    traces = len(base["data"])
    with_stars(base, {"a": np.zeros((1, 2))})
    with_stars(base, {"b": np.ones((1, 2))})
    assert len(base["data"]) == traces


def test_a_marked_histogram_from_the_kept_one_is_the_same_figure():
    errors = np.random.default_rng(1).gamma(2.0, 0.01, 500)
    mark = {"your drawing": float(np.percentile(errors, 50))}     # inside the drawn range
    slow = error_histogram(errors, names=("test digits",), marks=mark, title="t")
    base = frozen(error_histogram(errors, names=("test digits",), title="t"))
    fast = with_marks(base, mark)
    assert as_sent(fast) == as_sent(slow)
    assert "shapes" not in base["layout"] or not base["layout"]["shapes"]
    unmarked = error_histogram(errors, names=("test digits",), title="t")
    assert as_sent(with_marks(base, {})) == as_sent(unmarked)


def test_a_mark_beyond_the_histogram_widens_its_axis():
    errors = np.random.default_rng(2).gamma(2.0, 0.01, 500)
    base = frozen(error_histogram(errors, names=("test digits",)))
    far = 10 * float(errors.max())
    fig = with_marks(base, {"scribble": far}).to_dict()
    low, high = fig["layout"]["xaxis"]["range"]
    assert low == 0 and high > far
    (shape,) = fig["layout"]["shapes"]
    assert shape["x0"] == shape["x1"] == far


def test_threshold_and_marks_are_labelled_lines():
    errors = np.linspace(0, 1, 100)
    fig = error_histogram(errors, threshold=0.5, marks={"your drawing": 0.25}).to_dict()
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["threshold", "your drawing"]
    assert [s["x0"] for s in fig["layout"]["shapes"]] == [0.5, 0.25]


def test_the_draw_pages_map_is_the_latent_scatter_drawn_in_svg(codes):
    """Drawn afresh after every stroke, the Draw page's map is SVG (a WebGL context per redraw
    was the slow part of the verdict in Chromium) with margins that plotly does not grow (a
    second draw of the whole plot): otherwise the very figure latent_scatter builds, star
    included."""
    points, labels = codes
    latent = LatentMap("code", np.arange(len(points)), labels, points, points.copy())
    kept, _ = kept_figures(latent, np.ones(3), CLASSES)
    star = {"your drawing": np.array([[0.5, -1.0]])}
    sent = as_sent(with_stars(kept, star))
    slow = as_sent(latent_scatter(points, labels, CLASSES, marked=star, indices=latent.indices,
                                  title="Test digits' codes, and yours", axis_names=("z1", "z2")))
    assert {t["type"] for t in slow["data"]} == {"scattergl", "scatter"}     # WebGL by default
    assert {t["type"] for t in sent["data"]} == {"scatter"}
    for t in slow["data"]:
        t["type"] = "scatter"
    assert sent["layout"].pop("margin") == FIXED_MARGIN != slow["layout"].pop("margin")
    for axis in ("xaxis", "yaxis"):
        assert sent["layout"][axis].pop("automargin") is False
    assert sent == slow


def test_the_draw_pages_histogram_keeps_its_fixed_margins_when_marked():
    errors = np.random.default_rng(3).gamma(2.0, 0.01, 200)
    _, kept = kept_figures(LatentMap("code", np.arange(2), np.zeros(2), np.zeros((2, 2)),
                                     np.zeros((2, 2))), errors, CLASSES)
    sent = as_sent(with_marks(kept, {"your drawing": 5 * float(errors.max())}))
    assert sent["layout"]["margin"] == FIXED_MARGIN
    assert sent["layout"]["xaxis"]["automargin"] is False
    assert sent["layout"]["yaxis"]["automargin"] is False
