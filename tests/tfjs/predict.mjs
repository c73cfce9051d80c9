// Predict with TF.js layers models: `node predict.mjs JOBS.json`. Each job is
// {"model": ".../model.json", "input": "x.f32", "shape": [n, 28, 28, 1], "output": "probs.f32"}:
// the model is loaded through tf.loadLayersModel with a file handler, the raw float32 input fed to
// it, and its outputs written as raw float32. A job whose model fails to load gets {"error"} in the
// summary printed on stdout (one JSON line) instead of failing the others.
import fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { fileLoader, readFloat32 } from "./files.mjs";

await tf.setBackend("cpu");
const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const summary = [];
for (const job of jobs) {
  try {
    const model = await tf.loadLayersModel(fileLoader(job.model));
    const input = tf.tensor(readFloat32(job.input), job.shape, "float32");
    const output = model.predict(input);
    fs.writeFileSync(job.output, Buffer.from((await output.data()).buffer));
    summary.push({ model: job.model, outputShape: output.shape });
    tf.dispose([input, output]);
    model.dispose();
  } catch (error) {
    summary.push({ model: job.model, error: String(error && error.message ? error.message : error) });
  }
}
console.log(JSON.stringify({ tfjs: tf.version.tfjs, backend: tf.getBackend(), jobs: summary }));
