/**
 * GPUBufferUsage / GPUMapMode values as plain numbers (WebGPU spec values), so the library does
 * not depend on the `GPUBufferUsage` global, which Node's Dawn binding only installs on request.
 */
export const MAP_READ = 0x0001;
export const COPY_SRC = 0x0004;
export const COPY_DST = 0x0008;
export const UNIFORM = 0x0040;
export const STORAGE = 0x0080;
