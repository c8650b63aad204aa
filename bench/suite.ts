/**
 * The benchmark suite proper, runtime-agnostic: it runs in a browser page (Chrome, any GPU) and
 * in Node through Dawn. For each shape it builds one set of weights, uploads it for every kernel,
 * verifies every kernel against the CPU reference, then times it.
 *
 * Method: warm-up; GPU timestamps around the timed passes when the device has timestamp-query
 * (wall clock always recorded too); median and p10/p90 over samples; weight buffers rotated
 * through at least `rotateBytes` so that "bandwidth" is DRAM bandwidth; bytes counted = every
 * byte a kernel must read (weights or streams, tables, scales, x).
 */
import {
  compressMatrix, decodeOnGpu, denseMatVec, F32_PRODUCT_TOLERANCE, fusedMatVec, maxRelativeError, packNibbles,
  recordDecodeOnly, referenceAbsProducts, referenceMatVec, uploadDense, uploadMatrix,
  type GpuDenseMatrix, type GpuMatrix, type MatVecMode,
} from '../src/index.js';
import type { CompressedMatrix } from '../src/pipeline.js';
import { dequantize, energyToDb, quantizationEnergy, quantize } from '../src/quantize/quantize.js';
import { groupsPerRow, type QuantizedMatrix } from '../src/quantize/types.js';
import { gaussianWeights, rng } from './synthetic.js';

/** The kernels measured side by side. */
export const KERNELS = ['dense-f32', 'q4', 'fused', 'decode', 'decode-then-q4'] as const;
export type KernelId = (typeof KERNELS)[number];

/** A matrix to benchmark: synthetic Gaussian weights, or real ones passed in `weights`. */
export interface Shape { name: string; rows: number; cols: number; weights?: ArrayLike<number> }

export interface SuiteConfig {
  shapes: Shape[];
  groupSize: number;
  /** Timed samples per kernel. */
  iterations: number;
  warmup: number;
  /** Products per sample (more amortize submission overhead and coarse timers). */
  dispatchesPerSample: number;
  /** Rotate weight copies until this many bytes are touched per kernel (0: one copy). */
  rotateBytes: number;
  /** Vectors per product (M). */
  vectors: number;
}

export interface Timing {
  /** Milliseconds per product: median, 10th and 90th percentile over samples. */
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  /** Where the median comes from: GPU timestamps or the wall clock. */
  source: 'timestamp' | 'wall';
  /** Wall-clock median per product, always recorded. */
  wallMedianMs: number;
}

export interface KernelResult {
  kernel: KernelId;
  /** Verified against the CPU reference before timing; a failed kernel is not timed. */
  verified: boolean;
  /** max |y − ref| / Σ|w·x| (0 for the bit-exact decode check). */
  maxRelErr: number;
  timing: Timing | null;
  /** Bytes the kernel must read per product. */
  bytes: number;
  gbps: number | null;
  /** Why the kernel was not run, when it was not. */
  skipped?: string;
}

export interface ShapeResult {
  shape: Shape;
  bitsPerWeight: number;
  entropyBits: number;
  scaleBitsPerWeight: number;
  sqnrDb: number;
  kernels: KernelResult[];
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Times `record` (one product per call) over samples. */
async function timeProducts(device: GPUDevice, config: SuiteConfig, record: (encoder: GPUCommandEncoder, i: number) => void): Promise<Timing> {
  const stamps = device.features.has('timestamp-query');
  const querySet = stamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const read = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  const gpuMs: number[] = [], wallMs: number[] = [];
  let k = 0, lastWall = 0;
  for (let s = 0; s < config.warmup + config.iterations; s++) {
    const encoder = device.createCommandEncoder();
    if (querySet) encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0 } }).end();
    for (let d = 0; d < config.dispatchesPerSample; d++) record(encoder, k++);
    if (querySet) {
      encoder.beginComputePass({ timestampWrites: { querySet, endOfPassWriteIndex: 1 } }).end();
      encoder.resolveQuerySet(querySet, 0, 2, resolve!, 0);
      encoder.copyBufferToBuffer(resolve!, 0, read!, 0, 16);
    }
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    // dawn.node busy-polls while a promise is pending: sleep through most of the expected time.
    if (lastWall > 2) await sleep(lastWall * 0.8);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    lastWall = wall;
    let gpu = NaN;
    if (read) {
      await read.mapAsync(GPUMapMode.READ);
      const [a, b] = new BigUint64Array(read.getMappedRange());
      gpu = Number(b - a) / 1e6;
      read.unmap();
    }
    if (s >= config.warmup) { wallMs.push(wall / config.dispatchesPerSample); gpuMs.push(gpu / config.dispatchesPerSample); }
  }
  querySet?.destroy(); resolve?.destroy(); read?.destroy();
  const useStamps = gpuMs.every((v) => Number.isFinite(v) && v > 0);
  const xs = useStamps ? gpuMs : wallMs;
  return { medianMs: percentile(xs, 0.5), p10Ms: percentile(xs, 0.1), p90Ms: percentile(xs, 0.9), source: useStamps ? 'timestamp' : 'wall', wallMedianMs: percentile(wallMs, 0.5) };
}

/** Weights per quantization chunk when synthesizing: bounds host memory for 128256×4096. */
const CHUNK_WEIGHTS = 1 << 24;

/**
 * Quantizes and encodes a shape's weights: the given real ones, or seeded Gaussian ones
 * synthesized and quantized a block of rows at a time (rows quantize independently).
 */
