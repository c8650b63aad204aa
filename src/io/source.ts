/**
 * Random-access byte sources: what every reader in src/io reads from. A model file of 16 GB is
 * never held in memory; readers ask for the ranges they need (a header, one tensor's rows).
 * Node files: `fileSource` in `rans-gemv/node`; browsers: {@link blobSource} over a `File`.
 */
import { ContainerError } from '../errors.js';

/**
 * Bytes that can be read at any offset. `read` resolves with exactly `length` bytes in a fresh,
 * 8-byte aligned buffer the caller may keep, or rejects with {@link ContainerError} `TRUNCATED`.
 */
export interface ByteSource {
  /** What to call the source in messages (a file path or name). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads `target.length` bytes at `offset` into `target` (a buffer the caller reuses,
   * which saves allocating and page-faulting a fresh one per block on multi-GB files).
   */
  readInto?(offset: number, target: Uint8Array): Promise<Uint8Array>;
  /** Releases the underlying handle, if any. */
  close?(): Promise<void>;
}

/** Checks that [offset, offset + length) lies in a source of `size` bytes. */
export function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= source.size)) {
    throw new ContainerError('TRUNCATED', `${source.name}: read of ${length} bytes at ${offset} lies outside its ${source.size} bytes`);
  }
}

/**
 * A source over bytes already in memory (tests, small models, a fetched file).
 *
 * @example
 * ```ts
 * const reader = await openModel(bytesSource(new Uint8Array(await res.arrayBuffer()), 'model.safetensors'));
 * ```
 */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name, size: bytes.length,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.slice(offset, offset + length); // a copy: aligned, and safe to keep
    },
  };
}

/**
 * A source over a `Blob` or `File` (browsers, and Node ≥ 20): reads slices, never the whole file,
 * so a web page can encode a user's 16 GB model.
 *
 * @example
 * ```ts
 * input.onchange = async () => { const reader = await openModel(blobSource(input.files[0])); };
 * ```
 */
export function blobSource(blob: Blob, name = (blob as Blob & { name?: string }).name ?? 'blob'): ByteSource {
  return {
    name, size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      const buf = await blob.slice(offset, offset + length).arrayBuffer();
      if (buf.byteLength !== length) throw new ContainerError('TRUNCATED', `${name}: read ${buf.byteLength} of ${length} bytes at ${offset} (the file changed?)`);
      return new Uint8Array(buf);
    },
  };
}

/** Where one part of a {@link ConcatSource} lies in its address space. */
export interface SourcePart { name: string; offset: number; size: number }

/** Several files read as one address space: part i starts where part i − 1 ends. */
export interface ConcatSource extends ByteSource {
  readonly parts: readonly SourcePart[];
}

/**
 * Sources read as one: how a model split into shard files (an MLC / WebLLM directory) is read by
 * the same streaming code as a single file. A read may span parts.
 *
 * @example
 * ```ts
 * const all = concatSource('model/', [blobSource(cacheJson), blobSource(shard0), blobSource(shard1)]);
 * ```
 */
export function concatSource(name: string, sources: ByteSource[]): ConcatSource {
  const parts: SourcePart[] = [];
  let size = 0;
  for (const s of sources) { parts.push({ name: s.name, offset: size, size: s.size }); size += s.size; }
  // The part that holds [offset, offset + length) whole, or −1 when the range spans parts.
  const partOf = (offset: number, length: number) => parts.findIndex((p) => offset >= p.offset && offset + length <= p.offset + p.size);
  return {
    name, size, parts,
    async read(offset, length) {
      checkRange(this, offset, length);
      const whole = partOf(offset, length);
      if (whole >= 0) return sources[whole].read(offset - parts[whole].offset, length); // no copy
      const out = new Uint8Array(length);
      for (let i = 0, done = 0; done < length; i++) {
        const p = parts[i];
        if (offset + done >= p.offset + p.size) continue;
        const from = offset + done - p.offset, n = Math.min(length - done, p.size - from);
        out.set(await sources[i].read(from, n), done);
        done += n;
      }
      return out;
    },
    // Present so that the streaming encoder reuses its row buffer, as it does with one file.
    async readInto(offset, target) {
      checkRange(this, offset, target.length);
      const whole = partOf(offset, target.length);
      const inner = whole >= 0 ? sources[whole].readInto : undefined;
      if (inner) return inner.call(sources[whole], offset - parts[whole].offset, target);
      target.set(await this.read(offset, target.length));
      return target;
    },
    async close() {
      for (const s of sources) await s.close?.();
    },
  };
}
