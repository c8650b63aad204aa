import type { QuantizedMatrix } from '../quantize/types.js';

/**
 * A 2-D weight matrix read from a model file: either float weights to quantize, or weights that
 * were already 4-bit quantized (imported losslessly).
 */
export type WeightMatrix =
  | { name: string; rows: number; cols: number; kind: 'float'; weights: Float32Array }
  | { name: string; rows: number; cols: number; kind: 'quantized'; quantized: QuantizedMatrix };
