// TF.js IO handlers over plain files (pure JavaScript, no tfjs-node): the shape of tfjs-node's
// file:// handler, which the original project's trainer saved with and its services loaded from.
import fs from "node:fs";
import path from "node:path";

/** A handler that loads a layers model from its model.json and the shards it names. */
export function fileLoader(modelJson) {
  return {
    async load() {
      const model = JSON.parse(fs.readFileSync(modelJson, "utf8"));
      const folder = path.dirname(modelJson);
      const weightSpecs = [];
      const buffers = [];
      for (const group of model.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(folder, shard)));
      }
      const joined = Buffer.concat(buffers);
      return {
        modelTopology: model.modelTopology,
        weightSpecs,
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy,
      };
    },
  };
}

/** A handler that saves a layers model as `folder/model.json` + `folder/weights.bin`. */
export function fileSaver(folder) {
  return {
    async save(artifacts) {
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, "weights.bin"), Buffer.from(artifacts.weightData));
      const model = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      };
      fs.writeFileSync(path.join(folder, "model.json"), JSON.stringify(model));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    },
  };
}

/** `count` float32 images of `shape` from a raw little-endian file. */
export function readFloat32(file) {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
