"use strict";
const $ = (id) => document.getElementById(id);
let hints = {};
let lastFile = null;
let lastToken = "";
let feedbackOn = false;

fetch("v1/model").then((r) => r.json()).then((m) => {
  hints = m.hints || {};
  feedbackOn = !!m.feedback;
  const sel = $("feedback-class");
  m.classes.forEach((c) => { const o = document.createElement("option"); o.value = c; o.textContent = c; sel.appendChild(o); });
  const acc = m.val_accuracy ? `, ${(100 * m.val_accuracy).toFixed(1)}% on validation` : "";
  $("model").textContent = `${m.backbone} · ${m.classes.length} classes${acc}`;
}).catch(() => { $("model").textContent = "Model information unavailable"; });

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = false;
}

async function classify(file) {
  lastFile = file;
  $("error").hidden = true;
  $("result").hidden = true;
  const url = URL.createObjectURL(file);
  $("preview").src = url;
  $("preview").hidden = false;
  $("prompt").hidden = true;
  const body = new FormData();
  body.append("image", file);
  try {
    const r = await fetch($("explain").checked ? "v1/classify?explain=1" : "v1/classify", { method: "POST", body });
    const j = await r.json();
    if (!r.ok) { showError(j.error ? j.error.message : `HTTP ${r.status}`); return; }
    render(j);
  } catch (e) {
    showError(`Request failed: ${e}`);
  }
}

function render(j) {
  $("result").classList.toggle("unsure", !!j.unsure || !!j.unknown);
  if (j.unknown) {
    $("label").textContent = "not something I know";
    $("confidence").textContent = `closest class ${j.guess}, ${(100 * j.confidence).toFixed(1)}%`;
    $("hint").textContent = j.message;
  } else if (j.unsure) {
    $("label").textContent = "not sure: please check";
    $("confidence").textContent = `best guess ${j.guess}, ${(100 * j.confidence).toFixed(1)}%`;
    $("hint").textContent = `The model is below its ${Math.floor(1000 * j.min_confidence) / 10}% confidence threshold for this photo. Look at the item yourself, or try a closer photo on a plain background.`;
  } else {
    $("label").textContent = j.label;
    $("confidence").textContent = `${(100 * j.confidence).toFixed(1)}%`;
    $("hint").textContent = j.hint || hints[j.label] || "";
  }
  $("hint").hidden = !$("hint").textContent;
  const bars = $("bars");
  bars.replaceChildren();
  Object.entries(j.probabilities).sort((a, b) => b[1] - a[1]).forEach(([name, p]) => {
    const li = document.createElement("li");
    li.dataset.class = name;
    if (name === j.guess) li.className = "top";
    const n = document.createElement("span"); n.textContent = name;
    const t = document.createElement("span"); t.className = "track";
    const f = document.createElement("span"); f.className = "fill"; f.style.width = `${(100 * p).toFixed(1)}%`;
    t.appendChild(f);
    const pct = document.createElement("span"); pct.className = "pct"; pct.textContent = `${(100 * p).toFixed(1)}%`;
    li.append(n, t, pct);
    bars.appendChild(li);
  });
  $("heatmap").hidden = !j.heatmap_png;
  if (j.heatmap_png) $("heatmap").src = `data:image/png;base64,${j.heatmap_png}`;
  $("feedback").hidden = !feedbackOn;
  $("feedback-status").textContent = "";
  $("feedback-class").value = j.guess;
  lastToken = j.feedback_token || "";
  $("latency").textContent = `${j.latency_ms.toFixed(0)} ms · model ${j.model}`;
  $("result").hidden = false;
}

$("feedback").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!lastFile) return;
  const label = $("feedback-class").value;
  const body = new FormData();
  body.append("image", lastFile);
  body.append("label", label);
  if (lastToken) body.append("token", lastToken);
  $("send-feedback").disabled = true;
  try {
    const r = await fetch("v1/feedback", { method: "POST", body });
    const j = await r.json();
    $("feedback-status").textContent = r.ok ? `Thanks: saved as ${j.label}` : (j.error ? j.error.message : `HTTP ${r.status}`);
  } catch (err) {
    $("feedback-status").textContent = `Request failed: ${err}`;
  } finally {
    $("send-feedback").disabled = false;
  }
});

$("explain").addEventListener("change", () => { if (lastFile) classify(lastFile); });

$("file").addEventListener("change", (e) => { if (e.target.files[0]) classify(e.target.files[0]); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) classify(f); });
