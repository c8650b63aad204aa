import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeContainer } from '../src/container/container.js';
import { ContainerError } from '../src/errors.js';
import { cpuBackend, gpuBackend, type MatVecBackend } from '../src/llm/backends.js';
import { generate, LlamaRuntime } from '../src/llm/engine.js';
import { modelFromCheckpoint, modelFromContainer, type LlamaModel } from '../src/llm/model.js';
import { loadModel } from '../src/io/formats.js';
import { decodePiece, encode, readTokenizer } from '../src/llm/tokenizer.js';
import { bundledModel } from '../src/paths.js';
import { rng } from './helpers.js';
import { useDevice } from './gpu/setup.js';

const gpu = useDevice();
const bin = new Uint8Array(readFileSync(bundledModel().model));
const tokBytes = new Uint8Array(readFileSync(bundledModel().tokenizer));
const KNOWN_FP32 = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high';
const code = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(ContainerError); return (e as ContainerError).code; } return 'no error'; };

describe('stories260K through the runtime', () => {
  const model = modelFromCheckpoint(bin, { groupSize: 32 });
  const tokenizer = readTokenizer(tokBytes, model.config.vocabSize);
  const run = (m: LlamaModel, backend: MatVecBackend, steps = 64) =>
    generate(new LlamaRuntime(m, backend), tokenizer, { steps });

  it('the fp32 CPU path writes the known greedy output (the engine is run.c\'s algorithm)', async () => {
    const g = await run(model, cpuBackend(model, 'cpu-fp32'), 60);
    expect(g.text.startsWith(KNOWN_FP32)).toBe(true);
  });

  it('fused, decode-then-q4 and q4 produce exactly the CPU reference tokens for 64 steps (g32)', async () => {
    const ref = await run(model, cpuBackend(model, 'cpu'));
    expect(ref.tokens.length).toBeGreaterThanOrEqual(60);
    expect(ref.text.startsWith('Once upon a time, there was a little girl named Lily')).toBe(true);
    for (const mode of ['fused', 'decode-then-q4', 'q4'] as const) {
      const backend = gpuBackend(gpu.get().device, model, mode);
      const g = await run(model, backend);
      backend.destroy();
      expect(g.tokens, mode).toEqual(ref.tokens);
    }
  }, 300_000);

  it('ecsq at 4.1 bits/weight: fused generation is token-exact vs the CPU reference, also from a container; q4 modes are MODE_UNAVAILABLE', async () => {
    const ecsq = modelFromCheckpoint(bin, { quantizer: 'ecsq', rate: { bits: 4.1 } });
    const ref = await run(ecsq, cpuBackend(ecsq, 'cpu'));
    expect(ref.text.startsWith('Once upon a time')).toBe(true);
    const backend = gpuBackend(gpu.get().device, ecsq, 'fused');
    expect((await run(ecsq, backend)).tokens).toEqual(ref.tokens);
    backend.destroy();
    const fromFile = modelFromContainer(writeContainer([...ecsq.matrices].map(([name, m]) => ({ name, quantized: m.quantized, encoded: m.encoded })), (await loadModel(bin)).extras));
    expect((await run(fromFile, cpuBackend(fromFile, 'cpu'))).tokens).toEqual(ref.tokens);
    for (const mode of ['q4', 'decode-then-q4'] as const) {
      expect(() => gpuBackend(gpu.get().device, ecsq, mode)).toThrowError(expect.objectContaining({ code: 'MODE_UNAVAILABLE' }));
    }
  }, 300_000);

  it('a container written by encode runs like the checkpoint it came from', async () => {
    const container = writeContainer([...model.matrices].map(([name, m]) => ({ name, quantized: m.quantized, encoded: m.encoded })), (await loadModel(bin)).extras);
    const fromFile = modelFromContainer(container);
    const a = await run(model, cpuBackend(model, 'cpu'), 30);
    const b = await run(fromFile, cpuBackend(fromFile, 'cpu'), 30);
    expect(b.tokens).toEqual(a.tokens);
    const backend = gpuBackend(gpu.get().device, fromFile, 'fused');
    expect((await run(fromFile, backend, 30)).tokens).toEqual(a.tokens);
    backend.destroy();
  }, 120_000);

  it('prompts are BPE-encoded as run.c does and decode back to the text', async () => {
    const ids = encode(tokenizer, 'Lily had a dog');
    expect(ids[0]).toBe(1);
    const text = ids.slice(1).map((t, i) => new TextDecoder().decode(decodePiece(tokenizer, ids[i], t))).join('');
    expect(text).toBe('Lily had a dog'); // the dummy-prefix space is dropped after BOS, as run.c prints
    expect(ids.length).toBeLessThan(2 + 'Lily had a dog'.length); // merges happened
    const g = await generate(new LlamaRuntime(model, cpuBackend(model, 'cpu')), tokenizer, { steps: 20, prompt: 'Lily had a dog' });
    expect(g.text.startsWith('Lily had a dog')).toBe(true);
  });

  it('any llama2.c checkpoint of the architecture: a random one with other sizes and its own classifier', async () => {
    // dim 48, hidden 100, 2 layers, 6 heads over 2 KV heads, vocab 512, seq 40, vocab_size < 0: unshared classifier.
    const [dim, hidden, layers, heads, kvHeads, vocab, seq] = [48, 100, 2, 6, 2, 512, 40];
    const kvDim = (dim * kvHeads) / heads, headSize = dim / heads;
    const floats = vocab * dim + layers * dim + layers * (2 * dim * dim + 2 * kvDim * dim) + layers * dim + layers * 3 * hidden * dim + dim + seq * headSize + vocab * dim;
    const bytes = new Uint8Array(28 + floats * 4);
    const dv = new DataView(bytes.buffer);
    [dim, hidden, layers, heads, kvHeads, -vocab, seq].forEach((v, i) => dv.setInt32(i * 4, v, true));
    const r = rng(17);
    for (let i = 0; i < floats; i++) dv.setFloat32(28 + i * 4, (r() - 0.5) * 0.4, true);
    const m = modelFromCheckpoint(bytes, { groupSize: 32 });
    expect(m.config.sharedClassifier).toBe(false);
    expect(m.matrices.get('classifier')!.quantized.rows).toBe(vocab);
    const ref = await generate(new LlamaRuntime(m, cpuBackend(m, 'cpu')), tokenizer, { steps: 40 });
    expect(ref.tokens.length).toBeGreaterThan(10);
    for (const mode of ['fused', 'q4'] as const) {
      const backend = gpuBackend(gpu.get().device, m, mode);
      const g = await generate(new LlamaRuntime(m, backend), tokenizer, { steps: 40 });
      backend.destroy();
      expect(g.tokens, mode).toEqual(ref.tokens);
    }
  }, 120_000);

  it('rejects a checkpoint whose header disagrees with its size, and tokenizers that do not fit', async () => {
    const lying = bin.slice();
    new DataView(lying.buffer).setInt32(8, 6, true); // n_layers
    expect(code(() => modelFromCheckpoint(lying))).toBe('BAD_SIZE');
    expect(code(() => readTokenizer(tokBytes, 500))).toBe('TOKENIZER_MISMATCH');
    expect(code(() => readTokenizer(tokBytes, 600))).toBe('TOKENIZER_MISMATCH');
    expect(code(() => readTokenizer(tokBytes.subarray(0, 3), 512))).toBe('TRUNCATED');
    const noModel = writeContainer([...model.matrices].slice(0, 1).map(([name, m]) => ({ name, quantized: m.quantized, encoded: m.encoded })));
    expect(code(() => modelFromContainer(noModel))).toBe('NOT_A_MODEL');
    // A checksum-valid container whose config claims a 2^30-token context: refused before any allocation.
    const { extras } = await loadModel(bin);
    const huge = writeContainer([...model.matrices].map(([name, m]) => ({ name, quantized: m.quantized, encoded: m.encoded })),
      { ...extras, model: { format: 'llama2c', config: { ...model.config, seqLen: 2 ** 30 } } });
    expect(code(() => modelFromContainer(huge))).toBe('BAD_HEADER');
  });
});
