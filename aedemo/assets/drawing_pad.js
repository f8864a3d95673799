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
const pads = new WeakMap();

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
    root, canvas, status, ctx: canvas.getContext("2d"), strokes: [], current: null,
    size: data.size, strokeWidth: data.strokeWidth, maxPoints: data.maxPoints,
    setStateValue: () => {},
  };
  // Native buttons: Tab reaches them, Enter and Space press them, as any button.
  pad.clear = button("Clear", "Clear the drawing", () => {
    pad.strokes = [];
    redraw(pad);
    send(pad);
    announce(pad, "Drawing cleared.");
  });
  pad.undo = button("Undo", "Take back the last stroke", () => {
    pad.strokes.pop();
    redraw(pad);
    send(pad);
    const n = pad.strokes.length;
    announce(pad, `Last stroke taken back; ${n} stroke${n === 1 ? "" : "s"} left.`);
  });
  buttons.append(pad.clear, pad.undo);
  root.append(canvas, buttons, status);
  parent.querySelector(".pad-root").appendChild(root);

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    if (pointCount(pad) >= pad.maxPoints) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    pad.current = pointIn(pad, event);
    pad.strokes.push(pad.current);
    redraw(pad);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pad.current || pointCount(pad) >= pad.maxPoints) return;
    event.preventDefault();
    const [x, y] = pointIn(pad, event);
    const n = pad.current.length;
    pad.ctx.beginPath();
    pad.ctx.moveTo(pad.current[n - 2], pad.current[n - 1]);
    pad.ctx.lineTo(x, y);
    pad.ctx.stroke();
    pad.current.push(x, y);
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

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let pad = pads.get(parentElement);
  if (!pad) {
    pad = mount(parentElement, data);
    pads.set(parentElement, pad);
  }
  pad.setStateValue = setStateValue;
  return () => {
    const gone = pads.get(parentElement);
    if (gone) {
      gone.root.remove();
      pads.delete(parentElement);
    }
  };
}
