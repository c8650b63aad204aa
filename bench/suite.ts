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
import type { CompressedMatrix, CompressOptions } from '../src/pipeline.js';
import type { LayoutOptions } from '../src/rans/layout.js';
import type { AffineMatch } from '../src/quantize/ecsq.js';
import { dequantize, energyToDb, MatrixQuantizer } from '../src/quantize/quantize.js';
import { gaussianWeights, rng } from './synthetic.js';

/**
 * The kernels measured side by side. `fused-ecsq` is the fused kernel on the same weights
 * quantized by `ecsq` at the SQNR affine q4 reaches with the suite's group size (its own
 * streams, row steps and exception lists; verified against its own CPU reference).
 */
export const KERNELS = ['dense-f32', 'q4', 'fused', 'decode', 'decode-then-q4', 'fused-ecsq'] as const;
export type KernelId = (typeof KERNELS)[number];

/** A matrix to benchmark: synthetic Gaussian weights, or real ones passed in `weights`. */
export interface Shape { name: string; rows: number; cols: number; weights?: ArrayLike<number> }

export interface SuiteConfig {
  shapes: Shape[];
  groupSize: number;
  /** Timed samples per kernel. */
  iterations: number;
  warmup: number;
  /**
   * Warm-up lasts at least this long (wall ms) too: a GPU idle between runs starts at low clocks
   * (an H200 idles at 345 MHz against 1980), and a few rounds of short kernels do not ramp it up.
   */
  warmupMs?: number;
  /** Products per sample (more amortize submission overhead and coarse timers). */
  dispatchesPerSample: number;
  /** Rotate weight copies until this many bytes are touched per kernel (0: one copy). */
  rotateBytes: number;
  /** Vectors per product (M). */
  vectors: number;
  /** Stream layout (default: the library's): target weights per lane, lanes per tile. */
  layout?: LayoutOptions;
}

/** A spread of per-round values: median, smallest and largest. */
export interface Spread { median: number; min: number; max: number }

export interface Timing {
  /** Milliseconds per product: median, 10th and 90th percentile over samples. */
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  /** Where the median comes from: GPU timestamps or the wall clock. */
  source: 'timestamp' | 'wall';
  /** Wall-clock median per product, always recorded. */
  wallMedianMs: number;
  /**
   * CPU milliseconds the process spent per product (median), where the runtime can tell: in Node
   * on SwiftShader that is the work of its worker threads, steadier than the wall clock. Null in
   * a browser (the GPU process is another process).
   */
  cpuMedianMs: number | null;
}

/** Ratios of a kernel's time to another kernel's, taken round by round (same conditions). */
export interface RoundRatios {
  /** time(kernel) / time(dense-f32) per round; null when dense was not timed. */
  vsDense: Spread | null;
  /** time(kernel) / time(q4) per round; null when q4 was not timed. */
  vsQ4: Spread | null;
  /** time(kernel) / time(fused) per round (fused-ecsq against fused affine); null when fused was not timed. */
  vsFused?: Spread | null;
}

export interface KernelResult {
  kernel: KernelId;
  /** Verified against the CPU reference before timing; a failed kernel is not timed. */
  verified: boolean;
  /** max |y − ref| / Σ|w·x| (0 for the bit-exact decode check). */
  maxRelErr: number;
  timing: Timing | null;
  /** Per-round ratios (interleaved timing), the figure to compare kernels by on noisy devices. */
  ratios: RoundRatios | null;
  /** Bytes the kernel must read per product. */
  bytes: number;
  gbps: number | null;
  /** Host µs to record one product into an encoder (the call a runtime makes per token): {@link recordingCost}. */
  recordUs?: number;
  /** Why the kernel was not run, when it was not. */
  skipped?: string;
}

