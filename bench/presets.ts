/**
 * Benchmark presets. `quick` is the default without a real GPU (small shapes, a few minutes on
 * 2 CPU cores under SwiftShader); `full` is the default on a GPU: the GEMV shapes of an 8B Llama
 * layer, its vocabulary projection, and stories260K's real matrices.
 */
import type { SuiteConfig, Shape } from './suite.js';

export type PresetName = 'tiny' | 'quick' | 'full';

/** The matrices of one 8B Llama layer (Llama-3 shapes: dim 4096, 8 KV heads, FFN 14336). */
export const LLAMA_8B_LAYER: Shape[] = [
  { name: 'q/o 4096×4096', rows: 4096, cols: 4096 },
  { name: 'k/v 1024×4096', rows: 1024, cols: 4096 },
  { name: 'gate/up 14336×4096', rows: 14336, cols: 4096 },
  { name: 'down 4096×14336', rows: 4096, cols: 14336 },
];
/** How many of each shape one token reads: 32 layers of (q, k, v, o, gate, up, down) + the vocab. */
export const LLAMA_8B_STACK: { rows: number; cols: number; count: number }[] = [
  { rows: 4096, cols: 4096, count: 64 },
  { rows: 1024, cols: 4096, count: 64 },
  { rows: 14336, cols: 4096, count: 64 },
  { rows: 4096, cols: 14336, count: 32 },
  { rows: 128256, cols: 4096, count: 1 },
];
export const VOCAB_PROJECTION: Shape = { name: 'vocab 128256×4096', rows: 128256, cols: 4096 };

/** stories260K matrices used by the presets (real weights, filled in by the runner). */
export const STORIES_MATRICES = ['layers.0.w1', 'layers.0.w2', 'tok_embeddings'];

export function preset(name: PresetName): { config: Omit<SuiteConfig, 'shapes'>; shapes: Shape[]; stories: string[] } {
  switch (name) {
    case 'tiny':
      return {
        config: { groupSize: 64, iterations: 2, warmup: 1, dispatchesPerSample: 1, rotateBytes: 0, vectors: 1 },
        shapes: [{ name: '256×1024', rows: 256, cols: 1024 }], stories: ['layers.0.w1'],
      };
    case 'quick':
      return {
        config: { groupSize: 64, iterations: 11, warmup: 2, dispatchesPerSample: 1, rotateBytes: 0, vectors: 1 },
        shapes: [{ name: 'q/o 4096×4096', rows: 4096, cols: 4096 }, { name: 'k/v 1024×4096', rows: 1024, cols: 4096 }],
        stories: STORIES_MATRICES,
      };
    case 'full':
      return {
        config: { groupSize: 64, iterations: 30, warmup: 5, warmupMs: 300, dispatchesPerSample: 10, rotateBytes: 256 << 20, vectors: 1 },
        shapes: [...LLAMA_8B_LAYER, VOCAB_PROJECTION], stories: STORIES_MATRICES,
      };
  }
}

/** Parses `--shapes 4096x4096,1024x4096`. */
export function parseShapes(text: string): Shape[] {
  return text.split(',').map((t) => {
    const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(t);
    if (!m) throw new Error(`bad shape '${t}': expected ROWSxCOLS`);
    return { name: `${m[1]}×${m[2]}`, rows: Number(m[1]), cols: Number(m[2]) };
  });
}
