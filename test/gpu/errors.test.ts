import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer, writeContainer } from '../../src/container/container.js';
import { crc32 } from '../../src/container/crc.js';
import { DeviceError, InvalidInputError, StreamError } from '../../src/errors.js';
import { decodeOnGpu, fusedMatVec, readStreamStatus } from '../../src/gpu/matvec.js';
import { uploadMatrix } from '../../src/gpu/upload.js';
import { llama2cMatrices } from '../../src/io/llama2c.js';
import { requestNodeDevice } from '../../src/node/device.js';
import { bundledModel } from '../../src/paths.js';
import { compressMatrix } from '../../src/pipeline.js';
import { packNibbles } from '../../src/quantize/import.js';
import { decodeIndices, encodeIndices } from '../../src/rans/codec.js';
import { firstMismatch, rng, weights } from '../helpers.js';
import { F32_PRODUCT_TOLERANCE, maxRelativeError, referenceAbsProducts, referenceMatVec } from '../../src/reference.js';
import { useDevice } from './setup.js';

const gpu = useDevice();
const code = async (f: () => unknown) => { try { await f(); } catch (e) { return (e as { code?: string }).code ?? String(e); } return 'no error'; };

describe('bad input to the GPU API', () => {
  const c = compressMatrix({ name: 'w', rows: 20, cols: 96, kind: 'float', weights: weights(20 * 96, 'gaussian', 1) });

  it('rejects wrong x shapes, too many vectors, unusable buffers and unavailable modes', async () => {
    const { device } = gpu.get();
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    expect(await code(() => fusedMatVec(device, m, new Float32Array(95)))).toBe('SHAPE_MISMATCH');
    expect(await code(() => fusedMatVec(device, m, new Float32Array(9 * 96)))).toBe('SHAPE_MISMATCH');
    expect(await code(() => fusedMatVec(device, m, new Float32Array(96), { mode: 'q4' }))).toBe('MODE_UNAVAILABLE');
    expect(await code(() => fusedMatVec(device, m, new Float32Array(96), { mode: 'nope' as never }))).toBe('BAD_MODE');
    const noStorage = device.createBuffer({ size: 96 * 4, usage: GPUBufferUsage.COPY_DST });
    expect(await code(() => fusedMatVec(device, m, noStorage))).toBe('BAD_USAGE');
    const x = device.createBuffer({ size: 96 * 4, usage: GPUBufferUsage.STORAGE });
    const small = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    const encoder = device.createCommandEncoder();
    expect(await code(() => fusedMatVec(device, m, x, { encoder } as never))).toBe('MISSING_OUTPUT');
    expect(await code(() => fusedMatVec(device, m, x, { encoder, output: small }))).toBe('SHAPE_MISMATCH');
    for (const b of [noStorage, x, small]) b.destroy();
    m.destroy();
  });

  it('rejects a matrix whose tiles exceed the binding limit, and mismatched sources', () => {
    const { device } = gpu.get();
    expect(() => uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { maxBindingBytes: 64 })).toThrowError(InvalidInputError);
    const other = compressMatrix({ name: 'o', rows: 21, cols: 96, kind: 'float', weights: weights(21 * 96, 'gaussian', 2) });
    expect(() => uploadMatrix(device, { params: other.quantized, encoded: c.encoded })).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });

  it('a destroyed device and a matrix from another device give typed errors', async () => {
    const second = await requestNodeDevice();
    const m = uploadMatrix(second.device, { params: c.quantized, encoded: c.encoded });
    expect(await code(() => fusedMatVec(gpu.get().device, m, new Float32Array(96)))).toBe('WRONG_DEVICE');
    second.device.destroy();
    await second.device.lost;
    expect(await code(() => fusedMatVec(second.device, m, new Float32Array(96)))).toBe('DEVICE_LOST');
  });
});

