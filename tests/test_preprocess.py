"""aedemo.preprocess: drawings and uploads framed as MNIST digits. The trusted reference is MNIST
itself: a real digit blown up to canvas size must come back as the digit it was."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from aedemo import preprocess
from aedemo.data import DataError, frame_digits, load_images
from aedemo.preprocess import CENTRE, load_upload, to_mnist, upload_to_mnist

CANVAS = 280


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return float((img * ys).sum() / img.sum()), float((img * xs).sum() / img.sum())


def seven(left: int, top: int, size: int, *, ink: int = 255, paper: int = 0,
          mode: str = "L") -> Image.Image:
    """A '7' with a crossbar, drawn in a size x size box at (left, top) on a 280x280 canvas,
    the stroke width in proportion, as a user would draw it small or large."""
    if mode == "RGB":                 # a single int would be the red channel only
        ink, paper = (ink,) * 3, (paper,) * 3
    img = Image.new(mode, (CANVAS, CANVAS), paper)
    draw = ImageDraw.Draw(img)
    pts = [(0.1, 0.1), (0.9, 0.1), (0.4, 0.95)]
    xy = [(left + u * size, top + v * size) for u, v in pts]
    width = max(2, round(size * 0.09))
    draw.line(xy, fill=ink, width=width, joint="curve")
    draw.line([(left + 0.3 * size, top + 0.5 * size), (left + 0.75 * size, top + 0.5 * size)],
              fill=ink, width=width)
    return img


def rgba(gray: np.ndarray) -> np.ndarray:
    """A white-on-black grey image as the canvas sends it: opaque RGBA."""
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def test_known_stroke_gives_box_and_centre_of_mass():
    # An "L": a vertical bar 160 tall and 24 wide, and a foot 24 tall reaching right to
    # 120 wide. Its box is 160 x 120, so it becomes 20 x 15; the heavy vertical bar pulls the
    # centre of mass left of the box's middle.
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[60:220, 40:64] = 255
    canvas[196:220, 40:160] = 255
    out = to_mnist(rgba(canvas))
    assert out.shape == (1, 1, 28, 28) and out.dtype == torch.float32
    img = out.numpy()[0, 0]
    assert 0.0 <= img.min() and img.max() <= 1.0
    rows = np.nonzero(img.any(axis=1))[0]
    cols = np.nonzero(img.any(axis=0))[0]
    assert rows[-1] - rows[0] + 1 == 20                  # the longer side fills the 20 px box
    assert cols[-1] - cols[0] + 1 == 15                  # aspect ratio kept: 120 / 160 * 20
    cy, cx = centre_of_mass(img)
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    box_middle = (cols[0] + cols[-1]) / 2
    assert box_middle - cx > 1.5                         # centred by mass, not by the box


def test_small_digit_in_a_corner_matches_a_large_one_in_the_centre():
    small = to_mnist(rgba(np.asarray(seven(5, 8, 70)))).numpy()
    large = to_mnist(rgba(np.asarray(seven(40, 40, 200)))).numpy()
    assert np.abs(small - large).mean() < 0.03
    assert ((small - large) ** 2).mean() < 0.01
    # and both differ clearly from a different digit at the same place
    one = np.zeros((CANVAS, CANVAS), np.uint8)
    one[40:240, 130:148] = 255
    assert ((to_mnist(rgba(one)).numpy() - large) ** 2).mean() > 0.05


@pytest.mark.parametrize("blank", [
    np.zeros((CANVAS, CANVAS, 4), np.uint8),                          # transparent canvas
    rgba(np.zeros((CANVAS, CANVAS), np.uint8)),                       # black canvas
    np.full((CANVAS, CANVAS, 3), 255, np.uint8),                      # white paper
    np.full((64, 64), 0.8, np.float32),                               # grey, float
])
def test_blank_gives_none(blank):
    assert to_mnist(blank) is None


def test_inverted_colours_are_handled():
    reference = to_mnist(rgba(np.asarray(seven(40, 40, 200)))).numpy()
    dark_on_white = np.asarray(seven(40, 40, 200, ink=0, paper=255, mode="RGB"))
    np.testing.assert_allclose(to_mnist(dark_on_white).numpy(), reference, atol=1e-5)
    # a photo-like scan: dark grey ink on light grey paper
    scan = np.asarray(seven(40, 40, 200, ink=40, paper=210))
    assert ((to_mnist(scan).numpy() - reference) ** 2).mean() < 0.002


def test_transparency_is_read_from_the_alpha_channel():
    reference = to_mnist(rgba(np.asarray(seven(40, 40, 200)))).numpy()
    shape = np.asarray(seven(40, 40, 200))
    for colour in (0, 255):           # black or white ink, transparent background
        img = np.dstack([np.full_like(shape, colour)] * 3 + [shape])
        np.testing.assert_allclose(to_mnist(img).numpy(), reference, atol=1e-5)


@pytest.mark.parametrize("radius", [0, 1, 9])
def test_a_single_dot_does_not_crash(radius):
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[200 - radius:201 + radius, 30 - radius:31 + radius] = 255
    out = to_mnist(rgba(canvas))
    assert out is not None and out.shape == (1, 1, 28, 28)
    img = out.numpy()[0, 0]
    assert np.isfinite(img).all() and 0 <= img.min() and img.max() <= 1 and img.max() > 0.5


def test_real_mnist_digits_survive_a_round_trip(mnist_folder):
    """MNIST digits are already framed this way (20 px box, centre of mass at 14), so blowing
    one up to the canvas' 280 x 280 and framing it again must give it back."""
    digits = load_images(str(mnist_folder)).x_test[:100, 0].numpy()
    errors = []
    for digit in digits:
        big = np.kron(digit, np.ones((10, 10), np.float32))            # 28 -> 280
        out = to_mnist((big * 255).round().astype(np.uint8)).numpy()[0, 0]
        errors.append(((out - digit) ** 2).mean())
    errors = np.array(errors)
    # for scale: a digit's mean squared ink is about 0.1, and one pixel of shift costs ~0.05
    assert np.median(errors) < 0.001 and errors.mean() < 0.002 and errors.max() < 0.07
    # a smooth (bilinear) blow-up widens the ink a little, so allow more
    smooth = [np.clip(np.asarray(Image.fromarray(d).resize((CANVAS, CANVAS),
                                                           Image.Resampling.BILINEAR)), 0, 1)
              for d in digits[:30]]
    smooth_err = [((to_mnist(s).numpy()[0, 0] - d) ** 2).mean() for s, d in zip(smooth, digits)]
    assert np.mean(smooth_err) < 0.012


