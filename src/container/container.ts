/**
 * The `.rgmv` container: several entropy-coded 4-bit tensors in one file.
 * docs/FORMAT.md is the normative description; this file implements it and nothing else.
 *
 * The parser validates every size and offset against the file length before it copies or
 * allocates anything, and reports each fault as a {@link ContainerError} with a stable code.
 */
import { ContainerError, InvalidInputError, RansGemvError } from '../errors.js';
import { packNibbles } from '../quantize/import.js';
import { checkKernelGroupSize, hasBiases, paramCount, QUANTIZERS, type QuantizedMatrix, type QuantizerKind } from '../quantize/types.js';
import { paramBytes, type ParamType } from '../quantize/half.js';
import { decodeIndexTiles, decodeIndices, type EncodedMatrix } from '../rans/codec.js';
import { decodeExceptions, exceptionDecoder, MAX_GAP_BITS } from '../rans/exceptions.js';
import { ALPHABET, MARGINAL_PRECISION } from '../rans/frequencies.js';
import { makeGeometry, tileDirectory, type StreamGeometry } from '../rans/layout.js';
import type { ByteSource } from '../io/source.js';
import { firstOverlap } from '../io/model.js';
import { crc32, crc32Of } from './crc.js';

/** First 8 bytes of every container (PNG-style: a high byte, a name, CR LF, ^Z, LF-catchers). */
export const MAGIC = Uint8Array.of(0x89, 0x52, 0x47, 0x4d, 0x56, 0x0d, 0x0a, 0x1a); // \x89 R G M V \r \n ^Z
/** The format version this code writes; it reads this one and version 1. */
export const FORMAT_VERSION = 2;
/**
 * Bytes of the version-2 preamble: magic, version, header length, header CRC, a zero u32, and the
 * u64 offset of the JSON header, which follows the sections so a writer can stream them.
 */
export const PREAMBLE_BYTES = 32;
/** Version 1 had a 20-byte preamble with the header right after it. */
const V1_PREAMBLE_BYTES = 20;
/**
 * Largest index count {@link decodeTensor} materializes (the typed-array limit of today's engines,
 * 2^32 − 1); {@link verifyTensor} checks larger tensors without holding their indices.
 */
export const MAX_MATERIALIZED_INDICES = 2 ** 32 - 1;

/** Section names, in the order the writer lays them out. */
export const SECTION_NAMES = ['scales', 'biases', 'freqs', 'laneStates', 'laneLengths', 'streams', 'tileChecks', 'exceptionCounts', 'exceptions'] as const;
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
  /** `ecsq` only: the Exp-Golomb order of the exception lists' gaps, 0..16. */
  exceptionGapBits?: number;
  sections: Partial<Record<SectionName, SectionRef>>;
}

/** A tensor to write: its quantization and its coded indices. */
export interface TensorToWrite {
  name: string;
  quantized: QuantizedMatrix;
  encoded: EncodedMatrix;
  /** The indices' checksum when already known (a `CompressedMatrix` carries it); computed otherwise. */
  indexCrc32?: number;
}

/** Quantization parameters of a matrix without its indices (which the streams hold). */
export type QuantParams = Omit<QuantizedMatrix, 'indices'>;

/**
 * A tensor for {@link ContainerWriter}: parameters, streams and the checksum of its indices, so a
 * streaming encoder can drop the indices as soon as they are coded.
 */
export interface EncodedTensor {
  name: string;
  params: QuantParams;
  encoded: EncodedMatrix;
  /** {@link indexChecksum} of the indices. */
  indexCrc32: number;
}

