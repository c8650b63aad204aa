import { ContainerError } from '../errors.js';
import { llama2cMatrices, readLlama2c } from './llama2c.js';
import type { WeightMatrix } from './model.js';
import { isSafetensors, safetensorsMatrices } from './safetensors.js';

/**
 * Reads the 2-D weight matrices of a model file, detecting its format: safetensors (float or
 * MLX 4-bit) or a llama2.c `.bin` checkpoint.
 *
 * @example
 * ```ts
 * const matrices = loadModelMatrices(new Uint8Array(fs.readFileSync('stories260K.bin')));
 * ```
 */
export function loadModelMatrices(bytes: Uint8Array): WeightMatrix[] {
  if (isSafetensors(bytes)) return safetensorsMatrices(bytes);
  try {
    return llama2cMatrices(readLlama2c(bytes));
  } catch (e) {
    if (e instanceof ContainerError) {
      throw new ContainerError('UNKNOWN_FORMAT', `neither safetensors nor a valid llama2.c checkpoint (${e.message})`);
    }
    throw e;
  }
}
