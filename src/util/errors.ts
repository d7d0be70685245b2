/**
 * The error model every layer uses. A `DiffusionError` is a user-facing failure: its message names the
 * thing that was wrong and, where there is one, the fix. Faces (CLI, HTTP) print `message` alone for
 * these; anything else that escapes is a bug and keeps its stack trace.
 */

export type ErrorCode =
  | 'usage' // a command-line flag, argument or API option is wrong
  | 'config' // a config file or config object is invalid
  | 'shape' // tensor shapes or dtypes do not fit an operation
  | 'format' // a file or payload is malformed (safetensors, ONNX, PNG, WAV, CSV, JSON)
  | 'not-found' // a file, model, sampler, dataset or other named thing does not exist
  | 'numeric' // NaN or Inf where finite numbers are required
  | 'unavailable' // a runtime or execution provider is not present on this machine
  | 'io'; // the file system refused (permissions, full disk)

export class DiffusionError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it; appended to the message when present. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message} (${options.hint})` : message, { cause: options.cause });
    this.name = 'DiffusionError';
    this.code = code;
    this.hint = options.hint;
  }
}

export class UsageError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('usage', message, options);
    this.name = 'UsageError';
  }
}

export class ConfigError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('config', message, options);
    this.name = 'ConfigError';
  }
}

export class ShapeError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('shape', message, options);
    this.name = 'ShapeError';
  }
}

export class FormatError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('format', message, options);
    this.name = 'FormatError';
  }
}

export class NotFoundError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('not-found', message, options);
    this.name = 'NotFoundError';
  }
}

export class NumericError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('numeric', message, options);
    this.name = 'NumericError';
  }
}

export class UnavailableError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('unavailable', message, options);
    this.name = 'UnavailableError';
  }
}

export class FileSystemError extends DiffusionError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('io', message, options);
    this.name = 'FileSystemError';
  }
}

/** Names the valid choices when a user picks an unknown one: "unknown sampler 'x'; valid: a, b, c". */
export function unknownChoice(kind: string, given: string, valid: readonly string[]): NotFoundError {
  return new NotFoundError(`unknown ${kind} '${given}'`, { hint: `valid ${kind}s: ${valid.join(', ')}` });
}

export function isDiffusionError(error: unknown): error is DiffusionError {
  return error instanceof DiffusionError;
}
