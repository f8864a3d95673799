// The decoder under the pointer: a k = 2 model's code plane drawn on a canvas (the test digits'
// codes, each drawn as its own digit in its class's colour, axes in code units), and beside it
// the digit the model's decoder draws for the point under the mouse, a finger or the arrow
// keys, decoded here in the browser (aedemoDecode, interpreter.js) with no round trip to the
// server. Python (aedemo/ui/latent_hover.py) sends the net's URL, the view's range, the axis
// names and the dots; nothing goes back.
//
// Any point of the plane, not only a dot: that is the lesson (what the decoder makes of codes no
// test digit has). The point's coordinates are written beside the digit at once, and said to a
// screen reader (a polite live region) only once the point rests, never per pixel.
//
// For the tests and benches, the digit's canvas carries the decoder's own Float32 output
// (.aedemoPixels), the code it was given as float32 (.aedemoCode, and data-code), the time the
// decode took (data-decode-ms) and a count of paints (data-frame); the plane's canvas carries
// its range in code units (data-range) and the plot's rectangle in CSS pixels (data-plot:
// left, top, width, height).
const lhViews = new WeakMap();
// Room round the plot for the ticks and the axis names, in units of the text's size (data.font:
// 12 px, larger in projector mode), so the labels fit at any size.
const LH_MARGIN = { left: 4, right: 1, top: 1, bottom: 3.3 };
const LH_STEPS = { coarse: 40, fine: 200 }; // an arrow key moves 1/40 of the view, with Shift 1/200
const LH_CALM_MS = 500; // the live region speaks once the point has rested this long

// Round numbers for the ticks: 1, 2 or 5 times a power of ten, about `count` of them.
function lhTicks(low, high, count) {
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function lhFormat(v) {
  return v.toFixed(2).replace("-", "−");
}

// Pixels of the plot (CSS px inside the map canvas) <-> code units; y grows upwards.
function lhPlot(view) {
  const size = view.map.clientWidth;
  const f = view.font;
  return { left: LH_MARGIN.left * f, top: LH_MARGIN.top * f,
    width: size - (LH_MARGIN.left + LH_MARGIN.right) * f,
    height: size - (LH_MARGIN.top + LH_MARGIN.bottom) * f };
}

function lhToCode(view, px, py) {
  const p = lhPlot(view), [x0, x1, y0, y1] = view.range;
  const fx = Math.min(Math.max((px - p.left) / p.width, 0), 1);
  const fy = Math.min(Math.max((py - p.top) / p.height, 0), 1);
  return [x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)];
}

function lhToPixel(view, z) {
  const p = lhPlot(view), [x0, x1, y0, y1] = view.range;
  return [p.left + ((z[0] - x0) / (x1 - x0)) * p.width,
    p.top + ((y1 - z[1]) / (y1 - y0)) * p.height];
}

