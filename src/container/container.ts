/**
 * The `.rgmv` container: several entropy-coded 4-bit tensors in one file.
 * docs/FORMAT.md is the normative description; this file implements it and nothing else.
 *
 * The parser validates every size and offset against the file length before it copies or
 * allocates anything, and reports each fault as a {@link ContainerError} with a stable code.
 */
import { ContainerError, InvalidInputError, RansGemvError } from '../errors.js';
import { packNibbles } from '../quantize/import.js';
import { paramCount, QUANTIZERS, type QuantizedMatrix, type QuantizerKind } from '../quantize/types.js';
import type { ParamType } from '../quantize/half.js';
import { decodeIndices, type EncodedMatrix } from '../rans/codec.js';
import { ALPHABET, MARGINAL_PRECISION } from '../rans/frequencies.js';
import { makeGeometry, tileDirectory } from '../rans/layout.js';
import { crc32, crc32Of } from './crc.js';

/** First 8 bytes of every container (PNG-style: a high byte, a name, CR LF, ^Z, LF-catchers). */
export const MAGIC = Uint8Array.of(0x89, 0x52, 0x47, 0x4d, 0x56, 0x0d, 0x0a, 0x1a); // \x89 R G M V \r \n ^Z
/** The format version this code writes and reads. */
export const FORMAT_VERSION = 1;
/** Bytes before the JSON header: magic, version, header length, header CRC. */
export const PREAMBLE_BYTES = 20;

