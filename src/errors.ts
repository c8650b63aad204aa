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
    this.name = new.target.name;
  }
}

/** Bad arguments: wrong shapes, NaN/Inf weights, unsupported options. */
export class InvalidInputError extends RansGemvError {}

/**
 * A container (or another serialized input: safetensors, llama2.c) is malformed:
 * bad magic, unknown version, truncation, checksum mismatch, sizes that lie.
 * `tensor` and `file` name the tensor and file at fault when known; the message starts with them.
 */
export class ContainerError extends RansGemvError {
  constructor(code: string, message: string, readonly tensor?: string, readonly file?: string) {
    super(code, [file, tensor, message].filter((p) => p !== undefined).join(': '));
  }
}

/** An rANS stream did not decode cleanly (wrong final state, words left over or missing). */
export class StreamError extends RansGemvError {
  constructor(code: string, message: string, readonly lane?: number) {
    super(code, message);
  }
}