function prepare(shape: Shape, groupSize: number): CompressedMatrix {
  const { rows, cols } = shape;
  if (shape.weights) return compressMatrix({ name: shape.name, rows, cols, kind: 'float', weights: Float32Array.from(shape.weights) }, { groupSize });
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_WEIGHTS / cols));
  const indices = new Uint8Array(rows * cols);
  const gpr = groupsPerRow(cols, groupSize);
  const scales = new Uint16Array(rows * gpr), biases = new Uint16Array(rows * gpr);
  let signal = 0, noise = 0;
  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r0);
    const w = gaussianWeights(n * cols, (rows ^ (cols << 8)) + r0);
    const q = quantize(w, n, cols, { groupSize });
    indices.set(q.indices, r0 * cols);
    scales.set(q.scales, r0 * gpr);
    biases.set(q.biases!, r0 * gpr);
    const e = quantizationEnergy(w, dequantize(q));
    signal += e.signal;
    noise += e.noise;
  }
  const quantized: QuantizedMatrix = { rows, cols, quantizer: 'affine', groupSize, paramType: 'f16', indices, scales, biases };
  const imported = compressMatrix({ name: shape.name, rows, cols, kind: 'quantized', quantized }, { groupSize });
  return { ...imported, energy: { signal, noise }, stats: { ...imported.stats, sqnrDb: energyToDb({ signal, noise }) } };
}

/** Runs the suite on one device. `onProgress` gets a line per step. */
export async function runSuite(device: GPUDevice, config: SuiteConfig, onProgress: (line: string) => void = () => {}): Promise<ShapeResult[]> {
  const results: ShapeResult[] = [];
  for (const shape of config.shapes) {
    const { rows, cols } = shape;
    onProgress(`${shape.name} ${rows}×${cols}: quantize + encode`);
    const c = prepare(shape, config.groupSize);
    const xLen = config.vectors * cols;
    const next = rng(12345);
    const x = Float32Array.from({ length: xLen }, () => next() * 2 - 1);
    const xBuf = device.createBuffer({ size: x.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(xBuf, 0, x);
    const yBuf = device.createBuffer({ size: config.vectors * rows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const ref = referenceMatVec(c.quantized, x);
    const scale = referenceAbsProducts(c.quantized, x);
    const xBytes = x.byteLength;
    const copiesFor = (bytes: number) => Math.max(1, Math.min(64, Math.ceil(config.rotateBytes / bytes)));

    const kernels: KernelResult[] = [];
    const measure = async (kernel: KernelId, bytes: number, verify: () => Promise<number>, record: (e: GPUCommandEncoder, i: number) => void) => {
      onProgress(`${shape.name}: verify ${kernel}`);
      const err = await verify();
      const verified = err <= F32_PRODUCT_TOLERANCE;
      let timing: Timing | null = null;
      if (verified) {
        onProgress(`${shape.name}: time ${kernel}`);
        timing = await timeProducts(device, config, record);
      }
      kernels.push({ kernel, verified, maxRelErr: err, timing, bytes, gbps: timing ? bytes / timing.medianMs / 1e6 : null });
    };

    // dense f32, on the dequantized weights (skipped where it exceeds the device's binding limit)
    if (rows * cols * 4 <= Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)) {
      const dense = dequantize(c.quantized);
      const copies: GpuDenseMatrix[] = [];
      for (let i = 0; i < copiesFor(dense.byteLength); i++) copies.push(uploadDense(device, dense, rows, cols));
      await measure('dense-f32', dense.byteLength + xBytes,
        async () => maxRelativeError(await denseMatVec(device, copies[0], x), ref, scale),
        (encoder, i) => denseMatVec(device, copies[i % copies.length], xBuf, { encoder, output: yBuf }));
      copies.forEach((d) => d.destroy());
    } else {
      kernels.push({ kernel: 'dense-f32', verified: false, maxRelErr: NaN, timing: null, bytes: rows * cols * 4 + xBytes, gbps: null, skipped: 'larger than the maximum storage binding' });
    }
    // compressed: q4, fused, decode, decode-then-q4 on the same uploads
    {
      const probe = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true });
      const copies: GpuMatrix[] = [probe];
      for (let i = 1; i < copiesFor(probe.bytes.q4 + probe.bytes.params); i++) copies.push(uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true }));
      const product = (mode: MatVecMode) => async () => maxRelativeError(await fusedMatVec(device, probe, x, { mode }), ref, scale);
      const record = (mode: MatVecMode) => (encoder: GPUCommandEncoder, i: number) => fusedMatVec(device, copies[i % copies.length], xBuf, { encoder, output: yBuf, mode });
      await measure('q4', probe.bytes.q4 + probe.bytes.params + xBytes, product('q4'), record('q4'));
      await measure('fused', probe.bytes.streams + probe.bytes.params + xBytes, product('fused'), record('fused'));
      const expected = packNibbles(c.quantized.indices, rows, cols);
      await measure('decode', probe.bytes.streams, async () => {
        const got = await decodeOnGpu(device, probe);
        for (let i = 0; i < expected.length; i++) if (got[i] !== expected[i]) return 1;
        return 0;
      }, (encoder, i) => recordDecodeOnly(device, copies[i % copies.length], encoder));
      // Steady state: decoded once (above), then plain q4 on the decoded nibbles.
      await measure('decode-then-q4', probe.bytes.q4 + probe.bytes.params + xBytes, product('decode-then-q4'), record('decode-then-q4'));
      copies.forEach((m) => m.destroy());
    }
    xBuf.destroy(); yBuf.destroy();
    results.push({
      shape: { name: shape.name, rows, cols }, bitsPerWeight: c.stats.bitsPerWeight, entropyBits: c.stats.entropyBits,
      scaleBitsPerWeight: c.stats.scaleBitsPerWeight, sqnrDb: c.stats.sqnrDb ?? NaN, kernels,
    });
  }
  return results;
}
