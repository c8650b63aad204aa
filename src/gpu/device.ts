/**
 * What the library asks of a device: its optional features and the adapter's largest limits
 * for buffers and workgroup memory. Shared by the Node helper, the benchmark page and the demo.
 */

/** Optional features the kernels use when present. */
export const OPTIONAL_FEATURES: GPUFeatureName[] = ['subgroups', 'timestamp-query', 'shader-f16'];

/**
 * A device descriptor for `adapter.requestDevice`: every optional feature the adapter has, and
 * its maximum storage-buffer, buffer and workgroup-memory limits.
 *
 * @example
 * ```ts
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter.requestDevice(deviceDescriptor(adapter));
 * ```
 */
export function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const l = adapter.limits;
  return {
    requiredFeatures: OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    },
  };
}
