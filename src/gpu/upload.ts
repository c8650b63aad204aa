/**
 * Uploading a compressed matrix to the GPU: streams (split across bindings when needed),
 * lane tables, tile directory, pair frequencies and packed group parameters.
 */
import { InvalidInputError } from '../errors.js';
import { fromBf16Bits, fromF16Bits, halfToF32, toBf16Bits, toF16Bits } from '../quantize/half.js';
import { packNibbles } from '../quantize/import.js';
import { checkKernelGroupSize, groupsPerRow, hasBiases, paramCount, type QuantizedMatrix } from '../quantize/types.js';
import type { EncodedMatrix } from '../rans/codec.js';
import { exceptionStarts } from '../rans/exceptions.js';
import { cumulative, pairFrequencies } from '../rans/frequencies.js';
import { tileDirectory, tileShape, type StreamGeometry } from '../rans/layout.js';
import { COPY_DST, COPY_SRC, STORAGE } from './usage.js';
import { releaseOwned } from './owned.js';
import type { WeightRule } from './kernels.js';

/** What {@link uploadMatrix} needs: quantization parameters and the coded indices. */
export interface MatrixSource {
  /** A `QuantizedMatrix`, or a container tensor's `params`; `indices` enables the plain q4 mode. */
  params: Pick<QuantizedMatrix, 'rows' | 'cols' | 'quantizer' | 'groupSize' | 'paramType' | 'scales' | 'biases'> & { indices?: Uint8Array };
  /** The coded indices (with the exception lists for `ecsq`). */
  encoded: EncodedMatrix;
}

/** Options of {@link uploadMatrix}. */
export interface UploadOptions {
  /** Also upload the plain q4 nibbles (from `params.indices`) for `mode: 'q4'`. Default false. */
  q4?: boolean;
  /** Largest buffer binding to use; default the device's maxStorageBufferBindingSize. */
  maxBindingBytes?: number;
  label?: string;
}

/** A range of tiles decoded by one dispatch, with its own stream (and q4) buffers. */
export interface MatrixPart {
  firstTile: number;
  tiles: number;
  firstRow: number;
  rows: number;
  streams: GPUBuffer;
  /** Plain q4 nibbles of this part's rows uploaded from the host (`q4` mode), or null. */
  q4: GPUBuffer | null;
  /** The same nibbles decoded on the GPU (`decode-then-q4`), allocated on first use. */
  decoded: GPUBuffer | null;
}

/** A GPU-resident compressed matrix. Create with {@link uploadMatrix}; free with `destroy()`. */
export interface GpuMatrix {
  readonly device: GPUDevice;
  readonly rows: number;
  readonly cols: number;
  readonly groupSize: number;
  /** Whether plain q4 nibbles were uploaded from the host (needed by `mode: 'q4'`). */
  readonly hostQ4: boolean;
  /**
   * Bytes the kernels read per product, weights side: `streams` (stream units, cumulative
   * pair frequencies, lane states and lengths; ecsq's exception lists and their starts), `params`
   * (packed scales and biases, or ecsq's f32 row steps), `q4` (nibbles). The fused
   * kernel reads streams + params, plain q4 reads q4 + params.
   */
  readonly bytes: { readonly streams: number; readonly params: number; readonly q4: number };
  /** True once the device is lost or destroyed. */
  readonly lost: boolean;
  /** True after `destroy()`; a destroyed matrix is refused with `MATRIX_DESTROYED`. */
  readonly destroyed: boolean;
  /** Frees every GPU buffer of the matrix (and the uniforms made for it). */
  destroy(): void;
}

/**
 * What the kernels need of an uploaded matrix: the buffers and layout behind the opaque
 * {@link GpuMatrix} (library-internal; not exported from the package).
 */
