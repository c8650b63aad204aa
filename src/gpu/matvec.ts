/**
 * Matrix-vector products on the GPU: `fusedMatVec` (fused rANS decode + GEMV, or the q4 paths),
 * GPU decoding to nibbles, and the dense f32 baseline.
 */
import { KERNEL } from '../constants.js';
import { DeviceError, InvalidInputError, StreamError } from '../errors.js';
import { chooseMode, getCalibration, type Calibration } from './auto.js';
import { toF16Array } from '../quantize/half.js';
import { bindGroup, getKernel, getKernelAsync, packUniform, reductionVariant, type ActivationType, type KernelName, type KernelVariant, type ReductionVariant } from './kernels.js';
import { alignedSize, internals, Q4_BUFFER_ALIGN, type GpuMatrix, type GpuMatrixInternals, type MatrixPart } from './upload.js';
import { ownedScratch, ownedUniform, releaseOwned } from './owned.js';
import { COPY_DST, COPY_SRC, MAP_READ, STORAGE } from './usage.js';

/** Most vectors one call multiplies (the kernels are specialized for 1..8). */
export const MAX_VECTORS = KERNEL.MAX_VECTORS;

/** How {@link fusedMatVec} computes the product (`auto`: chosen from a calibration, see ./auto.ts). */
export type MatVecMode = 'fused' | 'decode-then-q4' | 'q4' | 'auto';

/** Options of {@link fusedMatVec} and {@link denseMatVec}. */
export interface MatVecOptions {
  /**
   * `fused` (default): decode the streams in registers, multiplying on the fly.
   * `decode-then-q4`: decode once on the GPU into a cached q4 buffer, then plain q4 GEMV.
   * `q4`: plain q4 GEMV on nibbles uploaded from the host (`uploadMatrix(..., { q4: true })`).
   * `auto`: the fastest of these for the shape and M according to `calibration` (or the one
   * registered with `setCalibration`); `fused` when there is none.
   */
  mode?: MatVecMode;
  /** Measured rates `auto` decides with; overrides the device's registered calibration. */
  calibration?: Calibration;
  /** Vectors in x (M ≤ 8). Default: x's length / cols. */
  vectors?: number;
  /**
   * How x and y are stored. `'f16'`: x and y hold f16 values — a GPUBuffer packs two per u32 in
   * element order, a host array is a `Uint16Array` of f16 bit patterns (or a `Float16Array`);
   * the kernels still multiply and add in f32 and round y to f16 once. A `Float32Array` x with
   * `'f16'` is rounded to f16 first. Default: `'f16'` for a Uint16Array or Float16Array x, else `'f32'`.
   */
  activations?: ActivationType;
  /** Record into this encoder instead of submitting; then `output` is required. */
  encoder?: GPUCommandEncoder;
  /** Caller-owned output, [M, rows] f32 (f16 pairs per u32 with f16 activations), STORAGE usage. */
  output?: GPUBuffer;
  /**
   * Byte offset of x in its GPUBuffer (an arena runtime's one big buffer); a multiple of the
   * device's `minStorageBufferOffsetAlignment` (256 on most). Pass `vectors` with it: the buffer's
   * size says nothing about x's length then. Default 0.
   */
  xOffset?: number;
  /** Byte offset of y in `output`, with the same alignment rule. Default 0. */
  outputOffset?: number;
}

/** A GPU buffer, or a range of one, as the kernels bind it. */
type BufferRange = GPUBuffer | GPUBufferBinding;

/** x as the products accept it: f32 values, f16 bit patterns, or a GPU buffer. */
export type Activations = Float32Array | Uint16Array | GPUBuffer;

type Recorded = MatVecOptions & { encoder: GPUCommandEncoder; output: GPUBuffer };
type F16Options = MatVecOptions & { activations: 'f16' };

/** queue.writeBuffer for any typed array (TS types reject views of ArrayBufferLike). */
function write(device: GPUDevice, b: GPUBuffer, data: ArrayBufferView): void {
  device.queue.writeBuffer(b, 0, data as ArrayBufferView<ArrayBuffer>);
}

function dispatchSize(workgroups: number): [number, number] {
  return workgroups <= 65535 ? [workgroups, 1] : [65535, Math.ceil(workgroups / 65535)];
}

/**
 * Invocations per workgroup of the stream kernels: one per pair of blocks of each segment in the
 * widest tile (rans_lanes.wgsl), rounded up for the hardware.
 */
function workgroupSize(m: GpuMatrixInternals): number {
  const blocks = m.geometry.rowsPerTile / m.geometry.rowsPerLane;
  const invocations = Math.ceil(blocks / KERNEL.LANES_PER_INVOCATION) * m.geometry.segmentsPerRow;
  return invocations >= 32 ? Math.ceil(invocations / 32) * 32 : Math.ceil(invocations / 4) * 4;
}