describe('corrupt streams terminate and are reported', () => {
  it('garbage stream words behind valid container checksums: the GPU decode stops and says which lane', async () => {
    const { device } = gpu.get();
    const rows = 64, cols = 512;
    const good = compressMatrix({ name: 'w', rows, cols, kind: 'float', weights: weights(rows * cols, 'laplace', 3) }, { symbolsPerLane: 256 });
    // Garbage with the section checksum recomputed: only the stream checks can catch it.
    const data = good.encoded.data.slice();
    const r = rng(77);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 2 ** 32);
    const [t] = readContainer(writeContainer([{ ...good, encoded: { ...good.encoded, data } }]));
    expect(crc32(new Uint8Array(data.buffer))).toBe(t.header.sections.streams!.crc32);
    expect(() => decodeTensor(t)).toThrowError(expect.objectContaining({ code: 'STREAM_CORRUPT' }));

    const m = uploadMatrix(device, { params: t.params, encoded: t.encoded });
    await expect(decodeOnGpu(device, m)).rejects.toThrowError(StreamError);
    const status = await readStreamStatus(device, m);
    expect(status.failedLanes).toBeGreaterThan(0);
    expect(status.firstFailedLane).toBeGreaterThanOrEqual(0);
    // The fused kernel on the same garbage also finishes (every loop is bounded by the shape).
    const y = await fusedMatVec(device, m, new Float32Array(cols).fill(1));
    expect(y.length).toBe(rows);
    m.destroy();
  });

  it('lying lane lengths and states are caught the same way', async () => {
    const { device } = gpu.get();
    const c = compressMatrix({ name: 'w', rows: 16, cols: 256, kind: 'float', weights: weights(16 * 256, 'gaussian', 5) }, { symbolsPerLane: 256 });
    const states = c.encoded.laneStates.slice();
    states[5] ^= 0x00400000;
    const m = uploadMatrix(device, { params: c.quantized, encoded: { ...c.encoded, laneStates: states } });
    await expect(decodeOnGpu(device, m)).rejects.toThrowError(expect.objectContaining({ code: 'GPU_STREAM_CORRUPT', lane: 5 }));
    m.destroy();
  });
});

describe('stories260K matrices through every mode', () => {
  it('all 36 matrices: GPU indices bit-exact and y within tolerance (M = 2)', async () => {
    const { device } = gpu.get();
    const matrices = llama2cMatrices(new Uint8Array(readFileSync(bundledModel().model)));
    for (const mat of matrices) {
      const c = compressMatrix(mat, { groupSize: 32 });
      const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true });
      expect(firstMismatch(await decodeOnGpu(device, m), packNibbles(c.quantized.indices, mat.rows, mat.cols)), mat.name).toBe(-1);
      const r = rng(mat.rows);
      const x = Float32Array.from({ length: 2 * mat.cols }, () => r() * 2 - 1);
      const ref = referenceMatVec(c.quantized, x);
      const sums = referenceAbsProducts(c.quantized, x);
      for (const mode of ['fused', 'decode-then-q4', 'q4'] as const) {
        const y = await fusedMatVec(device, m, x, { mode });
        expect(maxRelativeError(y, ref, sums), `${mat.name} ${mode}`).toBeLessThan(F32_PRODUCT_TOLERANCE);
      }
      m.destroy();
    }
  });
});