/** Section names, in the order the writer lays them out. */
export const SECTION_NAMES = ['scales', 'biases', 'freqs', 'laneStates', 'laneLengths', 'streams'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

/** Where a section's bytes lie (absolute file offset) and their CRC-32. */
export interface SectionRef { offset: number; length: number; crc32: number }

/** One tensor's entry in the JSON header. */
export interface TensorHeader {
  name: string;
  rows: number;
  cols: number;
  quantizer: QuantizerKind;
  groupSize: number;
  paramType: ParamType;
  precision: number;
  segmentLength: number;
  rowsPerLane: number;
  rowsPerTile: number;
  /** CRC-32 of the indices packed as plain q4 (u32 [rows, ceil(cols/8)], little-endian). */
  indexCrc32: number;
  sections: Partial<Record<SectionName, SectionRef>>;
}

/** A tensor to write: its quantization and its coded indices. */
export interface TensorToWrite {
  name: string;
  quantized: QuantizedMatrix;
  encoded: EncodedMatrix;
}

/** A tensor read from a container; sections checked, indices not yet decoded. */
export interface ContainerTensor {
  header: TensorHeader;
  /** Quantization parameters (indices are decoded by {@link decodeTensor}). */
  params: Pick<QuantizedMatrix, 'rows' | 'cols' | 'quantizer' | 'groupSize' | 'paramType' | 'scales' | 'biases'>;
  encoded: EncodedMatrix;
}

const align4 = (n: number) => (n + 3) & ~3;

/**
 * True when the bytes start with the container magic.
 *
 * @example
 * ```ts
 * if (isContainer(bytes)) model = modelFromContainer(bytes);
 * ```
 */
export function isContainer(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * CRC-32 of indices in the plain q4 packing, the checksum stored as `indexCrc32`.
 *
 * @example
 * ```ts
 * const ok = indexChecksum(decoded.indices, rows, cols) === header.indexCrc32;
 * ```
 */
export function indexChecksum(indices: Uint8Array, rows: number, cols: number): number {
  return crc32Of(packNibbles(indices, rows, cols));
}

/** An f32 tensor stored as is (norm weights and other small arrays a model needs). */
export interface RawTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** What a container may carry besides coded matrices. */
export interface ContainerExtras {
  /** Free-form model description (e.g. `{ format: 'llama2c', config }`), stored in the header. */
  model?: Record<string, unknown>;
  raw?: RawTensor[];
}

/** Everything {@link readContainerFile} returns. */
export interface ContainerFile {
  tensors: ContainerTensor[];
  model: Record<string, unknown> | null;
  raw: Map<string, RawTensor>;
}

/**
 * Serializes tensors into one container.
 *
 * @example
 * ```ts
 * const q = quantize(w, rows, cols);
 * const bytes = writeContainer([{ name: 'wq', quantized: q, encoded: encodeIndices(q.indices, rows, cols, q.groupSize) }]);
 * ```
 */
export function writeContainer(tensors: TensorToWrite[], extras: ContainerExtras = {}): Uint8Array {
  const names = new Set<string>();
  const unique = (name: string) => {
    if (!name || names.has(name)) throw new InvalidInputError('BAD_NAME', `tensor names must be unique and non-empty: '${name}'`);
    names.add(name);
  };
  // Every section to lay out, and where its reference goes in the header.
  const blobs: { view: ArrayBufferView; ref: (r: SectionRef) => void }[] = [];
  const headers: TensorHeader[] = tensors.map(({ name, quantized: q, encoded: e }) => {
    unique(name);
    const g = e.geometry;
    if (g.rows !== q.rows || g.cols !== q.cols) throw new InvalidInputError('SHAPE_MISMATCH', `${name}: streams are ${g.rows}×${g.cols}, parameters ${q.rows}×${q.cols}`);
    const h: TensorHeader = {
      name, rows: q.rows, cols: q.cols, quantizer: q.quantizer, groupSize: q.groupSize, paramType: q.paramType,
      precision: g.precision, segmentLength: g.segmentLength, rowsPerLane: g.rowsPerLane, rowsPerTile: g.rowsPerTile,
      indexCrc32: indexChecksum(q.indices, q.rows, q.cols), sections: {},
    };
    const views: [SectionName, ArrayBufferView | null][] = [
      ['scales', q.scales], ['biases', q.biases], ['freqs', e.freqs],
      ['laneStates', e.laneStates], ['laneLengths', e.laneLengths], ['streams', e.data],
    ];
    for (const [section, view] of views) if (view) blobs.push({ view, ref: (r) => { h.sections[section] = r; } });
    return h;
  });
  const raw = (extras.raw ?? []).map((t) => {
    unique(t.name);
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new InvalidInputError('SHAPE_MISMATCH', `${t.name}: shape [${t.shape}] does not hold ${t.data.length} values`);
    const entry = { name: t.name, shape: t.shape, section: { offset: 0, length: 0, crc32: 0 } };
    blobs.push({ view: t.data, ref: (r) => { entry.section = r; } });
    return entry;
  });
  const header = { tensors: headers, ...(extras.model ? { model: extras.model } : {}), ...(raw.length ? { raw } : {}) };
  // Offsets depend on the header's length and the header holds the offsets: lay out with
  // placeholder offsets, then again with real ones until the length stops changing.
  let dataStart = 0, headerBytes = new Uint8Array(0), end = 0;
  for (let pass = 0; pass < 4; pass++) {
    let at = dataStart;
    for (const b of blobs) {
      b.ref({ offset: at, length: b.view.byteLength, crc32: crc32Of(b.view) });
      at = align4(at + b.view.byteLength);
    }
    end = at;
    headerBytes = new TextEncoder().encode(JSON.stringify(header));
    const start = align4(PREAMBLE_BYTES + headerBytes.length);
    if (start === dataStart) break;
    dataStart = start;
  }
  const out = new Uint8Array(Math.max(end, dataStart));
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint32(8, FORMAT_VERSION, true);
  dv.setUint32(12, headerBytes.length, true);
  dv.setUint32(16, crc32(headerBytes), true);
  out.set(headerBytes, PREAMBLE_BYTES);
  let at = dataStart;
  for (const b of blobs) {
    out.set(new Uint8Array(b.view.buffer, b.view.byteOffset, b.view.byteLength), at);
    at = align4(at + b.view.byteLength);
  }
  return out;
}

function fail(code: string, message: string, tensor?: string): never {
  throw new ContainerError(code, message, tensor);
}

function isUint(v: unknown, max = 2 ** 32 - 1): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Reads and checks the preamble and JSON header. */
function readHeader(bytes: Uint8Array): { tensors: unknown[]; model?: unknown; raw?: unknown } {
  if (bytes.length < PREAMBLE_BYTES) fail('TRUNCATED', `file has ${bytes.length} bytes, the preamble alone needs ${PREAMBLE_BYTES}`);
  if (!isContainer(bytes)) fail('BAD_MAGIC', 'not an rans-gemv container (bad magic bytes)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== FORMAT_VERSION) fail('UNSUPPORTED_VERSION', `format version ${version}; this reader knows ${FORMAT_VERSION}`);
  const headerLength = dv.getUint32(12, true);
  if (headerLength > bytes.length - PREAMBLE_BYTES) fail('TRUNCATED', `header claims ${headerLength} bytes, the file has ${bytes.length - PREAMBLE_BYTES} after the preamble`);
  const headerBytes = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength);
  if (crc32(headerBytes) !== dv.getUint32(16, true)) fail('CHECKSUM_MISMATCH', 'header checksum does not match');
  let header: unknown;
  try { header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)); } catch { fail('BAD_HEADER', 'header is not valid UTF-8 JSON'); }
  if (typeof header !== 'object' || header === null || !Array.isArray((header as { tensors?: unknown }).tensors)) {
    fail('BAD_HEADER', 'header has no tensor table');
  }
  return header as { tensors: unknown[]; model?: unknown; raw?: unknown };
}

