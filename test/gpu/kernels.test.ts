import { describe, expect, it } from 'vitest';
import { decodeOnGpu, denseMatVec, fusedMatVec, prepareMatVec, uploadDense, type MatVecMode } from '../../src/gpu/matvec.js';
import { bindGroup, getKernel, kernelSource, KERNEL_FILES, reflectBindings, type KernelName } from '../../src/gpu/kernels.js';
import { internals, uploadMatrix } from '../../src/gpu/upload.js';
import { compressMatrix, type CompressedMatrix } from '../../src/pipeline.js';
import { importMlx } from '../../src/quantize/import.js';
import { packNibbles } from '../../src/quantize/import.js';
import type { QuantizerKind } from '../../src/quantize/types.js';
import { firstMismatch, rng, weights } from '../helpers.js';
import { F16_PRODUCT_TOLERANCE, F32_PRODUCT_TOLERANCE, maxRelativeError, referenceAbsProducts, referenceMatVec } from '../../src/reference.js';
import { halfToF32, toF16Array } from '../../src/quantize/half.js';
import { countCalls, useDevice } from './setup.js';

const gpu = useDevice();
const MODES: MatVecMode[] = ['fused', 'decode-then-q4', 'q4'];

function compress(rows: number, cols: number, opts: { quantizer?: QuantizerKind; groupSize?: number; symbolsPerLane?: number; lanesPerTile?: number; precision?: number; seed?: number } = {}): CompressedMatrix {
  const w = weights(rows * cols, 'gaussian', opts.seed ?? rows * 31 + cols);
  return compressMatrix({ name: `${rows}x${cols}`, rows, cols, kind: 'float', weights: w }, opts);
}

function randomX(n: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** x rounded to f16: its bit patterns and the f32 values they stand for (what the kernels multiply). */
function toF16(x: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = toF16Array(x);
  return { bits, values: halfToF32(bits, 'f16') };
}

async function checkAllModes(c: CompressedMatrix, vectors: number[], opts: { maxBindingBytes?: number } = {}) {
  const { device } = gpu.get();
  const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true, ...opts });
  try {
    const nibbles = await decodeOnGpu(device, m);
    expect(firstMismatch(nibbles, packNibbles(c.quantized.indices, c.quantized.rows, c.quantized.cols))).toBe(-1);
    for (const v of vectors) {
      const x = randomX(v * c.quantized.cols, v);
      const ref = referenceMatVec(c.quantized, x);
      const sums = referenceAbsProducts(c.quantized, x);
      // f16 activations: the kernels multiply the f16-rounded x, so that is the reference's x.
      const half = toF16(x);
      const refHalf = referenceMatVec(c.quantized, half.values);
      const sumsHalf = referenceAbsProducts(c.quantized, half.values);
      for (const mode of MODES) {
        const y = await fusedMatVec(device, m, x, { mode });
        expect(y.length).toBe(ref.length);
        expect(maxRelativeError(y, ref, sums), `${mode} M=${v}`).toBeLessThan(F32_PRODUCT_TOLERANCE);
        const yHalf = await fusedMatVec(device, m, half.bits, { mode });
        expect(yHalf).toBeInstanceOf(Uint16Array);
        expect(yHalf.length).toBe(ref.length);
        expect(maxRelativeError(halfToF32(yHalf, 'f16'), refHalf, sumsHalf), `${mode} M=${v} f16`).toBeLessThan(F16_PRODUCT_TOLERANCE);
      }
    }
    return internals(m).parts.length;
  } finally {
    m.destroy();
  }
}