export interface ShapeResult {
  shape: Shape;
  bitsPerWeight: number;
  entropyBits: number;
  scaleBitsPerWeight: number;
  sqnrDb: number;
  /** The ecsq quantization of the same weights (fused-ecsq's): all-in bits/weight, exception share, SQNR. */
  ecsq: { bitsPerWeight: number; exceptionBitsPerWeight: number; sqnrDb: number } | null;
  kernels: KernelResult[];
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
};
const spread = (xs: number[]): Spread => ({ median: percentile(xs, 0.5), min: Math.min(...xs), max: Math.max(...xs) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A clock of the process's CPU time in ms (Node: process.cpuUsage), or null where there is none. */
export type CpuClock = (() => number) | null;

/** One timed sample: `dispatchesPerSample` products in one submission. */
interface Sample { gpuMs: number; wallMs: number; cpuMs: number }

/** Timestamp-query resources reused by every sample of a run. */
class SampleTimer {
  private readonly querySet: GPUQuerySet | null;
  private readonly resolve: GPUBuffer | null;
  private readonly read: GPUBuffer | null;
  private readonly lastWall = new Map<string, number>();

  constructor(private readonly device: GPUDevice, private readonly cpuClock: CpuClock) {
    const stamps = device.features.has('timestamp-query');
    this.querySet = stamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
    this.resolve = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
    this.read = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  }

  async sample(key: string, products: number, record: (encoder: GPUCommandEncoder) => void): Promise<Sample> {
    const { device, querySet } = this;
    const encoder = device.createCommandEncoder();
    if (querySet) encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0 } }).end();
    for (let d = 0; d < products; d++) record(encoder);
    if (querySet) {
      encoder.beginComputePass({ timestampWrites: { querySet, endOfPassWriteIndex: 1 } }).end();
      encoder.resolveQuerySet(querySet, 0, 2, this.resolve!, 0);
      encoder.copyBufferToBuffer(this.resolve!, 0, this.read!, 0, 16);
    }
    const cpu0 = this.cpuClock?.() ?? NaN;
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    // dawn.node busy-polls while a promise is pending: sleep through most of the expected time.
    const last = this.lastWall.get(key) ?? 0;
    if (last > 2) await sleep(last * 0.8);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    const cpu = (this.cpuClock?.() ?? NaN) - cpu0;
    this.lastWall.set(key, wall);
    let gpu = NaN;
    if (this.read) {
      await this.read.mapAsync(GPUMapMode.READ);
      const [a, b] = new BigUint64Array(this.read.getMappedRange());
      gpu = Number(b - a) / 1e6;
      this.read.unmap();
    }
    return { gpuMs: gpu / products, wallMs: wall / products, cpuMs: cpu / products };
  }

  destroy(): void {
    this.querySet?.destroy(); this.resolve?.destroy(); this.read?.destroy();
  }
}

/** Products recorded per kernel to measure the host's recording cost. */
const RECORD_CALLS = 200;

/**
 * Host µs per recorded product: {@link RECORD_CALLS} products recorded in a row into an encoder
 * that is never submitted (one clock reading around them all: browsers coarsen performance.now()
 * to 5–100 µs, more than one call takes).
 */
function recordingCost(device: GPUDevice, k: Timed): number {
  const encoder = device.createCommandEncoder();
  const t0 = performance.now();
  for (let i = 0; i < RECORD_CALLS; i++) k.record(encoder, i);
  return ((performance.now() - t0) / RECORD_CALLS) * 1e3;
}

/** A verified kernel ready to be timed: `record` records one product (i rotates weight copies). */
interface Timed { kernel: KernelId; record: (encoder: GPUCommandEncoder, i: number) => void }

/**
 * Times kernels interleaved: every round takes one sample of each kernel, in an order rotated
 * from round to round, so slow drifts of a noisy device (SwiftShader's medians move ±15–30 %
 * between runs) hit all kernels alike, and per-round ratios cancel them.
 */
async function timeInterleaved(device: GPUDevice, config: SuiteConfig, cpuClock: CpuClock, kernels: Timed[]): Promise<Map<KernelId, { timing: Timing; samples: number[] }>> {
  const timer = new SampleTimer(device, cpuClock);
  const samples = new Map<KernelId, Sample[]>(kernels.map((k) => [k.kernel, []]));
  const counters = new Map<KernelId, number>(kernels.map((k) => [k.kernel, 0]));
  try {
    const start = performance.now();
    for (let round = 0, timedRounds = 0; timedRounds < config.iterations; round++) {
      const warming = round < config.warmup || performance.now() - start < (config.warmupMs ?? 0);
      for (let j = 0; j < kernels.length; j++) {
        const k = kernels[(round + j) % kernels.length];
        const s = await timer.sample(k.kernel, config.dispatchesPerSample, (encoder) => {
          const i = counters.get(k.kernel)!;
          counters.set(k.kernel, i + 1);
          k.record(encoder, i);
        });
        if (!warming) samples.get(k.kernel)!.push(s);
      }
      if (!warming) timedRounds++;
    }
  } finally {
    timer.destroy();
  }
  const out = new Map<KernelId, { timing: Timing; samples: number[] }>();
  for (const [kernel, ss] of samples) {
    const useStamps = ss.every((s) => Number.isFinite(s.gpuMs) && s.gpuMs > 0);
    const xs = ss.map((s) => (useStamps ? s.gpuMs : s.wallMs));
    const cpu = ss.map((s) => s.cpuMs);
    out.set(kernel, {
      samples: xs,
      timing: {
        medianMs: percentile(xs, 0.5), p10Ms: percentile(xs, 0.1), p90Ms: percentile(xs, 0.9), source: useStamps ? 'timestamp' : 'wall',
        wallMedianMs: percentile(ss.map((s) => s.wallMs), 0.5), cpuMedianMs: cpu.every(Number.isFinite) ? percentile(cpu, 0.5) : null,
      },
    });
  }
  return out;
}

