/**
 * `rans-gemv/kernels`: the plumbing under `fusedMatVec` for those who compose their own passes
 * or study the kernels: WGSL sources and their composition, reflected bindings, pipelines,
 * uniform packing, the constants shared by host and WGSL, and an uploaded matrix's internals.
 * @packageDocumentation
 */
export { getKernel, getKernelAsync, bindGroup, kernelSource, reflectBindings, packUniform, KERNEL_FILES, type KernelName, type Kernel, type ReflectedBinding, type KernelVariant, type ActivationType, type ReductionVariant } from './gpu/kernels.js';
export { CODER, KERNEL, wgslPrelude } from './constants.js';
export { packGroupParams, internals, type GpuMatrixInternals, type MatrixPart } from './gpu/upload.js';