describe('misuse gives a typed error or the right answer, never a silent wrong y', () => {
  const c = compressMatrix({ name: 'w', rows: 40, cols: 96, kind: 'float', weights: weights(40 * 96, 'gaussian', 8) });
  const x = weights(96, 'gaussian', 9);

  it('decode-then-q4 recorded into an encoder that is never submitted, then called again: still correct', async () => {
    const { device } = gpu.get();
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const xBuf = device.createBuffer({ size: 96 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const yBuf = device.createBuffer({ size: 40 * 4, usage: GPUBufferUsage.STORAGE });
    fusedMatVec(device, m, xBuf, { encoder: device.createCommandEncoder(), output: yBuf, mode: 'decode-then-q4' }); // dropped
    const y = await fusedMatVec(device, m, x, { mode: 'decode-then-q4' });
    const ref = referenceMatVec(c.quantized, x);
    expect(maxRelativeError(y, ref, referenceAbsProducts(c.quantized, x))).toBeLessThan(F32_PRODUCT_TOLERANCE);
    for (const b of [xBuf, yBuf]) b.destroy();
    m.destroy();
  });

  it('rejects null x, a host x on the encoder path, aliased x/output, an output without COPY_SRC, a destroyed matrix', async () => {
    const { device } = gpu.get();
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const both = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buf = device.createBuffer({ size: 96 * 4, usage: both });
    const out = device.createBuffer({ size: 40 * 4, usage: GPUBufferUsage.STORAGE });
    const encoder = device.createCommandEncoder();
    expect(await code(() => fusedMatVec(device, m, null as never))).toBe('BAD_X');
    expect(await code(() => fusedMatVec(device, m, 'x' as never))).toBe('BAD_X');
    expect(await code(() => fusedMatVec(device, m, x, { encoder, output: out }))).toBe('HOST_X_WITH_ENCODER');
    expect(await code(() => fusedMatVec(device, m, buf, { output: buf }))).toBe('ALIASED_BUFFERS');
    expect(await code(() => fusedMatVec(device, m, buf, { output: out }))).toBe('BAD_USAGE'); // read back needs COPY_SRC
    m.destroy();
    expect(await code(() => fusedMatVec(device, m, x))).toBe('MATRIX_DESTROYED');
    for (const b of [buf, out]) b.destroy();
  });

  it('a destroyed x or output buffer on the submit path is a DeviceError, not an all-zero y', async () => {
    const { device } = gpu.get();
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const xBuf = device.createBuffer({ size: 96 * 4, usage });
    xBuf.destroy();
    const e = await fusedMatVec(device, m, xBuf).catch((err) => err);
    expect(e).toBeInstanceOf(DeviceError);
    expect(e.code).toBe('GPU_VALIDATION');
    const out = device.createBuffer({ size: 40 * 4, usage });
    out.destroy();
    expect(await code(() => fusedMatVec(device, m, x, { output: out }))).toBe('GPU_VALIDATION');
    // and the next correct call is unaffected
    const y = await fusedMatVec(device, m, x);
    expect(maxRelativeError(y, referenceMatVec(c.quantized, x), referenceAbsProducts(c.quantized, x))).toBeLessThan(F32_PRODUCT_TOLERANCE);
    m.destroy();
  });

  it('short scales or biases at upload, and an upload to a destroyed device, are typed errors', async () => {
    const { device } = gpu.get();
    const q = c.quantized;
    expect(() => uploadMatrix(device, { params: { ...q, scales: q.scales.subarray(1) }, encoded: c.encoded })).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => uploadMatrix(device, { params: { ...q, biases: q.biases!.subarray(2) }, encoded: c.encoded })).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    const second = await requestNodeDevice();
    second.device.destroy();
    await second.device.lost;
    // WebGPU cannot say synchronously that a device is gone: the upload succeeds, its first use fails typed.
    const m = uploadMatrix(second.device, { params: q, encoded: c.encoded });
    const e = await Promise.resolve().then(() => fusedMatVec(second.device, m, x)).catch((err) => err);
    expect(e).toBeInstanceOf(DeviceError);
    expect(e.code).toBe('DEVICE_LOST');
  });
});

describe('GPU index integrity (tile checks)', () => {
  it('streams that end in valid states but decode the wrong indices are caught by the decode kernel', async () => {
    const { device } = gpu.get();
    // Tiles 0 and 1 hold mirror patterns (0,1,0,1… and 1,0,1,0…) of equally frequent values, so
    // every lane codes to the same length: swapping the two tiles' streams leaves every lane a
    // valid stream of the other tile's indices.
    const rows = 128, cols = 64;
    const indices = Uint8Array.from({ length: rows * cols }, (_, i) => ((i % cols) + (Math.floor(i / cols) < 64 ? 0 : 1)) % 2);
    const enc = encodeIndices(indices, rows, cols, 32, { symbolsPerLane: 64, lanesPerTile: 64 });
    const g = enc.geometry;
    expect(g.tiles).toBe(2);
    expect(new Set(enc.laneLengths).size).toBe(1);
    const half = enc.data.length / 2, lanes = g.lanes / 2;
    const data = Uint32Array.from([...enc.data.subarray(half), ...enc.data.subarray(0, half)]);
    const laneStates = Uint32Array.from([...enc.laneStates.subarray(lanes), ...enc.laneStates.subarray(0, lanes)]);
    const swapped = { ...enc, data, laneStates };
    expect(decodeIndices(swapped)).not.toEqual(indices); // the CPU decoder too ends cleanly: only indexCrc32 would notice
    const params = { rows, cols, quantizer: 'affine' as const, groupSize: 32, paramType: 'f16' as const, scales: new Uint16Array(rows * 2).fill(0x3c00), biases: new Uint16Array(rows * 2) };
    const intact = uploadMatrix(device, { params, encoded: enc });
    expect(await decodeOnGpu(device, intact)).toEqual(packNibbles(indices, rows, cols));
    const m = uploadMatrix(device, { params, encoded: swapped });
    await expect(decodeOnGpu(device, m)).rejects.toThrowError(expect.objectContaining({ code: 'GPU_INDEX_CHECK_FAILED' }));
    const status = await readStreamStatus(device, m);
    expect(status).toMatchObject({ failedLanes: 0, failedTiles: 2, firstFailedTile: 0 });
    // Without tile checks (older containers) the same streams pass: the check is what catches them.
    const unchecked = uploadMatrix(device, { params, encoded: { ...swapped, tileChecks: undefined } });
    expect(await decodeOnGpu(device, unchecked)).not.toEqual(packNibbles(indices, rows, cols));
    for (const x of [intact, m, unchecked]) x.destroy();
  });
});
