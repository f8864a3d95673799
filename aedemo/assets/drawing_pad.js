// The Draw page's drawing pad: white strokes on a black square, drawn with a mouse, a pen or a
// finger (pointer events), with Clear and Undo buttons that are always there and big enough for
// a finger. The picture has size x size pixels of its own whatever its size on screen, so the
// pad can fill its column on a projector or a phone and the models always get the same image.
// Python gives the pad its size, its pen and its most points (data.size, data.strokeWidth,
// data.maxPoints: aedemo.preprocess), and refuses a drawing that breaks them.
//
// Python gets {png, strokes} after every stroke, Undo and Clear (strokes [] after Clear), and
// hands the strokes back as data.strokes so a pad mounted afresh (coming back to the page)
// shows the last drawing. Nothing from Python redraws a pad once it is mounted: a rerun that
// arrives mid-stroke cannot wipe what the student is drawing.
//
// Beside the pad, the row of models' copies (data.row: aedemo.ui.pad_row). While the pen is
// down, at most once per animation frame, the pad's pixels are framed as the server frames them
// (aedemoFrame, framing.js) and each model runs here (aedemoReconstruct, interpreter.js, on the
// net fetched once from its URL); each repaint counts itself on its canvas (data-frame,
// data-painted-ms: the tests and bench/ read them). Nothing of that goes to the server, which
// hears of the drawing once a stroke, as before. Its copies come back as data.row on the rerun
// and are painted into the same canvases, when they are of the strokes on the pad (a stroke
// begun since keeps the browser's). A model that cannot run here shows the server's copy only.
//
// The same module draws the bottleneck sweep (data.mode "sweep"): a slider over the dense
// models' k that repaints in the browser; the pad tells it of each new framed input through
// one event target on globalThis (two components on a page share the document).
// Chromium hands pointermove to a page once per frame, just before the frame's animation
// callbacks: a move waits up to a frame to be heard. In a secure context (https, and localhost)
// it also sends pointerrawupdate the moment the pointer moves, which drawing apps are meant to
// use; the pad follows whichever comes first (over plain http on a network, pointermove).
const MOVE = "onpointerrawupdate" in globalThis ? "pointerrawupdate" : "pointermove";
const pads = new WeakMap();
const sweeps = new WeakMap();
const bus = (globalThis.__aedemoDraw ??= new EventTarget());

function strokePath(ctx, points) {
  ctx.beginPath();
  ctx.moveTo(points[0], points[1]);
  if (points.length === 2) ctx.lineTo(points[0] + 0.01, points[1]);   // a dot
  for (let i = 2; i < points.length; i += 2) ctx.lineTo(points[i], points[i + 1]);
  ctx.stroke();
}

function redraw(pad) {
  const ctx = pad.ctx;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.size, pad.size);
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = pad.strokeWidth;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const points of pad.strokes) strokePath(ctx, points);
}

// What a screen reader says the pad holds: the canvas is a picture with a name that follows
// the drawing. Drawing itself needs a pointer; the page offers an upload beside it.
function describe(pad) {
  const n = pad.strokes.length;
  const holds = n === 0 ? "empty" : `${n} stroke${n === 1 ? "" : "s"} drawn`;
  pad.canvas.setAttribute(
    "aria-label",
    `Drawing pad, ${holds}: draw one digit here with a mouse, pen or finger`,
  );
}

function refreshButtons(pad) {
  pad.undo.disabled = pad.strokes.length === 0;
  pad.clear.disabled = pad.strokes.length === 0;
  describe(pad);
}

// Said aloud (a polite live region) after Clear or Undo, whose result is otherwise only seen.
function announce(pad, text) {
  pad.status.textContent = "";
  setTimeout(() => { pad.status.textContent = text; }, 50);
}

function send(pad) {
  refreshButtons(pad);
  pad.setStateValue("drawing", {
    png: pad.strokes.length ? pad.canvas.toDataURL("image/png") : null,
    strokes: pad.strokes,
  });
}

