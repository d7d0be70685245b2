/**
 * How failures become HTTP answers. Every error body is `{ error: { code, message } }`. Typed project
 * errors map by kind (usage/config/shape/format/numeric → 400, not-found → 404, unavailable → 503),
 * a full or closing queue → 503 with Retry-After, fastify's own errors keep their status (413 body too
 * large, 415 media type, 400 bad JSON), and anything else is a 500 whose details stay in the log.
 *
 * This module must not register routes; it only classifies errors.
 */
import { isDiffusionError, type ErrorCode } from '../util/errors.js';
import { JobCancelledError, QueueClosedError, QueueFullError } from './jobs.js';

/** An error that carries its own HTTP status (e.g. 409 for a result that is not ready). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Seconds for the Retry-After header (503 only). */
  readonly retryAfter?: number;
}

const STATUS_OF_CODE: Record<ErrorCode, number> = {
  usage: 400,
  config: 400,
  shape: 400,
  format: 400,
  numeric: 400,
  'not-found': 404,
  unavailable: 503,
  io: 500,
};

/** The HTTP answer for `error`; `retryAfter` is the server's Retry-After for a busy queue. */
export function errorAnswer(error: unknown, retryAfter: number): ErrorAnswer {
  if (error instanceof QueueFullError)
    return { status: 503, code: 'busy', message: error.message, retryAfter };
  if (error instanceof QueueClosedError || error instanceof JobCancelledError) {
    return { status: 503, code: 'unavailable', message: error.message, retryAfter };
  }
  if (error instanceof HttpStatusError)
    return { status: error.status, code: error.code, message: error.message };
  if (isDiffusionError(error)) {
    return { status: STATUS_OF_CODE[error.code], code: error.code, message: error.message };
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (error as { code?: unknown }).code;
    return {
      status,
      code: typeof code === 'string' ? code : 'bad-request',
      message: (error as Error).message,
    };
  }
  return { status: 500, code: 'internal', message: 'internal server error' };
}