function streamUniform(m: GpuMatrixInternals, kernel: ReturnType<typeof getKernel>, part: MatrixPart): Uint32Array {
  const g = m.geometry;
  return packUniform(kernel, 'shape', {
    rows: m.rows, cols: m.cols, segment_length: g.segmentLength, rows_per_lane: g.rowsPerLane,
    rows_per_tile: g.rowsPerTile, segments_per_row: g.segmentsPerRow, group_size: m.groupSize,
    groups_per_row: m.groupsPerRow, lanes_per_full_tile: g.rowsPerTile / g.rowsPerLane * g.segmentsPerRow,
    tile_offset: part.firstTile, bf16_params: m.bf16Params ? 1 : 0,
    states_offset: m.metaOffsets.states, lengths_offset: m.metaOffsets.lengths, tiles_offset: m.metaOffsets.tiles,
    checks_offset: m.metaOffsets.checks, has_checks: m.hasTileChecks ? 1 : 0, exceptions_offset: m.metaOffsets.exceptions, exception_gap_bits: m.exceptionGapBits,
  });
}

function streamBuffers(m: GpuMatrixInternals, part: MatrixPart) {
  return { streams: part.streams, lane_meta: m.laneMeta, status: m.status };
}

function streamConstants(m: GpuMatrixInternals) {
  return { PRECISION: m.geometry.precision, WG_SIZE: workgroupSize(m) };
}

/** A pipeline's name, WGSL override constants and variant: what getKernel / getKernelAsync take. */
type KernelSpec = [KernelName, Record<string, number>, KernelVariant];

const decodeSpec = (m: GpuMatrixInternals): KernelSpec => ['decode', streamConstants(m), {}];
const xsumSpec = (activations: ActivationType): KernelSpec => ['xsum', {}, { activations }];
const fusedSpec = (m: GpuMatrixInternals, vectors: number, activations: ActivationType): KernelSpec => ['fused', { ...streamConstants(m), VECTORS: vectors }, { activations, weights: m.rule }];
const packSpec: KernelSpec = ['pack_f16', {}, {}];

/** Records the GPU decode of every part into its `decoded` nibbles (allocated on first use). */
function recordDecode(device: GPUDevice, m: GpuMatrixInternals, pass: GPUComputePassEncoder): void {
  const kernel = getKernel(device, ...decodeSpec(m));
  pass.setPipeline(kernel.pipeline);
  for (const part of m.parts) {
    part.decoded ??= device.createBuffer({ label: 'rans-gemv decoded q4', size: alignedSize(part.rows * Math.ceil(m.cols / 8) * 4, Q4_BUFFER_ALIGN), usage: STORAGE | COPY_SRC });
    const shape = ownedUniform(device, part, 'decode shape', () => streamUniform(m, kernel, part));
    pass.setBindGroup(0, bindGroup(device, kernel, { shape, ...streamBuffers(m, part), nibbles: part.decoded }));
    pass.dispatchWorkgroups(part.tiles);
  }
}

function recordFused(device: GPUDevice, m: GpuMatrixInternals, x: BufferRange, vectors: number, y: BufferRange, pass: GPUComputePassEncoder, activations: ActivationType): void {
  // Group scales need the activations' group sums; ecsq's row steps need none, and reads its exception lists instead.
  const ruleBuffers: Record<string, GPUBuffer> = m.rule === 'rows' ? { exceptions: m.exceptions! } : { x_group_sums: m.groupSums };
  if (m.rule === 'groups') {
    const xsum = getKernel(device, ...xsumSpec(activations));
    const sumShape = ownedUniform(device, m, `xsum shape ${vectors}`, () => packUniform(xsum, 'shape', { cols: m.cols, group_size: m.groupSize, groups_per_row: m.groupsPerRow, vectors }));
    pass.setPipeline(xsum.pipeline);
    pass.setBindGroup(0, bindGroup(device, xsum, { shape: sumShape, x, sums: m.groupSums }));
    pass.dispatchWorkgroups(Math.ceil((m.groupsPerRow * vectors) / 64));
  }
  const kernel = getKernel(device, ...fusedSpec(m, vectors, activations));
  pass.setPipeline(kernel.pipeline);
  for (const part of m.parts) {
    const shape = ownedUniform(device, part, 'fused shape', () => streamUniform(m, kernel, part));
    pass.setBindGroup(0, bindGroup(device, kernel, { shape, ...streamBuffers(m, part), params: m.params, x, ...ruleBuffers, y }));
    pass.dispatchWorkgroups(part.tiles);
  }
}

/**
 * Invocations per row for the q4 and dense kernels: enough chunks of `chunkCols` columns for each
 * (8..ROW_THREADS), so that short rows do not leave most of the workgroup idle. Subgroup
 * reductions assume one group spans the workgroup, so narrower groups reduce through workgroup
 * memory.
 */