// The axes and the dots, drawn once per size into an offscreen canvas: a move only copies it
// and draws the marker over it.
function lhDrawBase(view) {
  const dpr = window.devicePixelRatio || 1;
  const size = view.map.clientWidth;
  if (!size) return;
  view.map.width = view.map.height = Math.round(size * dpr);
  const base = (view.base ??= document.createElement("canvas"));
  base.width = base.height = view.map.width;
  const ctx = base.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  const p = lhPlot(view), [x0, x1, y0, y1] = view.range;
  view.map.dataset.plot = JSON.stringify([p.left, p.top, p.width, p.height]); // CSS px
  ctx.font = `${view.font}px sans-serif`;
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#e6e6e6";
  ctx.fillStyle = "#333";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of lhTicks(x0, x1, 6)) {
    const [x] = lhToPixel(view, [t, 0]);
    ctx.beginPath();
    ctx.moveTo(x, p.top);
    ctx.lineTo(x, p.top + p.height);
    ctx.stroke();
    ctx.fillText(lhFormat(t).replace(/\.?0+$/, ""), x, p.top + p.height + 4);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of lhTicks(y0, y1, 6)) {
    const [, y] = lhToPixel(view, [0, t]);
    ctx.beginPath();
    ctx.moveTo(p.left, y);
    ctx.lineTo(p.left + p.width, y);
    ctx.stroke();
    ctx.fillText(lhFormat(t).replace(/\.?0+$/, ""), p.left - 4, y);
  }
  ctx.strokeStyle = "#555";
  ctx.strokeRect(p.left, p.top, p.width, p.height);
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(view.axes[0], p.left + p.width / 2, size - 2);
  ctx.save();
  ctx.translate(view.font, p.top + p.height / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(view.axes[1], 0, 0);
  ctx.restore();
  // each test code as its digit's name in its class's colour: the shape says the class where
  // the colour cannot (a pale colour, a reader who does not see colour)
  ctx.save();
  ctx.beginPath();
  ctx.rect(p.left, p.top, p.width, p.height);
  ctx.clip();
  ctx.font = `bold ${Math.round(view.font * 0.85)}px sans-serif`;
  ctx.textBaseline = "middle";
  ctx.lineWidth = 2;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
  const { xs, ys, labels } = view.points;
  for (let i = 0; i < xs.length; i++) {
    const [x, y] = lhToPixel(view, [xs[i], ys[i]]);
    const c = labels[i];
    const mark = String(view.classes[c] ?? c).slice(0, 1);
    ctx.strokeText(mark, x, y);
    ctx.fillStyle = view.colours[c % view.colours.length];
    ctx.fillText(mark, x, y);
  }
  ctx.restore();
}

function lhDrawMap(view) {
  const ctx = view.map.getContext("2d");
  if (!view.base || view.base.width !== view.map.width) return;
  const dpr = view.map.width / view.map.clientWidth;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(view.base, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const [x, y] = lhToPixel(view, view.code);
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#fff";
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#000";
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x - 12, y);
  ctx.lineTo(x + 12, y);
  ctx.moveTo(x, y - 12);
  ctx.lineTo(x, y + 12);
  ctx.stroke();
}

// The nearest test code's class: what a reader who cannot see the digit hears it is near.
function lhNearest(view) {
  const { xs, ys, labels } = view.points;
  let best = -1, bestD = Infinity;
  for (let i = 0; i < xs.length; i++) {
    const d = (xs[i] - view.code[0]) ** 2 + (ys[i] - view.code[1]) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  return best < 0 ? "" : String(view.classes[labels[best]] ?? labels[best]);
}

function lhSay(view) {
  const [a, b] = view.axes.map((name) => name.split(",")[0]);
  const near = lhNearest(view);
  return `${a} = ${lhFormat(view.code[0])}, ${b} = ${lhFormat(view.code[1])}`
    + (near ? `; the nearest test digit's code is a ${near}'s` : "");
}

// Decode the point, paint the digit, write its coordinates: the whole update of one frame.
function lhDecode(view) {
  const code = Float32Array.from(view.code);
  view.coords.textContent = lhSay(view);
  if (!view.net) return;
  const start = performance.now();
  const pixels = aedemoDecode(view.net, code);
  const ms = performance.now() - start;
  const image = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.min(Math.max(pixels[i], 0), 1) * 255);
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
    image.data[4 * i + 3] = 255;
  }
  view.digit.getContext("2d").putImageData(image, 0, 0);
  view.digit.aedemoPixels = pixels;
  view.digit.aedemoCode = Array.from(code);
  view.digit.dataset.code = `${code[0]},${code[1]}`;
  view.digit.dataset.model = view.net.model.id;
  view.digit.dataset.decodeMs = ms.toFixed(3);
  view.digit.dataset.frame = String(Number(view.digit.dataset.frame || 0) + 1);
  view.digit.setAttribute("aria-label", `The digit the decoder draws at ${lhSay(view)}`);
}

// A move asks for a frame; however many moves come before it, the frame decodes once.
function lhMoveTo(view, code) {
  const [x0, x1, y0, y1] = view.range;
  view.code = [Math.min(Math.max(code[0], x0), x1), Math.min(Math.max(code[1], y0), y1)];
  if (!view.frame) {
    view.frame = requestAnimationFrame(() => {
      view.frame = 0;
      lhDrawMap(view);
      lhDecode(view);
    });
  }
  clearTimeout(view.calm);
  view.calm = setTimeout(() => { view.live.textContent = lhSay(view); }, LH_CALM_MS);
}