export interface GpuMatrixInternals extends GpuMatrix {
  readonly groupsPerRow: number;
  readonly bf16Params: boolean;
  readonly geometry: StreamGeometry;
  readonly parts: MatrixPart[];
  /** Packed group scales and biases, or (`rows`) one f32 step per row. */
  readonly params: GPUBuffer;
  /** `groups`: a scale and bias per group; `rows`: ecsq, a step per row and exception lists. */
  readonly rule: WeightRule;
  /** ecsq: the lanes' exception lists (one bit string); null otherwise. */
  readonly exceptions: GPUBuffer | null;
  /** ecsq: the Exp-Golomb order of the lists' gaps; 0 otherwise. */
  readonly exceptionGapBits: number;
  /** Cumulative frequencies, lane states, lane lengths, tile directory (and ecsq's exception-list starts) in one buffer (see rans_lanes.wgsl). */
  readonly laneMeta: GPUBuffer;
  /** u32 offsets of the lane states, lane lengths, tile directory, tile checks and exception-list starts (0 without) in `laneMeta`. */
  readonly metaOffsets: { states: number; lengths: number; tiles: number; checks: number; exceptions: number };
  /** Whether the streams came with tile checks (the decode kernel verifies the indices against them). */
  readonly hasTileChecks: boolean;
  /** [failed lanes, lowest failed lane, failed tile checks, lowest failed tile], written by the decoding kernels. */
  readonly status: GPUBuffer;
  /** Scratch for the activations' group sums (8 vectors). */
  readonly groupSums: GPUBuffer;
  /** True once every part's `decoded` nibbles were submitted (decode-then-q4 decodes once). */
  decodedReady: boolean;
  lost: boolean;
  destroyed: boolean;
}

/** The internals of a matrix this library uploaded. */
export function internals(m: GpuMatrix): GpuMatrixInternals {
  return m as GpuMatrixInternals;
}


/** q4.wgsl reads plain q4 nibbles as vec4<u32>: their buffers (uploaded or GPU-decoded) are 16-byte multiples. */
export const Q4_BUFFER_ALIGN = 16;

/** Bytes of a buffer holding `bytes` of data in multiples of `align` (at least one). */
export function alignedSize(bytes: number, align: number): number {
  return Math.max(align, Math.ceil(bytes / align) * align);
}

function buffer(device: GPUDevice, data: ArrayBufferView, label: string, extraUsage = 0, align = 4): GPUBuffer {
  // Zero-length bindings are invalid: keep at least one element.
  const size = alignedSize(data.byteLength, align);
  const b = device.createBuffer({ label, size, usage: STORAGE | COPY_DST | extraUsage, mappedAtCreation: true });
  new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  b.unmap();
  return b;
}

/**
 * Scale and bias per group as two 16-bit floats in one u32, for every quantizer.
 *
 * @example
 * ```ts
 * const words = packGroupParams(q); // words[i] = scale bits | bias bits << 16
 * ```
 */
export function packGroupParams(p: MatrixSource['params']): Uint32Array {
  const n = p.rows * groupsPerRow(p.cols, p.groupSize);
  const out = new Uint32Array(n);
  // w = s·(q − 8) is w = s·q + (−8s); −8s is exact in f16 and bf16 (an exponent change).
  const negEight = (bits: number) => (p.paramType === 'f16'
    ? toF16Bits(-8 * fromF16Bits(bits))
    : toBf16Bits(-8 * fromBf16Bits(bits)));
  for (let i = 0; i < n; i++) {
    const j = p.quantizer === 'per-tensor' ? 0 : i;
    const s = p.scales[j];
    const b = p.biases ? p.biases[j] : negEight(s);
    out[i] = (s | (b << 16)) >>> 0;
  }
  return out;
}

/**
 * Uploads a compressed matrix. Checks device limits and splits streams (and q4 nibbles) that
 * exceed `maxStorageBufferBindingSize` into several parts, one dispatch each.
 *
 * @example
 * ```ts
 * const c = compressMatrix({ name: 'wq', rows, cols, kind: 'float', weights });
 * const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
 * const y = await fusedMatVec(device, m, x);
 * ```
 */
