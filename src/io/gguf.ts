/**
 * GGUF (llama.cpp) v2/v3. The header (metadata and tensor infos) is parsed by `@huggingface/gguf`,
 * fed range reads of the {@link ByteSource} through a fetch shim, so it works on a file, a `File`
 * in a page, or memory alike. 2-D F32/F16/BF16 tensors are quantized like any float matrix;
 * Q4_0 and Q4_1 blocks are imported losslessly (indices and f16 scales exactly as stored). Any
 * other 2-D tensor type is an error naming the type and tensor (a partial container would be a
 * silent surprise); 1-D tensors are listed as skipped.
 */
import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import { ContainerError } from '../errors.js';
import { Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES } from '../quantize/import.js';
import { firstOverlap, type ByteRegion, type FloatDType, type MatrixEntry, type ModelLayout, type SkippedTensor } from './model.js';
import type { ByteSource } from './source.js';

/** True when a file starts with the GGUF magic. */
export function isGgufHead(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46; // "GGUF"
}

/** Element types read as float matrices, and bytes per element. */
const FLOAT_TYPES: Partial<Record<GGMLQuantizationType, [FloatDType, number]>> = {
  [GGMLQuantizationType.F32]: ['F32', 4], [GGMLQuantizationType.F16]: ['F16', 2], [GGMLQuantizationType.BF16]: ['BF16', 2],
};
/** 4-bit block types imported losslessly, and bytes per 32-weight block. */
const BLOCK_TYPES: Partial<Record<GGMLQuantizationType, ['Q4_0' | 'Q4_1', number]>> = {
  [GGMLQuantizationType.Q4_0]: ['Q4_0', Q4_0_BLOCK_BYTES], [GGMLQuantizationType.Q4_1]: ['Q4_1', Q4_1_BLOCK_BYTES],
};

/** The HTTP-range fetch `@huggingface/gguf` speaks, answered from a byte source. */
function rangeFetch(source: ByteSource): typeof fetch {
  return (async (_url: unknown, init?: { headers?: Record<string, string> }) => {
    const m = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? '');
    const start = m ? Math.min(Number(m[1]), source.size) : 0;
    const end = m ? Math.min(Number(m[2]) + 1, source.size) : source.size;
    const body = await source.read(start, end - start);
    return new Response(body as Uint8Array<ArrayBuffer>, { status: 206, headers: { 'content-range': `bytes ${start}-${Math.max(start, end - 1)}/${source.size}` } });
  }) as typeof fetch;
}

/**
 * The {@link ModelLayout} of a GGUF file: every tensor's region checked against the file, no two
 * overlapping; matrices are [ne1, ne0] (ne0 is GGUF's innermost dimension, the columns).
 *
 * @example
 * ```ts
 * const layout = await ggufLayout(fileSource('llama-2-7b.Q4_0.gguf'));
 * ```
 */
export async function ggufLayout(source: ByteSource): Promise<ModelLayout> {
  const file = source.name;
  const fail = (code: string, message: string, tensor?: string): never => { throw new ContainerError(code, message, tensor, file); };
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(`https://rans-gemv.invalid/${encodeURIComponent(file)}`, { fetch: rangeFetch(source) });
  } catch (e) {
    if (e instanceof ContainerError) throw e;
    return fail('BAD_HEADER', `GGUF header: ${(e as Error).message}`);
  }
  const dataStart = Number(parsed.tensorDataOffset);
  const matrices: MatrixEntry[] = [];
  const skipped: SkippedTensor[] = [];
  const regions: (ByteRegion & { name: string })[] = [];
  for (const t of parsed.tensorInfos) {
    const shape = t.shape.map(Number);
    const typeName = GGMLQuantizationType[t.dtype] ?? `type ${t.dtype}`;
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail('BAD_HEADER', `shape [${t.shape}] is not a list of sizes`, t.name);
    const count = shape.reduce((a, d) => a * d, 1);
    const float = FLOAT_TYPES[t.dtype], block = BLOCK_TYPES[t.dtype];
    const bytes = float ? count * float[1] : block ? (count / 32) * block[1] : null;
    const offset = dataStart + Number(t.offset);
    if (bytes !== null) {
      if (!Number.isSafeInteger(bytes) || offset + bytes > source.size) fail('BAD_OFFSET', `${typeName}[${shape}] at ${offset} needs ${bytes} bytes, past the end of the ${source.size}-byte file`, t.name);
      regions.push({ name: t.name, offset, length: bytes });
    }
    const [cols, rows] = shape; // GGUF lists the innermost dimension first
    if (shape.length !== 2) { skipped.push({ name: t.name, shape: [...shape].reverse(), dtype: typeName, reason: `${shape.length}-D` }); continue; }
    if (rows === 0 || cols === 0) { skipped.push({ name: t.name, shape: [rows, cols], dtype: typeName, reason: 'empty' }); continue; }
    if (float) matrices.push({ kind: 'float', name: t.name, rows, cols, dtype: float[0], data: { offset, length: bytes! } });
    else if (block) {
      if (cols % 32 !== 0) fail('BAD_SHAPE', `${block[0]} rows of ${cols} are not whole 32-weight blocks`, t.name);
      matrices.push({ kind: 'blocks', name: t.name, rows, cols, blockType: block[0], data: { offset, length: bytes! } });
    } else {
      fail('UNSUPPORTED_TYPE', `GGUF ${typeName} is not imported: re-export the model as F16, BF16, F32, Q4_0 or Q4_1 (llama.cpp's llama-quantize)`, t.name);
    }
  }
  const clash = firstOverlap(regions);
  if (clash) fail('BAD_OFFSET', `data overlaps tensor '${clash[0].name}'`, clash[1].name);
  const arch = parsed.metadata['general.architecture'];
  return { format: 'gguf', matrices, raw: [], skipped, model: { format: 'gguf', architecture: typeof arch === 'string' ? arch : null } };
}
