// aedemo's interpreter of exported models: the browser's half of aedemo/export.py.
//
// A model arrives as one safetensors file (an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw data), whose header's
// __metadata__.aedemo holds the model's two graphs, "encode" and "decode": lists of standard
// layers (linear, conv2d, conv_transpose2d, relu, sigmoid, tanh, leaky_relu, reshape, flatten),
// each naming its weights and giving its output's shape per example. This file runs those lists
// on Float32Arrays, one example at a time, with plain loops; nothing here knows any one model.
// Weights may be float16 (half the download) or float32; both become Float32Arrays on load.
// Sums are taken in JavaScript's float64 and stored as float32.
//
// Plain top-level functions, no import or export: aedemo.ui.browser_models concatenates this
// file with framing.js and a component's own module into one script.

// The net at `url`, downloaded once per page: every component asking for the same URL shares
// one download (the Map on globalThis holds the promise, so even two asking at once do). The
// server marks the file immutable, so the browser's cache keeps it across visits too.
async function aedemoLoadNet(url) {
  const nets = (globalThis.__aedemoNets ??= new Map());
  if (!nets.has(url)) {
    const loading = fetch(url, { credentials: "same-origin" }).then(async (answer) => {
      if (!answer.ok) throw new Error(`aedemo: ${url} answered ${answer.status}`);
      return aedemoParseNet(await answer.arrayBuffer());
    });
    nets.set(url, loading);
    loading.catch(() => nets.delete(url)); // a failed download may be tried again later
  }
  return nets.get(url);
}

// A safetensors file's bytes (an ArrayBuffer) -> the net: {model, inputs, graphs}.
function aedemoParseNet(buffer) {
  const view = new DataView(buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
  const meta = JSON.parse((header.__metadata__ || {}).aedemo || "null");
  if (!meta || meta.format !== "aedemo-net/1") {
    throw new Error("aedemo: not a model file this interpreter reads");
  }
  const dataStart = 8 + headerLength;
  const tensor = (name) => {
    const entry = header[name];
    if (!entry) throw new Error(`aedemo: the file has no tensor ${name}`);
    const [begin, end] = entry.data_offsets;
    const bytes = buffer.slice(dataStart + begin, dataStart + end); // a copy: aligned
    if (entry.dtype === "F32") return new Float32Array(bytes);
    if (entry.dtype === "F16") return aedemoHalfToFloat(new Uint16Array(bytes));
    throw new Error(`aedemo: tensor ${name} is ${entry.dtype}, not F16 or F32`);
  };
  const graphs = {};
  for (const [name, ops] of Object.entries(meta.graphs)) {
    let shape = meta.inputs[name];
    graphs[name] = ops.map((op) => {
      const prepared = aedemoPrepare(op, shape, tensor);
      shape = op.shape;
      return prepared;
    });
  }
  return { model: meta.model, inputs: meta.inputs, graphs };
}

// float16 bits -> Float32Array (sign, 5 exponent bits, 10 fraction bits; IEEE 754).
function aedemoHalfToFloat(halves) {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    out[i] = exponent === 0 ? sign * fraction * 2 ** -24 // subnormal
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
      : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

function aedemoSize(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

// One op with its weights looked up and its sizes checked, and the buffer its output goes in
// (reused by every run: a run allocates nothing but its result).
function aedemoPrepare(op, inShape, tensor) {
  const n = aedemoSize(op.shape);
  const prepared = { ...op, inShape, buffer: new Float32Array(n) };
  if (op.weight) prepared.w = tensor(op.weight);
  if (op.bias) prepared.b = tensor(op.bias);
  const wanted = {
    linear: () => op.in * op.out,
    conv2d: () => op.shape[0] * inShape[0] * op.kernel[0] * op.kernel[1],
    conv_transpose2d: () => inShape[0] * op.shape[0] * op.kernel[0] * op.kernel[1],
  }[op.op];
  if (wanted && prepared.w.length !== wanted()) {
    throw new Error(`aedemo: ${op.op} weights of ${prepared.w.length}, not ${wanted()}`);
  }
  if (op.op === "conv2d" || op.op === "conv_transpose2d") {
    prepared.wLast = aedemoChannelsLast(prepared.w, op.op === "conv_transpose2d", inShape[0],
                                        op.shape[0], op.kernel[0], op.kernel[1]);
  }
  if (["reshape", "flatten"].includes(op.op) && n !== aedemoSize(inShape)) {
    throw new Error(`aedemo: ${op.op} to ${op.shape} from ${inShape}`);
  }
  return prepared;
}

// One example through one of the net's graphs: input and result are Float32Arrays, laid out
// row-major as PyTorch lays out one example (channels, rows, columns).
function aedemoRun(net, graphName, input) {
  const ops = net.graphs[graphName];
  if (!ops) throw new Error(`aedemo: the net has no graph ${graphName}`);
  if (input.length !== aedemoSize(net.inputs[graphName])) {
    throw new Error(`aedemo: ${graphName} takes ${aedemoSize(net.inputs[graphName])} numbers`);
  }
  let h = input;
  for (const op of ops) h = aedemoStep(op, h);
  return Float32Array.from(h); // the last op's buffer is reused by the next run
}

function aedemoStep(op, x) {
  const out = op.buffer;
  switch (op.op) {
    case "linear":
      return aedemoLinear(op, x);
    case "conv2d":
      return aedemoConv2d(op, x);
    case "conv_transpose2d":
      return aedemoConvTranspose2d(op, x);
    case "relu":
      for (let i = 0; i < out.length; i++) out[i] = x[i] > 0 ? x[i] : 0;
      return out;
    case "leaky_relu":
      for (let i = 0; i < out.length; i++) out[i] = x[i] > 0 ? x[i] : op.slope * x[i];
      return out;
    case "sigmoid":
      for (let i = 0; i < out.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      return out;
    case "tanh":
      for (let i = 0; i < out.length; i++) out[i] = Math.tanh(x[i]);
      return out;
    case "reshape":
    case "flatten":
      return x; // the numbers stay in their order; the next op reads op.shape
    default:
      throw new Error(`aedemo: no op ${op.op} in this interpreter`);
  }
}

// out[o] = b[o] + W[o, :] . x, W row-major (out, in). Four rows at a time: each x[i] is read
// once for four products, and the four sums are independent additions the processor overlaps
// (measured in Node and Chromium: 1.5 times as fast as one row at a time with four partial sums).
function aedemoLinear(op, x) {
  const w = op.w, b = op.b, n = op.in, rows = op.out, out = op.buffer;
  let o = 0;
  for (; o + 3 < rows; o += 4) {
    const r0 = o * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      s0 += w[r0 + i] * xi;
      s1 += w[r1 + i] * xi;
      s2 += w[r2 + i] * xi;
      s3 += w[r3 + i] * xi;
    }
    out[o] = (b ? b[o] : 0) + s0;
    out[o + 1] = (b ? b[o + 1] : 0) + s1;
    out[o + 2] = (b ? b[o + 2] : 0) + s2;
    out[o + 3] = (b ? b[o + 3] : 0) + s3;
  }
  for (; o < rows; o++) {            // the last rows when there are not four
    let s = 0;
    for (let i = 0, r = o * n; i < n; i++) s += w[r + i] * x[i];
    out[o] = (b ? b[o] : 0) + s;
  }
  return out;
}

// Both convolutions gather: each output pixel sums, over the kernel positions that reach it,
// the input channels' values times their weights. The weights were laid out on load as
// (out channel, ky, kx, in channel), so that innermost sum reads them in order with no test
// inside (aedemoChannelsLast).
//
// conv2d: out[co, oy, ox] = b[co] + sum over ky, kx, ci of W[co, ci, ky, kx] x[ci, iy, ix],
// where iy = oy * stride - padding + ky (outside the input: zero).
function aedemoConv2d(op, x) {
  const [cin, hin, win] = op.inShape, [cout, hout, wout] = op.shape;
  const [kh, kw] = op.kernel, [sh, sw] = op.stride, [ph, pw] = op.padding;
  const w = op.wLast, b = op.b, out = op.buffer, plane = hin * win;
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < hout; oy++) {
      for (let ox = 0; ox < wout; ox++) {
        let s = b ? b[co] : 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= hin) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pw + kx;
            if (ix < 0 || ix >= win) continue;
            const wAt = ((co * kh + ky) * kw + kx) * cin, xAt = iy * win + ix;
            for (let ci = 0; ci < cin; ci++) s += w[wAt + ci] * x[ci * plane + xAt];
          }
        }
        out[(co * hout + oy) * wout + ox] = s;
      }
    }
  }
  return out;
}