function rowSplit(device: GPUDevice, cols: number, chunkCols: number): { constants: { THREADS_PER_ROW: number }; reduction: ReductionVariant; rowsPerWorkgroup: number } {
  const chunks = Math.ceil(cols / chunkCols);
  const threads = KERNEL.ROW_THREADS;
  const tpr = Math.min(threads, Math.max(8, 2 ** Math.ceil(Math.log2(chunks))));
  return { constants: { THREADS_PER_ROW: tpr }, reduction: tpr === threads ? reductionVariant(device) : 'workgroup', rowsPerWorkgroup: KERNEL.ROWS_PER_GROUP * (threads / tpr) };
}

/**
 * u32 nibble words a q4 invocation reads per row and step: the most (≤ MAX_Q4_WORDS) whose 8·W
 * columns divide the group size, so that a step stays in one group, with W·M ≤ 8 so that the
 * pre-scaled activations stay in registers.
 */
export function q4Words(groupSize: number, vectors: number): number {
  for (let w = KERNEL.MAX_Q4_WORDS; w > 1; w /= 2) if (groupSize % (8 * w) === 0 && w * vectors <= 8) return w;
  return 1;
}

/** The q4 pipeline for M vectors, and how rows split over its workgroups. */
function q4Spec(device: GPUDevice, m: GpuMatrixInternals, vectors: number, activations: ActivationType) {
  const words = q4Words(m.groupSize, vectors);
  const split = rowSplit(device, m.cols, 8 * words);
  const spec: KernelSpec = ['q4', { VECTORS: vectors, WORDS: words, ...split.constants }, { reduction: split.reduction, activations }];
  return { spec, split };
}

function recordQ4(device: GPUDevice, m: GpuMatrixInternals, source: 'q4' | 'decoded', x: BufferRange, vectors: number, y: BufferRange, pass: GPUComputePassEncoder, activations: ActivationType): void {
  const { spec, split } = q4Spec(device, m, vectors, activations);
  const kernel = getKernel(device, ...spec);
  pass.setPipeline(kernel.pipeline);
  for (const part of m.parts) {
    const shape = ownedUniform(device, part, 'q4 shape', () => packUniform(kernel, 'shape', {
      rows: part.rows, first_row: part.firstRow, total_rows: m.rows, cols: m.cols,
      group_size: m.groupSize, groups_per_row: m.groupsPerRow, bf16_params: m.bf16Params ? 1 : 0,
    }));
    pass.setBindGroup(0, bindGroup(device, kernel, { shape, nibbles: part[source]!, params: m.params, x, y }));
    pass.dispatchWorkgroups(...dispatchSize(Math.ceil(part.rows / split.rowsPerWorkgroup)));
  }
}

function checkBuffer(b: GPUBuffer, what: string, bytes: number, usage: number): void {
  if ((b.usage & usage) !== usage) throw new InvalidInputError('BAD_USAGE', `${what} buffer needs usage STORAGE${usage & COPY_SRC ? ' | COPY_SRC' : ''}`);
  if (b.size < bytes) throw new InvalidInputError('SHAPE_MISMATCH', `${what} buffer has ${b.size} bytes, needs ${bytes}`);
}

/** A host x as f16 bits: a Uint16Array as it is, a Float16Array's bits, else null. */
function f16Bits(x: Activations): Uint16Array | null {
  if (x instanceof Uint16Array) return x;
  const ctor = (x as { constructor?: { name?: string } }).constructor?.name;
  if (ctor === 'Float16Array') {
    const v = x as unknown as ArrayBufferView & { length: number };
    return new Uint16Array(v.buffer, v.byteOffset, v.length);
  }
  return null;
}

/** A host x as a typed array (f32 values, or f16 bits), or null for a GPU buffer. */
function hostValues(x: Activations): Float32Array | Uint16Array | null {
  return x instanceof Float32Array ? x : f16Bits(x);
}

/** Throws unless `act` is an activation type. */
function checkActivationType(act: unknown): asserts act is ActivationType {
  if (act !== 'f32' && act !== 'f16') throw new InvalidInputError('BAD_ACTIVATIONS', `activations must be 'f32' or 'f16', got '${String(act)}'`);
}

/** How a call stores x and y: `options.activations`, else what a host x's type says. */
function activationsOf(x: Activations, options: MatVecOptions): ActivationType {
  const isBuffer = typeof x === 'object' && x !== null && typeof (x as GPUBuffer).size === 'number' && typeof (x as GPUBuffer).usage === 'number';
  if (!(x instanceof Float32Array || isBuffer || (x !== null && typeof x === 'object' && f16Bits(x)))) {
    throw new InvalidInputError('BAD_X', `x must be a Float32Array, a Uint16Array or Float16Array of f16 values, or a GPUBuffer; got ${x === null ? 'null' : typeof x}`);
  }
  const fromType = f16Bits(x) ? 'f16' : 'f32';
  const act = options.activations ?? fromType;
  checkActivationType(act);
  if (act === 'f32' && fromType === 'f16') throw new InvalidInputError('BAD_ACTIVATIONS', "a Uint16Array or Float16Array x holds f16 values: activations must be 'f16'");
  return act;
}

