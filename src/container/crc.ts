import CRC32 from 'crc-32';

/** CRC-32 (IEEE) of bytes, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}

/** CRC-32 of a typed array's bytes. */
export function crc32Of(view: ArrayBufferView): number {
  return crc32(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
}