def test_frame_digits_is_how_the_digits_dataset_was_framed(digits):
    """The trusted reference is aedemo.data.load_digits' own output: every image of the
    dataset is scikit-learn's 8x8 grid framed by frame_digits."""
    from sklearn.datasets import load_digits as sk_digits

    grids = torch.tensor(sk_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0
    framed = frame_digits(grids).flatten(1)
    dataset = torch.cat([digits.x_train, digits.x_test]).flatten(1)
    assert torch.cdist(dataset, framed).min(dim=1).values.max() < 0.02      # matmul rounding


def test_like_digits_keeps_a_digits_image_and_coarsens_a_sharp_one(digits):
    again = preprocess.like_digits(digits.x_test)
    errors = ((again - digits.x_test) ** 2).flatten(1).mean(dim=1)
    assert errors.mean() < 0.01                     # the dataset's own images barely change
    sharp = to_mnist(rgba(np.asarray(seven(40, 40, 200))))
    coarse = preprocess.for_dataset(sharp, "digits")
    assert coarse.shape == (1, 1, 28, 28) and 0 <= coarse.min() and coarse.max() <= 1
    # the point of it: the coarsened drawing is nearer the dataset's images than the sharp one
    nearest = lambda x: torch.cdist(x.flatten(1), digits.x_train.flatten(1)).min()  # noqa: E731
    assert nearest(coarse) < 0.8 * nearest(sharp)
    assert preprocess.for_dataset(sharp, "mnist") is sharp
    assert preprocess.like_digits(torch.zeros(1, 1, 28, 28)).abs().max() == 0


# --- uploads ---------------------------------------------------------------------------------

def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height in its header and holds no pixel data: reading its
    size is fine, decoding it would fail. A file of a few dozen bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_png_and_jpeg_uploads_are_read():
    img = seven(40, 40, 200, ink=0, paper=255, mode="RGB")
    for fmt in ("PNG", "JPEG"):
        arr = load_upload(encoded(img, fmt))
        assert arr.shape == (CANVAS, CANVAS, 4) and arr.dtype == np.uint8
    reference = to_mnist(rgba(np.asarray(seven(40, 40, 200)))).numpy()
    from_jpeg = upload_to_mnist(encoded(img, "JPEG")).numpy()       # with JPEG's ringing
    assert ((from_jpeg - reference) ** 2).mean() < 0.002


@pytest.mark.parametrize(("raw", "limits", "message"), [
    (b"", {}, "empty"),
    (b"x" * 2000, {"max_bytes": 1000}, "the limit is"),
    (b"this is not an image at all", {}, "not an image"),
    (encoded(Image.new("RGB", (30, 30)), "GIF"), {}, "GIF image; upload a PNG or JPEG"),
    (encoded(Image.new("RGB", (30, 30)), "BMP"), {}, "BMP image; upload a PNG or JPEG"),
    (png_header_only(7072, 7072), {}, "7072 x 7072 pixels (50.0 megapixels)"),
    (png_header_only(400, 400), {"max_pixels": 100_000}, "megapixels"),
    # PIL itself refuses this one at open (over twice Image.MAX_IMAGE_PIXELS)
    (png_header_only(20_000, 20_000), {"max_pixels": 10**12}, "too many pixels"),
    (encoded(Image.new("RGB", (300, 300), "white"), "PNG")[:120], {}, "damaged or cut short"),
])
def test_bad_uploads_are_refused_with_a_message(raw, limits, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_upload(raw, **limits)


def test_a_50_megapixel_image_is_refused_before_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    with pytest.raises(DataError, match="megapixels"):
        load_upload(png_header_only(7072, 7072))
    assert not decoded


def test_the_pads_png_is_framed_like_an_upload():
    import base64

    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[60:220, 130:150] = 255                              # a 1
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    torch.testing.assert_close(preprocess.pad_to_mnist(url), preprocess.to_mnist(canvas))
    blank = io.BytesIO()
    Image.fromarray(np.zeros((CANVAS, CANVAS), np.uint8)).save(blank, format="PNG")
    assert preprocess.pad_to_mnist(
        "data:image/png;base64," + base64.b64encode(blank.getvalue()).decode()) is None


def pad_url(canvas: np.ndarray) -> str:
    import base64

    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def pen_marks(*lines: tuple[float, float, float, float]) -> np.ndarray:
    """The pad's picture of these strokes (x0, y0, x1, y1 in the pad's pixels), drawn with the
    pad's pen; a stroke of zero length is one click."""
    img = Image.new("L", (preprocess.PAD_SIZE, preprocess.PAD_SIZE), 0)
    pen, r = ImageDraw.Draw(img), preprocess.PAD_PEN / 2
    for x0, y0, x1, y1 in lines:
        pen.line([(x0, y0), (x1, y1)], fill=255, width=preprocess.PAD_PEN)
        for x, y in ((x0, y0), (x1, y1)):                     # the pen's round ends
            pen.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img)


@pytest.mark.parametrize("where", [(140, 140), (30, 250)])
def test_a_single_click_on_the_pad_is_a_dot_not_a_digit(where):
    """Framing blows any ink up to 20 x 20: one click became a full disc that every model
    'reconstructed'. A dot (or a dab of under two pen widths) gets a plain message instead."""
    x, y = where
    for marks in (pen_marks((x, y, x, y)), pen_marks((x, y, x + 15, y + 5))):
        with pytest.raises(preprocess.NotADigit, match="only a dot"):
            preprocess.pad_to_mnist(pad_url(marks))


def test_a_small_digit_on_the_pad_is_still_framed():
    # a 1 of three pen widths drawn in a corner: small, but a digit, and framed as an upload is
    one = pen_marks((40, 200, 40, 200 + 3 * preprocess.PAD_PEN))
    framed = preprocess.pad_to_mnist(pad_url(one))
    torch.testing.assert_close(framed, preprocess.to_mnist(one))
    assert framed.amax(dim=(0, 1, 3)).gt(0.5).sum() >= 18           # ink on most of 20 rows


def test_an_upload_is_never_refused_as_a_dot():
    """An upload is cropped by its owner, so its size says nothing: a tight crop of a digit
    fills the picture, and a tiny one is still framed."""
    dot = pen_marks((140, 140, 140, 140))
    assert preprocess.to_mnist(dot) is not None


def test_the_pad_takes_its_size_and_its_most_points_from_here():
    js = (Path(preprocess.__file__).parent / "assets" / "drawing_pad.js").read_text()
    assert "canvas.width = canvas.height = data.size;" in js
    assert "maxPoints: data.maxPoints" in js
    assert not re.search(r"^const [A-Z_]+ = \d+;", js, flags=re.M), "a number of its own"


@pytest.mark.parametrize("sent", [None, 42, "", "data:image/jpeg;base64,AAAA",
                                  "data:image/png;base64,not base64!",
                                  "data:image/png;base64,AAAA",                # not a PNG
                                  "data:image/png;base64," + "A" * 3_000_000])  # too big
def test_whatever_the_browser_sends_for_the_pad_gets_a_plain_message(sent):
    with pytest.raises(DataError, match="could not be read|not an image"):
        preprocess.pad_to_mnist(sent)
