// The uncertsam viewer: plain JavaScript over the JSON API of docs/serve.md.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { image: null, img: null, box: null, points: [], drag: null, last: null, estimators: [] };
const VIEW = 512;

function showError(msg) { $("error").textContent = msg || ""; }
function status(msg) { $("status").textContent = msg || ""; }

// Progress of slow work (the first encoding of a large image, TTA, the comparison view): the
// message with the seconds elapsed, until `done()`.
function busy(msg) {
  const t0 = performance.now();
  status(msg + " ...");
  const timer = setInterval(() => status(msg + " ... " + ((performance.now() - t0) / 1000).toFixed(0) + " s"), 1000);
  return () => clearInterval(timer);
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({ error: "bad response (" + r.status + ")" }));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

async function init() {
  state.estimators = await api("/api/estimators");
  for (const e of state.estimators) $("estimator").add(new Option(e.name, e.name));
  $("estimator").value = state.estimators.some((e) => e.name === "entropy") ? "entropy" : state.estimators[0].name;
  renderOptions();
  for (const r of await api("/api/refinements")) {
    const o = new Option(r.name, r.name); o.title = r.about; $("refine").add(o);
  }
  const ds = await api("/api/datasets");
  state.datasets = ds;
  for (const d of ds) $("dataset").add(new Option(d.name, d.name));
  $("dataset").onchange = fillSplits;
  $("split").onchange = fillThumbs;
  if (ds.length) fillSplits();
}

function fillSplits() {
  const d = state.datasets.find((d) => d.name === $("dataset").value);
  $("split").innerHTML = "";
  for (const s of d.splits) $("split").add(new Option(s.name + " (" + s.images + ")", s.name));
  fillThumbs();
}

async function fillThumbs() {
  const list = await api("/api/images?dataset=" + encodeURIComponent($("dataset").value) +
    "&split=" + encodeURIComponent($("split").value));
  const box = $("thumbs");
  box.innerHTML = "";
  for (const im of list) {
    const t = document.createElement("img");
    t.src = "/api/image?id=" + encodeURIComponent(im.id);
    t.dataset.id = im.id;
    t.title = im.id;
    t.onclick = () => selectImage(im.id, t);
    box.appendChild(t);
  }
}

function renderOptions() {
  const e = state.estimators.find((e) => e.name === $("estimator").value);
  const div = $("options");
  div.innerHTML = "";
  for (const [k, v] of Object.entries(e.options)) {
    const l = document.createElement("label");
    l.textContent = k + " ";
    const i = document.createElement("input");
    i.dataset.key = k; i.dataset.def = v; i.value = v; i.size = 8;
    i.onchange = predict;
    l.appendChild(i); div.appendChild(l);
  }
}

function options() {
  return [...$("options").querySelectorAll("input")]
    .filter((i) => i.value !== i.dataset.def).map((i) => i.dataset.key + "=" + i.value).join(",");
}

async function selectImage(id, thumb) {
  document.querySelectorAll("#thumbs img").forEach((t) => t.classList.remove("selected"));
  if (thumb) thumb.classList.add("selected");
  state.image = id; state.box = null; state.points = []; state.last = null;
  const img = new Image();
  await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; img.src = "/api/image?id=" + encodeURIComponent(id); });
  state.img = img;
  const s = Math.min(VIEW / img.width, VIEW / img.height, 4);
  state.scale = s;
  $("canvas").width = Math.round(img.width * s);
  $("canvas").height = Math.round(img.height * s);
  $("result").dataset.image = id;
  delete $("result").dataset.mask;
  draw();
}

function request() {
  return { image: state.image, box: state.box, estimator: $("estimator").value, options: options(),
    points: state.points.map((p) => [p[0], p[1], p[2]]), seed: Number($("seed").value) || 0,
    refine: $("refine").value || null };
}

async function predict() {
  if (!state.image || (!state.box && !state.points.length)) return;
  const done = busy("computing (the first prompt on an image encodes it)");
  showError("");
  const t0 = performance.now();
  const req = request();
  try {
    const r = await api("/api/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req) });
    done();
    state.last = r;
    const mask = new Image();
    await new Promise((ok) => { mask.onload = ok; mask.src = "data:image/png;base64," + r.mask_png; });
    state.maskImg = mask;
    $("heat").src = "data:image/png;base64," + r.uncertainty_png;
    $("heat").width = $("canvas").width;
    $("umax").textContent = r.uncertainty_max.toPrecision(3);
    $("error-fig").hidden = !r.error_png;
    if (r.error_png) { $("errmap").src = "data:image/png;base64," + r.error_png; $("errmap").width = $("canvas").width; }
    const m = r.metrics;
    $("metrics").innerHTML = "<tr><td>predicted IoU</td><td>" + r.predicted_iou.toFixed(3) + "</td></tr>" + (m ?
      ["IoU", "pearson", "auroc", "ECE"].map((k) => "<tr><td>" + k + "</td><td>" + (m[k] == null ? "n/a" : Number(m[k]).toFixed(3)) + "</td></tr>").join("") : "<tr><td colspan=2>no ground truth</td></tr>");
    const res = $("result");
    res.dataset.mask = r.mask_png; res.dataset.uncertainty = r.uncertainty_png; res.dataset.estimator = r.estimator;
    res.dataset.request = JSON.stringify(req); res.dataset.refined = r.refined || "";
    status(r.estimator + (r.refined ? ", refined by " + r.refined : "") + ": " + Math.round(performance.now() - t0) + " ms");
    draw();
  } catch (e) { done(); status(""); showError(e.message); }
}

function draw() {
  const c = $("canvas"), g = c.getContext("2d"), s = state.scale || 1;
  g.clearRect(0, 0, c.width, c.height);
  if (state.img) g.drawImage(state.img, 0, 0, c.width, c.height);
  if (state.maskImg && state.last) outline(g, c, s);
  g.lineWidth = 2;
  const b = state.drag || state.box;
  if (b) { g.strokeStyle = "#ffeb3b"; g.strokeRect(b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s); }
  for (const p of state.points) {
    g.fillStyle = p[2] ? "#00e676" : "#ff1744";
    g.beginPath(); g.arc(p[0] * s, p[1] * s, 5, 0, 7); g.fill();
  }
}

// The mask outline: mask pixels with a background 4-neighbour.
function outline(g, c, s) {
  const m = state.maskImg, w = m.width, h = m.height;
  const off = document.createElement("canvas"); off.width = w; off.height = h;
  const og = off.getContext("2d"); og.drawImage(m, 0, 0);
  const d = og.getImageData(0, 0, w, h).data;
  const on = (x, y) => x >= 0 && y >= 0 && x < w && y < h && d[4 * (y * w + x)] > 127;
  const out = og.createImageData(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = 4 * (y * w + x);
    if (on(x, y)) { out.data[i] = 0; out.data[i + 1] = 180; out.data[i + 2] = 255; out.data[i + 3] = 70; }
    if (on(x, y) && (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1))) {
      out.data[i] = 0; out.data[i + 1] = 229; out.data[i + 2] = 255; out.data[i + 3] = 255;
    }
  }
  og.putImageData(out, 0, 0);
  // What was drawn, for the browser test: the mask as the page read it from the PNG.
  let bits = "";
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) bits += on(x, y) ? "1" : "0";
  $("result").dataset.drawn = bits;
  g.imageSmoothingEnabled = false;
  g.drawImage(off, 0, 0, c.width, c.height);
}

