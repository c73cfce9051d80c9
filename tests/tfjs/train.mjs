// Train a network the way the original TF.js project's trainer did, and save it through a TF.js
// save handler to files: `node train.mjs JOB.json`, where the job is
// {"config": {layers: [{type, parameters}], epochs, batchSize, validationSplit},
//  "train": "images.u8", "labels": "labels.u8", "count": n, "test": "test.u8", "testCount": m,
//  "out": "folder", "probabilities": "probs.f32"}
// Images are raw uint8 28x28 (MNIST's bytes), labels uint8. The model is built with
// tf.layers[type](parameters) from the config, compiled with rmsprop and categorical cross-entropy
// (the original's defaults), fitted, saved as folder/model.json + folder/weights.bin, and its
// probabilities for the test images written as raw float32.
import fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { fileSaver } from "./files.mjs";

await tf.setBackend("cpu");
const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

function images(file, count) {
  const bytes = fs.readFileSync(file);
  return tf.tidy(() => tf.tensor(Uint8Array.from(bytes.subarray(0, count * 784)), [count, 28, 28, 1], "int32")
    .toFloat().div(255));
}

const model = tf.sequential();
for (const layer of job.config.layers) model.add(tf.layers[layer.type](layer.parameters || {}));
model.compile({ optimizer: job.config.optimizer || "rmsprop", loss: "categoricalCrossentropy", metrics: ["accuracy"] });

const xs = images(job.train, job.count);
const labels = fs.readFileSync(job.labels).subarray(0, job.count);
const ys = tf.oneHot(tf.tensor1d(Int32Array.from(labels), "int32"), 10).toFloat();
const history = await model.fit(xs, ys, {
  epochs: job.config.epochs, batchSize: job.config.batchSize, validationSplit: job.config.validationSplit,
  shuffle: true, verbose: 0,
});
await model.save(fileSaver(job.out));

const test = images(job.test, job.testCount);
const probabilities = model.predict(test);
fs.writeFileSync(job.probabilities, Buffer.from((await probabilities.data()).buffer));
console.log(JSON.stringify({
  tfjs: tf.version.tfjs, layers: model.layers.map((l) => l.getClassName()),
  accuracy: history.history.acc ?? history.history.accuracy, weights: model.weights.map((w) => w.name),
}));