/** Validates one tensor entry's fields (types and ranges) without trusting any of them. */
function checkTensorHeader(raw: unknown, index: number): TensorHeader {
  if (typeof raw !== 'object' || raw === null) fail('BAD_HEADER', `tensor table entry ${index} is not an object`);
  const t = raw as Record<string, unknown>;
  const name = typeof t.name === 'string' && t.name.length > 0 ? t.name : fail('BAD_HEADER', `tensor table entry ${index} has no name`);
  for (const f of ['rows', 'cols', 'groupSize', 'precision', 'segmentLength', 'rowsPerLane', 'rowsPerTile', 'indexCrc32'] as const) {
    if (!isUint(t[f])) fail('BAD_HEADER', `field '${f}' is not an unsigned 32-bit integer`, name);
  }
  if (!QUANTIZERS.includes(t.quantizer as QuantizerKind)) fail('BAD_HEADER', `unknown quantizer '${String(t.quantizer)}'`, name);
  if (t.paramType !== 'f16' && t.paramType !== 'bf16') fail('BAD_HEADER', `unknown parameter type '${String(t.paramType)}'`, name);
  if (typeof t.sections !== 'object' || t.sections === null) fail('BAD_HEADER', 'no section table', name);
  const sections: Partial<Record<SectionName, SectionRef>> = {};
  for (const [key, ref] of Object.entries(t.sections as Record<string, unknown>)) {
    if (!(SECTION_NAMES as readonly string[]).includes(key)) fail('BAD_HEADER', `unknown section '${key}'`, name);
    const r = ref as Record<string, unknown> | null;
    if (!r || !isUint(r.offset, Number.MAX_SAFE_INTEGER) || !isUint(r.length, Number.MAX_SAFE_INTEGER) || !isUint(r.crc32)) {
      fail('BAD_HEADER', `section '${key}' needs integer offset, length and crc32`, name);
    }
    sections[key as SectionName] = { offset: r.offset, length: r.length, crc32: r.crc32 };
  }
  return { ...(t as unknown as TensorHeader), name, sections };
}

/**
 * Parses a container and checks it: structure, every size against the shape it implies, every
 * offset against the file length, every section checksum. Stream data is not decoded here
 * (see {@link decodeTensor}). Throws {@link ContainerError}.
 *
 * @example
 * ```ts
 * const tensors = readContainer(new Uint8Array(await fs.readFile('model.rgmv')));
 * const q = decodeTensor(tensors[0]); // QuantizedMatrix, index checksum verified
 * ```
 */
export function readContainer(bytes: Uint8Array): ContainerTensor[] {
  return readContainerFile(bytes).tensors;
}

