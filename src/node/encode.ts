/**
 * Encodes a model file of any size into a container, streaming: matrices are read a block of rows
 * at a time, compressed on `jobs` worker threads, and written to the container in file order as
 * they finish. Memory is bounded by the matrices in flight (≈ 1.5 bytes/weight each), not the file.
 */
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ContainerWriter } from '../container/container.js';
import { ContainerError, InvalidInputError, StreamError } from '../errors.js';
import { openModel, type ModelReader } from '../io/formats.js';
import { entryWeights, readExtras, type MatrixEntry, type SkippedTensor } from '../io/model.js';
import { compressEntries, DEFAULT_CHUNK_BYTES, dropIndices, type CompressedMatrix, type CompressOptions, type EncodedResult } from '../pipeline.js';
import type { EncodeJob } from './encode-worker.js';
import { fileSink, modelSource } from './file.js';

/** Progress of {@link encodeModelFile}. */
export interface EncodeProgress {
  weightsDone: number;
  weightsTotal: number;
  /** The matrix most recently started. */
  tensor: string;
}

/** Options of {@link encodeModelFile}. */
export interface EncodeFileOptions extends CompressOptions {
  /** Worker threads; default one per core. 1 runs on the calling thread. Output is identical for any value. */
  jobs?: number;
  /** File bytes read at a time per matrix (whole rows). Default {@link DEFAULT_CHUNK_BYTES}. */
  chunkBytes?: number;
  onProgress?: (p: EncodeProgress) => void;
  /** Called once the header is parsed, before any tensor data is read. */
  onOpen?: (reader: ModelReader) => void;
}


/** The figures of one encoded matrix (its streams are in the container). */
export type EncodedFigures = Pick<CompressedMatrix, 'stats' | 'energy' | 'warnings'>;

/** What {@link encodeModelFile} did. */
export interface EncodeFileResult {
  format: string;
  results: EncodedFigures[];
  skipped: SkippedTensor[];
  /** Container bytes written (0 without an output). */
  bytes: number;
}

/** Matrices are sent to workers in batches of about this many weights (or one big matrix)… */
const BATCH_WEIGHTS = 1 << 20;
/** … and at most this many matrices, so a batch's results stay a small message. */
const BATCH_ENTRIES = 2048;

/**
 * Weights of the batches started but not yet written: running (≈ 1.5 B/weight: indices and
 * streams) or finished and waiting for an earlier one (≈ 0.55 B/weight). Bounds peak memory.
 */
const MAX_HELD_WEIGHTS = 1 << 30;

/** Rebuilds a typed error posted by a worker. */
function reviveError(e: { name: string; code: string; message: string }): Error {
  switch (e.name) {
    case 'ContainerError': return new ContainerError(e.code, e.message);
    case 'StreamError': return new StreamError(e.code, e.message);
    case 'InvalidInputError': return new InvalidInputError(e.code, e.message);
    default: return new Error(e.message);
  }
}

/**
 * Starts a worker on the compiled encode-worker.js beside this file or, when this module runs
 * from source under tsx (tests, benchmarks), on the .ts source through tsx's loader.
 */
