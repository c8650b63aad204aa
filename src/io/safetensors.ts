/**
 * safetensors: u64 header length n, n bytes of JSON `{name: {dtype, shape, data_offsets}}`, then
 * the data. Float matrices (F32, F16, BF16) are encoded; MLX 4-bit triples (`X.weight` U32 +
 * `X.scales` + `X.biases`) are imported losslessly; every other tensor is listed as skipped.
 * Only the header is parsed here; tensor data is read later, a block of rows at a time.
 */
import { ContainerError } from '../errors.js';
import { checkKernelGroupSize } from '../quantize/types.js';
import { firstOverlap, type ByteRegion, type FloatDType, type MatrixEntry, type ModelLayout, type SkippedTensor } from './model.js';

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};
const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];
/** The safetensors specification caps the header at 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * True when the first bytes look like safetensors: a header length of 2 B … 100 MB (a llama2.c
 * checkpoint's first 8 bytes read as a u64 are ≥ 2^32), then printable text. A length past the
 * end of the file is still safetensors — reported as truncated, not as an unknown format.
 */
export function isSafetensorsHead(head: Uint8Array): boolean {
  if (head.length < 9 || head[8] < 0x09 || head[8] > 0x7e) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(MAX_HEADER_BYTES);
}

/** Bytes of the file the header occupies (8 + n), checked against the file size. */
export function safetensorsHeaderBytes(head: Uint8Array, size: number, file: string): number {
  if (head.length < 8) throw new ContainerError('TRUNCATED', `${file}: ${size} bytes, shorter than the safetensors 8-byte header length`);
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES) throw new ContainerError('BAD_HEADER', `${file}: safetensors header claims ${n} bytes, over the format's 100 MB limit`);
  if (8 + n > size) throw new ContainerError('TRUNCATED', `${file}: safetensors header claims ${n} bytes, the file has ${size - 8} after the length`);
  return 8 + n;
}

/**
 * Parses a safetensors header (the first {@link safetensorsHeaderBytes} bytes of a file of `size`
 * bytes) into matrix entries. Checks every entry against the file: types, shapes, offsets inside
 * the data, sizes that match dtype × shape, no two tensors overlapping. Throws
 * {@link ContainerError} naming the file and tensor.
 *
 * @example
 * ```ts
 * const layout = parseSafetensors(headerBytes, fileSize, 'model.safetensors');
 * ```
 */