/** A tensor read from a container; sections checked, indices not yet decoded. */
export interface ContainerTensor {
  header: TensorHeader;
  /** Quantization parameters (indices are decoded by {@link decodeTensor}). */
  params: QuantParams;
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

/** Where a chunk of the file goes: `position` is an absolute byte offset. */
export type ContainerSink = (chunk: Uint8Array, position: number) => void;

/**
 * Writes a container incrementally: each tensor's sections are written as soon as it is added,
 * the JSON header (offsets, checksums) after the last section, the preamble last. Peak memory is
 * one tensor, whatever the file size.
 *
 * @example
 * ```ts
 * const chunks: [Uint8Array, number][] = [];
 * const w = new ContainerWriter((chunk, at) => chunks.push([chunk, at]));
 * w.addTensor({ name: 'wq', params, encoded, indexCrc32 });
 * const size = w.finish({ model: { format: 'llama2c' } });
 * ```
 */
export class ContainerWriter {
  private at = PREAMBLE_BYTES;
  private readonly names = new Set<string>();
  private readonly headers: TensorHeader[] = [];
  private readonly raw: { name: string; shape: number[]; section: SectionRef }[] = [];
  private finished = false;

  constructor(private readonly sink: ContainerSink) {}

  /** Bytes written so far (sections only; the header and preamble come at {@link finish}). */
  get bytesWritten(): number {
    return this.at;
  }

  /** Appends one coded matrix. */
  addTensor({ name, params: q, encoded: e, indexCrc32 }: EncodedTensor): void {
    this.claimName(name);
    const g = e.geometry;
    if (g.rows !== q.rows || g.cols !== q.cols) throw new InvalidInputError('SHAPE_MISMATCH', `${name}: streams are ${g.rows}×${g.cols}, parameters ${q.rows}×${q.cols}`);
    const h: TensorHeader = {
      name, rows: q.rows, cols: q.cols, quantizer: q.quantizer, groupSize: q.groupSize, paramType: q.paramType,
      precision: g.precision, segmentLength: g.segmentLength, rowsPerLane: g.rowsPerLane, rowsPerTile: g.rowsPerTile,
      indexCrc32, sections: {},
    };
    if (e.exceptions) h.exceptionGapBits = e.exceptions.gapBits;
    const views: [SectionName, ArrayBufferView | null][] = [
      // E5M3 codes are kept in 16-bit slots in memory and stored one byte each.
      ['scales', q.paramType === 'e5m3' ? Uint8Array.from(q.scales) : q.scales], ['biases', q.biases], ['freqs', e.freqs],
      ['laneStates', e.laneStates], ['laneLengths', e.laneLengths], ['streams', e.data], ['tileChecks', e.tileChecks ?? null],
      ['exceptionCounts', e.exceptions?.counts ?? null], ['exceptions', e.exceptions?.bits ?? null],
    ];
    if ((q.quantizer === 'ecsq') !== (e.exceptions !== undefined)) throw new InvalidInputError('SHAPE_MISMATCH', `${name}: exception lists go with the ecsq quantizer and only with it`);
    for (const [section, view] of views) if (view) h.sections[section] = this.section(view);
    this.headers.push(h);
  }

  /** Appends an f32 tensor stored as is (norm weights). */
  addRaw(t: RawTensor): void {
    this.claimName(t.name);
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new InvalidInputError('SHAPE_MISMATCH', `${t.name}: shape [${t.shape}] does not hold ${t.data.length} values`);
    this.raw.push({ name: t.name, shape: t.shape, section: this.section(t.data) });
  }

  /** Writes the header and the preamble; returns the file size. */
  finish(model?: Record<string, unknown>): number {
    if (this.finished) throw new InvalidInputError('BAD_STATE', 'container already finished');
    this.finished = true;
    const header = { tensors: this.headers, ...(model ? { model } : {}), ...(this.raw.length ? { raw: this.raw } : {}) };
    const headerBytes = new TextEncoder().encode(JSON.stringify(header));
    const headerOffset = this.at;
    this.sink(headerBytes, headerOffset);
    const preamble = new Uint8Array(PREAMBLE_BYTES);
    const dv = new DataView(preamble.buffer);
    preamble.set(MAGIC, 0);
    dv.setUint32(8, FORMAT_VERSION, true);
    dv.setUint32(12, headerBytes.length, true);
    dv.setUint32(16, crc32(headerBytes), true);
    dv.setBigUint64(24, BigInt(headerOffset), true);
    this.sink(preamble, 0);
    return headerOffset + headerBytes.length;
  }

