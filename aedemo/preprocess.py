"""A drawing or a photo of a digit, made to look like an MNIST digit, the way LeCun et al. made
MNIST from NIST ("Gradient-based learning applied to document recognition", 1998, and the MNIST
page): the digit's bounding box is scaled, keeping its aspect ratio, to fit a 20x20 box with
anti-aliasing, then placed in a 28x28 frame so that its centre of mass sits at the frame's centre.

A model trained on MNIST has only ever seen digits framed this way, so a digit drawn small in a
corner of the canvas would otherwise look nothing like its training data.

When the app runs on its last-resort fallback, scikit-learn's 8x8 digits, ``for_dataset`` re-makes a
framed digit the way those were made (a 32x32 bitmap counted in 4x4 blocks, then blown up as
aedemo.data.frame_digits does): models trained on those blurred blocks see a sharp stroke as
unusual however well it is drawn.

Also ``load_upload``: an uploaded file's bytes -> an RGBA array, refusing what is not a PNG or
JPEG, or is too big, before it is decoded; ``pad_to_mnist`` for the Draw page's drawing
pad, whose PNG comes from the browser and gets the same checks; and ``escape_markdown``, so a
page shows an uploaded file's name as it is, not as Markdown.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from aedemo.data import SKLEARN_DIGITS, DataError, frame_digits
from aedemo.data.takehome import DIGIT_BOX

FRAME = 28               # MNIST's frame, in pixels
BOX = DIGIT_BOX          # the longer side of the digit's box inside it
# MNIST's centre of mass sits at pixel index 14 (row and column, 0-based): measured on its test
# set, mean 14.00 with a spread of 0.29, which is what an integer shift to (14, 14) leaves.
CENTRE = 14.0
# Ink fainter than this, after the background is taken away, is noise (JPEG ringing, paper
# texture), not stroke: it neither counts for the bounding box nor stays in the image.
NOISE_FLOOR = 0.1
# An image whose darkest ink is this close to its paper holds no digit; above it, the ink is
# stretched so its strongest stroke is 1, as in MNIST (pencil on paper is grey, not black).
MIN_CONTRAST = 0.15

# The Draw page's pad: SIZE x SIZE pixels of its own (aedemo/assets/drawing_pad.js), drawn with
# a pen this wide, which is about MNIST's stroke once a digit is framed to 20 x 20.
PAD_SIZE = 280
PAD_PEN = 18
# Ink no taller or wider than this many pen widths is a dot or a dab, not a digit. Framing would
# blow it up to fill the 20 x 20 box: a single click became a full disc, which every model then
# "reconstructed" and the anomaly verdict called ordinary. The shortest digit, a 1, is several
# pen widths tall.
MIN_PEN_WIDTHS = 2.0

# scikit-learn's digits (UCI optdigits): 32x32 bitmaps, the ink counted in 4x4 blocks -> 8x8
DIGITS_BITMAP = 32
DIGITS_GRID = 8

UPLOAD_MAX_BYTES = 5_000_000
# The most pixels an upload is decoded into. Each costs some 140 bytes on its way to 28 x 28 (an
# RGBA array, then float copies of it), so a 16 kB PNG of 12 megapixels took 1.7 GB and 15 s per
# run of the page. A digit needs far fewer: MNIST's are 28 x 28, and a full-HD screenshot (2.1
# MP) or a scan of a page at 150 dpi (2.2 MP) still fits. A JPEG, as a phone's photo is, is
# decoded at a fraction of its size instead (JPEG_DRAFT_SIDE), so 12 and 48 MP photos work.
UPLOAD_MAX_PIXELS = 4_000_000
# A JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's own scaling, PIL's draft), the
# smallest that keeps this many pixels on its shorter side: a digit photographed on paper keeps
# far more detail than its 20 x 20 box needs.
JPEG_DRAFT_SIDE = 500
UPLOAD_FORMATS = ("PNG", "JPEG")


def ink(image: np.ndarray) -> np.ndarray:
    """An image (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or float in
    [0, 1] -> (H, W) float32 ink in [0, 1]: 1 is full stroke, 0 is background, whichever way
    round the colours were."""
    arr = np.asarray(image)
    scale = 255.0 if arr.dtype == np.uint8 or (arr.size and arr.max() > 1.0) else 1.0
    arr = arr.astype(np.float32) / scale
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        grey, alpha = arr, None
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        # ITU-R BT.601 luma, as PIL's convert("L")
        grey = arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = arr[..., 3] if arr.shape[2] == 4 else None
    else:
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), "
                         f"got {arr.shape}")
    if alpha is not None and alpha.min() < 1.0:
        seen = grey[alpha > 0]
        if seen.size == 0:
            return np.zeros_like(grey)            # fully transparent: blank
        if np.ptp(seen) < 0.1:
            # one colour of ink on a transparent background (a canvas with no background
            # colour, a transparent PNG): the shape is in the alpha channel alone
            return alpha
        grey = grey * alpha + (1.0 - alpha)       # several colours: as a viewer shows it, on white
    # The background is what the border mostly shows: light paper means dark ink, so invert.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        grey, background = 1.0 - grey, 1.0 - background
    # take the background's own level away so grey paper counts as no ink
    return np.clip((grey - background) / max(1.0 - background, 1e-6), 0.0, 1.0)


class NotADigit(DataError):
    """The ink is there but too small to be a digit: a dot."""


def to_mnist(image: np.ndarray, *, min_extent: float = 0.0) -> torch.Tensor | None:
    """A canvas RGBA array or an uploaded image's array -> (1, 1, 28, 28) float32 in [0, 1],
    framed as MNIST's digits are; None when there is no ink at all. Raises NotADigit when the
    ink's box is smaller on both sides than ``min_extent`` of the image's longer side."""
    strokes = ink(image)
    peak = float(strokes.max()) if strokes.size else 0.0
    if peak < MIN_CONTRAST:
        return None
    strokes = strokes / peak
    strokes[strokes < NOISE_FLOOR] = 0.0
    rows, cols = np.nonzero(strokes.any(axis=1))[0], np.nonzero(strokes.any(axis=0))[0]
    if rows.size == 0:
        return None
    crop = strokes[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]                    # (h, w)
    h, w = crop.shape
    if max(h, w) < min_extent * max(strokes.shape):
        raise NotADigit("That is only a dot: draw a whole digit, as large as the pad allows.")
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))                   # PIL: (w, h)
    # Lanczos on the float image: anti-aliased like MNIST's grey edges; it rings a little below
    # 0 and above 1, hence the clip.
    pil = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))          # mode "F"
    small = np.asarray(pil.resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0.0, 1.0)
    if small.sum() <= 0:
        return None
    sh, sw = small.shape
    ys, xs = np.mgrid[0:sh, 0:sw]
    cy, cx = (small * ys).sum() / small.sum(), (small * xs).sum() / small.sum()
    # An integer shift, as MNIST's; clamped so a lopsided digit is never cut by the frame.
    top = int(np.clip(round(CENTRE - cy), 0, FRAME - sh))
    left = int(np.clip(round(CENTRE - cx), 0, FRAME - sw))
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    frame[top:top + sh, left:left + sw] = small
    return torch.from_numpy(frame).view(1, 1, FRAME, FRAME)


def like_digits(x: torch.Tensor) -> torch.Tensor:
    """MNIST-framed digits (B, 1, 28, 28) re-made as scikit-learn's 8x8 digits were: the ink's
    box scaled, aspect kept, into a 32x32 bitmap and centred, each 4x4 block's mean ink one cell
    of the 8x8 grid; then framed as the dataset is (``frame_digits``). A blank image stays blank."""
    grids = []
    block = DIGITS_BITMAP // DIGITS_GRID
    for img in x[:, 0].detach().cpu().numpy().astype(np.float32):
        rows, cols = np.nonzero(img.any(axis=1))[0], np.nonzero(img.any(axis=0))[0]
        bitmap = np.zeros((DIGITS_BITMAP, DIGITS_BITMAP), np.float32)
        if rows.size:
            crop = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            h, w = crop.shape
            scale = DIGITS_BITMAP / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.clip(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(
                size, Image.Resampling.LANCZOS)), 0.0, 1.0)
            top, left = (DIGITS_BITMAP - small.shape[0]) // 2, (DIGITS_BITMAP - small.shape[1]) // 2
            bitmap[top:top + small.shape[0], left:left + small.shape[1]] = small
        grids.append(bitmap.reshape(DIGITS_GRID, block, DIGITS_GRID, block).mean(axis=(1, 3)))
    return frame_digits(torch.from_numpy(np.stack(grids)).unsqueeze(1))


def for_dataset(x: torch.Tensor, dataset: str) -> torch.Tensor:
    """A framed drawing as the models of ``dataset`` saw their training images: unchanged for
    MNIST and its kin, coarsened to 8x8 for the offline digits (``like_digits``)."""
    return like_digits(x) if dataset == SKLEARN_DIGITS else x


def load_upload(raw: bytes, *, max_bytes: int = UPLOAD_MAX_BYTES,
                max_pixels: int = UPLOAD_MAX_PIXELS,
                size: tuple[int, int] | None = None) -> np.ndarray:
    """An uploaded file's bytes -> (H, W, 4) uint8 RGBA, upright as its EXIF says. Raises
    DataError, with a message for the user, for an empty, too large, unreadable or damaged file,
    a format other than PNG or JPEG, too many pixels, or a size other than ``size`` when it is
    given. The size is read from the header before anything is decoded, so a small file that
    unpacks into a huge image (a decompression bomb) costs nothing; a JPEG is decoded at a
    fraction of its size (JPEG_DRAFT_SIDE), and ``max_pixels`` bounds what is decoded."""
    if len(raw) == 0:
        raise DataError("The file is empty.")
    if len(raw) > max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is "
                        f"{max_bytes / 1e6:.0f} MB.")
    with warnings.catch_warnings():
        # PIL warns above Image.MAX_IMAGE_PIXELS and raises at twice that: both are refusals
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(raw))             # lazy: reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(_too_many_pixels_message(None, max_pixels)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise DataError("This file is not an image that can be read; upload a PNG or "
                            "JPEG.") from None
        if img.format not in UPLOAD_FORMATS:
            raise DataError(f"This is a {img.format or 'non-PNG/JPEG'} image; upload a PNG or "
                            f"JPEG.")
        if size is not None and img.size != size:
            raise DataError(f"The image is {img.size[0]} x {img.size[1]} pixels; "
                            f"{size[0]} x {size[1]} were expected.")
        if img.format == "JPEG":
            img.draft(None, (JPEG_DRAFT_SIDE, JPEG_DRAFT_SIDE))    # sets the size it decodes to
        width, height = img.size
        if width * height > max_pixels:
            raise DataError(_too_many_pixels_message((width, height), max_pixels))
        if width == 0 or height == 0:
            raise DataError("The image has no pixels.")
        try:
            img = ImageOps.exif_transpose(img)            # phone photos are stored sideways
            return np.asarray(_eight_bit(img).convert("RGBA"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(_too_many_pixels_message((width, height), max_pixels)) from None
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"The image is damaged or cut short and cannot be decoded "
                            f"({str(err)[:80]}).") from None


def _eight_bit(img: Image.Image) -> Image.Image:
    """A 16-bit grey image (PIL modes "I;16..." and "I", as a 16-bit grey PNG opens) as 8-bit
    grey, each value v scaled to v / 257 (65535 -> 255). PIL's own convert clips such values at
    255 instead of scaling them, so light paper and dark ink both came out white: the image
    looked all one shade. Other modes PIL converts correctly, 16-bit colour PNGs included."""
    if not img.mode.startswith("I"):
        return img
    wide = np.asarray(img).astype(np.float32)                        # (H, W), 0..65535
    return Image.fromarray(np.rint(np.clip(wide, 0, 65535) / 257).astype(np.uint8))


def _too_many_pixels_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = (f"the limit is {max_pixels / 1e6:.0f} megapixels; crop it to the digit, which "
             f"needs far fewer")
    if size is None:
        return f"The image has too many pixels; {limit}."
    w, h = size
    return f"The image is {w} x {h} pixels ({w * h / 1e6:.1f} megapixels); {limit}."


def upload_to_mnist(raw: bytes, **limits) -> torch.Tensor | None:
    """An uploaded file -> an MNIST-framed digit, or None when the image holds no ink; raises
    DataError as load_upload does."""
    return to_mnist(load_upload(raw, **limits))


# What opens or closes Markdown anywhere in a line: emphasis and strikethrough, code, links and
# images, autolinks (<...>, http://, a@b) and HTML, entities, tables, math, headings, and
# Streamlit's own :red[...], :material/icon: and :emoji: forms. Other punctuation (. , - ')
# stays as it is, so a message reads in the page's source as it is written.
_MARKDOWN_MARKS = frozenset("\\`*_[](){}<>!~|$:&#@")
# A list item or a quote starts a line: "- x", "+ x", "1. x", "2) x", "> x"; and GFM makes a
# link of "www.example.com" with no mark at all.
_LINE_START_MARK = re.compile(r"^(\d*)([-+>.)])")
_BARE_LINK = re.compile(r"(www)\.", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """``text`` (an uploaded file's name, a message quoting a file's content) written so that
    Markdown shows it as it is: each mark that could start markup is backslash-escaped, as
    CommonMark allows for any ASCII punctuation, and runs of whitespace (newlines, the indent
    that starts a code block) become one space. A file may be named ``# big`` or
    ``**bold**[x](http://evil)``."""
    one_line = " ".join(text.split())
    escaped = "".join("\\" + c if c in _MARKDOWN_MARKS else c for c in one_line)
    return _BARE_LINK.sub(r"\1\\.", _LINE_START_MARK.sub(r"\1\\\2", escaped))


PNG_DATA_URL = "data:image/png;base64,"
# The longest data URL the pad's canvas can make: a PNG stored without compression, a filter byte
# and PAD_SIZE RGBA pixels a row, plus its chunks' headers, in base64. A drawing is some 10 kB.
PAD_MAX_CHARS = len(PNG_DATA_URL) + 4 * (PAD_SIZE * (1 + 4 * PAD_SIZE) + 4096) // 3
# The points a drawing may have, all its strokes together (the pad stops taking more): a digit
# drawn slowly, with a pen that reports 120 points a second, has about a thousand.
PAD_MAX_POINTS = 5_000
PAD_UNREADABLE = "The drawing could not be read; clear the pad and draw again."


def pad_to_mnist(data_url: str) -> torch.Tensor | None:
    """The drawing pad's picture (a PNG as a data URL, straight from the browser) -> an
    MNIST-framed digit, or None when it holds no ink. Raises NotADigit for a dot, and
    DataError for anything that is not a small PNG: the browser is on the other side of the
    network and may send anything."""
    if (not isinstance(data_url, str) or not data_url.startswith(PNG_DATA_URL)
            or len(data_url) > PAD_MAX_CHARS):
        raise DataError(PAD_UNREADABLE)
    try:
        raw = base64.b64decode(data_url[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        raise DataError(PAD_UNREADABLE) from None
    try:
        image = load_upload(raw, size=(PAD_SIZE, PAD_SIZE))    # the canvas's own size, always
    except DataError:
        raise DataError(PAD_UNREADABLE) from None
    return to_mnist(image, min_extent=MIN_PEN_WIDTHS * PAD_PEN / PAD_SIZE)
