/**
 * Node file access for the streaming readers and writers: positioned reads and writes through a
 * file descriptor, so files of any size the filesystem allows work in bounded memory.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError } from '../errors.js';
import { checkMlcConfig, checkMlcIndexSize, MLC_CACHE_FILE, MLC_CONFIG_FILE, mlcShardFiles, parseJson } from '../io/mlc.js';
import { checkRange, concatSource, type ByteSource } from '../io/source.js';

/**
 * A {@link ByteSource} over a file: positioned reads, nothing loaded up front. Reads are
 * synchronous underneath (one `pread` each), which is what a CPU-bound encoder wants.
 *
 * @example
 * ```ts
 * const source = fileSource('Llama-3-8B.safetensors');
 * try { const reader = await openModel(source); } finally { await source.close?.(); }
 * ```
 */
export function fileSource(path: string): ByteSource & { fd: number } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  // Small reads (a file of 400,000 tiny tensors) are served from a read-ahead window, one system
  // call per window instead of one per tensor; large reads go straight to the file.
  let window: Uint8Array = new Uint8Array(0), windowStart = 0;
  return {
    name: path, size, fd,
    async read(offset, length) {
      if (length >= READ_AHEAD_BYTES) return readAt(this, offset, length);
      checkRange(this, offset, length);
      if (offset < windowStart || offset + length > windowStart + window.length) {
        windowStart = offset;
        window = readAt(this, offset, Math.min(READ_AHEAD_BYTES, size - offset));
      }
      return window.slice(offset - windowStart, offset - windowStart + length);
    },
    async readInto(offset, target) {
      return readAt(this, offset, target.length, target);
    },
    async close() {
      closeSync(fd);
    },
  };
}

/** Reads shorter than this are served from a read-ahead window of this size. */
const READ_AHEAD_BYTES = 1 << 20;

/** Synchronous positioned read of exactly `length` bytes into a fresh aligned buffer. */
export function readAt(source: { name: string; size: number; fd: number }, offset: number, length: number, into?: Uint8Array): Uint8Array {
  checkRange(source, offset, length);
  const out = into ?? new Uint8Array(length);
  let done = 0;
  while (done < length) {
    // readSync takes at most 2 GiB per call.
    const n = readSync(source.fd, out, done, Math.min(length - done, 1 << 30), offset + done);
    if (n === 0) throw new ContainerError('TRUNCATED', `${source.name}: file ended at ${offset + done} while reading ${length} bytes at ${offset} (it changed?)`);
    done += n;
  }
  return out;
}

/**
 * A positioned-write sink for {@link ContainerWriter}: chunks are written where the writer says
 * (sections appended as tensors finish, the preamble patched at the end).
 *
 * @example
 * ```ts
 * const file = fileSink('model.rgmv');
 * const writer = new ContainerWriter(file.write);
 * // … writer.addTensor(…) …
 * writer.finish(); file.close();
 * ```
 */
export function fileSink(path: string): { write: (chunk: Uint8Array, position: number) => void; close: () => void } {
  const fd = openSync(path, 'w');
  return {
    write(chunk, position) {
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, Math.min(chunk.length - done, 1 << 30), position + done);
    },
    close() { closeSync(fd); },
  };
}

/**
 * The source of a model path: a file as {@link fileSource}, or an MLC / WebLLM model directory
 * (`ndarray-cache.json` + shard files) as one source over the index and its shards, in the
 * index's order. A directory's `mlc-chat-config.json` is checked when present.
 *
 * @example
 * ```ts
 * const reader = await openModel(modelSource('Llama-3-8B-Instruct-q4f16_1-MLC')); // format 'mlc'
 * ```
 */
export function modelSource(path: string): ByteSource {
  if (!statSync(path).isDirectory()) return fileSource(path);
  const index = join(path, MLC_CACHE_FILE);
  if (!existsSync(index)) throw new ContainerError('UNKNOWN_FORMAT', `a directory is read as an MLC model, and it has no ${MLC_CACHE_FILE}`, undefined, path);
  const config = join(path, MLC_CONFIG_FILE);
  if (existsSync(config)) checkMlcConfig(parseJson(readFileSync(config, 'utf8'), config), config);
  checkMlcIndexSize(statSync(index).size, index);
  // Every shard is checked before any file is opened, so a missing one leaks no descriptor.
  const shards = mlcShardFiles(parseJson(readFileSync(index, 'utf8'), index), index).map((name) => {
    const file = join(path, name);
    if (!existsSync(file)) throw new ContainerError('MISSING_SHARDS', `shard ${name}, listed in ${MLC_CACHE_FILE}, is missing`, undefined, path);
    return file;
  });
  return concatSource(path, [index, ...shards].map(fileSource));
}