/** Values x holds: a host array's length, a buffer's bytes / element size. */
function valuesIn(x: Activations, act: ActivationType, xOffset = 0): number {
  return hostValues(x)?.length ?? Math.floor(Math.max(0, (x as GPUBuffer).size - xOffset) / (act === 'f16' ? 2 : 4));
}

/**
 * The vector count M a call asks for: `options.vectors`, else x's values / cols (validated by
 * runProduct). An f16 buffer of an odd value count ends in a padding half, which is not a value.
 */
function vectorsIn(x: Activations, cols: number, options: MatVecOptions): number {
  if (options.vectors !== undefined) return options.vectors;
  const act = activationsOf(x, options);
  const n = valuesIn(x, act, options.xOffset);
  const padded = act === 'f16' && hostValues(x) === null && n % cols !== 0 && (n - 1) % cols === 0;
  return (padded ? n - 1 : n) / cols;
}

/** Bytes of n values stored as `act` in a GPU buffer (f16: two per u32). */
const storedBytes = (n: number, act: ActivationType) => (act === 'f16' ? 4 * Math.ceil(n / 2) : 4 * n);

/** An f16 product's f32 result before packing: one per owner, big enough for MAX_VECTORS. */
function scratchFor(device: GPUDevice, owner: object, rows: number): GPUBuffer {
  return ownedScratch(device, owner, 'f32 products', 4 * MAX_VECTORS * rows);
}

/** Records the packing of `count` f32 values of `values` into f16 pairs in `packed`. */
function recordPackF16(device: GPUDevice, owner: object, values: GPUBuffer, count: number, packed: BufferRange, pass: GPUComputePassEncoder): void {
  const kernel = getKernel(device, ...packSpec);
  const shape = ownedUniform(device, owner, `pack shape ${count}`, () => packUniform(kernel, 'shape', { count }));
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, bindGroup(device, kernel, { shape, values, packed }));
  pass.dispatchWorkgroups(...dispatchSize(Math.ceil(count / 2 / 64)));
}

/**
 * Shared driver: validates x and the output, uploads a host x, records the product (f16 products
 * through an f32 scratch and a packing pass), and either leaves it in the caller's encoder or
 * submits and reads y back.
 */