function lhPointer(view, event) {
  const box = view.map.getBoundingClientRect();
  lhMoveTo(view, lhToCode(view, event.clientX - box.left, event.clientY - box.top));
}

function lhKey(view, event) {
  const [x0, x1, y0, y1] = view.range;
  const parts = event.shiftKey ? LH_STEPS.fine : LH_STEPS.coarse;
  const dx = (x1 - x0) / parts, dy = (y1 - y0) / parts;
  const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
  if (event.key in moves) {
    const [mx, my] = moves[event.key];
    lhMoveTo(view, [view.code[0] + mx, view.code[1] + my]);
  } else if (event.key === "Home") {
    lhMoveTo(view, view.start);
  } else {
    return;
  }
  event.preventDefault(); // the arrows move the point, not the page
}

function lhMount(parent, data) {
  const root = document.createElement("div");
  root.className = "lh-root";
  const map = document.createElement("canvas");
  map.className = "lh-map";
  map.tabIndex = 0;
  map.setAttribute("role", "application");
  map.setAttribute("aria-roledescription", "code plane");
  map.setAttribute("aria-label", data.label);
  map.dataset.range = JSON.stringify(data.range); // [z1 from, z1 to, z2 from, z2 to]
  const help = document.createElement("p");
  help.className = "lh-help";
  help.id = `lh-help-${Math.random().toString(36).slice(2)}`;
  help.textContent = "Point anywhere on the plane, or focus it and use the arrow keys "
    + "(Shift for small steps, Home for the start), to see the decoder's digit for that code.";
  map.setAttribute("aria-describedby", help.id);
  const side = document.createElement("div");
  side.className = "lh-side";
  const digit = document.createElement("canvas");
  digit.className = "lh-digit";
  digit.width = digit.height = 28;
  digit.setAttribute("role", "img");
  digit.setAttribute("aria-label", "The decoder's digit, once the model has loaded");
  const coords = document.createElement("p");
  coords.className = "lh-coords";
  coords.textContent = "Loading the decoder…";
  coords.setAttribute("aria-hidden", "true"); // the live region says it, at a calm rate
  const live = document.createElement("p");
  live.className = "lh-live";
  live.setAttribute("aria-live", "polite");
  side.append(digit, coords, live);
  root.append(map, side, help);
  // beside, not instead of, what Streamlit put in the parent (the component's styles)
  parent.querySelector(".lh-root")?.remove();
  parent.appendChild(root);

  const view = {
    key: data.key, range: data.range, font: data.font, axes: data.axes, classes: data.classes,
    colours: data.colours, points: data.points, start: data.start, code: data.start,
    root, map, digit, coords, live, net: null, frame: 0, calm: 0,
  };
  map.addEventListener("pointermove", (e) => lhPointer(view, e));
  map.addEventListener("pointerdown", (e) => lhPointer(view, e));
  map.addEventListener("keydown", (e) => lhKey(view, e));
  view.resize = new ResizeObserver(() => { lhDrawBase(view); lhDrawMap(view); });
  view.resize.observe(map);
  aedemoLoadNet(data.url).then((net) => {
    view.net = net;
    lhMoveTo(view, view.code);
  }, (err) => {
    coords.removeAttribute("aria-hidden");
    coords.textContent = `The decoder could not run in this browser (${err.message}).`;
  });
  return view;
}

export default function (component) {
  const { data, parentElement } = component;
  let view = lhViews.get(parentElement);
  // A rerun with the same model and view keeps the point where the student left it.
  if (!view || view.key !== data.key) {
    view?.resize.disconnect();
    view = lhMount(parentElement, data);
    lhViews.set(parentElement, view);
  }
  return () => {
    const gone = lhViews.get(parentElement);
    if (gone) {
      gone.resize.disconnect();
      cancelAnimationFrame(gone.frame);
      clearTimeout(gone.calm);
      gone.root.remove();
      lhViews.delete(parentElement);
    }
  };
}
