/**
 * MLC / WebLLM model directories, the format browser runtimes already download:
 * `ndarray-cache.json` lists the shard files (`params_shard_N.bin`) and the tensors in each.
 * `q4f16_1` linear weights — `X.q_weight` (u32 [rows, cols/8]) with `X.q_scale` (f16
 * [rows, cols/32]), w = scale·(q − 7) — are imported losslessly; other 2-D float tensors are
 * quantized like any float matrix.
 *
 * The directory is read as one {@link ConcatSource}: the JSON first, then the shards in the order
 * the JSON lists them, so the streaming encoder reads shards like one file.
 */
import { ContainerError } from '../errors.js';
import { checkKernelGroupSize } from '../quantize/types.js';
import { firstOverlap, type ByteRegion, type FloatDType, type MatrixEntry, type ModelLayout, type SkippedTensor } from './model.js';
import { blobSource, concatSource, type ByteSource, type ConcatSource } from './source.js';

/** The index file of an MLC model directory. */
export const MLC_CACHE_FILE = 'ndarray-cache.json';
/** The model config beside it; its `quantization` says how `q_weight` tensors are stored. */
export const MLC_CONFIG_FILE = 'mlc-chat-config.json';
/** Quantizations whose tensors this reader understands (q0*: unquantized floats). */
export const MLC_QUANTIZATIONS = ['q4f16_1', 'q0f16', 'q0f32'] as const;
/** The index JSON is read whole: larger than this is not an index. */
const MAX_CACHE_BYTES = 64 << 20;

/** Throws `TOO_LARGE` for an index file too large to be one (it is read whole). */
export function checkMlcIndexSize(size: number, file: string): void {
  if (size > MAX_CACHE_BYTES) fail('TOO_LARGE', `${size} bytes, over the ${MAX_CACHE_BYTES} an index may have`, file);
}

/** Bytes per element as stored, by ndarray-cache dtype (`f32-to-bf16` records store f32 as bf16). */
const DTYPE_BYTES: Record<string, number> = { uint32: 4, float16: 2, float32: 4, bfloat16: 2 };

interface CacheTensor { name: string; shape: number[]; dtype: string; region: ByteRegion }

const fail = (code: string, message: string, file: string, tensor?: string): never => {
  throw new ContainerError(code, message, tensor, file);
};