describe('kernels on real WebGPU vs the CPU reference', () => {
  // 53×64: an even number of 16-row blocks whose last one is short, so an invocation's second
  // lane ends before its first (the mirror path of rans_lanes.wgsl).
  it.each([[1, 1], [1, 7], [7, 1], [64, 64], [172, 64], [53, 64], [64, 172], [33, 1000], [19, 200]])('%i×%i: indices bit-exact, all modes, M = 1 and 3', async (rows, cols) => {
    await checkAllModes(compress(rows, cols, { groupSize: 32 }), [1, 3]);
  });

  it('M = 1..8 on a ragged shape', async () => {
    await checkAllModes(compress(45, 330, { groupSize: 64, symbolsPerLane: 128 }), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it.each(['affine', 'symmetric', 'per-tensor'] as QuantizerKind[])('%s quantizer, g128, precision 12', async (quantizer) => {
    await checkAllModes(compress(24, 600, { quantizer, groupSize: 128, precision: 12, symbolsPerLane: 256 }), [2]);
  });

  it('bf16 parameters imported losslessly from MLX', async () => {
    const r = rng(3);
    const rows = 24, cols = 256, groupSize = 64;
    const bf16 = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16;
    const quantized = importMlx({
      rows, cols, groupSize, paramType: 'bf16',
      weight: Uint32Array.from({ length: (rows * cols) / 8 }, () => Math.floor(r() * 2 ** 32)),
      scales: Uint16Array.from({ length: rows * 4 }, () => bf16(0.001 + r() * 0.01)),
      biases: Uint16Array.from({ length: rows * 4 }, () => bf16(-0.05 * r())),
    });
    const c = compressMatrix({ name: 'mlx', rows, cols, kind: 'quantized', quantized });
    await checkAllModes(c, [1, 2]);
  });

  it('ragged tiles, lanes and groups: rows cut into segments with a short last segment', async () => {
    await checkAllModes(compress(70, 2100, { groupSize: 64, symbolsPerLane: 512 }), [1, 4]);
  });

  it('1024×4096 (256 lanes per tile of 64 rows), M = 1 and 8', async () => {
    await checkAllModes(compress(1024, 4096), [1, 8]);
  }, 600_000);

  it('splits streams across bindings when they exceed the binding limit', async () => {
    const parts = await checkAllModes(compress(96, 512, { symbolsPerLane: 128, lanesPerTile: 64 }), [1, 2], { maxBindingBytes: 8192 });
    expect(parts).toBeGreaterThanOrEqual(3);
  });

  it('recording the same product again creates no buffer and no bind group (a runtime\'s per-token path)', () => {
    const { device } = gpu.get();
    const c = compress(40, 256);
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const xBuf = device.createBuffer({ size: 256 * 4, usage }), yBuf = device.createBuffer({ size: 40 * 4, usage });
    const { counts, restore } = countCalls(device, ['createBuffer', 'createBindGroup']);
    try {
      for (const mode of ['fused', 'decode-then-q4'] as const) {
        fusedMatVec(device, m, xBuf, { encoder: device.createCommandEncoder(), output: yBuf, mode }); // first: makes what it needs
        const after = { ...counts };
        expect(after.createBindGroup, mode).toBeGreaterThan(0); // the spy sees the library's calls
        for (let i = 0; i < 5; i++) fusedMatVec(device, m, xBuf, { encoder: device.createCommandEncoder(), output: yBuf, mode });
        expect(counts, mode).toEqual(after);
      }
    } finally {
      restore();
    }
    for (const b of [xBuf, yBuf]) b.destroy();
    m.destroy();
  });

  it('prepareMatVec compiles every pipeline ahead (asynchronously) and decodes once: the first products compile nothing', async () => {
    const { device } = gpu.get();
    // A geometry no other test uses (precision 12, 100-symbol lanes), so no pipeline is cached.
    const c = compress(37, 200, { symbolsPerLane: 100, precision: 12, seed: 99 });
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const { counts, restore } = countCalls(device, ['createComputePipeline', 'createComputePipelineAsync']);
    try {
      await expect(prepareMatVec(device, m, { modes: ['q4'] })).rejects.toMatchObject({ code: 'MODE_UNAVAILABLE' });
      await expect(prepareMatVec(device, m, { vectors: [9] })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
      await prepareMatVec(device, m, { modes: ['fused', 'decode-then-q4'], vectors: [1, 3], activations: ['f32', 'f16'] });
      expect(counts.createComputePipelineAsync).toBeGreaterThan(0);
      expect(counts.createComputePipeline).toBe(0);
      expect(internals(m).decodedReady).toBe(true);
      for (const v of [1, 3]) {
        const x = randomX(v * 200, v), half = toF16(x);
        for (const mode of ['fused', 'decode-then-q4'] as const) {
          const y = await fusedMatVec(device, m, x, { mode });
          expect(maxRelativeError(y, referenceMatVec(c.quantized, x), referenceAbsProducts(c.quantized, x)), `${mode} M=${v}`).toBeLessThan(F32_PRODUCT_TOLERANCE);
          const yHalf = await fusedMatVec(device, m, half.bits, { mode });
          expect(maxRelativeError(halfToF32(yHalf, 'f16'), referenceMatVec(c.quantized, half.values), referenceAbsProducts(c.quantized, half.values)), `${mode} M=${v} f16`).toBeLessThan(F16_PRODUCT_TOLERANCE);
        }
      }
      expect(counts.createComputePipeline).toBe(0); // every product found its pipeline compiled
      await fusedMatVec(device, m, randomX(2 * 200, 2)); // M = 2 was not prepared: compiled now
      expect(counts.createComputePipeline).toBeGreaterThan(0);
    } finally {
      restore();
      m.destroy();
    }
  });

  it('x and y at offsets in arena buffers (xOffset, outputOffset), f32 and f16, submit and encoder paths', async () => {
    const { device } = gpu.get();
    const c = compress(40, 256);
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const x = randomX(2 * 256, 21);
    const ref = referenceMatVec(c.quantized, x), sums = referenceAbsProducts(c.quantized, x);
    const align = device.limits.minStorageBufferOffsetAlignment;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    // A runtime's activations arena and outputs arena (WebGPU cannot read and write one buffer in a dispatch).
    const xs = device.createBuffer({ size: 4 * align + 4096, usage }), ys = device.createBuffer({ size: 4 * align + 1024, usage });
    const xAt = 2 * align, yAt = 3 * align;
    device.queue.writeBuffer(xs, xAt, x);
    for (const mode of ['fused', 'decode-then-q4'] as const) {
      const y = await fusedMatVec(device, m, xs, { xOffset: xAt, output: ys, outputOffset: yAt, vectors: 2, mode });
      expect(maxRelativeError(y, ref, sums), mode).toBeLessThan(F32_PRODUCT_TOLERANCE);
    }
    // f16 x at an offset, y recorded into a caller's encoder at an offset.
    const half = new Uint16Array(toF16Array(x));
    device.queue.writeBuffer(xs, xAt, half);
    const encoder = device.createCommandEncoder();
    fusedMatVec(device, m, xs, { encoder, xOffset: xAt, output: ys, outputOffset: yAt, vectors: 2, activations: 'f16' });
    const read = device.createBuffer({ size: 2 * 40 * 2, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(ys, yAt, read, 0, 2 * 40 * 2);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const yHalf = new Uint16Array(read.getMappedRange().slice(0));
    const xh = halfToF32(half, 'f16');
    expect(maxRelativeError(halfToF32(yHalf, 'f16'), referenceMatVec(c.quantized, xh), referenceAbsProducts(c.quantized, xh))).toBeLessThan(F16_PRODUCT_TOLERANCE);
    const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as { code?: string }).code; } return 'no error'; };
    expect(code(() => fusedMatVec(device, m, xs, { xOffset: 4, vectors: 2 }))).toBe('BAD_OFFSET');
    expect(code(() => fusedMatVec(device, m, xs, { xOffset: xAt, output: xs, outputOffset: 0, vectors: 2 }))).toBe('ALIASED_BUFFERS');
    expect(code(() => fusedMatVec(device, m, x, { xOffset: align }))).toBe('BAD_OFFSET');
    expect(code(() => fusedMatVec(device, m, xs, { xOffset: xAt, output: ys, outputOffset: 4 * align + 1024, vectors: 2 }))).toBe('SHAPE_MISMATCH'); // past its end
    for (const b of [xs, ys, read]) b.destroy();
    m.destroy();
  });

  it('records into the caller\'s encoder and writes a caller-owned output', async () => {
    const { device } = gpu.get();
    const c = compress(40, 256);
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const x = randomX(2 * 256, 9);
    const xBuf = device.createBuffer({ size: x.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(xBuf, 0, x);
    const yBuf = device.createBuffer({ size: 2 * 40 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 2 * 40 * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    expect(fusedMatVec(device, m, xBuf, { encoder, output: yBuf })).toBeUndefined();
    // A second product into the same encoder (decode-then-q4); the caller submits much later.
    // A host x is refused on this path: its staging buffer would outlive any cleanup this call can do.
    const y2 = device.createBuffer({ size: 40 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    expect(() => fusedMatVec(device, m, x.subarray(0, 256), { encoder, output: y2 })).toThrowError(expect.objectContaining({ code: 'HOST_X_WITH_ENCODER' }));
    const x1 = device.createBuffer({ size: 256 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(x1, 0, x.subarray(0, 256));
    fusedMatVec(device, m, x1, { encoder, output: y2, mode: 'decode-then-q4' });
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 50));
    encoder.copyBufferToBuffer(yBuf, 0, read, 0, 2 * 40 * 4);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const y = new Float32Array(read.getMappedRange().slice(0));
    expect(maxRelativeError(y, referenceMatVec(c.quantized, x), referenceAbsProducts(c.quantized, x))).toBeLessThan(F32_PRODUCT_TOLERANCE);
    const read2 = device.createBuffer({ size: 40 * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const e2 = device.createCommandEncoder();
    e2.copyBufferToBuffer(y2, 0, read2, 0, 40 * 4);
    device.queue.submit([e2.finish()]);
    await read2.mapAsync(GPUMapMode.READ);
    const first = x.subarray(0, 256);
    expect(maxRelativeError(new Float32Array(read2.getMappedRange().slice(0)), referenceMatVec(c.quantized, first), referenceAbsProducts(c.quantized, first))).toBeLessThan(F32_PRODUCT_TOLERANCE);
    m.destroy();
  });

  it('f16 activations in GPU buffers on the encoder path: odd columns and M = 3 (pairs straddle words)', async () => {
    const { device } = gpu.get();
    const rows = 41, cols = 135, vectors = 3;
    const c = compress(rows, cols, { groupSize: 32 });
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true });
    const half = toF16(randomX(vectors * cols, 12));
    const padded = new Uint16Array(2 * Math.ceil(half.bits.length / 2));
    padded.set(half.bits);
    const xBuf = device.createBuffer({ size: padded.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(xBuf, 0, padded);
    const yBytes = 4 * Math.ceil((vectors * rows) / 2);
    const ref = referenceMatVec(c.quantized, half.values), sums = referenceAbsProducts(c.quantized, half.values);
    for (const mode of MODES) {
      const yBuf = device.createBuffer({ size: yBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      const read = device.createBuffer({ size: yBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      fusedMatVec(device, m, xBuf, { encoder, output: yBuf, activations: 'f16', mode });
      encoder.copyBufferToBuffer(yBuf, 0, read, 0, yBytes);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const y = new Uint16Array(read.getMappedRange().slice(0), 0, vectors * rows);
      expect(maxRelativeError(halfToF32(y, 'f16'), ref, sums), mode).toBeLessThan(F16_PRODUCT_TOLERANCE);
      read.destroy(); yBuf.destroy();
    }
    // A Float32Array x with activations: 'f16' is rounded on the host: the same products.
    const fromF32 = await fusedMatVec(device, m, randomX(vectors * cols, 12), { activations: 'f16' });
    expect(maxRelativeError(halfToF32(fromF32, 'f16'), ref, sums)).toBeLessThan(F16_PRODUCT_TOLERANCE);
    // Too small an f16 output buffer, and f16 bits declared f32, are typed errors.
    const small = device.createBuffer({ size: yBytes - 4, usage: GPUBufferUsage.STORAGE });
    expect(() => fusedMatVec(device, m, xBuf, { encoder: device.createCommandEncoder(), output: small, activations: 'f16' })).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => fusedMatVec(device, m, half.bits, { activations: 'f32' })).toThrowError(expect.objectContaining({ code: 'BAD_ACTIVATIONS' }));
    small.destroy(); xBuf.destroy(); m.destroy();
  });

  it("mode 'auto' follows the calibration and still computes the product", async () => {
    const { device } = gpu.get();
    const c = compress(48, 512);
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const x = randomX(512, 4);
    const ref = referenceMatVec(c.quantized, x), sums = referenceAbsProducts(c.quantized, x);
    const fusedWins = { device: 't', entries: [{ rows: 48, cols: 512, vectors: 1, fusedMs: 1, q4Ms: 2 }] };
    expect(maxRelativeError(await fusedMatVec(device, m, x, { mode: 'auto', calibration: fusedWins }), ref, sums)).toBeLessThan(F32_PRODUCT_TOLERANCE);
    expect(internals(m).decodedReady).toBe(false);
    const q4Wins = { device: 't', entries: [{ rows: 48, cols: 512, vectors: 1, fusedMs: 2, q4Ms: 1 }] };
    expect(maxRelativeError(await fusedMatVec(device, m, x, { mode: 'auto', calibration: q4Wins }), ref, sums)).toBeLessThan(F32_PRODUCT_TOLERANCE);
    expect(internals(m).decodedReady).toBe(true); // it went through decode-then-q4
    m.destroy();
  });

  it('dense f32 baseline matches the f64 product', async () => {
    const { device } = gpu.get();
    const rows = 37, cols = 203;
    const w = weights(rows * cols, 'laplace', 4);
    const d = uploadDense(device, w, rows, cols);
    const x = randomX(3 * cols, 2);
    const y = await denseMatVec(device, d, x);
    for (let v = 0; v < 3; v++) for (let r = 0; r < rows; r++) {
      let ref = 0, abs = 0;
      for (let k = 0; k < cols; k++) { ref += w[r * cols + k] * x[v * cols + k]; abs += Math.abs(w[r * cols + k] * x[v * cols + k]); }
      expect(Math.abs(y[v * rows + r] - ref) / abs).toBeLessThan(F32_PRODUCT_TOLERANCE);
    }
    d.destroy();
  });
});

describe('bindings are reflected from the WGSL', () => {
  it.each(Object.keys(KERNEL_FILES) as KernelName[])('%s: binding table snapshot', (k) => {
    expect(reflectBindings(kernelSource(k)).map(({ name, binding, type }) => `${binding} ${type} ${name}`)).toMatchSnapshot();
  });

  it('fused with the row-step rule (ecsq): exceptions instead of group sums', () => {
    expect(reflectBindings(kernelSource('fused', { weights: 'rows' })).map(({ name, binding, type }) => `${binding} ${type} ${name}`)).toMatchSnapshot();
  });

  it('bindGroup rejects a host buffer the shader lacks, and a binding the host leaves out', () => {
    const { device } = gpu.get();
    const k = getKernel(device, 'xsum');
    const b = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM });
    expect(() => bindGroup(device, k, { shape: b, x: b, sums: b, extra: b })).toThrowError(expect.objectContaining({ code: 'BINDING_MISMATCH' }));
    expect(() => bindGroup(device, k, { shape: b, x: b })).toThrowError(expect.objectContaining({ code: 'BINDING_MISMATCH' }));
    b.destroy();
  });
});
