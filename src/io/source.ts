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
