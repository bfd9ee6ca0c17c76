"use strict";
const $ = (id) => document.getElementById(id);
let hints = {};

fetch("v1/model").then((r) => r.json()).then((m) => {
  hints = m.hints || {};
  const acc = m.val_accuracy ? `, ${(100 * m.val_accuracy).toFixed(1)}% on validation` : "";
  $("model").textContent = `${m.backbone} · ${m.classes.length} classes${acc}`;
}).catch(() => { $("model").textContent = "Model information unavailable"; });

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = false;
}

async function classify(file) {
  $("error").hidden = true;
  $("result").hidden = true;
  const url = URL.createObjectURL(file);
  $("preview").src = url;
  $("preview").hidden = false;
  $("prompt").hidden = true;
  const body = new FormData();
  body.append("image", file);
  try {
    const r = await fetch("v1/classify", { method: "POST", body });
    const j = await r.json();
    if (!r.ok) { showError(j.error ? j.error.message : `HTTP ${r.status}`); return; }
    render(j);
  } catch (e) {
    showError(`Request failed: ${e}`);
  }
}

function render(j) {
  $("result").classList.toggle("unsure", !!j.unsure);
  if (j.unsure) {
    $("label").textContent = "not sure: please check";
    $("confidence").textContent = `best guess ${j.guess}, ${(100 * j.confidence).toFixed(1)}%`;
    $("hint").textContent = `The model is below its ${(100 * j.min_confidence).toFixed(0)}% confidence threshold for this photo. Look at the item yourself, or try a closer photo on a plain background.`;
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
  $("latency").textContent = `${j.latency_ms.toFixed(0)} ms · model ${j.model}`;
  $("result").hidden = false;
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) classify(e.target.files[0]); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) classify(f); });
