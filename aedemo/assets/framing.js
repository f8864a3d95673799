// The MNIST framing in the browser: a drawing pad's pixels -> the 28 x 28 input the models get,
// the same numbers aedemo/preprocess.py computes on the server from the pad's PNG
// (pad_to_mnist, then for_dataset), so the reconstructions drawn while the pen moves are the
// ones the server answers with after the stroke. Read that module first: each step here names
// the Python function it mirrors, and tests/e2e/test_framing.py holds the two together in
// Chromium (every pixel within 1e-5, the issue asking a mean of 0.01) and checks these
// constants against preprocess's own.
//
// numpy does this work in float32; where a rounding could move a threshold (an ink pixel
// kept or dropped, the crop's edge), Math.fround rounds as float32 does. Plain top-level
// functions, no import or export: aedemo.ui.browser_models concatenates this file with the
// interpreter into one component's script.

const AEDEMO_FRAMING = Object.freeze({
  frame: 28,            // preprocess.FRAME
  box: 20,              // preprocess.BOX: the digit's longer side inside the frame
  centre: 14.0,         // preprocess.CENTRE: where the centre of mass goes (row and column)
  noiseFloor: 0.1,      // preprocess.NOISE_FLOOR
  minContrast: 0.15,    // preprocess.MIN_CONTRAST
  padSize: 280,         // preprocess.PAD_SIZE
  padPen: 18,           // preprocess.PAD_PEN
  minPenWidths: 2.0,    // preprocess.MIN_PEN_WIDTHS: smaller ink is a dot
  digitsBitmap: 32,     // preprocess.DIGITS_BITMAP
  digitsGrid: 8,        // preprocess.DIGITS_GRID
  digitsDataset: "digits",  // aedemo.data.SKLEARN_DIGITS
});

// Python's round() and numpy's: halves go to the even integer (round(2.5) == 2), where
// Math.round would take them up and make the box or the shift one pixel larger.
function aedemoFramingRound(v) {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// Pillow's filters (libImaging/Resample.c): a kernel and its support at scale 1.
function aedemoFramingSinc(x) {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const AEDEMO_FRAMING_FILTERS = Object.freeze({
  lanczos: { support: 3, kernel: (x) => (x >= -3 && x < 3
    ? aedemoFramingSinc(x) * aedemoFramingSinc(x / 3) : 0) },
  bilinear: { support: 1, kernel: (x) => Math.max(0, 1 - Math.abs(x)) },
});

// One axis of a separable resample of inSize samples to outSize, as Pillow precomputes it
// (and PyTorch's antialiased interpolate, written after it): output sample i is centred at
// (i + 0.5) * scale in input coordinates; when shrinking, the kernel is stretched by the
// scale so it averages over every input sample it covers; the weights are normalised per
// output sample, so the image's edge, where the kernel is cut, keeps its level.
// -> {first: Int32Array, count: Int32Array, weights: Float64Array (outSize x taps)}.
function aedemoFramingCoefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = filter.support * stretch;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    // C's (int) cast truncates toward zero, then the range is clamped to the input
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let total = 0;
    for (let j = 0; j < hi - lo; j++) {
      const w = filter.kernel((j + lo - centre + 0.5) / stretch);
      weights[i * taps + j] = w;
      total += w;
    }
    if (total !== 0) for (let j = 0; j < hi - lo; j++) weights[i * taps + j] /= total;
    first[i] = lo;
    count[i] = hi - lo;
  }
  return { first, count, weights, taps };
}

// Pillow's Image.resize of a mode "F" (float32) image: the horizontal pass, then the vertical
// one, each skipped when its size does not change (Pillow skips it; an identity pass is not
// exact, sin(pi * n) being 1e-16, not 0). Sums in double, each pass stored as float32, as
// Pillow does. src: Float32Array (h x w), row-major -> Float32Array (outH x outW).
function aedemoFramingResize(src, w, h, outW, outH, filter) {
  let cur = src;
  if (outW !== w) {
    const c = aedemoFramingCoefficients(w, outW, filter);
    const out = new Float32Array(outW * h);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < outW; x++) {
        const lo = c.first[x];
        const k = x * c.taps;
        let sum = 0;
        for (let j = 0; j < c.count[x]; j++) sum += cur[row + lo + j] * c.weights[k + j];
        out[y * outW + x] = sum;
      }
    }
    cur = out;
  }
  if (outH !== h) {
    const c = aedemoFramingCoefficients(h, outH, filter);
    const out = new Float32Array(outW * outH);
    for (let y = 0; y < outH; y++) {
      const lo = c.first[y];
      const k = y * c.taps;
      for (let x = 0; x < outW; x++) {
        let sum = 0;
        for (let j = 0; j < c.count[y]; j++) sum += cur[(lo + j) * outW + x] * c.weights[k + j];
        out[y * outW + x] = sum;
      }
    }
    cur = out;
  }
  return cur === src ? src.slice() : cur;
}