function runProduct(
  device: GPUDevice, owner: object, rows: number, cols: number, x: Activations, options: MatVecOptions,
  record: (x: BufferRange, vectors: number, y: BufferRange, pass: GPUComputePassEncoder, act: ActivationType) => void,
): Promise<Float32Array | Uint16Array> | undefined {
  const act = activationsOf(x, options);
  const host = hostValues(x);
  const isArray = host !== null;
  const xOffset = options.xOffset ?? 0, outputOffset = options.outputOffset ?? 0;
  const alignment = device.limits.minStorageBufferOffsetAlignment;
  for (const [what, offset] of [['xOffset', xOffset], ['outputOffset', outputOffset]] as const) {
    if (!Number.isInteger(offset) || offset < 0 || offset % alignment !== 0) throw new InvalidInputError('BAD_OFFSET', `${what} ${offset} must be a non-negative multiple of the device's minStorageBufferOffsetAlignment (${alignment})`);
  }
  if (xOffset && hostValues(x) !== null) throw new InvalidInputError('BAD_OFFSET', 'xOffset applies to a GPUBuffer x');
  if (outputOffset && !options.output) throw new InvalidInputError('BAD_OFFSET', 'outputOffset applies to options.output');
  const available = valuesIn(x, act, xOffset);
  const vectors = vectorsIn(x, cols, options);
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > MAX_VECTORS || vectors * cols > available) {
    throw new InvalidInputError('SHAPE_MISMATCH', `x holds ${available} values: not 1..${MAX_VECTORS} vectors of ${cols}`);
  }
  if (isArray && available !== vectors * cols) throw new InvalidInputError('SHAPE_MISMATCH', `x has ${available} values, ${vectors} vectors of ${cols} need ${vectors * cols}`);
  const xBytes = storedBytes(vectors * cols, act);
  if (!isArray) checkBuffer(x as GPUBuffer, 'x', xOffset + xBytes, STORAGE);
  if (options.encoder && !options.output) throw new InvalidInputError('MISSING_OUTPUT', 'recording into an encoder needs options.output');
  // A host x would need a staging buffer that lives until the caller submits, which this call
  // cannot know: on the encoder path x is the caller's GPUBuffer.
  if (options.encoder && isArray) throw new InvalidInputError('HOST_X_WITH_ENCODER', 'recording into an encoder needs x in a GPUBuffer (write it with device.queue.writeBuffer)');
  const yBytes = storedBytes(vectors * rows, act);
  // Submit-and-read copies y out of the output, so it needs COPY_SRC there too.
  if (options.output) checkBuffer(options.output, 'output', outputOffset + yBytes, options.encoder ? STORAGE : STORAGE | COPY_SRC);
  // WebGPU forbids one buffer as read-only and writable storage in the same dispatch, even for
  // disjoint ranges: x and the output must be different buffers.
  if (options.output && options.output === x) {
    throw new InvalidInputError('ALIASED_BUFFERS', 'x and the output are the same buffer: WebGPU cannot bind one buffer for reading and writing in one dispatch (use two buffers)');
  }

  // On the submit path, WebGPU's validation errors for this call's own work (a destroyed matrix,
  // x or output buffer) are caught in an error scope and thrown as DeviceError instead of leaving
  // an all-zero y and a warning on stderr. The encoder path cannot know: the caller submits.
  if (!options.encoder) device.pushErrorScope('validation');
  try {
    return recordAndRun();
  } catch (e) {
    if (!options.encoder) void device.popErrorScope();
    throw e;
  }

  function recordAndRun(): Promise<Float32Array | Uint16Array> | undefined {
    const temps: GPUBuffer[] = [];
    let xBuf: GPUBuffer;
    if (isArray) {
      let data: ArrayBufferView = host;
      if (act === 'f16') {
        // f16 pairs per u32: an odd count is padded with a zero half.
        const padded = new Uint16Array(2 * Math.ceil(available / 2));
        padded.set(host instanceof Float32Array ? toF16Array(host) : host);
        data = padded;
      }
      xBuf = device.createBuffer({ label: 'rans-gemv x', size: Math.max(4, data.byteLength), usage: STORAGE | COPY_DST });
      write(device, xBuf, data);
      temps.push(xBuf);
    } else xBuf = x as GPUBuffer;
    const y = options.output ?? device.createBuffer({ label: 'rans-gemv y', size: yBytes, usage: STORAGE | COPY_SRC });
    // Ranges only when offsets are used: whole buffers keep their bind groups' cache keys simple.
    const xBind: BufferRange = xOffset ? { buffer: xBuf, offset: xOffset, size: xBytes } : xBuf;
    const yBind: BufferRange = outputOffset ? { buffer: y, offset: outputOffset, size: yBytes } : y;
    const encoder = options.encoder ?? device.createCommandEncoder({ label: 'rans-gemv matvec' });
    const pass = encoder.beginComputePass({ label: 'rans-gemv matvec' });
    if (act === 'f32') record(xBind, vectors, yBind, pass, act);
    else {
      const products = scratchFor(device, owner, rows);
      record(xBind, vectors, products, pass, act);
      recordPackF16(device, owner, products, vectors * rows, yBind, pass);
    }
    pass.end();
    if (options.encoder) return undefined; // the caller submits whenever it likes
    const read = device.createBuffer({ label: 'rans-gemv readback', size: yBytes, usage: MAP_READ | COPY_DST });
    if (!options.output) temps.push(y); // a caller-owned output stays
    encoder.copyBufferToBuffer(y, outputOffset, read, 0, yBytes);
    device.queue.submit([encoder.finish()]);
    const validation = device.popErrorScope();
    return (async () => {
      const error = await validation;
      try {
        if (error) throw new DeviceError('GPU_VALIDATION', `WebGPU rejected the product (was the matrix, x or the output destroyed?): ${error.message}`);
        await mapForReading(read);
        const bytes = read.getMappedRange().slice(0);
        return act === 'f16' ? new Uint16Array(bytes, 0, vectors * rows) : new Float32Array(bytes);
      } finally {
        read.destroy();
        temps.forEach((b) => b.destroy());
      }
    })();
  }
}

/** mapAsync for reading; a lost or destroyed device's AbortError becomes a DeviceError. */
async function mapForReading(read: GPUBuffer): Promise<void> {
  try {
    await read.mapAsync(MAP_READ);
  } catch (e) {
    throw new DeviceError('DEVICE_LOST', `reading the result back failed (device lost or destroyed?): ${(e as Error).message}`);
  }
}

function checkMatrix(device: GPUDevice, m: GpuMatrixInternals): void {
  if (m.destroyed) throw new InvalidInputError('MATRIX_DESTROYED', 'the matrix was destroyed');
  if (m.device !== device) throw new DeviceError('WRONG_DEVICE', 'the matrix was uploaded to another device');
  if (m.lost) throw new DeviceError('DEVICE_LOST', 'the device holding the matrix was lost or destroyed');
}