function imagePoint(ev) {
  const r = $("canvas").getBoundingClientRect(), s = state.scale || 1;
  const x = Math.min(Math.max((ev.clientX - r.left) / s, 0), state.img.width);
  const y = Math.min(Math.max((ev.clientY - r.top) / s, 0), state.img.height);
  return [Math.round(x), Math.round(y)];
}

$("canvas").addEventListener("mousedown", (ev) => {
  if (!state.img || ev.button !== 0) return;
  const p = imagePoint(ev); state.drag = [p[0], p[1], p[0], p[1]]; state.start = p;
});
$("canvas").addEventListener("mousemove", (ev) => {
  if (!state.drag) return;
  const p = imagePoint(ev), a = state.start;
  state.drag = [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])];
  draw();
});
window.addEventListener("mouseup", (ev) => {
  if (!state.drag) return;
  const b = state.drag; state.drag = null;
  if (b[2] - b[0] < 3 && b[3] - b[1] < 3) state.points.push([state.start[0], state.start[1], 1]);
  else state.box = b;
  draw(); predict();
});
$("canvas").addEventListener("contextmenu", (ev) => {
  ev.preventDefault();
  if (!state.img) return;
  const p = imagePoint(ev); state.points.push([p[0], p[1], 0]); draw(); predict();
});
$("clear").onclick = () => { state.box = null; state.points = []; state.last = null; state.maskImg = null; draw(); };
$("estimator").onchange = () => { renderOptions(); predict(); };
$("seed").onchange = predict;
$("refine").onchange = predict;

$("suggest").onclick = async () => {
  if (!state.image || (!state.box && !state.points.length)) { showError("prompt first: drag a box or click"); return; }
  try {
    const r = await api("/api/suggest-click", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request()) });
    if (!r.click) { status("no uncertain pixel: nothing to suggest"); return; }
    state.points.push([r.click.x, r.click.y, r.click.positive ? 1 : 0]);
    draw(); predict();
  } catch (e) { showError(e.message); }
};

$("compare-btn").onclick = async () => {
  if (!state.image || (!state.box && !state.points.length)) { showError("prompt first: drag a box or click"); return; }
  const div = $("compare"); div.innerHTML = "";
  let k = 0;
  for (const e of state.estimators) {
    const done = busy("comparing: " + e.name + " (" + (++k) + " of " + state.estimators.length + ")");
    try {
      const r = await api("/api/predict", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...request(), estimator: e.name, options: "", refine: null }) });
      const f = document.createElement("figure");
      f.innerHTML = "<img src='data:image/png;base64," + r.uncertainty_png + "'><figcaption>" + e.name +
        " (max " + r.uncertainty_max.toPrecision(3) + (r.metrics ? ", IoU " + r.metrics.IoU.toFixed(3) : "") + ")</figcaption>";
      div.appendChild(f);
    } catch (err) { showError(e.name + ": " + err.message); }
    done();
  }
  status("");
  div.dataset.done = String(k);
};

$("upload").onchange = async () => {
  const f = $("upload").files[0];
  if (!f) return;
  showError("");
  try {
    const r = await api("/api/upload", { method: "POST", body: await f.arrayBuffer() });
    await selectImage(r.id, null);
  } catch (e) { showError(e.message); }
};

function download(name, href) { const a = document.createElement("a"); a.href = href; a.download = name; a.click(); }
$("dl-mask").onclick = () => state.last && download("mask.png", "data:image/png;base64," + state.last.mask_png);
$("dl-unc").onclick = () => state.last && download("uncertainty.png", "data:image/png;base64," + state.last.uncertainty_png);
$("dl-metrics").onclick = () => state.last && download("metrics.json",
  "data:application/json," + encodeURIComponent(JSON.stringify({ estimator: state.last.estimator, predicted_iou: state.last.predicted_iou, metrics: state.last.metrics }, null, 2)));

init().catch((e) => showError(e.message));
