/** One Dawn device per test file (vitest forks), on whatever adapter the machine has. */
import { afterAll, beforeAll } from 'vitest';
import { requestNodeDevice, type NodeDevice } from '../../src/node/device.js';

export function useDevice(): { get: () => NodeDevice } {
  let nd: NodeDevice | undefined;
  const errors: string[] = [];
  beforeAll(async () => {
    nd = await requestNodeDevice();
    nd.device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
  });
  afterAll(() => {
    nd?.device.destroy();
    // Any validation error the API let through is a bug, whatever the results were.
    if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.join('\n')}`);
  });
  return { get: () => nd! };
}


/**
 * Counts calls to `target`'s named methods through own properties that shadow them (the object
 * stays the same, so the library under test calls the counters); `restore()` removes them.
 */
export function countCalls<K extends string>(target: object, names: readonly K[]): { counts: Record<K, number>; restore: () => void } {
  const counts = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  const spy = target as Record<string, unknown>;
  for (const n of names) {
    const original = spy[n] as (...args: unknown[]) => unknown;
    spy[n] = (...args: unknown[]) => { counts[n]++; return original.apply(target, args); };
  }
  return { counts, restore: () => { for (const n of names) delete spy[n]; } };
}
