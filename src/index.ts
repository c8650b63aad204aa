/**
 * rans-gemv: rANS-coded 4-bit weights for fused WebGPU GEMV.
 * @packageDocumentation
 */
export * from './errors.js';
export * from './quantize/types.js';
export { quantize, dequantize, dequantizeRows, sqnrDb, groupAffineParams, checkMatrix, MatrixQuantizer, type QuantizeOptions } from './quantize/quantize.js';
export { EcsqStats, checkRateTarget, DEFAULT_RATE_TARGET, MIN_STEP_SCALE, MAX_STEP_SCALE, type RateTarget, type AffineMatch, type EcsqPrediction } from './quantize/ecsq.js';
export { importMlx, exportMlx, importQ4_0, exportQ4_0, importQ4_1, exportQ4_1, importMlcQ4, exportMlcQ4, packNibbles, type MlxQuantizedWeight, type MlcQ4Weight } from './quantize/import.js';
export { halfToF32, e5m3Value, toE5m3, paramBytes, type ParamType } from './quantize/half.js';
export { laneExceptions, decodeExceptions, exceptionDecoder, exceptionStarts, INDEX_MIN_VALUE, INDEX_MAX_VALUE, type Exceptions, type LaneExceptions } from './rans/exceptions.js';
export { encodeIndices, decodeIndices, decodeTable, encodedBytes, STATE_LOWER_BOUND, type EncodedMatrix, type ProgressCallback } from './rans/codec.js';
export { entropyBits, histogram, normalizeFrequencies } from './rans/frequencies.js';
export { chooseGeometry, DEFAULT_PRECISION, DEFAULT_SYMBOLS_PER_LANE, type LayoutOptions, type StreamGeometry } from './rans/layout.js';
export { writeContainer, readContainer, readContainerFile, decodeTensor, verifyTensor, indexChecksum, openContainer, ContainerWriter, FORMAT_VERSION, MAX_MATERIALIZED_INDICES, type ContainerTensor, type TensorHeader, type TensorToWrite, type EncodedTensor, type ContainerReader, type ContainerSink } from './container/container.js';
export { compressMatrix, compressEntry, compressEntries, totalStats, DEFAULT_CHUNK_BYTES, type CompressedMatrix, type MatrixStats, type CompressOptions } from './pipeline.js';
export { referenceMatVec } from './reference.js';
export type { WeightMatrix, MatrixEntry, ModelLayout, SkippedTensor } from './io/model.js';
export { openModel, loadModel, loadModelMatrices, MODEL_FORMATS, type ModelFormat, type ModelReader } from './io/formats.js';
export { bytesSource, blobSource, concatSource, type ByteSource, type ConcatSource, type SourcePart } from './io/source.js';
export { mlcFilesSource, mlcLayout, mlcShardFiles, checkMlcConfig, MLC_CACHE_FILE, MLC_CONFIG_FILE, MLC_QUANTIZATIONS } from './io/mlc.js';
export { uploadMatrix, type GpuMatrix, type MatrixSource, type UploadOptions } from './gpu/upload.js';
export { fusedMatVec, prepareMatVec, decodeOnGpu, readStreamStatus, recordDecodeOnly, uploadDense, denseMatVec, MAX_VECTORS, type MatVecMode, type MatVecOptions, type PrepareOptions, type Activations, type GpuDenseMatrix } from './gpu/matvec.js';
export { verifyTensorOnGpu, type GpuCheck } from './gpu/verify.js';
export { referenceAbsProducts, maxRelativeError, F32_PRODUCT_TOLERANCE, F16_PRODUCT_TOLERANCE } from './reference.js';
export { chooseMode, setCalibration, getCalibration, checkCalibration, type Calibration, type CalibrationEntry } from './gpu/auto.js';
export { deviceDescriptor, OPTIONAL_FEATURES } from './gpu/device.js';
// Kernel plumbing (getKernel, bindGroup, kernelSource, WGSL constants, matrix internals): 'rans-gemv/kernels'.
