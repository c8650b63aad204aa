/**
 * Worker thread of {@link encodeModelFile}: compresses the matrices it is sent, reading each from
 * the file itself (positioned reads), and posts back the coded result with its buffers transferred.
 */
import { parentPort } from 'node:worker_threads';
import { RansGemvError } from '../errors.js';
import type { MatrixEntry } from '../io/model.js';
import type { ByteSource } from '../io/source.js';
import { compressEntries, dropIndices, type CompressOptions } from '../pipeline.js';
import { modelSource } from './file.js';

/** A job: consecutive matrices of one file. */
export interface EncodeJob { id: number; path: string; entries: MatrixEntry[]; options: CompressOptions; chunkBytes: number }

const sources = new Map<string, ByteSource>();

parentPort!.on('message', async (job: EncodeJob) => {
  try {
    let source = sources.get(job.path);
    if (!source) { source = modelSource(job.path); sources.set(job.path, source); }
    const total = job.entries.reduce((n, e) => n + e.rows * e.cols, 0);
    let last = 0;
    const all = await compressEntries(source, job.entries, job.options, (done) => {
      if (done - last >= 0.02 * total) { last = done; parentPort!.postMessage({ id: job.id, progress: done }); }
    }, job.chunkBytes);
    // The indices stay here: the container needs only their checksum, and they are 1 byte/weight.
    const results = all.map(dropIndices);
    // Big buffers are moved, not copied; small ones are cheaper to copy than to transfer.
    const transfer = results.flatMap(({ quantized: q, encoded: e }) => [q.scales, q.biases, e.freqs, e.laneStates, e.laneLengths, e.data])
      .filter((v) => v !== null && v.byteLength >= 1 << 16).map((v) => v!.buffer as ArrayBuffer);
    parentPort!.postMessage({ id: job.id, results }, [...new Set(transfer)]);
  } catch (e) {
    const error = e instanceof RansGemvError
      ? { name: e.name, code: e.code, message: e.message }
      : { name: 'Error', code: 'INTERNAL', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) };
    parentPort!.postMessage({ id: job.id, error });
  }
});
