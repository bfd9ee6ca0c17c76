// Builds a trashsort Keras export in TensorFlow.js, an implementation of the
// Keras layers independent of trashsort, and writes its predictions on raw
// float32 pixels as raw float32.
//   .h5:  the file is read with h5wasm (libhdf5 compiled to WebAssembly, not
//         trashsort's reader), its model_config built with
//         tf.models.modelFromJSON and each layer's weights set from
//         model_weights/<layer>/<weight_names[i]> with layer.setWeights;
//   tfjs: the folder's model.json is loaded with tf.loadLayersModel.
// Pixels in [0, 255] are preprocessed here, from the export's own metadata,
// unless the model holds a Rescaling layer.
// Usage: node run_keras.mjs MODULES h5|tfjs MODEL INPUT N H W C OUTPUT
// MODULES is a node_modules folder holding @tensorflow/tfjs and h5wasm;
// TRASHSORT_TFJS_BACKEND=wasm runs on @tensorflow/tfjs-backend-wasm where
// it is installed there (default: cpu, TensorFlow.js' plain JavaScript kernels).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, kind, model, input, ...rest] = process.argv.slice(2);
const [n, h, w, c] = rest.slice(0, 4).map(Number);
const output = rest[4];
const require = createRequire(join(modules, "noop.js"));
const tf = require("@tensorflow/tfjs");

async function backend() {
  const want = process.env.TRASHSORT_TFJS_BACKEND || "cpu";
  if (want === "wasm") {
    const wasm = require("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(pathToFileURL(dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))).href + "/");
  }
  await tf.setBackend(want);
  await tf.ready();
}

// array is an attribute's value as a list (h5wasm gives one string for a
// one-element list in some versions, and nothing for an empty one).
function array(v) {
  if (v == null) return [];
  if (typeof v === "string") return [v];
  return Array.from(v);
}

// keras-style list attribute, split by Keras into name0, name1, ... when long.
function listAttr(obj, name) {
  if (name in obj.attrs) return array(obj.attrs[name].value);
  let out = [];
  for (let k = 0; `${name}${k}` in obj.attrs; k++) out = out.concat(array(obj.attrs[`${name}${k}`].value));
  return out;
}

async function fromH5(path) {
  const pkg = JSON.parse(readFileSync(join(modules, "h5wasm", "package.json"), "utf8"));
  const { default: h5wasm } = await import(pathToFileURL(join(modules, "h5wasm", pkg.exports["./node"].import)).href);
  await h5wasm.ready;
  const f = new h5wasm.File(path, "r");
  const attr = (name) => f.attrs[name].value;
  const info = JSON.parse(attr("trashsort"));
  const config = JSON.parse(attr("model_config"));
  const m = await tf.models.modelFromJSON(config);
  const mw = f.get("model_weights");
  let set = 0, values = 0;
  for (const name of listAttr(mw, "layer_names")) {
    const wn = listAttr(f.get(`model_weights/${name}`), "weight_names");
    if (wn.length === 0) continue;
    const ws = wn.map((wname) => {
      const d = f.get(`model_weights/${name}/${wname}`);
      values += d.shape.reduce((a, b) => a * b, 1);
      const v = d.value;
      return tf.tensor(v instanceof Float32Array ? v : Float32Array.from(v, Number), d.shape, "float32");
    });
    m.getLayer(name).setWeights(ws);
    ws.forEach((t) => t.dispose());
    set++;
  }
  const want = m.layers.filter((l) => l.weights.length > 0).length;
  if (set !== want) throw new Error(`weights set for ${set} layers, the model has ${want} with weights`);
  const extra = { keras_version: attr("keras_version"), keras_backend: attr("backend"), weight_values: values };
  f.close();
  return { m, info, extra };
}

async function fromTFJS(path) {
  const dir = dirname(path);
  const json = JSON.parse(readFileSync(path, "utf8"));
  // A small IO handler: tf.io.fromMemory with the shards read from the folder.
  const buffers = [];
  for (const group of json.weightsManifest) for (const p of group.paths) buffers.push(readFileSync(join(dir, p)));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const m = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, userDefinedMetadata: json.userDefinedMetadata }), { strict: true });
  return { m, info: json.userDefinedMetadata.trashsort, extra: { format: json.format, shards: buffers.length } };
}

async function main() {
  await backend();
  const t0 = performance.now();
  const { m, info, extra } = kind === "h5" ? await fromH5(model) : await fromTFJS(model);
  const loadMs = performance.now() - t0;
  const buf = readFileSync(input);
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  if (x.length !== n * h * w * c) throw new Error(`input holds ${x.length} values, want ${n * h * w * c}`);
  if (!info.preprocessing_in_model) {
    for (let i = 0; i < x.length; i++) x[i] = x[i] * info.scale[i % c] + info.offset[i % c];
  }
  const k = info.classes.length;
  const out = new Float32Array(n * k);
  const batch = 16;
  const t1 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const y = tf.tidy(() => m.predict(tf.tensor4d(x.subarray(i * h * w * c, (i + b) * h * w * c), [b, h, w, c])));
    out.set(y.dataSync(), i * k);
    y.dispose();
  }
  const predictMs = performance.now() - t1;
  writeFileSync(output, Buffer.from(out.buffer));
  console.log(JSON.stringify({ tfjs: tf.version.tfjs, backend: tf.getBackend(), layers: m.layers.length,
    output_shape: m.outputs[0].shape, load_ms: Math.round(loadMs), predict_ms: Math.round(predictMs), ...extra }));
}

main().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