/** Validates a raw-tensor entry of the header (its section is bounds-checked with the others). */
function checkRawHeader(raw: unknown, index: number): { name: string; shape: number[]; section: SectionRef } {
  const t = raw as { name?: unknown; shape?: unknown; section?: Record<string, unknown> } | null;
  const name = typeof t?.name === 'string' && t.name ? t.name : fail('BAD_HEADER', `raw tensor entry ${index} has no name`);
  const shape = Array.isArray(t!.shape) && t!.shape.length > 0 && t!.shape.every((d) => isUint(d)) ? (t!.shape as number[]) : fail('BAD_HEADER', 'raw tensor shape must be a list of integers', name);
  const r = t!.section;
  if (!r || !isUint(r.offset, Number.MAX_SAFE_INTEGER) || !isUint(r.length, Number.MAX_SAFE_INTEGER) || !isUint(r.crc32)) fail('BAD_HEADER', 'raw tensor needs a section with integer offset, length and crc32', name);
  return { name, shape, section: { offset: r.offset as number, length: r.length as number, crc32: r.crc32 as number } };
}

/**
 * Like {@link readContainer}, plus the model description and raw f32 tensors a container may
 * carry (written by `rans-gemv encode` for llama2.c checkpoints).
 *
 * @example
 * ```ts
 * const { tensors, model, raw } = readContainerFile(bytes);
 * const norms = raw.get('rms_final')?.data;
 * ```
 */
