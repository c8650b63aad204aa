/**
 * WGSL kernels: composing their source from shaders/*.wgsl, reflecting their bindings with
 * wgsl_reflect, and caching one pipeline per device and specialization.
 *
 * Host code never restates a binding number: it names resources, and {@link bindGroup} maps
 * the names to the bindings the shader declares, failing on any name either side lacks.
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { InvalidInputError } from '../errors.js';
import { wgslPrelude } from '../constants.js';
import { WGSL_FILES } from './shaders.generated.js';

/**
 * The kernels and the shader files each is made of, in order (WGSL has no #include). Three names
 * are variant axes resolved at composition: `rows` → rows_subgroup | rows_workgroup (how row
 * sums are reduced), `x` → x_f32 | x_f16 (how activations are stored) and `weights` →
 * weights_groups | weights_rows (the dequantization rule: group scales, or ecsq's row steps).
 */
export const KERNEL_FILES = {
  fused: ['params', 'nibble_floats', 'x', 'rans_lanes', 'weights', 'fused'],
  decode: ['rans_lanes', 'decode'],
  xsum: ['x', 'xsum'],
  q4: ['rows', 'params', 'nibble_floats', 'x', 'activations', 'q4'],
  dense: ['rows', 'x', 'activations', 'dense'],
  pack_f16: ['pack_f16'],
} as const;

export type KernelName = keyof typeof KERNEL_FILES;

/** How a kernel's reductions run: subgroup operations when the device has them. */
export type ReductionVariant = 'subgroup' | 'workgroup';

/** How activations x are stored: f32, or f16 packed two per u32 (arithmetic stays f32). */
export type ActivationType = 'f32' | 'f16';

/** How the fused kernel dequantizes: a scale and bias per group, or one step per row with exceptions (`ecsq`). */
export type WeightRule = 'groups' | 'rows';

/** The variant axes of kernel composition. */
export interface KernelVariant {
  reduction?: ReductionVariant;
  activations?: ActivationType;
  weights?: WeightRule;
}

/** One binding as the shader declares it. */
export interface ReflectedBinding {
  name: string;
  binding: number;
  type: GPUBufferBindingType;
  /** For a uniform struct: its u32/f32 members with byte offsets, and its size. */
  members?: { name: string; offset: number }[];
  size?: number;
}

/**
 * The full WGSL source of a kernel: the constants prelude, then its files with the variant
 * axes resolved (defaults: workgroup reduction, f32 activations).
 *
 * @example
 * ```ts
 * const wgsl = kernelSource('fused', { activations: 'f16' }); // prelude + params + x_f16 + rans_lanes + fused
 * ```
 */
export function kernelSource(kernel: KernelName, variant: KernelVariant = {}): string {
  const axes: Record<string, string> = { rows: `rows_${variant.reduction ?? 'workgroup'}`, x: `x_${variant.activations ?? 'f32'}`, weights: `weights_${variant.weights ?? 'groups'}` };
  const resolve = (f: string) => axes[f] ?? f;
  const files = KERNEL_FILES[kernel].map(resolve).map((f) => {
    const text = WGSL_FILES[f];
    if (text === undefined) throw new Error(`shader file ${f}.wgsl is missing from the build`);
    return `// ---- ${f}.wgsl ----\n${text}`;
  });
  // `enable` directives must come first: rows_subgroup.wgsl opens with one.
  const enables = files.join('\n').match(/^enable [^;]+;$/gm) ?? [];
  const body = files.map((f) => f.replace(/^enable [^;]+;$/gm, '')).join('\n');
  return [...new Set(enables), wgslPrelude(), body].join('\n');
}

/**
 * Every buffer binding of a kernel, from wgsl_reflect (group 0 only, as all kernels use).
 *
 * @example
 * ```ts
 * reflectBindings(kernelSource('q4')).map((b) => b.name); // ['shape', 'nibbles', 'params', 'x', 'y']
 * ```
 */