/** True when the first bytes are an ndarray-cache JSON object (`{"metadata"…` or `{"records"…`). */
export function isMlcCacheHead(head: Uint8Array): boolean {
  return /^\s*\{\s*"(metadata|records)"/.test(new TextDecoder('latin1').decode(head));
}

/** The parsed index: its shards (paths without query strings), each with its tensor records. */
function parseCache(json: unknown, file: string): { path: string; nbytes: number; records: unknown[] }[] {
  const records = (json as { records?: unknown })?.records;
  if (typeof json !== 'object' || json === null || !Array.isArray(records)) fail('BAD_HEADER', 'not an ndarray-cache index (no records array)', file);
  return (records as unknown[]).map((r, i) => {
    const s = r as { dataPath?: unknown; nbytes?: unknown; records?: unknown };
    if (typeof r !== 'object' || r === null || typeof s.dataPath !== 'string' || !Number.isSafeInteger(s.nbytes) || (s.nbytes as number) < 0 || !Array.isArray(s.records)) {
      fail('BAD_HEADER', `shard record ${i} needs dataPath, nbytes and records`, file);
    }
    const path = (s.dataPath as string).split('?')[0];
    if (!path || path.includes('/') || path.includes('\\') || path === MLC_CACHE_FILE) fail('BAD_HEADER', `shard record ${i} names '${s.dataPath}', not a file beside the index`, file);
    return { path, nbytes: s.nbytes as number, records: s.records as unknown[] };
  });
}

/**
 * The shard files an index lists, in order.
 *
 * @example
 * ```ts
 * mlcShardFiles(JSON.parse(text), 'model/ndarray-cache.json'); // ['params_shard_0.bin', …]
 * ```
 */
export function mlcShardFiles(json: unknown, file: string): string[] {
  return parseCache(json, file).map((s) => s.path);
}

/**
 * Checks a directory's `mlc-chat-config.json` (when there is one): its quantization must be one
 * this reader understands, else `UNSUPPORTED_QUANTIZATION` (q4f16_0 stores weights transposed,
 * q4f32_1 has f32 scales, q3 packs 3 bits).
 */
export function checkMlcConfig(config: unknown, file: string): void {
  const q = (config as { quantization?: unknown })?.quantization;
  if (q !== undefined && !(MLC_QUANTIZATIONS as readonly unknown[]).includes(q)) {
    fail('UNSUPPORTED_QUANTIZATION', `quantization ${JSON.stringify(q)}: only ${MLC_QUANTIZATIONS.join(', ')} are read`, file);
  }
}

/**
 * The layout of an MLC directory read as a {@link ConcatSource} (index, then shards). Every shard
 * must have the size the index gives it, every tensor must lie inside its shard and hold exactly
 * its shape's bytes; nothing of the tensor data is read.
 *
 * @example
 * ```ts
 * const reader = await openModel(await mlcFilesSource([...input.files])); // format 'mlc'
 * ```
 */
export async function mlcLayout(source: ByteSource): Promise<ModelLayout> {
  const parts = (source as Partial<ConcatSource>).parts;
  if (!parts?.length) {
    fail('MISSING_SHARDS', `an MLC ${MLC_CACHE_FILE} is read with its shard files: open the directory (modelSource(dir) in Node, mlcFilesSource(files) in a browser)`, source.name);
  }
  const index = parts![0];
  checkMlcIndexSize(index.size, index.name);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await source.read(0, index.size)));
  } catch (e) {
    if (e instanceof ContainerError) throw e;
    fail('BAD_HEADER', `${index.name} is not JSON (${(e as Error).message})`, source.name);
  }
  const shards = parseCache(json, source.name);
  if (parts!.length !== shards.length + 1) fail('MISSING_SHARDS', `the index lists ${shards.length} shards, the source has ${parts!.length - 1}`, source.name);
  const tensors = new Map<string, CacheTensor>();
  shards.forEach((shard, i) => {
    const part = parts![i + 1];
    if (part.size !== shard.nbytes) fail('BAD_SIZE', `shard ${shard.path} has ${part.size} bytes, the index says ${shard.nbytes}`, source.name);
    for (const r of shard.records) {
      const t = r as { name?: unknown; shape?: unknown; dtype?: unknown; format?: unknown; nbytes?: unknown; byteOffset?: unknown };
      const name = typeof t?.name === 'string' ? t.name : fail('BAD_HEADER', `a record of ${shard.path} has no name`, source.name);
      if (tensors.has(name)) fail('BAD_HEADER', 'listed twice', source.name, name);
      if (typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) fail('BAD_DTYPE', `unknown dtype ${JSON.stringify(t.dtype)}`, source.name, name);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail('BAD_HEADER', 'shape is not a list of non-negative integers', source.name, name);
      if (!Number.isSafeInteger(t.byteOffset) || !Number.isSafeInteger(t.nbytes) || (t.byteOffset as number) < 0 || (t.nbytes as number) < 0) fail('BAD_HEADER', 'byteOffset and nbytes must be non-negative integers', source.name, name);
      const shape = t.shape as number[], offset = t.byteOffset as number, nbytes = t.nbytes as number;
      // f32 weights are stored as bf16 under format 'f32-to-bf16'; other dtypes are raw.
      const dtype = t.dtype === 'float32' && t.format === 'f32-to-bf16' ? 'bfloat16' : (t.dtype as string);
      const count = shape.reduce((a, d) => a * d, 1);
      if (nbytes !== count * DTYPE_BYTES[dtype]) fail('BAD_SIZE', `holds ${nbytes} bytes, ${dtype}[${shape.join(', ')}] needs ${count * DTYPE_BYTES[dtype]}`, source.name, name);
      if (offset + nbytes > shard.nbytes) fail('BAD_OFFSET', `bytes [${offset}, ${offset + nbytes}) lie outside shard ${shard.path} (${shard.nbytes} bytes)`, source.name, name);
      tensors.set(name, { name, shape, dtype, region: { offset: part.offset + offset, length: nbytes } });
    }
  });
  const clash = firstOverlap([...tensors.values()].map((t) => ({ ...t.region, name: t.name })));
  if (clash) fail('BAD_OFFSET', `data overlaps tensor '${clash[0].name}'`, source.name, clash[1].name);

  const matrices: MatrixEntry[] = [];
  const skipped: SkippedTensor[] = [];
  const consumed = new Set<string>();
  for (const t of tensors.values()) {
    if (!t.name.endsWith('.q_weight')) continue;
    const stem = t.name.slice(0, -'.q_weight'.length);
    const scale = tensors.get(`${stem}.q_scale`);
    if (!scale) fail('BAD_HEADER', `no ${stem}.q_scale beside it`, source.name, t.name);
    const [rows, words] = t.shape, cols = 8 * words;
    if (t.dtype !== 'uint32' || scale!.dtype !== 'float16' || t.shape.length !== 2 || scale!.shape.length !== 2 || scale!.shape[0] !== rows || !(rows > 0 && words > 0)
      || scale!.shape[1] === 0 || cols % scale!.shape[1] !== 0) {
      fail('BAD_SHAPE', `${t.dtype}[${t.shape}] with ${scale!.dtype}[${scale!.shape}] is not q4f16_1 (u32 [rows, cols/8], f16 [rows, cols/group])`, source.name, stem);
    }
    const groupSize = cols / scale!.shape[1];
    checkKernelGroupSize(groupSize, `${source.name}: ${stem}: q4f16_1 group size`);
    matrices.push({ kind: 'mlc', name: stem, rows, cols, groupSize, weight: t.region, scales: scale!.region });
    consumed.add(t.name).add(scale!.name);
  }
  const FLOAT: Record<string, FloatDType> = { float16: 'F16', float32: 'F32', bfloat16: 'BF16' };
  for (const t of tensors.values()) {
    if (consumed.has(t.name)) continue;
    const skip = (reason: string) => skipped.push({ name: t.name, shape: t.shape, dtype: t.dtype, reason });
    if (t.shape.length !== 2) skip(`${t.shape.length}-D`);
    else if (!FLOAT[t.dtype]) skip(`dtype ${t.dtype}`);
    else if (t.shape[0] === 0 || t.shape[1] === 0) skip('empty');
    else matrices.push({ kind: 'float', name: t.name, rows: t.shape[0], cols: t.shape[1], dtype: FLOAT[t.dtype], data: t.region });
  }
  return { format: 'mlc', matrices, raw: [], skipped };
}