function aedemoFramingClip01(a) {
  for (let i = 0; i < a.length; i++) a[i] = Math.min(Math.max(a[i], 0), 1);
  return a;
}

// The box of the non-zero samples of a (h x w) image -> {top, left, h, w} or null when all zero.
function aedemoFramingInkBox(img, w, h) {
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (img[y * w + x] !== 0) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? null : { top, left, h: bottom - top + 1, w: right - left + 1 };
}

function aedemoFramingCrop(img, w, box) {
  const out = new Float32Array(box.w * box.h);
  for (let y = 0; y < box.h; y++) {
    const from = (box.top + y) * w + box.left;
    out.set(img.subarray(from, from + box.w), y * box.w);
  }
  return out;
}

// Each channel's byte -> its float32 share of the grey (ITU-R BT.601 luma, as numpy computes
// it: v / 255 times the weight, each rounded to float32), the grey of a grey pixel (r = g = b,
// every pixel the pad draws) and alpha's byte -> v / 255: tables of 256 made once, so a
// 280 x 280 pad costs a look-up a pixel, not eight divisions and multiplications.
let aedemoFramingTables = null;
function aedemoFramingChannelTables() {
  if (aedemoFramingTables === null) {
    const f = Math.fround;
    const byte = (g) => Float32Array.from({ length: 256 }, (_, v) => g(v));
    const share = (w) => byte((v) => f(f(v / 255) * f(w)));
    const [red, green, blue] = [share(0.299), share(0.587), share(0.114)];
    aedemoFramingTables = {
      red, green, blue,
      grey: byte((v) => f(f(red[v] + green[v]) + blue[v])),
      alpha: byte((v) => f(v / 255)),
    };
  }
  return aedemoFramingTables;
}

// preprocess.ink: RGBA -> (h x w) float32 ink in [0, 1], 1 the full stroke, whichever way
// round the colours were. The pad draws white on opaque black; the other branches are
// there so that any canvas gets the server's answer.
function aedemoFramingInk(imageData) {
  const { width, height, data } = imageData;
  const n = width * height;
  const f = Math.fround;
  const t = aedemoFramingChannelTables();
  let grey = new Float32Array(n);
  let minAlpha = 255;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const r = data[j], g = data[j + 1], b = data[j + 2], a = data[j + 3];
    // (a Float32Array's store rounds the last sum to float32)
    grey[i] = (r === g && g === b) ? t.grey[r] : f(t.red[r] + t.green[g]) + t.blue[b];
    if (a < minAlpha) minAlpha = a;
  }
  if (minAlpha < 255) {
    const alpha = new Float32Array(n);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      alpha[i] = t.alpha[data[4 * i + 3]];
      if (alpha[i] > 0) { lo = Math.min(lo, grey[i]); hi = Math.max(hi, grey[i]); }
    }
    if (hi < lo) return new Float32Array(n);               // fully transparent: blank
    // one colour of ink on a transparent background: the shape is in the alpha alone
    if (f(hi - lo) < f(0.1)) return alpha;
    for (let i = 0; i < n; i++) grey[i] = f(f(grey[i] * alpha[i]) + f(1 - alpha[i]));
  }
  // The background is what the border mostly shows (its median, corners counted twice as
  // numpy's concatenation counts them): light paper means dark ink, so invert.
  const border = new Float32Array(2 * (width + height));
  for (let x = 0; x < width; x++) {
    border[2 * x] = grey[x];
    border[2 * x + 1] = grey[(height - 1) * width + x];
  }
  for (let y = 0, at = 2 * width; y < height; y++, at += 2) {
    border[at] = grey[y * width];
    border[at + 1] = grey[y * width + width - 1];
  }
  border.sort();                                            // a typed array sorts by value
  const mid = border.length >> 1;
  let background = border.length % 2
    ? border[mid] : f(f(border[mid - 1] + border[mid]) / 2);
  if (background > 0.5) {
    grey = grey.map((v) => f(1 - v));
    background = 1 - background;
  }
  const bg = f(background);
  const spread = f(Math.max(1 - background, 1e-6));
  const black = bg === 0 && spread === 1;     // the pad's paper: grey stays as it is, bar the clip
  for (let i = 0; i < n; i++) {
    const v = black ? grey[i] : f(f(grey[i] - bg) / spread);
    grey[i] = v < 0 ? 0 : (v > 1 ? 1 : v);
  }
  return grey;
}