export function reflectBindings(source: string): ReflectedBinding[] {
  const r = new WgslReflect(source);
  const out: ReflectedBinding[] = [];
  for (const v of r.uniforms) {
    const members = (v.members ?? []).map((m) => ({ name: m.name, offset: m.offset }));
    out.push({ name: v.name, binding: v.binding, type: 'uniform', members, size: v.size });
  }
  for (const v of r.storage) out.push({ name: v.name, binding: v.binding, type: v.access === 'read' ? 'read-only-storage' : 'storage' });
  for (const v of [...r.uniforms, ...r.storage]) {
    if (v.group !== 0) throw new Error(`binding ${v.name} is in group ${v.group}; kernels use group 0 only`);
  }
  return out.sort((a, b) => a.binding - b.binding);
}

/** A compiled kernel: its pipeline and the bindings it declares. */
export interface Kernel {
  name: KernelName;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: ReflectedBinding[];
}

const cache = new WeakMap<GPUDevice, Map<string, Kernel>>();

/**
 * Whether a device can run the subgroup variants.
 *
 * @example
 * ```ts
 * reductionVariant(device); // 'subgroup' when the device has the feature
 * ```
 */
export function reductionVariant(device: GPUDevice): ReductionVariant {
  return device.features.has('subgroups') ? 'subgroup' : 'workgroup';
}

/**
 * The pipeline of `kernel` specialized with `constants` (WGSL overrides) and `variant`, created
 * once per device; the subgroup reduction when the device has subgroups unless `variant` says
 * otherwise, f32 activations unless it asks for f16.
 *
 * @example
 * ```ts
 * const k = getKernel(device, 'q4', { VECTORS: 4 }, { activations: 'f16' });
 * pass.setPipeline(k.pipeline);
 * pass.setBindGroup(0, bindGroup(device, k, { shape, nibbles, params, x, y }));
 * ```
 */
export function getKernel(device: GPUDevice, kernel: KernelName, constants: Record<string, number> = {}, variant: KernelVariant = {}): Kernel {
  const { key, perDevice } = kernelSlot(device, kernel, constants, variant);
  const hit = perDevice.get(key);
  if (hit) return hit;
  const { descriptor, layout, bindings } = pipelineDescriptor(device, kernel, constants, variant);
  const k: Kernel = { name: kernel, pipeline: device.createComputePipeline(descriptor), layout, bindings };
  perDevice.set(key, k);
  return k;
}

/**
 * {@link getKernel} compiled off the critical path (`createComputePipelineAsync`): call it ahead
 * of the first product (see `prepareMatVec`), and `getKernel` then finds the pipeline cached.
 *
 * @example
 * ```ts
 * await getKernelAsync(device, 'q4', { VECTORS: 1 }); // compiled while the app does other work
 * ```
 */
export async function getKernelAsync(device: GPUDevice, kernel: KernelName, constants: Record<string, number> = {}, variant: KernelVariant = {}): Promise<Kernel> {
  const { key, perDevice } = kernelSlot(device, kernel, constants, variant);
  const hit = perDevice.get(key);
  if (hit) return hit;
  const { descriptor, layout, bindings } = pipelineDescriptor(device, kernel, constants, variant);
  const pipeline = await device.createComputePipelineAsync(descriptor);
  // A getKernel call while this compiled may have cached its own pipeline: keep the first.
  const k = perDevice.get(key) ?? { name: kernel, pipeline, layout, bindings };
  perDevice.set(key, k);
  return k;
}

/** The variant with its defaults resolved, and where its pipeline is cached. */
function kernelSlot(device: GPUDevice, kernel: KernelName, constants: Record<string, number>, variant: KernelVariant) {
  const v = resolveVariant(device, variant);
  const key = `${kernel}/${v.reduction}/${v.activations}/${v.weights}/${JSON.stringify(Object.entries(constants).sort())}`;
  let perDevice = cache.get(device);
  if (!perDevice) cache.set(device, (perDevice = new Map()));
  return { key, perDevice };
}

function resolveVariant(device: GPUDevice, variant: KernelVariant): Required<KernelVariant> {
  return { reduction: variant.reduction ?? reductionVariant(device), activations: variant.activations ?? 'f32', weights: variant.weights ?? 'groups' };
}

