import CRC32 from 'crc-32';

/** CRC-32 (IEEE) of bytes, as an unsigned 32-bit number; `seed` continues an earlier CRC. */
export function crc32(bytes: Uint8Array, seed?: number): number {
  return CRC32.buf(bytes, seed === undefined ? undefined : seed | 0) >>> 0;
}

/** CRC-32 of a typed array's bytes. */
export function crc32Of(view: ArrayBufferView): number {
  return crc32(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
}