/**
 * An MLC directory chosen in a browser (`<input type="file" webkitdirectory>` or several files)
 * as one source: the index, then its shards found by file name. The index's
 * `mlc-chat-config.json` neighbour, when given, is checked ({@link checkMlcConfig}).
 *
 * @example
 * ```ts
 * const reader = await openModel(await mlcFilesSource([...input.files]));
 * ```
 */
export async function mlcFilesSource(files: File[]): Promise<ConcatSource> {
  const byName = new Map(files.map((f) => [f.name, f]));
  const index = byName.get(MLC_CACHE_FILE) ?? fail('MISSING_SHARDS', `no ${MLC_CACHE_FILE} among the ${files.length} files`, 'files');
  checkMlcIndexSize(index.size, MLC_CACHE_FILE);
  const config = byName.get(MLC_CONFIG_FILE);
  if (config) checkMlcConfig(parseJson(await config.text(), MLC_CONFIG_FILE), MLC_CONFIG_FILE);
  const shards = mlcShardFiles(parseJson(await index.text(), MLC_CACHE_FILE), MLC_CACHE_FILE);
  const sources = shards.map((name) => blobSource(byName.get(name) ?? fail('MISSING_SHARDS', `shard ${name} is not among the files`, MLC_CACHE_FILE), name));
  return concatSource('MLC model', [blobSource(index, MLC_CACHE_FILE), ...sources]);
}

/** JSON.parse with the file named in the error. */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail('BAD_HEADER', `not JSON (${(e as Error).message})`, file);
  }
}