/** Per-round ratios of each kernel to `base` (rounds line up: every kernel has one sample per round). */
function roundRatios(samples: Map<KernelId, number[]>, kernel: KernelId, base: KernelId): Spread | null {
  const a = samples.get(kernel), b = samples.get(base);
  if (!a || !b || a.length !== b.length || !a.length) return null;
  return spread(a.map((v, i) => v / b[i]));
}

/** Weights per quantization chunk when synthesizing: bounds host memory for 128256×4096. */
const CHUNK_WEIGHTS = 1 << 24;

/**
 * Quantizes and encodes a shape's weights: the given real ones, or seeded Gaussian ones
 * synthesized a block of rows at a time and fed to the streaming quantizer (twice for a
 * quantizer that scans first, such as ecsq), so host memory stays bounded for 128256×4096.
 */
function prepare(shape: Shape, options: CompressOptions): CompressedMatrix {
  const { rows, cols } = shape;
  if (shape.weights) return compressMatrix({ name: shape.name, rows, cols, kind: 'float', weights: Float32Array.from(shape.weights) }, options);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_WEIGHTS / cols));
  const blocks = (visit: (w: Float32Array) => void) => {
    for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) visit(gaussianWeights(Math.min(rowsPerChunk, rows - r0) * cols, (rows ^ (cols << 8)) + r0));
  };
  const mq = new MatrixQuantizer(rows, cols, options);
  if (mq.needsRange) blocks((w) => mq.scanRange(w));
  blocks((w) => mq.addRows(w));
  const c = compressMatrix({ name: shape.name, rows, cols, kind: 'quantized', quantized: mq.result() }, options);
  const energy = { signal: mq.signal, noise: mq.noise };
  return { ...c, energy, stats: { ...c.stats, sqnrDb: energyToDb(energy) } };
}

/**
 * Runs the suite on one device. `onProgress` gets a line per step; `cpuClock` (Node:
 * process.cpuUsage) adds CPU time per product to every timing.
 */