/**
 * Throws unless `mode` is a mode this matrix can run: `q4` needs the plain nibbles uploaded, and
 * ecsq matrices (a step per row, exceptions beyond [−8, 7]) have no q4 form, so only `fused` (and
 * `auto`, which then is `fused`).
 */
function checkMode(m: GpuMatrixInternals, mode: string): void {
  if (!['fused', 'decode-then-q4', 'q4', 'auto'].includes(mode)) throw new InvalidInputError('BAD_MODE', `unknown mode '${mode}'`);
  if (m.rule === 'rows' && (mode === 'q4' || mode === 'decode-then-q4')) throw new InvalidInputError('MODE_UNAVAILABLE', `mode '${mode}' needs plain q4 weights; an ecsq matrix (a step per row, exceptions beyond [−8, 7]) runs fused only`);
  if (mode === 'q4' && !m.hostQ4) throw new InvalidInputError('MODE_UNAVAILABLE', "mode 'q4' needs a matrix uploaded with { q4: true }");
}

/**
 * decode-then-q4's one-time decode in a submission of its own: the queue runs it before anything
 * submitted later, so the matrix is ready for good.
 */
function submitDecode(device: GPUDevice, m: GpuMatrixInternals): void {
  const encoder = device.createCommandEncoder({ label: 'rans-gemv decode for q4' });
  recordDecodeOnly(device, m, encoder);
  device.queue.submit([encoder.finish()]);
  m.decodedReady = true;
}

/**
 * y = W·x for M ≤ 8 vectors ([M, cols] → [M, rows]), W compressed on the GPU.
 *
 * Without `options.encoder` it submits and resolves to y. With it, it records into the caller's
 * encoder (how a runtime composes its passes) and writes `options.output`.
 *
 * @example
 * ```ts
 * const m = uploadMatrix(device, { params: q, encoded });
 * const y = await fusedMatVec(device, m, x);                          // fused, M = 1
 * fusedMatVec(device, m, xBuf, { encoder, output: yBuf, vectors: 4 }); // inside a runtime
 * ```
 */
export function fusedMatVec(device: GPUDevice, m: GpuMatrix, x: Activations, options: Recorded): void;
export function fusedMatVec(device: GPUDevice, m: GpuMatrix, x: Uint16Array, options?: MatVecOptions): Promise<Uint16Array>;
export function fusedMatVec(device: GPUDevice, m: GpuMatrix, x: Activations, options: F16Options): Promise<Uint16Array>;
export function fusedMatVec(device: GPUDevice, m: GpuMatrix, x: Float32Array | GPUBuffer, options?: MatVecOptions): Promise<Float32Array>;
export function fusedMatVec(device: GPUDevice, matrix: GpuMatrix, x: Activations, options: MatVecOptions = {}): Promise<Float32Array | Uint16Array> | void {
  const m = internals(matrix);
  checkMatrix(device, m);
  const requested = options.mode ?? 'fused';
  checkMode(m, requested);
  const mode = requested !== 'auto' ? requested
    : m.rule === 'rows' ? 'fused' // the only mode an ecsq matrix has
      : chooseMode(options.calibration ?? getCalibration(device), m.rows, m.cols, vectorsIn(x, m.cols, options), m.hostQ4);
  checkMode(m, mode);
  return runProduct(device, m, m.rows, m.cols, x, options, (xBuf, vectors, y, pass, act) => {
    if (mode === 'fused') return recordFused(device, m, xBuf, vectors, y, pass, act);
    if (mode === 'q4') return recordQ4(device, m, 'q4', xBuf, vectors, y, pass, act);
    if (!m.decodedReady) {
      // The caller submits its encoder late, or never: decode now in a submission of our own.
      if (options.encoder) submitDecode(device, m);
      else {
        recordDecode(device, m, pass); // submitted by runProduct before it returns
        m.decodedReady = true;
      }
    }
    recordQ4(device, m, 'decoded', xBuf, vectors, y, pass, act);
  });
}

/** What {@link prepareMatVec} gets ready: the calls a runtime will make. */
export interface PrepareOptions {
  /** Modes the calls will use (default `['fused']`; `'auto'` prepares fused and decode-then-q4, and q4 when uploaded). */
  modes?: MatVecMode[];
  /** Vector counts M the calls will use (default `[1]`). */
  vectors?: number[];
  /** Activation types the calls will use (default `['f32']`). */
  activations?: ActivationType[];
}