export function readContainerFile(bytes: Uint8Array): ContainerFile {
  const header = readHeader(bytes);
  const dataStart = align4(PREAMBLE_BYTES + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true));
  const seen = new Set<string>();
  const claimed: { start: number; end: number; what: string }[] = [];
  // Bounds first: nothing is copied or allocated until every claimed range lies in the file.
  const claim = (ref: SectionRef, what: string, tensor: string) => {
    if (ref.offset % 4 !== 0 || ref.offset < dataStart) fail('BAD_OFFSET', `section '${what}' offset ${ref.offset} is misaligned or inside the header`, tensor);
    if (ref.offset + ref.length > bytes.length) fail('TRUNCATED', `section '${what}' ends at ${ref.offset + ref.length}, the file has ${bytes.length} bytes`, tensor);
    claimed.push({ start: ref.offset, end: ref.offset + ref.length, what: `${tensor}.${what}` });
  };
  const checked = header.tensors.map((raw, index) => {
    const h = checkTensorHeader(raw, index);
    const name = h.name;
    if (seen.has(name)) fail('BAD_HEADER', 'duplicate tensor name', name);
    seen.add(name);
    let geometry;
    try {
      geometry = makeGeometry(h);
    } catch (e) {
      if (e instanceof RansGemvError) fail('BAD_HEADER', e.message, name);
      throw e;
    }
    if (!(h.groupSize > 0) || (h.segmentLength !== h.cols && h.segmentLength % h.groupSize !== 0)) {
      fail('BAD_HEADER', `group size ${h.groupSize} does not divide segment length ${h.segmentLength}`, name);
    }
    const params = paramCount(h.quantizer, h.rows, h.cols, h.groupSize);
    const expected: Record<SectionName, number | null> = {
      scales: params * 2,
      biases: h.quantizer === 'symmetric' ? null : params * 2,
      freqs: ALPHABET * 2,
      laneStates: geometry.lanes * 4,
      laneLengths: geometry.lanes * 2,
      streams: null, // any multiple of 4; checked against the lane lengths below
    };
    for (const s of SECTION_NAMES) {
      const ref = h.sections[s];
      const want = expected[s];
      const required = s !== 'biases' || h.quantizer !== 'symmetric';
      if (!ref) { if (required) fail('BAD_HEADER', `section '${s}' is missing`, name); continue; }
      if (!required) fail('BAD_HEADER', `a symmetric tensor has no '${s}' section`, name);
      if (want !== null && ref.length !== want) fail('BAD_SIZE', `section '${s}' is ${ref.length} bytes, the shape needs ${want}`, name);
      if (s === 'streams' && ref.length % 4 !== 0) fail('BAD_SIZE', `section '${s}' length ${ref.length} is not a multiple of 4`, name);
      claim(ref, s, name);
    }
    return { h, geometry };
  });
  const rawHeaders = header.raw === undefined ? [] : Array.isArray(header.raw) ? header.raw.map(checkRawHeader) : fail('BAD_HEADER', 'raw tensor table is not a list');
  for (const r of rawHeaders) {
    if (seen.has(r.name)) fail('BAD_HEADER', 'duplicate tensor name', r.name);
    seen.add(r.name);
    const want = r.shape.reduce((a, d) => a * d, 4);
    if (r.section.length !== want) fail('BAD_SIZE', `raw section is ${r.section.length} bytes, shape [${r.shape}] needs ${want}`, r.name);
    claim(r.section, 'raw', r.name);
  }
  if (header.model !== undefined && (typeof header.model !== 'object' || header.model === null || Array.isArray(header.model))) fail('BAD_HEADER', 'model description is not an object');
  claimed.sort((a, b) => a.start - b.start);
  for (let i = 1; i < claimed.length; i++) {
    if (claimed[i].start < claimed[i - 1].end) fail('BAD_OFFSET', `sections ${claimed[i - 1].what} and ${claimed[i].what} overlap`);
  }
  const copy = (ref: SectionRef, what: string, tensor: string): Uint8Array => {
    const slice = bytes.slice(ref.offset, ref.offset + ref.length); // aligned copy
    if (crc32(slice) !== ref.crc32) fail('CHECKSUM_MISMATCH', `section '${what}' checksum does not match`, tensor);
    return slice;
  };
  const raw = new Map<string, RawTensor>();
  for (const r of rawHeaders) {
    const b = copy(r.section, 'raw', r.name);
    raw.set(r.name, { name: r.name, shape: r.shape, data: new Float32Array(b.buffer, b.byteOffset, b.length / 4) });
  }
  const tensors = checked.map(({ h, geometry }): ContainerTensor => {
    const section = (s: SectionName): Uint8Array | null => {
      const ref = h.sections[s];
      return ref ? copy(ref, s, h.name) : null;
    };
    const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
    const u32 = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
    const biases = section('biases');
    const encoded: EncodedMatrix = {
      geometry,
      freqs: u16(section('freqs')!),
      laneStates: u32(section('laneStates')!),
      laneLengths: u16(section('laneLengths')!),
      data: u32(section('streams')!),
    };
    let freqSum = 0;
    for (const f of encoded.freqs) freqSum += f;
    if (freqSum !== 2 ** MARGINAL_PRECISION) fail('BAD_FREQUENCIES', `index frequencies sum to ${freqSum}, not 2^${MARGINAL_PRECISION}`, h.name);
    const units = tileDirectory(geometry, encoded.laneLengths).base[geometry.tiles];
    if (units !== encoded.data.length) fail('BAD_SIZE', `lane lengths add up to ${units} units, the streams section holds ${encoded.data.length}`, h.name);
    return {
      header: h,
      params: {
        rows: h.rows, cols: h.cols, quantizer: h.quantizer, groupSize: h.groupSize, paramType: h.paramType,
        scales: u16(section('scales')!), biases: biases ? u16(biases) : null,
      },
      encoded,
    };
  });
  return { tensors, model: (header.model as Record<string, unknown> | undefined) ?? null, raw };
}

/**
 * Decodes a tensor's streams on the CPU and proves them bit-exact against the stored index
 * checksum. Throws {@link ContainerError} (code `STREAM_CORRUPT` or `INDEX_CHECKSUM_MISMATCH`)
 * naming the tensor.
 *
 * @example
 * ```ts
 * const q = decodeTensor(readContainer(bytes)[0]); // throws ContainerError naming the tensor
 * ```
 */
export function decodeTensor(t: ContainerTensor): QuantizedMatrix {
  let indices: Uint8Array;
  try {
    indices = decodeIndices(t.encoded);
  } catch (e) {
    if (e instanceof RansGemvError) fail('STREAM_CORRUPT', e.message, t.header.name);
    throw e;
  }
  if (indexChecksum(indices, t.header.rows, t.header.cols) !== t.header.indexCrc32) {
    fail('INDEX_CHECKSUM_MISMATCH', 'decoded indices do not match the stored index checksum', t.header.name);
  }
  return { ...t.params, indices };
}
