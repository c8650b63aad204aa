/**
 * Where the runtime's weight products run. Every GPU product goes through the library's public
 * API — `uploadMatrix` + `fusedMatVec` (or `uploadDense` + `denseMatVec` for fp32) — recorded
 * into the runtime's own command encoder, one encoder and one submit per batch of products.
 */
import { denseMatVec, fusedMatVec, uploadDense, type GpuDenseMatrix } from '../gpu/matvec.js';
import { uploadMatrix, type GpuMatrix } from '../gpu/upload.js';
import { COPY_DST, COPY_SRC, MAP_READ, STORAGE } from '../gpu/usage.js';
import { InvalidInputError } from '../errors.js';
import { referenceMatVec } from '../reference.js';
import { modelMatrix, type LlamaModel } from './model.js';

/** How the runtime multiplies by weights: the library's three GPU modes, dense fp32, or the CPU. */
export type RuntimeMode = 'fused' | 'decode-then-q4' | 'q4' | 'fp32' | 'cpu' | 'cpu-fp32';
export const RUNTIME_MODES: readonly RuntimeMode[] = ['fused', 'decode-then-q4', 'q4', 'fp32', 'cpu', 'cpu-fp32'];

/** One product: y = W[matrix]·x. */
export interface MatVecJob { matrix: string; x: Float32Array }

export interface MatVecBackend {
  mode: RuntimeMode;
  /** Which weights the embedding lookup must use to match the products. */
  weights: 'quantized' | 'float';
  /** Runs the products of one step of the model, in one submit on the GPU. */
  run(jobs: MatVecJob[]): Promise<Float32Array[]>;
  /** Weight bytes read per product of each matrix (streams/nibbles + scales, or f32). */
  bytesRead(matrix: string): number;
  destroy(): void;
}

/** The CPU reference: the same quantized weights through the CPU decoder, f64 accumulation (or the float originals for `cpu-fp32`). */
export function cpuBackend(model: LlamaModel, mode: 'cpu' | 'cpu-fp32'): MatVecBackend {
  return {
    mode, weights: mode === 'cpu' ? 'quantized' : 'float',
    async run(jobs) {
      return jobs.map(({ matrix, x }) => {
        const m = modelMatrix(model, matrix);
        if (mode === 'cpu') return Float32Array.from(referenceMatVec(m.quantized, x));
        if (!m.float) throw new InvalidInputError('NO_FLOAT_WEIGHTS', 'cpu-fp32 needs a float checkpoint');
        const { rows, cols } = m.quantized;
        const y = new Float32Array(rows);
        for (let r = 0; r < rows; r++) { let acc = 0; for (let c = 0; c < cols; c++) acc += m.float[r * cols + c] * x[c]; y[r] = acc; }
        return y;
      });
    },
    bytesRead: (matrix) => { const m = modelMatrix(model, matrix).quantized; return mode === 'cpu' ? 0 : m.rows * m.cols * 4; },
    destroy() {},
  };
}

/** Uploads every matrix once and runs products on `device` in the given mode. */
export function gpuBackend(device: GPUDevice, model: LlamaModel, mode: 'fused' | 'decode-then-q4' | 'q4' | 'fp32'): MatVecBackend {
  const compressed = new Map<string, GpuMatrix>();
  const dense = new Map<string, GpuDenseMatrix>();
  const io = new Map<string, { x: GPUBuffer; y: GPUBuffer }>();
  let rowsTotal = 0;
  // Checked before anything is uploaded, so a refused mode leaves no buffers behind.
  const ecsq = [...model.matrices.values()].find((m) => m.quantized.quantizer === 'ecsq');
  if (ecsq && (mode === 'q4' || mode === 'decode-then-q4')) throw new InvalidInputError('MODE_UNAVAILABLE', `mode '${mode}' needs plain q4 weights; an ecsq model runs fused (or fp32, cpu)`);
  for (const [name, m] of model.matrices) {
    const { rows, cols } = m.quantized;
    if (mode === 'fp32') {
      if (!m.float) throw new InvalidInputError('NO_FLOAT_WEIGHTS', 'fp32 mode needs a float checkpoint');
      dense.set(name, uploadDense(device, m.float, rows, cols));
    } else {
      compressed.set(name, uploadMatrix(device, { params: m.quantized, encoded: m.encoded }, { q4: mode === 'q4', label: name }));
    }
    io.set(name, {
      x: device.createBuffer({ label: `${name} x`, size: cols * 4, usage: STORAGE | COPY_DST }),
      y: device.createBuffer({ label: `${name} y`, size: rows * 4, usage: STORAGE | COPY_SRC }),
    });
    rowsTotal += rows;
  }
  // Enough for every output of one step (a step never repeats a matrix).
  const staging = device.createBuffer({ label: 'runtime readback', size: rowsTotal * 4, usage: MAP_READ | COPY_DST });
  return {
    mode, weights: mode === 'fp32' ? 'float' : 'quantized',
    async run(jobs) {
      const encoder = device.createCommandEncoder({ label: 'runtime step' });
      const offsets: number[] = [];
      let at = 0;
      for (const { matrix, x } of jobs) {
        const b = io.get(matrix);
        if (!b) throw new InvalidInputError('UNKNOWN_MATRIX', `the model has no matrix ${matrix}`);
        device.queue.writeBuffer(b.x, 0, x as Float32Array<ArrayBuffer>);
        if (mode === 'fp32') denseMatVec(device, dense.get(matrix)!, b.x, { encoder, output: b.y });
        else fusedMatVec(device, compressed.get(matrix)!, b.x, { encoder, output: b.y, mode });
        encoder.copyBufferToBuffer(b.y, 0, staging, at, b.y.size);
        offsets.push(at);
        at += b.y.size;
      }
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_READ, 0, at);
      const all = staging.getMappedRange(0, at).slice(0);
      staging.unmap();
      return jobs.map((j, i) => new Float32Array(all, offsets[i], io.get(j.matrix)!.y.size / 4));
    },
    bytesRead(matrix) {
      if (mode === 'fp32') { const d = dense.get(matrix)!; return d.rows * d.cols * 4; }
      const m = compressed.get(matrix)!;
      return mode === 'fused' ? m.bytes.streams + m.bytes.params : m.bytes.q4 + m.bytes.params;
    },
    destroy() {
      for (const m of compressed.values()) m.destroy();
      for (const d of dense.values()) d.destroy();
      for (const b of io.values()) { b.x.destroy(); b.y.destroy(); }
      staging.destroy();
    },
  };
}