function startWorker(): Worker {
  const js = new URL('./encode-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL('./encode-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); });`, { eval: true });
}

/** A pool of worker threads that each compress one matrix at a time. */
class CompressPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: EncodedResult[]) => void; reject: (e: Error) => void; progress: (weightsDone: number) => void }>();
  private nextId = 0;
  private waiting: (() => void)[] = [];

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = startWorker();
      w.on('message', (m: { id: number; progress?: number; results?: EncodedResult[]; error?: { name: string; code: string; message: string } }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        if (m.progress !== undefined) { p.progress(m.progress); return; }
        this.pending.delete(m.id);
        this.release(w);
        if (m.error) p.reject(reviveError(m.error)); else p.resolve(m.results!);
      });
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  private release(w: Worker): void {
    this.idle.push(w);
    this.waiting.shift()?.();
  }

  async run(job: Omit<EncodeJob, 'id'>, progress: (weightsDone: number) => void): Promise<EncodedResult[]> {
    while (this.idle.length === 0) await new Promise<void>((r) => this.waiting.push(r));
    const w = this.idle.pop()!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, progress });
      w.postMessage({ ...job, id });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Encodes every matrix of a model file (safetensors, llama2.c — see MODEL_FORMATS) into a
 * container at `output` (or only measures, with `output` null), streaming. Matrices are written
 * in file order, so the container is byte-identical for any `jobs`.
 *
 * @example
 * ```ts
 * const r = await encodeModelFile('model.safetensors', 'model.rgmv', { groupSize: 64, onProgress: (p) => console.log(p.weightsDone) });
 * ```
 */
export async function encodeModelFile(input: string, output: string | null, options: EncodeFileOptions = {}): Promise<EncodeFileResult> {
  const { jobs = availableParallelism(), chunkBytes = DEFAULT_CHUNK_BYTES, onProgress, onOpen, ...compress } = options;
  if (!Number.isInteger(jobs) || jobs < 1) throw new InvalidInputError('BAD_JOBS', `jobs must be a positive integer, got ${jobs}`);
  const source = modelSource(input);
  const pool = jobs > 1 ? new CompressPool(jobs) : null;
  let sink: ReturnType<typeof fileSink> | null = null;
  try {
    const reader = await openModel(source);
    onOpen?.(reader);
    sink = output ? fileSink(output) : null;
    const writer = sink ? new ContainerWriter(sink.write) : null;
    const total = reader.weights;
    // Consecutive matrices are batched up to BATCH_WEIGHTS, so tiny tensors cost one message per
    // batch, not one each; big ones go alone.
    const batches: MatrixEntry[][] = [], weightsOf: number[] = [];
    let batch: MatrixEntry[] = [], batchWeights = 0;
    for (const e of reader.matrices) {
      batch.push(e);
      batchWeights += entryWeights(e);
      if (batchWeights >= BATCH_WEIGHTS || batch.length >= BATCH_ENTRIES) { batches.push(batch); weightsOf.push(batchWeights); batch = []; batchWeights = 0; }
    }
    if (batch.length) { batches.push(batch); weightsOf.push(batchWeights); }
    const inProgress = new Map<number, number>();
    let finished = 0, tensor = '';
    const report = () => {
      let done = finished;
      for (const w of inProgress.values()) done += w;
      onProgress?.({ weightsDone: done, weightsTotal: total, tensor });
    };
    const compressBatch = async (i: number): Promise<EncodedResult[]> => {
      const entries = batches[i];
      tensor = entries[0].name;
      inProgress.set(i, 0);
      const progress = (w: number) => { inProgress.set(i, w); report(); };
      const r = pool
        ? await pool.run({ path: input, entries, options: compress, chunkBytes }, progress)
        : (await compressEntries(source, entries, compress, progress, chunkBytes)).map(dropIndices);
      inProgress.delete(i);
      finished += weightsOf[i];
      report();
      return r;
    };
    // `jobs` batches run at once, largest first (so one big matrix does not finish alone at the
    // end), and results are written strictly in file order. Batches started ahead of the write
    // position are capped at MAX_HELD_WEIGHTS (their coded results wait in memory, ≈ 0.55 B/weight);
    // the batch at the write position may always start, so the loop always progresses.
    const results: EncodedFigures[] = [];
    const order = batches.map((_, i) => i).sort((a, b) => weightsOf[b] - weightsOf[a] || a - b);
    const started = new Uint8Array(batches.length);
    const running = new Map<number, Promise<void>>();
    const finishedBatches = new Map<number, EncodedResult[]>();
    let written = 0, held = 0, cursor = 0;
    const pick = (): number | undefined => {
      while (cursor < order.length && started[order[cursor]]) cursor++;
      const i = order[cursor];
      if (i !== undefined && (held + weightsOf[i] <= MAX_HELD_WEIGHTS || i === written)) return i;
      return started[written] ? undefined : written;
    };
    report();
    while (written < batches.length) {
      for (let i = pick(); i !== undefined && running.size < jobs; i = pick()) {
        const batch = i;
        started[batch] = 1;
        held += weightsOf[batch];
        const batchDone = compressBatch(batch).then((r) => { finishedBatches.set(batch, r); running.delete(batch); });
        batchDone.catch(() => {}); // the first failure is thrown by the race below; later ones are moot
        running.set(batch, batchDone);
      }
      if (!finishedBatches.has(written)) await Promise.race(running.values());
      for (let r = finishedBatches.get(written); r; r = finishedBatches.get(written)) {
        finishedBatches.delete(written);
        held -= weightsOf[written++];
        for (const t of r) {
          writer?.addTensor({ name: t.name, params: t.quantized, encoded: t.encoded, indexCrc32: t.indexCrc32 });
          results.push({ stats: t.stats, energy: t.energy, warnings: t.warnings });
        }
      }
    }
    let bytes = 0;
    if (writer) {
      const extras = await readExtras(source, reader);
      for (const raw of extras.raw ?? []) writer.addRaw(raw);
      bytes = writer.finish(extras.model);
    }
    return { format: reader.format, results, skipped: reader.skipped, bytes };
  } finally {
    await pool?.close();
    sink?.close();
    await source.close?.();
  }
}
