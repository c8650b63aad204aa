/**
 * `npm run bench:llm`: stories260K greedy generation in Node (Dawn) — tokens that match the fp32
 * greedy output per group size, tokens/s per mode and weight bytes read per token.
 */
import { readFileSync } from 'node:fs';
import { cpuBackend, gpuBackend, type MatVecBackend } from '../src/llm/backends.js';
import { generate, LlamaRuntime } from '../src/llm/engine.js';
import { modelFromCheckpoint, type LlamaModel } from '../src/llm/model.js';
import { readTokenizer } from '../src/llm/tokenizer.js';
import { requestNodeDevice } from '../src/node/device.js';
import { bundledModel } from '../src/paths.js';

const STEPS = Number(process.argv[2] ?? 128);
const bin = new Uint8Array(readFileSync(bundledModel().model));
const nd = await requestNodeDevice();
console.log(`stories260K, ${STEPS} steps, Node + Dawn on ${nd.description}${nd.software ? ' — software (SwiftShader)' : ''}\n`);
const tokenizerFor = (m: LlamaModel) => readTokenizer(new Uint8Array(readFileSync(bundledModel().tokenizer)), m.config.vocabSize);
const run = async (m: LlamaModel, backend: MatVecBackend) => {
  // A short warm-up first (pipeline creation, the one-time decode of decode-then-q4, JIT).
  await generate(new LlamaRuntime(m, backend), tokenizerFor(m), { steps: 8 });
  const rt = new LlamaRuntime(m, backend);
  const g = await generate(rt, tokenizerFor(m), { steps: STEPS });
  backend.destroy();
  return { ...g, bytes: backend.mode.startsWith('cpu') ? null : rt.bytesPerToken() };
};
const common = (a: number[], b: number[]) => { let n = 0; while (n < a.length && n < b.length && a[n] === b[n]) n++; return n; };

const g64 = modelFromCheckpoint(bin, { groupSize: 64 });
const fp32 = await run(g64, cpuBackend(g64, 'cpu-fp32'));
console.log(`fp32 greedy: ${JSON.stringify(fp32.text)}\n`);
console.log(`group  leading tokens equal to the fp32 greedy output (of ${fp32.tokens.length})   quantized text`);
for (const groupSize of [32, 64, 128]) {
  const m = groupSize === 64 ? g64 : modelFromCheckpoint(bin, { groupSize });
  const q = await run(m, cpuBackend(m, 'cpu'));
  console.log(`g${groupSize}    ${String(common(q.tokens, fp32.tokens)).padStart(3)} leading tokens match   ${JSON.stringify(q.text.slice(0, 100))}…`);
}
console.log('\nmode             tokens/s   weight bytes/token   tokens equal to cpu (g64)');
const ref = await run(g64, cpuBackend(g64, 'cpu'));
for (const mode of ['fused', 'decode-then-q4', 'q4', 'fp32'] as const) {
  const r = await run(g64, gpuBackend(nd.device, g64, mode));
  console.log(`${mode.padEnd(15)} ${r.tokensPerSec.toFixed(1).padStart(9)}   ${String(r.bytes).padStart(18)}   ${mode === 'fp32' ? '(fp32 weights)' : r.tokens.length === ref.tokens.length && common(r.tokens, ref.tokens) === ref.tokens.length ? 'all' : `${common(r.tokens, ref.tokens)}`}`);
}
console.log(`${'cpu'.padEnd(15)} ${ref.tokensPerSec.toFixed(1).padStart(9)}   ${'–'.padStart(18)}`);
nd.device.destroy();