function pipelineDescriptor(device: GPUDevice, kernel: KernelName, constants: Record<string, number>, variant: KernelVariant) {
  const code = kernelSource(kernel, resolveVariant(device, variant));
  const bindings = reflectBindings(code);
  const layout = device.createBindGroupLayout({
    label: `rans-gemv ${kernel}`,
    entries: bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.type } })),
  });
  const descriptor: GPUComputePipelineDescriptor = {
    label: `rans-gemv ${kernel}`,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module: device.createShaderModule({ label: `rans-gemv ${kernel}`, code }), entryPoint: 'main', constants },
  };
  return { descriptor, layout, bindings };
}

/**
 * A bind group for `kernel` from buffers named as in the WGSL. Throws when a binding has no
 * buffer or a buffer matches no binding (host and shader disagree). Cached: the same kernel and
 * buffers give the same bind group (the 256 most recently used per kernel are kept).
 *
 * @example
 * ```ts
 * const group = bindGroup(device, getKernel(device, 'xsum'), { shape, x, sums });
 * ```
 */
export function bindGroup(device: GPUDevice, kernel: Kernel, buffers: Record<string, GPUBuffer | GPUBufferBinding>): GPUBindGroup {
  const names = new Set(kernel.bindings.map((b) => b.name));
  for (const n of Object.keys(buffers)) {
    if (!names.has(n)) throw new InvalidInputError('BINDING_MISMATCH', `kernel ${kernel.name} has no binding named '${n}'`);
  }
  // A runtime records the same matrix, x and output every token: reuse their bind group.
  const key = kernel.bindings.map((b) => {
    const buf = buffers[b.name];
    if (!buf) return '-';
    return 'buffer' in buf ? `${bufferId(buf.buffer)}@${buf.offset ?? 0}+${buf.size ?? ''}` : `${bufferId(buf)}`;
  }).join(',');
  let perKernel = bindGroups.get(kernel);
  if (!perKernel) bindGroups.set(kernel, (perKernel = new Map()));
  const hit = perKernel.get(key);
  if (hit) { perKernel.delete(key); perKernel.set(key, hit); return hit; } // most recently used last
  const group = createBindGroup(device, kernel, buffers);
  perKernel.set(key, group);
  if (perKernel.size > BIND_GROUP_CACHE) perKernel.delete(perKernel.keys().next().value!); // least recently used
  return group;
}

/** Bind groups kept per kernel (least recently used dropped first). */
const BIND_GROUP_CACHE = 256;
const bindGroups = new WeakMap<Kernel, Map<string, GPUBindGroup>>();
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 0;
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

function createBindGroup(device: GPUDevice, kernel: Kernel, buffers: Record<string, GPUBuffer | GPUBufferBinding>): GPUBindGroup {
  return device.createBindGroup({
    label: `rans-gemv ${kernel.name}`,
    layout: kernel.layout,
    entries: kernel.bindings.map((b) => {
      const buf = buffers[b.name];
      if (!buf) throw new InvalidInputError('BINDING_MISMATCH', `kernel ${kernel.name} needs a buffer for '${b.name}'`);
      return { binding: b.binding, resource: 'buffer' in buf ? buf : { buffer: buf } };
    }),
  });
}

/**
 * Bytes of a kernel's uniform struct with `values` written at the offsets the WGSL declares
 * (every member is a u32). Throws when the names differ from the struct's members.
 *
 * @example
 * ```ts
 * device.queue.writeBuffer(shapeBuf, 0, packUniform(kernel, 'shape', { rows, cols }));
 * ```
 */
export function packUniform(kernel: Kernel, binding: string, values: Record<string, number>): Uint32Array {
  const b = kernel.bindings.find((x) => x.name === binding && x.type === 'uniform');
  if (!b?.members || b.size === undefined) throw new InvalidInputError('BINDING_MISMATCH', `kernel ${kernel.name} has no uniform '${binding}'`);
  const declared = b.members.map((m) => m.name).sort().join(',');
  const given = Object.keys(values).sort().join(',');
  if (declared !== given) throw new InvalidInputError('BINDING_MISMATCH', `kernel ${kernel.name} uniform '${binding}' has members [${declared}], host gave [${given}]`);
  const out = new Uint32Array(Math.ceil(b.size / 16) * 4);
  for (const m of b.members) out[m.offset / 4] = values[m.name];
  return out;
}