// preprocess.to_mnist: ink -> the 28 x 28 frame, the ink's box scaled (aspect kept) into the
// 20 x 20 box with Lanczos, then shifted by whole pixels to put its centre of mass at
// (14, 14). -> {pixels, reason} as aedemoFrame's.
function aedemoFramingToMnist(strokes, w, h, minExtent, filter) {
  const C = AEDEMO_FRAMING;
  const f = Math.fround;
  let peak = 0;
  for (let i = 0; i < strokes.length; i++) if (strokes[i] > peak) peak = strokes[i];
  if (peak < C.minContrast) return { pixels: null, reason: "blank" };
  const floor = f(C.noiseFloor);
  for (let i = 0; i < strokes.length; i++) {
    const v = f(strokes[i] / peak);
    strokes[i] = v < floor ? 0 : v;
  }
  const box = aedemoFramingInkBox(strokes, w, h);
  if (box === null) return { pixels: null, reason: "blank" };
  if (Math.max(box.h, box.w) < minExtent * Math.max(w, h)) return { pixels: null, reason: "dot" };
  const scale = C.box / Math.max(box.h, box.w);
  const sw = Math.max(1, aedemoFramingRound(box.w * scale));
  const sh = Math.max(1, aedemoFramingRound(box.h * scale));
  // it rings a little below 0 and above 1, hence the clip
  const small = aedemoFramingClip01(
    aedemoFramingResize(aedemoFramingCrop(strokes, w, box), box.w, box.h, sw, sh, filter));
  let mass = 0, my = 0, mx = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const v = small[y * sw + x];
      mass += v;
      my += v * y;
      mx += v * x;
    }
  }
  if (mass <= 0) return { pixels: null, reason: "blank" };
  // a whole-pixel shift, as MNIST's, clamped so a lopsided digit is never cut by the frame
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  const top = clamp(aedemoFramingRound(C.centre - my / mass), C.frame - sh);
  const left = clamp(aedemoFramingRound(C.centre - mx / mass), C.frame - sw);
  const pixels = new Float32Array(C.frame * C.frame);
  for (let y = 0; y < sh; y++) pixels.set(small.subarray(y * sw, (y + 1) * sw), (top + y) * C.frame + left);
  return { pixels, reason: "" };
}

// preprocess.like_digits, then aedemo.data.frame_digits: a framed digit re-made as
// scikit-learn's 8 x 8 digits were (the ink's box scaled into a 32 x 32 bitmap and centred,
// each 4 x 4 block's mean one cell), blown back up to the 20 x 20 box with PyTorch's
// antialiased bilinear interpolate and centred in the frame.
function aedemoFramingLikeDigits(frame, filter) {
  const C = AEDEMO_FRAMING;
  const f = Math.fround;
  const size = C.digitsBitmap;
  const bitmap = new Float32Array(size * size);
  const box = aedemoFramingInkBox(frame, C.frame, C.frame);
  if (box !== null) {
    const scale = size / Math.max(box.h, box.w);
    const sw = Math.max(1, aedemoFramingRound(box.w * scale));
    const sh = Math.max(1, aedemoFramingRound(box.h * scale));
    const small = aedemoFramingClip01(aedemoFramingResize(
      aedemoFramingCrop(frame, C.frame, box), box.w, box.h, sw, sh, filter));
    const top = (size - sh) >> 1, left = (size - sw) >> 1;
    for (let y = 0; y < sh; y++) bitmap.set(small.subarray(y * sw, (y + 1) * sw), (top + y) * size + left);
  }
  const block = size / C.digitsGrid;
  const grid = new Float32Array(C.digitsGrid * C.digitsGrid);
  for (let gy = 0; gy < C.digitsGrid; gy++) {
    for (let gx = 0; gx < C.digitsGrid; gx++) {
      let sum = 0;
      for (let y = 0; y < block; y++) {
        for (let x = 0; x < block; x++) sum += bitmap[(gy * block + y) * size + gx * block + x];
      }
      grid[gy * C.digitsGrid + gx] = f(sum / (block * block));
    }
  }
  const big = aedemoFramingClip01(aedemoFramingResize(
    grid, C.digitsGrid, C.digitsGrid, C.box, C.box, AEDEMO_FRAMING_FILTERS.bilinear));
  const out = new Float32Array(C.frame * C.frame);
  const at = (C.frame - C.box) >> 1;
  for (let y = 0; y < C.box; y++) out.set(big.subarray(y * C.box, (y + 1) * C.box), (at + y) * C.frame + at);
  return out;
}

// The pad's picture {width, height, data: RGBA Uint8ClampedArray} (a canvas's ImageData) ->
// {pixels: Float32Array(784) row-major in [0, 1] | null, reason: "" | "blank" | "dot"}: what
// preprocess.pad_to_mnist and then preprocess.for_dataset(x, dataset) give the models on the
// server, or null with the reason the server gives (None for a blank pad, NotADigit for a dot).
function aedemoFrame(imageData, dataset) {
  const C = AEDEMO_FRAMING;
  const lanczos = AEDEMO_FRAMING_FILTERS.lanczos;
  // pad_to_mnist's min_extent: ink no larger than a couple of pen widths is a dot
  const minExtent = (C.minPenWidths * C.padPen) / C.padSize;
  const framed = aedemoFramingToMnist(aedemoFramingInk(imageData), imageData.width,
                                      imageData.height, minExtent, lanczos);
  if (framed.pixels === null || dataset !== C.digitsDataset) return framed;
  return { pixels: aedemoFramingLikeDigits(framed.pixels, lanczos), reason: "" };
}
