// Runs the whole pipeline in the page: quantize and encode in the browser, upload, then check the
// decode kernel (bit-exact) and fusedMatVec in every mode against the CPU reference.
import { gaussianWeights } from '../../bench/synthetic.js';
import {
  blobSource, compressEntry, compressMatrix, decodeTensor, deviceDescriptor, halfToF32, loadModelMatrices, openContainer, openModel,
  verifyTensor, verifyTensorOnGpu, writeContainer, type GpuCheck,
} from '../../src/index.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { toF16Array } from '../../src/quantize/half.js';

/** What the Blob path did: a user's File read in slices, encoded, and its container verified. */
interface BlobResult { matrices: string[]; identical: boolean; largestSlice: number; fileBytes: number; containerVerified: boolean; widenedExactly: boolean }

declare global { interface Window { __result?: { adapter: string; checks: GpuCheck[]; blob: BlobResult } | { error: string } } }

/** A page encodes a model the user picked (a File) without reading it whole: slices only. */
async function blobRoundTrip(): Promise<BlobResult> {
  const rows = 96, cols = 160;
  const w = gaussianWeights(rows * cols, 5);
  const half = toF16Array(w);
  const bytes = writeSafetensors([
    { name: 'w.weight', dtype: 'F16', shape: [rows, cols], bytes: new Uint8Array(half.buffer) },
    { name: 'n.weight', dtype: 'F32', shape: [cols], bytes: new Uint8Array(new Float32Array(cols).buffer) },
  ]);
  const file = new File([bytes.slice().buffer], 'picked.safetensors');
  const slices: number[] = [];
  const base = blobSource(file);
  const source = { ...base, read: (o: number, n: number) => { slices.push(n); return base.read(o, n); } };
  const reader = await openModel(source);
  const c = await compressEntry(source, reader.matrices[0], { groupSize: 32 }, undefined, 16 * cols * 2);
  const whole = (await loadModelMatrices(bytes))[0];
  const ref = compressMatrix(whole, { groupSize: 32 });
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);
  const container = writeContainer([{ name: c.name, quantized: c.quantized, encoded: c.encoded }]);
  const opened = await openContainer(blobSource(new Blob([container.slice().buffer]), 'out.rgmv'));
  const t = await opened.readTensor(0);
  verifyTensor(t);
  return {
    matrices: reader.matrices.map((m) => m.name),
    identical: same(c.quantized.indices, ref.quantized.indices) && same(c.encoded.data, ref.encoded.data) && same(decodeTensor(t).indices, ref.quantized.indices),
    largestSlice: Math.max(...slices), fileBytes: bytes.length, containerVerified: true,
    widenedExactly: whole.kind === 'float' && same(whole.weights, halfToF32(half, 'f16')),
  };
}

async function main(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const checks: GpuCheck[] = [];
  for (const [rows, cols, groupSize] of [[64, 64, 32], [172, 64, 64], [96, 1100, 64]]) {
    const c = compressMatrix({ name: `${rows}x${cols}`, rows, cols, kind: 'float', weights: gaussianWeights(rows * cols, rows + cols) }, { groupSize });
    checks.push(...await verifyTensorOnGpu(device, c.name, c.quantized, c.encoded));
  }
  // ecsq: row steps and exception lists (1 % outliers at 20σ make large exceptions), fused only.
  const r = 48, k = 1100;
  const w = gaussianWeights(r * k, 9).map((v, i) => (i % 97 === 0 ? 20 * v : v));
  const e = compressMatrix({ name: 'ecsq', rows: r, cols: k, kind: 'float', weights: w }, { quantizer: 'ecsq', rate: { bits: 3.8 } });
  checks.push(...await verifyTensorOnGpu(device, e.name, e.quantized, e.encoded));
  const blob = await blobRoundTrip();
  const i = adapter.info;
  window.__result = { adapter: [i.vendor, i.architecture, i.device].filter(Boolean).join(' / '), checks, blob };
  document.getElementById('log')!.textContent = JSON.stringify(window.__result, null, 1);
  device.destroy();
}

main().catch((e) => { window.__result = { error: String((e as Error).stack ?? e) }; });
