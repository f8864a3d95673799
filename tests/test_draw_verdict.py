"""The Draw page's verdict on digits as a student draws them on the pad: a clean digit is never
called unusual, a scribble is. The zoo's dense k = 16, trained as the zoo trains it on the
offline MNIST digits (about 4 s), judges them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aedemo import data, preprocess, zoo
from aedemo.lessons import draw
from aedemo.spec import train_spec

PAD = preprocess.PAD_SIZE     # the pad's own pixels (aedemo/assets/drawing_pad.js)


def on_the_pad(strokes) -> np.ndarray:
    """White strokes of the pad's width with round ends on its black square, as the pad draws
    them (canvas lineCap and lineJoin "round")."""
    img = Image.new("RGB", (PAD, PAD), (0, 0, 0))
    pen = ImageDraw.Draw(img)
    r = preprocess.PAD_PEN / 2
    for points in strokes:
        pen.line(points, fill=(255, 255, 255), width=preprocess.PAD_PEN, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255))
    return np.asarray(img)


def arc(cx, cy, rx, ry, start, end, n=30):
    return [(cx + rx * math.cos(math.radians(start + (end - start) * t / n)),
             cy + ry * math.sin(math.radians(start + (end - start) * t / n)))
            for t in range(n + 1)]


CLEAN = {
    "0": [arc(140, 140, 70, 100, 0, 360)],
    "1": [[(140, 40), (140, 240)]],
    "2": [arc(140, 100, 60, 55, 180, 360) + [(80, 240), (210, 240)]],
    "3": [arc(140, 90, 55, 45, 200, 450), arc(140, 185, 60, 50, 270, 520)],
    "4": [[(170, 40), (70, 170), (215, 170)], [(170, 40), (170, 245)]],
    "5": [[(200, 45), (95, 45), (90, 125)], arc(135, 175, 70, 60, 230, 490)],
    "6": [arc(150, 120, 60, 90, 230, 160), arc(140, 185, 55, 50, 0, 360)],
    "7": [[(70, 56), (210, 56), (126, 238)]],
    "8": [arc(140, 90, 45, 45, 0, 360), arc(140, 190, 55, 50, 0, 360)],
    "9": [arc(140, 95, 55, 50, 0, 360), [(195, 95), (180, 245)]],
}
HASH = [[(60, 100), (220, 100)], [(60, 180), (220, 180)], [(100, 40), (100, 240)],
        [(180, 40), (180, 240)]]


@pytest.fixture(scope="module")
def judge():
    images = data.load_mnist_subset()
    spec = next(s for s in zoo.zoo_specs(data.MNIST_SUBSET)
                if (s.variant, s.latent_dim, s.normal) == ("dense", 16, ()))
    model = train_spec(spec).model
    return model, draw.model_views(model, images)


@pytest.mark.parametrize("digit", CLEAN)
def test_a_cleanly_drawn_digit_is_not_called_unusual(judge, digit):
    model, views = judge
    where = draw.place(model, views, preprocess.to_mnist(on_the_pad(CLEAN[digit])))
    verdict = draw.describe_percentile(where.percentile, where.ink_kept)
    assert "Unusual" not in verdict and "faint" not in verdict, (digit, where.percentile)


def test_a_hash_sign_is_called_unusual(judge):
    model, views = judge
    where = draw.place(model, views, preprocess.to_mnist(on_the_pad(HASH)))
    assert "Unusual" in draw.describe_percentile(where.percentile, where.ink_kept)