// A point in the pad's own pixels, to 0.1 px. The pointer is captured during a stroke, so it
// may go past the pad's edge: the point stays on the edge.
function pointIn(pad, event) {
  const box = pad.canvas.getBoundingClientRect();
  const on = (v) => Math.min(Math.max(Math.round(v * 10) / 10, 0), pad.size);
  return [on(((event.clientX - box.left) * pad.size) / box.width),
          on(((event.clientY - box.top) * pad.size) / box.height)];
}

function pointCount(pad) {
  return pad.strokes.reduce((n, points) => n + points.length / 2, 0);
}

function button(label, title, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.title = title;
  b.addEventListener("click", onClick);
  return b;
}

function mount(parent, data) {
  const root = document.createElement("div");
  root.className = "pad";
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = data.size;
  canvas.className = "pad-canvas";
  canvas.setAttribute("role", "img");
  const buttons = document.createElement("div");
  buttons.className = "pad-buttons";
  buttons.setAttribute("role", "group");
  buttons.setAttribute("aria-label", "Drawing pad");
  const status = document.createElement("div");
  status.className = "pad-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  const pad = {
    root, canvas, status, strokes: [], current: null,
    // read back once per live frame (aedemoFrame): kept in memory, not on the GPU
    ctx: canvas.getContext("2d", { willReadFrequently: true }),
    size: data.size, strokeWidth: data.strokeWidth, maxPoints: data.maxPoints,
    setStateValue: () => {}, row: null, frameBusy: false, livePending: false,
  };
  // Native buttons: Tab reaches them, Enter and Space press them, as any button.
  pad.clear = button("Clear", "Clear the drawing", () => {
    pad.strokes = [];
    redraw(pad);
    liveSoon(pad);
    send(pad);
    announce(pad, "Drawing cleared.");
  });
  pad.undo = button("Undo", "Take back the last stroke", () => {
    pad.strokes.pop();
    redraw(pad);
    liveSoon(pad);
    send(pad);
    const n = pad.strokes.length;
    announce(pad, `Last stroke taken back; ${n} stroke${n === 1 ? "" : "s"} left.`);
  });
  buttons.append(pad.clear, pad.undo);
  const drawing = document.createElement("div");
  drawing.className = "pad-drawing";
  drawing.append(canvas, buttons, status);
  root.append(drawing);
  parent.querySelector(".pad-root").appendChild(root);

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    if (pointCount(pad) >= pad.maxPoints) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    pad.current = pointIn(pad, event);
    pad.strokes.push(pad.current);
    redraw(pad);
    liveSoon(pad);
  });
  canvas.addEventListener(MOVE, (event) => {
    if (!pad.current || pointCount(pad) >= pad.maxPoints) return;
    event.preventDefault();
    const [x, y] = pointIn(pad, event);
    const n = pad.current.length;
    pad.ctx.beginPath();
    pad.ctx.moveTo(pad.current[n - 2], pad.current[n - 1]);
    pad.ctx.lineTo(x, y);
    pad.ctx.stroke();
    pad.current.push(x, y);
    liveSoon(pad);
  });
  const end = () => {
    if (!pad.current) return;
    pad.current = null;
    send(pad);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  pad.strokes = Array.isArray(data.strokes) ? data.strokes.map((s) => s.slice()) : [];
  redraw(pad);
  refreshButtons(pad);
  return pad;
}

// --- the row of copies --------------------------------------------------------------------

// The server's pictures come as 784 grey levels in base64 (aedemo.ui.widgets.grey_levels):
// the numbers in [0, 1] the models and paint() take.
function levels(base64) {
  if (typeof base64 !== "string") return base64;       // none (null), or already numbers
  const bytes = atob(base64);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i) / 255;
  return out;
}

// The server's pictures in a component's data, read as numbers once, as they arrive.
function readLevels(data) {
  const server = (m) => (m.server
    ? { ...m, server: { ...m.server, pixels: levels(m.server.pixels) } } : m);
  if (data.mode === "sweep") {
    return { ...data, input: levels(data.input), models: data.models.map(server) };
  }
  if (!data.row) return data;
  const row = data.row;
  return { ...data, row: { ...row, input: { ...row.input, pixels: levels(row.input.pixels) },
                           models: row.models.map(server) } };
}

