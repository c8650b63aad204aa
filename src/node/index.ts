/** Node-only helpers: a Dawn device with automatic SwiftShader fallback, files, streaming encode on worker threads. */
export { requestNodeDevice, SWIFTSHADER_ICDS, type NodeDevice } from './device.js';
export { fileSource, fileSink, modelSource } from './file.js';
export { encodeModelFile, type EncodeFileOptions, type EncodeFileResult, type EncodeProgress } from './encode.js';
