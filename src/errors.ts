/**
 * Typed errors. Every failure the library reports is a {@link RansGemvError}
 * with a stable machine-readable `code`, so callers can branch without parsing text.
 *
 * @example
 * ```ts
 * try { readContainer(bytes); }
 * catch (e) { if (e instanceof ContainerError && e.code === 'TRUNCATED') retryDownload(); }
 * ```
 */
export class RansGemvError extends Error {
  constructor(
    /** Stable identifier of the fault, e.g. `NON_FINITE_WEIGHT` or `CHECKSUM_MISMATCH`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  // Literal names, not the class's: a minifier renames classes, and callers log and compare `e.name`.
  override name = 'RansGemvError';
}

/** Bad arguments: wrong shapes, NaN/Inf weights, unsupported options. */
export class InvalidInputError extends RansGemvError {
  override name = 'InvalidInputError';
}

/**
 * A container (or another serialized input: safetensors, llama2.c) is malformed:
 * bad magic, unknown version, truncation, checksum mismatch, sizes that lie.
 * `tensor` and `file` name the tensor and file at fault when known; the message starts with them.
 */
export class ContainerError extends RansGemvError {
  constructor(code: string, message: string, readonly tensor?: string, readonly file?: string) {
    super(code, [file, tensor, message].filter((p) => p !== undefined).join(': '));
  }

  override name = 'ContainerError';
}

/** An rANS stream did not decode cleanly (wrong final state, words left over or missing). */
export class StreamError extends RansGemvError {
  constructor(code: string, message: string, readonly lane?: number) {
    super(code, message);
  }

  override name = 'StreamError';
}

/**
 * The GPU side failed: a lost or destroyed device, a matrix used on another device, no adapter,
 * or a validation error WebGPU reported for the library's own submission.
 */
export class DeviceError extends RansGemvError {
  override name = 'DeviceError';
}