// 784 numbers in [0, 1], row by row -> the canvas's 28 x 28 pixels, grey.
function paint(canvas, pixels) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.min(Math.max(pixels[i], 0), 1) * 255);
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

function blank(canvas) {
  paint(canvas, new Float32Array(784));
}

// One picture of the row: a 28 x 28 canvas, scaled up by its style, with its caption. A
// picture for a screen reader (role img) whose name says whose copy it is.
function figure(className, id) {
  const fig = document.createElement("figure");
  fig.className = "copy";
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 28;
  canvas.className = className;
  canvas.setAttribute("role", "img");
  if (id) canvas.dataset.model = id;
  const caption = document.createElement("figcaption");
  fig.append(canvas, caption);
  blank(canvas);
  return { fig, canvas, caption };
}

function say(view, caption, alt) {
  view.caption.textContent = caption;
  view.canvas.setAttribute("aria-label", alt);
}

// The row as data.row describes it: built afresh when its models change, else kept (the same
// canvases), and its nets asked for (aedemoLoadNet downloads each URL once a page).
function setRow(pad, row) {
  if (!row) {                       // no models yet: the pad alone
    if (pad.rowElement) pad.rowElement.remove();
    pad.row = pad.rowElement = null;
    return;
  }
  const ids = row.models.map((m) => m.id).join(" ");
  if (!pad.row || pad.row.ids !== ids) {
    if (pad.rowElement) pad.rowElement.remove();
    const element = document.createElement("div");
    element.className = "pad-row";
    const title = document.createElement("p");
    title.className = "pad-row-title";
    title.textContent = row.title;
    const grid = document.createElement("div");
    grid.className = "pad-copies";
    const views = row.models.map((m) => ({ ...figure("live-recon", m.id), model: m, net: null }));
    const input = figure("live-input", "");
    input.fig.classList.add("copy-input");
    grid.append(input.fig, ...views.map((v) => v.fig));
    element.append(title, grid);
    pad.root.append(element);
    pad.rowElement = element;
    pad.row = { ids, views, input };
    for (const view of views) {
      say(view, view.model.url ? view.model.live_caption : view.model.only_caption,
          view.model.url ? view.model.live_alt : view.model.only_alt);
      if (!view.model.url) continue;
      aedemoLoadNet(view.model.url).then((net) => {
        view.net = net;
        if (pad.current) liveSoon(pad);     // mid-stroke; else the server's copy stays
      }, () => {
        // no net after all (the server refused it): the server's copy only, said so
        view.model = { ...view.model, url: null };
        if (!view.shownServer) say(view, view.model.only_caption, view.model.only_alt);
      });
    }
  }
  const { views, input } = pad.row;
  pad.row.dataset = row.dataset;
  row.models.forEach((m, i) => { views[i].model = { ...m, url: views[i].model.url && m.url }; });
  say(input, row.input.caption, row.input.alt);
  // The server's copies, of the strokes it was sent: painted in place of the browser's, unless
  // the student has drawn on since (then the browser's are newer than the server's).
  if (pad.current || JSON.stringify(pad.strokes) !== JSON.stringify(pad.sentStrokes)) return;
  if (row.input.pixels) paint(input.canvas, row.input.pixels);
  else blank(input.canvas);
  for (const view of views) {
    const server = view.model.server;
    view.shownServer = Boolean(server);
    if (server) {
      paint(view.canvas, server.pixels);
      if (view.model.url) say(view, server.caption, server.alt);
      else say(view, server.only_caption, server.only_alt);
    } else {                        // nothing to copy (a blank pad, a dot): blank, and waiting
      blank(view.canvas);
      say(view, view.model.url ? view.model.live_caption : view.model.only_caption,
          view.model.url ? view.model.live_alt : view.model.only_alt);
    }
  }
  if (row.input.pixels) bus.dispatchEvent(new CustomEvent("input", { detail: row.input.pixels }));
}

