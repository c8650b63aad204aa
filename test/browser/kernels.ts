// Runs the whole pipeline in the page: quantize and encode in the browser, upload, then check the
// decode kernel (bit-exact) and fusedMatVec in every mode against the CPU reference.
import { compressMatrix, deviceDescriptor, verifyTensorOnGpu, type GpuCheck } from '../../src/index.js';

declare global { interface Window { __result?: { adapter: string; checks: GpuCheck[] } | { error: string } } }

function weights(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const u = a / 2 ** 32;
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return 0.02 * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * (a / 2 ** 32));
  });
}

async function main(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const checks: GpuCheck[] = [];
  for (const [rows, cols, groupSize] of [[64, 64, 32], [172, 64, 64], [96, 1100, 64]]) {
    const c = compressMatrix({ name: `${rows}x${cols}`, rows, cols, kind: 'float', weights: weights(rows * cols, rows + cols) }, { groupSize });
    checks.push(...await verifyTensorOnGpu(device, c.name, c.quantized, c.encoded));
  }
  const i = adapter.info;
  window.__result = { adapter: [i.vendor, i.architecture, i.device].filter(Boolean).join(' / '), checks };
  document.getElementById('log')!.textContent = JSON.stringify(window.__result, null, 1);
  device.destroy();
}

main().catch((e) => { window.__result = { error: String((e as Error).stack ?? e) }; });
