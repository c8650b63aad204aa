/**
 * Model quality of a quantizer, measured as llama.cpp's `llama-perplexity --kl-divergence` does:
 * the fp32 model samples seeded continuations, both models read the same tokens, and at every
 * position the quantized model's next-token distribution is compared with the fp32 one.
 */
import { InvalidInputError } from '../errors.js';
import { dequantize, energyToDb, quantizationEnergy } from '../quantize/quantize.js';
import { parameterBits } from '../quantize/types.js';
import { encodedBytes } from '../rans/codec.js';
import { rng } from '../rng.js';
import { cpuBackend } from './backends.js';
import { argmax, LlamaRuntime } from './engine.js';
import type { LlamaModel } from './model.js';
import { BOS } from './tokenizer.js';

/** Options of {@link evaluateModel}. */
export interface EvalOptions {
  /** Continuations sampled (default 16). */
  sequences?: number;
  /** Tokens per continuation, at most the model's seqLen (default 256, or seqLen if smaller). */
  tokens?: number;
  /** Seed of the sampling (default 1): the same seed gives the same tokens and figures. */
  seed?: number;
  /** Called after each sequence with the number done. */
  onSequence?: (done: number, total: number) => void;
}

/** What {@link evaluateModel} measured. */
export interface EvalResult {
  /** Mean KL(fp32 ‖ quantized) of the next-token distributions, nats per token. */
  klDivergence: number;
  /** exp(mean −ln q(next token)) of the quantized model on the fp32 model's continuations. */
  perplexity: number;
  /** The same for the fp32 model (the floor the quantized perplexity is read against). */
  fp32Perplexity: number;
  /** Share of positions where both models' most likely next token is the same. */
  top1Agreement: number;
  /** All-in coded size of every matrix: streams with all their metadata, plus scales and biases. */
  bitsPerWeight: number;
  /** SQNR of the quantized weights over every matrix, dB (null when the model has no float weights). */
  sqnrDb: number | null;
  /** Positions compared (sequences end early at BOS). */
  tokens: number;
  sequences: number;
  seed: number;
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** A token drawn from log-probabilities (temperature 1). */
function sample(logp: Float64Array, u: number): number {
  let acc = 0;
  for (let i = 0; i < logp.length; i++) {
    acc += Math.exp(logp[i]);
    if (u < acc) return i;
  }
  return logp.length - 1;
}

/** All-in bits per weight and SQNR of a model's matrices. */
export function modelSize(model: LlamaModel): { bitsPerWeight: number; sqnrDb: number | null } {
  let bits = 0, weights = 0, signal = 0, noise = 0, hasFloat = true;
  for (const m of model.matrices.values()) {
    const q = m.quantized;
    weights += q.rows * q.cols;
    bits += 8 * encodedBytes(m.encoded) + parameterBits(q);
    if (m.float) {
      const e = quantizationEnergy(m.float, dequantize(q));
      signal += e.signal;
      noise += e.noise;
    } else hasFloat = false;
  }
  return { bitsPerWeight: bits / weights, sqnrDb: hasFloat ? energyToDb({ signal, noise }) : null };
}

/**
 * Compares a quantized model with its fp32 weights on seeded continuations sampled by the fp32
 * model (temperature 1), on the CPU. The model must come from a float checkpoint
 * (`modelFromCheckpoint`), which keeps the fp32 weights.
 *
 * @example
 * ```ts
 * const r = await evaluateModel(modelFromCheckpoint(bin, { groupSize: 64 }), { sequences: 16, tokens: 256 });
 * console.log(r.klDivergence, r.perplexity, r.top1Agreement, r.bitsPerWeight);
 * ```
 */
export async function evaluateModel(model: LlamaModel, options: EvalOptions = {}): Promise<EvalResult> {
  const sequences = options.sequences ?? 16;
  const tokens = options.tokens ?? Math.min(256, model.config.seqLen);
  const seed = options.seed ?? 1;
  if (!Number.isInteger(sequences) || sequences < 1) throw new InvalidInputError('BAD_OPTION', `sequences must be a positive integer, got ${sequences}`);
  if (!Number.isInteger(tokens) || tokens < 1 || tokens > model.config.seqLen) throw new InvalidInputError('BAD_OPTION', `tokens must be an integer in 1..${model.config.seqLen} (the model's seqLen), got ${tokens}`);
  if ([...model.matrices.values()].some((m) => !m.float)) throw new InvalidInputError('NO_FLOAT_WEIGHTS', 'evaluation compares with the fp32 weights: load the model from a float checkpoint, not a container');
  const fp32 = cpuBackend(model, 'cpu-fp32'), quant = cpuBackend(model, 'cpu');
  let kl = 0, nll = 0, nllFp32 = 0, agree = 0, n = 0;
  for (let s = 0; s < sequences; s++) {
    const next = rng(seed * 1_000_003 + s);
    const ref = new LlamaRuntime(model, fp32), q = new LlamaRuntime(model, quant);
    let token = BOS;
    for (let pos = 0; pos < tokens; pos++) {
      const refLogits = await ref.forward(token, pos), qLogits = await q.forward(token, pos);
      if (argmax(refLogits) === argmax(qLogits)) agree++;
      const p = logSoftmax(refLogits), lq = logSoftmax(qLogits);
      let d = 0;
      for (let i = 0; i < p.length; i++) d += Math.exp(p[i]) * (p[i] - lq[i]);
      kl += d;
      token = sample(p, next());
      nll -= lq[token];
      nllFp32 -= p[token];
      n++;
      if (token === BOS) break; // llama2.c stories end at BOS
    }
    options.onSequence?.(s + 1, sequences);
  }
  fp32.destroy();
  quant.destroy();
  return { klDivergence: kl / n, perplexity: Math.exp(nll / n), fp32Perplexity: Math.exp(nllFp32 / n), top1Agreement: agree / n, ...modelSize(model), tokens: n, sequences, seed };
}
