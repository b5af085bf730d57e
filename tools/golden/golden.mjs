// Runs TF.js graph models on the CPU backend and writes their outputs, as the converter's reference.
// Usage: node golden.mjs MODELS_DIR WORK_DIR   (WORK_DIR holds <model>.json specs and .u8 inputs)
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';

const [modelsDir, workDir] = process.argv.slice(2);
await tf.setBackend('cpu');

function handler(name) {
  // An IOHandler reading model.json and its shards from disk, as tfjs-node's file:// would.
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(modelsDir, `${name}.json`), 'utf8'));
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const bufs = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(modelsDir, p))));
      const all = Buffer.concat(bufs);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format };
    },
  };
}

for (const file of fs.readdirSync(workDir).filter((f) => f.endsWith('.spec.json'))) {
  const spec = JSON.parse(fs.readFileSync(path.join(workDir, file), 'utf8'));
  const model = await loadGraphModel(handler(spec.model));
  const u8 = fs.readFileSync(path.join(workDir, `${spec.model}.u8`));
  // scale is a power of two and offset an integer, so the float32 values are exact in both languages.
  const x = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) x[i] = u8[i] * spec.scale + spec.offset;
  const input = tf.tensor(x, spec.shape, 'float32');
  const names = model.outputs.map((o) => o.name);
  let outs = model.execute(input, names);
  if (!Array.isArray(outs)) outs = [outs];
  const result = {};
  for (let i = 0; i < names.length; i++) {
    const data = outs[i].dataSync();
    fs.writeFileSync(path.join(workDir, `${spec.model}.${i}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    result[names[i]] = { index: i, shape: outs[i].shape };
  }
  fs.writeFileSync(path.join(workDir, `${spec.model}.out.json`), JSON.stringify(result));
  console.log(spec.model, JSON.stringify(result));
}