// At most one live frame per animation frame: the first move since the last frame is answered
// at once, in its own event (a frame sooner than waiting for the next animation callback);
// moves after it in the same frame are answered together when the next frame begins.
function liveSoon(pad) {
  if (!pad.row) return;
  if (pad.frameBusy) {
    pad.livePending = true;
    return;
  }
  live(pad);
  pad.frameBusy = true;
  requestAnimationFrame(() => {
    pad.frameBusy = false;
    if (pad.livePending) {
      pad.livePending = false;
      liveSoon(pad);
    }
  });
}

// The row drawn here from the pad's pixels: framed as the server frames them, then each model
// that runs in the browser. A blank pad or a dot has no framed input: the copies are kept.
function live(pad) {
  const { views, input, dataset } = pad.row;
  const framed = aedemoFrame(pad.ctx.getImageData(0, 0, pad.size, pad.size), dataset);
  if (!framed.pixels) {
    if (framed.reason === "blank") {
      blank(input.canvas);
      for (const view of views) if (view.net) blank(view.canvas);
    }
    // answered: nothing to copy yet (a dot, as the stroke's first pixels are); counted on
    // the input's canvas as the copies count their paints
    input.canvas.dataset.unframed = String(Number(input.canvas.dataset.unframed || 0) + 1);
    input.canvas.dataset.unframedMs = String(performance.now());
    return;
  }
  paint(input.canvas, framed.pixels);
  for (const view of views) {
    if (!view.net || !view.model.url) continue;
    paint(view.canvas, aedemoReconstruct(view.net, framed.pixels));
    view.canvas.dataset.frame = String(Number(view.canvas.dataset.frame || 0) + 1);
    view.canvas.dataset.paintedMs = String(performance.now());
    if (view.shownServer) {
      view.shownServer = false;
      say(view, view.model.live_caption, view.model.live_alt);
    }
  }
  bus.dispatchEvent(new CustomEvent("input", { detail: framed.pixels }));
}

// --- the bottleneck sweep --------------------------------------------------------------------