export function parseSafetensors(header: Uint8Array, size: number, file: string): ModelLayout {
  const fail = (code: string, message: string, tensor?: string): never => { throw new ContainerError(code, message, tensor, file); };
  const dataStart = safetensorsHeaderBytes(header, size, file);
  const dataBytes = size - dataStart;
  let json: unknown;
  try { json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header.subarray(8, dataStart))); } catch { fail('BAD_HEADER', 'safetensors header is not valid UTF-8 JSON'); }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('BAD_HEADER', 'safetensors header is not a JSON object');
  interface Tensor { name: string; dtype: string; shape: number[]; region: ByteRegion }
  const tensors = new Map<string, Tensor>();
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('BAD_HEADER', `entry is ${v === null ? 'null' : typeof v}, not an object`, name);
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) fail('BAD_DTYPE', `unknown dtype ${JSON.stringify(t.dtype)}`, name);
    const dtype = t.dtype as string;
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail('BAD_HEADER', 'shape is not a list of non-negative integers', name);
    const shape = t.shape as number[];
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) fail('BAD_HEADER', 'data_offsets is not [begin, end]', name);
    const [b, e] = offsets as number[];
    const count = shape.reduce((a, d) => a * d, 1);
    if (e < b || e > dataBytes) fail('BAD_OFFSET', `data_offsets [${b}, ${e}) lie outside the ${dataBytes} data bytes`, name);
    if (e - b !== count * DTYPE_BYTES[dtype]) fail('BAD_SIZE', `data_offsets [${b}, ${e}) hold ${e - b} bytes, ${dtype}[${shape.join(', ')}] needs ${count * DTYPE_BYTES[dtype]}`, name);
    tensors.set(name, { name, dtype, shape, region: { offset: dataStart + b, length: e - b } });
  }
  const clash = firstOverlap([...tensors.values()].map((t) => ({ ...t.region, name: t.name })));
  if (clash) fail('BAD_OFFSET', `data overlaps tensor '${clash[0].name}'`, clash[1].name);
  // MLX triples first (so their scales and biases are not listed as skipped), then everything in
  // the header's order, which is the order the container keeps.
  const mlx = new Map<string, MatrixEntry>();
  const consumed = new Set<string>();
  for (const t of tensors.values()) {
    if (!t.name.endsWith('.weight') || t.dtype !== 'U32' || t.shape.length !== 2) continue;
    const stem = t.name.slice(0, -'.weight'.length);
    const scales = tensors.get(`${stem}.scales`), biases = tensors.get(`${stem}.biases`);
    if (!scales || !biases) continue;
    if (scales.dtype !== biases.dtype || (scales.dtype !== 'F16' && scales.dtype !== 'BF16')) fail('BAD_DTYPE', `MLX scales are ${scales.dtype} and biases ${biases.dtype}; lossless import needs both F16 or both BF16`, stem);
    const [rows, words] = t.shape, cols = words * 8;
    if (scales.shape.length !== 2 || scales.shape[0] !== rows || scales.shape[1] === 0 || cols % scales.shape[1] !== 0 || String(biases.shape) !== String(scales.shape)) {
      fail('BAD_SHAPE', `MLX weight [${t.shape}] with scales [${scales.shape}] and biases [${biases.shape}] is not a 4-bit matrix of whole groups`, stem);
    }
    const groupSize = cols / scales.shape[1];
    checkKernelGroupSize(groupSize, `${file}: ${stem}: MLX group size`);
    mlx.set(t.name, { kind: 'mlx', name: t.name, rows, cols, groupSize, paramType: scales.dtype === 'F16' ? 'f16' : 'bf16', weight: t.region, scales: scales.region, biases: biases.region });
    for (const n of [scales.name, biases.name]) consumed.add(n);
  }
  const matrices: MatrixEntry[] = [];
  const skipped: SkippedTensor[] = [];
  for (const t of tensors.values()) {
    if (consumed.has(t.name)) continue;
    const m = mlx.get(t.name);
    if (m) { matrices.push(m); continue; }
    const skip = (reason: string) => skipped.push({ name: t.name, shape: t.shape, dtype: t.dtype, reason });
    if (t.shape.length !== 2) skip(`${t.shape.length}-D`);
    else if (!FLOAT_DTYPES.includes(t.dtype)) skip(`dtype ${t.dtype}`);
    else if (t.shape[0] === 0 || t.shape[1] === 0) skip('empty');
    else matrices.push({ kind: 'float', name: t.name, rows: t.shape[0], cols: t.shape[1], dtype: t.dtype as FloatDType, data: t.region });
  }
  return { format: 'safetensors', matrices, raw: [], skipped };
}

/**
 * Writes tensors as safetensors (used by tests, benchmarks and examples).
 *
 * @example
 * ```ts
 * const file = writeSafetensors([{ name: 'w.weight', dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(16) }]);
 * ```
 */
export function writeSafetensors(tensors: { name: string; dtype: 'F32' | 'F16' | 'BF16' | 'U32'; shape: number[]; bytes: Uint8Array }[]): Uint8Array {
  const { header, dataBytes } = safetensorsHeader(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, length: t.bytes.length })));
  const out = new Uint8Array(header.length + dataBytes);
  out.set(header, 0);
  let o = header.length;
  for (const t of tensors) { out.set(t.bytes, o); o += t.bytes.length; }
  return out;
}

/**
 * The 8-byte length and JSON header of a safetensors file whose tensors follow one another in
 * the given order (data padded to 8 bytes), for writers that stream the data after it.
 *
 * @example
 * ```ts
 * const { header } = safetensorsHeader([{ name: 'w', dtype: 'F16', shape: [4096, 4096], length: 2 * 4096 * 4096 }]);
 * ```
 */
export function safetensorsHeader(tensors: { name: string; dtype: string; shape: number[]; length: number }[]): { header: Uint8Array; dataBytes: number } {
  const json: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) { json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.length] }; at += t.length; }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const hb = new TextEncoder().encode(text);
  const header = new Uint8Array(8 + hb.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(hb.length), true);
  header.set(hb, 8);
  return { header, dataBytes: at };
}
