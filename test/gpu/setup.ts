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

