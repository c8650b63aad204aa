/** Node-only helpers: a Dawn device with automatic SwiftShader fallback. */
export { requestNodeDevice, SWIFTSHADER_ICDS, type NodeDevice } from './device.js';
