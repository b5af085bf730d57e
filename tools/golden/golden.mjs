// Runs TF.js models on TensorFlow.js's pure-JavaScript CPU backend and writes their outputs, as the
// converter's reference. Usage: node golden.mjs MODELS_DIR WORK_DIR
// WORK_DIR holds <id>.spec.json files and their .u8 inputs; each spec is one of:
//  - a graph model: {model, shape, scale, offset[, id, outputs, dtype]}: MODELS_DIR/<model>.json run
//    on u8 * scale + offset (dtype "int32": the u8 values as integers); `outputs` names the nodes
//    to return (intermediate ones too; default the model's outputs); graphs with control flow run
//    with executeAsync. With `input: "f32"` the input is <id>.f32in, float32 values as they are
//    (a pre-processing no single scale and offset expresses, such as a per-channel mean and std).
//  - a face-api network: {faceapi, manifest, shape, id, options}: face-api.js's own code (the
//    published build of @vladmandic/face-api, on tfjs-core and this CPU backend) with the weights
//    of MANIFEST (a weights manifest beside its shards), run on the u8 picture: the network's raw
//    outputs and the faces it reports.
import fs from 'node:fs';
import path from 'node:path';
import { register } from 'node:module';
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

function save(id, names, tensors, extra = {}) {
  const result = {};
  for (let i = 0; i < names.length; i++) {
    const data = tensors[i].dataSync();
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    fs.writeFileSync(path.join(workDir, `${id}.${i}.f32`), Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength));
    result[names[i]] = { index: i, shape: tensors[i].shape };
  }
  fs.writeFileSync(path.join(workDir, `${id}.out.json`), JSON.stringify({ ...extra, outputs: result }));
  console.log(id, JSON.stringify(result));
}

function chainOps() {
  // face-api calls ops as tensor methods (x.div(255), x.as3D(...)): the union @tensorflow/tfjs
  // package registers these thin wrappers, tfjs-core alone does not. Each is exactly the op.
  const proto = tf.Tensor.prototype;
  for (const [name, op] of Object.entries(tf)) {
    if (typeof op === 'function' && !(name in proto) && /^[a-z]/.test(name)) {
      proto[name] = function chained(...args) { return op(this, ...args); };
    }
  }
  const reshape = function asND(...shape) { return tf.reshape(this, shape); };
  for (const n of ['as1D', 'as2D', 'as3D', 'as4D', 'as5D']) proto[n] = reshape;
  proto.asScalar = function asScalar() { return tf.reshape(this, []); };
  proto.asType = function asType(dtype) { return tf.cast(this, dtype); };
  proto.toInt = function toInt() { return tf.cast(this, 'int32'); };
  proto.toFloat = function toFloat() { return tf.cast(this, 'float32'); };
  proto.toBool = function toBool() { return tf.cast(this, 'bool'); };
}

let faceapi = null;
async function loadFaceApi() {
  chainOps();
  // face-api's published ESM build imports the whole of @tensorflow/tfjs and two GPU backends;
  // this hook hands it tfjs-core (the same module instance as here, CPU backend) and empty GPU
  // modules, so that it runs on exactly the kernels the graph models above run on.
  const hooks = `
    export async function resolve(specifier, context, next) {
      if (specifier === '@tensorflow/tfjs/dist/index.js') return next('@tensorflow/tfjs-core', context);
      if (specifier.startsWith('@tensorflow/tfjs-backend-webgl') || specifier.startsWith('@tensorflow/tfjs-backend-wasm')) {
        return { url: 'data:text/javascript,export {}', shortCircuit: true };
      }
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  return import('@vladmandic/face-api/dist/face-api.esm-nobundle.js');
}

function weightMap(manifestPath) {
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const dir = path.dirname(manifestPath);
  const specs = manifest.flatMap((g) => g.weights);
  const all = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  return tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), specs);
}

async function runFaceApi(spec, u8) {
  faceapi = faceapi || (await loadFaceApi());
  const image = tf.tensor(Int32Array.from(u8), spec.shape, 'int32');
  const options = spec.options || {};
  if (spec.faceapi === 'ssdMobilenetv1') {
    const net = new faceapi.SsdMobilenetv1();
    net.loadFromWeightMap(weightMap(spec.manifest));
    const input = await faceapi.toNetInput(image);
    const { boxes, scores } = net.forwardInput(input);
    const faces = await net.locateFaces(image, options);
    const found = faces.map((f) => ({ score: f.score, box: [f.box.x, f.box.y, f.box.width, f.box.height] }));
    save(spec.id, ['boxes', 'scores'], [boxes[0], scores[0]], { faces: found });
  } else if (spec.faceapi === 'tinyFaceDetector') {
    const net = new faceapi.TinyFaceDetector();
    net.loadFromWeightMap(weightMap(spec.manifest));
    const input = await faceapi.toNetInput(image);
    const out = net.forwardInput(input, options.inputSize);
    const faces = await net.locateFaces(image, options);
    const found = faces.map((f) => ({ score: f.score, box: [f.box.x, f.box.y, f.box.width, f.box.height] }));
    save(spec.id, ['output'], [out], { faces: found });
  } else {
    throw new Error(`unknown face-api network ${spec.faceapi}`);
  }
}

for (const file of fs.readdirSync(workDir).filter((f) => f.endsWith('.spec.json')).sort()) {
  const spec = JSON.parse(fs.readFileSync(path.join(workDir, file), 'utf8'));
  spec.id = spec.id || spec.model;
  if (spec.input === 'f32') {
    const buf = fs.readFileSync(path.join(workDir, `${spec.id}.f32in`));
    const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const model = await loadGraphModel(handler(spec.model));
    const names = spec.outputs || model.outputs.map((o) => o.name);
    let outs = await model.executeAsync(tf.tensor(x, spec.shape, 'float32'), names);
    if (!Array.isArray(outs)) outs = [outs];
    save(spec.id, names, outs);
    continue;
  }
  const u8 = fs.readFileSync(path.join(workDir, `${spec.id}.u8`));
  if (spec.faceapi) {
    await runFaceApi(spec, u8);
    continue;
  }
  const model = await loadGraphModel(handler(spec.model));
  let input;
  if (spec.dtype === 'int32') {
    input = tf.tensor(Int32Array.from(u8), spec.shape, 'int32');
  } else {
    // scale is a power of two and offset an integer, so the float32 values are exact in both languages.
    const x = new Float32Array(u8.length);
    for (let i = 0; i < u8.length; i++) x[i] = u8[i] * spec.scale + spec.offset;
    input = tf.tensor(x, spec.shape, 'float32');
  }
  const names = spec.outputs || model.outputs.map((o) => o.name);
  let outs = spec.outputs ? await model.executeAsync(input, names) : model.execute(input, names);
  if (!Array.isArray(outs)) outs = [outs];
  save(spec.id, names, outs);
}
