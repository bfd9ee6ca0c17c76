// Runs an ONNX model in ONNX Runtime (onnxruntime-node) on a raw float32
// input file and writes the "probabilities" output as raw float32.
// Usage: node run_ort.js MODEL INPUT N H W C OUTPUT
"use strict";
const fs = require("fs");
const ort = require("onnxruntime-node");

async function main() {
  const [model, input, n, h, w, c, output] = process.argv.slice(2);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const session = await ort.InferenceSession.create(model);
  const feeds = { pixels: new ort.Tensor("float32", data, [n, h, w, c].map(Number)) };
  const res = await session.run(feeds);
  const p = res.probabilities;
  fs.writeFileSync(output, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  console.log(JSON.stringify({ inputs: session.inputNames, outputs: session.outputNames, dims: p.dims }));
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