function mountSweep(parent, data) {
  const root = document.createElement("div");
  root.className = "sweep";
  const id = `sweep-k-${Math.random().toString(36).slice(2)}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.className = "sweep-label";
  const slider = document.createElement("input");
  slider.type = "range";
  slider.id = id;
  slider.className = "sweep-slider";
  slider.min = "0";
  slider.step = "1";
  const chosen = document.createElement("output");
  chosen.className = "sweep-k";
  chosen.htmlFor = id;
  const pictures = document.createElement("div");
  pictures.className = "sweep-pictures";
  const input = figure("sweep-input", "");
  const recon = figure("sweep-recon", "");
  pictures.append(input.fig, recon.fig);
  const status = document.createElement("div");
  status.className = "pad-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  root.append(label, slider, chosen, pictures, status);
  parent.querySelector(".pad-root").appendChild(root);
  const sweep = { root, slider, label, chosen, input, recon, status, models: [], nets: new Map(),
                  pixels: null, serverInput: null, at: -1, frameAsked: false,
                  moved: false };
  slider.addEventListener("input", () => {
    sweep.moved = true;
    sweep.at = Number(slider.value);
    bus.sweepK = sweep.models[sweep.at].k;
    showK(sweep);
    loadSweepNets(sweep);
    paintSweepSoon(sweep);
  });
  sweep.onInput = (event) => {
    sweep.pixels = event.detail;
    paintSweepSoon(sweep);
  };
  bus.addEventListener("input", sweep.onInput);
  return sweep;
}

function showK(sweep) {
  const m = sweep.models[sweep.at];
  const text = `k = ${m.k}`;
  sweep.chosen.textContent = text;
  sweep.slider.setAttribute("aria-valuetext", text);
}

function setSweep(sweep, data) {
  const kept = sweep.models[sweep.at];
  sweep.models = data.models;
  sweep.label.textContent = data.label;
  sweep.slider.max = String(data.models.length - 1);
  const ks = data.models.map((m) => m.k);
  // the student's k stays across the page's reruns, and while the sweep is off the page (a
  // cleared pad): kept on the page's bus; the page's own k to begin with
  const at = ks.indexOf(kept ? kept.k : (bus.sweepK ?? data.k));
  sweep.at = at >= 0 ? at : Math.max(0, ks.indexOf(data.k));
  sweep.slider.value = String(sweep.at);
  showK(sweep);
  sweep.pixels = sweep.serverInput = data.input;
  loadSweepNets(sweep);
  paintSweep(sweep, true);
}

// The sweep's nets come when the slider reaches them: the chosen k's (at first the page's k,
// whose model the row beside the pad has already fetched), and once the student has moved the
// slider its neighbours' too, the next a student can move to. Fetched all at once they would
// double what a first Draw page downloads (each dense model is about 1 MB); meanwhile the
// server's copy at every k is in the sweep's data, so the picture still follows the slider
// within a frame.
function loadSweepNets(sweep) {
  const reach = sweep.moved ? 1 : 0;
  for (const m of sweep.models.slice(Math.max(0, sweep.at - reach), sweep.at + reach + 1)) {
    if (!m.url || sweep.nets.has(m.url)) continue;
    sweep.nets.set(m.url, null);
    aedemoLoadNet(m.url).then((net) => {
      sweep.nets.set(m.url, net);
      paintSweepSoon(sweep);
    }, () => {});
  }
}

function paintSweepSoon(sweep) {
  if (sweep.frameAsked) return;
  sweep.frameAsked = true;
  requestAnimationFrame(() => {
    sweep.frameAsked = false;
    paintSweep(sweep, false);
  });
}

// The chosen k's copy of the current input, in the browser when its net is here (the MSE
// computed here too), else the server's. Said aloud when the student moved the slider, not
// when the page sent a new input (fromServer).
function paintSweep(sweep, fromServer) {
  const m = sweep.models[sweep.at];
  if (!m || !sweep.pixels) return;
  const net = m.url ? sweep.nets.get(m.url) : null;
  // without this k's net, the server's copy beside the input it was made from (the pen may
  // have moved on since: the picture then waits for the net or the stroke's end)
  const x = net ? sweep.pixels : sweep.serverInput;
  if (!x) return;
  paint(sweep.input.canvas, x);
  say(sweep.input, "your input", "your input, framed as the models get it");
  let caption, alt;
  if (net) {
    const r = aedemoReconstruct(net, x);
    let sum = 0;
    for (let i = 0; i < 784; i++) sum += (r[i] - x[i]) ** 2;
    const mse = (sum / 784).toFixed(4);
    paint(sweep.recon.canvas, r);
    caption = `${m.name} · MSE ${mse}`;
    alt = `your drawing reconstructed by ${m.name.replace("k=", "k = ")}, MSE ${mse}`;
  } else if (m.server) {
    paint(sweep.recon.canvas, m.server.pixels);
    ({ caption, alt } = m.server);
  } else {
    return;
  }
  sweep.recon.canvas.dataset.model = m.id;
  sweep.recon.canvas.dataset.k = String(m.k);
  sweep.recon.canvas.dataset.frame = String(Number(sweep.recon.canvas.dataset.frame || 0) + 1);
  sweep.recon.canvas.dataset.paintedMs = String(performance.now());
  say(sweep.recon, caption, alt);
  if (!fromServer) sweep.status.textContent = `k = ${m.k}: ${caption}`;
}

// --- the component --------------------------------------------------------------------------

export default function (component) {
  const { parentElement, setStateValue } = component;
  const data = readLevels(component.data);
  if (data.mode === "sweep") {
    let sweep = sweeps.get(parentElement);
    if (!sweep) {
      sweep = mountSweep(parentElement, data);
      sweeps.set(parentElement, sweep);
    }
    setSweep(sweep, data);
    return () => {
      const gone = sweeps.get(parentElement);
      if (gone) {
        bus.removeEventListener("input", gone.onInput);
        gone.root.remove();
        sweeps.delete(parentElement);
      }
    };
  }
  let pad = pads.get(parentElement);
  if (!pad) {
    pad = mount(parentElement, data);
    pads.set(parentElement, pad);
  }
  pad.setStateValue = setStateValue;
  pad.sentStrokes = Array.isArray(data.strokes) ? data.strokes : [];
  setRow(pad, data.row);
  return () => {
    const gone = pads.get(parentElement);
    if (gone) {
      gone.root.remove();
      pads.delete(parentElement);
    }
  };
}