  private claimName(name: string): void {
    if (this.finished) throw new InvalidInputError('BAD_STATE', 'container already finished');
    if (!name || this.names.has(name)) throw new InvalidInputError('BAD_NAME', `tensor names must be unique and non-empty: '${name}'`);
    this.names.add(name);
  }

  /** Writes a section at the next 4-byte aligned offset (the gap is zero padding). */
  private section(view: ArrayBufferView): SectionRef {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const ref = { offset: this.at, length: bytes.length, crc32: crc32(bytes) };
    this.sink(bytes, this.at);
    const end = this.at + bytes.length;
    this.at = align4(end);
    if (this.at > end) this.sink(new Uint8Array(this.at - end), end);
    return ref;
  }
}

/**
 * Serializes tensors into one container in memory (see {@link ContainerWriter} to stream).
 *
 * @example
 * ```ts
 * const q = quantize(w, rows, cols);
 * const bytes = writeContainer([{ name: 'wq', quantized: q, encoded: encodeIndices(q.indices, rows, cols, q.groupSize) }]);
 * ```
 */
export function writeContainer(tensors: TensorToWrite[], extras: ContainerExtras = {}): Uint8Array {
  const chunks: [Uint8Array, number][] = [];
  const writer = new ContainerWriter((chunk, at) => chunks.push([chunk.slice(), at]));
  for (const { name, quantized: { indices, ...params }, encoded, indexCrc32 } of tensors) {
    writer.addTensor({ name, params, encoded, indexCrc32: indexCrc32 ?? indexChecksum(indices, params.rows, params.cols) });
  }
  for (const r of extras.raw ?? []) writer.addRaw(r);
  const out = new Uint8Array(writer.finish(extras.model));
  for (const [chunk, at] of chunks) out.set(chunk, at);
  return out;
}

function fail(code: string, message: string, tensor?: string): never {
  throw new ContainerError(code, message, tensor);
}

function isUint(v: unknown, max = 2 ** 32 - 1): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Where a container's JSON header and sections lie, from its preamble. */
export interface ContainerFrame {
  version: number;
  headerOffset: number;
  headerLength: number;
  headerCrc32: number;
  /** Sections lie in [dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
}

/**
 * Reads the preamble (the first {@link PREAMBLE_BYTES} bytes, fewer if the file is shorter) of a
 * container of `size` bytes: magic, version, where the header lies. Versions 1 and 2 are read.
 *
 * @example
 * ```ts
 * const frame = containerFrame(await source.read(0, Math.min(PREAMBLE_BYTES, source.size)), source.size);
 * ```
 */
export function containerFrame(preamble: Uint8Array, size: number): ContainerFrame {
  if (size < V1_PREAMBLE_BYTES || preamble.length < Math.min(size, PREAMBLE_BYTES)) fail('TRUNCATED', `file has ${size} bytes, the preamble alone needs ${PREAMBLE_BYTES}`);
  if (!isContainer(preamble)) fail('BAD_MAGIC', 'not an rans-gemv container (bad magic bytes)');
  const dv = new DataView(preamble.buffer, preamble.byteOffset, preamble.byteLength);
  const version = dv.getUint32(8, true);
  const headerLength = dv.getUint32(12, true), headerCrc32 = dv.getUint32(16, true);
  if (version === 1) {
    if (headerLength > size - V1_PREAMBLE_BYTES) fail('TRUNCATED', `header claims ${headerLength} bytes, the file has ${size - V1_PREAMBLE_BYTES} after the preamble`);
    return { version, headerOffset: V1_PREAMBLE_BYTES, headerLength, headerCrc32, dataStart: align4(V1_PREAMBLE_BYTES + headerLength), dataEnd: size };
  }
  if (version !== FORMAT_VERSION) fail('UNSUPPORTED_VERSION', `format version ${version}; this reader knows 1 and ${FORMAT_VERSION}`);
  if (size < PREAMBLE_BYTES) fail('TRUNCATED', `file has ${size} bytes, the preamble alone needs ${PREAMBLE_BYTES}`);
  const headerOffset = Number(dv.getBigUint64(24, true));
  if (dv.getUint32(20, true) !== 0) fail('BAD_HEADER', 'reserved preamble field is not zero');
  if (headerOffset < PREAMBLE_BYTES || headerOffset % 4 !== 0) fail('BAD_OFFSET', `header offset ${headerOffset} is inside the preamble or misaligned`);
  if (headerOffset + headerLength > size) fail('TRUNCATED', `header [${headerOffset}, ${headerOffset + headerLength}) ends past the file's ${size} bytes`);
  return { version, headerOffset, headerLength, headerCrc32, dataStart: PREAMBLE_BYTES, dataEnd: headerOffset };
}

/** Checks the header's CRC and parses its JSON. */
function parseHeader(headerBytes: Uint8Array, frame: ContainerFrame): { tensors: unknown[]; model?: unknown; raw?: unknown } {
  if (crc32(headerBytes) !== frame.headerCrc32) fail('CHECKSUM_MISMATCH', 'header checksum does not match');
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
  if (t.paramType !== 'f16' && t.paramType !== 'bf16' && t.paramType !== 'e5m3') fail('BAD_HEADER', `unknown parameter type '${String(t.paramType)}'`, name);
  if ((t.paramType === 'e5m3') !== (t.quantizer === 'ecsq')) fail('BAD_HEADER', `parameter type '${t.paramType}' does not go with quantizer '${String(t.quantizer)}' (ecsq row steps are e5m3, group parameters f16 or bf16)`, name);
  if (t.quantizer === 'ecsq' ? !isUint(t.exceptionGapBits, MAX_GAP_BITS) : t.exceptionGapBits !== undefined) fail('BAD_HEADER', `field 'exceptionGapBits' must be an integer 0..${MAX_GAP_BITS} for ecsq tensors and absent otherwise`, name);
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

/** A raw-tensor entry of the header. */
interface RawHeader { name: string; shape: number[]; section: SectionRef }

/**
 * A container's checked table of contents: every entry validated and every section's range
 * proven inside the file and disjoint from the others, before any section is read.
 */
export interface ContainerIndex {
  frame: ContainerFrame;
  tensors: { header: TensorHeader; geometry: StreamGeometry }[];
  raw: RawHeader[];
  model: Record<string, unknown> | null;
}

/**
 * Checks a container's header (its bytes, from {@link ContainerFrame}) against a file of `size`
 * bytes: structure, every size against the shape it implies, every offset inside the data
 * region, no overlaps. Reads no section. Throws {@link ContainerError}.
 *
 * @example
 * ```ts
 * const index = containerIndex(headerBytes, frame, fileSize);
 * ```
 */
export function containerIndex(headerBytes: Uint8Array, frame: ContainerFrame, size: number): ContainerIndex {
  const header = parseHeader(headerBytes, frame);
  const seen = new Set<string>();
  const claimed: { offset: number; length: number; what: string }[] = [];
  // Bounds first: nothing is copied or allocated until every claimed range lies in the file.
  const claim = (ref: SectionRef, what: string, tensor: string) => {
    if (ref.offset % 4 !== 0 || ref.offset < frame.dataStart) fail('BAD_OFFSET', `section '${what}' offset ${ref.offset} is misaligned or inside the preamble or header`, tensor);
    if (ref.offset + ref.length > size) fail('TRUNCATED', `section '${what}' ends at ${ref.offset + ref.length}, the file has ${size} bytes`, tensor);
    if (ref.offset + ref.length > frame.dataEnd) fail('BAD_OFFSET', `section '${what}' ends at ${ref.offset + ref.length}, inside the header at ${frame.dataEnd}`, tensor);
    claimed.push({ offset: ref.offset, length: ref.length, what: `${tensor}.${what}` });
  };
  const tensors = header.tensors.map((raw, index) => {
    const h = checkTensorHeader(raw, index);
    const name = h.name;
    if (seen.has(name)) fail('BAD_HEADER', 'duplicate tensor name', name);
    seen.add(name);
    let geometry: StreamGeometry;
    try {
      geometry = makeGeometry(h);
      checkKernelGroupSize(h.groupSize);
    } catch (e) {
      if (e instanceof RansGemvError) fail('BAD_HEADER', e.message, name);
      throw e;
    }
    if (h.segmentLength !== h.cols && h.segmentLength % h.groupSize !== 0) {
      fail('BAD_HEADER', `group size ${h.groupSize} does not divide segment length ${h.segmentLength}`, name);
    }
    const params = paramCount(h.quantizer, h.rows, h.cols, h.groupSize);
    const ecsq = h.quantizer === 'ecsq';
    const expected: Record<SectionName, number | null> = {
      scales: params * paramBytes(h.paramType),
      biases: hasBiases(h.quantizer) ? params * paramBytes(h.paramType) : null,
      freqs: ALPHABET * 2,
      laneStates: geometry.lanes * 4,
      laneLengths: geometry.lanes * 2,
      streams: null, // any multiple of 4; checked against the lane lengths when read
      tileChecks: geometry.tiles * 4,
      exceptionCounts: geometry.lanes * 2,
      exceptions: null, // any multiple of 4; checked against the exception counts when read
    };
    for (const s of SECTION_NAMES) {
      const ref = h.sections[s];
      const want = expected[s];
      const allowed = s === 'biases' ? hasBiases(h.quantizer) : s === 'exceptionCounts' || s === 'exceptions' ? ecsq : true;
      const required = allowed && s !== 'tileChecks'; // tile checks are optional (older files lack them)
      if (!ref) { if (required) fail('BAD_HEADER', `section '${s}' is missing`, name); continue; }
      if (!allowed) fail('BAD_HEADER', `a ${h.quantizer} tensor has no '${s}' section`, name);
      if (want !== null && ref.length !== want) fail('BAD_SIZE', `section '${s}' is ${ref.length} bytes, the shape needs ${want}`, name);
      if ((s === 'streams' || s === 'exceptions') && ref.length % 4 !== 0) fail('BAD_SIZE', `section '${s}' length ${ref.length} is not a multiple of 4`, name);
      claim(ref, s, name);
    }
    return { header: h, geometry };
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
  const clash = firstOverlap(claimed);
  if (clash) fail('BAD_OFFSET', `sections ${clash[0].what} and ${clash[1].what} overlap`);
  return { frame, tensors, raw: rawHeaders, model: (header.model as Record<string, unknown> | undefined) ?? null };
}

/** Checks a section's bytes against its CRC; returns them. */
function checkedSection(bytes: Uint8Array, ref: SectionRef, what: string, tensor: string): Uint8Array {
  if (crc32(bytes) !== ref.crc32) fail('CHECKSUM_MISMATCH', `section '${what}' checksum does not match`, tensor);
  return bytes;
}

/** A raw tensor from its (aligned) section bytes. */
function rawTensor(r: RawHeader, bytes: Uint8Array): RawTensor {
  const b = checkedSection(bytes, r.section, 'raw', r.name);
  return { name: r.name, shape: r.shape, data: new Float32Array(b.buffer, b.byteOffset, b.length / 4) };
}

/**
 * A tensor from its section bytes (each a fresh, aligned copy): CRCs checked, frequencies summing
 * to 2^12, lane lengths adding up to the streams section.
 */
function tensorFromSections(h: TensorHeader, geometry: StreamGeometry, section: (ref: SectionRef) => Uint8Array): ContainerTensor {
  const get = (s: SectionName): Uint8Array | null => {
    const ref = h.sections[s];
    return ref ? checkedSection(section(ref), ref, s, h.name) : null;
  };
  const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
  const u32 = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
  const biases = get('biases');
  const encoded: EncodedMatrix = {
    geometry,
    freqs: u16(get('freqs')!),
    laneStates: u32(get('laneStates')!),
    laneLengths: u16(get('laneLengths')!),
    data: u32(get('streams')!),
  };
  const checks = get('tileChecks');
  if (checks) encoded.tileChecks = u32(checks);
  const exceptionCounts = get('exceptionCounts');
  // The lists parse when decoded or verified (their lengths are only known then).
  if (exceptionCounts) encoded.exceptions = { counts: u16(exceptionCounts), bits: u32(get('exceptions')!), gapBits: h.exceptionGapBits! };
  let freqSum = 0;
  for (const f of encoded.freqs) freqSum += f;
  if (freqSum !== 2 ** MARGINAL_PRECISION) fail('BAD_FREQUENCIES', `index frequencies sum to ${freqSum}, not 2^${MARGINAL_PRECISION}`, h.name);
  const units = tileDirectory(geometry, encoded.laneLengths).base[geometry.tiles];
  if (units !== encoded.data.length) fail('BAD_SIZE', `lane lengths add up to ${units} units, the streams section holds ${encoded.data.length}`, h.name);
  return {
    header: h,
    params: {
      rows: h.rows, cols: h.cols, quantizer: h.quantizer, groupSize: h.groupSize, paramType: h.paramType,
      scales: h.paramType === 'e5m3' ? Uint16Array.from(get('scales')!) : u16(get('scales')!), biases: biases ? u16(biases) : null,
    },
    encoded,
  };
}

/**
 * Like {@link readContainer}, plus the model description and raw f32 tensors a container may
 * carry (written by `rans-gemv encode` for llama2.c checkpoints). Holds the whole file; large
 * files go through {@link openContainer}.
 *
 * @example
 * ```ts
 * const { tensors, model, raw } = readContainerFile(bytes);
 * const norms = raw.get('rms_final')?.data;
 * ```
 */
export function readContainerFile(bytes: Uint8Array): ContainerFile {
  const frame = containerFrame(bytes.subarray(0, PREAMBLE_BYTES), bytes.length);
  const index = containerIndex(bytes.subarray(frame.headerOffset, frame.headerOffset + frame.headerLength), frame, bytes.length);
  const copy = (ref: SectionRef) => bytes.slice(ref.offset, ref.offset + ref.length); // aligned copy
  const raw = new Map(index.raw.map((r) => [r.name, rawTensor(r, copy(r.section))]));
  const tensors = index.tensors.map(({ header, geometry }) => tensorFromSections(header, geometry, copy));
  return { tensors, model: index.model, raw };
}

/** A container opened for streaming: its checked index; tensors are read one at a time. */
export interface ContainerReader {
  index: ContainerIndex;
  /** Reads and checks tensor `i`'s sections (≈ its coded size in memory). */
  readTensor(i: number): Promise<ContainerTensor>;
  /** Reads and checks the raw f32 tensors. */
  readRaw(): Promise<Map<string, RawTensor>>;
}

/**
 * Opens a container of any size: reads the preamble and header and checks them
 * ({@link containerIndex}); sections are read when asked for.
 *
 * @example
 * ```ts
 * import { fileSource } from 'rans-gemv/node';
 * const c = await openContainer(fileSource('model.rgmv'));
 * for (let i = 0; i < c.index.tensors.length; i++) verifyTensor(await c.readTensor(i));
 * ```
 */
export async function openContainer(source: ByteSource): Promise<ContainerReader> {
  const frame = containerFrame(await source.read(0, Math.min(PREAMBLE_BYTES, source.size)), source.size);
  const index = containerIndex(await source.read(frame.headerOffset, frame.headerLength), frame, source.size);
  const read = (ref: SectionRef) => source.read(ref.offset, ref.length);
  return {
    index,
    async readTensor(i) {
      const { header, geometry } = index.tensors[i];
      const sections = new Map<SectionRef, Uint8Array>();
      for (const ref of Object.values(header.sections)) sections.set(ref, await read(ref));
      return tensorFromSections(header, geometry, (ref) => sections.get(ref)!);
    },
    async readRaw() {
      const out = new Map<string, RawTensor>();
      for (const r of index.raw) out.set(r.name, rawTensor(r, await read(r.section)));
      return out;
    },
  };
}

/**
 * Decodes a tensor's streams on the CPU and proves them bit-exact against the stored index
 * checksum. Throws {@link ContainerError} (code `STREAM_CORRUPT`, `INDEX_CHECKSUM_MISMATCH`, or
 * `TOO_LARGE` above {@link MAX_MATERIALIZED_INDICES} indices — {@link verifyTensor} checks those)
 * naming the tensor.
 *
 * @example
 * ```ts
 * const q = decodeTensor(readContainer(bytes)[0]); // throws ContainerError naming the tensor
 * ```
 */
export function decodeTensor(t: ContainerTensor): QuantizedMatrix {
  const { rows, cols, name } = t.header;
  if (rows * cols > MAX_MATERIALIZED_INDICES) fail('TOO_LARGE', `${rows}×${cols} indices exceed the ${MAX_MATERIALIZED_INDICES} an array can hold; verifyTensor checks it without materializing`, name);
  let indices: Uint8Array;
  try {
    indices = decodeIndices(t.encoded);
  } catch (e) {
    if (e instanceof RansGemvError) fail('STREAM_CORRUPT', e.message, name);
    throw e;
  }
  if (indexChecksum(indices, rows, cols) !== t.header.indexCrc32) {
    fail('INDEX_CHECKSUM_MISMATCH', 'decoded indices do not match the stored index checksum', name);
  }
  if (!t.encoded.exceptions) return { ...t.params, indices };
  try {
    return { ...t.params, indices, exceptions: decodeExceptions(t.encoded.geometry, t.encoded.exceptions, indices) };
  } catch (e) {
    if (e instanceof RansGemvError) fail('STREAM_CORRUPT', e.message, name);
    throw e;
  }
}

/**
 * Proves a tensor's streams bit-exact against the stored index checksum like {@link decodeTensor},
 * one tile of rows at a time: memory is one tile (≤ 256 lanes), whatever the tensor's size.
 * `onProgress(weightsDone)` is called after each tile.
 *
 * @example
 * ```ts
 * verifyTensor(await container.readTensor(0)); // throws ContainerError naming the tensor
 * ```
 */
export function verifyTensor(t: ContainerTensor, onProgress?: (weightsDone: number) => void): void {
  const { rows, cols, name } = t.header;
  const wordsPerRow = Math.ceil(cols / 8);
  let crc = 0;
  try {
    const g = t.encoded.geometry;
    const exceptionTile = t.encoded.exceptions ? exceptionDecoder(g, t.encoded.exceptions) : null;
    decodeIndexTiles(t.encoded, (row0, rowCount, indices) => {
      crc = crc32(new Uint8Array(packNibbles(indices, rowCount, cols).buffer, 0, rowCount * wordsPerRow * 4), crc);
      exceptionTile?.(row0 / g.rowsPerTile, indices.subarray(0, rowCount * cols));
      onProgress?.((row0 + rowCount) * cols);
    });
  } catch (e) {
    if (e instanceof RansGemvError) fail('STREAM_CORRUPT', e.message, name);
    throw e;
  }
  if (crc !== t.header.indexCrc32) fail('INDEX_CHECKSUM_MISMATCH', `decoded indices do not match the stored index checksum (${rows}×${cols})`, name);
}
