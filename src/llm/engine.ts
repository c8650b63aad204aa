/**
 * The llama2.c forward pass (run.c's algorithm: RMSNorm, RoPE, grouped-query attention with a KV
 * cache, SwiGLU, tied classifier) with every weight product delegated to a {@link MatVecBackend}.
 *
 * The other operations run on the CPU in f32, identically for every mode, for two reasons: they
 * read no weights (the model's bandwidth is all in the products, which is what the library
 * accelerates), and sharing them makes modes comparable token for token — only the products
 * differ between `fused`, `q4` and the CPU reference.
 */
import { InvalidInputError } from '../errors.js';
import type { MatVecBackend } from './backends.js';
import { classifierName, embeddingTable, type LlamaModel } from './model.js';
import { BOS, decodePiece, encode, type Tokenizer } from './tokenizer.js';

function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  ss = 1 / Math.sqrt(ss / x.length + 1e-5);
  for (let i = 0; i < x.length; i++) out[i] = w[i] * (ss * x[i]);
}

function softmax(x: Float32Array, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[i]);
  let sum = 0;
  for (let i = 0; i < n; i++) { x[i] = Math.exp(x[i] - max); sum += x[i]; }
  for (let i = 0; i < n; i++) x[i] /= sum;
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** One model instance with its KV cache. */
export class LlamaRuntime {
  private readonly keyCache: Float32Array;
  private readonly valueCache: Float32Array;
  private readonly embedding: Float32Array;

  constructor(readonly model: LlamaModel, readonly backend: MatVecBackend) {
    const c = model.config;
    const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
    this.keyCache = new Float32Array(c.nLayers * c.seqLen * kvDim);
    this.valueCache = new Float32Array(c.nLayers * c.seqLen * kvDim);
    this.embedding = embeddingTable(model, backend.weights);
  }

  /** Weight bytes one token reads: every layer matrix once, and the classifier. */
  bytesPerToken(): number {
    let n = 0;
    for (const name of this.model.matrices.keys()) if (name !== 'tok_embeddings' || this.model.config.sharedClassifier) n += this.backend.bytesRead(name);
    return n;
  }

  /** Logits for `token` at position `pos` (positions must be fed in order from 0). */
  async forward(token: number, pos: number): Promise<Float32Array> {
    const c = this.model.config;
    const { dim, nHeads, nKvHeads, seqLen } = c;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) throw new InvalidInputError('BAD_TOKEN', `token ${token} is outside the vocabulary`);
    if (pos < 0 || pos >= seqLen) throw new InvalidInputError('SEQUENCE_TOO_LONG', `position ${pos} is past the model's ${seqLen} positions`);
    const headSize = dim / nHeads, kvDim = (dim * nKvHeads) / nHeads, kvMul = nHeads / nKvHeads;
    const x = this.embedding.slice(token * dim, (token + 1) * dim);
    const xb = new Float32Array(dim);
    const att = new Float32Array(pos + 1);
    for (let l = 0; l < c.nLayers; l++) {
      rmsnorm(xb, x, this.model.rmsAtt[l]);
      const [q, k, v] = await this.backend.run([
        { matrix: `layers.${l}.wq`, x: xb }, { matrix: `layers.${l}.wk`, x: xb }, { matrix: `layers.${l}.wv`, x: xb },
      ]);
      // RoPE, as run.c: pairs (i, i+1) rotated by pos·10000^(−(i mod headSize)/headSize).
      for (let i = 0; i < dim; i += 2) {
        const freq = 1 / Math.pow(10000, (i % headSize) / headSize);
        const fcr = Math.cos(pos * freq), fci = Math.sin(pos * freq);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const v0 = vec[i], v1 = vec[i + 1];
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      const layerOff = l * seqLen * kvDim;
      this.keyCache.set(k, layerOff + pos * kvDim);
      this.valueCache.set(v, layerOff + pos * kvDim);
      // Grouped-query attention: query head h reads KV head ⌊h / kvMul⌋.
      xb.fill(0);
      for (let h = 0; h < nHeads; h++) {
        const kvOff = Math.floor(h / kvMul) * headSize;
        for (let t = 0; t <= pos; t++) {
          let score = 0;
          const kb = layerOff + t * kvDim + kvOff;
          for (let i = 0; i < headSize; i++) score += q[h * headSize + i] * this.keyCache[kb + i];
          att[t] = score / Math.sqrt(headSize);
        }
        softmax(att, pos + 1);
        for (let t = 0; t <= pos; t++) {
          const vb = layerOff + t * kvDim + kvOff;
          for (let i = 0; i < headSize; i++) xb[h * headSize + i] += att[t] * this.valueCache[vb + i];
        }
      }
      const [o] = await this.backend.run([{ matrix: `layers.${l}.wo`, x: xb }]);
      for (let i = 0; i < dim; i++) x[i] += o[i];
      rmsnorm(xb, x, this.model.rmsFfn[l]);
      const [h1, h3] = await this.backend.run([{ matrix: `layers.${l}.w1`, x: xb }, { matrix: `layers.${l}.w3`, x: xb }]);
      for (let i = 0; i < h1.length; i++) h1[i] = (h1[i] / (1 + Math.exp(-h1[i]))) * h3[i]; // SwiGLU
      const [down] = await this.backend.run([{ matrix: `layers.${l}.w2`, x: h1 }]);
      for (let i = 0; i < dim; i++) x[i] += down[i];
    }
    rmsnorm(xb, x, this.model.rmsFinal);
    const [logits] = await this.backend.run([{ matrix: classifierName(c), x: xb }]);
    return logits;
  }
}

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Tokens to produce, prompt included (as run.c's `steps`); default 256, at most seqLen. */
  steps?: number;
  prompt?: string;
  /** Called with each new token and its text as soon as it is chosen. */
  onToken?: (token: number, text: string) => void;
}

export interface Generation {
  /** Every token after BOS: prompt tokens, then generated ones. */
  tokens: number[];
  text: string;
  /** Tokens per second over the whole loop (prompt included), wall clock. */
  tokensPerSec: number;
}

/** Greedy generation, as run.c's generate loop with temperature 0. */
export async function generate(rt: LlamaRuntime, tokenizer: Tokenizer, options: GenerateOptions = {}): Promise<Generation> {
  const steps = Math.min(options.steps ?? 256, rt.model.config.seqLen);
  const prompt = encode(tokenizer, options.prompt ?? '');
  const tokens: number[] = [];
  const decoder = new TextDecoder();
  let text = '';
  let token = prompt[0];
  const t0 = performance.now();
  let pos = 0;
  for (; pos < steps; pos++) {
    const logits = await rt.forward(token, pos);
    const next = pos < prompt.length - 1 ? prompt[pos + 1] : argmax(logits);
    if (next === BOS) break;
    const piece = decoder.decode(decodePiece(tokenizer, token, next), { stream: true });
    text += piece;
    tokens.push(next);
    options.onToken?.(next, piece);
    token = next;
  }
  text += decoder.decode();
  return { tokens, text, tokensPerSec: pos / ((performance.now() - t0) / 1000) };
}
