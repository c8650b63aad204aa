/**
 * `npm run bench:calls`: what a runtime pays on the host per product. For each mode: the first
 * call on a fresh matrix without `prepareMatVec` (shader compilation inside the call), the first
 * call after it, and the steady cost of recording one product into an encoder (many calls in a
 * row, nothing submitted). Node + Dawn; `--rows`, `--cols`, `--calls`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { fusedMatVec, prepareMatVec } from '../src/gpu/matvec.js';
import { uploadMatrix } from '../src/gpu/upload.js';
import { requestNodeDevice } from '../src/node/device.js';
import { compressMatrix } from '../src/pipeline.js';
import { gaussianWeights } from './synthetic.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('not a positive integer');
  return n;
};
const o = new Command('bench:calls').option('--rows <n>', 'matrix rows', int, 256).option('--cols <n>', 'matrix columns', int, 1024)
  .option('--calls <n>', 'products recorded for the steady figure', int, 2000).parse().opts<{ rows: number; cols: number; calls: number }>();

const nd = await requestNodeDevice();
const { device } = nd;
console.log(`${o.rows}×${o.cols}, Node + Dawn on ${nd.description}${nd.software ? ' — software (SwiftShader)' : ''}`);
const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const x = device.createBuffer({ size: 6 * o.cols * 4, usage }), y = device.createBuffer({ size: 6 * o.rows * 4, usage });
const ms = (t0: number) => performance.now() - t0;
console.log('mode, M cold/warm    first call, cold   prepareMatVec   first call, prepared   steady µs/call');
for (const [i, mode] of (['fused', 'decode-then-q4', 'q4'] as const).entries()) {
  // Every run uses a vector count (M = 1 … 6), lane length and pair-table precision no earlier run
  // compiled pipelines for: "cold" really compiles, and prepareMatVec really has work to do.
  const compress = (precision: number) => {
    const c = compressMatrix({ name: 'w', rows: o.rows, cols: o.cols, kind: 'float', weights: gaussianWeights(o.rows * o.cols, 1) }, { symbolsPerLane: 128 << i, precision });
    return uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true });
  };
  const cold = compress(11);
  let t0 = performance.now();
  fusedMatVec(device, cold, x, { encoder: device.createCommandEncoder(), output: y, mode, vectors: 2 * i + 1 });
  const vectors = 2 * i + 2;
  const coldMs = ms(t0);
  const warm = compress(12);
  t0 = performance.now();
  await prepareMatVec(device, warm, { modes: [mode], vectors: [vectors] });
  const prepareMs = ms(t0);
  t0 = performance.now();
  fusedMatVec(device, warm, x, { encoder: device.createCommandEncoder(), output: y, mode, vectors });
  const preparedMs = ms(t0);
  const encoder = device.createCommandEncoder();
  t0 = performance.now();
  for (let k = 0; k < o.calls; k++) fusedMatVec(device, warm, x, { encoder, output: y, mode, vectors });
  const steadyUs = (ms(t0) / o.calls) * 1e3;
  console.log(`${`${mode}, M=${vectors - 1}/${vectors}`.padEnd(20)} ${`${coldMs.toFixed(1)} ms`.padStart(17)} ${`${prepareMs.toFixed(0)} ms`.padStart(15)} ${`${preparedMs.toFixed(2)} ms`.padStart(22)} ${steadyUs.toFixed(1).padStart(16)}`);
  cold.destroy();
  warm.destroy();
}
device.destroy();