// conv_transpose2d, the transpose of that: input pixel (iy, ix) adds W[ci, co, ky, kx] times
// its value to output (iy * stride - padding + ky, ...), so output (oy, ox) gathers from the
// inputs iy = (oy + padding - ky) / stride where that division is exact. The output's shape
// (which output_padding made) says how far it goes.
function aedemoConvTranspose2d(op, x) {
  const [cin, hin, win] = op.inShape, [cout, hout, wout] = op.shape;
  const [kh, kw] = op.kernel, [sh, sw] = op.stride, [ph, pw] = op.padding;
  const w = op.wLast, b = op.b, out = op.buffer, plane = hin * win;
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < hout; oy++) {
      for (let ox = 0; ox < wout; ox++) {
        let s = b ? b[co] : 0;
        for (let ky = 0; ky < kh; ky++) {
          const ty = oy + ph - ky;
          if (ty < 0 || ty % sh !== 0 || ty / sh >= hin) continue;
          for (let kx = 0; kx < kw; kx++) {
            const tx = ox + pw - kx;
            if (tx < 0 || tx % sw !== 0 || tx / sw >= win) continue;
            const wAt = ((co * kh + ky) * kw + kx) * cin, xAt = (ty / sh) * win + tx / sw;
            for (let ci = 0; ci < cin; ci++) s += w[wAt + ci] * x[ci * plane + xAt];
          }
        }
        out[(co * hout + oy) * wout + ox] = s;
      }
    }
  }
  return out;
}

// A convolution's weights, (co, ci, kh, kw) for conv2d or (ci, co, kh, kw) for the transpose as
// PyTorch keeps them, laid out as (co, kh, kw, ci).
function aedemoChannelsLast(w, transposed, cin, cout, kh, kw) {
  const out = new Float32Array(w.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let k = 0; k < kh * kw; k++) {
        const from = transposed ? (ci * cout + co) * kh * kw + k : (co * cin + ci) * kh * kw + k;
        out[(co * kh * kw + k) * cin + ci] = w[from];
      }
    }
  }
  return out;
}

// A 28 x 28 drawing (784 numbers in [0, 1], row by row) -> the model's reconstruction, the
// same 784 numbers as the server's model.reconstruct: decode(encode(x)), the VAE through its
// mean code.
function aedemoReconstruct(net, pixels784) {
  return aedemoRun(net, "decode", aedemoRun(net, "encode", pixels784));
}

// A code of latent_dim numbers -> the decoder's 784 pixels (the hover view of a k = 2 map).
function aedemoDecode(net, code) {
  return aedemoRun(net, "decode", code instanceof Float32Array ? code : Float32Array.from(code));
}