export async function runSuite(device: GPUDevice, config: SuiteConfig, onProgress: (line: string) => void = () => {}, cpuClock: CpuClock = null): Promise<ShapeResult[]> {
  const results: ShapeResult[] = [];
  for (const shape of config.shapes) {
    const { rows, cols } = shape;
    onProgress(`${shape.name} ${rows}×${cols}: quantize + encode`);
    const c = prepare(shape, { groupSize: config.groupSize, ...config.layout });
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

    // Every kernel is verified against the CPU reference first; only verified ones are timed.
    const kernels: KernelResult[] = [];
    const timed: Timed[] = [];
    const cleanup: (() => void)[] = [];
    const verify = async (kernel: KernelId, bytes: number, check: () => Promise<number>, record: Timed['record']) => {
      onProgress(`${shape.name}: verify ${kernel}`);
      const err = await check();
      const verified = err <= F32_PRODUCT_TOLERANCE;
      kernels.push({ kernel, verified, maxRelErr: err, timing: null, ratios: null, bytes, gbps: null });
      if (verified) timed.push({ kernel, record });
    };

    // dense f32, on the dequantized weights (skipped where it exceeds the device's binding limit)
    if (rows * cols * 4 <= Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)) {
      const dense = dequantize(c.quantized);
      const copies: GpuDenseMatrix[] = [];
      for (let i = 0; i < copiesFor(dense.byteLength); i++) copies.push(uploadDense(device, dense, rows, cols));
      cleanup.push(() => copies.forEach((d) => d.destroy()));
      await verify('dense-f32', dense.byteLength + xBytes,
        async () => maxRelativeError(await denseMatVec(device, copies[0], x), ref, scale),
        (encoder, i) => denseMatVec(device, copies[i % copies.length], xBuf, { encoder, output: yBuf }));
    } else {
      kernels.push({ kernel: 'dense-f32', verified: false, maxRelErr: NaN, timing: null, ratios: null, bytes: rows * cols * 4 + xBytes, gbps: null, skipped: 'larger than the maximum storage binding' });
    }
    // compressed: q4, fused, decode, decode-then-q4 on the same uploads
    const probe = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true });
    const copies: GpuMatrix[] = [probe];
    for (let i = 1; i < copiesFor(probe.bytes.q4 + probe.bytes.params); i++) copies.push(uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true }));
    cleanup.push(() => copies.forEach((m) => m.destroy()));
    const product = (mode: MatVecMode) => async () => maxRelativeError(await fusedMatVec(device, probe, x, { mode }), ref, scale);
    const record = (mode: MatVecMode) => (encoder: GPUCommandEncoder, i: number) => fusedMatVec(device, copies[i % copies.length], xBuf, { encoder, output: yBuf, mode });
    await verify('q4', probe.bytes.q4 + probe.bytes.params + xBytes, product('q4'), record('q4'));
    await verify('fused', probe.bytes.streams + probe.bytes.params + xBytes, product('fused'), record('fused'));
    const expected = packNibbles(c.quantized.indices, rows, cols);
    await verify('decode', probe.bytes.streams, async () => {
      const got = await decodeOnGpu(device, probe);
      for (let i = 0; i < expected.length; i++) if (got[i] !== expected[i]) return 1;
      return 0;
    }, (encoder, i) => recordDecodeOnly(device, copies[i % copies.length], encoder));
    // Steady state: decoded once (above), then plain q4 on the decoded nibbles.
    for (const m of copies) await fusedMatVec(device, m, x, { mode: 'decode-then-q4' });
    await verify('decode-then-q4', probe.bytes.q4 + probe.bytes.params + xBytes, product('decode-then-q4'), record('decode-then-q4'));
    // fused on the ecsq quantization of the same weights, against its own reference.
    onProgress(`${shape.name}: ecsq quantize + encode`);
    // The same weights by ecsq at the SQNR affine q4 reaches with the suite's group size.
    const e = prepare(shape, { quantizer: 'ecsq', rate: { match: `q4-g${config.groupSize}` as AffineMatch }, groupSize: config.groupSize, ...config.layout });
    const eProbe = uploadMatrix(device, { params: e.quantized, encoded: e.encoded });
    const eCopies: GpuMatrix[] = [eProbe];
    for (let i = 1; i < copiesFor(eProbe.bytes.streams + eProbe.bytes.params); i++) eCopies.push(uploadMatrix(device, { params: e.quantized, encoded: e.encoded }));
    cleanup.push(() => eCopies.forEach((m) => m.destroy()));
    const eRef = referenceMatVec(e.quantized, x), eScale = referenceAbsProducts(e.quantized, x);
    await verify('fused-ecsq', eProbe.bytes.streams + eProbe.bytes.params + xBytes,
      async () => maxRelativeError(await fusedMatVec(device, eProbe, x), eRef, eScale),
      (encoder, i) => fusedMatVec(device, eCopies[i % eCopies.length], xBuf, { encoder, output: yBuf }));
    const ecsq = { bitsPerWeight: e.stats.bitsPerWeight + e.stats.scaleBitsPerWeight, exceptionBitsPerWeight: e.stats.exceptionBitsPerWeight, sqnrDb: e.stats.sqnrDb ?? NaN };

    onProgress(`${shape.name}: time ${timed.map((t) => t.kernel).join(', ')} in ${config.iterations} interleaved rounds after ≥ ${config.warmup} warm-up rounds${config.warmupMs ? ` and ${config.warmupMs} ms` : ''}`);
    const timings = await timeInterleaved(device, config, cpuClock, timed);
    const samples = new Map([...timings].map(([k, v]) => [k, v.samples]));
    for (const k of kernels) {
      const t = timings.get(k.kernel);
      if (!t) continue;
      k.timing = t.timing;
      k.gbps = k.bytes / t.timing.medianMs / 1e6;
      k.recordUs = recordingCost(device, timed.find((x) => x.kernel === k.kernel)!);
      k.ratios = { vsDense: roundRatios(samples, k.kernel, 'dense-f32'), vsQ4: roundRatios(samples, k.kernel, 'q4'), vsFused: roundRatios(samples, k.kernel, 'fused') };
    }
    cleanup.forEach((f) => f());
    xBuf.destroy(); yBuf.destroy();
    results.push({
      shape: { name: shape.name, rows, cols }, bitsPerWeight: c.stats.bitsPerWeight, entropyBits: c.stats.entropyBits,
      scaleBitsPerWeight: c.stats.scaleBitsPerWeight, sqnrDb: c.stats.sqnrDb ?? NaN, ecsq, kernels,
    });
  }
  return results;
}
