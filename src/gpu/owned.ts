/**
 * GPU buffers a matrix owns besides its data: uniform buffers of shapes that never change for a
 * matrix, part and kernel specialization, and the f32 scratch of f16 products. Made once, on first
 * use, so recording allocates nothing; destroyed with the matrix ({@link releaseOwned}).
 */
import { COPY_DST, STORAGE, UNIFORM } from './usage.js';

const owned = new WeakMap<object, Map<string, GPUBuffer>>();

function get(owner: object, key: string, make: () => GPUBuffer): GPUBuffer {
  let perOwner = owned.get(owner);
  if (!perOwner) owned.set(owner, (perOwner = new Map()));
  let b = perOwner.get(key);
  if (!b) perOwner.set(key, (b = make()));
  return b;
}

/** The owner's uniform buffer for `key`, holding `make()`'s words (written once). */
export function ownedUniform(device: GPUDevice, owner: object, key: string, make: () => Uint32Array): GPUBuffer {
  return get(owner, `uniform ${key}`, () => {
    const data = make();
    const b = device.createBuffer({ label: `rans-gemv ${key}`, size: data.byteLength, usage: UNIFORM | COPY_DST });
    device.queue.writeBuffer(b, 0, data as Uint32Array<ArrayBuffer>);
    return b;
  });
}

/** The owner's storage scratch buffer of `bytes` bytes for `key`. */
export function ownedScratch(device: GPUDevice, owner: object, key: string, bytes: number): GPUBuffer {
  return get(owner, `scratch ${key}`, () => device.createBuffer({ label: `rans-gemv ${key}`, size: bytes, usage: STORAGE }));
}

/** Destroys every buffer the owners hold (a matrix and its parts, when the matrix is destroyed). */
export function releaseOwned(...owners: object[]): void {
  for (const o of owners) {
    for (const b of owned.get(o)?.values() ?? []) b.destroy();
    owned.delete(o);
  }
}
