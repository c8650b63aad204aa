// Runs the whole pipeline in the page: quantize and encode in the browser, upload, then check the
// decode kernel (bit-exact) and fusedMatVec in every mode against the CPU reference.
import { gaussianWeights } from '../../bench/synthetic.js';
import { compressMatrix, deviceDescriptor, verifyTensorOnGpu, type GpuCheck } from '../../src/index.js';

declare global { interface Window { __result?: { adapter: string; checks: GpuCheck[] } | { error: string } } }

async function main(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const checks: GpuCheck[] = [];
  for (const [rows, cols, groupSize] of [[64, 64, 32], [172, 64, 64], [96, 1100, 64]]) {
    const c = compressMatrix({ name: `${rows}x${cols}`, rows, cols, kind: 'float', weights: gaussianWeights(rows * cols, rows + cols) }, { groupSize });
    checks.push(...await verifyTensorOnGpu(device, c.name, c.quantized, c.encoded));
  }
  const i = adapter.info;
  window.__result = { adapter: [i.vendor, i.architecture, i.device].filter(Boolean).join(' / '), checks };
  document.getElementById('log')!.textContent = JSON.stringify(window.__result, null, 1);
  device.destroy();
}

main().catch((e) => { window.__result = { error: String((e as Error).stack ?? e) }; });