/**
 * Gets a matrix ready for its first product: compiles every pipeline the given modes, vector
 * counts and activation types will use with `createComputePipelineAsync` (off the critical path;
 * pipelines are shared by every matrix of the same geometry), and for `decode-then-q4` runs the
 * one-time decode now. Without it the first product compiles its shaders synchronously (on
 * SwiftShader 1.7–2.6 s against ≈ 0.14 s for a warm call at 4096²).
 *
 * @example
 * ```ts
 * const m = uploadMatrix(device, { params: q, encoded });
 * await prepareMatVec(device, m, { modes: ['fused'], vectors: [1, 4] });
 * fusedMatVec(device, m, xBuf, { encoder, output: yBuf }); // compiles nothing
 * ```
 */
export async function prepareMatVec(device: GPUDevice, matrix: GpuMatrix, options: PrepareOptions = {}): Promise<void> {
  const m = internals(matrix);
  checkMatrix(device, m);
  const requested = options.modes ?? ['fused'];
  for (const mode of requested) checkMode(m, mode);
  const autoModes: MatVecMode[] = m.rule === 'rows' ? ['fused'] : ['fused', 'decode-then-q4', ...(m.hostQ4 ? ['q4' as const] : [])];
  const modes = new Set(requested.flatMap((mode): MatVecMode[] => (mode === 'auto' ? autoModes : [mode])));
  const vectors = options.vectors ?? [1];
  for (const v of vectors) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_VECTORS) throw new InvalidInputError('SHAPE_MISMATCH', `vectors must be integers in 1..${MAX_VECTORS}, got ${v}`);
  }
  const activations = options.activations ?? ['f32'];
  activations.forEach(checkActivationType);
  const specs: KernelSpec[] = [];
  for (const act of activations) {
    if (act === 'f16') specs.push(packSpec);
    for (const v of vectors) {
      if (modes.has('fused')) specs.push(...(m.rule === 'groups' ? [xsumSpec(act)] : []), fusedSpec(m, v, act));
      if (modes.has('q4') || modes.has('decode-then-q4')) specs.push(q4Spec(device, m, v, act).spec);
    }
  }
  if (modes.has('decode-then-q4')) specs.push(decodeSpec(m));
  await Promise.all(specs.map((spec) => getKernelAsync(device, ...spec)));
  if (modes.has('decode-then-q4') && !m.decodedReady) {
    submitDecode(device, m);
    await device.queue.onSubmittedWorkDone();
  }
}

/**
 * Records a GPU decode of the whole matrix into its `decoded` nibbles (e.g. to time the decoder alone).
 *
 * @example
 * ```ts
 * const encoder = device.createCommandEncoder();
 * recordDecodeOnly(device, m, encoder);
 * device.queue.submit([encoder.finish()]);
 * ```
 */
export function recordDecodeOnly(device: GPUDevice, matrix: GpuMatrix, encoder: GPUCommandEncoder): void {
  const m = internals(matrix);
  checkMatrix(device, m);
  const pass = encoder.beginComputePass({ label: 'rans-gemv decode' });
  recordDecode(device, m, pass);
  pass.end();
}

/** The status words the decoding kernels leave (reset before a checked decode). */
const STATUS_RESET = Uint32Array.of(0, 0xffffffff, 0, 0xffffffff);

/**
 * The status the decoding kernels left: lanes that failed their end-of-stream check, and tiles
 * whose decoded indices failed their integrity check (decode kernel, streams with tile checks).
 *
 * @example
 * ```ts
 * const { failedLanes, failedTiles } = await readStreamStatus(device, m); // 0 and 0 for intact streams
 * ```
 */
