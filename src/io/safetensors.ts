/**
 * safetensors: u64 header length, JSON header {name: {dtype, shape, data_offsets}}, raw data.
 * Float tensors (F32, F16, BF16) become float matrices; MLX 4-bit triples
 * (`X.weight` U32 + `X.scales` + `X.biases`) are imported losslessly.
 */
import { ContainerError } from '../errors.js';
import { decodeParams, type ParamType } from '../quantize/half.js';
import { importMlx } from '../quantize/import.js';
import type { WeightMatrix } from './model.js';

interface RawTensor { dtype: string; shape: number[]; bytes: Uint8Array }

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, U32: 4, I32: 4, F64: 8, U8: 1, I8: 1, U16: 2, I16: 2, I64: 8, U64: 8, BOOL: 1 };

/** True when the bytes look like a safetensors file (a plausible header length and a '{'). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return n > 1 && 8 + n <= bytes.length && bytes[8] === 0x7b;
}

/** Parses a safetensors file into raw tensors, checking every offset against the file. */
export function readSafetensors(bytes: Uint8Array): Map<string, RawTensor> {
  if (bytes.length < 8) throw new ContainerError('TRUNCATED', 'safetensors file is shorter than its 8-byte header length');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) throw new ContainerError('TRUNCATED', `safetensors header claims ${n} bytes, the file has ${bytes.length - 8}`);
  let header: Record<string, unknown>;
  try { header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))); } catch { throw new ContainerError('BAD_HEADER', 'safetensors header is not valid JSON'); }
  const data = bytes.subarray(8 + n);
  const out = new Map<string, RawTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const [b, e] = Array.isArray(t.data_offsets) ? t.data_offsets : [];
    const shape = Array.isArray(t.shape) ? t.shape : null;
    const size = typeof t.dtype === 'string' ? DTYPE_BYTES[t.dtype] : undefined;
    if (!size || !shape || !shape.every((d) => Number.isInteger(d) && d >= 0) || !Number.isInteger(b) || !Number.isInteger(e)) {
      throw new ContainerError('BAD_HEADER', `tensor '${name}' has a malformed entry`);
    }
    const count = shape.reduce((a: number, d: number) => a * d, 1);
    if (b < 0 || e < b || e > data.length || e - b !== count * size) {
      throw new ContainerError('BAD_SIZE', `tensor '${name}' offsets [${b}, ${e}) do not fit ${t.dtype}[${shape.join(', ')}] in ${data.length} data bytes`);
    }
    out.set(name, { dtype: t.dtype as string, shape, bytes: data.slice(b, e) });
  }
  return out;
}

function toFloat32(t: RawTensor, name: string): Float32Array {
  switch (t.dtype) {
    case 'F32': return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 4);
    case 'F16': case 'BF16': return decodeParams(new Uint16Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 2), t.dtype === 'F16' ? 'f16' : 'bf16');
    default: throw new ContainerError('BAD_DTYPE', `tensor '${name}' has dtype ${t.dtype}, expected F32, F16 or BF16`);
  }
}

/**
 * The 2-D weight matrices of a safetensors file: float matrices, and MLX 4-bit triples imported
 * losslessly. Other tensors (1-D norms, biases, integer tensors) are skipped.
 */
export function safetensorsMatrices(bytes: Uint8Array): WeightMatrix[] {
  const raw = readSafetensors(bytes);
  const out: WeightMatrix[] = [];
  const consumed = new Set<string>();
  for (const [name, t] of raw) {
    if (!name.endsWith('.weight') || t.dtype !== 'U32') continue;
    const stem = name.slice(0, -'.weight'.length);
    const scales = raw.get(`${stem}.scales`), biases = raw.get(`${stem}.biases`);
    if (!scales || !biases || t.shape.length !== 2 || scales.shape.length !== 2) continue;
    if (scales.dtype !== biases.dtype || (scales.dtype !== 'F16' && scales.dtype !== 'BF16')) {
      throw new ContainerError('BAD_DTYPE', `MLX tensor '${stem}' has ${scales.dtype} scales; lossless import needs F16 or BF16`);
    }
    const [rows, words] = t.shape, cols = words * 8;
    const groupSize = cols / scales.shape[1];
    const paramType: ParamType = scales.dtype === 'F16' ? 'f16' : 'bf16';
    const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
    const quantized = importMlx({
      rows, cols, groupSize, paramType,
      weight: new Uint32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 4),
      scales: u16(scales.bytes), biases: u16(biases.bytes),
    });
    out.push({ name, rows, cols, kind: 'quantized', quantized });
    for (const n of [name, `${stem}.scales`, `${stem}.biases`]) consumed.add(n);
  }
  for (const [name, t] of raw) {
    if (consumed.has(name) || t.shape.length !== 2 || !['F32', 'F16', 'BF16'].includes(t.dtype)) continue;
    out.push({ name, rows: t.shape[0], cols: t.shape[1], kind: 'float', weights: toFloat32(t, name) });
  }
  return out;
}

/** Writes float32 tensors as safetensors (used by tests and examples). */
export function writeSafetensors(tensors: { name: string; dtype: 'F32' | 'F16' | 'BF16' | 'U32'; shape: number[]; bytes: Uint8Array }[]): Uint8Array {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) { header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] }; at += t.bytes.length; }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let o = 8 + hb.length;
  for (const t of tensors) { out.set(t.bytes, o); o += t.bytes.length; }
  return out;
}