export function uploadMatrix(device: GPUDevice, source: MatrixSource, options: UploadOptions = {}): GpuMatrix {
  const { params: p, encoded: e } = source;
  const g = e.geometry;
  if (g.rows !== p.rows || g.cols !== p.cols) throw new InvalidInputError('SHAPE_MISMATCH', `streams are ${g.rows}×${g.cols}, parameters ${p.rows}×${p.cols}`);
  const rule: WeightRule = p.quantizer === 'ecsq' ? 'rows' : 'groups';
  if (p.paramType === 'e5m3' && rule !== 'rows') throw new InvalidInputError('SHAPE_MISMATCH', `e5m3 parameters are ecsq row steps, not ${p.quantizer} group scales`);
  if (rule === 'rows' && !e.exceptions) throw new InvalidInputError('SHAPE_MISMATCH', 'an ecsq matrix needs its exception lists (encoded.exceptions)');
  if (rule === 'rows' && options.q4) throw new InvalidInputError('MODE_UNAVAILABLE', 'ecsq exceptions (v beyond [−8, 7]) have no plain q4 form: upload without { q4: true } and use the fused mode');
  // The kernels take a pair of weights (fused, decode) or a u32 of 8 nibbles (q4) from one group.
  checkKernelGroupSize(p.groupSize);
  if (g.segmentLength !== g.cols && g.segmentLength % p.groupSize !== 0) {
    throw new InvalidInputError('BAD_LAYOUT', `segment length ${g.segmentLength} is not a multiple of the group size ${p.groupSize}`);
  }
  if (options.q4 && !p.indices) throw new InvalidInputError('MISSING_INDICES', 'q4 upload needs params.indices');
  // Short parameter arrays would pack as zeros (an all-zero y), not fail: check them here.
  const params = paramCount(p.quantizer, p.rows, p.cols, p.groupSize);
  const needBiases = hasBiases(p.quantizer);
  if (p.scales.length !== params || (needBiases && p.biases?.length !== params) || (!needBiases && p.biases !== null && p.biases !== undefined)) {
    throw new InvalidInputError('SHAPE_MISMATCH', `a ${p.quantizer} ${p.rows}×${p.cols} g${p.groupSize} matrix needs ${params} scales${needBiases ? ` and ${params} biases` : ' and no biases'}, got ${p.scales.length}${p.biases ? ` and ${p.biases.length}` : ''}`);
  }
  if (p.indices && p.indices.length !== p.rows * p.cols) throw new InvalidInputError('SHAPE_MISMATCH', `params.indices has ${p.indices.length} values, ${p.rows}×${p.cols} needs ${p.rows * p.cols}`);
  const limit = Math.min(options.maxBindingBytes ?? Infinity, device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const label = options.label ?? 'rans-gemv matrix';
  const gpr = groupsPerRow(p.cols, p.groupSize);
  // ecsq: each row's E5M3 step as its exact f32 value, read once per row segment.
  const packedParams = rule === 'rows' ? new Uint32Array(halfToF32(p.scales, p.paramType).buffer) : packGroupParams(p);
  if (packedParams.byteLength > limit) throw new InvalidInputError('LIMIT_EXCEEDED', `group parameters need ${packedParams.byteLength} bytes, over the binding limit of ${limit}`);
  const laneTiles = tileShape(g, 0).lanes;
  // The kernels keep the 2^P-entry decode table and one u32 per lane in workgroup memory.
  const workgroupBytes = 4 * (2 ** g.precision + 256);
  if (workgroupBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new InvalidInputError('LIMIT_EXCEEDED', `a ${g.precision}-bit decode table needs ${workgroupBytes} bytes of workgroup memory, the device allows ${device.limits.maxComputeWorkgroupStorageSize}: encode with precision 11, or request a higher maxComputeWorkgroupStorageSize`);
  }
  if (laneTiles > device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new InvalidInputError('LIMIT_EXCEEDED', `a tile has ${laneTiles} lanes, the device allows ${device.limits.maxComputeInvocationsPerWorkgroup} invocations per workgroup`);
  }

  // Parts: consecutive tiles whose streams and q4 nibbles each fit one binding.
  const { base, depth } = tileDirectory(g, e.laneLengths);
  const wordsPerRow = Math.ceil(p.cols / 8);
  const packed = options.q4 ? packNibbles(p.indices!, p.rows, p.cols) : null;
  const parts: MatrixPart[] = [];
  const tileDir = new Uint32Array(2 * g.tiles);
  let first = 0;
  const close = (end: number) => {
    const firstRow = first * g.rowsPerTile, lastRow = Math.min(p.rows, end * g.rowsPerTile);
    const streams = buffer(device, e.data.subarray(base[first], base[end]), `${label} streams ${parts.length}`);
    const q4 = packed ? buffer(device, packed.subarray(firstRow * wordsPerRow, lastRow * wordsPerRow), `${label} q4 ${parts.length}`, 0, Q4_BUFFER_ALIGN) : null;
    parts.push({ firstTile: first, tiles: end - first, firstRow, rows: lastRow - firstRow, streams, q4, decoded: null });
    first = end;
  };
  for (let t = 0; t < g.tiles; t++) {
    tileDir[2 * t] = base[t] - base[first];
    tileDir[2 * t + 1] = depth[t];
    const streamBytes = (base[t + 1] - base[first]) * 4;
    const q4Bytes = (Math.min(p.rows, (t + 1) * g.rowsPerTile) - first * g.rowsPerTile) * wordsPerRow * 4;
    if (Math.max(streamBytes, q4Bytes) > limit || t - first >= 65535) {
      if (t === first) throw new InvalidInputError('LIMIT_EXCEEDED', `tile ${t} alone needs ${Math.max(streamBytes, q4Bytes)} bytes, over the binding limit of ${limit}`);
      close(t);
      tileDir[2 * t] = 0;
    }
  }
  close(g.tiles);

  // The kernels build their decode table from the pair alphabet's cumulative frequencies.
  // c_256 = 2^P ≤ 4096 fits u16: two per u32.
  const table = new Uint32Array(new Uint16Array([...cumulative(pairFrequencies(e.freqs, g.precision)), 0]).buffer);
  const tilesAt = table.length + g.lanes + Math.ceil(g.lanes / 2);
  const checksAt = tilesAt + tileDir.length;
  const exceptionsAt = checksAt + (e.tileChecks ? g.tiles : 0);
  const offsets = { states: table.length, lengths: table.length + g.lanes, tiles: tilesAt, checks: checksAt, exceptions: rule === 'rows' ? exceptionsAt : 0 };
  // ecsq: the bit where each lane's exception list starts, and where the last one ends (the
  // lists are parsed here: a list that does not parse is refused before anything is uploaded).
  const listStarts = e.exceptions ? exceptionStarts(g, e.exceptions) : new Uint32Array(0);
  const meta = new Uint32Array(exceptionsAt + listStarts.length);
  meta.set(table);
  meta.set(e.laneStates, offsets.states);
  new Uint16Array(meta.buffer, offsets.lengths * 4, g.lanes).set(e.laneLengths);
  meta.set(tileDir, offsets.tiles);
  if (e.tileChecks) {
    if (e.tileChecks.length !== g.tiles) throw new InvalidInputError('SHAPE_MISMATCH', `${e.tileChecks.length} tile checks for ${g.tiles} tiles`);
    meta.set(e.tileChecks, offsets.checks);
  }
  meta.set(listStarts, exceptionsAt);
  const exceptionWords = e.exceptions?.bits ?? new Uint32Array(0);
  if (exceptionWords.byteLength > limit) throw new InvalidInputError('LIMIT_EXCEEDED', `exception lists need ${exceptionWords.byteLength} bytes, over the binding limit of ${limit}`);
  if (meta.byteLength > limit) throw new InvalidInputError('LIMIT_EXCEEDED', `lane metadata needs ${meta.byteLength} bytes, over the binding limit of ${limit}`);
  const status = buffer(device, Uint32Array.of(0, 0xffffffff, 0, 0xffffffff), `${label} status`, COPY_SRC);
  const streamBytes = e.data.byteLength + e.laneStates.byteLength + e.laneLengths.byteLength + table.byteLength + exceptionWords.byteLength + listStarts.byteLength;
  const m: GpuMatrixInternals = {
    device, rows: p.rows, cols: p.cols, groupSize: p.groupSize, groupsPerRow: gpr, bf16Params: p.paramType === 'bf16',
    geometry: g, parts, rule,
    params: buffer(device, packedParams, `${label} params`),
    exceptions: rule === 'rows' ? buffer(device, exceptionWords, `${label} exceptions`) : null, exceptionGapBits: e.exceptions?.gapBits ?? 0,
    laneMeta: buffer(device, meta, `${label} lane metadata`), metaOffsets: offsets, hasTileChecks: e.tileChecks !== undefined,
    status,
    groupSums: device.createBuffer({ label: `${label} group sums`, size: 8 * gpr * 4, usage: STORAGE }),
    decodedReady: false, hostQ4: packed !== null,
    bytes: { streams: streamBytes, params: packedParams.byteLength, q4: p.rows * wordsPerRow * 4 },
    lost: false, destroyed: false,
    destroy() {
      for (const b of [m.params, m.laneMeta, m.status, m.groupSums, m.exceptions]) b?.destroy();
      for (const part of parts) { part.streams.destroy(); part.q4?.destroy(); part.decoded?.destroy(); }
      releaseOwned(m, ...parts); // uniforms and scratch made for it
      m.destroyed = true;
    },
  };
  void device.lost.then(() => { m.lost = true; });
  return m;
}