export async function readStreamStatus(device: GPUDevice, matrix: GpuMatrix): Promise<{ failedLanes: number; firstFailedLane: number | null; failedTiles: number; firstFailedTile: number | null }> {
  const m = internals(matrix);
  const read = device.createBuffer({ size: STATUS_RESET.byteLength, usage: MAP_READ | COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(m.status, 0, read, 0, STATUS_RESET.byteLength);
  device.queue.submit([enc.finish()]);
  await mapForReading(read);
  const [failed, first, failedTiles, firstTile] = new Uint32Array(read.getMappedRange().slice(0));
  read.destroy();
  return { failedLanes: failed, firstFailedLane: failed ? first : null, failedTiles, firstFailedTile: failedTiles ? firstTile : null };
}

/**
 * Decodes the whole matrix on the GPU and returns the indices as plain q4 nibbles
 * (u32 [rows, ceil(cols/8)]). Throws {@link StreamError} when any lane fails its
 * end-of-stream check (a corrupt stream still terminates: every loop is bounded by the shape).
 *
 * @example
 * ```ts
 * const nibbles = await decodeOnGpu(device, m); // equals packNibbles(q.indices, rows, cols)
 * ```
 */
export async function decodeOnGpu(device: GPUDevice, matrix: GpuMatrix): Promise<Uint32Array> {
  const m = internals(matrix);
  checkMatrix(device, m);
  device.queue.writeBuffer(m.status, 0, STATUS_RESET);
  const enc = device.createCommandEncoder({ label: 'rans-gemv decode' });
  recordDecodeOnly(device, m, enc);
  const wordsPerRow = Math.ceil(m.cols / 8);
  const total = m.rows * wordsPerRow * 4;
  const read = device.createBuffer({ size: Math.max(4, total), usage: MAP_READ | COPY_DST });
  for (const part of m.parts) enc.copyBufferToBuffer(part.decoded!, 0, read, part.firstRow * wordsPerRow * 4, part.rows * wordsPerRow * 4);
  device.queue.submit([enc.finish()]);
  m.decodedReady = true;
  await mapForReading(read);
  const out = new Uint32Array(read.getMappedRange().slice(0, total));
  read.destroy();
  const status = await readStreamStatus(device, m);
  if (status.failedLanes) throw new StreamError('GPU_STREAM_CORRUPT', `${status.failedLanes} lanes failed the end-of-stream check on the GPU (first: lane ${status.firstFailedLane})`, status.firstFailedLane ?? undefined);
  if (status.failedTiles) throw new StreamError('GPU_INDEX_CHECK_FAILED', `${status.failedTiles} tiles decoded indices that fail their integrity check on the GPU (first: tile ${status.firstFailedTile})`);
  return out;
}

/** A dense f32 matrix on the GPU, the uncompressed baseline. */
export interface GpuDenseMatrix {
  readonly device: GPUDevice;
  readonly rows: number;
  readonly cols: number;
  readonly weights: GPUBuffer;
  lost: boolean;
  /** Set by `destroy()`. */
  destroyed: boolean;
  destroy(): void;
}

/**
 * Uploads a row-major f32 matrix for {@link denseMatVec}.
 *
 * @example
 * ```ts
 * const d = uploadDense(device, weights, rows, cols);
 * const y = await denseMatVec(device, d, x);
 * ```
 */
export function uploadDense(device: GPUDevice, weights: Float32Array, rows: number, cols: number): GpuDenseMatrix {
  if (weights.length !== rows * cols) throw new InvalidInputError('SHAPE_MISMATCH', `${rows}×${cols} needs ${rows * cols} weights, got ${weights.length}`);
  if (weights.byteLength > Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)) {
    throw new InvalidInputError('LIMIT_EXCEEDED', `a dense ${rows}×${cols} matrix needs ${weights.byteLength} bytes, over the device's binding limit`);
  }
  const b = device.createBuffer({ label: 'rans-gemv dense', size: weights.byteLength, usage: STORAGE | COPY_DST });
  write(device, b, weights);
  const d: GpuDenseMatrix = {
    device, rows, cols, weights: b, lost: false, destroyed: false,
    destroy() { b.destroy(); releaseOwned(d); d.destroyed = true; },
  };
  void device.lost.then(() => { d.lost = true; });
  return d;
}

/**
 * y = W·x with a dense f32 matrix (same options as {@link fusedMatVec}, `mode` ignored).
 *
 * @example
 * ```ts
 * const y = await denseMatVec(device, uploadDense(device, weights, rows, cols), x);
 * ```
 */
export function denseMatVec(device: GPUDevice, d: GpuDenseMatrix, x: Float32Array | GPUBuffer, options: Recorded): void;
export function denseMatVec(device: GPUDevice, d: GpuDenseMatrix, x: Float32Array | GPUBuffer, options?: MatVecOptions): Promise<Float32Array>;
export function denseMatVec(device: GPUDevice, d: GpuDenseMatrix, x: Float32Array | GPUBuffer, options: MatVecOptions = {}): Promise<Float32Array> | void {
  // The f32 yardstick: its kernel exists in one variant only.
  if (options.activations === 'f16' || f16Bits(x)) throw new InvalidInputError('MODE_UNAVAILABLE', 'the dense f32 baseline takes f32 activations only');
  if (d.destroyed) throw new InvalidInputError('MATRIX_DESTROYED', 'the matrix was destroyed');
  if (d.device !== device) throw new DeviceError('WRONG_DEVICE', 'the matrix was uploaded to another device');
  if (d.lost) throw new DeviceError('DEVICE_LOST', 'the device holding the matrix was lost or destroyed');
  return runProduct(device, d, d.rows, d.cols, x, options, (xBuf, vectors, y, pass) => {
    const split = rowSplit(device, d.cols, 8);
    const kernel = getKernel(device, 'dense', { VECTORS: vectors, ...split.constants }, { reduction: split.reduction });
    const shape = ownedUniform(device, d, 'dense shape', () => packUniform(kernel, 'shape', { rows: d.rows, cols: d.cols }));
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup(device, kernel, { shape, weights: d.weights, x: xBuf, y }));
    pass.dispatchWorkgroups(...dispatchSize(Math.ceil(d.rows / split.rowsPerWorkgroup)));
  }) as Promise<Float32Array> | undefined;
}
