// The demo page: loads the bundled stories260K model, quantizes and entropy-codes it in the page,
// and streams greedy text through the library in the chosen mode. window.demo.run is the same
// entry point the buttons use, for automation (test/demo.test.ts).
import modelUrl from '../fixtures/stories260K/stories260K.bin?url';
import tokenizerUrl from '../fixtures/stories260K/tok512.bin?url';
import { deviceDescriptor } from '../src/gpu/device.js';
import { cpuBackend, gpuBackend, type RuntimeMode } from '../src/llm/backends.js';
import { generate, LlamaRuntime } from '../src/llm/engine.js';
import { modelFromCheckpoint, type LlamaModel } from '../src/llm/model.js';
import { readTokenizer, type Tokenizer } from '../src/llm/tokenizer.js';

export interface DemoRun { mode: RuntimeMode; tokens: number[]; text: string; tokensPerSec: number; bytesPerToken: number | null }
/**
 * What to run: the mode, and the quantization of the model — affine q4 with a group size, or
 * `ecsq` at an all-in bits/weight budget (fused, fp32 and cpu modes only: it has no plain q4 form).
 */
export interface DemoOptions { mode: RuntimeMode; steps: number; group: number; quantizer?: 'affine' | 'ecsq'; bits?: number; prompt?: string }
declare global { interface Window { demo: { ready: Promise<string>; run: (o: DemoOptions) => Promise<DemoRun> } } }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const bytes = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());

const checkpoint = bytes(modelUrl);
const models = new Map<string, LlamaModel>();
let tokenizer: Tokenizer | undefined;
let device: GPUDevice | undefined;

async function setup(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'no WebGPU adapter: only the cpu mode works';
  device = await adapter.requestDevice(deviceDescriptor(adapter));
  const i = adapter.info;
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ');
}

/** How a run's row in the table names its quantization. */
const label = (o: DemoOptions) => (o.quantizer === 'ecsq' ? `ecsq ${o.bits ?? DEFAULT_ECSQ_BITS} b/w` : `g${o.group}`);
const DEFAULT_ECSQ_BITS = 4.1;

async function run(o: DemoOptions): Promise<DemoRun> {
  await window.demo.ready;
  const key = label(o);
  if (!models.has(key)) {
    models.set(key, modelFromCheckpoint(await checkpoint, o.quantizer === 'ecsq'
      ? { quantizer: 'ecsq', rate: { bits: o.bits ?? DEFAULT_ECSQ_BITS } }
      : { groupSize: o.group }));
  }
  const model = models.get(key)!;
  tokenizer ??= readTokenizer(await bytes(tokenizerUrl), model.config.vocabSize);
  if (!o.mode.startsWith('cpu') && !device) throw new Error('this browser has no WebGPU adapter');
  const backend = o.mode === 'cpu' || o.mode === 'cpu-fp32' ? cpuBackend(model, o.mode) : gpuBackend(device!, model, o.mode);
  try {
    const rt = new LlamaRuntime(model, backend);
    const out = $('out');
    out.textContent = '';
    const g = await generate(rt, tokenizer, { steps: o.steps, prompt: o.prompt, onToken: (_, piece) => { out.textContent += piece; } });
    const bytesPerToken = o.mode.startsWith('cpu') ? null : rt.bytesPerToken();
    $('stats').insertAdjacentHTML('beforeend', `<tr><td>${o.mode} (${key})</td><td>${g.tokensPerSec.toFixed(1)}</td><td>${bytesPerToken ?? '–'}</td><td>${g.tokens.length}</td></tr>`);
    return { mode: o.mode, tokens: g.tokens, text: g.text, tokensPerSec: g.tokensPerSec, bytesPerToken };
  } finally {
    backend.destroy();
  }
}

const options = () => ({
  steps: Number($<HTMLInputElement>('steps').value), group: Number($<HTMLSelectElement>('group').value), prompt: $<HTMLInputElement>('prompt').value,
  quantizer: $<HTMLSelectElement>('quantizer').value as 'affine' | 'ecsq', bits: Number($<HTMLInputElement>('bits').value),
});
/** Runs from the page's buttons; a refused mode (ecsq has no q4 form) is shown, not thrown away. */
const runShown = (o: DemoOptions) => run(o).catch((e: Error) => { $('out').textContent = `${o.mode}: ${e.message}`; });
window.demo = {
  ready: setup().then((a) => {
    $('adapter').textContent = `WebGPU adapter: ${a}${/swiftshader/i.test(a) ? ' — software (SwiftShader): tokens/s here are CPU figures, not GPU ones' : ''}`;
    return a;
  }),
  run,
};
$('go').addEventListener('click', () => void runShown({ mode: $<HTMLSelectElement>('mode').value as RuntimeMode, ...options() }));
$('compare').addEventListener('click', async () => {
  const o = options();
  for (const mode of o.quantizer === 'ecsq' ? ['fused', 'fp32'] as const : ['fused', 'q4', 'fp32'] as const) await runShown({ mode, ...o });
});
